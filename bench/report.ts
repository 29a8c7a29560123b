/**
 * Formatting of bench results: the tables printed by `npm run bench` and the issue-7 targets
 * with ✓/✗. Ratios are speed-ups of sonotile: (peer time) / (sonotile time), so > 1 means
 * sonotile is faster. A ratio is the median over rounds of the ratio within each round: peers
 * of one round ran seconds apart, so load that drifts between rounds cancels out.
 */
import { TARGET_SIZES, type FftRow, type Impl } from "./fft.js";
import { median } from "./lib/measure.js";
import type { CaseResult, PipelineResult } from "./stft.js";

export interface Target {
  name: string;
  value: number | null;
  goal: string;
  ok: boolean | null;
  /** The same ratio for native FFTW in the same run, where the bench measures it (context, not a target). */
  native?: number | null;
}

export const fmtRate = (v: number | null) => (v === null ? "—" : `${(v / 1e3).toFixed(0)}k`);
const fmtRatio = (v: number | null) => (v === null || !Number.isFinite(v) ? "—" : `${v.toFixed(2)}×`);
const mark = (ok: boolean | null) => (ok === null ? "?" : ok ? "✓" : "✗");
const pad = (s: string, n: number) => s.padStart(n);

/** Median over rounds of a[r] / b[r]; null when either was not measured. */
export function pairedRatio(a: readonly number[] | undefined, b: readonly number[] | undefined): number | null {
  if (!a?.length || !b?.length || a.length !== b.length) return null;
  return median(a.map((v, r) => v / b[r]));
}

/** Rate ratio of two implementations at one n, paired by round. */
function ratio(row: FftRow, a: Impl, b: Impl): number | null {
  return pairedRatio(row.rounds[a], row.rounds[b]);
}

export function fftTable(rows: FftRow[]): string[] {
  const lines = [
    "Real FFT, single thread — transforms/s (median of interleaved benchmark.js rounds)",
    "  API: Float32Array in → JS array out (sonotile RealFFT.forward; pffft HEAPF32.set + transform_ordered + copy out; fft.js realTransform)",
    "  kernel: the transform alone on buffers in WASM memory; native FFTW (C, FFTW_MEASURE r2c; Debian's build: SSE2 and AVX codelets) on its own buffers, one child run per round",
    `${pad("n", 6)} ${pad("sonotile", 9)} ${pad("pffft", 9)} ${pad("fft.js", 9)} ${pad("×pffft", 8)} ${pad("×fft.js", 8)} │ ${pad("kernel:", 8)} ${pad("sonotile", 9)} ${pad("pffft", 9)} ${pad("×pffft", 8)} ${pad("FFTW", 9)} ${pad("×FFTW", 8)}`,
  ];
  const orNa = (v: number | null) => (v === null ? "n/a" : fmtRate(v));
  for (const r of rows) {
    lines.push(
      `${pad(String(r.n), 6)} ${pad(fmtRate(r.rate.sonotile), 9)} ${pad(orNa(r.rate.pffft), 9)} ` +
      `${pad(orNa(r.rate.fftjs), 9)} ${pad(fmtRatio(ratio(r, "sonotile", "pffft")), 8)} ` +
      `${pad(fmtRatio(ratio(r, "sonotile", "fftjs")), 8)} │ ${pad("", 8)} ${pad(fmtRate(r.rate["sonotile kernel"]), 9)} ` +
      `${pad(orNa(r.rate["pffft kernel"]), 9)} ${pad(fmtRatio(ratio(r, "sonotile kernel", "pffft kernel")), 8)} ` +
      `${pad(orNa(r.rate.fftw), 9)} ${pad(fmtRatio(ratio(r, "sonotile kernel", "fftw")), 8)}`,
    );
  }
  const notes = [...new Set(rows.flatMap((r) => Object.entries(r.unsupported).filter(([k]) => !k.includes("kernel")).map(([k, v]) => `${k}: ${v}`)))];
  if (notes.length) lines.push(`  n/a = unsupported (${notes.join("; ")})`);
  return lines;
}

/**
 * Per-sample cost of a non-power-of-two n relative to its nearest power of two (sonotile API
 * level), both from the same interleaved rounds: (1 / (rate·n)) / (1 / (rate_ref·ref)); and the
 * same ratio for native FFTW (`fftwCost`), whose two sizes are timed in one child run per round.
 */
export function awkwardCosts(rows: FftRow[]): { n: number; ref: number; rate: number | null; refRate: number | null; cost: number | null; fftwCost: number | null }[] {
  return rows
    .filter((r): r is FftRow & { neighbour: number } => r.neighbour !== null)
    .map((r) => {
      // (seconds per sample at n) / (seconds per sample at ref) = (rate_ref · ref) / (rate · n)
      const cost = (perRound: number | null) => (perRound === null ? null : (perRound * r.neighbour) / r.n);
      return {
        n: r.n, ref: r.neighbour, rate: r.rate.sonotile, refRate: r.rate["sonotile neighbour"],
        cost: cost(pairedRatio(r.rounds["sonotile neighbour"], r.rounds.sonotile)),
        fftwCost: cost(pairedRatio(r.rounds["fftw neighbour"], r.rounds.fftw)),
      };
    });
}

export function fftTargets(rows: FftRow[]): Target[] {
  const t: Target[] = [];
  for (const r of rows.filter((r) => TARGET_SIZES.includes(r.n))) {
    const vp = ratio(r, "sonotile", "pffft"), vf = ratio(r, "sonotile", "fftjs");
    t.push({ name: `real FFT n=${r.n} vs pffft-wasm SIMD`, value: vp, goal: "≥ 1.0×", ok: vp === null ? null : vp >= 1.0 });
    t.push({ name: `real FFT n=${r.n} vs fft.js`, value: vf, goal: "≥ 5×", ok: vf === null ? null : vf >= 5 });
  }
  for (const a of awkwardCosts(rows)) {
    t.push({ name: `real FFT n=${a.n}: per-sample cost vs n=${a.ref}`, value: a.cost, goal: "≤ 2.0×", ok: a.cost === null ? null : a.cost <= 2, native: a.fftwCost });
  }
  return t;
}

export function caseTable(c: CaseResult): string[] {
  const lines = [
    `${c.title} — ${c.bins} bins × ${c.frames} frames`,
    `  ${"pipeline".padEnd(58)} ${pad("median s", 9)} ${pad("audio×", 8)} ${pad("t / t₁", 10)} ${pad("Σ diff", 9)}`,
  ];
  for (const r of c.results) {
    if (r.median_s === null) {
      lines.push(`  ${r.label.padEnd(58)} skipped: ${r.unavailable}`);
      continue;
    }
    lines.push(
      `  ${r.label.padEnd(58)} ${pad(r.median_s.toFixed(3), 9)} ${pad(`${(c.audio_seconds / r.median_s).toFixed(0)}×`, 8)} ` +
      `${pad(r === c.results[0] ? "—" : fmtRatio(timeRatio(r, c.results[0])), 10)} ${pad(r.checksum_rel_diff === undefined ? "" : r.checksum_rel_diff.toExponential(1), 9)}` +
      (r.note ? `  (${r.note})` : ""),
    );
  }
  lines.push(`  audio× = seconds of audio per second of compute; t / t₁ = this row's time ÷ the first row's, median over rounds of the per-round ratio (for a peer: how many times faster ${c.results[0].label} is); Σ diff = relative difference of Σ_k (k+1)·Σ_i S[k][i] from the first row's with the same output (power, or PCEN+dB+clamp; same layout)`);
  lines.push(`  load average at start ${c.load[0].join(" ")}, at end ${c.load[c.load.length - 1].join(" ")}`);
  return lines;
}

/** Median over rounds of (median time of `a` in round r) / (median time of `b` in round r). */
function timeRatio(a: PipelineResult, b: PipelineResult): number | null {
  return pairedRatio(a.rounds_s.map(median), b.rounds_s.map(median));
}

function find(c: CaseResult, prefix: string): PipelineResult | undefined {
  return c.results.find((r) => r.label.startsWith(prefix));
}

export function stftTargets(c: CaseResult): Target[] {
  const speedup = (prefix: string, goal: number, name: string): Target => {
    const p = find(c, prefix);
    const v = p === undefined ? null : timeRatio(p, c.results[0]);
    return { name, value: v, goal: `≥ ${goal}×`, ok: v === null ? null : v >= goal };
  };
  return [
    speedup("pffft", 2, "STFT power vs pffft-wasm + glue"),
    speedup("scipy", 3, "STFT power vs scipy.signal.stft"),
    speedup("native FFTW", 0.7, "STFT power vs native FFTW"),
  ];
}

export function pcenTargets(c: CaseResult): Target[] {
  const pcen = find(c, "sonotile PCEN");
  const t = pcen === undefined ? null : timeRatio(pcen, c.results[0]);
  const v = t === null ? null : 1 / t;
  return [{ name: "PCEN+dB+clamp speed vs plain power", value: v, goal: "≥ 0.8×", ok: v === null ? null : v >= 0.8, native: nativePcenSpeed(c) }];
}

/** The native FFTW pipelines of the pcen case, when they ran. */
function nativePcen(c: CaseResult): { power: PipelineResult; pcen: PipelineResult } | null {
  const power = find(c, "native FFTW ("), pcen = find(c, "native FFTW PCEN");
  return power?.median_s && pcen?.median_s ? { power, pcen } : null;
}

/** Native FFTW's PCEN + dB + clamp speed relative to its own power pipeline: the issue's ratio measured on native code. */
function nativePcenSpeed(c: CaseResult): number | null {
  const n = nativePcen(c);
  return n && timeRatio(n.power, n.pcen);
}

/**
 * PCEN + dB + clamp in native code, from the same run: the speed ratio the issue sets for sonotile
 * (≥ 0.8× of plain power) as native FFTW with glibc's vector math achieves it, and how many times
 * faster sonotile's PCEN + dB + clamp pipeline is than native FFTW's.
 */
export function pcenNativeLine(c: CaseResult): string[] {
  const n = nativePcen(c), sonotile = find(c, "sonotile PCEN");
  if (!n || !sonotile) return [];
  return [`  native FFTW's own PCEN+dB+clamp speed vs its plain power: ${fmtRatio(nativePcenSpeed(c))}; ` +
    `sonotile PCEN+dB+clamp vs native FFTW PCEN+dB+clamp: ${fmtRatio(timeRatio(n.pcen, sonotile))}`];
}

export function targetLines(targets: Target[]): string[] {
  return targets.map((t) => `  ${mark(t.ok)} ${t.name.padEnd(48)} ${pad(fmtRatio(t.value), 8)}  (target ${t.goal}` +
    `${t.native === undefined || t.native === null ? "" : `; native FFTW's own: ${fmtRatio(t.native)}`})`);
}
