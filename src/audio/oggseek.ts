/**
 * Ogg pages (RFC 3533) without a decoder: checking the pages a decoder is fed, and seeking. Pages
 * carry a granule position (Vorbis: PCM frame count at the end of the last packet completed on
 * the page; Opus: the same at 48 kHz, pre-skip included), so the page to start from is found by
 * bisection over file bytes. Page headers are recognised by capture pattern, version, stream
 * serial and CRC-32.
 */
import type { ByteSource } from "./source.js";
import { AudioFormatError } from "./types.js";

/** Bytes scanned for a page from a bisection point (an Ogg page is at most 65 307 bytes). */
const WINDOW = 1 << 17;

/** Ogg CRC-32: polynomial 0x04c11db7, MSB first, initial 0, no final xor (RFC 3533 §6). */
const CRC32 = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export interface OggPage {
  /** Absolute byte offset of the page. */
  offset: number;
  /** Page length in bytes, header included. */
  length: number;
  /** Granule position, or -1 when no packet ends on this page. */
  granule: number;
  serial: number;
}

/** The CRC-32 of the `length`-byte page at `b[at]`, its own CRC field counted as zero. */
export function oggPageCrc(b: Uint8Array, at: number, length: number): number {
  let crc = 0;
  for (let i = 0; i < length; i++) {
    const byte = i >= 22 && i < 26 ? 0 : b[at + i];
    crc = ((crc << 8) ^ CRC32[((crc >>> 24) ^ byte) & 0xff]) >>> 0;
  }
  return crc;
}

/** The length of the page whose header is at `b[at]` (capture pattern and version 0), null if the buffer ends first, -1 if no page starts there. */
export function pageLength(b: Uint8Array, at: number): number | null {
  if (at + 27 > b.length) return null;
  if (b[at] !== 0x4f || b[at + 1] !== 0x67 || b[at + 2] !== 0x67 || b[at + 3] !== 0x53 || b[at + 4] !== 0) return -1;
  const segments = b[at + 26];
  if (at + 27 + segments > b.length) return null;
  let length = 27 + segments;
  for (let i = 0; i < segments; i++) length += b[at + 27 + i];
  return at + length > b.length ? null : length;
}

/**
 * Checks the bytes a decoder is fed, page by page: each must start where the one before ended and
 * pass its CRC. The decoder libraries take whatever bytes come and turn a damaged or cut page into
 * wrong samples without a word (one flipped byte: an Opus file off by up to 1.06 everywhere after
 * it), where libsndfile refuses the file or drops the page; here it is an AudioFormatError.
 * Pages must also come in the order of their sequence numbers: a page repeated, dropped or two
 * swapped, each whole and with its CRC, decoded to the audio out of order (off by 1.0). libsndfile
 * 1.2 reads such files without a word; here, as for a failed CRC, they are refused.
 */
export class OggPageCheck {
  /** The start of a page not yet complete, carried over to the next bytes. */
  private carry = new Uint8Array(0);
  /** Sequence number of the last page checked, by stream serial (a seek starts anywhere in it). */
  private readonly sequence = new Map<number, number>();

  /** @param offset the file offset of the first byte to be checked: a page boundary. */
  constructor(private offset: number) {}

  /** The next `bytes` of the file, in order. @throws AudioFormatError at a page that is not one or fails its CRC. */
  check(bytes: Uint8Array): void {
    let b = bytes;
    if (this.carry.length) {
      b = new Uint8Array(this.carry.length + bytes.length);
      b.set(this.carry);
      b.set(bytes, this.carry.length);
    }
    let at = 0;
    for (let length = pageLength(b, at); length !== null; length = pageLength(b, at)) {
      if (length < 0) throw new AudioFormatError(`ogg: corrupt stream: no page starts at byte ${this.offset} where the one before ends`);
      const header = new DataView(b.buffer, b.byteOffset + at, 27);
      if (oggPageCrc(b, at, length) !== header.getUint32(22, true))
        throw new AudioFormatError(`ogg: corrupt stream: the page at byte ${this.offset} fails its checksum`);
      const serial = header.getUint32(14, true), sequence = header.getUint32(18, true);
      const before = this.sequence.get(serial);
      // A page that begins a stream (BOS flag) starts its numbering again: a chained file (`cat a.ogg a.ogg`).
      const begins = (header.getUint8(5) & 0x02) !== 0;
      if (before !== undefined && !begins && sequence !== ((before + 1) >>> 0))
        throw new AudioFormatError(`ogg: corrupt stream: the page at byte ${this.offset} is page ${sequence} of its stream, after page ${before} (a page lost, repeated or out of order)`);
      this.sequence.set(serial, sequence);
      at += length;
      this.offset += length;
    }
    this.carry = b.slice(at);
  }

  /** The end of the file. @throws AudioFormatError if it cut a page short. */
  end(): void {
    if (this.carry.length) throw new AudioFormatError(`ogg: the file ends inside the page at byte ${this.offset} (truncated)`);
  }
}

/** Parses and CRC-checks a page at `b[at]`; null if there is none (or it is cut by the buffer end). */
export function parsePage(b: Uint8Array, at: number): Omit<OggPage, "offset"> | null {
  const length = pageLength(b, at);
  if (length === null || length < 0) return null;
  const v = new DataView(b.buffer, b.byteOffset + at, 27);
  if (oggPageCrc(b, at, length) !== v.getUint32(22, true)) return null;
  const lo = v.getUint32(6, true);
  const hi = v.getInt32(10, true);
  const granule = hi === -1 && lo === 0xffffffff ? -1 : hi * 2 ** 32 + lo;
  return { length, granule, serial: v.getUint32(14, true) };
}

/** The first page of stream `serial` at or after `from` that ends a packet (granule ≥ 0), within one window. */
async function pageAfter(src: ByteSource, from: number, serial: number): Promise<OggPage | null> {
  const b = await src.read(from, WINDOW);
  for (let i = 0; i + 27 <= b.length; i++) {
    if (b[i] !== 0x4f) continue;
    const p = parsePage(b, i);
    if (p && p.serial === serial && p.granule >= 0) return { ...p, offset: from + i };
  }
  return null;
}

/**
 * The last page (as far as bisection over bytes from `firstAudio` resolves, within one window)
 * whose granule is ≤ `granule`; decoding from the page after it starts at or before `granule`.
 */
export async function seekPage(src: ByteSource, firstAudio: number, serial: number, granule: number): Promise<OggPage | null> {
  let best = await pageAfter(src, firstAudio, serial);
  if (!best || best.granule > granule) return null;
  let hi = src.size;
  while (hi - best.offset > WINDOW / 2) {
    const mid = Math.floor((best.offset + hi) / 2);
    const p = await pageAfter(src, mid, serial);
    if (p && p.granule <= granule && p.offset > best.offset) best = p;
    else hi = mid;
  }
  return best;
}
