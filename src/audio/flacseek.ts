/**
 * Seeking in FLAC without a decoder: find the frame that holds a given sample by bisection over
 * the file bytes, recognising frame headers (FLAC format spec, "FRAME_HEADER") by their sync
 * code, field validity and CRC-8, and confirming each with the next frame's header. libFLAC then
 * decodes from that frame (its codes stated, withStatedCodes), so a read near the end of a long
 * FLAC file costs O(log size) small reads plus one window of decoding.
 */
import type { ByteSource } from "./source.js";

/** Bytes scanned for a frame header from a bisection point (a FLAC frame is rarely > 16 KiB). */
const WINDOW = 1 << 16;

/**
 * The bytes the frame searches of a stream read at a time (seekFrame, frameIntact, lastFrameEnd):
 * WINDOW, or two of its longest frames (longestFrame) where that is more, so that a frame and the
 * header after it are found in one read. With WINDOW only, a stream of frames longer than 64 KiB
 * (8 channels of 24-bit noise in frames of 16384: 393 KB) without a frame closing in its last
 * 64 KiB had its last frame ended at a chance match of its CRC-16 (the decoder, fed up to there,
 * lost it) or not found (refused as ending at frame 0), and its seeks found no frame. Memory stays
 * bounded: the decoder takes frames up to DECODER_FRAME_MAX (decoderProblem).
 * @param streaminfo "fLaC" + the STREAMINFO block
 * @param bitsPerSample the frames' depth (Probe.bitsPerSample), which may be more than STREAMINFO's
 * @param blocksize the frames' block size (FlacSeek.blocksize: a fixed-blocksize stream's first frame's, not STREAMINFO's, which nothing checks)
 */
export function searchWindow(streaminfo: Uint8Array, bitsPerSample: number, blocksize: number): number {
  return Math.max(WINDOW, 2 * longestFrame(streaminfo, bitsPerSample, blocksize).bound);
}

/**
 * How long a stream's frames can be. `verbatim`: a frame of `blocksize` samples stored VERBATIM
 * (RFC 9639 §9.2.4), which encoders fall back to where prediction would take more — every channel
 * at a side channel's depth (one bit more, §9.2), each subframe's header with its wasted-bits
 * count, the longest frame header (16 bytes, §9.1), the padding to a byte and the CRC-16.
 * `stated`: STREAMINFO's max frame size (§8.2; 0 is unknown). `bound`: the stated size where it
 * is smaller than the verbatim one — a larger one (up to 0xFFFFFF), which nothing checks, would
 * only make every seek read more, and refuse streams the decoder reads.
 */
function longestFrame(streaminfo: Uint8Array, bitsPerSample: number, blocksize: number): { verbatim: number; stated: number; bound: number } {
  const stated = (streaminfo[15] << 16) | (streaminfo[16] << 8) | streaminfo[17];
  const channels = ((streaminfo[20] >> 1) & 7) + 1;
  const bits = Math.max(bitsPerSample, streaminfoDepth(streaminfo)) + 1;
  const verbatim = 16 + channels * Math.ceil((8 + bits + blocksize * bits) / 8) + 2;
  return { verbatim, stated, bound: Math.min(stated || verbatim, verbatim) };
}

/** STREAMINFO's bits per sample (RFC 9639 §8.2). @param streaminfo "fLaC" + the STREAMINFO block */
function streaminfoDepth(streaminfo: Uint8Array): number {
  return (((streaminfo[20] & 1) << 4) | (streaminfo[21] >> 4)) + 1;
}

/**
 * The longest frame the decoder library takes, bytes: its frame parser (codec-parser) looks for
 * the next frame header within 512 KiB and skips a frame it does not find one in, and the decoder
 * hands libFLAC at most 65535 · 8 bytes at a time (@wasm-audio-decoders/flac).
 */
const DECODER_FRAME_MAX = 65535 * 8;

/** The sample depths the decoder library scales (8, 16 and 24 bits), the ones libsndfile reads too. */
const DECODER_DEPTHS = [8, 16, 24];

/**
 * Why the decoder library cannot be trusted with a stream, or null. Both cases had come out wrong
 * without an error, and libsndfile refuses the first:
 * - A depth other than DECODER_DEPTHS: 4, 10, 12, 17, 20 and 23-bit frames (12 and 20 have their
 *   own header codes) decoded to ±Infinity and NaN, and 32-bit ones not at all (`stream ends at
 *   frame 0`). libsndfile: "unimplemented format".
 * - Frames that may be longer than DECODER_FRAME_MAX, where STREAMINFO does not bound them below
 *   it: the library skips such a frame and goes on with the next — an 8-channel, 24-bit FLAC in
 *   frames of 65535 samples read its last, short frame's samples as sample 0 on. Only streams
 *   outside FLAC's streamable subset (block sizes over 16384) can have such frames; libFLAC writes
 *   the max frame size into the files it encodes, so those it wrote within the limit are read.
 * @param streaminfo "fLaC" + the STREAMINFO block
 * @param bitsPerSample the frames' depth (Probe.bitsPerSample)
 * @param blocksize the frames' block size (FlacSeek.blocksize)
 */
export function decoderProblem(streaminfo: Uint8Array, bitsPerSample: number, blocksize: number): string | null {
  if (!DECODER_DEPTHS.includes(bitsPerSample)) {
    return `flac: ${bitsPerSample}-bit samples are not supported (the decoder reads ${DECODER_DEPTHS.join(", ")}-bit FLAC; libsndfile refuses ${bitsPerSample}-bit FLAC too)`;
  }
  // The bound, not the stated size: a stated size above the verbatim one (0xFFFFFF) bounds nothing, as 0 does.
  const { verbatim, stated, bound } = longestFrame(streaminfo, bitsPerSample, blocksize);
  if (bound <= DECODER_FRAME_MAX) return null;
  if (bound === stated) return `flac: frames of up to ${stated} bytes (STREAMINFO's max frame size) are longer than the ${DECODER_FRAME_MAX} bytes the decoder takes: not supported`;
  return `flac: frames may be up to ${verbatim} bytes (its block size stored verbatim) and STREAMINFO ${stated ? `states none below that (${stated})` : "does not state their max size"}; the decoder takes frames of at most ${DECODER_FRAME_MAX} bytes and would skip longer ones: not supported`;
}

/** CRC-8, polynomial x^8 + x^2 + x + 1 (0x07), initial 0 — the FLAC frame header checksum. */
const CRC8 = (() => {
  const t = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
    t[i] = c;
  }
  return t;
})();

/** CRC-16, polynomial x^16 + x^15 + x^2 + 1 (0x8005), initial 0 — the FLAC frame footer checksum. */
const CRC16 = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x8005) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** The CRC-8 of `b[from, to)` (CRC8: the frame header checksum). */
function crc8(b: Uint8Array, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++) crc = CRC8[crc ^ b[i]];
  return crc;
}

/** The CRC-16 of `b[from, to)` (CRC16: the frame footer checksum). */
function crc16(b: Uint8Array, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++) crc = ((crc << 8) & 0xffff) ^ CRC16[(crc >> 8) ^ b[i]];
  return crc;
}

export interface FlacFrame {
  /** Absolute byte offset of the frame header. */
  offset: number;
  /** Number of the frame's first sample (inter-channel frame index). */
  sample: number;
  /** Samples in this frame. */
  blocksize: number;
  /** Header length in bytes (so the next search can start after it). */
  headerBytes: number;
}

/** A frame header as read (RFC 9639 §9.1), its codes not yet judged (see reservedCode). */
export interface FrameHeaderCodes extends Omit<FlacFrame, "offset"> {
  /** Block size code (§9.1.1; 0 is reserved). */
  blocksizeCode: number;
  /** Sample rate code (§9.1.2; 0: from STREAMINFO, 15 is forbidden). */
  rateCode: number;
  /** The sample rate the header states in Hz: 0 when it takes STREAMINFO's (code 0) or the code is forbidden. */
  rate: number;
  /** Channel assignment code (§9.1.3; 11–15 are reserved). */
  channelCode: number;
  /** Sample size code (§9.1.4; 0: from STREAMINFO, 3 is reserved). */
  sizeCode: number;
}

/** Sample rates of the codes 1–11 (RFC 9639 §9.1.2), index = code. */
const RATES = [0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000];

/**
 * Reads a frame header at `b[at]` — sync code, reserved bit, coded number, uncommon block size
 * and sample rate, CRC-8 (RFC 9639 §9.1) — or returns null; its codes may be reserved.
 * @param fixedBlocksize the frames' block size (the first frame's): fixed-blocksize streams number frames, not samples
 */
export function readFrameHeader(b: Uint8Array, at: number, fixedBlocksize: number): FrameHeaderCodes | null {
  if (at + 6 > b.length || b[at] !== 0xff || (b[at + 1] & 0xfe) !== 0xf8 || b[at + 3] & 1) return null;
  const variable = b[at + 1] & 1;
  const blocksizeCode = b[at + 2] >> 4;
  const rateCode = b[at + 2] & 0x0f;
  // UTF-8-style coded number (up to 7 bytes, 36 bits).
  let p = at + 4;
  const lead = b[p++];
  let extra = 0;
  let value = 0;
  if (lead < 0x80) value = lead;
  else if (lead >= 0xc0 && lead < 0xfe) {
    extra = lead >= 0xfc ? 5 : lead >= 0xf8 ? 4 : lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : 1;
    value = lead & (0x3f >> extra);
  } else if (lead === 0xfe) {
    extra = 6;
    value = 0;
  } else return null;
  if (p + extra + 3 > b.length) return null;
  for (let i = 0; i < extra; i++) {
    const c = b[p++];
    if ((c & 0xc0) !== 0x80) return null;
    value = value * 64 + (c & 0x3f);
  }
  let blocksize: number;
  if (blocksizeCode === 0) blocksize = 0;
  else if (blocksizeCode === 1) blocksize = 192;
  else if (blocksizeCode <= 5) blocksize = 576 << (blocksizeCode - 2);
  else if (blocksizeCode === 6) blocksize = b[p++] + 1;
  else if (blocksizeCode === 7) blocksize = ((b[p++] << 8) | b[p++]) + 1;
  else blocksize = 256 << (blocksizeCode - 8);
  let rate = RATES[rateCode] ?? 0;
  if (rateCode === 12) rate = b[p++] * 1000;
  else if (rateCode === 13) rate = (b[p++] << 8) | b[p++];
  else if (rateCode === 14) rate = ((b[p++] << 8) | b[p++]) * 10;
  if (p >= b.length) return null;
  if (crc8(b, at, p) !== b[p]) return null;
  const sample = variable ? value : value * fixedBlocksize;
  return { sample, blocksize, headerBytes: p + 1 - at, blocksizeCode, rateCode, rate, channelCode: b[at + 3] >> 4, sizeCode: (b[at + 3] >> 1) & 7 };
}

/** The reserved or forbidden code a frame header uses, named with its RFC 9639 section ("sample rate code 0b1111 (§9.1.2)"), or null. */
function reservedCode(h: FrameHeaderCodes): string | null {
  if (h.blocksizeCode === 0) return "block size code 0b0000 (RFC 9639 §9.1.1)";
  if (h.rateCode === 15) return "sample rate code 0b1111 (RFC 9639 §9.1.2)";
  if (h.channelCode > 10) return `channel assignment code 0b${h.channelCode.toString(2)} (RFC 9639 §9.1.3)`;
  if (h.sizeCode === 3) return "sample size code 0b011 (RFC 9639 §9.1.4)";
  return null;
}

/**
 * Parses a frame header at `b[at]` or returns null, also when it uses a reserved code (which no
 * encoder writes: a sync pattern inside the audio data, most likely).
 * @param fixedBlocksize the frames' block size (the first frame's): fixed-blocksize streams number frames, not samples
 */
export function parseFrameHeader(b: Uint8Array, at: number, fixedBlocksize: number): Omit<FlacFrame, "offset"> | null {
  const h = readFrameHeader(b, at, fixedBlocksize);
  return h && !reservedCode(h) ? { sample: h.sample, blocksize: h.blocksize, headerBytes: h.headerBytes } : null;
}

/**
 * Why the frame header at byte `offset` cannot be decoded as part of a stream at `samplerate` Hz
 * (STREAMINFO's), as an error message, or null if it can: a reserved code, or a sample rate
 * that is not STREAMINFO's (code 0 takes STREAMINFO's, RFC 9639 §9.1.2).
 */
export function frameHeaderProblem(h: FrameHeaderCodes, offset: number, samplerate: number): string | null {
  const reserved = reservedCode(h);
  if (reserved) return `flac: the frame at byte ${offset} has ${reserved}, a reserved value`;
  if (h.rateCode !== 0 && h.rate !== samplerate) return `flac: the frame at byte ${offset} states a sample rate of ${h.rate} Hz, STREAMINFO says ${samplerate} Hz`;
  return null;
}

/** Sample size codes (RFC 9639 §9.1.4) by depth. */
const SIZE_CODES: Record<number, number> = { 8: 0b001, 12: 0b010, 16: 0b100, 20: 0b101, 24: 0b110, 32: 0b111 };

/**
 * `frames` (whole frames, header to CRC-16, as the decoder library's frame parser hands them over:
 * one, or at its flush all it holds) with each sample rate or depth a header takes from STREAMINFO
 * (code 0, RFC 9639 §9.1.2 and §9.1.4) stated in the header itself and both checksums recomputed.
 * Returned as they are where the first header states both (the common case, at no cost). From a
 * frame whose bytes no CRC-16 closes on — damaged, or not a frame — the rest is left as it is,
 * for libFLAC to report (never recomputed over the damage).
 *
 * Why: libFLAC without STREAMINFO finds code-0 frames unparseable and skips them, and given
 * STREAMINFO and then frames from the middle of a stream, the decoder library's WebAssembly
 * trapped (memory access out of bounds: 27 of 52 reads of a valid FLAC of 192-sample frames).
 * Stated in the frames, no decoder needs STREAMINFO. The rate a header states does not change the
 * samples libFLAC decodes, and the reader's rate is STREAMINFO's: any fixed code serves, 0b0001.
 * The depth stated is STREAMINFO's (a depth other than the stream's is then refused as a change
 * of depth, Cursor.checkFlac; one STREAMINFO states without a code of its own stays code 0, and
 * the frame unparseable).
 * @param streaminfo "fLaC" + the STREAMINFO block
 */
export function withStatedCodes(frames: Uint8Array, streaminfo: Uint8Array): Uint8Array {
  if (frames.length < 8 || ((frames[2] & 0x0f) !== 0 && (frames[3] & 0x0e) !== 0)) return frames;
  const stated = frames.slice();
  const sizeCode = SIZE_CODES[streaminfoDepth(streaminfo)] ?? 0;
  for (let at = 0; at < stated.length; ) {
    const h = readFrameHeader(stated, at, 1); // (its sample number is not used)
    const end = h ? frameEnd(stated, at, h.headerBytes) : -1;
    if (!h || end < 0) break;
    if (h.rateCode === 0) stated[at + 2] |= 0b0001;
    if (h.sizeCode === 0) stated[at + 3] |= sizeCode << 1;
    stated[at + h.headerBytes - 1] = crc8(stated, at, at + h.headerBytes - 1);
    const crc = crc16(stated, at, end - 2);
    [stated[end - 2], stated[end - 1]] = [crc >> 8, crc & 0xff];
    at = end;
  }
  return stated;
}

/** Where the frame at `b[at]` (its header `headerBytes` long) ends: the first place its CRC-16 closes on that is the end of `b` or a frame header; −1 if none. */
function frameEnd(b: Uint8Array, at: number, headerBytes: number): number {
  for (const end of frameEnds(b, at)) if (end >= at + headerBytes + 2 && (end === b.length || readFrameHeader(b, end, 1))) return end;
  return -1;
}

/**
 * The first frameHeaderProblem among the frames from the one at byte `from` on, within two
 * windows: each frame ends where the CRC-16 of its bytes (RFC 9639 §9.3) is followed by a header,
 * so a header-like pattern inside the audio data is not taken for one. Null if none is found
 * (the frames there are sound, or the next one is not within reach).
 */
export async function frameProblemAfter(src: ByteSource, from: number, samplerate: number): Promise<string | null> {
  const b = await src.read(from, 2 * WINDOW); // `from` may be a window before the frame in question (seekFrame)
  for (let start = 0; ; ) {
    const h = readFrameHeader(b, start, 1);
    if (!h) return null;
    const problem = frameHeaderProblem(h, from + start, samplerate);
    if (problem) return problem;
    const next = frameEnd(b, start, h.headerBytes);
    if (next < 0) return null;
    start = next;
  }
}

/**
 * The offsets in `b` where the bytes from `start` may end a frame: each place whose two bytes
 * before it are the CRC-16 of the bytes from `start` up to them (RFC 9639 §9.3), in order.
 */
function* frameEnds(b: Uint8Array, start: number): Generator<number> {
  let crc = 0;
  for (let j = start; j + 2 < b.length; j++) {
    crc = ((crc << 8) & 0xffff) ^ CRC16[(crc >> 8) ^ b[j]]; // bytes [start, j]; the frame would end at j + 3
    if (crc === ((b[j + 1] << 8) | b[j + 2])) yield j + 3;
  }
}

/**
 * The first frame header at or after `from` that is confirmed by a consistent next header (or by
 * the end of the stream), within `window` bytes; null if none.
 * @param end where the stream's frames end (lastFrameEnd; the file's end where not known)
 * @param window the stream's searchWindow
 */
async function frameAfter(src: ByteSource, from: number, fixedBlocksize: number, end: number, window: number): Promise<FlacFrame | null> {
  const b = await src.read(from, Math.min(window, end - from));
  for (let i = 0; i + 6 <= b.length; i++) {
    if (b[i] !== 0xff) continue;
    const h = parseFrameHeader(b, i, fixedBlocksize);
    if (!h) continue;
    for (let j = i + h.headerBytes; j + 6 <= b.length; j++) {
      if (b[j] !== 0xff) continue;
      const next = parseFrameHeader(b, j, fixedBlocksize);
      if (next) {
        if (next.sample === h.sample + h.blocksize) return { offset: from + i, ...h };
        break; // a false sync before or after: try the next candidate
      }
    }
    if (from + b.length >= end) return { offset: from + i, ...h }; // the last frame has no successor
  }
  return null;
}

/**
 * The frame that holds sample `target`, found by bisection from the first audio frame at
 * `firstFrame` to within `window` bytes, then walked to through the frames after it in those;
 * the last frame before it when the one that holds it cannot be parsed (a reserved code).
 * Null when even the first frame starts after `target`. The search stays before `end`: bytes after
 * the last frame may hold a copy of a frame header (a stray header there was taken for the frame
 * sought, and the read failed or fed the decoder the junk).
 * @param end where the stream's frames end (FlacSeek.dataEnd, lastFrameEnd; the file's end where not known)
 * @param window the stream's searchWindow (FlacSeek.window; WINDOW where not known)
 */
export async function seekFrame(src: ByteSource, firstFrame: number, target: number, fixedBlocksize: number, end = src.size, window = WINDOW): Promise<FlacFrame | null> {
  let best = await frameAfter(src, firstFrame, fixedBlocksize, end, window);
  if (!best || best.sample > target) return null;
  let hi = end;
  while (hi - best.offset > window) {
    const mid = Math.floor((best.offset + hi) / 2);
    const f = await frameAfter(src, mid, fixedBlocksize, end, window);
    if (f && f.sample <= target && f.offset > best.offset) best = f;
    else hi = mid;
  }
  return frameHolding(src, best, target, fixedBlocksize, end, window);
}

/**
 * From `frame` (first sample ≤ `target`) on, the last frame within one window whose first sample
 * is ≤ `target`: each a header whose first sample follows the last of the frame found before, or
 * one further on that the header after it (or the end of the file) confirms, as frameAfter does
 * (past a frame whose header cannot be parsed), so a header-like pattern in the audio data is
 * passed over. The bisection stops up to a window before the frame it looks for, and decoding
 * from there fed the decoder frames the samples asked for do not need: a corrupt one among them
 * failed reads that do not touch it, or — the first frame a decoder is fed, which libFLAC drops
 * without a word — gave wrong samples.
 */
async function frameHolding(src: ByteSource, frame: FlacFrame, target: number, fixedBlocksize: number, end: number, window: number): Promise<FlacFrame> {
  const b = await src.read(frame.offset, Math.min(window, end - frame.offset));
  const headerAt = (from: number) => {
    for (let i = from; i + 6 <= b.length; i++) {
      const h = b[i] === 0xff ? parseFrameHeader(b, i, fixedBlocksize) : null;
      if (h) return { offset: i, ...h };
    }
    return null;
  };
  let found = frame;
  for (let h = headerAt(frame.headerBytes); h && h.sample <= target; h = headerAt(h.offset + 1)) {
    const next = h.sample > found.sample && h.sample !== found.sample + found.blocksize ? headerAt(h.offset + h.headerBytes) : null;
    const last = next === null && frame.offset + b.length === end; // the last frame has no header after it
    if (h.sample === found.sample + found.blocksize || next?.sample === h.sample + h.blocksize || last) found = { ...h, offset: frame.offset + h.offset };
  }
  return found;
}

/**
 * False when the bytes of `frame` are known to be corrupt: their CRC-16 (RFC 9639 §9.3) closes
 * neither at the header of the frame after it (the header whose first sample follows its last;
 * its codes may be reserved) nor, for the last frame, at `dataEnd` (the end of the last whole
 * frame, lastFrameEnd). Not judged (true) when the frame after it is not within `window` bytes.
 * @param window the stream's searchWindow (FlacSeek.window; WINDOW where not known)
 */
export async function frameIntact(src: ByteSource, frame: FlacFrame, dataEnd: number, fixedBlocksize: number, window = WINDOW): Promise<boolean> {
  const b = await src.read(frame.offset, Math.min(window, dataEnd - frame.offset));
  const closesAt = (end: number) => [...frameEnds(b.subarray(0, end), 0)].includes(end);
  let judged = false;
  for (let i = frame.headerBytes; i + 6 <= b.length; i++) {
    if (b[i] !== 0xff || readFrameHeader(b, i, fixedBlocksize)?.sample !== frame.sample + frame.blocksize) continue;
    if (closesAt(i)) return true;
    judged = true; // a header-like pattern in the audio data may come first: the real one may still follow
  }
  if (frame.offset + b.length === dataEnd) return closesAt(b.length);
  return !judged;
}

/** Where a FLAC's frames end: the first sample after the last whole frame, and the byte after it. */
export interface FlacEnd {
  sample: number;
  byte: number;
  /** The last whole frame: its header's byte and first sample (null when no frame is whole). */
  last: { offset: number; sample: number } | null;
}

/** The largest window lastFrameEnd reads at a time, when the file's last window holds no frame. */
const WINDOW_MAX = 1 << 20;

/**
 * Where the stream ends by its frames (FlacEnd), found from the file's end backwards: the first
 * frame header that closes is the last whole frame. A frame closes when the CRC-16 at its end
 * matches — at the end of the file, at the header found after it, or, when neither, before bytes
 * that are no frame (an ID3v1 or APE tag, padding; libFLAC skips them, and so does soundfile), at
 * the last place it matches there, as a chance match inside the frame is likelier than in the few
 * bytes after it. In a file cut inside its last frame, that frame never closes and the one before
 * it (closing at its header) is the last whole one. A header-like pattern inside the audio data
 * (its CRC-8 passes by chance) closes nowhere, so the real frame holding it is still found behind
 * it. Where the last window holds no frame that closes (64 KiB of junk or more after the last
 * frame, or frames longer than that), the bytes before it are searched in windows growing from
 * 64 KiB to 1 MiB, back to `firstFrame` if need be, each read with `window` more after it (where
 * a frame that starts in it ends): memory stays bounded, as for Ogg (oggTail). Sample 0 when no
 * frame from `firstFrame` on is whole (cut inside the first).
 * @param window the stream's searchWindow
 */
export async function lastFrameEnd(src: ByteSource, firstFrame: number, fixedBlocksize: number, window: number): Promise<FlacEnd> {
  for (let end = src.size, size = WINDOW; end > firstFrame; size = Math.min(2 * size, WINDOW_MAX)) {
    const from = Math.max(firstFrame, end - size);
    const found = await lastFrameIn(src, from, end, window, fixedBlocksize);
    if (found) return found;
    end = from;
  }
  return { sample: 0, byte: firstFrame, last: null };
}

/**
 * lastFrameEnd within the frames whose header starts in bytes [`from`, `end`): the last one that
 * closes (its bytes read up to `after` bytes past `end`, or to the end of the file), or null.
 */
async function lastFrameIn(src: ByteSource, from: number, end: number, after: number, fixedBlocksize: number): Promise<FlacEnd | null> {
  const b = await src.read(from, Math.min(src.size, end + after) - from);
  const fileEnd = from + b.length === src.size ? b.length : -1;
  /**
   * Where bytes from `start` close as a frame by their CRC-16 (its last two bytes): at `next` (the
   * header found after it) or the end of the file, else at the last place they do; −1 if nowhere.
   */
  const closing = (start: number, next: number) => {
    let last = -1;
    for (const at of frameEnds(b, start)) {
      if (at === next || at === fileEnd) return at;
      last = at;
    }
    return last;
  };
  let next = -1; // the header found after the one at i
  for (let i = b.length - 8; i >= 0; i--) {
    if (b[i] !== 0xff) continue;
    const h = parseFrameHeader(b, i, fixedBlocksize);
    if (!h) continue;
    const at = i < end - from ? closing(i, next) : -1; // headers past `end` closed nowhere in the window after this one
    if (at >= 0) return { sample: h.sample + h.blocksize, byte: from + at, last: { offset: from + i, sample: h.sample } };
    next = i;
  }
  return null;
}
