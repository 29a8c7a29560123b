/**
 * Ogg pages (RFC 3533) without a decoder: checking the pages a decoder is fed, seeking, and
 * finding the links of a chained file. Pages carry a granule position (Vorbis: PCM frame count at
 * the end of the last packet completed on the page; Opus: the same at 48 kHz, pre-skip included),
 * so the page to start from is found by bisection over file bytes. Page headers are recognised by
 * capture pattern, version, stream serial and CRC-32.
 *
 * A chained file (RFC 3533 §4: `cat a.ogg b.ogg`) is links one after another, each a whole logical
 * stream with its own serial number whose granules count from 0. Its links are found by bisection
 * over serial numbers (chainLinks); links that share a serial number (`cat a.ogg a.ogg`, against
 * the RFC) cannot be told apart that way, and are refused wherever a page shows them — a page
 * that begins a stream where none begins (OggPageCheck, chainLinks, the open's look at the file's
 * end, oggTail), or pages out of order under a seek's bisection (seekPage).
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
  /** The granule position exactly where `granule`, a double, cannot hold it (past ±2^53): what messages say (granuleSaid). */
  granuleExact?: bigint;
  serial: number;
  /** Page sequence number within its logical stream. */
  sequence: number;
  /** Header type flags: the page begins (BOS) or ends (EOS) its logical stream. */
  bos: boolean;
  eos: boolean;
  /** Header type flag 0x01: the page's first packet continues one begun on the page before (RFC 3533 §6). */
  continued: boolean;
  /** Packets that end on this page: its lacing values below 255 (RFC 3533 §6). */
  packets: number;
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
  /** Whether the last page checked, by stream serial, ended inside a packet (its last lacing value 255): one the next page continues. */
  private readonly pending = new Map<number, boolean>();

  /**
   * @param offset     the file offset of the first byte to be checked: a page boundary.
   * @param linkStarts where the file's links begin (chainLinks; {0} for a file of one stream): a
   *   page that begins a stream anywhere else is refused (streamBeginsElsewhere).
   */
  constructor(private offset: number, private readonly linkStarts: ReadonlySet<number> = FIRST_LINK) {}

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
      // A page that begins a stream (BOS flag) starts its numbering again: the next link of a chained file.
      const begins = (header.getUint8(5) & 0x02) !== 0;
      if (begins && !this.linkStarts.has(this.offset)) throw streamBeginsElsewhere(this.offset, serial, sequence, before);
      if (before !== undefined && !begins && sequence !== ((before + 1) >>> 0)) throw pageOutOfSequence(this.offset, sequence, before);
      this.sequence.set(serial, sequence);
      this.checkContinued(b, at, serial);
      at += length;
      this.offset += length;
    }
    this.carry = b.slice(at);
  }

  /**
   * A page (at b[at], of stream `serial`) flagged as continuing a packet (0x01) where the page
   * before it ended its packets: the decoders' page parsers drop the segments they cannot join to
   * anything, so a packet was lost with no error (the Opus fixture so flagged decoded to 15736
   * frames of its 16000, exit 0); libsndfile refuses such a file. Only where the page before was
   * checked here (a seek starts with none).
   */
  private checkContinued(b: Uint8Array, at: number, serial: number): void {
    const segments = b[at + 26];
    if ((b[at + 5] & 0x01) !== 0 && this.pending.get(serial) === false)
      throw new AudioFormatError(`ogg: corrupt stream: the page at byte ${this.offset} is flagged as continuing a packet from the page before, which ended its packets (RFC 3533 §6: a packet lost?)`);
    if (segments > 0) this.pending.set(serial, b[at + 27 + segments - 1] === 255);
  }

  /**
   * The end of the file. @throws AudioFormatError if it cut a page short — or the page there is
   * damaged: whole pages begin inside the length it states (a wrong segment count), so it fails
   * its checksum, as where the damage leaves it within the file.
   */
  end(): void {
    if (!this.carry.length) return;
    if (!pagesIn(this.carry.subarray(1), 0).next().done) throw new AudioFormatError(`ogg: corrupt stream: the page at byte ${this.offset} fails its checksum`);
    throw new AudioFormatError(`ogg: the file ends inside the page at byte ${this.offset} (truncated)`);
  }
}

/** The error for the page at byte `at`, page `sequence` of its stream, after its page `before`: not the next. */
function pageOutOfSequence(at: number, sequence: number, before: number): AudioFormatError {
  return new AudioFormatError(`ogg: corrupt stream: the page at byte ${at} is page ${sequence} of its stream, after page ${before} (a page lost, repeated or out of order)`);
}

/** The bytes of the page at byte `at` (its header first, then the whole page: two small reads); fewer where the file ends first. */
export async function readPage(src: ByteSource, at: number): Promise<Uint8Array> {
  const header = await src.read(at, 27 + 255);
  const lacing = header.subarray(27, 27 + header[26]);
  return src.read(at, 27 + lacing.length + lacing.reduce((n, l) => n + l, 0));
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
  const flags = v.getUint8(5);
  let packets = 0;
  for (let i = 0; i < b[at + 26]; i++) if (b[at + 27 + i] < 255) packets++;
  const page: Omit<OggPage, "offset"> = { length, granule, serial: v.getUint32(14, true), sequence: v.getUint32(18, true), bos: (flags & 0x02) !== 0, eos: (flags & 0x04) !== 0, continued: (flags & 0x01) !== 0, packets };
  if (!Number.isSafeInteger(granule)) page.granuleExact = v.getBigInt64(6, true);
  return page;
}

/**
 * A page's granule position as messages say it: exactly, a 64-bit integer — a double said 2^62 + 1
 * as 4611686018427388000.
 */
export function granuleSaid(p: Pick<OggPage, "granule" | "granuleExact">): string {
  return String(p.granuleExact ?? p.granule);
}

/** Where a file of one logical stream (or a chain's first link) begins. */
const FIRST_LINK: ReadonlySet<number> = new Set([0]);

/**
 * The error for a stream (serial number `serial`) that begins at byte `at` where no link was found
 * to begin: a chained file whose links share a serial number (`cat a.ogg a.ogg`). RFC 3533
 * §4 gives every link its own; without one, where the links begin cannot be found by bisection,
 * only by reading every page, so such a file is refused where this shows rather than read with
 * the length of its last link and its links' audio mixed up by seeks.
 */
function linksShareSerial(at: number, serial: number): AudioFormatError {
  return new AudioFormatError(`ogg: a new stream (serial number ${serial}) begins at byte ${at}: a chained file whose links share serial numbers (as \`cat a.ogg a.ogg\` makes) is not supported — RFC 3533 gives each link its own, without which the links can be told apart only by reading the whole file; split the file at byte ${at}, or give each link its own serial number`);
}

/**
 * The error for a page (page `sequence` of the stream with serial number `serial`) that begins a
 * stream at byte `at`, where no link begins. `before`: the number of the last page of that serial
 * before it, if any. Only a stream that starts its numbering again under a serial number already
 * met is a chained file whose links share one (linksShareSerial); a stream of a serial not met
 * before begins alongside another (multiplexed streams), and a page that continues its stream's
 * numbering has a damaged BOS flag.
 */
export function streamBeginsElsewhere(at: number, serial: number, sequence: number, before: number | undefined): AudioFormatError {
  if (before !== undefined && sequence !== ((before + 1) >>> 0)) return linksShareSerial(at, serial);
  return new AudioFormatError(`ogg: the page at byte ${at} begins a stream (serial number ${serial}) where no link begins (multiplexed streams, or a damaged file)`);
}

/**
 * The granule position the page `p` at byte `at` states for its stream's length: its own, or -1
 * where no packet ends on it. `before`: the last such granule of its stream before it (-1: none).
 * @throws AudioFormatError for a page on which packets end that states -1 or another negative
 *   granule (RFC 3533 §6 keeps -1 for pages on which none ends), or one less than `before`
 *   (granule positions never decrease). Taken as they were, the first was skipped as a page with
 *   no position and the stream ended at the page before (a Vorbis file of 16000 frames read 13440,
 *   an Opus one was called truncated after its headers); the second cut the stream there (1 frame).
 *   An end-of-stream page below `before` is end trimming (RFC 7845 §4.5, Vorbis I spec A.2) that
 *   reaches back into the pages before it: the stream ends at its granule, as libsndfile reads it
 *   (SPEC: decode as soundfile.read gives it) — libopusfile drops that page's audio instead (the
 *   length of the page before), libvorbisfile trims no more than its last block holds.
 */
export function lengthGranule(p: Omit<OggPage, "offset">, at: number, before: number): number {
  if (p.granule < 0 && p.packets > 0)
    throw new AudioFormatError(`ogg: corrupt stream: the page at byte ${at} ends ${p.packets === 1 ? "a packet" : `${p.packets} packets`} but states granule position ${granuleSaid(p)} (-1 only where no packet ends, RFC 3533 §6): the stream's length cannot be told`);
  if (p.granule >= 0 && p.granule < before && !p.eos)
    throw new AudioFormatError(`ogg: corrupt stream: the page at byte ${at} states granule position ${granuleSaid(p)}, less than the ${before} a page before it states (granule positions never decrease): the stream's length cannot be told`);
  return p.granule < 0 ? before : p.granule;
}

/**
 * Where the page `p` is end trimming into the pages before it — an end-of-stream page whose granule
 * position is less than `before`, the last one a page of its stream before it states
 * (lengthGranule) —: `before`, which oggFrames weighs against where the audio begins (trimming all
 * of it away is a corrupt granule, not a stream of no frames). Undefined for any other page.
 */
export function endTrimmedFrom(p: Omit<OggPage, "offset">, before: number): number | undefined {
  return p.eos && p.granule >= 0 && p.granule < before ? before : undefined;
}

/**
 * The error for pages of one serial number out of order under a bisection: page `later` at a
 * greater offset numbered before page `earlier`. Within one stream the numbers only grow; so it is
 * a chained file whose links share a serial number (linksShareSerial), or a damaged one.
 */
function pagesOutOfOrder(earlier: OggPage, later: OggPage): AudioFormatError {
  return new AudioFormatError(`ogg: the page at byte ${later.offset} is page ${later.sequence} of the stream with serial number ${later.serial}, the page at byte ${earlier.offset} page ${earlier.sequence}: links of a chained file that share a serial number (as \`cat a.ogg a.ogg\` makes, not supported: split the file, or give the links distinct serial numbers), or a damaged file`);
}

/**
 * The pages (whole, passing their CRC) that start in `b`, the file's bytes from offset `from`, in
 * order: a scan for the capture pattern, so a page inside another one's data counts too.
 */
function* pagesIn(b: Uint8Array, from: number): Generator<OggPage> {
  for (let i = 0; i + 27 <= b.length; i++) {
    if (b[i] !== 0x4f) continue;
    const p = parsePage(b, i);
    if (p) yield { ...p, offset: from + i };
  }
}

/** The longest Ogg page: a 27-byte header, 255 lacing values, 255 segments of 255 bytes (RFC 3533 §6). */
export const MAX_PAGE = 27 + 255 + 255 * 255;

/**
 * Whether `page`, found `distance` bytes after `ref` (both whole and passing their CRC), continues
 * ref's stream across damaged bytes between them: the same serial number and a later page number,
 * later by no more pages than fit in between (each at least 27 bytes, RFC 3533 §6). A page of the
 * file after a damaged one (a wrong segment count gives it a wrong length, so the page after it
 * does not start where it ends) does; a stale copy of a page in junk after the last one (its
 * number not later), or a page of another stream, does not.
 */
export function continuesStream(ref: Omit<OggPage, "offset">, page: Omit<OggPage, "offset">, distance: number): boolean {
  const later = page.sequence - ref.sequence;
  return page.serial === ref.serial && later > 0 && later <= Math.floor(distance / 27);
}

/**
 * The first page (whole, passing its CRC) that starts in `b` at an index in [`from`, `to`) and
 * belongs to the file's pages: a run of pages, each starting where the one before ends (by its
 * length; a page that fails its CRC still links the run), that begins at byte 0 of the file, or
 * within b's first MAX_PAGE bytes when b begins later (`offset`: b's offset in the file), where a
 * page before it may have begun before b. Where the run breaks (a damaged page, its length wrong),
 * it goes on at the next page that continues the stream of its last page passing the CRC
 * (continuesStream). A page that follows bytes which are no page — junk after the file's last
 * page, and in it a page with a valid CRC (a stale or forged copy) — is none of the file's, nor
 * are the pages that follow it. Null if there is none. Memory: b's page starts.
 */
export function firstFilePage(b: Uint8Array, offset: number, from: number, to: number): OggPage | null {
  const linked = new Set<number>(); // indices where a page of the file's runs ends
  const starts: number[] = []; // indices where a page of the file's runs starts, in order
  for (let i = 0; i < to && i + 27 <= b.length; i++) {
    if (b[i] !== 0x4f) continue;
    const length = pageLength(b, i);
    if (length === null || length < 0) continue;
    let ofFile = linked.has(i) || offset + i === 0 || (offset > 0 && i < MAX_PAGE);
    let page: Omit<OggPage, "offset"> | null | undefined;
    if (!ofFile && starts.length) {
      page = parsePage(b, i);
      ofFile = page !== null && continuesLastValid(b, starts, page, i);
    }
    if (!ofFile) continue;
    linked.add(i + length);
    starts.push(i);
    if (i < from) continue;
    page ??= parsePage(b, i);
    if (page) return { ...page, offset: offset + i };
  }
  return null;
}

/** Whether `page` at `b[at]` continues the stream of the last page at `starts` (indices in b, before `at`) that passes its CRC (continuesStream). */
function continuesLastValid(b: Uint8Array, starts: readonly number[], page: Omit<OggPage, "offset">, at: number): boolean {
  for (let k = starts.length - 1; k >= 0; k--) {
    const ref = parsePage(b, starts[k]);
    if (ref) return continuesStream(ref, page, at - starts[k]);
  }
  return false;
}

/** Bytes a probe of chainLinks reads first: pages are mostly a few KiB (a window when none is whole in it). */
const PROBE = 1 << 15;

/** The first page (passing its CRC) at or after `from` within one window, of any stream; null if none. */
async function pageFrom(src: ByteSource, from: number): Promise<OggPage | null> {
  for (const size of [PROBE, WINDOW]) {
    const b = await src.read(from, size);
    for (const p of pagesIn(b, from)) return p;
    if (from + b.length >= src.size) break;
  }
  return null;
}

/**
 * Whether the page at `b[at]` (parsed) ends with the end of a packet: its last lacing value is < 255
 * (RFC 3533 §5). One that ends inside a packet, which continues on the next page, has a granule
 * like any other (the end of the last packet it completes), but decoding cannot start after it.
 */
function endsOnPacketEnd(b: Uint8Array, at: number): boolean {
  const segments = b[at + 26];
  return segments > 0 && b[at + 27 + segments - 1] < 255;
}

/**
 * The first page of stream `serial` before `end`, at or after `from`, that ends a packet (granule
 * ≥ 0) and with one, within one window: decoding from the page after it starts on a whole packet.
 * A page whose last packet goes on to the next one (libogg's pager and other encoders write them,
 * libsndfile never does) had been taken too, and a seek fed the decoder the rest of a packet
 * without its start: Opus reads up to 0.41 off, Vorbis reads refused as a corrupt stream.
 */
async function pageAfter(src: ByteSource, from: number, serial: number, end: number): Promise<OggPage | null> {
  const b = await src.read(from, Math.min(WINDOW, end - from));
  for (const p of pagesIn(b, from)) if (p.serial === serial && p.granule >= 0 && endsOnPacketEnd(b, p.offset - from)) return p;
  return null;
}

/**
 * The last page (as far as bisection over bytes from `firstAudio` to `end`, the end of the link,
 * resolves, within one window) whose granule is ≤ `granule` and that ends with the end of a packet
 * (pageAfter); decoding from the page after it starts on a whole packet at or before `granule`.
 * @throws AudioFormatError where the pages it meets are out of order for one stream (a page that
 *   begins a stream, or numbers that fall as the offset grows): links that share a serial number.
 */
export async function seekPage(src: ByteSource, firstAudio: number, end: number, serial: number, granule: number): Promise<OggPage | null> {
  let best = await pageAfter(src, firstAudio, serial, end);
  if (!best || best.granule > granule) return null;
  let above: OggPage | null = null; // the first page met past the target, for the order check
  let hi = end;
  while (hi - best.offset > WINDOW / 2) {
    const mid = Math.floor((best.offset + hi) / 2);
    const p = await pageAfter(src, mid, serial, end);
    if (p) {
      if (p.bos) throw linksShareSerial(p.offset, serial);
      if (p.offset > best.offset && p.sequence <= best.sequence) throw pagesOutOfOrder(best, p);
      if (above && p.offset < above.offset && p.sequence >= above.sequence) throw pagesOutOfOrder(p, above);
    }
    if (p && p.granule <= granule && p.offset > best.offset) best = p;
    else {
      if (p && p.offset < hi && (!above || p.offset < above.offset)) above = p;
      hi = mid;
    }
  }
  return best;
}

/** One link of an Ogg file: a logical stream's pages, from its first (BOS) page to its last. */
export interface OggLinkBounds {
  /** Byte offset of its first page (its BOS page). */
  start: number;
  /** Byte offset after its last page: the next link's start, or the end of the file. */
  end: number;
  serial: number;
  /** Granule position of its last page that ends a packet (Vorbis: its frames; Opus: 48 kHz samples, pre-skip included). */
  granule: number;
  /** That page's granule position exactly where `granule` cannot hold it (OggPage.granuleExact). */
  granuleExact?: bigint;
  /** Where its last page is end trimming into the pages before it (endTrimmedFrom): the granule position a page before it states. */
  trimmedFrom?: number;
  /** Where its header pages end (firstAudioPage), null if not found early. */
  headers: HeaderPages | null;
}

/**
 * More links than this are refused: each costs reads at open and, decoding, a decoder of its own
 * (~3 ms). Real chained files — stream captures, a link per track — have tens to hundreds.
 */
export const MAX_LINKS = 4096;

/** Header pages (identification, comments — cover art makes them long —, Vorbis setup) walked for a stream's first audio page, at most. */
const MAX_HEADER_PAGES = 1000;
/** Largest Ogg header kept for seeking; beyond it reads restart instead. */
const MAX_HEADER_BYTES = 16 << 20;

/** The page at byte offset `at`; null where none is whole there and passes its CRC. */
export type PageAt = (at: number) => Promise<Omit<OggPage, "offset"> | null>;

/** Where a stream's header pages end (firstAudioPage). */
export interface HeaderPages {
  /** Byte offset of its first audio page. */
  firstAudio: number;
  /** Byte offset of the page where its header packet before the last ends: the last one (Vorbis: the setup header) lies in the bytes from there to firstAudio. */
  lastFrom: number;
}

/**
 * Where the audio of the stream `serial` whose BOS page is at `start` begins: the page after the
 * one where its `headerPackets` header packets end (Opus 2, RFC 7845 §3; Vorbis 3, Vorbis I spec
 * appendix A, "Embedding Vorbis into an Ogg stream" — both have the first audio packet begin a page), its pages (before `end`) read by
 * `pageAt`. Not "the first page whose granule is not 0": a comment header that spans pages (cover
 * art) has granule −1 on the pages where no packet ends (RFC 3533 §6), and was taken for audio.
 * Null if not found within MAX_HEADER_PAGES pages and MAX_HEADER_BYTES, before a page of another
 * stream, or where the page that ends the headers holds audio packets too (against both specs).
 * @throws AudioFormatError at a page after `start` that begins a stream (streamBeginsElsewhere),
 *   or whose number does not follow the page before it's (as OggPageCheck): an Opus decoder is fed
 *   a stand-in for the header pages (OggSeek.opusHeaders), so nothing else checks their order, and
 *   a first page numbered 2^31 had failed in the decoder library ("Cannot read properties of null").
 */
export async function firstAudioPage(pageAt: PageAt, start: number, end: number, serial: number, headerPackets: number): Promise<HeaderPages | null> {
  let before: number | undefined;
  let packets = 0;
  let lastFrom = start;
  for (let pos = start, n = 0; n < MAX_HEADER_PAGES && pos - start < MAX_HEADER_BYTES && pos < end; n++) {
    const page = await pageAt(pos);
    if (!page) return null;
    if (n > 0 && page.bos) throw streamBeginsElsewhere(pos, page.serial, page.sequence, page.serial === serial ? before : undefined);
    if (page.serial !== serial) return null;
    if (before !== undefined && page.sequence !== ((before + 1) >>> 0)) throw pageOutOfSequence(pos, page.sequence, before);
    if (packets < headerPackets - 1) lastFrom = pos;
    packets += page.packets;
    before = page.sequence;
    pos += page.length;
    if (packets >= headerPackets) return packets === headerPackets ? { firstAudio: pos, lastFrom } : null;
  }
  return null;
}

/**
 * The links of a chained Ogg file (RFC 3533 §4), in order, found without reading the whole file:
 * from each link's BOS page, the pages of one window are walked (a short link ends there); beyond
 * it, the link's last page is found by galloping then bisecting on the serial number — the pages
 * of a link carry its serial, those of the links after it others — and the pages around it walked.
 * O(log of its size) reads of a window per link; the walks (the link's header pages too, for
 * firstAudioPage) go through one window of the file, read again only where a page leaves it.
 * `pagesEnd`: the end of the file's last whole page (oggTail). The last link ends there, and is
 * given the bytes after it — a page cut short, or junk — which decoding reports where it gets
 * there (OggPageCheck), as for a file of one stream; its granule is then its last whole page's.
 * @throws AudioFormatError where the pages are not a chain of whole streams: a page that is not
 *   one or fails its CRC on the walks, a stream that begins again with the serial number of the one
 *   before (linksShareSerial) or reuses an earlier link's, streams multiplexed (grouped) rather
 *   than chained, a link with no page that ends a packet.
 */
export async function* chainLinks(src: ByteSource, pagesEnd: number, headerPackets: number): AsyncGenerator<OggLinkBounds> {
  const walker = new PageWalker(src);
  const serials = new Map<number, number>();
  for (let start = 0; start < pagesEnd; ) {
    if (serials.size === MAX_LINKS) throw new AudioFormatError(`ogg: more than ${MAX_LINKS} chained streams (links), the link at byte ${start} the first past them: not supported`);
    const first = await walker.page(start);
    if (start > 0 && !first.bos)
      throw new AudioFormatError(`ogg: the page at byte ${start} (serial number ${first.serial}) neither continues the stream before it nor begins a new one (multiplexed streams, or a damaged file)`);
    const earlier = serials.get(first.serial);
    if (earlier !== undefined)
      throw new AudioFormatError(`ogg: the stream that begins at byte ${start} has serial number ${first.serial}, as the one that began at byte ${earlier}: RFC 3533 gives each link of a chained file its own, without which where the links begin cannot be found (split the file at byte ${start})`);
    serials.set(first.serial, start);
    const { end, granule, granuleExact, trimmedFrom } = await linkEnd(src, walker, first, pagesEnd);
    if (end === start + first.length && !first.eos && end < pagesEnd && (await walker.page(end)).bos)
      throw new AudioFormatError(`ogg: the stream at byte ${end} begins alongside the one at byte ${start} (multiplexed, "grouped" streams, RFC 3533 §4): not supported, only one audio stream or a chain of them`);
    if (granule < 0) throw new AudioFormatError(`ogg: no page of the stream that begins at byte ${start} ends a packet (corrupt stream?)`);
    const headers = await firstAudioPage((at) => walker.page(at), start, end, first.serial, headerPackets);
    yield { start, end: end < pagesEnd ? end : src.size, serial: first.serial, granule, granuleExact, trimmedFrom, headers };
    start = end;
  }
}

/**
 * Where the link whose BOS page is `first` ends, its last granule and whether its last page is end
 * trimming (see chainLinks, OggLinkBounds). Pages found by the bisection must number up from the
 * ones before (pagesOutOfOrder) and never begin a stream.
 */
async function linkEnd(src: ByteSource, walker: PageWalker, first: OggPage, pagesEnd: number): Promise<Pick<OggLinkBounds, "end" | "granule" | "granuleExact" | "trimmedFrom">> {
  const serial = first.serial;
  let last = first; // the last page known to be of this link
  let granule = first.granule; // of the last page that ends a packet (-1: none yet)
  let granuleExact = first.granuleExact; // its exact value, where granule cannot hold it
  let trimmedFrom: number | undefined; // endTrimmedFrom of that page
  /** Walks the pages from `last` on while they are this link's and start before `limit`; true when a page of another stream, or the end of the pages, is reached. */
  const walk = async (limit: number): Promise<boolean> => {
    for (let at = last.offset; ; ) {
      if (at >= pagesEnd) return true;
      if (at >= limit) return false;
      const p = await walker.page(at);
      if (p.serial !== serial) return true;
      if (p.offset !== first.offset) accept(p);
      at += p.length;
    }
  };
  /** A page of this link found after its first: checked, and the last one and the last granule moved on to it. */
  const accept = (p: OggPage) => {
    if (p.bos) throw linksShareSerial(p.offset, serial);
    if (p.offset > last.offset && p.sequence <= last.sequence) throw pagesOutOfOrder(last, p);
    if (p.offset > last.offset) {
      last = p;
      if (p.granule >= 0) trimmedFrom = endTrimmedFrom(p, granule);
    }
    granule = lengthGranule(p, p.offset, granule);
    if (p.granule >= 0) granuleExact = p.granuleExact;
  };
  if (!(await walk(first.offset + WINDOW))) {
    // Gallop: probes twice as far each time until one finds a page of another stream (or none).
    let hi = pagesEnd;
    for (let step = WINDOW; last.offset + step < hi; step *= 2) {
      const p = await pageFrom(src, last.offset + step);
      if (!p || p.serial !== serial) {
        hi = last.offset + step;
        break;
      }
      accept(p);
    }
    // Bisect between the last page known to be this link's and the first offset known to be past it.
    while (hi - last.offset > WINDOW / 2) {
      const mid = last.offset + Math.floor((hi - last.offset) / 2);
      const p = await pageFrom(src, mid);
      if (p && p.serial === serial && p.offset < hi) {
        accept(p);
      } else hi = mid;
    }
    await walk(Infinity);
  }
  return { end: last.offset + last.length, granule, granuleExact, trimmedFrom };
}

/** Whole pages read one by one through a window of the file, each checked as OggPageCheck does. */
class PageWalker {
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;

  constructor(private readonly src: ByteSource) {}

  /** The page at `at` (< the file's size). @throws AudioFormatError if none starts there, it is cut by the end of the file or fails its CRC. */
  async page(at: number): Promise<OggPage> {
    let i = at - this.bufStart;
    let length = i >= 0 && i < this.buf.length ? pageLength(this.buf, i) : null;
    if (length === null) {
      this.buf = await this.src.read(at, WINDOW);
      this.bufStart = at;
      i = 0;
      length = pageLength(this.buf, 0);
    }
    if (length === null) throw new AudioFormatError(`ogg: the file ends inside the page at byte ${at} (truncated)`);
    if (length < 0) throw new AudioFormatError(`ogg: corrupt stream: no page starts at byte ${at} where the one before ends`);
    const p = parsePage(this.buf, i);
    if (!p) throw new AudioFormatError(`ogg: corrupt stream: the page at byte ${at} fails its checksum`);
    return { ...p, offset: at };
  }
}
