/**
 * Spectrograms of recordings on disk, read piece by piece with bounded memory (SPEC §3, "a
 * piece of a recording"; §4 seamless tiles). Two things depend on the whole recording and
 * are gathered in one streaming pass (`RecordingStats`): the normalization maximum and the
 * PCEN smoother state, kept at regular checkpoints so a piece starts from the nearest one.
 */
import { timeExpansionOf } from "../audio/expansion.js";
import { checkOptions, describeValue } from "../audio/signal.js";
import type { AudioReader } from "../audio/types.js";
import { finishValues, FrameBlock, normalizationDivisor, SpectrogramPlan, valueRange, type FinishParams, type PcenState } from "./analysis.js";
import { ConditionedSignal } from "./condition.js";
import { checkFramesPerStep, clampFrameRange, frameCount, framesInInterval, noFrameInInterval, samplesOfFrames, type FrameGeometry } from "./geometry.js";
import { checkParamsForRecording, parseParamValues, realSamplerate, type Params, type ParamsInput } from "./params.js";
import { blockFrames, type Spectrogram } from "./spectrogram.js";

/** What a piece of a recording needs from the whole of it. */
export interface RecordingStats {
  /** Frames in the whole recording. */
  frames: number;
  /** Maximum over all frames after PCEN, before normalization (power units). */
  peak: number;
  /** Frames between PCEN checkpoints. */
  checkpointEvery: number;
  /**
   * PCEN state before frame (checkpointBase + i)·checkpointEvery (null: before frame 0); empty
   * without PCEN. Stats handed to a piece may hold only the checkpoints it replays from.
   */
  checkpoints: PcenState[];
  /** Index of checkpoints[0] among the recording's checkpoints (0 when they are all here). */
  checkpointBase: number;
  /** The overview, when the pass kept one (computeStats' `overview`): see PackedStats.overview. */
  overview?: Float32Array;
}

/**
 * Frames between PCEN checkpoints, as `computeStats` keeps them by default: a piece replays at
 * most this many frames of PCEN before its first. 512, the default tile width (SPEC §4): every
 * tile at that width, and every tile zoomed out far enough to span 512 frames or more at any
 * width, starts on a checkpoint and replays nothing. Spacings that are not a divisor of 512 made
 * most tiles replay: with 1024, every other tile of zoom 0 cost 1.7× the others; with an engine
 * block's frames (436 for Whombat's defaults at 384 kHz) tiles took 26 % longer on average
 * (bench/PERFORMANCE.md). A checkpoint holds one value per bin, so the checkpoints take 1/512 of
 * the memory of the recording's spectrogram values.
 */
export const CHECKPOINT_SPACING = 512;

/**
 * Frames per column of a recording's overview (computeStats' `overview`): 2^9, the columns of
 * tiles at zoom 9, from which every tile zoomed out as far or further can be pooled without its
 * samples (overviewPooledRange). The checkpoint spacing: the pass walks the recording in groups of
 * these frames already, and with PCEN a tile of 512 frames a column starts on a checkpoint.
 */
export const OVERVIEW_FACTOR = 512;

/** Options of a recording-level spectrogram. */
export interface RecordingOptions {
  /** Time expansion factor of SPEC §3.2 (> 0); default: the file's own (GUANO `TE`), else 1. */
  timeExpansion?: number;
  /** How errors about the recording name it (its file, say); default "the recording". */
  name?: string;
}

/**
 * A recording seen through one parameter set. Holds WebAssembly memory (its STFT plan):
 * `dispose()` it when done. One dropped without gives it back when the garbage collector
 * collects it, which needs the event loop to turn, and never while a piece, a stats pass or a
 * range it started is still running.
 */
export class RecordingSpectrogram {
  /** The parameters in use: those given, completed with the defaults. */
  readonly params: Params;
  private readonly signal: ConditionedSignal;
  /** Frame geometry (FFT length, hop, bins) at the rate the STFT runs at. */
  readonly geometry: FrameGeometry;
  /** Frames of the whole recording. */
  readonly frames: number;
  private readonly plan: SpectrogramPlan;
  private statsPromise: Promise<RecordingStats> | null = null;

  constructor(reader: AudioReader, params: ParamsInput = {}, options: RecordingOptions = {}) {
    if (reader === null || typeof reader !== "object" || typeof reader.read !== "function") {
      throw new TypeError(`reader: must be an AudioReader (from openAudio or samplesReader), got ${describeValue(reader)}`);
    }
    checkOptions(options, ["timeExpansion", "name"]);
    if (options.name !== undefined && typeof options.name !== "string") throw new TypeError(`name: must be a string, got ${describeValue(options.name)}`);
    const p = parseParamValues(params);
    const te = timeExpansionOf(reader.info, options.timeExpansion);
    checkParamsForRecording(p, { samplerate: realSamplerate(reader.info.samplerate, te), channels: reader.info.channels, name: options.name, frames: reader.info.frames });
    this.params = p;
    this.signal = new ConditionedSignal(reader, p.channel, te, p);
    this.plan = new SpectrogramPlan(p, this.signal.samplerate);
    this.geometry = this.plan.geometry;
    this.frames = frameCount(this.signal.length, this.geometry);
  }

  /** Stats from one streaming pass over the recording (computed once), or given from a store. */
  stats(): Promise<RecordingStats> {
    this.statsPromise ??= this.computeStats();
    return this.statsPromise;
  }

  /**
   * The stats the values under these parameters need: the pass's (stats()) when they need any
   * (needsRecordingStats) or stats were given; else none — dB without PCEN or normalization reads
   * neither a maximum nor a PCEN state, and a piece of an hour-long recording no longer waits for a
   * pass over all of it.
   */
  private statsForValues(): Promise<RecordingStats> {
    if (this.statsPromise || needsRecordingStats(this.params)) return this.stats();
    return Promise.resolve(unpackStats(statsWithoutPass(this.frames), false));
  }

  /** The range of values a picture maps to its colours (SPEC §3.10, valueRange), from the stats only if it needs them. */
  async valueRange(): Promise<[number, number]> {
    return valueRange(this.params, (await this.statsForValues()).peak);
  }

  /** Uses stats computed earlier (e.g. persisted) instead of a pass over the recording. */
  setStats(stats: RecordingStats): void {
    if (stats.frames !== this.frames) throw new Error(`stats are for ${stats.frames} frames, the recording has ${this.frames}`);
    this.statsPromise = Promise.resolve(stats);
  }

  /**
   * One pass over the whole recording: the maximum and, with PCEN, the smoother state every
   * `checkpointEvery` frames — the most any piece then has to replay before its first frame.
   * Scanned at most an engine block at a time, so the samples read at once stay bounded however
   * long the FFT (512 frames of a 2^20-point FFT would be a gigabyte of them).
   * @param progress called with the frames scanned so far after each block (a pass over 10 h takes
   *   minutes: the server tells the requests waiting for it how far it has come)
   * @param overview keep the overview too (PackedStats.overview): the blocks' values are then
   *   computed (not only their maximum) and pooled in the core, and no block straddles two of its
   *   columns (OVERVIEW_FACTOR frames each).
   */
  async computeStats(checkpointEvery = CHECKPOINT_SPACING, progress?: (framesDone: number) => void, overview = false): Promise<RecordingStats> {
    checkFramesPerStep("checkpointEvery", checkpointEvery);
    const checkpoints: PcenState[] = [];
    let peak = -Infinity;
    let pcen: PcenState = null;
    const step = blockFrames(this.geometry);
    const kept = overview ? new OverviewBuilder(this.geometry.bins, this.frames) : null;
    for (let f0 = 0; f0 < this.frames; f0 += checkpointEvery) {
      if (this.params.pcen) checkpoints.push(pcen);
      const end = Math.min(this.frames, f0 + checkpointEvery);
      for (let a = f0, b: number; a < end; a = b) {
        b = Math.min(end, a + step);
        if (!kept) {
          const result = await this.scan(a, b, pcen);
          pcen = result.pcen;
          peak = Math.max(peak, result.peak);
        } else {
          b = Math.min(b, (Math.floor(a / OVERVIEW_FACTOR) + 1) * OVERVIEW_FACTOR);
          const result = await this.analyze(a, b, pcen);
          pcen = result.pcen;
          peak = Math.max(peak, result.block.max());
          kept.add(a, result.block);
        }
        progress?.(b);
      }
    }
    return { frames: this.frames, peak, checkpointEvery, checkpoints, checkpointBase: 0, ...(kept && { overview: kept.overview }) };
  }

  /** Frames [f0, f1) from the PCEN state before f0; final values when `finish` is given. */
  private async analyze(f0: number, f1: number, pcen: PcenState, finish: FinishParams | null = null) {
    const [from, samples] = await this.samplesOf(f0, f1);
    return this.plan.analyze(samples, from, f0, f1, pcen, finish);
  }

  /** The maximum of frames [f0, f1) and the PCEN state after them, no values kept (SpectrogramPlan.scan). */
  private async scan(f0: number, f1: number, pcen: PcenState) {
    const [from, samples] = await this.samplesOf(f0, f1);
    return this.plan.scan(samples, from, f0, f1, pcen);
  }

  /** The conditioned samples frames [f0, f1) read, and the index of the first. */
  private async samplesOf(f0: number, f1: number): Promise<[number, Float32Array]> {
    const [from, to] = samplesOfFrames(f0, f1, this.signal.length, this.geometry);
    return [from, await this.signal.read(from, to)];
  }

  /** The PCEN state before frame f0, replayed from the nearest checkpoint. */
  private async pcenBefore(f0: number, stats: RecordingStats): Promise<PcenState> {
    if (!this.params.pcen || stats.checkpoints.length === 0) return null;
    const c = Math.min(Math.floor(f0 / stats.checkpointEvery), stats.checkpointBase + stats.checkpoints.length - 1);
    if (c < stats.checkpointBase) throw new Error(`the stats hold PCEN checkpoints from frame ${stats.checkpointBase * stats.checkpointEvery}, not before frame ${f0}`);
    let state = stats.checkpoints[c - stats.checkpointBase];
    const step = blockFrames(this.geometry);
    for (let f = c * stats.checkpointEvery; f < f0; f += step) {
      state = (await this.scan(f, Math.min(f0, f + step), state)).pcen;
    }
    return state;
  }

  /** [f0, f1) clamped to the recording's frames (empty if it lies outside); a bound that is no frame index is refused, naming it. */
  private clampFrames(f0: number, f1: number): [number, number] {
    return clampFrameRange(f0, f1, this.frames);
  }

  /**
   * Final values (SPEC §3 step 9) of frames [f0, f1) (clamped to the recording) in consecutive
   * blocks of at most `step` frames, PCEN state carried from block to block, normalized by the
   * whole recording's maximum. Each block must be written out before the next.
   */
  private async *blocks(f0: number, f1: number, step: number): AsyncGenerator<{ firstFrame: number; block: FrameBlock }> {
    [f0, f1] = this.clampFrames(f0, f1);
    checkFramesPerStep("step", step);
    const stats = await this.statsForValues();
    const finish = { params: this.params, divisor: normalizationDivisor(this.params, stats.peak) };
    let pcen = await this.pcenBefore(f0, stats);
    for (let a = f0; a < f1; a += step) {
      const result = await this.analyze(a, Math.min(f1, a + step), pcen, finish);
      pcen = result.pcen;
      yield { firstFrame: a, block: result.block };
    }
  }

  /**
   * Final values (SPEC §3 step 9) of frames [f0, f1) as consecutive [rows][frames] blocks of
   * at most `step` frames, normalized with the whole recording's maximum: bounded memory
   * however long the range is. The rows are the bins, or with `binEdges` (a tile's rows,
   * TileLayout.binEdges) bins merged by their maximum, row r bins [binEdges[r], binEdges[r + 1]),
   * as writePooledRange merges them — the CLI's band (--fmin, --fmax, --height).
   */
  async *range(f0 = 0, f1 = this.frames, step = blockFrames(this.geometry), binEdges?: Int32Array): AsyncGenerator<{ firstFrame: number; frames: number; data: Float32Array }> {
    if (binEdges !== undefined) checkBinEdges(binEdges, this.geometry.bins);
    for await (const { firstFrame, block } of this.blocks(f0, f1, step)) {
      const data = new Float32Array((binEdges ? binEdges.length - 1 : this.geometry.bins) * block.frames);
      if (binEdges) block.poolInto(binEdges, 1, data, 0);
      else block.writeColumns(data, 0);
      yield { firstFrame, frames: block.frames, data };
    }
  }

  /**
   * Final values (SPEC §3 step 9) of frames [f0, f1), [bins][f1 − f0]: each block is written
   * straight into its columns of the one result array (no per-block arrays to copy again).
   */
  async frameRange(f0: number, f1: number): Promise<Float32Array> {
    [f0, f1] = this.clampFrames(f0, f1);
    const out = new Float32Array(this.geometry.bins * (f1 - f0));
    await this.writeFrameRange(f0, f1, out, 0);
    return out;
  }

  /**
   * Final values of frames [f0, f1) (clamped to the recording) written into columns
   * [column, column + f1 − f0) of `target`, a [bins][columns] matrix (columns = target.length /
   * bins): straight from the core, with no array of its own. Throws a RangeError if they do not
   * fit. This is how pool workers fill one shared output (TilePool#frameRangeInto).
   */
  async writeFrameRange(f0: number, f1: number, target: Float32Array, column: number): Promise<void> {
    [f0, f1] = this.clampFrames(f0, f1);
    const { bins } = this.geometry;
    const columns = target.length / bins;
    if (!Number.isInteger(columns)) throw new RangeError(`target: ${target.length} values are not whole rows of ${bins} bins`);
    if (!(Number.isInteger(column) && column >= 0 && column + (f1 - f0) <= columns)) {
      throw new RangeError(`column: frames ${f0}…${f1} at column ${column} do not fit in ${columns} columns`);
    }
    for await (const { firstFrame, block } of this.blocks(f0, f1, blockFrames(this.geometry))) {
      block.writeColumns(target, column + firstFrame - f0);
    }
  }

  /**
   * Final values of frames [f0, f1) (clamped to the recording) pooled as a tile is (SPEC §4,
   * FrameBlock.poolInto) into `target`, [binEdges.length − 1][⌈(f1 − f0) / factor⌉]: each block is
   * pooled in the core where it was computed, so nothing of block size is copied out or allocated.
   */
  async writePooledRange(f0: number, f1: number, binEdges: Int32Array, factor: number, target: Float32Array): Promise<void> {
    [f0, f1] = this.clampFrames(f0, f1);
    checkBinEdges(binEdges, this.geometry.bins);
    await poolBlocks((step) => this.blocks(f0, f1, step), f0, f1, binEdges, factor, blockFrames(this.geometry), target);
  }

  /**
   * The piece of SPEC §3: frames whose centres lie in [start, end) seconds — at least one, as
   * the CLI (exit 2) and the HTTP API (400) require.
   * @throws TypeError naming `start` or `end` when it is no number, RangeError naming it: not 0 ≤ start < end, or no frame centred between them.
   */
  async piece(start = 0, end = Infinity): Promise<Spectrogram> {
    // A string "1" was compared as a number and refused as "must be a number >= 0, got 1".
    for (const [name, value] of [["start", start], ["end", end]] as const) {
      if (typeof value !== "number") throw new TypeError(`${name}: must be a number (seconds), got ${describeValue(value)}`);
    }
    if (!(start >= 0 && Number.isFinite(start))) throw new RangeError(`start: must be a number >= 0 (seconds), got ${start}`);
    if (!(end > start)) throw new RangeError(`end: must be a number > start (${start} s), got ${end}`);
    const g = this.geometry;
    const [f0, f1] = framesInInterval(start, end, this.frames, g);
    if (f1 === f0) {
      const { bound, message } = noFrameInInterval(start, end, this.frames, g);
      throw new RangeError(`${bound}: ${message}`);
    }
    const data = await this.frameRange(f0, f1);
    return { data, bins: g.bins, frames: f1 - f0, hop: g.hop, nperseg: g.nperseg, samplerate: g.samplerate, firstFrame: f0, valueRange: await this.valueRange(), params: this.params };
  }

  /**
   * Gives the instance's WebAssembly memory (its STFT plan) back to the core now, rather than when
   * the garbage collector collects it. The reader stays open: close it yourself. Idempotent; any
   * use after it is an Error saying so.
   */
  dispose(): void {
    this.plan.dispose();
  }
}

/**
 * Refuses (RangeError naming `binEdges`) edges that are not rows of bins: an Int32Array of at
 * least two increasing bin indices within [0, bins] — the core would read other memory for them.
 */
function checkBinEdges(binEdges: Int32Array, bins: number): void {
  const rows = binEdges instanceof Int32Array ? binEdges.length - 1 : 0;
  let ok = rows >= 1 && binEdges[0] >= 0 && binEdges[rows] <= bins;
  for (let r = 0; ok && r < rows; r++) ok = binEdges[r] < binEdges[r + 1];
  if (!ok) throw new RangeError(`binEdges: must be an Int32Array of increasing bin indices within [0, ${bins}] (row r: bins [binEdges[r], binEdges[r + 1])), got ${binEdges instanceof Int32Array ? `[${Array.from(binEdges.subarray(0, 8)).join(", ")}${binEdges.length > 8 ? ", …" : ""}]` : describeValue(binEdges)}`);
}

/**
 * Tile pooling (SPEC §4, FrameBlock.poolInto) of frames [f0, f1) into `target`,
 * [binEdges.length − 1][⌈(f1 − f0) / factor⌉], from the blocks `blocksOf(step)` gives of them —
 * consecutive, `step` frames each (the last shorter), from f0 —, at most `limit` frames a block.
 */
async function poolBlocks(blocksOf: (step: number) => AsyncIterable<{ firstFrame: number; block: FrameBlock }>, f0: number, f1: number, binEdges: Int32Array, factor: number, limit: number, target: Float32Array): Promise<void> {
  const rows = binEdges.length - 1;
  const columns = Math.ceil((f1 - f0) / factor);
  if (target.length !== rows * columns) throw new RangeError(`target: needs ${rows * columns} values, got ${target.length}`);
  if (factor <= limit) {
    // Blocks of whole columns, so each block pools on its own.
    const step = factor * Math.floor(limit / factor);
    for await (const { firstFrame, block } of blocksOf(step)) block.poolInto(binEdges, factor, target, (firstFrame - f0) / factor);
    return;
  }
  // A column spans more frames than a block may hold (zoomed far out): blocks of a power of two
  // frames, which divides the factor (a power of two too), each inside one column, pooled to
  // one column of its own and folded into the target by maximum — exact, as the maximum is. A
  // column pooled whole read all its samples at once (2^20 frames of a 384 kHz recording: 8 GB)
  // and asked the core for as much.
  if (!Number.isInteger(Math.log2(factor))) throw new RangeError(`factor: ${factor} frames per column, more than a block holds (${limit}), must be a power of two`);
  const step = 2 ** Math.floor(Math.log2(limit));
  const part = new Float32Array(rows);
  for await (const { firstFrame, block } of blocksOf(step)) foldIntoColumn(block, binEdges, part, target, columns, Math.floor((firstFrame - f0) / factor), (firstFrame - f0) % factor === 0);
}

/**
 * Pools `block`, whose frames lie inside one column, to one column (`part`, binEdges.length − 1
 * values) and folds it into column `column` of `target` ([rows][columns]) by maximum; `first`: the
 * column's first block, whose values replace what the target held.
 */
function foldIntoColumn(block: FrameBlock, binEdges: Int32Array, part: Float32Array, target: Float32Array, columns: number, column: number, first: boolean): void {
  block.poolInto(binEdges, block.frames, part, 0);
  for (let r = 0; r < part.length; r++) {
    const i = r * columns + column;
    target[i] = first ? part[r] : Math.max(target[i], part[r]);
  }
}

/**
 * A recording's overview as its stats pass fills it (computeStats): per bin, the maximum of each
 * OVERVIEW_FACTOR frames, block after block in order, in shared memory (PackedStats.overview).
 */
class OverviewBuilder {
  readonly overview: Float32Array;
  private readonly columns: number;
  private readonly edges: Int32Array;
  private readonly column: Float32Array;

  constructor(bins: number, frames: number) {
    this.columns = Math.ceil(frames / OVERVIEW_FACTOR);
    this.overview = new Float32Array(new SharedArrayBuffer(4 * bins * this.columns));
    this.edges = Int32Array.from({ length: bins + 1 }, (_, k) => k);
    this.column = new Float32Array(bins);
  }

  /** The values of `block`, frames [f0, f0 + block.frames) inside one overview column, folded into it. Frees the block. */
  add(f0: number, block: FrameBlock): void {
    foldIntoColumn(block, this.edges, this.column, this.overview, this.columns, Math.floor(f0 / OVERVIEW_FACTOR), f0 % OVERVIEW_FACTOR === 0);
  }
}

/** Overview columns [c0, c1) of rows [k0, k1), as blocks of `step` columns copied into the core (FrameBlock.fromColumns). */
async function* overviewBlocks(overview: Float32Array, columns: number, k0: number, k1: number, c0: number, c1: number, step: number): AsyncGenerator<{ firstFrame: number; block: FrameBlock }> {
  for (let a = c0; a < c1; a += step) yield { firstFrame: a, block: FrameBlock.fromColumns(overview, columns, k0, k1, a, Math.min(c1, a + step)) };
}

/**
 * Final values (SPEC §3 step 9) of frames [f0, f1) of the recording whose complete stats `stats` are,
 * pooled as a tile is into `target` (writePooledRange's layout) — from the stats' overview instead of
 * the samples: each column, the maximum of `factor` frames, is the maximum of its factor /
 * OVERVIEW_FACTOR overview columns, its rows merged by maximum as a tile's, then finished (SPEC
 * §3.7–3.9: normalization by the stats' maximum, value scale, clamp) by the core's finish, as a
 * tile's values are. Every finishing step is monotone non-decreasing, so finishing the maximum is the
 * maximum of the finished values. The part of the overview the tile covers is copied into the core
 * at most 2^21 values at a time, so memory stays bounded at every zoom.
 * @param f0 a multiple of OVERVIEW_FACTOR, as a tile's first frame at zoom 9 or more is
 * @param factor frames per column: a multiple of OVERVIEW_FACTOR (2^z with z ≥ 9)
 */
export async function overviewPooledRange(stats: PackedStats, params: Params, f0: number, f1: number, binEdges: Int32Array, factor: number, target: Float32Array): Promise<void> {
  const { overview } = stats;
  if (!overview) throw new Error("the stats hold no overview (computeStats' overview)");
  const columns = Math.ceil(stats.frames / OVERVIEW_FACTOR);
  const bins = overview.length / columns;
  if (!Number.isInteger(bins)) throw new RangeError(`stats: an overview of ${overview.length} values is not whole rows of ${columns} columns`);
  [f0, f1] = clampFrameRange(f0, f1, stats.frames);
  if (f0 % OVERVIEW_FACTOR !== 0) throw new RangeError(`f0: must be a multiple of ${OVERVIEW_FACTOR} (an overview column's first frame), got ${f0}`);
  if (factor % OVERVIEW_FACTOR !== 0) throw new RangeError(`factor: must be a multiple of ${OVERVIEW_FACTOR} (whole overview columns), got ${factor}`);
  const rows = binEdges.length - 1;
  const [k0, k1] = [binEdges[0], binEdges[rows]];
  if (!(k0 >= 0 && k1 <= bins)) throw new RangeError(`binEdges: bins ${k0}…${k1} are not all among the overview's ${bins}`);
  // Only the band's rows are copied into the core: the edges count from its first.
  const edges = binEdges.map((k) => k - k0);
  const [c0, c1] = [f0 / OVERVIEW_FACTOR, Math.ceil(f1 / OVERVIEW_FACTOR)];
  const limit = Math.max(1, Math.floor((1 << 21) / (k1 - k0)));
  await poolBlocks((step) => overviewBlocks(overview, columns, k0, k1, c0, c1, step), c0, c1, edges, factor / OVERVIEW_FACTOR, limit, target);
  finishValues(target, params, normalizationDivisor(params, stats.peak));
}

/**
 * The spectrogram of a recording, or of its piece [start, end) seconds, with whole-recording
 * semantics (same normalization, PCEN state and filter context as one pass over all of it).
 * @throws RangeError naming `start` or `end` when no frame is centred in the piece (RecordingSpectrogram.piece).
 */
export async function spectrogramOfRecording(
  reader: AudioReader,
  params: ParamsInput = {},
  piece: { start?: number; end?: number; timeExpansion?: number } = {},
): Promise<Spectrogram> {
  checkOptions(piece, ["start", "end", "timeExpansion"]);
  const recording = new RecordingSpectrogram(reader, params, { timeExpansion: piece.timeExpansion });
  try {
    return await recording.piece(piece.start ?? 0, piece.end ?? Infinity);
  } finally {
    recording.dispose();
  }
}

/** RecordingStats as one buffer, to move between threads and to persist. */
export interface PackedStats {
  frames: number;
  peak: number;
  checkpointEvery: number;
  /** Values per checkpoint (bins); 0 without PCEN. */
  bins: number;
  /** Checkpoints firstCheckpoint… concatenated (checkpoint 0 is always the start state, null). */
  checkpoints: Float32Array;
  /** Index of the first checkpoint held: 1 for complete stats (checkpoint 0 needs no values). */
  firstCheckpoint: number;
  /**
   * The overview, when the pass kept one (computeStats' `overview`): per bin, the maximum of each
   * OVERVIEW_FACTOR frames of values after PCEN, before normalization (what `peak` is the maximum
   * of) — [bins][⌈frames / OVERVIEW_FACTOR⌉], the columns of zoom 9 — in a SharedArrayBuffer, so
   * that a tile task carries it to a worker as a view, not a copy (statsForOverview). 2^36 / 2 /
   * 512 floats at most (256 MiB) for a pass at the service's work limit, as many as its PCEN
   * checkpoints.
   */
  overview?: Float32Array;
}

export function packStats(stats: RecordingStats): PackedStats {
  const states = stats.checkpoints.slice(1) as Float32Array[];
  const bins = states[0]?.length ?? 0;
  const checkpoints = new Float32Array(states.length * bins);
  states.forEach((s, i) => checkpoints.set(s, i * bins));
  return { frames: stats.frames, peak: stats.peak, checkpointEvery: stats.checkpointEvery, bins, checkpoints, firstCheckpoint: 1, ...(stats.overview && { overview: stats.overview }) };
}

export function unpackStats(packed: PackedStats, pcen: boolean): RecordingStats {
  const count = packed.bins ? packed.checkpoints.length / packed.bins : 0;
  const checkpoints: PcenState[] = pcen && packed.firstCheckpoint === 1 ? [null] : [];
  for (let i = 0; i < count; i++) checkpoints.push(packed.checkpoints.subarray(i * packed.bins, (i + 1) * packed.bins));
  const checkpointBase = pcen && packed.firstCheckpoint > 1 ? packed.firstCheckpoint : 0;
  return { frames: packed.frames, peak: packed.peak, checkpointEvery: packed.checkpointEvery, checkpoints, checkpointBase };
}

/**
 * Whether pieces under these parameters need stats from a pass over the whole recording: their
 * values need the PCEN state (`pcen`) and the maximum (`normalize`, normalizationDivisor), and
 * their value range — a PNG's colours, the x-value-range header — the maximum for power and
 * amplitude (SPEC §3.10, S / max; valueRange). dB without either needs neither: a piece is then
 * its own samples with the resampler's and the filter's bounded context (ConditionedSignal).
 */
export function needsRecordingStats(p: Params): boolean {
  return p.pcen || p.normalize || p.scale !== "dB";
}

/**
 * The stats of parameters that need none (needsRecordingStats), from the recording's frame count:
 * no checkpoints, and a maximum no pass has found (NaN), which nothing under them reads.
 */
export function statsWithoutPass(frames: number): PackedStats {
  return { frames, peak: NaN, checkpointEvery: CHECKPOINT_SPACING, bins: 0, checkpoints: new Float32Array(0), firstCheckpoint: 1 };
}

/**
 * The part of complete stats a piece starting at frame f0 needs: the one PCEN checkpoint it
 * replays from (copied out, since sending a view to a worker would copy the whole buffer).
 * A 10-hour recording has thousands of checkpoints (megabytes); a tile needs one of them, so
 * what a tile task carries does not grow with the recording.
 */
export function statsForPiece(stats: PackedStats, f0: number): PackedStats {
  return statsForRange(stats, f0, f0 + 1);
}

/**
 * The part of complete stats that pieces starting anywhere in frames [f0, f1) need: the PCEN
 * checkpoints from the one f0 replays from to the one f1 − 1 replays from (copied out), and no
 * overview (pieces are computed from their samples).
 */
export function statsForRange(packed: PackedStats, f0: number, f1: number): PackedStats {
  const { overview: _overview, ...stats } = packed;
  if (stats.bins === 0) return stats;
  const last = stats.checkpoints.length / stats.bins + stats.firstCheckpoint - 1;
  const checkpointOf = (f: number) => Math.min(Math.floor(Math.max(0, f) / stats.checkpointEvery), last);
  const [c0, c1] = [checkpointOf(f0), checkpointOf(Math.max(f0, f1 - 1))];
  // Checkpoint 0 is the start state (null), implied by firstCheckpoint 1.
  const first = Math.max(c0, 1);
  if (first > c1) return { ...stats, checkpoints: new Float32Array(0), firstCheckpoint: 1 };
  const i = first - stats.firstCheckpoint;
  if (i < 0) throw new Error(`the stats hold PCEN checkpoints from ${stats.firstCheckpoint}, not ${first}`);
  return { ...stats, checkpoints: stats.checkpoints.slice(i * stats.bins, (c1 - stats.firstCheckpoint + 1) * stats.bins), firstCheckpoint: c0 === 0 ? 1 : first };
}

/**
 * The part of complete stats a tile pooled from the overview needs (overviewPooledRange): the
 * maximum and the overview, no PCEN checkpoint. The overview lies in shared memory: it crosses to
 * a worker as a view of it, whatever its size (108 MB for 10 h at 384 kHz, Whombat's defaults).
 */
export function statsForOverview(stats: PackedStats): PackedStats {
  return { ...stats, bins: 0, checkpoints: new Float32Array(0), firstCheckpoint: 1 };
}
