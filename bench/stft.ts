/**
 * Whole-signal spectrogram pipelines (issue 7 "STFT power pipeline", "PCEN + dB + clamp",
 * "Whombat defaults at 384 kHz"): sonotile beside its peers on the same samples.
 *
 * Method: every in-process pipeline allocates its output once and is warmed up (first touch,
 * JIT: `WARMUP_PASSES`) before timing; the child-process peers do the same internally and
 * report their own timings. Each round has one turn for the in-process pipelines together and
 * one per child process, in a rotated order. A child's turn is its warm-up pass and `repeats` timed passes; in
 * the in-process turn each pipeline makes one untimed pass (evening out what the previous turn
 * left in caches and page tables), then their timed passes alternate pass by pass, so that a
 * burst of the neighbours' load — seconds long on these VMs — lands on all of them alike. The
 * figure is the median of all timed passes. scipy.signal.stft allocates its result inside every
 * call and is timed as it is.
 */
import PFFFT, { type PffftModule } from "@echogarden/pffft-wasm/simd";
import type { ParamsInput } from "../src/index.js";
import { fftwPeer, isUnavailable, scipyPeer, type ChildPeer } from "./lib/children.js";
import { loadAverage, median, rotate, timeOnce } from "./lib/measure.js";
import { checksum, fftjsPipeline, pffftPipeline, sonotilePipeline, type Pipeline } from "./lib/pipelines.js";
import { benchSignal } from "./lib/signal.js";

export type Peer = "pffft" | "fftjs" | "fftw" | "fftw-pcen-db" | "scipy";

/**
 * What a pipeline's output holds: power values, or PCEN + dB + clamp with SPEC §2's defaults. Each
 * output is checked by checksum against the first pipeline with the same kind.
 */
type OutputKind = "power" | "pcen-db";

const PEER_OUTPUT: Record<Peer, OutputKind> = { pffft: "power", fftjs: "power", fftw: "power", "fftw-pcen-db": "pcen-db", scipy: "power" };

export interface PipelineCase {
  key: string;
  title: string;
  seconds: number;
  samplerate: number;
  nperseg: number;
  hop: number;
  /** sonotile variants; the first one is the reference the peers' times are compared with. `output`: see OutputKind (none: not checked). */
  sonotile: { label: string; params: ParamsInput; output?: OutputKind }[];
  peers: Peer[];
}

/** STFT power parameters of SPEC §9 for an FFT length and hop (in samples). */
function powerParams(nperseg: number, hop: number, samplerate: number): ParamsInput {
  return { window_size: nperseg / samplerate, hop_size: hop / nperseg, pcen: false, normalize: false, scale: "power", window: "hann" };
}

export const CASES: Record<"stft" | "pcen" | "whombat", PipelineCase> = {
  stft: {
    key: "stft", title: "STFT power pipeline: 600 s at 48 kHz, N=1024, hop 512, hann, |Z|² (psd scaling)",
    seconds: 600, samplerate: 48000, nperseg: 1024, hop: 512,
    sonotile: [{ label: "sonotile", params: powerParams(1024, 512, 48000), output: "power" }],
    peers: ["pffft", "fftjs", "fftw", "scipy"],
  },
  pcen: {
    key: "pcen", title: "PCEN + dB + clamp vs plain power: 600 s at 48 kHz, N=1024, hop 512 (sonotile)",
    seconds: 600, samplerate: 48000, nperseg: 1024, hop: 512,
    sonotile: [
      { label: "sonotile power", params: powerParams(1024, 512, 48000), output: "power" },
      { label: "sonotile PCEN+dB+clamp", params: { ...powerParams(1024, 512, 48000), pcen: true, scale: "dB", clamp: true }, output: "pcen-db" },
    ],
    // The same two pipelines in native code: what PCEN + dB cost there, relative to its own power pipeline.
    peers: ["fftw", "fftw-pcen-db"],
  },
  whombat: {
    key: "whombat", title: "Whombat defaults at 384 kHz: 60 s, window 0.025 s → N=9600, hop 4800",
    seconds: 60, samplerate: 384000, nperseg: 9600, hop: 4800,
    sonotile: [
      { label: "sonotile power", params: powerParams(9600, 4800, 384000), output: "power" },
      // Whombat's defaults (SPEC §2): hann, PCEN, normalize over the recording, dB, no clamp.
      { label: "sonotile Whombat defaults (PCEN, normalize, dB)", params: {} },
    ],
    peers: ["pffft", "fftw", "scipy"],
  },
};

export interface PipelineResult {
  label: string;
  /** Median seconds per pass over the whole signal; null when unavailable. */
  median_s: number | null;
  /** Seconds of each timed pass, one array per round (ratios are paired by round). */
  rounds_s: number[][];
  /** Relative difference of the bin-weighted output sum (lib/pipelines.ts checksum) from the first pipeline with the same OutputKind. */
  checksum_rel_diff?: number;
  unavailable?: string;
  note?: string;
}

export interface CaseResult {
  key: string;
  title: string;
  frames: number;
  bins: number;
  audio_seconds: number;
  results: PipelineResult[];
  load: number[][];
}

export interface StftOptions { rounds: number; repeats: number }

interface Timed {
  label: string;
  /** Checked by checksum against the first entry of the same kind; null: not checked. */
  output: OutputKind | null;
  /** Timed passes, one array per round. */
  rounds: number[][];
  note?: string;
}

/** An in-process pipeline, timed in its round's alternated passes (runRound). */
interface InProcessEntry extends Timed {
  pipeline: Pipeline;
}

/** A child-process peer: `pass` runs its warm-up and `repeats` timed passes, returns the output checksum. */
interface ChildEntry extends Timed {
  pass(repeats: number): number;
}

type Entry = InProcessEntry | ChildEntry;

let pffftModule: PffftModule | null = null;

/**
 * Untimed passes of every in-process pipeline before the first round. The JavaScript glue needs
 * two to reach its optimized code: pffft's pipeline took 0.68–0.76 s on its first pass (fresh
 * output, cold code), 0.30 s on its second and 0.16 s from the third on (2026-12-02, two
 * processes); with one untimed pass per turn, round 1 (and every `--quick` run) timed the second.
 */
const WARMUP_PASSES = 3;

export async function runCase(c: PipelineCase, opts: StftOptions, log: (line: string) => void): Promise<CaseResult> {
  const load = [loadAverage()];
  const signal = benchSignal(c.seconds, c.samplerate);
  const entries: Entry[] = [];
  const unavailable: PipelineResult[] = [];
  const pipelines: Pipeline[] = [];

  const inProcess = (p: Pipeline, output: OutputKind | null): InProcessEntry => {
    pipelines.push(p);
    return { label: p.name, output, rounds: [], pipeline: p };
  };

  for (const v of c.sonotile) {
    const p = sonotilePipeline(v.label, signal, v.params);
    if (p.bins !== c.nperseg / 2 + 1 || p.frames <= 0) throw new Error(`${v.label}: unexpected geometry ${p.bins}×${p.frames}`);
    entries.push(inProcess(p, v.output ?? null));
  }
  const reference = pipelines[0];
  for (const peer of c.peers) {
    if (peer === "pffft") {
      pffftModule ??= await PFFFT();
      entries.push(inProcess(pffftPipeline(pffftModule, signal, c.nperseg, c.hop), "power"));
    } else if (peer === "fftjs") {
      entries.push(inProcess(fftjsPipeline(signal, c.nperseg, c.hop), "power"));
    } else {
      const child = peer === "scipy" ? scipyPeer() : fftwPeer(peer === "fftw" ? "power" : "pcen-db");
      if (isUnavailable(child)) {
        unavailable.push({ label: peer, median_s: null, rounds_s: [], unavailable: child.unavailable });
        continue;
      }
      entries.push(childEntry(child, PEER_OUTPUT[peer], signal, c, reference, peer === "scipy"
        ? "allocates its frames and result inside every call: timed as it is"
        : "own internal timing; output preallocated, warmed up"));
    }
  }

  for (const p of pipelines) for (let k = 0; k < WARMUP_PASSES; k++) p.run();
  const sums = new Map<string, number>();
  for (let r = 0; r < opts.rounds; r++) {
    runRound(entries, r, opts.repeats, sums);
    log(`  ${c.key} round ${r + 1}/${opts.rounds}: ${entries.map((e) => `${short(e.label)} ${median(e.rounds[r]).toFixed(3)}s`).join(", ")} (load ${loadAverage()[0]})`);
  }
  const firstSum = (output: OutputKind) => sums.get(entries.find((e) => e.output === output)!.label)!;
  const results: PipelineResult[] = entries.map((e) => ({
    label: e.label,
    median_s: median(e.rounds.flat()),
    rounds_s: e.rounds,
    ...(e.output ? { checksum_rel_diff: Math.abs(sums.get(e.label)! - firstSum(e.output)) / Math.abs(firstSum(e.output)) } : {}),
    ...(e.note ? { note: e.note } : {}),
  }));
  const out: CaseResult = {
    key: c.key, title: c.title, frames: reference.frames, bins: reference.bins, audio_seconds: c.seconds,
    results: [...results, ...unavailable], load: [...load, loadAverage()],
  };
  for (const p of pipelines) p.dispose();
  return out;
}

/**
 * Round `r` (see the method above): the in-process pipelines' turn and each child's turn in an
 * order rotated by r, the in-process pipelines' order within their turn rotated too. Records the
 * timed passes in each entry and the checked outputs' checksums in `sums`.
 */
function runRound(entries: Entry[], r: number, repeats: number, sums: Map<string, number>): void {
  const together = rotate(entries.filter((e): e is InProcessEntry => "pipeline" in e), r);
  const inProcessTurn = () => {
    for (const e of together) e.pipeline.run();
    const times = together.map(() => [] as number[]);
    for (let k = 0; k < repeats; k++) together.forEach((e, i) => times[i].push(timeOnce(e.pipeline.run)));
    together.forEach((e, i) => {
      e.rounds.push(times[i]);
      if (e.output) sums.set(e.label, checksum(e.pipeline.output, e.pipeline.bins, e.pipeline.frames));
    });
  };
  const children = entries.filter((e): e is ChildEntry => "pass" in e);
  const childTurns = children.map((e) => () => void sums.set(e.label, e.pass(repeats)));
  for (const turn of rotate([inProcessTurn, ...childTurns], r)) turn();
}

/** A child-process peer as an entry of the rotation; checks its frame count against sonotile's. */
function childEntry(child: ChildPeer, output: OutputKind, signal: ReturnType<typeof benchSignal>, c: PipelineCase, reference: Pipeline, note: string): ChildEntry {
  const entry: ChildEntry = {
    label: child.name, output, rounds: [], note,
    pass: (repeats) => {
      const r = child.run(signal, c.nperseg, c.hop, repeats);
      if (r.frames !== reference.frames || r.bins !== reference.bins) {
        throw new Error(`${child.name}: ${r.bins}×${r.frames} spectrogram, sonotile has ${reference.bins}×${reference.frames}`);
      }
      entry.rounds.push(r.times_s);
      return r.checksum;
    },
  };
  return entry;
}

/** A pipeline's label without its details, for progress lines: "native FFTW (C, …)" → "native FFTW". */
function short(label: string): string {
  return label.split(" + ")[0].replace(/\s*\(.*$/, "");
}
