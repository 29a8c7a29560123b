/**
 * Ranged reads over a block layout (PCM and ADPCM in WAV, RF64, Wave64, AIFF): reading frames
 * [start, start + count) fetches only the blocks that cover them, in batches of at most
 * `BATCH_BYTES`, and converts them in one pass.
 */
import { CorruptBlockError, type Layout } from "./layout.js";
import type { ByteSource } from "./source.js";
import { AudioFormatError, type AudioFileReader, type AudioInfo } from "./types.js";

/** Bytes fetched per positioned read: bounds temporary memory whatever range is asked for. */
const BATCH_BYTES = 4 << 20;

/** Checks the arguments of `AudioReader.read` (programming errors, hence RangeError) and clips the range. */
export function clipRange(info: AudioInfo, channel: number, start: number, count: number): [number, number] {
  if (!Number.isInteger(channel) || channel < 0 || channel >= info.channels)
    throw new RangeError(`channel ${channel} out of range: the recording has ${info.channels} channel(s)`);
  if (!Number.isInteger(start) || start < 0) throw new RangeError(`start frame must be a non-negative integer, got ${start}`);
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`frame count must be a non-negative integer, got ${count}`);
  const s = Math.min(start, info.frames);
  return [s, Math.min(info.frames, s + count)];
}

/** The most blocks of `blockFrames` frames that `frames` consecutive frames (≥ 1) can span, wherever they start. */
export const blocksSpanned = (frames: number, blockFrames: number) => Math.ceil((frames - 1) / blockFrames) + 1;

/** `into`'s first `length` values when it is long enough, else a new array (AudioReader.read). */
export function outputArray(length: number, into?: Float32Array): Float32Array {
  return into !== undefined && into.length >= length ? into.subarray(0, length) : new Float32Array(length);
}

export class BlockReader implements AudioFileReader {
  readonly info: AudioInfo;
  /**
   * The batch buffer of the last read, kept for the next one: a fresh multi-megabyte buffer
   * per read costs more in page faults than reading and converting its bytes. A read takes it
   * while it runs, so reads that overlap in time each get their own.
   */
  private spare: Uint8Array | null = null;
  /** The scratch samples of the last read of multi-frame blocks (ADPCM), kept for the next one as `spare` is. */
  private spareSamples: Float32Array | null = null;

  constructor(private readonly src: ByteSource, private readonly layout: Layout, fileSize: number) {
    const { container, encoding, samplerate, channels, frames, bitsPerSample, metadata } = layout;
    this.info = { container, encoding, samplerate, channels, frames, duration: frames / samplerate, bitsPerSample, metadata, fileSize };
  }

  /** Bytes fetched from the file so far. */
  get bytesRead(): number {
    return this.src.bytesRead;
  }

  async read(channel: number, start: number, count: number, into?: Float32Array): Promise<Float32Array> {
    const [s, e] = clipRange(this.info, channel, start, count);
    const out = outputArray(e - s, into);
    if (e === s) return out;
    const { codec, dataOffset } = this.layout;
    if (codec.storedAsFloat32) return this.readFloat32(dataOffset + 4 * s, out);
    const fpb = codec.framesPerBlock;
    const bpb = codec.bytesPerBlock;
    const firstBlock = Math.floor(s / fpb);
    const endBlock = Math.ceil(e / fpb);
    const batch = this.batchBlocks;
    // PCM decodes straight into `out`; multi-frame blocks go through a scratch buffer and are trimmed.
    const scratch = fpb === 1 ? null : this.takeSamples(Math.min(batch, endBlock - firstBlock) * fpb);
    const buffer = this.takeBuffer(Math.min(batch, endBlock - firstBlock) * bpb);
    for (let b = firstBlock; b < endBlock; b += batch) {
      const nb = Math.min(batch, endBlock - b);
      const bytes = buffer.subarray(0, nb * bpb);
      const got = await this.src.readInto(dataOffset + b * bpb, bytes);
      if (got < bytes.length) {
        // A final block cut short (ADPCM, codec.framesInPartialBlock) at the end of the file: it
        // is decoded padded, and only its whole frames are read (info.frames ends there).
        if (dataOffset + b * bpb + got < this.layout.dataEnd) throw endedEarly(dataOffset + b * bpb, got);
        bytes.fill(0, got);
      }
      if (scratch === null) {
        this.decode(bytes, nb, b, channel, out.subarray(b - s));
      } else {
        this.decode(bytes, nb, b, channel, scratch);
        const from = Math.max(s, b * fpb);
        const to = Math.min(e, (b + nb) * fpb);
        out.set(scratch.subarray(from - b * fpb, to - b * fpb), from - s);
      }
    }
    if (buffer.length > (this.spare?.length ?? 0)) this.spare = buffer;
    if (scratch && scratch.length > (this.spareSamples?.length ?? 0)) this.spareSamples = scratch;
    return out;
  }

  /** codec.decode of blocks [first, first + blocks), a corrupt one named by its place in the file. */
  private decode(bytes: Uint8Array, blocks: number, first: number, channel: number, out: Float32Array): void {
    const { codec, container, encoding, dataOffset } = this.layout;
    try {
      codec.decode(bytes, blocks, channel, out);
    } catch (err) {
      if (!(err instanceof CorruptBlockError)) throw err;
      const block = first + err.block;
      throw new AudioFormatError(`${container}: ${encoding} block ${block} (at byte ${dataOffset + block * codec.bytesPerBlock}): ${err.problem}`);
    }
  }

  /**
   * Samples stored as they are returned (codec.storedAsFloat32), fetched straight into `out`:
   * one pass over the bytes instead of two (into the batch buffer, then converted), which
   * matters when the worker threads share the memory bandwidth (bench/PERFORMANCE.md).
   */
  private async readFloat32(offset: number, out: Float32Array): Promise<Float32Array> {
    const got = await this.src.readInto(offset, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    if (got < out.byteLength) throw endedEarly(offset, got);
    return out;
  }

  /**
   * The batch buffer of a read of `readFrames` frames (kept as the spare), and the scratch samples
   * of its multi-frame blocks (ADPCM); a float32 file is read straight into the caller's array.
   */
  maxHeldBytes(readFrames: number): number {
    const { codec } = this.layout;
    if (codec.storedAsFloat32) return 0;
    const blocks = Math.min(this.batchBlocks, blocksSpanned(readFrames, codec.framesPerBlock));
    return blocks * codec.bytesPerBlock + (codec.framesPerBlock === 1 ? 0 : blocks * codec.framesPerBlock * 4);
  }

  /** Lets go of the spare batch buffer and scratch samples. */
  releaseMemory(): void {
    this.spare = null;
    this.spareSamples = null;
  }

  /** Blocks fetched per positioned read (BATCH_BYTES of them, at least one). */
  private get batchBlocks(): number {
    return Math.max(1, Math.floor(BATCH_BYTES / this.layout.codec.bytesPerBlock));
  }

  /** The spare batch buffer if it holds `bytes`, else a new one. */
  private takeBuffer(bytes: number): Uint8Array {
    const spare = this.spare;
    this.spare = null;
    return spare !== null && spare.length >= bytes ? spare : new Uint8Array(bytes);
  }

  /** The spare scratch samples if they hold `length`, else new ones. */
  private takeSamples(length: number): Float32Array {
    const spare = this.spareSamples;
    this.spareSamples = null;
    return spare !== null && spare.length >= length ? spare : new Float32Array(length);
  }

  close(): Promise<void> {
    return this.src.close();
  }
}

/**
 * A read of the sample data at byte `offset` that got only `got` bytes: the file shrank after it
 * was opened. Where the data stops is known only when the read got some of it; a read that
 * starts past the new end says where it looked, not that the data stops there.
 */
function endedEarly(offset: number, got: number): AudioFormatError {
  return new AudioFormatError(got > 0
    ? `file ended early: sample data stops at byte ${offset + got}`
    : `file ended early: no sample data at byte ${offset} (the file is shorter than when it was opened)`);
}
