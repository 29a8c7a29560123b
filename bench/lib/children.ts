/**
 * Peers that run as child processes — the native FFTW programs (bench/native/stft_fftw.c and
 * fft_fftw.c, built by scripts/build_fftw_bench.sh) and scipy.signal.stft
 * (scripts/stft_scipy_bench.py) — each reporting its own internal timings as one JSON line. The
 * STFT peers read the signal file of lib/signal.ts, so their input is bit-identical to the
 * in-process pipelines'.
 */
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchSignal } from "./signal.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const FFTW_BINARY = `${repo}bench/native/stft_fftw`;
const FFTW_FFT_BINARY = `${repo}bench/native/fft_fftw`;
const SCIPY_SCRIPT = `${repo}scripts/stft_scipy_bench.py`;
/** Debian's interpreter, which has python3-scipy (the `python3` on PATH may not). */
const PYTHON = "/usr/bin/python3";

export interface ChildResult {
  frames: number;
  bins: number;
  /** Seconds of each timed run (after the child's own untimed warm-up run). */
  times_s: number[];
  checksum: number;
  [extra: string]: unknown;
}

/** A peer that could not run here, and why (printed instead of a number). */
export interface Unavailable { unavailable: string }

export interface ChildPeer {
  name: string;
  /** Runs `repeats` timed passes over the signal with FFT length `nperseg` and `hop`. */
  run(signal: BenchSignal, nperseg: number, hop: number, repeats: number): ChildResult;
}

function runJson<T = ChildResult>(cmd: string, args: string[]): T {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}): ${(r.stderr || r.error?.message || "").trim()}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as T;
}

/** Builds the FFTW programs; the reason when that fails (no compiler / no FFTW), else null. */
function buildFftw(binary: string): string | null {
  const build = spawnSync(`${repo}scripts/build_fftw_bench.sh`, { encoding: "utf8" });
  if (build.status === 0 && existsSync(binary)) return null;
  return `native FFTW: scripts/build_fftw_bench.sh failed: ${(build.stderr || build.error?.message || "").trim().split("\n").pop()}`;
}

/**
 * The FFTW peer, after building it; Unavailable when the build fails. `mode` "pcen-db" adds PCEN,
 * dB and clamp (SPEC §2's defaults, bench/native/pcen_db.c) to the power pipeline.
 */
export function fftwPeer(mode: "power" | "pcen-db"): ChildPeer | Unavailable {
  const unavailable = buildFftw(FFTW_BINARY);
  if (unavailable) return { unavailable };
  return {
    name: mode === "power"
      ? "native FFTW (C, -O3 -march=native, FFTW_MEASURE r2c)"
      : "native FFTW PCEN+dB+clamp (glibc vector powf, log10f)",
    run: (s, n, hop, repeats) => runJson(FFTW_BINARY, [s.file, String(s.samplerate), String(n), String(hop), String(repeats), mode]),
  };
}

/** Native FFTW's single real transforms (bench/native/fft_fftw.c), for the FFT part. */
export interface FftwTransforms {
  /** Transforms per second at each n, each timed for `seconds` in one child process. */
  rates(sizes: number[], seconds: number): Record<number, number>;
  /** Removes the wisdom file that carries the plans from one call to the next. */
  dispose(): void;
}

/** The FFTW transforms peer, after building it; Unavailable when the build fails. */
export function fftwTransforms(): FftwTransforms | Unavailable {
  const unavailable = buildFftw(FFTW_FFT_BINARY);
  if (unavailable) return { unavailable };
  const wisdom = path.join(os.tmpdir(), `sonotile-bench-fftw-wisdom-${process.pid}`);
  return {
    rates(sizes, seconds) {
      const r = runJson<{ rates: Record<string, number> }>(FFTW_FFT_BINARY, [String(seconds), wisdom, ...sizes.map(String)]);
      return Object.fromEntries(sizes.map((n) => [n, r.rates[n]]));
    },
    dispose: () => rmSync(wisdom, { force: true }),
  };
}

/** The scipy peer; Unavailable when Debian's python3-scipy is not installed. */
export function scipyPeer(): ChildPeer | Unavailable {
  const probe = spawnSync(PYTHON, ["-c", "import scipy.signal, numpy; print(scipy.__version__)"], { encoding: "utf8" });
  if (probe.status !== 0) return { unavailable: `scipy: ${PYTHON} with scipy not found (apt-get install python3-scipy)` };
  return {
    name: `scipy.signal.stft ${probe.stdout.trim()} + np.abs(Z)**2`,
    run: (s, n, hop, repeats) => runJson(PYTHON, [SCIPY_SCRIPT, s.file, String(s.samplerate), String(n), String(hop), String(repeats)]),
  };
}

export function isUnavailable(p: object): p is Unavailable {
  return "unavailable" in p;
}
