/**
 * The engine against scipy (SPEC §3): golden spectrograms from scripts/golden_spectrogram.py,
 * for synthetic signals and the real recordings in ../shared/fixtures (44.1–500 kHz).
 * Criterion of the engine-core issue: |error| ≤ 0.01 dB (0.05 dB with PCEN) for bins within
 * 60 dB of the peak.
 */
import { readdirSync, readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { openAudio } from "../src/audio/index.js";
import { AudioFormatError, type AudioReader } from "../src/audio/types.js";
import { samplesReader } from "../src/audio/samples-reader.js";
import { ParamsError, type ParamsInput } from "../src/engine/params.js";
import * as library from "../src/index.js";
import { RecordingSpectrogram, spectrogramOfRecording } from "../src/engine/recording.js";
import { CoreArray } from "../src/engine/core-array.js";
import { spectrogram, type Spectrogram } from "../src/engine/spectrogram.js";
import { core } from "../src/engine/wasm.js";
import { FIXTURES, readF32, readJson, ROOT } from "./golden.js";
import { random } from "./random.js";
import { verbatimFlac } from "./audio-helpers.js";

interface GoldenCase {
  source: string;
  time_expansion: number;
  params: ParamsInput & { scale?: string; pcen?: boolean; channel?: number };
  bins: number;
  frames: number;
  hop: number;
  nperseg: number;
  samplerate: number;
  columns: number[];
  max: number;
}

const GOLDEN = `${ROOT}test/golden/spectrogram/`;
const cases = readdirSync(GOLDEN)
  .filter((f) => f.endsWith(".json"))
  .map((f) => f.slice(0, -5))
  .sort();
const load = (name: string) => ({ meta: readJson<GoldenCase>(`${GOLDEN}${name}.json`), values: readF32(`${GOLDEN}${name}.f32`) });

/** Values on a dB scale, whatever the output scale, so one tolerance applies. */
function toDb(v: number, scale: string | undefined): number {
  if (scale === "power") return 10 * Math.log10(Math.max(v, 1e-30));
  if (scale === "amplitude") return 20 * Math.log10(Math.max(v, 1e-30));
  return v;
}

/**
 * Largest |error| in dB over the golden columns, counting bins within 60 dB of the golden
 * peak. `columnOf(c)` gives the engine's column index for whole-recording frame c, or −1.
 */
function maxDbError(s: Spectrogram, meta: GoldenCase, golden: Float32Array, columnOf = (c: number) => c): { error: number; compared: number } {
  const scale = meta.params.scale;
  const peak = toDb(meta.max, scale);
  let error = 0;
  let compared = 0;
  const n = meta.columns.length;
  meta.columns.forEach((frame, j) => {
    const col = columnOf(frame);
    if (col < 0) return;
    for (let k = 0; k < meta.bins; k++) {
      const want = toDb(golden[k * n + j], scale);
      if (want < peak - 60) continue;
      const got = toDb(s.data[k * s.frames + col], scale);
      error = Math.max(error, Math.abs(got - want));
      compared++;
    }
  });
  return { error, compared };
}

const tolerance = (meta: GoldenCase) => (meta.params.pcen === false ? 0.01 : 0.05);

describe("whole signals in memory: spectrogram() against scipy", () => {
  const synthetic = readF32(`${GOLDEN}synthetic.f32`);
  for (const name of cases.filter((c) => c.startsWith("syn-"))) {
    it(name, () => {
      const { meta, values } = load(name);
      const s = spectrogram(synthetic, 48000, meta.params);
      expect([s.bins, s.frames, s.hop, s.nperseg, s.samplerate]).toEqual([meta.bins, meta.frames, meta.hop, meta.nperseg, meta.samplerate]);
      const { error, compared } = maxDbError(s, meta, values);
      expect(compared).toBeGreaterThan(meta.columns.length * 5);
      expect(error).toBeLessThanOrEqual(tolerance(meta));
    });
  }
});

describe("real recordings read from disk: spectrogramOfRecording() against scipy", () => {
  for (const name of cases.filter((c) => c.startsWith("rec-"))) {
    it(name, async () => {
      const { meta, values } = load(name);
      const reader = await openAudio(`${FIXTURES}recordings/${meta.source}`);
      try {
        const s = await spectrogramOfRecording(reader, meta.params, { timeExpansion: meta.time_expansion });
        expect([s.bins, s.frames, s.hop, s.nperseg, s.samplerate]).toEqual([meta.bins, meta.frames, meta.hop, meta.nperseg, meta.samplerate]);
        const { error, compared } = maxDbError(s, meta, values);
        expect(compared).toBeGreaterThan(meta.columns.length * 5);
        expect(error).toBeLessThanOrEqual(tolerance(meta));
      } finally {
        await reader.close();
      }
    });
  }
});

describe("pieces of a recording have whole-recording semantics", () => {
  // rec-whombat-bats-resampled's piece starts past frame 1024, so its PCEN state comes from a
  // stats checkpoint, not from the start of the recording.
  for (const name of ["rec-whombat-bats-defaults", "rec-lasiurus-filtered", "syn-resample-up-filter", "rec-whombat-bats-resampled"]) {
    it(`${name}: a piece equals the same frames of the whole`, async () => {
      const { meta, values } = load(name);
      const reader = meta.source.endsWith(".f32")
        ? samplesReader([readF32(`${GOLDEN}${meta.source}`)], 48000)
        : await openAudio(`${FIXTURES}recordings/${meta.source}`);
      const frameTime = (i: number) => (i * meta.hop) / meta.samplerate;
      // A piece that starts and ends between golden columns, away from the recording's ends.
      const first = meta.columns[Math.floor(meta.columns.length / 3)];
      const last = meta.columns[Math.floor((2 * meta.columns.length) / 3)];
      const start = frameTime(first) - 0.25 * (meta.hop / meta.samplerate);
      const end = frameTime(last) + 0.5 * (meta.hop / meta.samplerate);
      const piece = await spectrogramOfRecording(reader, meta.params, { start, end, timeExpansion: meta.time_expansion });
      await reader.close();
      if (name === "rec-whombat-bats-resampled") expect(first).toBeGreaterThan(1024);
      expect(piece.firstFrame).toBe(first);
      expect(piece.frames).toBe(last - first + 1);
      const columnOf = (c: number) => (c >= first && c <= last ? c - first : -1);
      const { error, compared } = maxDbError(piece, meta, values, columnOf);
      expect(compared).toBeGreaterThan(0);
      expect(error).toBeLessThanOrEqual(tolerance(meta));
    });
  }
});

describe("a piece with no frame in it is refused, naming the bound at fault (as the CLI and the HTTP API refuse it)", () => {
  it("start past the end, a gap between frames, and bounds that are no interval", async () => {
    // 22.5 s, hop 0.0125 s at the defaults: 1805 frames.
    const reader = await openAudio(`${FIXTURES}recordings/whombat_tests_bats.wav`);
    try {
      const refusal = (piece: { start?: number; end?: number }) => spectrogramOfRecording(reader, { pcen: false }, piece).then(() => "computed", (e: Error) => `${e.name}: ${e.message}`);
      const frames = "(the recording has 1805 frames, 0.012494331065759636 s apart, the last centred at 22.539773242630385 s)";
      expect(await refusal({ start: 3600, end: 3610 })).toBe(`RangeError: start: no frame is centred in [3600, 3610) s ${frames}`);
      expect(await refusal({ start: 1, end: 1.0001 })).toBe(`RangeError: end: no frame is centred in [1, 1.0001) s ${frames}`);
      expect(await refusal({ start: -1 })).toBe("RangeError: start: must be a number >= 0 (seconds), got -1");
      expect(await refusal({ start: 2, end: 1 })).toBe("RangeError: end: must be a number > start (2 s), got 1");
      expect(await refusal({ start: "1" as never, end: 2 })).toBe('TypeError: start: must be a number (seconds), got string "1"');
      expect(await refusal({ end: "2" as never })).toBe('TypeError: end: must be a number (seconds), got string "2"');
      expect((await spectrogramOfRecording(reader, { pcen: false }, { start: 22.5 })).frames).toBe(4); // the last frames, centred at 22.50–22.54 s
    } finally {
      await reader.close();
    }
  });
});

describe("chunked processing equals one pass", () => {
  const synthetic = readF32(`${GOLDEN}synthetic.f32`);
  const parameterSets: ParamsInput[] = [{}, { pcen: false, scale: "power", normalize: false }, { scale: "amplitude", window: "kaiser", hop_size: 0.3 }, { low_freq: 2000, high_freq: 12000 }, { resample: true, samplerate: 22050 }];
  for (const params of parameterSets) {
    it(JSON.stringify(params), async () => {
      const whole = spectrogram(synthetic, 48000, params);
      const recording = new RecordingSpectrogram(samplesReader([synthetic], 48000), params);
      const joined = new Float32Array(whole.data.length);
      let blocks = 0;
      for await (const block of recording.range(0, Infinity, 7)) {
        for (let k = 0; k < whole.bins; k++) joined.set(block.data.subarray(k * block.frames, (k + 1) * block.frames), k * whole.frames + block.firstFrame);
        blocks++;
      }
      recording.dispose();
      expect(blocks).toBe(Math.ceil(whole.frames / 7));
      let worst = 0;
      for (let i = 0; i < joined.length; i++) worst = Math.max(worst, Math.abs(joined[i] - whole.data[i]));
      // Without conditioning the blocks compute the very same operations; the IIR filter's
      // context makes pieces equal to float32 rounding.
      expect(worst).toBeLessThanOrEqual(params.low_freq || params.resample ? 1e-3 : 0);
    });
  }

  // Blocks of 128·k frames keep their rows 16 floats further apart than their width (blockStride).
  it.each([{ pcen: false, scale: "power" as const }, { pcen: true, scale: "dB" as const }])("blocks of 128·k frames (rows padded) and others equal one pass: %o", async (params) => {
    const samplerate = 48000;
    const next = random(17);
    const signal = Float32Array.from({ length: 5000 * 256 }, (_, i) => next() - 0.5 + Math.sin(0.05 * i));
    const full = { ...params, window_size: 512 / samplerate, hop_size: 0.5, normalize: false };
    const whole = spectrogram(signal, samplerate, full);
    expect(whole.frames).toBeGreaterThan(4096);
    for (const step of [640, 1024, 1025, 2048, 3584]) {
      const recording = new RecordingSpectrogram(samplesReader([signal], samplerate), full);
      const joined = new Float32Array(whole.data.length);
      for await (const block of recording.range(0, Infinity, step)) {
        for (let k = 0; k < whole.bins; k++) joined.set(block.data.subarray(k * block.frames, (k + 1) * block.frames), k * whole.frames + block.firstFrame);
      }
      recording.dispose();
      let differing = 0;
      for (let i = 0; i < joined.length; i++) if (joined[i] !== whole.data[i]) differing++;
      expect(differing).toBe(0);
    }
  });
});

describe("the stats pass over a compressed recording", () => {
  // The pass reads blocks of frames whose samples overlap and straddle the reader's decoded blocks
  // (one kept here): a FLAC's samples reach it as the same samples in memory do, so its stats are
  // those of the samples, to the bit.
  it("a FLAC file gives the maximum and PCEN checkpoints of its samples in memory, with and without the overview", async () => {
    const rate = 48000;
    const next = random(23);
    const ints = Int32Array.from({ length: 3 * rate }, (_, i) => Math.round(12000 * Math.sin(i * (0.01 + i * 2e-7)) + 3000 * (next() - 0.5)));
    const samples = Float32Array.from(ints, (v) => v / 32768);
    for (const overview of [false, true]) {
      const flac = new RecordingSpectrogram(await openAudio(verbatimFlac([ints], rate, 16, 4096, true), { blockFrames: 5000, cacheBlocks: 1 }), { window_size: 0.005, hop_size: 0.25 });
      const memory = new RecordingSpectrogram(samplesReader([samples], rate), { window_size: 0.005, hop_size: 0.25 });
      try {
        const [got, expected] = [await flac.computeStats(64, undefined, overview), await memory.computeStats(64, undefined, overview)];
        expect(got.frames).toBe(2401);
        expect(got.checkpoints.length).toBe(38);
        expect(got).toEqual(expected);
      } finally {
        flac.dispose();
        memory.dispose();
      }
    }
  });
});

describe("range with binEdges: blocks of a tile's rows (the CLI's --fmin, --fmax, --height)", () => {
  it("gives each block's bins merged by their maximum, the values writePooledRange gives; edges that are no rows of bins are refused naming binEdges", async () => {
    const recording = new RecordingSpectrogram(samplesReader([readF32(`${GOLDEN}synthetic.f32`)], 48000), { window_size: 64 / 48000 });
    try {
      const { bins } = recording.geometry; // 33
      const [f0, f1] = [5, 5 + 300];
      const whole = await recording.frameRange(f0, f1);
      const edges = Int32Array.from([3, 7, 8, 20]);
      const joined = new Float32Array(3 * (f1 - f0));
      for await (const block of recording.range(f0, f1, 64, edges)) {
        expect(block.data.length).toBe(3 * block.frames);
        for (let r = 0; r < 3; r++) joined.set(block.data.subarray(r * block.frames, (r + 1) * block.frames), r * (f1 - f0) + block.firstFrame - f0);
      }
      const expected = new Float32Array(3 * (f1 - f0));
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < f1 - f0; c++) {
          let m = -Infinity;
          for (let k = edges[r]; k < edges[r + 1]; k++) m = Math.max(m, whole[k * (f1 - f0) + c]);
          expected[r * (f1 - f0) + c] = m;
        }
      }
      expect(joined).toEqual(expected);
      const pooled = new Float32Array(3 * (f1 - f0));
      await recording.writePooledRange(f0, f1, edges, 1, pooled);
      expect(pooled).toEqual(expected);
      for (const bad of [Int32Array.from([3]), Int32Array.from([3, 3]), Int32Array.from([-1, 4]), Int32Array.from([0, bins + 1]), [0, 4] as unknown as Int32Array]) {
        const message = /^binEdges: must be an Int32Array of increasing bin indices within \[0, 33\]/;
        await expect(recording.range(f0, f1, 64, bad).next(), String(bad)).rejects.toThrow(message);
        await expect(recording.writePooledRange(f0, f1, bad, 1, new Float32Array(f1 - f0)), String(bad)).rejects.toThrow(message);
      }
    } finally {
      recording.dispose();
    }
  });
});

describe("writeFrameRange into shared memory (the pool's output)", () => {
  it("writes the values one pass gives at every column parity: rows a multiple of 8 bytes from their source and rows 4 bytes off (which go through a scratch row)", async () => {
    const samplerate = 48000;
    const signal = readF32(`${GOLDEN}synthetic.f32`);
    const params = { window_size: 64 / samplerate, hop_size: 0.5, pcen: false, normalize: false };
    const recording = new RecordingSpectrogram(samplesReader([signal], samplerate), params);
    try {
      const { bins } = recording.geometry;
      const [f0, f1] = [3, 3 + 601]; // 601 frames: an odd row length, both block strides' parities
      expect(recording.frames).toBeGreaterThan(f1);
      const expected = await recording.frameRange(f0, f1);
      for (const columns of [f1 - f0, f1 - f0 + 1, f1 - f0 + 2]) {
        for (const column of new Set([0, Math.min(1, columns - (f1 - f0)), columns - (f1 - f0)])) {
          // a view 4 bytes into its buffer as well as one at its start
          for (const skip of [0, 1]) {
            const target = new Float32Array(new SharedArrayBuffer(4 * (bins * columns + skip)), 4 * skip, bins * columns).fill(NaN);
            await recording.writeFrameRange(f0, f1, target, column);
            for (let k = 0; k < bins; k++) {
              expect(target.subarray(k * columns + column, k * columns + column + f1 - f0)).toEqual(expected.subarray(k * (f1 - f0), (k + 1) * (f1 - f0)));
            }
            expect(target.filter(Number.isNaN).length).toBe(bins * (columns - (f1 - f0)));
          }
        }
      }
    } finally {
      recording.dispose();
    }
  });
});

describe("frame ranges and steps of a RecordingSpectrogram that are no frame counts are refused, naming them", () => {
  it("range, frameRange, writeFrameRange and computeStats: NaN, fractions and steps below 1 (a step of 0 looped for ever)", async () => {
    const recording = new RecordingSpectrogram(samplesReader([readF32(`${GOLDEN}synthetic.f32`)], 48000), { pcen: true });
    try {
      // At most three blocks: a step of 0 yielded empty blocks at frame 0 without end.
      const firstBlocks = async (f0: number, f1: number, step: number) => {
        const blocks = recording.range(f0, f1, step);
        const frames: number[] = [];
        for (let i = 0; i < 3; i++) {
          const next = await blocks.next();
          if (next.done) break;
          frames.push(next.value.frames);
        }
        return frames;
      };
      await expect(firstBlocks(0, 10, 0)).rejects.toThrow(new RangeError("step: must be an integer ≥ 1, got 0"));
      await expect(firstBlocks(0, 10, -1)).rejects.toThrow(new RangeError("step: must be an integer ≥ 1, got -1"));
      await expect(firstBlocks(0, 10, 0.5)).rejects.toThrow(new RangeError("step: must be an integer ≥ 1, got 0.5"));
      await expect(firstBlocks(NaN, 10, 4)).rejects.toThrow(new RangeError("f0: must be a frame index (an integer, or Infinity for the end), got NaN"));
      expect(await firstBlocks(-5, Infinity, 4)).toEqual([4, 4, 4]); // bounds outside the recording are clamped, as before
      await expect(recording.frameRange(0.5, 3)).rejects.toThrow(new RangeError("f0: must be a frame index (an integer, or Infinity for the end), got 0.5"));
      await expect(recording.frameRange(0, NaN)).rejects.toThrow(/^f1: must be a frame index/);
      await expect(recording.writeFrameRange(NaN, 3, new Float32Array(3 * recording.geometry.bins), 0)).rejects.toThrow(/^f0: must be a frame index/);
      // A spacing of NaN gave stats of a null peak and NaN spacing; one of 0 or less looped for ever.
      await expect(recording.computeStats(NaN)).rejects.toThrow(new RangeError("checkpointEvery: must be an integer ≥ 1, got NaN"));
      await expect(recording.computeStats(2.5)).rejects.toThrow(new RangeError("checkpointEvery: must be an integer ≥ 1, got 2.5"));
    } finally {
      recording.dispose();
    }
  });
});

describe("a disposed RecordingSpectrogram", () => {
  it("refuses to compute with a message saying so (the core's own was 'invalid handle'); dispose twice is harmless", async () => {
    const recording = new RecordingSpectrogram(samplesReader([readF32(`${GOLDEN}synthetic.f32`)], 48000), { pcen: false });
    expect((await recording.frameRange(0, 4)).length).toBe(4 * recording.geometry.bins);
    recording.dispose();
    recording.dispose();
    await expect(recording.frameRange(0, 4)).rejects.toThrow(/^the spectrogram was used after dispose\(\)$/);
    await expect(recording.computeStats()).rejects.toThrow(/used after dispose/);
  });
});

describe("a RecordingSpectrogram dropped without dispose()", () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  /** Collects garbage and lets the finalizers it found run: they run as tasks of their own, once the event loop turns. */
  async function collect(): Promise<void> {
    for (let i = 0; i < 2; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 0));
      await new Promise((r) => setImmediate(r));
    }
  }
  const signal = Float32Array.from({ length: 48_000 }, (_, i) => 0.5 * Math.sin(i / 7) + 0.1 * Math.sin(i / 3));
  const params: ParamsInput = { pcen: true, window_size: 0.025 };
  /** Frames 10–40 as an instance disposed at once computes them. */
  async function reference(): Promise<Float32Array> {
    const recording = new RecordingSpectrogram(samplesReader([signal], 48_000), params);
    try {
      return await recording.frameRange(10, 40);
    } finally {
      recording.dispose();
    }
  }

  it("gives its plan back to the core when collected: 300 such instances leave the core's memory as it was (1000 grew it by 544 MB, none freed)", async () => {
    const reader = samplesReader([signal], 48_000);
    const dropped = async (count: number) => {
      for (let i = 0; i < count; i++) {
        await new RecordingSpectrogram(reader, params).piece(0.2, 0.3);
        if (i % 10 === 9) await collect();
      }
    };
    await dropped(20); // the core's memory grows to what 10 instances and a piece need
    const before = core.memory.buffer.byteLength;
    await dropped(300); // 0.1 MB each: 30 MB more had none been freed
    expect(core.memory.buffer.byteLength).toBe(before);
  });

  it("disposed, then collected, destroys nothing more: the instance given its plan's handle since keeps computing", async () => {
    const expected = await reference();
    let disposed: RecordingSpectrogram | null = new RecordingSpectrogram(samplesReader([signal], 48_000), params);
    disposed.dispose();
    const next = new RecordingSpectrogram(samplesReader([signal], 48_000), params); // the core reuses the freed handle
    disposed = null;
    await collect();
    expect(await next.frameRange(10, 40)).toEqual(expected);
    next.dispose();
  });

  it("is not collected while a piece, a stats pass or a range it started is still running, though nothing else holds it", async () => {
    const expected = await reference();
    const inner = samplesReader([signal], 48_000);
    // Every read first collects garbage and lets finalizers run.
    const collecting: AudioReader = { info: inner.info, close: () => inner.close(), read: async (...args) => (await collect(), inner.read(...args)) };
    const fresh = () => new RecordingSpectrogram(collecting, params);
    const bins = (await fresh().piece(0, 0.01)).bins;
    const piece = await fresh().piece(10 * 0.0125, 40 * 0.0125);
    expect([piece.firstFrame, piece.frames]).toEqual([10, 30]);
    expect(piece.data).toEqual(expected);
    expect((await fresh().computeStats(8)).checkpoints.length).toBe(Math.ceil(fresh().frames / 8));
    // Blocks of 5 frames: the generator alone holds the instance between them.
    const blocks: Float32Array[] = [];
    for await (const block of fresh().range(10, 40, 5)) blocks.push(block.data);
    const joined = new Float32Array(bins * 30);
    blocks.forEach((block, b) => { for (let k = 0; k < bins; k++) joined.set(block.subarray(k * 5, (k + 1) * 5), k * 30 + 5 * b); });
    expect(joined).toEqual(expected);
  });
});

describe("samples a spectrogram cannot be made of", () => {
  const tone = () => Float32Array.from({ length: 24_000 }, (_, i) => 0.5 * Math.sin(i / 7));
  // 25 ms at 48 kHz: n = 1200, four frames per transform; 22.9 ms: n = 1099, one frame at a time.
  const paths: ParamsInput[] = [{}, { window_size: 0.0229, pcen: false, normalize: false, scale: "power" }];

  it("NaN or ±Infinity among the samples is a SampleValuesError (an AudioFormatError) naming the first one's time, on both STFT paths", () => {
    for (const [at, value] of [[5000, NaN], [23_999, -Infinity], [17, Infinity]] as const) {
      const x = tone();
      x[at] = value;
      for (const params of paths) {
        expect(() => spectrogram(x, 48_000, params)).toThrow(AudioFormatError);
        expect(() => spectrogram(x, 48_000, params)).toThrow(expect.objectContaining({
          name: "SampleValuesError",
          message: `the samples hold ${value} (first at ${at / 48_000} s, sample ${at} of the signal analysed): a spectrogram of NaN or ±Infinity is not defined`,
        }));
      }
    }
  });

  it("the core's check finds a non-finite sample at every position: each of the four running sums and the scalar tail", () => {
    for (const n of [1, 15, 16, 17, 47, 64]) {
      const buffer = new CoreArray(n);
      try {
        const x = buffer.view();
        x.fill(0.25);
        expect(core.samplesFinite(buffer.ptr, n), `n = ${n}, all finite`).toBe(true);
        for (let at = 0; at < n; at++) {
          for (const value of [NaN, Infinity, -Infinity]) {
            x[at] = value;
            expect(core.samplesFinite(buffer.ptr, n), `n = ${n}, ${value} at ${at}`).toBe(false);
          }
          x[at] = 0.25;
        }
      } finally {
        buffer.free();
      }
    }
  });

  it("a refused signal leaves none of the core's memory behind", () => {
    const x = Float32Array.from({ length: 480_000 }, (_, i) => 0.5 * Math.sin(i / 7)); // 10 s: blocks of 8 MB
    x[470_000] = NaN; // in the last block, after the others were computed
    const refuse = () => expect(() => spectrogram(x, 48_000, paths[0])).toThrow(/the samples hold NaN/);
    refuse(); // the core's memory grows to what one call needs
    const before = core.memory.buffer.byteLength;
    for (let i = 0; i < 30; i++) refuse();
    expect(core.memory.buffer.byteLength).toBe(before);
  });

  it("finite samples whose power overflows float32 are a SampleValuesError naming the first such sample's index and time, as NaN is; large ones whose power does not are computed", () => {
    // It said "sample values reach 1.00e+30: their power overflows float32", naming neither the samples nor where.
    const overflow = (value: string, at: number) => `the samples hold ${value} (first at ${at / 48_000} s, sample ${at} of the signal analysed): their power overflows float32 (full scale is 1)`;
    const x = tone();
    x[100] = 1e30;
    x[20_000] = 3e30; // larger, but later: the first sample whose square overflows is named
    for (const params of paths) expect(() => spectrogram(x, 48_000, params)).toThrow(expect.objectContaining({ name: "SampleValuesError", message: overflow("1.00e+30", 100) }));
    // None overflows alone (2^64 = 1.8e19 does), a frame's sum of them does: the largest is named, the first of equals.
    const pair = tone();
    pair[5000] = 1.5e19;
    pair[5001] = -1.5e19;
    for (const params of paths) expect(() => spectrogram(pair, 48_000, params)).toThrow(expect.objectContaining({ name: "SampleValuesError", message: overflow("1.50e+19", 5000) }));
    // In the last of several blocks (8 MB each): the index counts from the signal's start, not the block's.
    const long = Float32Array.from({ length: 480_000 }, (_, i) => 0.5 * Math.sin(i / 7));
    long[470_000] = -1e20;
    expect(() => spectrogram(long, 48_000, paths[0])).toThrow(expect.objectContaining({ name: "SampleValuesError", message: overflow("-1.00e+20", 470_000) }));
    x[100] = 1e12; // power ≈ 1e24·scale: finite
    x[20_000] = 0;
    const s = spectrogram(x, 48_000, paths[1]);
    expect(s.data.every(Number.isFinite)).toBe(true);
  });
});

describe("PCEN values the float32 core cannot represent are refused, naming the field, not written", () => {
  // Silence, then a tone: the smoother is near 0 when the tone starts, the largest S·(eps + M)^−gain.
  const burst = (scale = 1) => Float32Array.from({ length: 24_000 }, (_, i) => (i < 12_000 ? 1e-3 : 0.9) * scale * Math.sin(i / 7));
  // 25 ms at 48 kHz: four frames per transform (PCEN on columns); 22.9 ms: one frame at a time (rows).
  const paths: ParamsInput[] = [{ scale: "power", normalize: false }, { scale: "power", normalize: false, window_size: 0.0229 }];

  /** PCEN of SPEC §3.6 in float64 on the power values of a run without it. */
  function pcenReference(x: Float32Array, params: ParamsInput, p: { gain: number; eps?: number; bias?: number; power?: number; smooth?: number }): Float64Array {
    const { gain, eps = 1e-6, bias = 2, power = 0.5, smooth = 0.025 } = p;
    const s = spectrogram(x, 48_000, { ...params, pcen: false });
    const out = new Float64Array(s.data.length);
    for (let k = 0; k < s.bins; k++) {
      let m = s.data[k * s.frames];
      for (let t = 0; t < s.frames; t++) {
        const v = s.data[k * s.frames + t];
        m = (1 - smooth) * m + smooth * v;
        out[k * s.frames + t] = bias ** power * Math.expm1(power * Math.log1p((v * (eps + m) ** -gain) / bias));
      }
    }
    return out;
  }
  const largestRelativeError = (a: Float32Array, ref: Float64Array) => ref.reduce((worst, r, i) => (r > 1e-30 ? Math.max(worst, Math.abs(a[i] - r) / r) : worst), 0);

  it("a pcen_smooth near 1 is used as given: 1 − s came from float32 s (0.999999 → 1 − s = 1.0133e-6, 1.3 % off), and so did P", () => {
    for (const params of paths) {
      // Frames that do not overlap (boxcar, hop = window), loud and 100 dB quieter in turn: in a
      // quiet frame M is mostly (1 − s) times the loud one before it, so P is as wrong as 1 − s.
      const n = Math.floor((params.window_size ?? 0.025) * 48_000);
      const x = Float32Array.from({ length: 48_000 }, (_, i) => (Math.floor((i + n / 2) / n) % 2 ? 1e-5 : 1) * Math.sin(i / 7));
      const step = { ...params, window: "boxcar" as const, hop_size: 1 };
      for (const smooth of [0.999999, 0.9999]) {
        const s = spectrogram(x, 48_000, { ...step, pcen_smooth: smooth, pcen_eps: 1e-12 });
        expect(largestRelativeError(s.data, pcenReference(x, step, { gain: 0.98, smooth, eps: 1e-12 })), `pcen_smooth ${smooth}`).toBeLessThan(2e-5);
      }
    }
  });

  it("S·(eps + M)^−gain / bias beyond float32 (a pcen_bias near float32's smallest normal): the kernel wrote NaN", () => {
    for (const params of paths) {
      for (const gain of [0.98, 5]) {
        expect(() => spectrogram(burst(), 48_000, { ...params, pcen_bias: 2e-38, pcen_gain: gain })).toThrow(expect.objectContaining({
          name: "ParamsError",
          message: expect.stringMatching(/^pcen_bias: PCEN's S·\(eps \+ M\)\^−gain \/ bias overflows float32 with pcen_bias 2e-38/),
        }));
      }
      // The same bias where the values stay in range is computed, and right.
      const x = Float32Array.from({ length: 24_000 }, (_, i) => 1e-3 * Math.sin(i / 7));
      const s = spectrogram(x, 48_000, { ...params, pcen_bias: 2e-38 });
      expect(largestRelativeError(s.data, pcenReference(x, params, { gain: 0.98, bias: 2e-38 }))).toBeLessThan(1e-5);
    }
  });

  it("PCEN past the core's expm1 is refused naming pcen_power and the real ceiling, e^88 before the factor bias^power — not float32's range, which values of 1.65e32 and more are far inside", () => {
    for (const params of paths) {
      expect(() => spectrogram(burst(), 48_000, { ...params, pcen_bias: 0.001, pcen_power: 2, pcen_gain: 3, pcen_eps: 1e-12 })).toThrow(expect.objectContaining({
        name: "ParamsError",
        message: expect.stringMatching(/^pcen_power: PCEN values pass what the core computes with pcen_bias 0\.001 and pcen_power 2: expm1\(power·log1p\(S·\(eps \+ M\)\^−gain \/ bias\)\) reaches e\^88 \(1\.65e38, the largest its float32 expm1 takes\) before the factor bias\^power = 0\.000001, i\.e\. PCEN values of 1\.65e\+32 or more; /),
      }));
    }
  });

  it("(eps + M)^−gain below float32's 2^−126 for a loud signal and a large gain is refused naming pcen_gain; a gain just inside is right", () => {
    for (const params of paths) {
      // Samples up to 9e5 (a float recording beyond full scale): M ≈ 1e9, (1e9)^−5 = 2^−149.
      expect(() => spectrogram(burst(1e6), 48_000, { ...params, pcen_gain: 5 })).toThrow(expect.objectContaining({
        name: "ParamsError",
        message: expect.stringMatching(/^pcen_gain: must be < 4\.\d+ for this signal: its PCEN smoother reaches M = /),
      }));
      const x = burst(3e4);
      const s = spectrogram(x, 48_000, { ...params, pcen_gain: 4 });
      expect(largestRelativeError(s.data, pcenReference(x, params, { gain: 4 }))).toBeLessThan(1e-5);
    }
  });

  it("a gain just below the schema's bound for pcen_eps (eps^−gain just below 2^127) is right to float32 precision", () => {
    for (const params of paths) {
      const x = burst();
      const s = spectrogram(x, 48_000, { ...params, pcen_gain: 6.37 });
      expect(largestRelativeError(s.data, pcenReference(x, params, { gain: 6.37 }))).toBeLessThan(1e-5);
    }
  });
});

describe("spectrogram() of one signal", () => {
  const x = Float32Array.from({ length: 8000 }, (_, i) => Math.sin(i / 5));

  it("refuses a channel other than 0, as the CLI refuses channel 1 of a mono file (it was ignored)", () => {
    expect(() => spectrogram(x, 8000, { channel: 1 })).toThrow(new ParamsError([{ field: "channel", message: "must be < channels (1)" }]));
    expect(spectrogram(x, 8000, { channel: 0 }).data).toEqual(spectrogram(x, 8000).data);
  });

  it("names the argument when the samples are no typed array (a plain array failed with `signal.samples.subarray is not a function`)", async () => {
    const plain = Array.from(x) as unknown as Float32Array;
    const message = "samples: must be a Float32Array (or a Float64Array, converted to float32), got Array of length 8000";
    expect(() => spectrogram(plain, 8000)).toThrow(new TypeError(message));
    expect(() => spectrogram(null as unknown as Float32Array, 8000)).toThrow(/^samples: must be a Float32Array .*, got null$/);
    await expect(library.featuresOfSignal(plain, 8000)).rejects.toThrow(new TypeError(message));
    expect(() => library.samplesReader([x, plain], 8000)).toThrow(/^channels\[1\]: must be a Float32Array .*, got Array of length 8000$/);
    expect(() => new library.RealFFT(4).forward([1, 2, 3, 4] as unknown as Float32Array)).toThrow(new TypeError("RealFFT(4).forward: input must be a Float32Array of length 4, got Array of length 4"));
  });

  it("names the samplerate, the output and decode's input when they are the wrong kind of value (a string rate read as a number; a Float64Array output returned as data)", async () => {
    expect(() => spectrogram(x, "8000" as unknown as number)).toThrow(new TypeError('samplerate: must be a number (Hz), got string "8000"'));
    for (const rate of [0, -1, NaN, Infinity]) expect(() => spectrogram(x, rate)).toThrow(new RangeError(`samplerate: must be a finite number > 0 (Hz), got ${rate}`));
    expect(() => library.samplesReader([x], 0)).toThrow(new RangeError("samplerate: must be > 0 (Hz), got 0"));
    expect(() => spectrogram(x, 8000, {}, { output: new Float64Array(201 * 41) as unknown as Float32Array })).toThrow(/^output: must be a Float32Array of \d+ values \(\[bins\]\[frames\]\), got Float64Array of length 8241$/);
    expect(() => spectrogram(x, 8000, {}, { output: [] as unknown as Float32Array })).toThrow(TypeError);
    expect(() => new library.RealFFT("16" as unknown as number)).toThrow(new TypeError('RealFFT length must be a number, got string "16"'));
    for (const input of [new ArrayBuffer(10), 42, null]) {
      await expect(library.decode(input as unknown as Uint8Array)).rejects.toThrow(/^input: must be a path \(string\) or the file's bytes \(a Uint8Array or Buffer\), got (ArrayBuffer|number 42|null)$/);
    }
  });

  it("refuses parameters that are not a plain object, and options that are no object, naming them (a Map's entries were ignored: PCEN stayed on)", async () => {
    for (const [params, kind] of [[new Map([["pcen", false]]), "Map"], [new Date(0), "Date"]] as const) {
      const err = (() => { try { spectrogram(x, 8000, params as never); } catch (e) { return e; } })();
      expect(err, kind).toBeInstanceOf(ParamsError);
      expect((err as ParamsError).issues).toEqual([{ field: "params", message: `must be a plain object of parameters ({ name: value }), got ${kind}` }]);
    }
    expect(() => spectrogram(x, 8000, Object.assign(Object.create(null), { pcen: false }))).not.toThrow();
    expect(() => spectrogram(x, 8000, {}, null as never)).toThrow(new TypeError("options: must be an object ({ output? }), got null"));
    await expect(library.decode(`${FIXTURES}formats/wav_pcm_16.wav`, null as never)).rejects.toThrow(new TypeError("options: must be an object ({ timeExpansion? }), got null"));
  });

  it("refuses parameters that are no object in every function that takes them, naming params (null took every default in silence); undefined takes the defaults", async () => {
    const wav = `${FIXTURES}formats/wav_pcm_16.wav`;
    const reader = library.samplesReader([x], 8000);
    for (const [params, kind] of [[null, "null"], [0.01, "number 0.01"], ["pcen=false", 'string "pcen=false"'], [[["pcen", false]], "Array of length 1"]] as const) {
      const error = new TypeError(`params: must be an object ({ name: value }), got ${kind}`);
      expect(() => spectrogram(x, 8000, params as never), kind).toThrow(error);
      expect(() => library.parseParams(params), kind).toThrow(error);
      expect(() => new library.RecordingSpectrogram(reader, params as never), kind).toThrow(error);
      await expect(library.spectrogramOfRecording(reader, params as never), kind).rejects.toThrow(error);
      await expect(library.featuresOfSignal(x, 8000, params as never), kind).rejects.toThrow(error);
      await expect(library.computeFeatures(reader, params as never), kind).rejects.toThrow(error);
      await expect(library.featuresOfFile(wav, params as never), kind).rejects.toThrow(error);
    }
    expect(spectrogram(x, 8000, undefined).data).toEqual(spectrogram(x, 8000, { pcen: true }).data);
    // Options likewise: an array was taken for no options at all.
    expect(() => spectrogram(x, 8000, {}, [] as never)).toThrow(new TypeError("options: must be an object ({ output? }), got Array of length 0"));
    await expect(library.openAudio(wav, [] as never)).rejects.toThrow(new TypeError("options: must be an object ({ blockFrames?, cacheBlocks?, blockingReads?, exactPath? }), got Array of length 0"));
  });

  it("openAudio, spectrogramOfRecording and RecordingSpectrogram name null options and a reader that is none (they failed reading a field of null)", async () => {
    const wav = `${FIXTURES}formats/wav_pcm_16.wav`;
    await expect(library.openAudio(wav, null as never)).rejects.toThrow(new TypeError("options: must be an object ({ blockFrames?, cacheBlocks?, blockingReads?, exactPath? }), got null"));
    const reader = library.samplesReader([x], 8000);
    await expect(library.spectrogramOfRecording(reader, {}, null as never)).rejects.toThrow(new TypeError("options: must be an object ({ start?, end?, timeExpansion? }), got null"));
    expect(() => new library.RecordingSpectrogram(reader, {}, null as never)).toThrow(new TypeError("options: must be an object ({ timeExpansion?, name? }), got null"));
    await expect(library.spectrogramOfRecording(null as never)).rejects.toThrow(new TypeError("reader: must be an AudioReader (from openAudio or samplesReader), got null"));
    expect(() => new library.RecordingSpectrogram(wav as never)).toThrow(new TypeError(`reader: must be an AudioReader (from openAudio or samplesReader), got string ${JSON.stringify(wav.length > 40 ? `${wav.slice(0, 40)}…` : wav)}`));
  });

  it("refuses an unknown option key, naming it and the known ones, as params refuse an unknown parameter (a typo was ignored: { timeexpansion: 2 } gave TE 1)", async () => {
    const wav = `${FIXTURES}formats/wav_pcm_16.wav`;
    const reader = library.samplesReader([x], 8000);
    const unknown = (key: string, known: string) => new TypeError(`options: unknown option ${key}; the known ones are ${known}`);
    await expect(library.decode(wav, { timeexpansion: 2 } as never)).rejects.toThrow(unknown("timeexpansion", "timeExpansion"));
    await expect(library.spectrogramOfRecording(reader, {}, { Start: 0.5 } as never)).rejects.toThrow(unknown("Start", "start, end, timeExpansion"));
    expect(() => new library.RecordingSpectrogram(reader, {}, { timeexpansion: 2 } as never)).toThrow(unknown("timeexpansion", "timeExpansion, name"));
    expect(() => spectrogram(x, 8000, {}, { outptu: new Float32Array(1) } as never)).toThrow(unknown("outptu", "output"));
    await expect(library.openAudio(wav, { blockframes: 5 } as never)).rejects.toThrow(unknown("blockframes", "blockFrames, cacheBlocks, blockingReads, exactPath"));
    expect(() => new library.TilePool({ thread: 1 } as never)).toThrow(/^options: unknown option thread; the known ones are threads, maxQueue, /);
    // Keys whose value is undefined are known keys left out, as before.
    expect((await library.decode(wav, { timeExpansion: undefined })).timeExpansion).toBe(1);
  });

  it("a time expansion that is no number is a TypeError naming its type (a RangeError said \"must be a number > 0\" of \"2\")", async () => {
    const wav = `${FIXTURES}formats/wav_pcm_16.wav`;
    const error = new TypeError('time_expansion: must be a number > 0, got string "2"');
    await expect(library.decode(wav, { timeExpansion: "2" } as never)).rejects.toThrow(error);
    const reader = library.samplesReader([x], 8000);
    expect(() => new library.RecordingSpectrogram(reader, {}, { timeExpansion: "2" } as never)).toThrow(error);
    await expect(library.computeFeatures(reader, {}, {}, { timeExpansion: "2" } as never)).rejects.toThrow(error);
    await expect(library.decode(wav, { timeExpansion: 0 })).rejects.toThrow(new RangeError("time_expansion: must be a number > 0"));
  });

  it("a missing file is a MissingFileError, exported, with the system's code", async () => {
    const err = await library.decode("/nonexistent.wav").then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(library.MissingFileError);
    expect(err).toBeInstanceOf(library.AudioFormatError); // what callers caught before
    expect((err as InstanceType<typeof library.MissingFileError>).name).toBe("MissingFileError");
    expect((err as InstanceType<typeof library.MissingFileError>).code).toBe("ENOENT");
    expect((err as Error).message).toBe("cannot open /nonexistent.wav: no such file or directory");
    const notDir = await library.openAudio(`${FIXTURES}formats/wav_pcm_16.wav/x.wav`).then(() => null, (e: unknown) => e);
    expect((notDir as InstanceType<typeof library.MissingFileError>).code).toBe("ENOTDIR");
  });

  it("documents each field of Params with its schema's description and default, for library users' editors", () => {
    // The descriptions live in the zod schema, which a type inferred from it does not carry into the .d.ts.
    const source = readFileSync(`${ROOT}src/engine/params.ts`, "utf8");
    const body = /export type Params = \{\n([\s\S]*?)\n\};/.exec(source)![1];
    const documented = [...body.matchAll(/ {2}\/\*\* (.*) \*\/\n {2}(\w+): /g)].map((m) => [m[2], m[1]]);
    const defaults = library.parseParams({}) as Record<string, unknown>;
    const expected = Object.entries(library.paramsSchema.shape).map(([name, schema]) => [name, `${schema.description}; default ${JSON.stringify(defaults[name])}.`]);
    expect(documented).toEqual(expected);
  });

  it("a yes/no parameter given a number says that the text forms are for text (\"also 1/0\" misled: { pcen: 0 } is refused)", () => {
    const message = "must be true or false (as text — a query string or a flag — also 1/0, yes/no, on/off)";
    expect(() => library.parseParams({ pcen: 0 } as never)).toThrow(expect.objectContaining({ issues: [{ field: "pcen", message }] }));
    expect(library.parseParams({ pcen: "0" } as never).pcen).toBe(false);
  });

  it("refuses a parameter of the wrong JS type in every library function that takes parameters, naming it and its type (text was read as a flag's: { samplerate: \"22050\" } computed)", async () => {
    const wav = `${FIXTURES}formats/wav_pcm_16.wav`;
    const reader = library.samplesReader([x], 8000);
    const cases: [Record<string, unknown>, string][] = [
      [{ samplerate: "22050" }, 'samplerate: must be a number, got string "22050"'],
      [{ window_size: "0.01" }, 'window_size: must be a number, got string "0.01"'],
      [{ pcen: "yes" }, 'pcen: must be a boolean (true or false), got string "yes"'],
      [{ clamp: "false" }, 'clamp: must be a boolean (true or false), got string "false"'],
      [{ pcen: 0 }, "pcen: must be a boolean (true or false), got number 0"],
      [{ channel: "1" }, 'channel: must be a number, got string "1"'],
      [{ low_freq: "" }, 'low_freq: must be a number or null, got string ""'],
      [{ high_freq: "null" }, 'high_freq: must be a number or null, got string "null"'],
      [{ window: 5 }, `window: must be a string (one of ${library.WINDOWS.join(", ")}), got number 5`],
      [{ window_size: "0.01", normalize: "on" }, 'window_size: must be a number, got string "0.01"; normalize: must be a boolean (true or false), got string "on"'],
    ];
    for (const [params, message] of cases) {
      const error = new TypeError(`params: ${message}`);
      const label = JSON.stringify(params);
      expect(() => spectrogram(x, 8000, params as never), label).toThrow(error);
      expect(() => new library.RecordingSpectrogram(reader, params as never), label).toThrow(error);
      await expect(library.spectrogramOfRecording(reader, params as never), label).rejects.toThrow(error);
      await expect(library.featuresOfSignal(x, 8000, params as never), label).rejects.toThrow(error);
      await expect(library.computeFeatures(reader, params as never), label).rejects.toThrow(error);
      await expect(library.featuresOfFile(wav, params as never), label).rejects.toThrow(error);
    }
    // A pool's task: its params go to a worker as they are (take them from parseParams).
    const pool = new library.TilePool({ threads: 1 });
    try {
      const params = { ...library.parseParams({}), window_size: "0.01" };
      await expect(pool.stats({ kind: "stats", path: wav, timeExpansion: 1, params } as never)).rejects.toThrow(new TypeError('params: window_size: must be a number, got string "0.01"'));
    } finally {
      await pool.close();
    }
    // The values themselves, and undefined (left out), still pass; the rule is zod's as before.
    expect(spectrogram(x, 8000, { window_size: 0.01, pcen: false, low_freq: null, window: "kaiser", channel: undefined }).bins).toBe(41);
    expect(() => spectrogram(x, 8000, { window_size: -1 })).toThrow(expect.objectContaining({ issues: [{ field: "window_size", message: "must be > 0" }] }));
    // parseParams stays the CLI's and the HTTP API's reader of text (flags, query strings).
    expect(library.parseParams({ window_size: "0.01", pcen: "yes" } as never)).toMatchObject({ window_size: 0.01, pcen: true });
    // The other arguments of this kind: a rate as text was taken by featuresOfSignal and samplesReader.
    await expect(library.featuresOfSignal(x, "8000" as never)).rejects.toThrow(new TypeError('samplerate: must be a number (Hz), got string "8000"'));
    expect(() => library.samplesReader([x], "8000" as never)).toThrow(new TypeError('samplerate: must be a number (Hz), got string "8000"'));
    await expect(library.openAudio(wav, { blockingReads: "yes" } as never)).rejects.toThrow(new TypeError('blockingReads: must be a boolean (true or false), got string "yes"'));
    await expect(library.openAudio(wav, { exactPath: 1 } as never)).rejects.toThrow(new TypeError("exactPath: must be a boolean (true or false), got number 1"));
    expect(() => library.getWindow("hann", "16" as never)).toThrow(new TypeError('n: must be a number (the window\'s length), got string "16"'));
    expect(() => library.getWindow("kaiser", 16, "8" as never)).toThrow(new TypeError('beta: must be a number (the kaiser window\'s shape), got string "8"'));
    expect(() => library.getWindow(5 as never, 16)).toThrow(new TypeError(`name: must be a string (one of ${library.WINDOWS.join(", ")}), got number 5`));
  });

  it("a float64 sample beyond float32's range is refused as such, not as Infinity", () => {
    const samples = new Float64Array(1000);
    samples[300] = 1e39;
    const message = "samples: sample 300 is 1e+39, beyond float32's range (±3.4028234663852886e+38): the signal is analysed in float32";
    expect(() => spectrogram(samples, 8000)).toThrow(new RangeError(message));
    expect(() => library.samplesReader([samples], 8000)).toThrow(new RangeError(message.replace("samples:", "channels[0]:")));
    samples[300] = -3.4028234663852886e38; // float32's largest, exactly: converted, then its power overflows, as before
    expect(() => spectrogram(samples, 8000)).toThrow(/^the samples hold -3\.40e\+38 \(first at 0\.0375 s, sample 300 of the signal analysed\): their power overflows float32/);
    samples[300] = Infinity; // not finite as given: the samples' own error, as before
    expect(() => spectrogram(samples, 8000)).toThrow(/the samples hold Infinity/);
  });

  it("types its parameters as SPEC §8b's Partial<Params>: values of the wrong type do not compile (npm run typecheck checks the expectations below)", () => {
    // Never called: what matters is that tsc finds each error it is told to expect. With the
    // schema's z.input every preprocessed field was `unknown`, and all of these compiled.
    const wrong = () => [
      // @ts-expect-error a boolean window_size
      spectrogram(x, 8000, { window_size: true }),
      // @ts-expect-error a number for pcen
      spectrogram(x, 8000, { pcen: 17 }),
      // @ts-expect-error an array for samplerate
      spectrogram(x, 8000, { samplerate: [1] }),
      // @ts-expect-error no such window
      spectrogram(x, 8000, { window: "hanning" }),
    ];
    expect(wrong).toBeTypeOf("function");
    expect(spectrogram(x, 8000, { window_size: 0.01, pcen: false, low_freq: null, window: "kaiser", kaiser_beta: 8 }).bins).toBe(41);
  });

  it("takes a Float64Array as its float32 values", async () => {
    const wide = Float64Array.from(x);
    expect(spectrogram(wide, 8000).data).toEqual(spectrogram(x, 8000).data);
    expect(await library.featuresOfSignal(wide, 8000)).toEqual(await library.featuresOfSignal(x, 8000));
  });
});
