/**
 * IMA ADPCM (WAV/Wave64 "DVI" blocks and Apple AIFC 'ima4' packets) and Microsoft ADPCM, decoded
 * exactly as libsndfile does (src/ima_adpcm.c, src/ms_adpcm.c): 16-bit results clipped to
 * [-32768, 32767] and scaled by 1/32768. Each block starts with the full decoder state in its
 * header, so blocks decode independently — a ranged read decodes only the blocks it covers.
 */
import { CorruptBlockError, LIMITS, type BlockCodec } from "./layout.js";
import type { WaveFormat } from "./riff.js";
import { AudioFormatError } from "./types.js";

// IMA ADPCM tables (Interactive Multimedia Association, "Recommended Practices for Enhancing
// Digital Audio Compatibility in Multimedia Systems", 1992), exported for encoders and references
// that step one sample at a time (bench/stats.ts, the IMA tests).
export const IMA_INDEX_ADJUST = new Int8Array([-1, -1, -1, -1, 2, 4, 6, 8, -1, -1, -1, -1, 2, 4, 6, 8]);
export const IMA_STEP = new Int32Array([
  7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66, 73, 80, 88, 97, 107,
  118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408, 449, 494, 544, 598, 658, 724, 796, 876, 963,
  1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066, 2272, 2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358, 5894,
  6484, 7132, 7845, 8630, 9493, 10442, 11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794,
  32767,
]);

const clampIndex = (i: number) => (i < 0 ? 0 : i > 88 ? 88 : i);
const clamp16 = (v: number) => (v > 32767 ? 32767 : v < -32768 ? -32768 : v);

/**
 * One IMA step for every step index and nibble, at [index·16 + nibble]: IMA_DIFF the signed change
 * of the predictor (before clipping to 16 bits), IMA_NEXT 16 × the step index after it (the row of
 * the next step). Looked up rather than computed: a step then costs two loads, an add and a clip,
 * with no branch on the nibble's bits — 2 ns a sample where computing each step took 20 (a stats
 * pass over 30 min of 44.1 kHz IMA ADPCM spent 1.6 s of its 2.8 decoding).
 */
const IMA_DIFF = new Int32Array(89 * 16);
const IMA_NEXT = new Int32Array(89 * 16);
for (let index = 0; index < 89; index++) {
  const step = IMA_STEP[index];
  for (let nibble = 0; nibble < 16; nibble++) {
    let diff = step >> 3;
    if (nibble & 1) diff += step >> 2;
    if (nibble & 2) diff += step >> 1;
    if (nibble & 4) diff += step;
    IMA_DIFF[index * 16 + nibble] = nibble & 8 ? -diff : diff;
    IMA_NEXT[index * 16 + nibble] = clampIndex(index + IMA_INDEX_ADJUST[nibble]) * 16;
  }
}

/** A decoder's state as one number: the predictor (16-bit) above the step row (16 × step index, < 2^11). */
const imaState = (predictor: number, row: number) => (predictor << 11) | row;

/**
 * Decodes the IMA nibbles of `count` bytes from `bytes[at]` on (low nibble first, 2 samples a byte)
 * into `out[o…]` from decoder state `state` (imaState); returns the state after them. Samples are
 * scaled by 1/32768, as libsndfile does.
 */
function imaNibbles(bytes: Uint8Array, at: number, count: number, state: number, out: Float32Array, o: number): number {
  let pred = state >> 11;
  let row = state & 0x7ff;
  for (let i = 0; i < count; i++) {
    const byte = bytes[at + i];
    let k = row + (byte & 0x0f);
    pred = clamp16(pred + IMA_DIFF[k]);
    row = IMA_NEXT[k];
    out[o++] = pred / 32768;
    k = row + (byte >> 4);
    pred = clamp16(pred + IMA_DIFF[k]);
    row = IMA_NEXT[k];
    out[o++] = pred / 32768;
  }
  return imaState(pred, row);
}

/**
 * WAV IMA ADPCM block: per channel a 4-byte header (predictor s16 LE, step index, 0), then
 * groups of 4 bytes (8 nibbles, low nibble first) per channel in turn. The header predictor is
 * the block's first sample.
 */
export function imaWavCodec(channels: number, blockAlign: number, samplesPerBlock: number): BlockCodec {
  return {
    framesPerBlock: samplesPerBlock,
    bytesPerBlock: blockAlign,
    storedAsFloat32: false,
    framesInPartialBlock(bytes) {
      // The header sample, 8 frames per whole round of 4-byte groups, then the last channel's
      // group in the cut round: its nibbles present (2 per byte).
      const nibbles = bytes - 4 * channels;
      if (nibbles < 0) return 0;
      const rounds = Math.floor(nibbles / (4 * channels));
      const lastChannelBytes = Math.max(0, nibbles - rounds * 4 * channels - 4 * (channels - 1));
      return Math.min(samplesPerBlock, 1 + 8 * rounds + 2 * lastChannelBytes);
    },
    decode(bytes, blocks, channel, out) {
      for (let b = 0; b < blocks; b++) {
        const base = b * blockAlign;
        const o = b * samplesPerBlock;
        const pred = (bytes[base + 4 * channel] | (bytes[base + 4 * channel + 1] << 8)) << 16 >> 16;
        let state = imaState(pred, clampIndex(bytes[base + 4 * channel + 2]) * 16);
        out[o] = pred / 32768;
        // This channel's nibbles after the header sample sit in its 4-byte group of each round of
        // the interleave (a group per channel in turn), 8 samples a group, low nibble first.
        for (let g = 0, n = 1; n < samplesPerBlock; g++, n += 8) {
          state = imaNibbles(bytes, base + 4 * channels + (g * channels + channel) * 4, 4, state, out, o + n);
        }
      }
    },
  };
}

/**
 * Apple IMA4 ('ima4' in AIFC): per channel 34-byte packets — a 2-byte big-endian header (top 9
 * bits predictor, low 7 bits step index) and 64 nibbles, low nibble first; channel packets are
 * interleaved. Unlike WAV, the header sample is not output: the block yields 64 frames.
 */
export function imaAiffCodec(channels: number): BlockCodec {
  return {
    framesPerBlock: 64,
    bytesPerBlock: 34 * channels,
    storedAsFloat32: false,
    // The other channels' packets are whole once the last channel's has begun: its 2-byte header,
    // then 2 frames per byte present.
    framesInPartialBlock: (bytes) => Math.min(64, Math.max(0, 2 * (bytes - 34 * (channels - 1) - 2))),
    decode(bytes, blocks, channel, out) {
      for (let b = 0; b < blocks; b++) {
        const base = (b * channels + channel) * 34;
        const pred = ((bytes[base] << 8) | (bytes[base + 1] & 0x80)) << 16 >> 16;
        imaNibbles(bytes, base + 2, 32, imaState(pred, clampIndex(bytes[base + 1] & 0x7f) * 16), out, b * 64);
      }
    },
  };
}

// Microsoft ADPCM (Microsoft, "New Multimedia Data Types and Data Techniques", rev 3.0, 1994).
const MS_ADAPT = new Int32Array([230, 230, 230, 230, 307, 409, 512, 614, 768, 614, 512, 409, 307, 230, 230, 230]);
const MS_COEF1 = new Int32Array([256, 512, 0, 192, 240, 460, 392]);
const MS_COEF2 = new Int32Array([0, -256, 0, 64, 0, -208, -232]);

/**
 * MS ADPCM block: per channel predictor index (1 byte), delta (s16), sample1, sample2 (s16), each
 * field for all channels in turn; output starts with sample2, sample1; then nibbles high first,
 * interleaved across channels. libsndfile uses the 7 standard coefficient pairs, not the ones
 * written in the fmt chunk.
 */
function msAdpcmCodec(channels: number, blockAlign: number, samplesPerBlock: number): BlockCodec {
  return {
    framesPerBlock: samplesPerBlock,
    bytesPerBlock: blockAlign,
    storedAsFloat32: false,
    // The two header samples, then one frame per `channels` nibbles present.
    framesInPartialBlock: (bytes) => (bytes < 7 * channels ? 0 : Math.min(samplesPerBlock, 2 + Math.floor((2 * (bytes - 7 * channels)) / channels))),
    decode(bytes, blocks, channel, out) {
      const s16 = (at: number) => (bytes[at] | (bytes[at + 1] << 8)) << 16 >> 16;
      for (let b = 0; b < blocks; b++) {
        const base = b * blockAlign;
        const o = b * samplesPerBlock;
        const pi = bytes[base + channel];
        if (pi > 6) throw new CorruptBlockError(b, `predictor index ${pi} is out of range 0..6`);
        const c1 = MS_COEF1[pi];
        const c2 = MS_COEF2[pi];
        let delta = s16(base + channels + 2 * channel);
        let s1 = s16(base + 3 * channels + 2 * channel);
        let s2 = s16(base + 5 * channels + 2 * channel);
        out[o] = s2 / 32768;
        out[o + 1] = s1 / 32768;
        const first = base + 7 * channels;
        for (let n = 2; n < samplesPerBlock; n++) {
          // Nibble k of the block (all channels interleaved) belongs to channel k % channels.
          const k = (n - 2) * channels + channel;
          const byte = bytes[first + (k >> 1)];
          const code = k & 1 ? byte & 0x0f : byte >> 4;
          const predict = (s1 * c1 + s2 * c2) >> 8;
          const current = clamp16(((code << 28) >> 28) * delta + predict);
          // libsndfile keeps the step in a 16-bit short: a step past 32767 wraps before the floor of
          // 16 applies (corrupt or hand-made blocks; its own encoder never gets there).
          delta = ((MS_ADAPT[code] * delta) >> 8) << 16 >> 16;
          if (delta < 16) delta = 16;
          s2 = s1;
          s1 = current;
          out[o + n] = current / 32768;
        }
      }
    },
  };
}

/** Refuses an ADPCM block larger than all the sample data, `dataBytes` (see adpcmCodecFromWaveFormat). */
function checkBlockWithinData(container: string, name: string, blockAlign: number, dataBytes: number): void {
  if (dataBytes > 0 && blockAlign > dataBytes)
    throw new AudioFormatError(`${container}: ${name} block align ${blockAlign} is more than all the sample data, ${dataBytes} bytes: not one whole block (corrupt header?)`);
}

/**
 * Reads the ADPCM parameters of a WAV `fmt ` chunk and checks them against the block size and the
 * `dataBytes` of sample data. Samples per block must be what a block holds, as libsndfile requires
 * (ima_adpcm.c, ms_adpcm.c: "samplesperblock should be …"): a smaller count had each block decode
 * to its first few samples (1 or 2 a block: 16 or 32 frames in all) with no error, a larger one
 * would read past the block. A block larger than all the sample data (but no data at all: an
 * empty recording) is not one whole block: libsndfile read an IMA block's worth past the data, and
 * nothing from an MS one.
 */
export function adpcmCodecFromWaveFormat(fmt: WaveFormat, container: string, dataBytes: number): { codec: BlockCodec; encoding: string; bits: number | null } {
  const { tag, channels, blockAlign, raw } = fmt;
  const name = tag === 0x11 ? "IMA ADPCM" : "MS ADPCM";
  if (blockAlign > LIMITS.maxBlockBytes) throw new AudioFormatError(`${container}: ${name} block align ${blockAlign} is implausible`);
  if (raw.length < 20) throw new AudioFormatError(`${container}: ${name} fmt chunk lacks samples-per-block (${raw.length} bytes)`);
  const samplesPerBlock = new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint16(18, true);
  if (tag === 0x11) {
    const header = 4 * channels;
    if (blockAlign <= header || (blockAlign - header) % header !== 0)
      throw new AudioFormatError(`${container}: IMA ADPCM block align ${blockAlign} is not a whole number of 4-byte groups for ${channels} channel(s)`);
    const capacity = (2 * (blockAlign - header)) / channels + 1;
    if (samplesPerBlock !== capacity)
      throw new AudioFormatError(`${container}: IMA ADPCM samples per block ${samplesPerBlock} does not match block align ${blockAlign}, whose blocks hold ${capacity} ((${blockAlign}/${channels} − 4)·2 + 1; corrupt header?)`);
    checkBlockWithinData(container, name, blockAlign, dataBytes);
    return { codec: imaWavCodec(channels, blockAlign, samplesPerBlock), encoding: "ima_adpcm", bits: 4 };
  }
  if (channels > 2) throw new AudioFormatError(`${container}: MS ADPCM with ${channels} channels (1 or 2 supported)`);
  const header = 7 * channels;
  if (blockAlign <= header) throw new AudioFormatError(`${container}: MS ADPCM block align ${blockAlign} leaves no room for samples after the ${header}-byte block header of ${channels} channel(s)`);
  const capacity = Math.floor((2 * (blockAlign - header)) / channels) + 2;
  if (samplesPerBlock !== capacity)
    throw new AudioFormatError(`${container}: MS ADPCM samples per block ${samplesPerBlock} does not match block align ${blockAlign}, whose blocks hold ${capacity} ((${blockAlign} − 7·${channels})·2/${channels} + 2; corrupt header?)`);
  checkBlockWithinData(container, name, blockAlign, dataBytes);
  return { codec: msAdpcmCodec(channels, blockAlign, samplesPerBlock), encoding: "ms_adpcm", bits: 4 };
}
