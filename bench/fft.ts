/**
 * Real FFT throughput, single thread, interleaved in one process (issue 7 "real FFT"):
 * sonotile's RealFFT vs @echogarden/pffft-wasm (SIMD build) vs fft.js.
 *
 * Two levels are measured:
 * - API: a JS Float32Array in, a JS array out — what a program using the library does.
 *   sonotile: RealFFT.forward(input, output) (copies in and out of WASM memory);
 *   pffft: HEAPF32.set(input), pffft_transform_ordered, output.set(HEAPF32.subarray(…));
 *   fft.js: realTransform(out, input) on JS arrays (nothing to copy). The targets use these.
 * - kernel: the transform alone on buffers already in WASM memory (sonotile core.fftForward,
 *   pffft_transform_ordered), to show what the copies cost; native FFTW (bench/native/fft_fftw.c,
 *   a child process timing itself once per round) is measured at this level too.
 * A size that is not a power of two is timed in the same rounds as sonotile at its nearest power
 * of two, so their per-sample ratio does not depend on how busy the machine was at each moment;
 * FFTW's own ratio between the two sizes is measured the same way.
 */
import FFT from "fft.js";
import PFFFT, { type PffftModule } from "@echogarden/pffft-wasm/simd";
import { RealFFT } from "../src/index.js";
import { core } from "../src/engine/wasm.js";
import { fftwTransforms, isUnavailable } from "./lib/children.js";
import { interleavedRates, loadAverage } from "./lib/measure.js";

/** Issue 7's sizes: powers of two 256…4096 and lengths real recordings give (1102 at 44.1 kHz,
 * 7812 at 312.5 kHz, 9600 at 384 kHz); 8192 is measured as the neighbour of 7812 and 9600. */
export const FFT_SIZES = [256, 512, 1024, 2048, 4096, 8192, 1102, 7812, 9600];
export const TARGET_SIZES = [256, 512, 1024, 2048, 4096];

/** "… neighbour": sonotile or FFTW at `FftRow.neighbour`, measured in the same rounds as n. */
export type Impl = "sonotile" | "pffft" | "fftjs" | "sonotile kernel" | "pffft kernel" | "fftw" | "sonotile neighbour" | "fftw neighbour";
const IMPLS: Impl[] = ["sonotile", "pffft", "fftjs", "sonotile kernel", "pffft kernel", "fftw", "sonotile neighbour", "fftw neighbour"];

export interface FftRow {
  n: number;
  /** For a size that is not a power of two: the nearest power of two, timed alongside it. */
  neighbour: number | null;
  /** Transforms per second (median over rounds); null when the library does not support n. */
  rate: Record<Impl, number | null>;
  /** Why an implementation was not measured at this n. */
  unsupported: Partial<Record<Impl, string>>;
  /** Per-round rates, for tracking noise. */
  rounds: Partial<Record<Impl, number[]>>;
}

export interface FftOptions { rounds: number; maxTime: number; sizes?: number[] }

function isPowerOfTwo(n: number): boolean {
  return (n & (n - 1)) === 0;
}

/** Whether PFFFT can do a real transform of n: a multiple of 32 with n/32 = 2^a·3^b·5^c. */
function pffftSupports(n: number): boolean {
  if (n % 32 !== 0) return false;
  let m = n / 32;
  for (const p of [2, 3, 5]) while (m % p === 0) m /= p;
  return m === 1;
}

/** A deterministic test frame (the values do not matter for speed, only that they are not 0). */
function testInput(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(0.37 * i) + 0.25 * Math.cos(1.7 * i));
}

export async function runFft(opts: FftOptions, log: (line: string) => void): Promise<{ rows: FftRow[]; load: number[][] }> {
  const pf: PffftModule = await PFFFT();
  const fftw = fftwTransforms();
  const rows: FftRow[] = [];
  const load = [loadAverage()];
  try {
    for (const n of opts.sizes ?? FFT_SIZES) {
      const row = measureSize(n, pf, fftw, opts);
      rows.push(row);
      const k = (v: number | null) => (v === null ? "—" : `${(v / 1e3).toFixed(0)}k/s`);
      log(`  fft n=${n}: sonotile ${k(row.rate.sonotile)}, pffft ${k(row.rate.pffft)}, fft.js ${k(row.rate.fftjs)}, FFTW ${k(row.rate.fftw)} (load ${loadAverage()[0]})`);
    }
  } finally {
    if (!isUnavailable(fftw)) fftw.dispose(); // the wisdom file goes whatever happens to the run
  }
  load.push(loadAverage());
  return { rows, load };
}

/** One row of the table: every implementation at n (and sonotile and FFTW at its neighbour), interleaved. */
function measureSize(n: number, pf: PffftModule, fftw: ReturnType<typeof fftwTransforms>, opts: FftOptions): FftRow {
  const input = testInput(n);
  const fns: Partial<Record<Impl, () => void>> = {};
  const unsupported: FftRow["unsupported"] = {};
  const cleanup: (() => void)[] = [];

  const plan = new RealFFT(n);
  const out = new Float32Array(2 * plan.bins);
  fns.sonotile = () => void plan.forward(input, out);
  const neighbour = isPowerOfTwo(n) ? null : nearestPowerOfTwo(n);
  if (neighbour !== null) {
    const nplan = new RealFFT(neighbour), nin = testInput(neighbour), nout = new Float32Array(2 * nplan.bins);
    fns["sonotile neighbour"] = () => void nplan.forward(nin, nout);
    cleanup.push(() => nplan.dispose());
  }
  const handle = core.fftCreate(n), ip = core.alloc(n * 4), op = core.alloc(plan.bins * 8);
  new Float32Array(core.memory.buffer, ip, n).set(input);
  fns["sonotile kernel"] = () => void core.fftForward(handle, ip, op);
  cleanup.push(() => { plan.dispose(); core.fftDestroy(handle); core.free(ip); core.free(op); });

  if (pffftSupports(n)) {
    const setup = pf._pffft_new_setup(n, 0);
    const a = pf._pffft_aligned_malloc(n * 4), b = pf._pffft_aligned_malloc(n * 4), work = pf._pffft_aligned_malloc(n * 4);
    const pout = new Float32Array(n);
    fns.pffft = () => {
      const heap = pf.HEAPF32;
      heap.set(input, a >> 2);
      pf._pffft_transform_ordered(setup, a, b, work, 0);
      pout.set(heap.subarray(b >> 2, (b >> 2) + n));
    };
    pf.HEAPF32.set(input, a >> 2);
    fns["pffft kernel"] = () => pf._pffft_transform_ordered(setup, a, b, work, 0);
    cleanup.push(() => { pf._pffft_destroy_setup(setup); for (const p of [a, b, work]) pf._pffft_aligned_free(p); });
  } else {
    unsupported.pffft = unsupported["pffft kernel"] = "n not 32·2^a·3^b·5^c";
  }

  if (isPowerOfTwo(n)) {
    const f = new FFT(n);
    const fout = new Float64Array(2 * n);
    fns.fftjs = () => f.realTransform(fout, input);
  } else {
    unsupported.fftjs = "power-of-two only";
  }

  let external: (() => Record<string, number>) | undefined;
  if (isUnavailable(fftw)) {
    unsupported.fftw = fftw.unavailable;
  } else {
    external = (): Record<string, number> => {
      if (neighbour === null) return { fftw: fftw.rates([n], opts.maxTime)[n] };
      const r = fftw.rates([n, neighbour], opts.maxTime);
      return { fftw: r[n], "fftw neighbour": r[neighbour] };
    };
  }

  const measured = interleavedRates(fns as Record<string, () => void>, opts.rounds, opts.maxTime, external);
  cleanup.forEach((c) => c());
  return {
    n, neighbour,
    rate: Object.fromEntries(IMPLS.map((i) => [i, measured[i]?.hz ?? null])) as FftRow["rate"],
    unsupported,
    rounds: Object.fromEntries(Object.entries(measured).map(([k, v]) => [k, v.rounds])),
  };
}

/** Nearest power of two to n on a log scale (the "neighbouring" size of issue 7). */
export function nearestPowerOfTwo(n: number): number {
  return 2 ** Math.round(Math.log2(n));
}
