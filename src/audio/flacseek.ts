/**
 * Seeking in FLAC without a decoder: find the frame that holds a given sample by bisection over
 * the file bytes, recognising frame headers (FLAC format spec, "FRAME_HEADER") by their sync
 * code, field validity and CRC-8, and confirming each with the next frame's header. libFLAC then
 * decodes from that frame when fed a STREAMINFO block followed by the frame bytes, so a read near
 * the end of a long FLAC file costs O(log size) small reads plus one window of decoding.
 */
import type { ByteSource } from "./source.js";

/** Bytes scanned for a frame header from a bisection point (a FLAC frame is rarely > 16 KiB). */
const WINDOW = 1 << 16;

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

/**
 * Parses a frame header at `b[at]` or returns null.
 * @param fixedBlocksize the frames' block size (the first frame's): fixed-blocksize streams number frames, not samples
 */
export function parseFrameHeader(b: Uint8Array, at: number, fixedBlocksize: number): Omit<FlacFrame, "offset"> | null {
  if (at + 6 > b.length || b[at] !== 0xff || (b[at + 1] & 0xfe) !== 0xf8) return null;
  const variable = b[at + 1] & 1;
  const bsCode = b[at + 2] >> 4;
  const srCode = b[at + 2] & 0x0f;
  const chCode = b[at + 3] >> 4;
  const ssCode = (b[at + 3] >> 1) & 7;
  if (bsCode === 0 || srCode === 15 || chCode > 10 || ssCode === 3 || b[at + 3] & 1) return null;
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
  if (bsCode === 1) blocksize = 192;
  else if (bsCode <= 5) blocksize = 576 << (bsCode - 2);
  else if (bsCode === 6) blocksize = b[p++] + 1;
  else if (bsCode === 7) blocksize = ((b[p++] << 8) | b[p++]) + 1;
  else blocksize = 256 << (bsCode - 8);
  if (srCode === 12) p += 1;
  else if (srCode === 13 || srCode === 14) p += 2;
  if (p >= b.length) return null;
  let crc = 0;
  for (let i = at; i < p; i++) crc = CRC8[crc ^ b[i]];
  if (crc !== b[p]) return null;
  const sample = variable ? value : value * fixedBlocksize;
  return { sample, blocksize, headerBytes: p + 1 - at };
}

/**
 * The first frame header at or after `from` that is confirmed by a consistent next header (or by
 * the end of the file), within one window; null if none.
 */
async function frameAfter(src: ByteSource, from: number, fixedBlocksize: number): Promise<FlacFrame | null> {
  const b = await src.read(from, WINDOW);
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
    if (from + b.length >= src.size) return { offset: from + i, ...h }; // the last frame has no successor
  }
  return null;
}

/**
 * A frame whose first sample is ≤ `target`, as close before it as the bisection gets (within
 * one window of bytes), starting from the first audio frame at `firstFrame`.
 */
export async function seekFrame(src: ByteSource, firstFrame: number, target: number, fixedBlocksize: number): Promise<FlacFrame | null> {
  let best = await frameAfter(src, firstFrame, fixedBlocksize);
  if (!best || best.sample > target) return null;
  let hi = src.size;
  while (hi - best.offset > WINDOW) {
    const mid = Math.floor((best.offset + hi) / 2);
    const f = await frameAfter(src, mid, fixedBlocksize);
    if (f && f.sample <= target && f.offset > best.offset) best = f;
    else hi = mid;
  }
  return best;
}

/** Where a FLAC's frames end: the first sample after the last whole frame, and the byte after it. */
export interface FlacEnd {
  sample: number;
  byte: number;
}

/**
 * Where the stream ends by its frames (FlacEnd), found within the file's last window, from its
 * end backwards: the first frame header that closes is the last whole frame. A frame closes when
 * the CRC-16 at its end matches — at the end of the file, at the header found after it, or, when
 * neither, before bytes that are no frame (an ID3v1 or APE tag, padding; libFLAC skips them, and
 * so does soundfile), at the last place it matches there, as a chance match inside the frame is
 * likelier than in the few bytes after it. In a file cut inside its last frame, that frame never
 * closes and the one before it (closing at its header) is the last whole one. A header-like
 * pattern inside the audio data (its CRC-8 passes by chance) closes nowhere, so the real frame
 * holding it is still found behind it. Sample 0 when the window holds every frame from
 * `firstFrame` on and none is whole (cut inside the first); null when no frame is confirmed
 * otherwise (a last frame longer than the window).
 */
export async function lastFrameEnd(src: ByteSource, firstFrame: number, fixedBlocksize: number): Promise<FlacEnd | null> {
  const from = Math.max(0, src.size - WINDOW);
  const b = await src.read(from, src.size - from);
  /**
   * Where bytes from `start` close as a frame by their CRC-16 (its last two bytes): at `next` (the
   * header found after it) or the end of the file, else at the last place they do; −1 if nowhere.
   */
  const closing = (start: number, next: number) => {
    let crc = 0;
    let last = -1;
    for (let j = start; j + 2 < b.length; j++) {
      crc = ((crc << 8) & 0xffff) ^ CRC16[(crc >> 8) ^ b[j]]; // bytes [start, j]; the frame would end at j + 3
      if (crc !== ((b[j + 1] << 8) | b[j + 2])) continue;
      if (j + 3 === next || j + 3 === b.length) return j + 3;
      last = j + 3;
    }
    return last;
  };
  let next = -1; // the header found after the one at i
  for (let i = b.length - 8; i >= 0; i--) {
    if (b[i] !== 0xff) continue;
    const h = parseFrameHeader(b, i, fixedBlocksize);
    if (!h) continue;
    const end = closing(i, next);
    if (end >= 0) return { sample: h.sample + h.blocksize, byte: from + end };
    next = i;
  }
  return from <= firstFrame ? { sample: 0, byte: firstFrame } : null;
}
