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
// Digital Audio Compatibility in Multimedia Systems", 1992).
const IMA_INDEX_ADJUST = new Int8Array([-1, -1, -1, -1, 2, 4, 6, 8, -1, -1, -1, -1, 2, 4, 6, 8]);
const IMA_STEP = new Int32Array([
  7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66, 73, 80, 88, 97, 107,
  118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408, 449, 494, 544, 598, 658, 724, 796, 876, 963,
  1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066, 2272, 2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358, 5894,
  6484, 7132, 7845, 8630, 9493, 10442, 11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794,
  32767,
]);

const clampIndex = (i: number) => (i < 0 ? 0 : i > 88 ? 88 : i);
const clamp16 = (v: number) => (v > 32767 ? 32767 : v < -32768 ? -32768 : v);

/** One IMA step: returns the new predictor; the caller advances the step index with IMA_INDEX_ADJUST. */
function imaStep(predictor: number, index: number, nibble: number): number {
  const step = IMA_STEP[index];
  let diff = step >> 3;
  if (nibble & 1) diff += step >> 2;
  if (nibble & 2) diff += step >> 1;
  if (nibble & 4) diff += step;
  return clamp16(nibble & 8 ? predictor - diff : predictor + diff);
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
        let pred = (bytes[base + 4 * channel] | (bytes[base + 4 * channel + 1] << 8)) << 16 >> 16;
        let index = clampIndex(bytes[base + 4 * channel + 2]);
        out[o] = pred / 32768;
        // Nibble n (0-based, after the header sample) of this channel sits in 4-byte group
        // floor(n/8) of the interleave, byte (n%8)>>1 of that group, low nibble for even n.
        for (let n = 0; n < samplesPerBlock - 1; n++) {
          const byte = bytes[base + 4 * channels + ((n >> 3) * channels + channel) * 4 + ((n & 7) >> 1)];
          const nibble = n & 1 ? byte >> 4 : byte & 0x0f;
          pred = imaStep(pred, index, nibble);
          index = clampIndex(index + IMA_INDEX_ADJUST[nibble]);
          out[o + 1 + n] = pred / 32768;
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
        let pred = ((bytes[base] << 8) | (bytes[base + 1] & 0x80)) << 16 >> 16;
        let index = clampIndex(bytes[base + 1] & 0x7f);
        for (let n = 0; n < 64; n++) {
          const byte = bytes[base + 2 + (n >> 1)];
          const nibble = n & 1 ? byte >> 4 : byte & 0x0f;
          pred = imaStep(pred, index, nibble);
          index = clampIndex(index + IMA_INDEX_ADJUST[nibble]);
          out[b * 64 + n] = pred / 32768;
        }
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
