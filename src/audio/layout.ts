/**
 * What a container parser finds (WAV, RF64, Wave64, AIFF): where the sample data lies and how to
 * decode it. `BlockReader` (reader.ts) turns any layout into ranged reads.
 */
import { convertSamples, SAMPLE_BYTES, type SampleFormat } from "./pcm.js";
import { AudioFormatError } from "./types.js";

/**
 * A block a codec cannot decode, `block` counted from the first block of the bytes it was given;
 * the reader names the block in the file (BlockReader.read).
 */
export class CorruptBlockError extends AudioFormatError {
  constructor(readonly block: number, readonly problem: string) {
    super(`block ${block}: ${problem}`);
  }
}

/**
 * A codec that decodes fixed-size blocks independently: PCM (one frame per block) and the ADPCM
 * family (a block header carries the full decoder state, so any block decodes on its own — this
 * is what makes their ranged reads cheap).
 */
export interface BlockCodec {
  /** Frames one block decodes to. */
  readonly framesPerBlock: number;
  /** Bytes of one block, all channels. */
  readonly bytesPerBlock: number;
  /**
   * Decodes `blocks` whole blocks found at the start of `bytes`; writes `channel` to
   * `out[0 .. blocks·framesPerBlock)`. A block that cannot be decoded is a CorruptBlockError.
   */
  decode(bytes: Uint8Array, blocks: number, channel: number, out: Float32Array): void;
  /**
   * ADPCM: the frames a final block cut short to `bytes` bytes holds whole (its header and every
   * channel's nibble of each), as libsndfile decodes such a block rather than dropping it; decode
   * then gets the block padded to full size and the frames after these are not used.
   */
  framesInPartialBlock?(bytes: number): number;
  /**
   * The stored bytes are already the decoded samples: one channel of little-endian float32 (a
   * mono float WAV on a little-endian host, as pcm.ts assumes). The reader then fetches them
   * straight into its output, with no batch buffer to copy from.
   */
  readonly storedAsFloat32: boolean;
}

export interface Layout {
  container: string;
  encoding: string;
  samplerate: number;
  channels: number;
  bitsPerSample: number | null;
  /** Frames per channel that the reader exposes (libsndfile's `frames`). */
  frames: number;
  /** Absolute byte offset of the first block. */
  dataOffset: number;
  /** Absolute byte offset where the sample data end (a final block may end there, cut short). */
  dataEnd: number;
  codec: BlockCodec;
  metadata: Record<string, unknown>;
}

/** Interleaved PCM: a frame is one block. */
export function pcmCodec(format: SampleFormat, littleEndian: boolean, channels: number): BlockCodec {
  const width = SAMPLE_BYTES[format];
  const frameBytes = width * channels;
  return {
    framesPerBlock: 1,
    bytesPerBlock: frameBytes,
    storedAsFloat32: format === "f32" && littleEndian && channels === 1,
    decode(bytes, blocks, channel, out) {
      convertSamples(format, littleEndian, bytes, channel * width, frameBytes, out, 0, blocks);
    },
  };
}

/** Upper bounds that reject absurd headers before anything is sized by them. */
export const LIMITS = {
  /** libsndfile's SF_MAX_CHANNELS. */
  maxChannels: 1024,
  /** Largest believable sample rate (Hz). Ultrasonic recorders top out near 1 MHz. */
  maxSamplerate: 100_000_000,
  /** Largest block an ADPCM header may declare (bytes). */
  maxBlockBytes: 1 << 20,
} as const;

/** Rejects a channel count / sample rate that no decoder could use; names the container. */
export function checkBasics(container: string, channels: number, samplerate: number): void {
  if (!Number.isInteger(channels) || channels < 1) throw new AudioFormatError(`${container}: header declares ${channels} channels`);
  if (channels > LIMITS.maxChannels) throw new AudioFormatError(`${container}: ${channels} channels is more than the ${LIMITS.maxChannels} supported`);
  if (!(samplerate >= 1) || !Number.isFinite(samplerate)) throw new AudioFormatError(`${container}: header declares sample rate ${samplerate}`);
  if (samplerate > LIMITS.maxSamplerate) throw new AudioFormatError(`${container}: sample rate ${samplerate} Hz is implausible`);
}

/** Frames of a layout's sample data of `bytes` bytes: its whole blocks, and the whole frames of a final partial block. */
export function framesOf(codec: BlockCodec, bytes: number): number {
  const blocks = Math.floor(bytes / codec.bytesPerBlock);
  const rest = bytes - blocks * codec.bytesPerBlock;
  return blocks * codec.framesPerBlock + (rest > 0 && codec.framesInPartialBlock ? codec.framesInPartialBlock(rest) : 0);
}
