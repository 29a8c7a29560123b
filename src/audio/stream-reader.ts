/** The AudioReader of a compressed stream: block cache and forward cursor, seeking (see compressed.ts). */
import { checkDecoded, createDecoder, type Decoded, explainFlac, guard, libraryText, shortStream, type StreamDecoder } from "./decoders.js";
import { checkFlacEnd, openFlac } from "./flacopen.js";
import { frameIntact, seekFrame } from "./flacseek.js";
import type { Mp3Stream } from "./mp3seek.js";
import { MAX_PAGE, OggPageCheck, parsePage, seekPage } from "./oggseek.js";
import { type FlacSeek, linkOf, linkStarts, type OggSeek, type Probe } from "./probe.js";
import { blocksSpanned, clipRange, outputArray } from "./reader.js";
import { describeValue } from "./signal.js";
import type { ByteSource } from "./source.js";
import { Cursor } from "./stream-cursor.js";
import { AudioFormatError, type AudioFileReader, type AudioInfo } from "./types.js";

/** Frames per cached decoded block (default of `StreamOptions.blockFrames`). */
const BLOCK_FRAMES = 65536;

export interface StreamOptions {
  /** Frames per decoded block: the unit of caching and seeking, 1..MAX_BLOCK_FRAMES (checkBlockFrames). Default BLOCK_FRAMES. */
  blockFrames?: number;
  /**
   * Decoded blocks the reader keeps, the least recently read dropped first: a positive integer
   * (checkCacheBlocks). Default CACHE_BLOCKS. A caller that reads a range channel by channel
   * needs the blocks the range spans kept, or each channel decodes them again.
   */
  cacheBlocks?: number;
}
/** Cached blocks per reader by default: 16 × 65536 frames × 4 bytes = 4 MiB per channel. */
const CACHE_BLOCKS = 16;
/**
 * The largest `blockFrames`: 2^22 frames (87 s at 48 kHz). A reader holds CACHE_BLOCKS blocks and
 * the one being decoded, each a Float32Array per channel: at 2^22 frames 16 MiB each, 272 MiB per
 * channel in all (a stereo reader over half a GiB, against 8.5 MiB at the default). Longer blocks
 * buy nothing: a read spans as many blocks as it needs, and a seek decodes about one block, so they
 * only make seeks slower and the memory grow. (1e12 was let through and failed at the first read,
 * allocating the block.)
 */
const MAX_BLOCK_FRAMES = 1 << 22;

/** Refuses a `blockFrames` (StreamOptions) that is no integer in [1, MAX_BLOCK_FRAMES]: a RangeError naming it, its bounds and what it got. */
export function checkBlockFrames(value: unknown): void {
  if (!(Number.isInteger(value) && (value as number) >= 1 && (value as number) <= MAX_BLOCK_FRAMES)) {
    throw new RangeError(`blockFrames: must be an integer from 1 to ${MAX_BLOCK_FRAMES} (frames per decoded block), got ${typeof value === "number" ? value : describeValue(value)}`);
  }
}
/** Refuses a `cacheBlocks` (StreamOptions) that is no positive integer: a RangeError naming it and what it got. */
export function checkCacheBlocks(value: unknown): void {
  if (!(Number.isSafeInteger(value) && (value as number) >= 1)) {
    throw new RangeError(`cacheBlocks: must be an integer ≥ 1 (decoded blocks kept), got ${typeof value === "number" ? value : describeValue(value)}`);
  }
}

/** A block at most this far ahead of the cursor is reached by decoding on rather than seeking. */
const SEEK_AHEAD_BLOCKS = 2;

/** Ranged reads over a compressed stream: block cache + forward cursor (see compressed.ts). */
export class StreamReader implements AudioFileReader {
  readonly info: AudioInfo;
  private readonly cache = new Map<number, Float32Array[]>();
  private cursor: Cursor | null = null;

  /**
   * @param blockFrames frames per decoded block (StreamOptions.blockFrames)
   * @param cacheBlocks decoded blocks kept (StreamOptions.cacheBlocks)
   */
  private constructor(private readonly src: ByteSource, private readonly probe: Probe, private readonly dataStart: number, private readonly blockFrames: number, private readonly cacheBlocks: number) {
    this.info = {
      container: probe.container,
      encoding: probe.kind,
      samplerate: probe.samplerate,
      channels: probe.channels,
      frames: probe.frames ?? 0,
      duration: (probe.frames ?? 0) / probe.samplerate,
      bitsPerSample: probe.bitsPerSample,
      metadata: {},
      fileSize: src.size,
    };
  }

  /**
   * Opens a reader over a stream whose header probeCompressed checked (channels, rate); counts the
   * frames with one decoding pass when the header does not say.
   */
  static async open(src: ByteSource, probe: Probe, dataStart: number, options: StreamOptions): Promise<StreamReader> {
    const r = new StreamReader(src, probe, dataStart, options.blockFrames ?? BLOCK_FRAMES, options.cacheBlocks ?? CACHE_BLOCKS); // checked by openAudio (checkBlockFrames, checkCacheBlocks)
    try {
      const flacEnd = probe.flac ? await openFlac(src, probe, probe.flac) : null;
      if (probe.frames === null) {
        let frames = 0;
        for (let b = await r.advance(); b; b = await r.advance()) frames += b[0].length;
        r.info.frames = frames;
        r.info.duration = frames / probe.samplerate;
      }
      if (flacEnd) {
        try {
          checkFlacEnd(flacEnd.sample, r.info.frames, probe.frames === null);
        } catch (err) {
          throw await explainFlac(src, probe, flacEnd.sample, err); // the frame after the whole ones may have a reserved code
        }
      }
      // A compressed stream without a single audio frame: truncated or corrupt after its headers
      // (libsndfile refuses these too), not an empty recording.
      if (r.info.frames === 0) throw new AudioFormatError(`${probe.kind}: no audio frame could be decoded (the stream is truncated or corrupt after its headers)`);
    } catch (err) {
      r.cursor?.free(); // the caller closes the file; the decoder's WebAssembly memory is ours
      throw err;
    }
    return r;
  }

  /** Fetched file bytes so far. */
  get bytesRead(): number {
    return this.src.bytesRead;
  }

  /** Frames decoded so far, warm-up and re-decoding included (for tests and diagnostics: what reads cost). */
  get framesDecoded(): number {
    return this.decoded;
  }

  private decoded = 0;

  /**
   * Bytes of decoded samples held now: the blocks cached and those the cursor is filling or has
   * ready (for tests and diagnostics: what the reader keeps, against maxHeldBytes).
   */
  get decodedBytes(): number {
    let bytes = this.cursor?.heldBytes ?? 0;
    for (const block of this.cache.values()) for (const channel of block) bytes += channel.byteLength;
    return bytes;
  }

  /**
   * The most bytes of decoded samples the reader holds at once, whatever the reads: `cacheBlocks`
   * blocks and the one the cursor fills, each `blockFrames` float32 frames of every channel. (Not
   * counted: the decoder's own memory, what a read returns, and blocks a decoder call gave beyond
   * the one the cursor fills: its 16 KiB of input decode to less than a block in common files, to
   * more at a low bitrate — 4 s of 32 kbit/s Opus.) `readFrames` is for the
   * AudioFileReader interface: a read spanning more blocks than the cache keeps holds them while it
   * copies them out, so a caller keeps its reads within `cacheBlocks` blocks (blocksSpanned).
   */
  maxHeldBytes(readFrames: number): number {
    const blocks = Math.max(this.cacheBlocks, blocksSpanned(readFrames, this.blockFrames)) + 1;
    return blocks * this.blockFrames * this.info.channels * 4;
  }

  /** Lets go of the decoded blocks and the cursor (its decoder): the file stays open, the next read seeks or decodes afresh. */
  releaseMemory(): void {
    this.dropCursor();
    this.cache.clear();
  }

  /** A fresh decoder whose output is counted in `framesDecoded`. */
  private async newDecoder(): Promise<StreamDecoder> {
    let dec: StreamDecoder;
    try {
      dec = await createDecoder(this.probe);
    } catch (err) {
      throw new AudioFormatError(`${this.probe.kind}: the decoder could not be started (${libraryText(err)})`);
    }
    const count = (r: Decoded): Decoded => {
      this.decoded += r.samplesDecoded;
      return r;
    };
    return {
      decode: async (bytes) => count(await dec.decode(bytes)),
      flush: dec.flush && (async () => count(await dec.flush!())),
      decodeFrames: dec.decodeFrames && (async (frames) => count(await dec.decodeFrames!(frames))),
      free: () => dec.free(),
    };
  }

  /** Decodes the cursor's next block into the cache (evicting the least recently used). */
  private async advance(): Promise<Float32Array[] | null> {
    const cursor = this.cursor ?? (await this.cursorFromStart());
    const index = cursor.block;
    const block = await cursor.next();
    if (!block) return null;
    this.cache.set(index, block);
    if (this.cache.size > this.cacheBlocks) this.cache.delete(this.cache.keys().next().value as number);
    return block;
  }

  private async getBlock(k: number): Promise<Float32Array[] | null> {
    const hit = this.cache.get(k);
    if (hit) {
      this.cache.delete(k); // re-insert: most recently used
      this.cache.set(k, hit);
      return hit;
    }
    try {
      return await this.decodeBlock(k);
    } catch (err) {
      // A cursor that threw is in no state to go on from: its decoder has skipped the frame or
      // page that failed (libFLAC drops a frame it cannot decode and decodes the next one), its
      // page check has counted bytes it did not check. Continued, the next read near it returned
      // the samples after the bad frame as those of the block it failed (a FLAC off by up to 1.09)
      // and an Ogg file was called truncated. Dropped, the next read seeks or starts again, as a
      // fresh reader does; the blocks cached were decoded before the failure.
      this.dropCursor();
      throw err;
    }
  }

  /**
   * Replaces the cursor by one that feeds `dec` the stream from byte `start` (after `preamble`, if
   * given: header pages, or MPEG warm-up frames), its first sample being the recording's
   * `firstSample`, on its way to block k. The cursor makes further decoders itself (newDecoder) for
   * the links of a chained Ogg file.
   */
  private startCursor(dec: StreamDecoder, start: number, firstSample = 0, k = 0, preamble: Uint8Array | null = null): Cursor {
    this.cursor?.free();
    return (this.cursor = new Cursor(dec, () => this.newDecoder(), this.src, this.probe, this.blockFrames, start, firstSample, k, preamble));
  }

  /**
   * A cursor that decodes from the start of the stream: the file from `dataStart`; for a FLAC, its
   * first frame (`flac.firstFrame`), as a seek starts at a frame; for an MP3 whose trimming
   * mpg123-decoder leaves to the reader, from where Mp3Stream.start says. A FLAC's metadata is not
   * fed: the decoder's frame parser searches its input for sync codes, and cover art holding some
   * (a real PNG has one per ~32 KB) made it lose the first frame — every read of a valid file with a
   * 300 KB picture failed, "stream ends at frame 0". Its decoder needs no STREAMINFO (flacDecoder).
   */
  private async cursorFromStart(): Promise<Cursor> {
    const start = await this.probe.mp3?.start(); // before the decoder: it may throw (a file changed while open)
    const dec = await this.newDecoder();
    return start ? this.startCursor(dec, start.resume, start.firstSample) : this.startCursor(dec, this.probe.flac?.firstFrame ?? this.dataStart);
  }

  /** Frees the cursor and its decoder: the next block not cached is sought, or decoded from the start. */
  private dropCursor(): void {
    this.cursor?.free();
    this.cursor = null;
  }

  /** Block k, not in the cache: decoded by the cursor, moved by a seek or started again when k is not just ahead of it. */
  private async decodeBlock(k: number): Promise<Float32Array[] | null> {
    // Continue the cursor when k is just ahead; otherwise seek or, behind it, restart.
    const near = this.cursor !== null && this.cursor.block <= k && k - this.cursor.block <= SEEK_AHEAD_BLOCKS;
    if (!near && this.probe.flac && k > 0) await this.seekFlac(k, this.probe.flac);
    else if (!near && (this.probe.ogg || this.probe.chain) && k > 0 && (await this.seekOgg(k))) {
      // positioned by the seek
    } else if (!near && this.probe.mp3 && k > 0 && (await this.seekMp3(k, this.probe.mp3))) {
      // positioned by the seek
    } else if (this.cursor && this.cursor.block > k) this.dropCursor();
    for (;;) {
      const at = this.cursor?.block ?? 0;
      const block = await this.advance();
      if (!block || at === k) return block;
    }
  }

  /** Replaces the cursor by one starting at the FLAC frame that holds the first sample of block k. */
  private async seekFlac(k: number, flac: FlacSeek): Promise<void> {
    const frame = await seekFrame(this.src, flac.firstFrame, k * this.blockFrames, flac.blocksize, flac.dataEnd, flac.window);
    if (!frame) throw new AudioFormatError(`flac: no frame found before sample ${k * this.blockFrames} (corrupt stream?)`);
    // libFLAC drops a corrupt frame and decodes on from the next; an error is reported for it
    // after a frame decoded, but not for the first frame a fresh decoder is fed, whose loss then
    // went unseen and the next frame's samples were read as its own (a bit flipped in a frame: a
    // read off by up to 0.64). So the frame a seek starts at is checked by its CRC-16 here.
    if (!(await frameIntact(this.src, frame, flac.dataEnd ?? this.src.size, flac.blocksize, flac.window)))
      throw new AudioFormatError(`flac: corrupt stream: cannot decode the audio after frame ${frame.sample}`);
    this.dropCursor();
    this.startCursor(await this.newDecoder(), frame.offset, frame.sample, k);
  }

  /**
   * Replaces the cursor by one that starts a few MPEG frames before block k, fed warm-up frames
   * first (see mp3seek.ts). Returns false when the stream cannot be placed there, or k is close
   * enough to the start: the caller decodes from the start.
   */
  private async seekMp3(k: number, mp3: Mp3Stream): Promise<boolean> {
    const plan = await mp3.seek(k * this.blockFrames);
    if (!plan) return false;
    this.startCursor(await this.newDecoder(), plan.resume, plan.firstSample, k, plan.warmup);
    return true;
  }

  /**
   * Replaces the cursor by one starting at an Ogg page at least `preroll` granules before block k.
   * The decoder gets the header pages, then pages from there; the output's position is fixed by
   * the granule of the first page that yields samples (granule = end of its output). Returns
   * false when no suitable page exists (near the start): the caller decodes from the start. In a
   * chained file, the pages are those of the link that holds block k's first frame, and near the
   * start of a link after the first, the cursor starts at that link's first page (a link decodes
   * from there as the file it was) unless it is on its way to block k in that link already.
   */
  private async seekOgg(k: number): Promise<boolean> {
    const target = k * this.blockFrames;
    const chain = this.probe.chain;
    const index = chain ? linkOf(chain, target) : 0;
    const link = chain?.[index];
    const ogg = link ? link.seek : this.probe.ogg;
    const base = link?.firstFrame ?? 0; // the recording's frame where the link's granules count from
    if (ogg && (await this.seekInLink(k, target - base, base, ogg, link?.start ?? 0, link?.end ?? this.probe.oggEnd ?? this.src.size))) return true;
    if (!link || index === 0) return false;
    if (this.cursor && this.cursor.link === index && this.cursor.block <= k) return false; // decoding on gets there
    this.startCursor(await this.newDecoder(), link.start, base, k);
    return true;
  }

  /**
   * seekOgg within the link of `ogg` (the whole file, or a chained file's link at bytes
   * [start, end) whose audio begins at the recording's frame `base`): `target` counts from `base`.
   */
  private async seekInLink(k: number, target: number, base: number, ogg: OggSeek, start: number, end: number): Promise<boolean> {
    // Start at a page whose granule is `preroll` before the target: output begins at or before it
    // (Opus: exactly at granule/granulesPerFrame, see below; Vorbis: found by alignOgg).
    let limit = ogg.startGranule + target * ogg.granulesPerFrame - ogg.preroll;
    if (limit <= ogg.startGranule) return false;
    let headers = ogg.opusHeaders ?? this.oggHeaders.get(start);
    if (!headers) this.oggHeaders.set(start, (headers = await this.src.read(start, ogg.firstAudio - start)));
    // The decoder may need more than the preroll to produce output (it drops what it cannot
    // overlap-add); if its first sample still lands after the target, start earlier and retry.
    for (let attempt = 0; attempt < 4 && limit > ogg.startGranule; attempt++) {
      const page = await seekPage(this.src, ogg.firstAudio, end, ogg.serial, limit);
      if (!page) return false;
      const dec = await this.newDecoder();
      if (this.probe.kind === "opus") {
        // Opus output is placed by the page before the start: decoding from page P yields the
        // samples after granule(P−1), less the pre-skip the fresh decoder trims (RFC 7845 §4.2),
        // so its first frame is at (granule(P−1) + preSkip − preSkip − startGranule) /
        // granulesPerFrame — the same index sequential decoding gives that sample (checked in
        // audio-compressed.test.ts).
        this.startCursor(dec, page.offset + page.length, base + Math.round((page.granule - ogg.startGranule) / ogg.granulesPerFrame), k, headers);
        return true;
      }
      try {
        const aligned = await this.alignOgg(dec, ogg, headers, page.offset + page.length, end);
        if (!aligned) {
          dec.free();
          return false; // no output before the end of the link: too close to its end to seek
        }
        if (aligned.first <= target) {
          const cursor = this.startCursor(dec, aligned.pos, base + aligned.first, k);
          cursor.continueAfter(aligned.pages, aligned.lead);
          for (const o of aligned.outputs) cursor.inject(o);
          return true;
        }
        dec.free();
        limit -= (aligned.first - target) * ogg.granulesPerFrame + ogg.preroll;
      } catch (err) {
        dec.free();
        throw err;
      }
    }
    return false;
  }

  /**
   * Vorbis: the first packet after a seek only primes the overlap-add, so where the output starts
   * depends on block sizes. Feeds a fresh decoder the header pages, then the pages from `pos` until
   * one that ends a packet has produced output; that page's granule (the end of its output) places
   * the first decoded frame. Each page goes with the first byte of the next: the decoder's Ogg
   * parser (codec-parser) passes a page on only once a byte after it has come, so fed whole pages
   * it answered a page behind, and every seek landed that page early (14 336 frames in a 48 kHz
   * file; a piece 120 s into one was 19 % off its whole-file values). The bytes fed go through an
   * OggPageCheck, as the cursor's do. Returns the outputs so far, the first frame's index (counted
   * from the start of the link), the next page's offset, the bytes of it already fed and the page
   * check, or null if the link (it ends at byte `end`) ends first.
   */
  private async alignOgg(dec: StreamDecoder, ogg: OggSeek, headers: Uint8Array, pos: number, end: number): Promise<{ outputs: Decoded[]; first: number; pos: number; lead: Uint8Array; pages: OggPageCheck } | null> {
    checkDecoded(this.probe.kind, await guard(this.probe.kind, "the header pages", () => dec.decode(headers)), "the header pages");
    const outputs: Decoded[] = [];
    let decoded = 0;
    let lead: Uint8Array = new Uint8Array(0); // the bytes of the page at `pos` fed already
    const pages = new OggPageCheck(pos, linkStarts(this.probe));
    while (pos < end) {
      // The largest possible page, and a byte — not past the link: the next link's first byte is its own decoder's.
      const bytes = await this.src.read(pos, Math.min(MAX_PAGE + 1, end - pos));
      const p = parsePage(bytes, 0);
      if (!p) throw new AudioFormatError(`ogg: no valid page at byte ${pos} while seeking (corrupt stream?)`);
      const feed = bytes.subarray(lead.length, p.length + 1);
      pages.check(feed);
      const r = checkDecoded(this.probe.kind, await guard(this.probe.kind, `the page at byte ${pos}`, () => dec.decode(feed)), `the page at byte ${pos}`);
      pos += p.length;
      lead = bytes.subarray(p.length, p.length + 1);
      outputs.push(r);
      decoded += r.samplesDecoded;
      if (p.granule >= 0 && decoded > 0) {
        const first = Math.round((p.granule - ogg.preSkip - ogg.startGranule) / ogg.granulesPerFrame) - decoded;
        if (first < 0) throw new AudioFormatError(`ogg: page granules do not match the decoded audio near byte ${pos}`);
        return { outputs, first, pos, lead, pages };
      }
    }
    return null;
  }

  /** Vorbis: the header pages (bytes from a link's start to its first audio page), by link start, read once for seeking. */
  private readonly oggHeaders = new Map<number, Uint8Array>();

  async read(channel: number, start: number, count: number, into?: Float32Array): Promise<Float32Array> {
    const [s, e] = clipRange(this.info, channel, start, count);
    if (s === e) return new Float32Array(0);
    // The length may come from an untrusted header (FLAC STREAMINFO, Ogg granule): collect what the
    // stream really yields before allocating the result, and fail if it falls short.
    const parts: Float32Array[] = [];
    let have = 0;
    for (let k = Math.floor(s / this.blockFrames); k * this.blockFrames < e; k++) {
      const block = await this.getBlock(k);
      const b0 = k * this.blockFrames;
      const from = Math.max(s, b0);
      const to = Math.min(e, b0 + (block ? block[channel].length : 0));
      if (to <= from || (to < e && block![channel].length < this.blockFrames)) {
        // Where the stream ended: after a short block (the last the cursor that got there made,
        // maybe cached), or where the cursor got; else (a block found empty) where it was looked for.
        const ended = block && block[channel].length < this.blockFrames ? b0 + block[channel].length : this.cursor?.ended;
        // A stream that ends before its length is corrupt or cut there: a read after that place
        // seeks past it, as from a fresh reader, rather than meet the end of this cursor again.
        this.dropCursor();
        throw shortStream(this.probe.kind, ended ?? Math.max(from, to), this.info.frames, ended !== undefined);
      }
      parts.push(block![channel].subarray(from - b0, to - b0));
      have += to - from;
    }
    const out = outputArray(have, into);
    for (let i = 0, at = 0; i < parts.length; at += parts[i].length, i++) out.set(parts[i], at);
    return out;
  }

  async close(): Promise<void> {
    this.releaseMemory();
    await this.src.close();
  }
}
