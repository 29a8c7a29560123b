/**
 * Signal conditioning before the STFT (SPEC §3.2–3.4): time expansion, resampling, band
 * filtering. Both run over the whole recording by definition; `ConditionedSignal` gives any
 * piece of that result while reading only the piece plus the bounded context the resampler
 * (FIR: exact) and the filter (IIR: decayed below float32 precision, on fixed blocks) need.
 */
import { expandedSamplerate } from "../audio/expansion.js";
import type { AudioReader } from "../audio/types.js";
import { designBandFilter, type BandFilter } from "./filter.js";
import type { Params } from "./params.js";
import { resampledLength, rateRatio } from "./rate-ratio.js";
import { createResampler, type Resampler } from "./resample.js";

/** The resampler of SPEC §3.3, or null when the parameters leave the rate alone. */
function resamplerFor(p: Params, samplerate: number): Resampler | null {
  return p.resample && p.samplerate !== samplerate ? createResampler(samplerate, p.samplerate) : null;
}

/**
 * Samples of the conditioned signal of a recording of `frames` stored samples at `samplerate` Hz
 * (real units): resampling (SPEC §3.3) changes the count, filtering does not. ConditionedSignal's
 * length, known without designing its resampler — a job's submission asks it of every clip's recording.
 */
export function conditionedLength(p: Params, samplerate: number, frames: number): number {
  return p.resample && p.samplerate !== samplerate ? resampledLength(frames, rateRatio(samplerate, p.samplerate)) : frames;
}

/** A whole in-memory signal conditioned as SPEC §3.3–3.4 say; `samplerate` is the STFT's rate. */
export function conditionSignal(samples: Float32Array, samplerate: number, p: Params): { samples: Float32Array; samplerate: number } {
  const resampler = resamplerFor(p, samplerate);
  const rate = resampler ? p.samplerate : samplerate;
  const resampled = resampler ? resampler.apply(samples) : samples;
  const filter = designBandFilter(p, rate);
  return { samples: filter ? filter.apply(resampled) : resampled, samplerate: rate };
}

/**
 * Refuses, before any sample is read, what a ConditionedSignal of `length` samples at `samplerate`
 * (the STFT's rate) refuses at its first read: a band filter that cannot be computed, or whose
 * transient outlasts the context a piece reads (ParamsError naming the edge).
 */
export function checkConditioning(p: Params, samplerate: number, length: number): void {
  designBandFilter(p, samplerate)?.checkPieces(length);
}

/** One channel of a recording, time-expanded, resampled and filtered, read piece by piece. */
export class ConditionedSignal {
  /** Rate of the conditioned signal (the STFT's), Hz in real units. */
  readonly samplerate: number;
  /** Length of the conditioned signal, samples. */
  readonly length: number;
  private readonly resampler: Resampler | null;
  private readonly filter: BandFilter | null;
  /**
   * The stored samples of the last read, reused by the next (see `read`). Its size is that of
   * the largest read: the callers read a block of frames at a time (blockFrames, ≈ 8 MB).
   */
  private scratch = new Float32Array(0);

  /**
   * @param reader the recording
   * @param channel the channel to analyse (validated by the caller)
   * @param timeExpansion TE of SPEC §3.2: the stored rate times TE is the real rate
   */
  constructor(private readonly reader: AudioReader, private readonly channel: number, timeExpansion: number, p: Params) {
    const rate = expandedSamplerate(reader.info.samplerate, timeExpansion);
    this.resampler = resamplerFor(p, rate);
    this.samplerate = this.resampler ? p.samplerate : rate;
    this.length = conditionedLength(p, rate, reader.info.frames);
    this.filter = designBandFilter(p, this.samplerate);
  }

  /**
   * Conditioned samples [from, to), clipped to the signal. The result may be a view of a buffer
   * the next read reuses: use it (copy it into the core) before reading again, and do not
   * start a read before the previous one has finished.
   */
  async read(from: number, to: number): Promise<Float32Array> {
    from = Math.max(0, from);
    to = Math.min(this.length, to);
    if (to <= from) return new Float32Array(0);
    const [a, b] = this.filter ? this.filter.cover(from, to, this.length) : [from, to];
    const resampled = await this.readResampled(a, b);
    return this.filter ? this.filter.applyPiece(resampled, a, this.length, from, to) : resampled;
  }

  /** Resampled (or stored) samples [from, to). */
  private async readResampled(from: number, to: number): Promise<Float32Array> {
    if (!this.resampler) return this.readStored(from, to - from);
    const frames = this.reader.info.frames;
    const [inFrom, inTo] = this.resampler.inputRange(from, to, frames);
    const input = await this.readStored(inFrom, inTo - inFrom);
    return this.resampler.applyPiece(input, inFrom, frames, from, to);
  }

  /** Stored samples [from, from + count) of the channel, into the scratch buffer (grown as needed). */
  private readStored(from: number, count: number): Promise<Float32Array> {
    if (this.scratch.length < count) this.scratch = new Float32Array(Math.max(count, Math.ceil(1.25 * this.scratch.length)));
    return this.reader.read(this.channel, from, count, this.scratch);
  }
}
