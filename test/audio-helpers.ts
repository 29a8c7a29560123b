/** Shared by the audio tests. */
import { expect } from "vitest";
import { AudioFormatError, decode } from "../src/audio/index.js";
import { parseFrameHeader } from "../src/audio/flacseek.js";

/** The AudioFormatError message of decoding `input` whole (fails the test if it decodes, or fails otherwise). */
export async function decodeError(input: string | Uint8Array): Promise<string> {
  try {
    await decode(input);
  } catch (err) {
    expect(err).toBeInstanceOf(AudioFormatError);
    return (err as Error).message;
  }
  throw new Error("decoded without error");
}

/** Ogg page CRC (RFC 3533: polynomial 0x04c11db7, no reflection, initial 0, CRC field as zero), written into the page at `at`. */
export function fixOggCrc(b: Uint8Array, at: number): void {
  let length = 27 + b[at + 26];
  for (let i = 0; i < b[at + 26]; i++) length += b[at + 27 + i];
  b.fill(0, at + 22, at + 26);
  let crc = 0;
  for (let i = 0; i < length; i++) {
    crc ^= b[at + i] << 24;
    for (let k = 0; k < 8; k++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  }
  new DataView(b.buffer, b.byteOffset).setUint32(at + 22, crc >>> 0, true);
}

/** The offsets of an Ogg file's pages, walked by their lengths from byte 0 (a file of whole pages). */
export function oggPageOffsets(b: Uint8Array): number[] {
  const at: number[] = [];
  for (let i = 0; i + 27 <= b.length; ) {
    at.push(i);
    let length = 27 + b[i + 26];
    for (let k = 0; k < b[i + 26]; k++) length += b[i + 27 + k];
    i += length;
  }
  return at;
}

/** A copy of the Ogg file `b` (one logical stream) with every page's serial number `serial`, CRCs recomputed. */
export function withSerial(b: Uint8Array, serial: number): Uint8Array {
  const out = b.slice();
  for (const at of oggPageOffsets(out)) {
    new DataView(out.buffer, out.byteOffset).setUint32(at + 14, serial, true);
    fixOggCrc(out, at);
  }
  return out;
}

/** The first `pages` pages of the Ogg file `b`, the last of them flagged as the end of its stream (EOS): a shorter stream, ending at that page's granule. */
export function oggFirstPages(b: Uint8Array, pages: number): Uint8Array {
  const offsets = oggPageOffsets(b);
  const out = b.slice(0, offsets[pages] ?? b.length);
  out[offsets[pages - 1] + 5] |= 0x04;
  fixOggCrc(out, offsets[pages - 1]);
  return out;
}

/** The byte arrays one after another: `cat a b ...`. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** An Ogg page taken apart: its 27-byte header (segment count, sequence number and CRC are rewritten by joinPages), lacing values and body. */
interface PageParts {
  header: Uint8Array;
  lacing: number[];
  body: Uint8Array;
}

/** The pages of the Ogg file `b` (whole pages from byte 0), taken apart. */
function pagePartsOf(b: Uint8Array): PageParts[] {
  return oggPageOffsets(b).map((at) => {
    const lacing = [...b.subarray(at + 27, at + 27 + b[at + 26])];
    const bodyAt = at + 27 + lacing.length;
    return { header: b.slice(at, at + 27), lacing, body: b.subarray(bodyAt, bodyAt + lacing.reduce((n, l) => n + l, 0)) };
  });
}

/** The pages one after another as a file of one logical stream: segment counts set, pages numbered from 0, CRCs recomputed. */
function joinPages(pages: PageParts[]): Uint8Array {
  pages.forEach((p, sequence) => {
    p.header[26] = p.lacing.length;
    new DataView(p.header.buffer, p.header.byteOffset).setUint32(18, sequence, true);
  });
  const out = concatBytes(...pages.flatMap((p) => [p.header, new Uint8Array(p.lacing), p.body]));
  for (const at of oggPageOffsets(out)) fixOggCrc(out, at);
  return out;
}

/**
 * A copy of the Ogg file `b` (one logical stream) whose packets span pages, as libogg's pager and
 * other encoders write them (libsndfile never does): wherever an audio page's first packet is 255
 * bytes or longer, its first 255-byte segment moves onto the end of the page before, whose last
 * packet then continues on the next page (header type 0x01). The packets, and the ones each page
 * completes — so its granule — stay the same; CRCs are recomputed.
 */
export function withPacketsAcrossPages(b: Uint8Array): Uint8Array {
  const pages = pagePartsOf(b);
  for (let i = 1; i < pages.length; i++) {
    const [before, page] = [pages[i - 1], pages[i]];
    const audio = new DataView(before.header.buffer).getBigInt64(6, true) !== 0n; // header pages have granule 0
    if (audio && !(page.header[5] & 0x01) && page.lacing[0] === 255 && page.lacing.length > 1 && before.lacing.length < 255) {
      before.lacing.push(page.lacing.shift()!);
      before.body = concatBytes(before.body, page.body.subarray(0, 255));
      page.body = page.body.subarray(255);
      page.header[5] |= 0x01;
    }
  }
  return joinPages(pages);
}

/**
 * A copy of the Ogg file `b` (one logical stream of `headerPackets` header packets: Opus 2, Vorbis
 * 3) with its comment header (the second packet) replaced by `comment`, and the header packets
 * after the first laid out again as libogg's pager lays out a long one: one after another on pages
 * of up to 255 lacing values, a page that begins inside a packet flagged as continuing it (header
 * type 0x01), granule position 0 on a page where a packet ends and −1 where none does (RFC 3533
 * §6). The identification page and the audio pages stay as they were, renumbered; CRCs recomputed.
 */
export function withCommentPacket(b: Uint8Array, comment: Uint8Array, headerPackets: number): Uint8Array {
  const pages = pagePartsOf(b);
  const packets: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  let audio = 1; // the index of the first audio page
  for (; packets.length < headerPackets - 1; audio++) {
    const page = pages[audio];
    for (let i = 0, at = 0; i < page.lacing.length; at += page.lacing[i++]) {
      pending.push(page.body.subarray(at, at + page.lacing[i]));
      if (page.lacing[i] < 255) {
        packets.push(concatBytes(...pending));
        pending = [];
      }
    }
  }
  packets[0] = comment;
  const headerPages: PageParts[] = [];
  let page: PageParts | null = null;
  for (const packet of packets) {
    // A packet of n bytes takes floor(n / 255) lacing values of 255 and one below (RFC 3533 §6).
    for (let at = 0; ; at += 255) {
      if (!page) {
        const continues = at > 0;
        page = { header: pages[1].header.slice(), lacing: [], body: new Uint8Array(0) };
        page.header[5] = continues ? 0x01 : 0;
        new DataView(page.header.buffer).setBigInt64(6, -1n, true);
        headerPages.push(page);
      }
      const length = Math.min(255, packet.length - at);
      page.lacing.push(length);
      page.body = concatBytes(page.body, packet.subarray(at, at + length));
      if (length < 255) new DataView(page.header.buffer).setBigInt64(6, 0n, true);
      if (page.lacing.length === 255) page = null;
      if (length < 255) break;
    }
  }
  return joinPages([pages[0], ...headerPages, ...pages.slice(audio)]);
}

/** FLAC's CRC-8 (frame header, polynomial 0x07) or CRC-16 (frame footer, 0x8005) of `b`, MSB first, initial 0 (RFC 9639 §9.1.8, §9.3). */
export function flacCrc(b: Uint8Array, bits: 8 | 16): number {
  const [poly, top, mask] = bits === 8 ? [0x07, 0x80, 0xff] : [0x8005, 0x8000, 0xffff];
  let c = 0;
  for (const v of b) {
    c ^= v << (bits - 8);
    for (let k = 0; k < 8; k++) c = c & top ? ((c << 1) ^ poly) & mask : (c << 1) & mask;
  }
  return c;
}

/**
 * The byte offsets of the frames of the FLAC file `b` (whole, of fixed block size): the first
 * after the metadata blocks, each next one where a header follows bytes whose CRC-16 closes.
 */
export function flacFrameOffsets(b: Uint8Array): number[] {
  let at = 4;
  for (let last = 0; !last; at += 4 + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3])) last = b[at] & 0x80;
  const frames = [at];
  for (let j = at + 2; j + 6 <= b.length; j++) {
    const start = frames[frames.length - 1];
    if (parseFrameHeader(b, j, 1) && flacCrc(b.subarray(start, j - 2), 16) === ((b[j - 2] << 8) | b[j - 1])) frames.push(j);
  }
  return frames;
}

/**
 * A longer FLAC made of the frames of `b` (a fixed-blocksize stream whose frames all hold the
 * first's block size but the last): `count` frames, its full frames repeated in turn and its last
 * frame last, numbered 0 to count − 1 (below 128: one byte, as in `b`), STREAMINFO's total
 * set and its MD5 zeroed (unknown), CRC-8 and CRC-16 computed again. FLAC frames decode each by
 * itself, so its samples are those of the frames of `b` in that order.
 */
export function flacOfFrames(b: Uint8Array, count: number): Uint8Array {
  const offsets = flacFrameOffsets(b);
  const frames = offsets.map((at, k) => b.subarray(at, offsets[k + 1] ?? b.length));
  const full = frames.slice(0, -1);
  const parts = [...Array.from({ length: count - 1 }, (_, n) => full[n % full.length].slice()), frames.at(-1)!.slice()];
  let total = 0;
  parts.forEach((f, n) => {
    const header = parseFrameHeader(f, 0, 1)!;
    total += header.blocksize;
    f[4] = n; // the coded frame number (RFC 9639 §9.1.5)
    f[header.headerBytes - 1] = flacCrc(f.subarray(0, header.headerBytes - 1), 8);
    const crc = flacCrc(f.subarray(0, f.length - 2), 16);
    f.set([crc >> 8, crc & 0xff], f.length - 2);
  });
  const head = b.slice(0, offsets[0]);
  head[21] &= 0xf0; // STREAMINFO: the total's top 4 bits (below 2^32 here), then its 32 low bits
  new DataView(head.buffer).setUint32(22, total);
  head.fill(0, 26, 42); // MD5 of the samples: 0, not known
  return concatBytes(head, ...parts);
}

/**
 * A copy of the FLAC file `b` with the codes of its frame headers edited: `edit` gets each
 * frame's index and its header's bytes 2 (block size and sample rate codes) and 3 (channel
 * assignment, sample size, reserved bit) and may change them, but not the header's length (RFC
 * 9639 §9.1). Each header's CRC-8 and each frame's CRC-16 are computed again.
 */
export function withFrameCodes(b: Uint8Array, edit: (codes: Uint8Array, frame: number) => void): Uint8Array {
  const out = b.slice();
  const frames = flacFrameOffsets(b);
  frames.forEach((at, k) => {
    const headerBytes = parseFrameHeader(b, at, 1)!.headerBytes;
    edit(out.subarray(at + 2, at + 4), k);
    out[at + headerBytes - 1] = flacCrc(out.subarray(at, at + headerBytes - 1), 8);
    const end = frames[k + 1] ?? b.length;
    const crc = flacCrc(out.subarray(at, end - 2), 16);
    out.set([crc >> 8, crc & 0xff], end - 2);
  });
  return out;
}

/**
 * A copy of the Ogg file `b` (one logical stream) whose audio pages' granule positions are `offset`
 * more, as a capture begun `offset` samples into a broadcast keeps the encoder's (pages with
 * granule 0, the headers, and −1, where no packet ends, stay); CRCs recomputed.
 */
export function withGranuleOffset(b: Uint8Array, offset: number): Uint8Array {
  const out = b.slice();
  const v = new DataView(out.buffer, out.byteOffset);
  for (const at of oggPageOffsets(out)) {
    const granule = v.getBigInt64(at + 6, true);
    if (granule > 0n) v.setBigInt64(at + 6, granule + BigInt(offset), true);
    fixOggCrc(out, at);
  }
  return out;
}

/**
 * A FLAC file whose frames hold VERBATIM subframes (RFC 9639 §9.2.4): the samples as they are,
 * as libFLAC stores audio that prediction does not shrink (white noise), so each frame is as long
 * as its frames of that block size get. A fixed-blocksize stream (frames
 * numbered 0 to 127 in one byte each, the last one shorter), each channel coded independently,
 * STREAMINFO with its total and an MD5 of 0 (not known).
 * @param samples the channels' samples, signed integers of `bits` bits, all of one length
 * @param bits sample depth: 8, 16, 24 or 32 (whole bytes, so no subframe needs padding)
 * @param blocksize samples per frame, 16 to 65535 (written as an uncommon block size, §9.1.6)
 * @param statesMaxFrame whether STREAMINFO states its max frame size (else 0, unknown, as streaming encoders write)
 * @param variable a variable-blocksize stream instead: the frames' sizes (summing to the samples'
 *   length; `blocksize` is then only STREAMINFO's max) and the first frame numbered by its sample,
 *   coded as UTF-8 is (§9.1.5, the variable blocking bit set) — the frames before it fixed-blocksize
 *   ones, numbered by frame (a stream whose blocking strategy changes, which §9.1 forbids)
 * @param statedBlockSizes the min and max block size STREAMINFO states instead of the true ones
 *   (a stream whose STREAMINFO is false, as some encoders write it)
 */
export function verbatimFlac(samples: Int32Array[], samplerate: number, bits: 8 | 16 | 24 | 32, blocksize: number, statesMaxFrame: boolean, variable?: { sizes: number[]; from: number }, statedBlockSizes?: [number, number]): Uint8Array {
  const channels = samples.length;
  const total = samples[0].length;
  const bytes = bits / 8;
  const sizes = variable?.sizes ?? Array.from({ length: Math.ceil(total / blocksize) }, (_, n) => Math.min(blocksize, total - n * blocksize));
  if (sizes.length > 128) throw new RangeError(`verbatimFlac writes up to 128 frames, got ${sizes.length}`);
  const frames: Uint8Array[] = [];
  for (let n = 0, start = 0; start < total; start += sizes[n++]) {
    const size = sizes[n];
    const byVariable = variable !== undefined && n >= variable.from;
    const number = utf8Coded(byVariable ? start : n);
    const headerBytes = 4 + number.length + 2 + 1; // the frame or sample number (§9.1.5), the block size − 1 in two, CRC-8
    const f = new Uint8Array(headerBytes + channels * (1 + size * bytes) + 2);
    const v = new DataView(f.buffer);
    // Sync code and blocking strategy; block size code 7 (16 bits at the header's end), sample
    // rate from STREAMINFO (code 0); channels independent; sample size code for `bits` (§9.1.4).
    f.set([0xff, byVariable ? 0xf9 : 0xf8, 0x70, ((channels - 1) << 4) | ({ 8: 1, 16: 4, 24: 6, 32: 7 }[bits] << 1), ...number]);
    v.setUint16(4 + number.length, size - 1);
    f[headerBytes - 1] = flacCrc(f.subarray(0, headerBytes - 1), 8);
    let at = headerBytes;
    for (const channel of samples) {
      f[at++] = 0b0000_0010; // subframe header: padding bit, type 000001 (verbatim), no wasted bits (§9.2.1)
      for (let i = start; i < start + size; i++, at += bytes) for (let k = 0; k < bytes; k++) f[at + k] = channel[i] >> (8 * (bytes - 1 - k)); // big-endian, two's complement
    }
    v.setUint16(at, flacCrc(f.subarray(0, at), 16));
    frames.push(f);
  }
  const head = new Uint8Array(42);
  const h = new DataView(head.buffer);
  head.set([0x66, 0x4c, 0x61, 0x43, 0x80, 0, 0, 34]); // "fLaC", then STREAMINFO, the last metadata block, of 34 bytes (§8.1, §8.2)
  h.setUint16(8, statedBlockSizes?.[0] ?? (variable ? Math.min(...sizes.slice(0, -1)) : blocksize)); // min block size (the last frame may be shorter: §8.2 allows it)
  h.setUint16(10, statedBlockSizes?.[1] ?? blocksize);
  if (statesMaxFrame) {
    // Min and max frame size, 24 bits each at bytes 12 and 15 (each below 2^24 here).
    const lengths = frames.map((f) => f.length);
    for (const [at, x] of [[12, Math.min(...lengths)], [15, Math.max(...lengths)]]) head.set([x >> 16, (x >> 8) & 0xff, x & 0xff], at);
  }
  // Sample rate (20 bits), channels − 1 (3), bits − 1 (5), total samples (36, below 2^32 here).
  h.setUint32(18, (samplerate << 12) | ((channels - 1) << 9) | ((bits - 1) << 4));
  h.setUint32(22, total);
  return concatBytes(head, ...frames);
}

/** A frame or sample number of a FLAC frame header, coded as UTF-8 codes a character, extended to 36 bits (RFC 9639 §9.1.5). */
function utf8Coded(n: number): number[] {
  if (n < 0x80) return [n];
  let more = 1; // continuation bytes, 6 bits each; the first byte holds 6 − more
  while (n >= 2 ** (5 * more + 1)) more++;
  const tail = Array.from({ length: more }, (_, i) => 0x80 | (Math.floor(n / 2 ** (6 * (more - 1 - i))) & 0x3f));
  return [((0xff << (7 - more)) & 0xff) | Math.floor(n / 2 ** (6 * more)), ...tail];
}
