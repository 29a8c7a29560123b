/**
 * The engine's inner loop, driven from TypeScript but run in WebAssembly: STFT power and PCEN
 * for a block of frames, chunk by chunk, each chunk in the [bins][frames] layout sonotile
 * returns with normalization, value scale and clamping applied (or, when the maximum is not
 * known yet, afterwards by `finishValues`). Every entry point works on a block of frames with
 * state carried by the caller, so one pass over a whole signal and many passes over pieces of a
 * recording produce the same numbers.
 */
import { AudioFormatError } from "../audio/types.js";
import { getWindow } from "./window.js";
import { frameGeometry, frameStart, type FrameGeometry } from "./geometry.js";
import { EXP2_BOTTOM, EXP2_TOP, ParamsError, type Params } from "./params.js";
import { CoreArray } from "./core-array.js";
import { core } from "./wasm.js";

/** The core's `scale` codes (SCALE_POWER, SCALE_AMPLITUDE in assembly/amplitude.ts; dB any other). */
const SCALE_CODES = { power: 0, amplitude: 1, dB: 2 } as const;

/**
 * The PCEN smoother M, one value per bin, after the last frame processed (SPEC §3.6).
 * `null` before the recording's first frame: the smoother then starts in steady state on it.
 */
export type PcenState = Float32Array | null;

/**
 * Values per core call inside a block (0.5 MB): a chunk's frame-major rows are still in cache
 * when they are transposed into the block's [bins][frames] layout, one pass over DRAM fewer; in
 * the four-frame path, which writes the block directly, its samples are.
 */
const CHUNK_VALUES = 1 << 17;

/**
 * Floats per row of a block of `frames` frames: `frames`, or 16 more when that is a multiple of
 * 128. The four-frame kernel writes 16 bytes into every bin's row per four frames, so a block's
 * hundreds of rows must all stay in the L2 cache between visits. Rows 4·frames bytes apart land
 * in 65536 / gcd(4·frames, 65536) of its 1024 sets (64-byte lines, bits 6–15 of the address):
 * at 512·odd frames 32 sets, 256 lines, fewer than the 513 rows of n = 1024, and the rows evict
 * each other. Measured on a 2-vCPU EPYC VM: at 1024–4096 frames in steps of 1024 that kernel took
 * 1.5× as long per value as at 1040–4112, and blocks of 3584 frames (7·512, the PCEN checkpoint
 * grid of the pool's shared-output path) 1.4× as long as 3585 or 4088 (bench/PERFORMANCE.md).
 * 16 more floats make the stride an odd number of lines: every set.
 */
function blockStride(frames: number): number {
  return frames % 128 === 0 ? frames + 16 : frames;
}

/** What SPEC §3.7–3.9 need to turn power (or PCEN) values into final values. */
export interface FinishParams {
  params: Params;
  /** Normalization divisor (see normalizationDivisor). */
  divisor: number;
}

/**
 * Frames of STFT power — PCEN applied when the plan's parameters ask for it — as [bins][frames]
 * rows `blockStride(frames)` floats apart; final values (SPEC §3.7–3.9 applied) when `analyze`
 * was given them.
 */
export class FrameBlock {
  private readonly stride: number;

  constructor(
    private readonly values: CoreArray,
    readonly frames: number,
    readonly bins: number,
    private readonly peak: number,
  ) {
    this.stride = blockStride(frames);
  }

  /**
   * Rows [k0, k1) and columns [c0, c1) of `matrix`, a [rows][columns] matrix outside the core (a
   * recording's overview in shared memory: RecordingStats.overview), copied into the core as a
   * block of k1 − k0 bins and c1 − c0 frames, to be pooled where it lies (poolInto). Its max() is
   * not known (NaN).
   */
  static fromColumns(matrix: Float32Array, columns: number, k0: number, k1: number, c0: number, c1: number): FrameBlock {
    const frames = c1 - c0, bins = k1 - k0, stride = blockStride(frames);
    const values = new CoreArray(stride * bins);
    const view = values.view();
    for (let k = k0; k < k1; k++) view.set(matrix.subarray(k * columns + c0, k * columns + c1), (k - k0) * stride);
    return new FrameBlock(values, frames, bins, NaN);
  }

  /** The largest value in the block (−Infinity when empty), as the kernels that wrote it found it. */
  max(): number {
    return this.peak;
  }

  /**
   * Copies the block into columns [column, column + frames) of `target`, a [bins][columns]
   * matrix, straight out of core memory (no intermediate array: touching fresh memory costs
   * more than the copy on these machines). Frees the block.
   *
   * Into shared memory (TilePool#frameRangeInto's output) V8 copies with 8-byte moves only where
   * a row's source and destination lie equally far from an 8-byte boundary, and byte by byte
   * otherwise (base::Relaxed_Memcpy) — about 5× slower; with an odd number of columns every other
   * row was such a row. Those rows first move, inside the core's memory (a plain memmove, the row
   * still in cache), to a scratch row placed at their destination's alignment.
   */
  writeColumns(target: Float32Array, column: number): void {
    const { values, frames, bins, stride } = this;
    const columns = target.length / bins;
    const scratch = target.buffer instanceof SharedArrayBuffer ? core.alloc(4 * frames + 8) : 0; // before the views: it may grow the memory
    const memory = new Float32Array(core.memory.buffer);
    for (let k = 0; k < bins; k++) {
      let from = values.ptr + 4 * k * stride;
      const to = k * columns + column;
      const destination = target.byteOffset + 4 * to; // the buffers themselves start 8-byte aligned
      if (scratch !== 0 && ((destination - from) & 7) !== 0) {
        const aligned = scratch + ((destination - scratch) & 7); // 0 or 4 bytes in: floats are 4-byte aligned
        memory.copyWithin(aligned >> 2, from >> 2, (from >> 2) + frames);
        from = aligned;
      }
      target.set(memory.subarray(from >> 2, (from >> 2) + frames), to);
    }
    if (scratch !== 0) core.free(scratch);
    values.free();
  }

  /**
   * Tile pooling (SPEC §4, assembly/tile.ts) of the block where it lies, in the core, written into
   * columns [column, column + ⌈frames / factor⌉) of `target`, a [rows][columns] matrix: row r is
   * the maximum over bins [binEdges[r], binEdges[r+1]), column c over `factor` frames. Only the
   * pooled values cross into JavaScript — for a zoomed-out tile a small fraction of the block.
   * Frees the block.
   */
  poolInto(binEdges: Int32Array, factor: number, target: Float32Array, column: number): void {
    const rows = binEdges.length - 1;
    const width = Math.ceil(this.frames / factor);
    const columns = target.length / rows;
    const edges = core.alloc(binEdges.byteLength);
    const pooled = new CoreArray(rows * width);
    new Int32Array(core.memory.buffer, edges, binEdges.length).set(binEdges);
    core.poolMax(this.values.ptr, this.frames, this.stride, edges, rows, factor, pooled.ptr);
    const view = pooled.view();
    for (let r = 0; r < rows; r++) target.set(view.subarray(r * width, (r + 1) * width), r * columns + column);
    core.free(edges);
    pooled.free();
    this.values.free();
  }
}

/**
 * SPEC §3.7–3.9 in place on power values analysed earlier without `finish`: the
 * steps are element-wise, so the layout does not matter. Runs in the core, a slice at a time.
 */
export function finishValues(values: Float32Array, p: Params, divisor: number): void {
  const slice = 1 << 20;
  const scratch = new CoreArray(Math.min(slice, values.length));
  for (let i = 0; i < values.length; i += slice) {
    const part = values.subarray(i, Math.min(values.length, i + slice));
    const view = new Float32Array(core.memory.buffer, scratch.ptr, part.length);
    view.set(part);
    core.scaleValues(scratch.ptr, part.length, divisor, SCALE_CODES[p.scale], p.clamp, p.min_dB, p.max_dB);
    part.set(view);
  }
  scratch.free();
}

/**
 * Destroys the core's STFT plan of a SpectrogramPlan garbage-collected without `dispose()`: a
 * RecordingSpectrogram dropped undisposed kept its plan in the core for good (0.54 MB each for a
 * 192 kHz recording at the default window: 1000 of them left the core at 544 MB), as RealFFT's
 * plans do not.
 * It holds the handle alone, never the plan: a plan collected can no longer be used, and
 * `dispose()` unregisters it before destroying, so no handle is destroyed twice — nor one the
 * core has since given to another plan.
 */
const finalizer = new FinalizationRegistry<number>((handle) => core.stftDestroy(handle));

/**
 * Everything fixed by (parameters, sample rate): frame geometry, the window and the core's
 * STFT plan. Holds WebAssembly memory: call `dispose()` when done (the garbage collector frees
 * it otherwise, once the event loop turns).
 */
export class SpectrogramPlan {
  readonly geometry: FrameGeometry;
  /** scipy's PSD scaling of |Z|²: 1 / (fs · Σ window²) (scipy.signal._spectral_helper). */
  readonly psdScale: number;
  private handle: number;
  /** True if the core transforms four frames at a time into [bins][frames] columns at this length (`stftPowerColumns`). */
  private readonly columns: boolean;

  constructor(readonly params: Params, samplerate: number) {
    this.geometry = frameGeometry(params.window_size, params.hop_size, samplerate);
    const window = getWindow(params.window, this.geometry.nperseg, params.kaiser_beta);
    let energy = 0;
    for (const w of window) energy += w * w;
    this.psdScale = 1 / (samplerate * energy);
    const buffer = CoreArray.from(window);
    try {
      this.handle = core.stftCreate(window.length, buffer.ptr);
    } finally {
      buffer.free(); // the plan copied the window; freed on failure too (out of memory)
    }
    finalizer.register(this, this.handle, this);
    this.columns = core.stftHasColumns(this.handle);
  }

  /**
   * Power (and PCEN) of frames [f0, f1). `samples` holds the conditioned signal's samples
   * [samplesStart, samplesStart + samples.length), which must include every sample of the
   * signal those frames read (see samplesOfFrames); samples outside it are the zero padding.
   * With `finish`, the block holds final values: SPEC §3.7–3.9 are applied as each chunk is
   * transposed, while it is in cache (without, see `finishValues`). Its `max()` is the power
   * (or PCEN) maximum either way. Returns the block and the PCEN state after frame f1 − 1.
   */
  analyze(samples: Float32Array, samplesStart: number, f0: number, f1: number, pcen: PcenState, finish: FinishParams | null = null): { block: FrameBlock; pcen: PcenState } {
    const values = new CoreArray(blockStride(f1 - f0) * this.geometry.bins);
    let result;
    try {
      result = this.run(samples, samplesStart, f0, f1, pcen, { values, finish });
    } catch (err) {
      values.free(); // the block is nobody's yet
      throw err;
    }
    return { block: new FrameBlock(values, f1 - f0, this.geometry.bins, result.peak), pcen: result.pcen };
  }

  /**
   * The power (or PCEN) maximum of frames [f0, f1) and the PCEN state after them, as `analyze`
   * finds them, without keeping any values: the stats pass and the replay of PCEN from a
   * checkpoint need nothing else.
   */
  scan(samples: Float32Array, samplesStart: number, f0: number, f1: number, pcen: PcenState): { peak: number; pcen: PcenState } {
    return this.run(samples, samplesStart, f0, f1, pcen, null);
  }

  /**
   * The loop of `analyze` and `scan`, a chunk of frames per core call. Each chunk's samples are
   * copied into the core just before its STFT, so they are read from cache — copying a whole
   * block first (8 MB) made the STFT pipeline 6–9 % slower here (bench/PERFORMANCE.md).
   * At the lengths the core transforms four frames at a time (`columns`), the kernel writes the
   * block's [bins][frames] columns itself and PCEN runs on those columns (`pcenColumns`), so PCEN
   * applies to exactly the power values a run without it returns; at the other lengths each chunk
   * is computed as frame-major rows, PCEN applied to them, and transposed into the block.
   */
  private run(samples: Float32Array, samplesStart: number, f0: number, f1: number, pcen: PcenState, output: { values: CoreArray; finish: FinishParams | null } | null): { peak: number; pcen: PcenState } {
    const { bins, hop, nperseg } = this.geometry;
    const p = this.params;
    const frames = f1 - f0;
    // The core's message for a destroyed plan is "invalid handle" at a line of assembly/.
    if (this.handle === 0) throw new Error("the spectrogram was used after dispose()");
    if (p.pcen && frames > 0 && pcen === null && f0 !== 0) throw new Error(`PCEN needs the smoother state before frame ${f0}`);
    const columns = this.columns;
    // A multiple of four frames: the four-frame kernel's groups.
    const chunkFrames = Math.min(frames, 4 * Math.max(1, Math.floor(CHUNK_VALUES / bins / 4)));
    const input = new CoreArray(Math.max(0, chunkFrames - 1) * hop + nperseg);
    const chunk = columns ? null : new CoreArray(chunkFrames * bins);
    // `scan` in the four-frame path needs the values only for PCEN: they go to a scratch chunk.
    const scratchStride = blockStride(chunkFrames);
    const scratch = columns && p.pcen && !output ? new CoreArray(scratchStride * bins) : null;
    const state = p.pcen ? new CoreArray(bins) : null;
    if (state && pcen !== null) state.view().set(pcen);
    const first = frameStart(f0, this.geometry) - samplesStart;
    const finish = output?.finish;
    const stride = blockStride(frames);
    let peak = -Infinity;
    try {
      for (let c0 = 0; c0 < frames; c0 += chunkFrames) {
        const count = Math.min(chunkFrames, frames - c0);
        // The chunk's frames read samples [start, start + span) of `samples`; outside it is padding.
        const start = first + c0 * hop, span = (count - 1) * hop + nperseg;
        const from = Math.min(Math.max(start, 0), samples.length), to = Math.max(from, Math.min(start + span, samples.length));
        input.view().set(samples.subarray(from, to));
        if (!core.samplesFinite(input.ptr, to - from)) throw nonFiniteSamples(samples, from, to, samplesStart, this.geometry.samplerate);
        if (!chunk) {
          // Without a target (0) the kernel only finds the maximum.
          const target = output ? output.values.ptr + 4 * c0 : scratch ? scratch.ptr : 0;
          const rowStride = output ? stride : scratchStride;
          let chunkPeak = core.stftPowerColumns(this.handle, input.ptr, to - from, start - from, hop, count, this.psdScale, target, rowStride);
          if (chunkPeak === Infinity) throw powerOverflow(samples, from, to, samplesStart, this.geometry.samplerate);
          if (state) {
            if (pcen === null && c0 === 0) core.pcenInitState(target, bins, rowStride, state.ptr);
            const values = { ptr: target, frames: count, bins, frameStep: 1, binStep: rowStride };
            const overflow = checkPcenInput(values, chunkPeak, state, p);
            chunkPeak = core.pcenColumns(target, count, bins, rowStride, state.ptr, p.pcen_smooth, p.pcen_gain, p.pcen_bias, p.pcen_power, p.pcen_eps);
            checkPcenRange(chunkPeak, p);
            if (overflow) checkPcenOverflow(values, p);
          }
          peak = Math.max(peak, chunkPeak);
          if (finish && !isIdentity(finish)) core.scaleColumns(target, bins, count, rowStride, finish.divisor, SCALE_CODES[finish.params.scale], finish.params.clamp, finish.params.min_dB, finish.params.max_dB);
          continue;
        }
        const target = output ? output.values.ptr + 4 * c0 : 0;
        let chunkPeak = core.stftPower(this.handle, input.ptr, to - from, start - from, hop, count, this.psdScale, chunk.ptr);
        if (chunkPeak === Infinity) throw powerOverflow(samples, from, to, samplesStart, this.geometry.samplerate);
        if (state) {
          if (pcen === null && c0 === 0) core.pcenInitState(chunk.ptr, bins, 1, state.ptr);
          const values = { ptr: chunk.ptr, frames: count, bins, frameStep: bins, binStep: 1 };
          const overflow = checkPcenInput(values, chunkPeak, state, p);
          chunkPeak = core.pcenApply(chunk.ptr, count, bins, state.ptr, p.pcen_smooth, p.pcen_gain, p.pcen_bias, p.pcen_power, p.pcen_eps);
          checkPcenRange(chunkPeak, p);
          if (overflow) checkPcenOverflow(values, p);
        }
        peak = Math.max(peak, chunkPeak);
        if (!output) continue;
        if (finish) core.scaleTranspose(chunk.ptr, count, bins, target, stride, finish.divisor, SCALE_CODES[finish.params.scale], finish.params.clamp, finish.params.min_dB, finish.params.max_dB);
        else core.scaleTranspose(chunk.ptr, count, bins, target, stride, 1, SCALE_CODES.power, false, 0, 0);
      }
      if (state && frames > 0) pcen = state.view().slice();
    } finally {
      // Also when a chunk is refused (non-finite samples): the core's memory is not collected.
      state?.free();
      scratch?.free();
      chunk?.free();
      input.free();
    }
    return { peak, pcen };
  }

  /** Destroys the core's plan now (the garbage collector's finalizer no longer will). Idempotent. */
  dispose(): void {
    if (this.handle === 0) return;
    finalizer.unregister(this);
    core.stftDestroy(this.handle);
    this.handle = 0;
  }
}

/** True if finishing leaves power values as they are (power scale, no normalization). */
function isIdentity(finish: FinishParams): boolean {
  return finish.params.scale === "power" && finish.divisor === 1;
}

/**
 * What maps to the first and last colour (SPEC §3.10): dB → [min_dB, max_dB]; power and
 * amplitude → [0, max], where max is 1 after normalization, else the recording's maximum
 * (`peak`, the maximum before normalization, in power units).
 */
export function valueRange(p: Params, peak: number): [number, number] {
  if (p.scale === "dB") return [p.min_dB, p.max_dB];
  const top = p.normalize ? 1 : p.scale === "amplitude" ? Math.sqrt(peak) : peak;
  return [0, top > 0 ? top : 1];
}

/** Normalization divisor: the recording's maximum, or 1 without normalization or for silence. */
export function normalizationDivisor(p: Params, peak: number): number {
  return p.normalize && peak > 0 && Number.isFinite(peak) ? peak : 1;
}

/**
 * Samples that decode but have no spectrogram: NaN or ±Infinity, or values whose power overflows
 * float32. Bad audio like any AudioFormatError (CLI exit 1, HTTP 422), but not a decoding failure:
 * a class and a name of its own, so that the HTTP layer and scripts can say what it is.
 */
export class SampleValuesError extends AudioFormatError {
  override name = "SampleValuesError";
}

/**
 * `err` naming the file `name` when it is a SampleValuesError, else `err` itself: a reader names
 * its file in its own errors (audio/index.ts), but samples the STFT refuses are found after they
 * were read, by code that knows no file, so the caller that opened it names it (the CLI's
 * spectrogram, the tile workers) — "rec.wav: the samples hold NaN …".
 */
export function namingFile(err: unknown, name: string): unknown {
  return err instanceof SampleValuesError ? new SampleValuesError(`${name}: ${err.message}`) : err;
}

/**
 * The error for samples [from, to) of `samples` (signal index samplesStart + i) that
 * core.samplesFinite refused: NaN or ±Infinity, naming the first one's time: a float recording can store them, and a spectrogram of
 * them is NaN wherever they reach.
 */
function nonFiniteSamples(samples: Float32Array, from: number, to: number, samplesStart: number, samplerate: number): SampleValuesError {
  let i = from;
  while (i < to && Number.isFinite(samples[i])) i++;
  if (i === to) return powerOverflow(samples, from, to, samplesStart, samplerate); // finite, but their sum overflowed (samplesFinite)
  const at = samplesStart + i;
  return new SampleValuesError(`the samples hold ${samples[i]} (first at ${at / samplerate} s, sample ${at} of the signal analysed): a spectrogram of NaN or ±Infinity is not defined`);
}

/**
 * e^88 − 1: the core's expm1 clamps its argument to 88 (assembly/vmath.ts), so a PCEN value of
 * bias^power · (e^88 − 1) or more is not the formula's value but float32's ceiling (less a margin
 * for the polynomial's rounding).
 */
const PCEN_CEILING = Math.expm1(88) * (1 - 1e-5);

/**
 * Refuses PCEN values past what the core computes: bias^power · expm1(power · log1p(a)) with a large
 * power (pcen_power 1000 with pcen_bias 1.01, or 1e308 with bias 1) takes expm1 past e^88, and
 * every such value came out as the same +385 dB. The ceiling is expm1's, before the factor
 * bias^power: with bias^power < 1 it comes below float32's own (pcen_bias 0.001 with pcen_power 2
 * is refused at 1.65e32), and the message says so rather than blaming float32's range. `peak` is
 * the block's largest PCEN value (NaN if one is NaN). A parameter error, naming pcen_power: the
 * audio is fine.
 */
function checkPcenRange(peak: number, p: Params): void {
  const offset = Math.fround(p.pcen_bias) ** p.pcen_power;
  if (peak < offset * PCEN_CEILING) return;
  throw new ParamsError([{ field: "pcen_power", message: `PCEN values pass what the core computes with pcen_bias ${p.pcen_bias} and pcen_power ${p.pcen_power}: expm1(power·log1p(S·(eps + M)^−gain / bias)) reaches e^88 (1.65e38, the largest its float32 expm1 takes) before the factor bias^power = ${Number(offset.toPrecision(3))}, i.e. PCEN values of ${peak.toPrecision(3)} or more; a smaller pcen_power or a larger pcen_bias keeps them in range` }]);
}

/** A chunk's values in the core's memory: value (t, k) — frame t, bin k — at ptr + 4·(t·frameStep + k·binStep). */
interface ChunkValues { ptr: number; frames: number; bins: number; frameStep: number; binStep: number }

/**
 * Checks, before PCEN runs on a chunk of power values S (largest `sPeak`) with the smoother
 * `state` it starts from, what the core's float32 arithmetic cannot follow for this signal
 * (the parameters alone are checked by the schema, params.ts pcenGainProblem):
 * - the gain 2^(−gain·log2(eps + M)) is exact down to 2^−126 only (assembly/vmath.ts exp2f4
 *   clamps there): a smoother M with gain·log2(eps + M) > 126 (M ≥ 2^25 with pcen_gain 5, a
 *   float recording with values beyond full scale) got a gain too large, its value silently
 *   wrong. M is a running average of S and the state, so it stays below the largest of them;
 *   only when that bound is past the limit is the smoother replayed to find its real maximum.
 *   Refused naming pcen_gain.
 * - S·(eps + M)^−gain / bias can overflow float32 (a pcen_bias near 1e-38, or a large gain):
 *   the kernel then writes NaN, which its maximum does not see. Returns true when the worst
 *   case for this chunk could (M ≥ smooth·S of the same frame), for `checkPcenOverflow` to look
 *   at the values written; signals and parameters in use never come near.
 */
function checkPcenInput(values: ChunkValues, sPeak: number, state: CoreArray, p: Params): boolean {
  const gain = Math.fround(p.pcen_gain), eps = Math.fround(p.pcen_eps), smooth = Math.fround(p.pcen_smooth);
  if (gain * 128 > -EXP2_BOTTOM) {
    let bound = sPeak;
    for (const m of state.view()) bound = Math.max(bound, m);
    if (gain * Math.log2(eps + bound) > -EXP2_BOTTOM) {
      const top = smootherMaximum(values, state.view(), p.pcen_smooth);
      if (gain * Math.log2(eps + top) > -EXP2_BOTTOM) {
        throw new ParamsError([{ field: "pcen_gain", message: `must be < ${(-EXP2_BOTTOM / Math.log2(eps + top)).toPrecision(6)} for this signal: its PCEN smoother reaches M = ${top.toPrecision(3)}, where (eps + M)^−gain = 2^−${(gain * Math.log2(eps + top)).toPrecision(4)} is below float32's 2^−${-EXP2_BOTTOM} (the core computes PCEN in float32)` }]);
      }
    }
  }
  if (!(sPeak > 0)) return false;
  // log2 of the largest S·(eps + smooth·S)^−gain for S in (0, sPeak]: increasing in S for
  // gain ≤ 1, else largest at S = eps / (smooth·(gain − 1)).
  const worst = (x: number) => Math.log2(x) - gain * Math.log2(eps + smooth * x);
  const turn = gain > 1 ? eps / (smooth * (gain - 1)) : Infinity;
  const product = worst(Math.min(sPeak, turn));
  return Math.max(product, product - Math.log2(Math.fround(p.pcen_bias))) >= EXP2_TOP;
}

/** The largest smoother value M over `values` (power values S, before PCEN) from `state`, as the kernel computes it (s and 1 − s each rounded from float64 s). */
function smootherMaximum(values: ChunkValues, state: Float32Array, s: number): number {
  const memory = new Float32Array(core.memory.buffer);
  const smooth = Math.fround(s), keep = Math.fround(1 - s), base = values.ptr >>> 2;
  let top = 0;
  for (let k = 0; k < values.bins; k++) {
    let m = state[k];
    top = Math.max(top, m);
    for (let t = 0; t < values.frames; t++) {
      m = Math.fround(Math.fround(keep * m) + Math.fround(smooth * memory[base + t * values.frameStep + k * values.binStep]));
      top = Math.max(top, m);
    }
  }
  return top;
}

/** Refuses a chunk whose PCEN values hold NaN: S·(eps + M)^−gain / bias overflowed float32 (see checkPcenInput). */
function checkPcenOverflow(values: ChunkValues, p: Params): void {
  const memory = new Float32Array(core.memory.buffer);
  const base = values.ptr >>> 2;
  for (let k = 0; k < values.bins; k++) {
    for (let t = 0; t < values.frames; t++) {
      if (!Number.isNaN(memory[base + t * values.frameStep + k * values.binStep])) continue;
      const field = p.pcen_bias < 1 ? "pcen_bias" : "pcen_gain";
      throw new ParamsError([{ field, message: `PCEN's S·(eps + M)^−gain / bias overflows float32 with pcen_bias ${p.pcen_bias}, pcen_gain ${p.pcen_gain} and pcen_eps ${p.pcen_eps} for this signal (the core computes PCEN in float32)${field === "pcen_bias" ? "; a larger pcen_bias keeps it in range" : ""}` }]);
    }
  }
}

/** 2^64: a sample this large has a square beyond float32's range (2^128) on its own. */
const SQUARE_OVERFLOW = 2 ** 64;

/**
 * The error for samples [from, to) of `samples` (signal index samplesStart + i) that are finite,
 * but whose power overflowed float32, naming a sample's value, time and index, as
 * nonFiniteSamples names a NaN: the first whose square alone overflows, else — a frame's sum of
 * smaller ones overflowed — the largest (the first of equals). It named neither where nor the
 * samples: "sample values reach 1.00e+19: …".
 */
function powerOverflow(samples: Float32Array, from: number, to: number, samplesStart: number, samplerate: number): SampleValuesError {
  let i = from;
  while (i < to && !(Math.abs(samples[i]) >= SQUARE_OVERFLOW)) i++;
  if (i === to) {
    i = from;
    for (let j = from + 1; j < to; j++) if (Math.abs(samples[j]) > Math.abs(samples[i])) i = j;
  }
  const at = samplesStart + i;
  return new SampleValuesError(`the samples hold ${samples[i].toExponential(2)} (first at ${at / samplerate} s, sample ${at} of the signal analysed): their power overflows float32 (full scale is 1)`);
}

