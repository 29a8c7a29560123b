// Windows against scipy.signal.get_window (golden data from scripts/golden_windows.py).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { WINDOWS, type WindowName } from "../src/engine/params.js";
import { getWindow, getWindowF64 } from "../src/engine/window.js";

interface Case { name: WindowName; n: number; beta?: number | null; symmetric?: boolean; values: number[] }
const golden: { cases: Case[] } = JSON.parse(readFileSync(new URL("./golden/windows.json", import.meta.url), "utf8"));

describe("getWindow matches scipy.signal.get_window (periodic)", () => {
  it("covers every window name", () => {
    expect(new Set(golden.cases.map((c) => c.name))).toEqual(new Set(WINDOWS));
  });

  for (const name of WINDOWS) {
    it(name, () => {
      for (const c of golden.cases.filter((c) => c.name === name)) {
        const beta = c.beta ?? undefined;
        const w = c.symmetric ? getWindowF64(c.name, c.n, beta ?? 14, true) : getWindow(c.name, c.n, beta);
        expect(w.length).toBe(c.n);
        let worst = 0;
        for (let i = 0; i < c.n; i++) worst = Math.max(worst, Math.abs(w[i] - c.values[i]));
        expect(worst, `${name} n=${c.n} beta=${c.beta} symmetric=${!!c.symmetric}`).toBeLessThanOrEqual(1e-6);
      }
    });
  }

  it("the float64 periodic window is the float32 one before rounding", () => {
    for (const name of WINDOWS) {
      const w64 = getWindowF64(name, 101, 8, false);
      expect(getWindow(name, 101, 8)).toEqual(Float32Array.from(w64));
    }
  });

  it("kaiser stays finite for a beta whose I0 overflows float64", () => {
    const w = getWindow("kaiser", 16, 1000);
    expect(w.every(Number.isFinite)).toBe(true);
    expect(w[8]).toBe(1); // the centre of the periodic window is I0(β)/I0(β)
  });
});

describe("getWindow rejects bad input", () => {
  it("n < 1, non-integer n, unknown name, bad beta", () => {
    expect(() => getWindow("hann", 0)).toThrow(/window length/);
    expect(() => getWindow("hann", -3)).toThrow(/window length/);
    expect(() => getWindow("hann", 2.5)).toThrow(/window length/);
    expect(() => getWindow("hann", Number.NaN)).toThrow(/window length/);
    expect(() => getWindow("hann", 2 ** 31)).toThrow(/window length/);
    expect(() => getWindow("gauss" as WindowName, 16)).toThrow(/unknown window "gauss"/);
    expect(() => getWindow("kaiser", 16, Number.NaN)).toThrow(/beta/);
  });
});
