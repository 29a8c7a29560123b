/**
 * Opening an Ogg file (Vorbis, Opus) after its probe (probe.ts probeOgg): its length and where
 * decoding stops from its end (oggTail), the links of a chained file (chainOgg), and what seeking
 * and decoding from the start need (oggSeekInfo; oggseek.ts, oggstart.ts).
 */
import { chainLinks, continuesStream, endTrimmedFrom, firstFilePage, granuleSaid, type HeaderPages, lengthGranule, MAX_PAGE, type OggPage, oggPageCrc, pageLength, parsePage, readPage } from "./oggseek.js";
import { audioStart } from "./oggstart.js";
import { type OggLink, type OggSeek, type Probe, probeOgg } from "./probe.js";
import type { ByteSource } from "./source.js";
import { AudioFormatError, plural } from "./types.js";

/** Bytes at the end of an Ogg file looked at first for its last page (oggTail); then windows twice as long before them, up to TAIL_BYTES_MAX. */
const TAIL_BYTES = 1 << 16;
const TAIL_BYTES_MAX = 1 << 20;

/** "OggS", the capture pattern that begins every Ogg page (RFC 3533 §6). */
const CAPTURE = new Uint8Array([0x4f, 0x67, 0x67, 0x53]);

/** What the end of an Ogg file tells at open (see oggTail). */
interface OggTail {
  /** Granule position of the last page that ends a packet, null if none is found. */
  granule: number | null;
  /** Where that page is end trimming into the pages before it (oggseek.ts endTrimmedFrom): the granule position a page before it states. */
  trimmedFrom?: number;
  /** Serial number of the last page, null if none is found. */
  serial: number | null;
  /** Byte offset after the last whole page (passing its CRC), null if none is found. */
  pagesEnd: number | null;
  /**
   * Where decoding stops reading the file (its last link): `pagesEnd`, unless what follows begins
   * as a page does (its capture pattern, maybe cut by the end of the file) — a page cut short or
   * damaged, which decoding reports there — or no page was found (the file's end). Junk after
   * the last page (zeros, a tag, random bytes) is not fed: fed, it failed the last block, so the
   * last frames of a file that opened with them could not be read.
   */
  dataEnd: number;
  /**
   * The pages there that begin a stream (BOS): in a file of one stream, only a page at byte 0 may.
   * `before`: the number of the last page of that serial before it there, if any.
   */
  begins: { offset: number; serial: number; sequence: number; before?: number }[];
}

/**
 * The file's end, read once at open: the granule position of the last Ogg page that ends a packet
 * (RFC 3533 §6) — for Vorbis the number of PCM frames; for Opus 48 kHz samples including the
 * pre-skip (RFC 7845 §4) — the serial number of the last page (another than the first page's: a
 * chained file) and the pages that begin a stream. The pages are those walked from the first page
 * of the file (oggseek.ts firstFilePage) found in the last TAIL_BYTES, each starting where the one
 * before ends; at a page that fails its CRC (its length maybe wrong too: a damaged segment count),
 * reported where decoding gets there, the walk goes on at the next page that continues the stream
 * (oggseek.ts continuesStream) — taken for junk, the pages after it had cut the length short, and
 * reads past it returned nothing. What follows the last page — junk, and in it a page with a valid
 * CRC that had been taken for the last one, deciding the length (10^9 frames) or that the file was
 * chained — is not a page of the file (decoding reports it where it gets there, see OggPageCheck),
 * and neither is a page cut short by the end of the file. Where the file's last bytes hold no page of the file (junk of
 * TAIL_BYTES or more after its last page, maybe with pages after junk in it), the bytes before
 * them are looked at, in windows growing to TAIL_BYTES_MAX, back to the file's start if need be:
 * memory stays bounded, and the work is one read of the junk. (The window had been the last 64
 * KiB only: with more junk than that the length was not found, and the file was refused as a
 * corrupt stream at the junk, or took its length from a page after the junk.)
 * @throws AudioFormatError if the last page fails its CRC, or its granule is beyond any real stream (≥ 2^53).
 */
export async function oggTail(src: ByteSource): Promise<OggTail> {
  const found: OggTail = { granule: null, serial: null, pagesEnd: null, dataEnd: src.size, begins: [] };
  let tail: Uint8Array = new Uint8Array(0);
  let tailStart = 0; // the offset of tail[0]
  let first: number | null = null; // the index in `tail` of the first page of the file found
  for (let end = src.size, size = TAIL_BYTES; end > 0 && first === null; size = Math.min(2 * size, TAIL_BYTES_MAX)) {
    const start = Math.max(0, end - size);
    tailStart = Math.max(0, start - MAX_PAGE); // a page before one that starts at `start` begins here or later
    tail = await src.read(tailStart, Math.min(src.size, end + MAX_PAGE) - tailStart); // and one that starts before `end` ends in it
    first = firstFilePage(tail, tailStart, start - tailStart, end - tailStart)?.offset ?? null;
    if (first !== null) first -= tailStart;
    end = start;
  }
  const sequences = new Map<number, number>(); // the last page number walked, by serial
  const granules = new Map<number, number>(); // the last granule walked, by serial (lengthGranule)
  let granulePage: { at: number; page: Omit<OggPage, "offset"> } | null = null; // the page of found.granule
  let last: { at: number; page: Omit<OggPage, "offset"> } | null = null; // the last page walked
  for (let at = first ?? tail.length; at < tail.length; ) {
    const page = parsePage(tail, at);
    if (!page) {
      const length = pageLength(tail, at);
      if (length !== null && length > 0 && tailStart + at + length === src.size) throw new AudioFormatError(`ogg: corrupt stream: the last page (at byte ${tailStart + at}) fails its checksum`);
      // A damaged page (its length may be wrong too), reported where decoding gets there: the walk goes on at the next page of the stream.
      at = last ? nextPageOfStream(tail, at + 1, last.page, last.at) : tail.length;
      continue;
    }
    last = { at, page };
    if (page.bos) found.begins.push({ offset: tailStart + at, serial: page.serial, sequence: page.sequence, before: sequences.get(page.serial) });
    sequences.set(page.serial, page.sequence);
    found.serial = page.serial;
    found.pagesEnd = tailStart + at + page.length;
    const before = page.bos ? -1 : (granules.get(page.serial) ?? -1); // a stream begun again counts from 0 (`begins`, refused at open)
    const granule = lengthGranule(page, tailStart + at, before);
    granules.set(page.serial, granule);
    if (page.granule >= 0) [found.granule, granulePage, found.trimmedFrom] = [granule, { at: tailStart + at, page }, endTrimmedFrom(page, before)];
    at += page.length;
  }
  if (found.pagesEnd !== null) {
    const after = tail.subarray(found.pagesEnd - tailStart, found.pagesEnd - tailStart + 4);
    if (!CAPTURE.subarray(0, after.length).every((byte, i) => byte === after[i])) found.dataEnd = found.pagesEnd;
  }
  if (granulePage && granulePage.page.granule >= 2 ** 53)
    throw new AudioFormatError(`ogg: the last page (at byte ${granulePage.at}) states granule position ${granuleSaid(granulePage.page)}, more than any stream holds (corrupt header?)`);
  return found;
}

/** The index of the first page in `b` at or after `from` that continues the stream of `ref` at `b[refAt]` (oggseek.ts continuesStream); b's length if none. */
function nextPageOfStream(b: Uint8Array, from: number, ref: Omit<OggPage, "offset">, refAt: number): number {
  for (let i = from; i + 27 <= b.length; i++) {
    if (b[i] !== 0x4f) continue;
    const page = parsePage(b, i);
    if (page && continuesStream(ref, page, i - refAt)) return i;
  }
  return b.length;
}

/**
 * The most granule units past its start that a stream of `bytes` bytes can hold: every packet
 * takes at least one byte of the file (its lacing value, RFC 3533 §6, a packet of no bytes too),
 * and decodes to at most one block's worth of granules — Vorbis: blocksize_1 / 2 frames (a packet
 * adds (previous + current block) / 4, Vorbis I spec §1.3.2, at most half the larger block);
 * Opus: 5760 48 kHz samples (a packet lasts at most 120 ms, RFC 6716 §3.2.5). The bound is far
 * above any real file (a 8.6 KB Vorbis file: 8.8·10^6 frames for the 1 s it holds) but catches a
 * last granule that no bytes back: 2^32 on that file opened as 74.6 h, and every read failed.
 */
function granulesBound(probe: Probe, bytes: number): number {
  return bytes * (probe.kind === "opus" ? 5760 : (probe.vorbisBlocksizes?.[1] ?? 8192) / 2);
}

/**
 * A stream's length in frames at the decoding rate, from its last granule and where its audio
 * begins (`seek`: OggSeek.startGranule; granule 0 where not known), as libvorbisfile and
 * libopusfile derive it (libsndfile too, for a stream that begins at granule 0).
 * @param trimmedFrom where the last page is end trimming into the pages before it, the granule
 *   position a page before it states (oggseek.ts endTrimmedFrom)
 * @param stream the stream as an error names it ("the stream", a chained file's link)
 * @param bytes the stream's bytes (the file's, or the link's): granulesBound
 * @throws AudioFormatError if the last granule is more past its start than `bytes` can hold
 *   (granulesBound), naming both. AudioFormatError if the last granule is not past where its audio begins (Opus: plus its
 *   pre-skip) though it, or a page before it (`trimmedFrom`), is past that start: it holds no
 *   audio. Taken as 0 frames, it was called truncated or corrupt after its headers, of a file whose
 *   every page is there, and a chained file's link was read as one of no frames, its audio lost. (A
 *   link whose every granule is at the start is one of header and empty pages alone, read as a
 *   link of no frames.)
 */
export function oggFrames(probe: Probe, granule: number, trimmedFrom: number | undefined, seek: OggSeek | undefined, bytes: number, stream = "the stream"): number {
  const startGranule = seek?.startGranule ?? 0;
  const preSkip = probe.kind === "opus" ? (probe.preSkip ?? 0) : 0;
  const bound = granulesBound(probe, bytes);
  if (granule - startGranule > bound) {
    const per = probe.kind === "opus" ? "5760 samples at 48 kHz (120 ms)" : `${bound / bytes} frames (blocksize_1 / 2)`;
    const from = startGranule ? ` from granule ${startGranule}, where its audio begins` : "";
    throw new AudioFormatError(`${probe.kind}: ${stream}'s last granule position, ${granule}, is more than its ${bytes} bytes can hold: at most ${bound}${from} (a packet of at least 1 byte decodes to at most ${per}; a corrupt granule position?)`);
  }
  if (seek && (trimmedFrom ?? granule) > startGranule && granule <= startGranule + preSkip) {
    const skipped = preSkip ? `, plus its pre-skip of ${preSkip} samples` : "";
    throw new AudioFormatError(`${probe.kind}: ${stream}'s last granule position, ${granule}, is not past granule ${startGranule}, where its audio begins${skipped}: it holds no audio (a corrupt granule position?)`);
  }
  if (probe.kind === "vorbis") return Math.max(0, granule - startGranule);
  return Math.max(0, Math.floor(((granule - startGranule - preSkip) * probe.samplerate) / 48000));
}

/** "Vorbis at 16000 Hz with 1 channel": what links of a chained file must share. */
function codecOf(p: Probe): string {
  return `${p.kind === "opus" ? "Opus" : "Vorbis"} at ${p.samplerate} Hz with ${plural(p.channels, "channel")}`;
}

/**
 * Bytes a chained file's open may read: OPEN_READS times the file, and OPEN_READS_MORE. Finding
 * the links reads a few windows of the file per link (chainLinks): about twice the file for links
 * of a window or less, far less for long ones, up to ~6 times for links just over a window of the
 * largest pages. Past this budget it is a file made to be read over and over.
 */
const OPEN_READS = 8;
const OPEN_READS_MORE = 64 << 20;

/**
 * A chained Ogg file (its last page's serial number is not its first's): finds its links
 * (oggseek.ts chainLinks), checks each one's identification header as the first's is checked and
 * against the first's, and places them one after another. Sets probe.chain, probe.frames (the
 * links' sum) and probe.ogg (the first link's). The last link's bytes end at `dataEnd`
 * (OggTail.dataEnd), the links' at `pagesEnd`, the end of the last whole page.
 * @throws AudioFormatError naming the byte where a link begins that differs from the first in
 *   codec, sample rate (Opus: the rate it is decoded at) or channel count, or whose header is bad.
 */
export async function chainOgg(src: ByteSource, probe: Probe, pagesEnd: number, dataEnd: number): Promise<void> {
  const chain: OggLink[] = [];
  let firstFrame = 0;
  let lastGranule = -1;
  const budget = OPEN_READS * src.size + OPEN_READS_MORE;
  for await (const link of chainLinks(src, pagesEnd, oggHeaderPackets(probe))) {
    if (src.bytesRead > budget)
      throw new AudioFormatError(`ogg: finding the links of this chained file read ${src.bytesRead} bytes by the link at byte ${link.start}, more than ${OPEN_READS} times its ${src.size} + ${OPEN_READS_MORE >> 20} MiB (a crafted file?): not supported`);
    let p = probe;
    if (link.start > 0) {
      try {
        p = (await probeOgg(src, await src.read(link.start, 64), link.start))!;
      } catch (err) {
        if (err instanceof AudioFormatError) throw new AudioFormatError(`the chained stream (link) at byte ${link.start}: ${err.message}`);
        throw err;
      }
      if (p.kind !== probe.kind || p.samplerate !== probe.samplerate || p.channels !== probe.channels)
        throw new AudioFormatError(`ogg: the chained stream (link) at byte ${link.start} is ${codecOf(p)}, the first one ${codecOf(probe)}: links that differ in codec, sample rate or channel count are not read as one recording (split the file at byte ${link.start})`);
    }
    if (link.granule >= 2 ** 53)
      throw new AudioFormatError(`ogg: the last page of the chained stream (link) at byte ${link.start} states granule position ${granuleSaid(link)}, more than any stream holds (corrupt header?)`);
    const seek = await oggSeekInfo(src, link.start, link.end, link.headers, link.serial, p);
    const frames = oggFrames(p, link.granule, link.trimmedFrom, seek, link.end - link.start, `the chained stream (link) at byte ${link.start}`);
    lastGranule = link.granule;
    chain.push({ start: link.start, end: link.end === src.size ? dataEnd : link.end, firstFrame, frames, seek, outputGain: p.outputGain });
    firstFrame += frames;
  }
  // A last link with no audio (its last granule 0: header pages alone) is a file cut inside that
  // link's headers, as a file of one stream so cut is refused; read as a link of no frames, it
  // had the decoder of the link before fed on into it, and that link's last block failed.
  if (chain.length > 1 && lastGranule === 0)
    throw new AudioFormatError(`ogg: the chained stream (link) at byte ${chain.at(-1)!.start} has no audio page: the file ends within its headers (truncated?)`);
  probe.chain = chain;
  probe.frames = firstFrame;
  probe.ogg = chain[0].seek;
}

/** The header packets an Ogg stream of this codec begins with: Opus 2 (RFC 7845 §3), Vorbis 3 (Vorbis I spec §4.2). */
export function oggHeaderPackets(probe: Probe): number {
  return probe.kind === "opus" ? 2 : 3;
}

/**
 * What seeking in, and decoding from the start of, the stream `serial` (the file, or a link of a
 * chained one) needs: its pages from its BOS page at byte `start` to `end`, its header pages
 * ending at `headers` (oggseek.ts firstAudioPage); undefined where that was not found.
 */
export async function oggSeekInfo(src: ByteSource, start: number, end: number, headers: HeaderPages | null, serial: number, probe: Probe): Promise<OggSeek | undefined> {
  if (headers === null) return undefined;
  const opus = probe.kind === "opus";
  const audio = await audioStart(src, { kind: opus ? "opus" : "vorbis", blocksizes: probe.vorbisBlocksizes, preSkip: probe.preSkip }, headers, end);
  return {
    opusHeaders: opus ? await opusHeaderPages(src, start, serial) : undefined,
    startGranule: audio.granule,
    trim: audio.trim,
    firstAudio: headers.firstAudio,
    serial,
    preSkip: opus ? (probe.preSkip ?? 0) : 0,
    granulesPerFrame: opus ? 48000 / probe.samplerate : 1,
    // Opus: 1 s for the decoder state to converge. RFC 7845 §4.6's 80 ms left a stereo decoder up to
    // 2e-2 off sequential decoding where it got to its block, and at 0.5 s 1e-7 remained; from 1 s
    // before, every block of the test files came out bit-exact. Vorbis: the first packet after a
    // seek only primes the overlap-add, up to half the largest block (8192) — one block of margin.
    preroll: opus ? 48000 : 8192,
  };
}

/**
 * Opus: what a fresh decoder is fed in place of a stream's header pages — its identification page
 * (the BOS page at byte `start`, as the file has it) and a page of an OpusTags with no comments
 * (RFC 7845 §5.2), numbered 1, of the stream's serial number `serial`. The decoder's page parser
 * (codec-parser's OpusParser) takes page 1 for the whole OpusTags and every later page for audio,
 * so a comment header that spans pages (cover art: METADATA_BLOCK_PICTURE) had its rest decoded as
 * audio and failed ("offset is out of bounds"); decoding needs none of the comments.
 */
async function opusHeaderPages(src: ByteSource, start: number, serial: number): Promise<Uint8Array> {
  const id = await readPage(src, start);
  const tags = [..."OpusTags"].map((c) => c.charCodeAt(0)).concat([0, 0, 0, 0, 0, 0, 0, 0]); // vendor string of 0 bytes, 0 comments
  const out = new Uint8Array(id.length + 28 + tags.length);
  out.set(id);
  const page = new DataView(out.buffer, id.length);
  out.set(CAPTURE, id.length); // version 0, no flags, granule 0 (RFC 3533 §6)
  page.setUint32(14, serial, true);
  page.setUint32(18, 1, true);
  out[id.length + 26] = 1; // one segment
  out[id.length + 27] = tags.length;
  out.set(tags, id.length + 28);
  page.setUint32(22, oggPageCrc(out.subarray(id.length), 0, 28 + tags.length), true);
  return out;
}
