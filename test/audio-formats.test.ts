/**
 * Every fixture decodes to what libsndfile gives (golden digests from scripts/golden_audio.py):
 * lossless formats sample-exact at the digest positions and in sum / sum of squares; lossy
 * formats by length and correlation (decoders differ in priming and rounding).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decode, openAudio } from "../src/audio/index.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const FIXTURES = path.resolve(ROOT, "../shared/fixtures");
const GOLDEN = path.join(ROOT, "test/golden/audio");

interface Digest {
  samplerate: number;
  channels: number;
  frames: number;
  format: string;
  subtype: string;
  positions: number[];
  values: number[][];
  sum: number[];
  sumsq: number[];
  signal?: string;
}
const digests: Record<string, Digest> = JSON.parse(readFileSync(path.join(GOLDEN, "digests.json"), "utf8"));
const LOSSY = new Set(["MP3", "OGG"]);
const lossless = Object.entries(digests).filter(([, d]) => !LOSSY.has(d.format));
// Fixture files (keyed "formats/…", "recordings/…"); synthetic seek-test inputs are covered in audio-compressed.test.ts.
const lossy = Object.entries(digests).filter(([rel, d]) => LOSSY.has(d.format) && rel.includes("/"));

function sums(x: Float32Array): [number, number] {
  let s = 0;
  let q = 0;
  for (let i = 0; i < x.length; i++) {
    s += x[i];
    q += x[i] * x[i];
  }
  return [s, q];
}

describe("lossless fixtures decode exactly as libsndfile", () => {
  it.each(lossless)("%s", async (rel, d) => {
    const out = await decode(path.join(FIXTURES, rel));
    expect([out.samplerate, out.channels, out.frames]).toEqual([d.samplerate, d.channels, d.frames]);
    for (let c = 0; c < d.channels; c++) {
      const x = out.data[c];
      expect(x.length).toBe(d.frames);
      const got = d.positions.map((p) => x[p]);
      expect(got).toEqual(d.values[c].map(Math.fround));
      const [s, q] = sums(x);
      // numpy sums pairwise, we sum in order: equal up to float64 rounding.
      expect(Math.abs(s - d.sum[c])).toBeLessThan(1e-9 * d.frames);
      expect(Math.abs(q - d.sumsq[c])).toBeLessThan(1e-9 * d.frames);
    }
  });
});

describe("ranged reads agree with the whole decode", () => {
  it.each(lossless.filter(([rel]) => rel.startsWith("formats/")))("%s", async (rel, d) => {
    const reader = await openAudio(path.join(FIXTURES, rel));
    try {
      const whole = await reader.read(0, 0, d.frames);
      for (const [start, count] of [[0, 1], [1, 1000], [4095, 3333], [d.frames - 7, 100], [d.frames, 10]]) {
        const part = await reader.read(0, start, count);
        expect(part).toEqual(whole.subarray(start, Math.min(d.frames, start + count)));
      }
    } finally {
      await reader.close();
    }
  });
});

/** Pearson correlation of x and y over their common length. */
function correlation(x: Float32Array, y: Float32Array): number {
  const n = Math.min(x.length, y.length);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += x[i] * y[i];
    sxx += x[i] * x[i];
    syy += y[i] * y[i];
  }
  return sxy / Math.sqrt(sxx * syy);
}

describe("lossy fixtures match libsndfile by length and correlation", () => {
  it.each(lossy)("%s", async (rel, d) => {
    const out = await decode(path.join(FIXTURES, rel));
    expect([out.samplerate, out.channels]).toEqual([d.samplerate, d.channels]);
    // Decoders may differ by their priming / end padding: at most one codec frame (MP3: 1152).
    expect(Math.abs(out.frames - d.frames)).toBeLessThanOrEqual(1152);
    const raw = readFileSync(path.join(GOLDEN, d.signal!));
    const golden = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    expect(correlation(out.data[0], golden)).toBeGreaterThan(0.999);
  });
});

describe("RIFX (big-endian RIFF)", () => {
  it("reads the same samples as the little-endian original (wav_pcm_16.wav byte-swapped)", async () => {
    const wav = new Uint8Array(readFileSync(path.join(FIXTURES, "formats/wav_pcm_16.wav")));
    const le = new DataView(wav.buffer, wav.byteOffset, wav.byteLength);
    const rifx = wav.slice();
    const be = new DataView(rifx.buffer);
    rifx.set([0x52, 0x49, 0x46, 0x58], 0); // "RIFX"
    // 32-bit sizes at 4, 16, 40; fmt fields: tag, channels (16-bit), rate, byte rate (32-bit), block align, bits (16-bit).
    for (const at of [4, 16, 24, 28, 40]) be.setUint32(at, le.getUint32(at, true), false);
    for (const at of [20, 22, 32, 34]) be.setUint16(at, le.getUint16(at, true), false);
    for (let at = 44; at + 2 <= wav.length; at += 2) be.setInt16(at, le.getInt16(at, true), false);
    const d = digests["formats/wav_pcm_16.wav"];
    const out = await decode(rifx);
    expect([out.samplerate, out.frames]).toEqual([d.samplerate, d.frames]);
    expect(d.positions.map((p) => out.data[0][p])).toEqual(d.values[0].map(Math.fround));
  });
});
