/**
 * Compressed formats through maintained WebAssembly decoders (the `@wasm-audio-decoders` family:
 * libFLAC, mpg123, libvorbis, libopus). Their APIs are streaming, so a reader keeps a *cursor* —
 * one live decoder fed the file in `INPUT_BYTES` pieces — and an LRU cache of decoded blocks of
 * `blockFrames` frames (default 65536):
 *   - memory stays bounded: CACHE_BLOCKS blocks (4 MiB per channel) + one input piece + the
 *     decoder's own state, whatever the length of the file;
 *   - reading forward (what tiles and batch jobs do) continues the cursor: O(new frames);
 *   - a block far from the cursor is found by bisection over frame headers (FLAC, flacseek.ts) or
 *     page granules (Ogg, oggseek.ts), or in a frame index built by scanning the frame headers once
 *     (MP3 Layer III, mp3seek.ts), and decoded from shortly before it — small reads + about one
 *     block of decoding (MP3: plus the first scan up to that point, ~10 ms per 10 MB). FLAC, Vorbis
 *     and MP3 restart bit-exactly; Opus after a 1 s pre-roll agrees with sequential decoding (bit
 *     for bit on the test files, where 80 ms left it 2e-2 off);
 *   - otherwise (MP3 Layer I/II or a stream mp3seek.ts cannot place) a block behind the cursor and
 *     out of the cache is decoded again from the start of the file — O(position) CPU, still bounded
 *     memory.
 * Length, O(1) at open: FLAC STREAMINFO, Ogg last-page granule less the first audio page's start
 * (Vorbis, Opus; oggstart.ts), MP3 Xing/Info frame
 * count; an MP3 without it has its frame headers counted (Layer III), and where that cannot tell
 * (or a FLAC with total 0) the frames are counted by one full decoding pass at open.
 *
 * A chained Ogg file (`cat a.ogg b.ogg`, RFC 3533 §4; told at open by its last page's serial number,
 * another than its first's) is read as one recording, its links one after another, when they
 * share codec, rate and channel count (else refused at open, naming the byte where the link that
 * differs begins): the links are found by bisection (oggseek.ts chainLinks), each one's length from
 * its last granule; the cursor decodes each link with a decoder of its own, as the file it was
 * (each with its own pre-skip and end trimming), and a seek bisects within the link that holds its
 * block — or, near that link's start, decodes from there.
 */
import type { CodecFrame } from "codec-parser";
import { decoderProblem, type FlacEnd, frameHeaderProblem, frameIntact, frameProblemAfter, lastFrameEnd, readFrameHeader, searchWindow, seekFrame, withStatedCodes } from "./flacseek.js";
import { Mp3Stream, parseInfoTag, parseMpegHeader } from "./mp3seek.js";
import { chainLinks, continuesStream, firstAudioPage, firstFilePage, type HeaderPages, MAX_PAGE, type OggPage, oggPageCrc, OggPageCheck, pageLength, parsePage, readPage, seekPage, streamBeginsElsewhere } from "./oggseek.js";
import { audioStart } from "./oggstart.js";
import { checkBasics } from "./layout.js";
import { clipRange, outputArray } from "./reader.js";
import type { ByteSource } from "./source.js";
import { AudioFormatError, type AudioInfo, type AudioReader, plural } from "./types.js";

export type CompressedKind = "flac" | "mp3" | "vorbis" | "opus";

/** Frames per cached decoded block (default of `StreamOptions.blockFrames`). */
const BLOCK_FRAMES = 65536;

export interface StreamOptions {
  /** Frames per decoded block: the unit of caching and seeking. Default BLOCK_FRAMES. */
  blockFrames?: number;
}
/** Cached blocks per reader: 16 × 65536 frames × 4 bytes = 4 MiB per channel. */
const CACHE_BLOCKS = 16;
/** A block at most this far ahead of the cursor is reached by decoding on rather than seeking. */
const SEEK_AHEAD_BLOCKS = 2;
/** Bytes fed to the decoder at a time: bounds the output of one call (FLAC can expand ~800×). */
const INPUT_BYTES = 16384;

interface Decoded {
  channelData: Float32Array[];
  samplesDecoded: number;
  errors: { message: string }[];
  /** FLAC: the sample depth of the decoded frames, as their headers state it. */
  bitDepth?: number;
  /** The rate the decoder decodes at (every library here reports it). */
  sampleRate?: number;
}
interface StreamDecoder {
  decode(bytes: Uint8Array): Decoded | Promise<Decoded>;
  flush?(): Promise<Decoded>;
  /** FLAC: whole frames, straight to libFLAC, past the library's frame parser (flacDecoder). */
  decodeFrames?(frames: Uint8Array[]): Decoded | Promise<Decoded>;
  free(): void;
}

/** What a header probe learns before decoding. */
export interface Probe {
  kind: CompressedKind;
  container: string;
  samplerate: number;
  channels: number;
  bitsPerSample: number | null;
  /** Total frames when the header records it, else null (counted by a decoding pass). */
  frames: number | null;
  /** FLAC only: what seeking needs (see flacseek.ts). */
  flac?: FlacSeek;
  /** Ogg only: what seeking needs (see oggseek.ts); in a chained file, in its first link. */
  ogg?: OggSeek;
  /** Ogg of one stream: where the decoder stops reading (OggTail.dataEnd). */
  oggEnd?: number;
  /** Chained Ogg only (two links or more): the links, in order (see chainOgg). */
  chain?: OggLink[];
  /** Opus only: the OpusHead pre-skip, in 48 kHz samples. */
  preSkip?: number;
  /** Vorbis only: blocksize_0 and blocksize_1 of the identification header. */
  vorbisBlocksizes?: [number, number];
  /** MP3 Layer III only: frame index, gapless trimming and seeking (see mp3seek.ts). */
  mp3?: Mp3Stream;
}

/** Where Ogg audio pages start, and how granules map to output frames. */
interface OggSeek {
  /** Byte offset of the first audio page: everything before it (the header packets) is fed first after a seek. */
  firstAudio: number;
  serial: number;
  /** Opus pre-skip in 48 kHz samples (0 for Vorbis). */
  preSkip: number;
  /** Granule units per output frame (Opus: 48000 / decoding rate; Vorbis: 1). */
  granulesPerFrame: number;
  /** Granule units decoded before the output is exact again after starting mid-stream. */
  preroll: number;
  /** Opus: what a fresh decoder is fed in place of the header pages (opusHeaderPages). */
  opusHeaders?: Uint8Array;
  /** The granule position where the audio begins (oggstart.ts): 0, or more in a stream captured from the middle of a broadcast. */
  startGranule: number;
  /** Vorbis: decoded frames dropped at the start of the stream, before granule 0 (oggstart.ts AudioStart.trim). */
  trim: number;
}

/** A link of a chained Ogg file (oggseek.ts chainLinks), placed in the recording. */
interface OggLink {
  /** Byte offset of its first (BOS) page. */
  start: number;
  /** Byte offset after its last page. */
  end: number;
  /** The recording's frame where its audio begins: the frames of the links before it. */
  firstFrame: number;
  /** Its frames, from its last granule as for a file of one stream. */
  frames: number;
  /** What seeking within it needs; undefined where its first audio page is not found early. */
  seek?: OggSeek;
}

/** The link of `chain` that holds frame `frame` (the last one for frames past the end). */
function linkOf(chain: OggLink[], frame: number): number {
  const i = chain.findIndex((l) => frame < l.firstFrame + l.frames);
  return i < 0 ? chain.length - 1 : i;
}

/** Where the links of an Ogg file begin: the only places a page may begin a stream (OggPageCheck). */
function linkStarts(probe: Probe): ReadonlySet<number> {
  return new Set(probe.chain?.map((l) => l.start) ?? [0]);
}

/** Where FLAC audio frames start and what to feed a fresh decoder before a frame from the middle. */
interface FlacSeek {
  /** Byte offset of the first audio frame (after all metadata blocks). */
  firstFrame: number;
  /** "fLaC" + the STREAMINFO block, as the file has it. */
  streaminfo: Uint8Array;
  /**
   * The samples per frame number in fixed-blocksize streams (every frame but the last holds that
   * many): the first frame's block size (checkFirstFlacFrame), STREAMINFO's maximum until then.
   */
  blocksize: number;
  /** Where the stream's sample depth (Probe.bitsPerSample) comes from: the first frame's header, or STREAMINFO when that frame does not state one. */
  depthFrom: "STREAMINFO" | "the first frame";
  /** Byte offset after the last whole frame (set when opened, see lastFrameEnd): bytes after it, such as an ID3v1 tag, are not fed to the decoder, which would take them for part of that frame and drop it. */
  dataEnd?: number;
  /** The first sample after the last whole frame, by its header (set when opened, see lastFrameEnd). */
  endSample?: number;
  /** The last whole frame's header byte and first sample (set when opened, see lastFrameEnd; Cursor.decodeLastFlacFrame). */
  lastFrame?: { offset: number; sample: number } | null;
  /** The bytes the frame searches read at a time (set when opened, see searchWindow): more than 64 KiB where frames may be longer. */
  window?: number;
}

/**
 * What the decoders print with console.error for every corrupt frame (libopus once per packet,
 * dozens of lines for one bad file). They also return each error in their result, which becomes
 * the one AudioFormatError saying where the stream breaks (checkDecoded), so these lines are dropped.
 */
const DECODER_NOISE = /^(libopus -?\d|mpg123-decoder: |@wasm-audio-decoders\/flac: )/;

let decoderNoiseFiltered = false;

/** Drops DECODER_NOISE from console.error (installed once, when a compressed decoder is first created). */
function filterDecoderNoise(): void {
  if (decoderNoiseFiltered) return;
  decoderNoiseFiltered = true;
  const print = console.error;
  console.error = (...args: unknown[]) => {
    if (!(typeof args[0] === "string" && DECODER_NOISE.test(args[0]))) print(...args);
  };
}

async function createDecoder(p: Probe): Promise<StreamDecoder> {
  filterDecoderNoise();
  let d: StreamDecoder & { ready: Promise<void> };
  switch (p.kind) {
    case "flac":
      d = await flacDecoder(p.flac!.streaminfo);
      break;
    case "mp3": {
      const { MPEGDecoder } = await import("mpg123-decoder");
      d = new MPEGDecoder(); // gapless by default: LAME/Xing delay and padding are trimmed, as libsndfile does
      break;
    }
    case "vorbis": {
      const { OggVorbisDecoder } = await import("@wasm-audio-decoders/ogg-vorbis");
      d = new OggVorbisDecoder();
      break;
    }
    case "opus": {
      const { OggOpusDecoder } = await import("ogg-opus-decoder");
      // At the rate probeOgg chose as libsndfile does (8/12/16/24/48 kHz, see there);
      // `sampleRate` is accepted by OggOpusDecoder's constructor though missing from its typings.
      const Ctor = OggOpusDecoder as unknown as new (o: { sampleRate: number }) => StreamDecoder & { ready: Promise<void> };
      d = new Ctor({ sampleRate: p.samplerate });
      break;
    }
  }
  await d.ready;
  const free = d.free.bind(d);
  // After a trap the library's WebAssembly instance is unusable and its free() traps too: that
  // error had replaced the decode error the reader reports, and a reader's close() had failed
  // before closing its file. Dropped, the instance goes with the garbage collector.
  d.free = () => {
    try {
      free();
    } catch (err) {
      if (!(err instanceof WebAssembly.RuntimeError)) throw err;
    }
  };
  return d;
}

/**
 * The FLAC decoder library as its own `decode` runs it — its frame parser (codec-parser) cuts the
 * bytes into frames, and libFLAC decodes them — with each frame's codes that take the sample rate
 * or depth from STREAMINFO stated in the frame (withStatedCodes): no decoder is given STREAMINFO,
 * which libFLAC would need for such frames (libFLAC writes them for rates no other code states,
 * such as 768 kHz) and which made the library trap on seeks (see withStatedCodes).
 * @param streaminfo "fLaC" + the STREAMINFO block (FlacSeek.streaminfo)
 */
async function flacDecoder(streaminfo: Uint8Array): Promise<StreamDecoder & { ready: Promise<void> }> {
  const [{ FLACDecoder }, { default: CodecParser }] = await Promise.all([import("@wasm-audio-decoders/flac"), import("codec-parser")]);
  const flac = new FLACDecoder();
  const frames = new CodecParser<CodecFrame>("audio/flac", { enableFrameCRC32: false });
  const decodeFrames = (list: Uint8Array[]) => flac.decodeFrames(list.map((frame) => withStatedCodes(frame, streaminfo)));
  // parseChunk and flush are generators; their typings say Iterator, not Iterable.
  const framesOf = (parsed: Iterator<CodecFrame>) => Array.from(parsed as unknown as Iterable<CodecFrame>, (f) => f.data);
  return {
    ready: flac.ready,
    decode: (bytes) => decodeFrames(framesOf(frames.parseChunk(bytes))),
    flush: () => decodeFrames(framesOf(frames.flush())), // the end of the stream: only decodeFrames follows (Cursor.decodeLastFlacFrame)
    decodeFrames,
    free: () => flac.free(),
  };
}

/** A decoder library's own error text, one line of at most 200 printable characters: a detail, never the message. */
function libraryText(err: unknown): string {
  const text = String((err as Error)?.message ?? err).replace(/[^ -~]+/g, " ").trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * Runs a decoder call on the stream at `what` (e.g. "the audio after frame 8056, at 0.504 s");
 * anything it throws (codec-parser errors, WebAssembly traps, the libraries' own TypeErrors and
 * ReferenceErrors) becomes an AudioFormatError saying where the stream is corrupt. The library's
 * text ("Cannot read properties of undefined (reading 'samples')") names its internals, nothing a
 * user can act on, so it is only a trailing detail.
 */
async function guard<T>(kind: string, what: string, call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof AudioFormatError) throw err;
    throw new AudioFormatError(`${kind}: corrupt stream: cannot decode ${what} (decoder error: ${libraryText(err)})`);
  }
}

/**
 * `r`, unless the decoder reported an error decoding `what` (e.g. "the audio after frame 8056").
 * The message says where the stream breaks, not what the decoder said: its text ("libopus -4
 * OPUS_INVALID_PACKET: …", "_init vorbis_synthesisUnknown Error", "-1 MPG123_ERR") names its
 * internals, nothing a user can act on.
 */
function checkDecoded(kind: string, r: Decoded, what: string): Decoded {
  if (r.errors.length) throw new AudioFormatError(`${kind}: corrupt stream: cannot decode ${what}`);
  return r;
}

/**
 * A FLAC stream's error `err` (decoding failed, or the frames ran out, after frame `sample`), or
 * the error naming the frame that explains it when a header from the frame holding that one on
 * has a reserved code or a sample rate not STREAMINFO's (flacseek.ts frameProblemAfter): the
 * decoder skips such a frame and says only that the stream broke. Other errors, and other
 * formats', are returned as they are.
 */
async function explainFlac(src: ByteSource, probe: Probe, sample: number, err: unknown): Promise<unknown> {
  const flac = probe.flac;
  if (!flac || !(err instanceof AudioFormatError)) return err;
  const frame = await seekFrame(src, flac.firstFrame, sample, flac.blocksize, flac.dataEnd, flac.window);
  const problem = frame && (await frameProblemAfter(src, frame.offset, probe.samplerate));
  return problem ? new AudioFormatError(problem) : err;
}

/**
 * The FLAC decoder scales integers by 1/(2^(bits-1) − 1); libsndfile by 1/2^(bits-1). Recover the
 * integer (exact: |v| < 2^23 fits float32's 24-bit significand, so rounding is unambiguous) and
 * rescale, in place. `bits` is the depth of the decoded frames (their headers' value, which the
 * decoder reports and scaled by), not STREAMINFO's: see checkFirstFlacFrame.
 */
function rescaleFlac(channelData: Float32Array[], channels: number, n: number, bits: number): void {
  const full = 2 ** (bits - 1);
  const decoderScale = full - 1;
  for (let c = 0; c < channels; c++) {
    const x = channelData[c];
    for (let i = 0; i < n; i++) x[i] = Math.round(x[i] * decoderScale) / full;
  }
}

/** One live decoder walking the file, cutting its output into blocks of `blockFrames`. */
class Cursor {
  /** Index of the next block `next` returns. */
  block = 0;
  private readonly ready: Float32Array[][] = [];
  private buf: Float32Array[];
  private fill = 0;
  private filePos: number;
  private emitted: number;
  /** Decoded frames still to drop before block `block` begins (after a seek to a frame before it). */
  private skip: number;
  private done = false;
  /** Ogg: every page fed to the decoder is checked first (see OggPageCheck). */
  private pages: OggPageCheck | null;
  /** Where the stream's bytes end: the file's end, FLAC's dataEnd, an Ogg's (Probe.oggEnd), or the end of the chained Ogg link being decoded. */
  private dataEnd: number;
  /** Chained Ogg: the index in probe.chain of the link being decoded (0 otherwise). */
  link = 0;

  /**
   * @param dec         the decoder, fed from `start`
   * @param newDecoder  makes a decoder for the next link of a chained Ogg file
   * @param start       byte offset where decoding starts (first byte fed after `preamble`; Ogg: a page boundary)
   * @param firstSample sample number of the first decoded frame at `start`
   * @param block       index of the first block to produce; its start is ≥ firstSample
   * @param preamble    bytes fed to the decoder first (MP3: warm-up frames; Ogg: the link's header pages, for Opus their stand-in OggSeek.opusHeaders)
   */
  constructor(private dec: StreamDecoder, private readonly newDecoder: () => Promise<StreamDecoder>, private readonly src: ByteSource, private readonly probe: Probe, private readonly blockFrames: number, start: number, firstSample = 0, block = 0, private preamble: Uint8Array | null = null) {
    this.filePos = start;
    this.emitted = firstSample;
    this.block = block;
    this.skip = block * this.blockFrames - firstSample;
    this.buf = this.fresh();
    this.pages = probe.container === "ogg" ? new OggPageCheck(start, linkStarts(probe)) : null;
    if (probe.chain) {
      while (this.link + 1 < probe.chain.length && probe.chain[this.link + 1].start <= start) this.link++;
      this.dataEnd = probe.chain[this.link].end;
    } else this.dataEnd = probe.flac?.dataEnd ?? probe.oggEnd ?? src.size;
    if (!preamble) this.skipOpusHeaders(start);
    this.trimVorbisStart(start);
  }

  /**
   * Vorbis, decoding the current link from byte `start` when that is its first byte: the frames
   * it decodes before granule 0 (OggSeek.trim) are dropped, as a seek, placed by granule, drops
   * them. Decoded from the start, they had come first and moved the whole recording by their
   * number (500 frames in a file whose first page's granule was 500 short), where seeks did not.
   */
  private trimVorbisStart(start: number): void {
    const link = this.probe.chain?.[this.link];
    const seek = link ? link.seek : this.probe.ogg;
    if (!seek?.trim || start !== (link?.start ?? 0)) return;
    this.emitted -= seek.trim;
    this.skip += seek.trim;
  }

  /**
   * Opus, decoding the current link from byte `start` when that is its first byte: the decoder is
   * fed the stand-in for its header pages (OggSeek.opusHeaders), and the file from its first audio
   * page on. (The header pages skipped were checked by firstAudioPage, CRCs and all.)
   */
  private skipOpusHeaders(start: number): void {
    const link = this.probe.chain?.[this.link];
    const seek = link ? link.seek : this.probe.ogg;
    if (!seek?.opusHeaders || start !== (link?.start ?? 0)) return;
    this.preamble = seek.opusHeaders;
    this.filePos = seek.firstAudio;
    this.pages = new OggPageCheck(seek.firstAudio, linkStarts(this.probe));
  }

  /** The frame where the output ends: the end of the chained Ogg link being decoded, else the recording's length (null: not known). */
  private get limit(): number | null {
    const link = this.probe.chain?.[this.link];
    return link ? link.firstFrame + link.frames : this.probe.frames;
  }

  private fresh(): Float32Array[] {
    return Array.from({ length: this.probe.channels }, () => new Float32Array(this.blockFrames));
  }

  /** The next block (the last one may be short), or null past the end of the stream. */
  async next(): Promise<Float32Array[] | null> {
    try {
      return await this.decodeNext();
    } catch (err) {
      throw await explainFlac(this.src, this.probe, this.emitted, err);
    }
  }

  /** next, without explainFlac. */
  private async decodeNext(): Promise<Float32Array[] | null> {
    while (this.ready.length === 0 && !this.done) {
      let r: Decoded;
      if (this.preamble) {
        const pre = this.preamble;
        this.preamble = null;
        r = await guard(this.probe.kind, this.where(), () => this.dec.decode(pre));
      } else if (this.filePos < (await this.bytesEnd())) {
        const bytes = await this.src.read(this.filePos, Math.min(INPUT_BYTES, this.dataEnd - this.filePos));
        if (bytes.length === 0) throw new AudioFormatError(`${this.probe.kind}: file ended early at byte ${this.filePos}`);
        this.filePos += bytes.length;
        this.pages?.check(bytes);
        r = await guard(this.probe.kind, this.where(), () => this.dec.decode(bytes));
      } else {
        this.pages?.end();
        r = this.dec.flush ? await guard(this.probe.kind, this.where(), () => this.dec.flush!()) : { channelData: [], samplesDecoded: 0, errors: [] };
        this.append(this.checked(r));
        await this.decodeLastFlacFrame();
        if (await this.nextLink()) continue;
        this.done = true;
        if (this.fill > 0) this.ready.push(this.buf.map((c) => c.slice(0, this.fill)));
        continue;
      }
      this.append(this.checked(r));
    }
    const out = this.ready.shift() ?? null;
    if (out) this.block++;
    return out;
  }

  /**
   * FLAC, after the flush at the end of the bytes: the last frame, where the library's frame parser
   * dropped it. That parser confirms a frame by the header after it, and the last one by its CRC-16
   * over the bytes left at the flush; it dropped a last frame of a few bytes (silence or DC coded as
   * one value, a frame of one sample: 11–13 bytes), and every read of a file so ending failed at its
   * end (`stream ends at frame 57344, the header says 60000`). Given straight to libFLAC, it
   * decodes. Only when the decoder stopped right before that frame (lastFrameEnd found it whole).
   */
  private async decodeLastFlacFrame(): Promise<void> {
    const flac = this.probe.flac;
    const last = flac?.lastFrame;
    if (!flac || !last || this.emitted !== last.sample || !this.dec.decodeFrames) return;
    const frame = await this.src.read(last.offset, this.dataEnd - last.offset);
    this.append(this.checked(await guard("flac", this.where(), () => this.dec.decodeFrames!([frame]))));
  }

  /** dataEnd, for MP3 Layer III moved back to where a trailer begins once the frame scan reaches it past the next bytes to feed (Mp3Stream.dataEnd). */
  private async bytesEnd(): Promise<number> {
    if (this.probe.mp3 && this.filePos < this.dataEnd) this.dataEnd = Math.min(this.dataEnd, await this.probe.mp3.dataEnd(this.filePos + INPUT_BYTES));
    return this.dataEnd;
  }

  private append(r: Decoded): void {
    let n = r.samplesDecoded;
    // Where the container records the length (Opus end trimming), output beyond it is padding.
    const limit = this.limit;
    if (limit !== null && this.probe.flac?.endSample === limit && this.emitted + n > limit) throw this.flacOverrun(limit);
    if (limit !== null) n = Math.max(0, Math.min(n, limit - this.emitted));
    if (n === 0) return;
    if (this.probe.kind === "flac") this.checkFlac(r);
    else this.checkFormat(r);
    this.emitted += n;
    if (this.probe.kind === "flac") rescaleFlac(r.channelData, this.probe.channels, n, this.probe.bitsPerSample!);
    const dropped = Math.min(this.skip, n);
    this.skip -= dropped;
    for (let off = dropped; off < n; ) {
      const take = Math.min(n - off, this.blockFrames - this.fill);
      for (let c = 0; c < this.probe.channels; c++) this.buf[c].set(r.channelData[c].subarray(off, off + take), this.fill);
      this.fill += take;
      off += take;
      if (this.fill === this.blockFrames) {
        this.ready.push(this.buf);
        this.buf = this.fresh();
        this.fill = 0;
      }
    }
  }

  /**
   * FLAC frames after the first whose channels or depth differ from the stream's (the first frame's
   * were checked at open, checkFirstFlacFrame): libsndfile refuses a channel change ("flac channel
   * changed mid stream"); a change of depth would be rescaled wrongly within one decoder call.
   */
  private checkFlac(r: Decoded): void {
    const { channels, bitsPerSample, flac } = this.probe;
    if (r.channelData.length !== channels)
      throw new AudioFormatError(`flac: the frames after sample ${this.emitted} have ${plural(r.channelData.length, "channel")}, STREAMINFO says ${channels}`);
    if (r.bitDepth !== undefined && r.bitDepth !== bitsPerSample)
      throw new AudioFormatError(`flac: the frames after sample ${this.emitted} hold ${r.bitDepth}-bit samples, ${flac?.depthFrom ?? "STREAMINFO"} says ${bitsPerSample}-bit`);
  }

  /**
   * The decoder gives at least the channels, and exactly the rate, the header gave the recording
   * (and its duration): a damaged first MP3 frame header (a free-format Info frame, whose length
   * nothing checks) gave 22050 Hz for a 16 kHz stream and no error. (mpg123 decodes a mono stream
   * to two equal channels: more channels than the header's are not an error.)
   */
  private checkFormat(r: Decoded): void {
    const { kind, channels, samplerate } = this.probe;
    if (r.channelData.length < channels)
      throw new AudioFormatError(`${kind}: the audio after frame ${this.emitted} decodes to ${plural(r.channelData.length, "channel")}, the header says ${channels} (corrupt?)`);
    if (r.sampleRate !== undefined && r.sampleRate !== samplerate)
      throw new AudioFormatError(`${kind}: the audio after frame ${this.emitted} decodes at ${r.sampleRate} Hz, the header says ${samplerate} Hz (corrupt?)`);
  }

  /**
   * Chained Ogg, at the end of a link's bytes (its decoder flushed): checks that the link gave the
   * frames its last granule states — the links after it are placed by that count — and goes on to
   * the next link with a fresh decoder, so each link decodes as the file it was. False at the last
   * link, or in a file of one stream.
   */
  private async nextLink(): Promise<boolean> {
    const chain = this.probe.chain;
    if (!chain || this.link + 1 >= chain.length) return false;
    const link = chain[this.link];
    if (this.emitted < link.firstFrame + link.frames)
      throw new AudioFormatError(`${this.probe.kind}: the chained stream (link) that begins at byte ${link.start} ends at its frame ${this.emitted - link.firstFrame}, its last page says ${link.frames} (truncated, or corrupt from there?)`);
    const next = await this.newDecoder();
    this.dec.free();
    this.dec = next;
    this.link++;
    this.dataEnd = chain[this.link].end;
    this.skipOpusHeaders(this.filePos);
    this.trimVorbisStart(this.filePos);
    return true;
  }

  /** Where decoding stands, for errors a decoder throws: the frames so far and their time. */
  private where(): string {
    return `the audio after frame ${this.emitted}, at ${+(this.emitted / this.probe.samplerate).toFixed(3)} s`;
  }

  /** Feeds output decoded before this cursor existed (the pages a seek used to align itself). */
  inject(r: Decoded): void {
    this.append(this.checked(r));
  }

  /**
   * After alignOgg: the pages it fed were checked by `pages`, which goes on checking, and the first
   * `lead` bytes at `start` were fed already (not read again).
   */
  continueAfter(pages: OggPageCheck, lead: Uint8Array): void {
    this.pages = pages;
    this.filePos += lead.length;
  }

  /**
   * FLAC frames decoded past `limit`, where STREAMINFO and the last frame's header both end the
   * stream: frames repeated or out of order (a frame copied twice, a second copy of the stream
   * appended), which libFLAC decodes without an error. Clipped to the length, their samples had
   * come out shifted or from the copy (`cat f f`: the last frame from the second copy's start,
   * off by up to 0.99), while seeks, placed by frame number, read other ones.
   */
  private flacOverrun(limit: number): AudioFormatError {
    return new AudioFormatError(`flac: corrupt stream: the frames fed up to byte ${this.filePos} run past sample ${limit}, where STREAMINFO and the last frame end, after frame ${this.emitted} (a frame repeated, or a second stream appended?)`);
  }

  /** `r`, unless it failed to decode: everything before the frames emitted so far did decode. */
  private checked(r: Decoded): Decoded {
    return checkDecoded(this.probe.kind, r, `the audio after frame ${this.emitted}`);
  }

  /** The stream's length in frames once this cursor has decoded to its end, else undefined. */
  get ended(): number | undefined {
    return this.done ? this.emitted : undefined;
  }

  free(): void {
    this.dec.free();
  }
}

/** Ranged reads over a compressed stream: block cache + forward cursor (see the file comment). */
export class StreamReader implements AudioReader {
  readonly info: AudioInfo;
  private readonly cache = new Map<number, Float32Array[]>();
  private cursor: Cursor | null = null;

  private constructor(private readonly src: ByteSource, private readonly probe: Probe, private readonly dataStart: number, private readonly blockFrames: number) {
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

  /** Opens a reader; counts the frames with one decoding pass when the header does not say. */
  static async open(src: ByteSource, probe: Probe, dataStart: number, options: StreamOptions): Promise<StreamReader> {
    checkBasics(probe.container, probe.channels, probe.samplerate);
    const blockFrames = options.blockFrames ?? BLOCK_FRAMES;
    if (!Number.isInteger(blockFrames) || blockFrames < 1) throw new RangeError(`blockFrames must be a positive integer, got ${blockFrames}`);
    const r = new StreamReader(src, probe, dataStart, blockFrames);
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

  /** newDecoder, for a cursor that goes on to the next link of a chained Ogg file. */
  private readonly decoders = () => this.newDecoder();

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
    if (!this.cursor) this.cursor = new Cursor(await this.newDecoder(), this.decoders, this.src, this.probe, this.blockFrames, this.dataStart);
    const index = this.cursor.block;
    const block = await this.cursor.next();
    if (!block) return null;
    this.cache.set(index, block);
    if (this.cache.size > CACHE_BLOCKS) this.cache.delete(this.cache.keys().next().value as number);
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
    const dec = await this.newDecoder();
    this.cursor = new Cursor(dec, this.decoders, this.src, this.probe, this.blockFrames, frame.offset, frame.sample, k);
  }

  /**
   * Replaces the cursor by one that starts a few MPEG frames before block k, fed warm-up frames
   * first (see mp3seek.ts). Returns false when the stream cannot be placed there, or k is close
   * enough to the start: the caller decodes from the start.
   */
  private async seekMp3(k: number, mp3: Mp3Stream): Promise<boolean> {
    const plan = await mp3.seek(k * this.blockFrames);
    if (!plan) return false;
    const dec = await this.newDecoder();
    this.cursor?.free();
    this.cursor = new Cursor(dec, this.decoders, this.src, this.probe, this.blockFrames, plan.resume, plan.firstSample, k, plan.warmup);
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
    const dec = await this.newDecoder();
    this.cursor?.free();
    this.cursor = new Cursor(dec, this.decoders, this.src, this.probe, this.blockFrames, link.start, base, k);
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
        this.cursor?.free();
        this.cursor = new Cursor(dec, this.decoders, this.src, this.probe, this.blockFrames, page.offset + page.length, base + Math.round((page.granule - ogg.startGranule) / ogg.granulesPerFrame), k, headers);
        return true;
      }
      try {
        const aligned = await this.alignOgg(dec, ogg, headers, page.offset + page.length, end);
        if (!aligned) {
          dec.free();
          return false; // no output before the end of the link: too close to its end to seek
        }
        if (aligned.first <= target) {
          this.cursor?.free();
          this.cursor = new Cursor(dec, this.decoders, this.src, this.probe, this.blockFrames, aligned.pos, base + aligned.first, k);
          this.cursor.continueAfter(aligned.pages, aligned.lead);
          for (const o of aligned.outputs) this.cursor.inject(o);
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
      const bytes = await this.src.read(pos, Math.min(65536 + 282 + 1, end - pos));
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
    this.dropCursor();
    this.cache.clear();
    await this.src.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Header probes. Each reads a few bytes, checks them, and never sizes anything by them.

/** Length of an ID3v2 tag at `at` (header + syncsafe size + optional footer), or 0. */
function id3v2Length(b: Uint8Array, at: number): number {
  if (b.length < at + 10 || b[at] !== 0x49 || b[at + 1] !== 0x44 || b[at + 2] !== 0x33) return 0; // "ID3"
  const size = ((b[at + 6] & 0x7f) << 21) | ((b[at + 7] & 0x7f) << 14) | ((b[at + 8] & 0x7f) << 7) | (b[at + 9] & 0x7f);
  return 10 + size + (b[at + 5] & 0x10 ? 10 : 0);
}

/** ID3v2 tags in a row at a file's start that afterId3v2Tags skips; more is not a tagged file. */
const MAX_ID3V2_TAGS = 16;

/**
 * Where the audio starts after the ID3v2 tags at the start of the file (`head`: its first bytes),
 * and 64 bytes from there. Taggers may leave more than one (a new tag written before an old one):
 * libsndfile skips them all, where only the first was skipped and a FLAC or MP3 behind two was
 * "not a recognised audio format".
 */
async function afterId3v2Tags(src: ByteSource, head: Uint8Array): Promise<{ skip: number; tagged: Uint8Array }> {
  let skip = 0;
  let tagged = head;
  for (let tags = 0; ; tags++) {
    const length = id3v2Length(tagged, 0);
    if (length === 0) return { skip, tagged };
    if (tags === MAX_ID3V2_TAGS) throw new AudioFormatError(`more than ${MAX_ID3V2_TAGS} ID3v2 tags in a row at byte ${skip}`);
    if (skip + length >= src.size) throw new AudioFormatError(`the ID3v2 tag at byte ${skip} declares ${length} bytes, past the end of the file (${src.size} bytes)`);
    skip += length;
    tagged = await src.read(skip, 64);
  }
}

/** FLAC: "fLaC" then the STREAMINFO block (FLAC format spec, METADATA_BLOCK_STREAMINFO). */
function probeFlac(b: Uint8Array, at: number): Probe | null {
  if (b.length < at + 42 || String.fromCharCode(...b.subarray(at, at + 4)) !== "fLaC") return null;
  if ((b[at + 4] & 0x7f) !== 0) throw new AudioFormatError("flac: first metadata block is not STREAMINFO");
  const p = at + 8 + 10; // skip block header (4) and min/max block and frame sizes (10)
  const samplerate = (b[p] << 12) | (b[p + 1] << 4) | (b[p + 2] >> 4);
  const channels = ((b[p + 2] >> 1) & 7) + 1;
  const bits = (((b[p + 2] & 1) << 4) | (b[p + 3] >> 4)) + 1;
  const total = (b[p + 3] & 0x0f) * 2 ** 32 + ((b[p + 4] << 24) >>> 0) + (b[p + 5] << 16) + (b[p + 6] << 8) + b[p + 7];
  if (samplerate === 0) throw new AudioFormatError("flac: STREAMINFO declares sample rate 0");
  if (bits < 4) throw new AudioFormatError(`flac: STREAMINFO declares ${bits} bits per sample`);
  return { kind: "flac", container: "flac", samplerate, channels, bitsPerSample: bits, frames: total > 0 ? total : null };
}

/**
 * MP3: the first frame header gives rate and channels; a Xing/Info frame, as mpg123 reads it, the
 * length and gapless trimming; Layer III streams get a frame index for seeking (mp3seek.ts).
 * Returns null when `b[0]` is not an MPEG audio frame header.
 */
async function probeMpeg(src: ByteSource, b: Uint8Array, at: number): Promise<Probe | null> {
  const h = parseMpegHeader(b, 0);
  if (!h) return null;
  // Two bytes that look like a frame header are no MPEG stream: the next frame must follow where
  // the first ends, in the same layer and rate, unless the file ends there (mpg123 and libsndfile
  // check the same; one header before random bytes decoded to 1536 frames of noise).
  const next = at + h.frameBytes;
  if (h.frameBytes > 0 && next + 4 <= src.size) {
    const n = parseMpegHeader(await src.read(next, 4), 0);
    if (!n || n.layer !== h.layer || n.samplerate !== h.samplerate)
      throw new AudioFormatError(`mp3: the frame at byte ${at} is not followed by another at byte ${next} (not an MPEG audio stream, or corrupt)`);
    if (n.channels !== h.channels)
      throw new AudioFormatError(`mp3: the frame at byte ${at} has ${plural(h.channels, "channel")}, the next one ${n.channels} (corrupt?)`);
  }
  const probe: Probe = { kind: "mp3", container: "mp3", samplerate: h.samplerate, channels: h.channels, bitsPerSample: null, frames: null };
  if (h.layer !== 3 || h.frameBytes === 0) return probe; // Layer I/II and free format: counted and read by decoding
  const tag = parseInfoTag(await src.read(at, h.frameBytes), 0, h);
  probe.mp3 = new Mp3Stream(src, h, tag ? at + h.frameBytes : at, tag);
  probe.frames = await probe.mp3.length();
  return probe;
}

/**
 * Ogg: the first page's first packet names the codec and is checked field by field against its
 * specification (Vorbis I spec §4.2.2; RFC 7845 §5.1), so a header that lies is refused here,
 * naming the field, rather than failing inside the decoder library with its own text. `head`: the
 * first bytes of the page at byte `at` (the first link of a chained file, or another one).
 */
async function probeOgg(src: ByteSource, head: Uint8Array, at = 0): Promise<Probe | null> {
  if (head.length < 28 || String.fromCharCode(...head.subarray(0, 4)) !== "OggS") return null;
  // The first packet: the lacing values up to the first below 255 (RFC 3533 §6). It is read whole
  // (at most 255 × 255 bytes): an OpusHead's channel mapping table can reach past `head`.
  const segments = head[26];
  const lacing = await src.read(at + 27, segments);
  let length = 0;
  for (const l of lacing) {
    length += l;
    if (l < 255) break;
  }
  const b = await src.read(at + 27 + segments, length);
  const text = (o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (text(0, 7) === "\x01vorbis") {
    const spec = "the Vorbis I spec (§4.2.2)";
    if (b.length < 30) throw new AudioFormatError(`vorbis: identification header is ${b.length} bytes; ${spec} requires 30 (truncated?)`);
    const version = v.getUint32(7, true);
    if (version !== 0) throw new AudioFormatError(`vorbis: identification header declares vorbis_version ${version}; ${spec} allows only 0`);
    const channels = b[11];
    const samplerate = v.getUint32(12, true);
    if (channels === 0) throw new AudioFormatError(`vorbis: identification header declares audio_channels 0; ${spec} requires at least 1`);
    if (samplerate === 0) throw new AudioFormatError(`vorbis: identification header declares audio_sample_rate 0; ${spec} requires more than 0`);
    const [e0, e1] = [b[28] & 0x0f, b[28] >> 4];
    if (e0 < 6 || e1 > 13 || e0 > e1)
      throw new AudioFormatError(`vorbis: identification header declares blocksize_0 ${2 ** e0} and blocksize_1 ${2 ** e1}; ${spec} allows powers of two from 64 to 8192, blocksize_0 ≤ blocksize_1`);
    if ((b[29] & 1) === 0) throw new AudioFormatError(`vorbis: identification header's framing bit is 0; ${spec} requires 1`);
    return { kind: "vorbis", container: "ogg", samplerate, channels, bitsPerSample: null, frames: null, vorbisBlocksizes: [2 ** e0, 2 ** e1] };
  }
  if (text(0, 8) === "OpusHead") {
    checkOpusHead(b);
    const inputRate = v.getUint32(12, true);
    // libsndfile (ogg_opus.c) decodes at the lowest rate libopus supports at or above the original
    // one (22050 Hz → 24000; 0, "unspecified", → 8000).
    const samplerate = OPUS_RATES.find((rate) => rate >= inputRate) ?? 48000;
    return { kind: "opus", container: "ogg", samplerate, channels: b[9], bitsPerSample: null, frames: null, preSkip: v.getUint16(10, true) };
  }
  throw new AudioFormatError(`ogg: unsupported codec in the first packet ('${text(0, 8).replace(/[^ -~]/g, "?")}'); Vorbis and Opus are supported`);
}

/** The rates libopus decodes at (RFC 6716 §2), in increasing order. */
const OPUS_RATES = [8000, 12000, 16000, 24000, 48000];

/**
 * The OpusHead packet `b` against RFC 7845 §5.1: version, output channels and the channel mapping
 * (family 0: 1 or 2 channels, no table; family 1: 1 to 8 channels; every other family — 2..254
 * are treated as 255, §5.1.1.4 — a table of stream count N ≥ 1, coupled count M ≤ N and one
 * entry per channel, each below N + M or 255 for silence).
 */
function checkOpusHead(b: Uint8Array): void {
  if (b.length < 19) throw new AudioFormatError(`opus: OpusHead is ${b.length} bytes; RFC 7845 §5.1 requires at least 19 (truncated?)`);
  const version = b[8];
  if (version >> 4 !== 0) throw new AudioFormatError(`opus: OpusHead version ${version} (major version ${version >> 4}) is not supported: RFC 7845 §5.1 defines major version 0`);
  // Versions 2..15 are compatible minor revisions per the RFC, but the decoder (codec-parser)
  // recognises only version 1, the one RFC 7845 defines: refused here rather than inside it.
  if (version !== 1) throw new AudioFormatError(`opus: OpusHead version ${version} is not supported: RFC 7845 §5.1 defines version 1, the only one the decoder reads`);
  const channels = b[9];
  const family = b[18];
  if (channels === 0) throw new AudioFormatError("opus: OpusHead declares 0 channels; RFC 7845 §5.1 requires at least 1");
  if (family === 0) {
    if (channels > 2) throw new AudioFormatError(`opus: OpusHead declares ${channels} channels with channel mapping family 0, which allows only 1 or 2 (RFC 7845 §5.1.1.1)`);
    return;
  }
  if (b.length < 21 + channels)
    throw new AudioFormatError(`opus: OpusHead declares channel mapping family ${family} but has no channel mapping table (the header is ${b.length} bytes; ${plural(channels, "channel")} need${channels === 1 ? "s" : ""} ${21 + channels}, RFC 7845 §5.1.1)`);
  if (family === 1 && channels > 8) throw new AudioFormatError(`opus: OpusHead declares ${channels} channels with channel mapping family 1, which allows 1 to 8 (RFC 7845 §5.1.1.2)`);
  const streams = b[19];
  const coupled = b[20];
  if (streams === 0) throw new AudioFormatError("opus: OpusHead declares stream count 0 (RFC 7845 §5.1.1: at least 1)");
  if (coupled > streams) throw new AudioFormatError(`opus: OpusHead declares ${coupled} coupled streams of ${streams} (RFC 7845 §5.1.1: at most the stream count)`);
  if (streams + coupled > 255) throw new AudioFormatError(`opus: OpusHead declares ${streams} streams with ${coupled} coupled, more than 255 decoded channels (RFC 7845 §5.1.1)`);
  for (let c = 0; c < channels; c++) {
    const index = b[21 + c];
    if (index !== 255 && index >= streams + coupled)
      throw new AudioFormatError(`opus: OpusHead maps output channel ${c} to decoded channel ${index}, but ${streams} stream(s) with ${coupled} coupled decode ${streams + coupled} (RFC 7845 §5.1.1)`);
  }
}

/** Bytes at the end of an Ogg file looked at first for its last page (oggTail); then windows twice as long before them, up to TAIL_BYTES_MAX. */
const TAIL_BYTES = 1 << 16;
const TAIL_BYTES_MAX = 1 << 20;

/** "OggS", the capture pattern that begins every Ogg page (RFC 3533 §6). */
const CAPTURE = new Uint8Array([0x4f, 0x67, 0x67, 0x53]);

/** What the end of an Ogg file tells at open (see oggTail). */
interface OggTail {
  /** Granule position of the last page that ends a packet, null if none is found. */
  granule: number | null;
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
async function oggTail(src: ByteSource): Promise<OggTail> {
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
  let granuleAt = 0; // the offset of the page of found.granule
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
    if (page.granule >= 0) [found.granule, granuleAt] = [page.granule, tailStart + at];
    at += page.length;
  }
  if (found.pagesEnd !== null) {
    const after = tail.subarray(found.pagesEnd - tailStart, found.pagesEnd - tailStart + 4);
    if (!CAPTURE.subarray(0, after.length).every((byte, i) => byte === after[i])) found.dataEnd = found.pagesEnd;
  }
  if (found.granule !== null && found.granule >= 2 ** 53)
    throw new AudioFormatError(`ogg: the last page (at byte ${granuleAt}) states granule position ${found.granule}, more than any stream holds (corrupt header?)`);
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
 * A stream's length in frames at the decoding rate, from its last granule and the granule where
 * its audio begins (OggSeek.startGranule, 0 where not known), as libvorbisfile and libopusfile
 * derive it (libsndfile too, for a stream that begins at granule 0).
 */
function oggFrames(probe: Probe, granule: number, startGranule: number): number {
  if (probe.kind === "vorbis") return Math.max(0, granule - startGranule);
  const preSkip = probe.preSkip ?? 0;
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
async function chainOgg(src: ByteSource, probe: Probe, pagesEnd: number, dataEnd: number): Promise<void> {
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
      throw new AudioFormatError(`ogg: the last page of the chained stream (link) at byte ${link.start} states granule position ${link.granule}, more than any stream holds (corrupt header?)`);
    const seek = await oggSeekInfo(src, link.start, link.end, link.headers, link.serial, p);
    const frames = oggFrames(p, link.granule, seek?.startGranule ?? 0);
    lastGranule = link.granule;
    chain.push({ start: link.start, end: link.end === src.size ? dataEnd : link.end, firstFrame, frames, seek });
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
function oggHeaderPackets(probe: Probe): number {
  return probe.kind === "opus" ? 2 : 3;
}

/**
 * What seeking in, and decoding from the start of, the stream `serial` (the file, or a link of a
 * chained one) needs: its pages from its BOS page at byte `start` to `end`, its header pages
 * ending at `headers` (oggseek.ts firstAudioPage); undefined where that was not found.
 */
async function oggSeekInfo(src: ByteSource, start: number, end: number, headers: HeaderPages | null, serial: number, probe: Probe): Promise<OggSeek | undefined> {
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
  out.set([0x4f, 0x67, 0x67, 0x53], id.length); // "OggS", version 0, no flags, granule 0 (RFC 3533 §6)
  page.setUint32(14, serial, true);
  page.setUint32(18, 1, true);
  out[id.length + 26] = 1; // one segment
  out[id.length + 27] = tags.length;
  out.set(tags, id.length + 28);
  page.setUint32(22, oggPageCrc(out.subarray(id.length), 0, 28 + tags.length), true);
  return out;
}

/** Walks the FLAC metadata blocks (4-byte headers: last flag, type, 24-bit length) to the first frame. */
async function flacSeekInfo(src: ByteSource, start: number, head: Uint8Array): Promise<FlacSeek> {
  let at = start + 4;
  for (let n = 0; ; n++) {
    if (n > 10_000) throw new AudioFormatError("flac: more than 10000 metadata blocks");
    const h = await src.read(at, 4);
    if (h.length < 4) throw new AudioFormatError(`flac: file ends inside the metadata at byte ${at}`);
    const length = (h[1] << 16) | (h[2] << 8) | h[3];
    at += 4 + length;
    if (at > src.size) throw new AudioFormatError(`flac: metadata block declares ${length} bytes, past the end of the file`);
    if (h[0] & 0x80) break;
  }
  const streaminfo = head.slice(0, 42);
  const blocksize = (head[10] << 8) | head[11];
  return { firstFrame: at, streaminfo, blocksize, depthFrom: "STREAMINFO" };
}

/**
 * The first FLAC frame's header against STREAMINFO (when the bytes at `firstFrame` are a frame
 * header with a valid CRC-8; otherwise the decoder's output is checked, Cursor.checkFlac).
 *
 * Codes: a reserved one, or a sample rate not STREAMINFO's, is refused here, naming the frame's
 * byte (frameHeaderProblem): the decoder skips a frame it cannot parse, and the next one's
 * samples would have been read as the first's. (Code 0, "from STREAMINFO", is what a rate above
 * 655350 Hz gets, RFC 9639 §9.1.2.)
 *
 * Channels: a mismatch is refused here, at open, naming both counts (libsndfile refuses it too,
 * "flac channel changed mid stream").
 *
 * Depth: the samples are decoded at the depth the frame headers state, not STREAMINFO's. libFLAC
 * decodes each frame by its own header (its CRC-8 covers that field; nothing covers STREAMINFO's),
 * the WebAssembly decoder reports that depth and scales by it, and libsndfile (1.0.35 with libFLAC
 * 1.4, checked on flac_pcm_16.flac and flac_pcm_24.flac with STREAMINFO saying 8 or 24 bits)
 * normalises by frame->header.bits_per_sample: the same samples as the file with a true STREAMINFO.
 * Scaling by STREAMINFO's depth instead re-quantized 16-bit audio to 4 or 8 bits without a word.
 * So `bitsPerSample` (what `info` shows) becomes the frames' depth; libsndfile refuses to open a
 * STREAMINFO depth it does not implement (4, 32), where this decodes the frames as they are.
 *
 * Block size: a fixed-blocksize stream numbers its frames, and frame n starts at sample n × the
 * frames' block size — the first frame's, not STREAMINFO's min/max (which nothing checks).
 * Numbered by a false STREAMINFO (4096 for frames of 1152, or the reverse), seeks found no frame,
 * or a whole file was refused as cut short. The frame searches size their window by it too
 * (searchWindow). (libsndfile 1.2 goes
 * wrong there too: its seeks fail or give wrong samples, and frames of 1152 said to be 4096 are
 * wrong after the first even read from the start.)
 */
async function checkFirstFlacFrame(src: ByteSource, probe: Probe, flac: FlacSeek): Promise<void> {
  const b = await src.read(flac.firstFrame, 16); // the longest frame header
  const first = readFrameHeader(b, 0, flac.blocksize);
  if (!first) return;
  const problem = frameHeaderProblem(first, flac.firstFrame, probe.samplerate);
  if (problem) throw new AudioFormatError(problem);
  if ((b[1] & 1) === 0) {
    // Fixed-blocksize strategy: frame numbers count blocks of this size (see Block size above).
    flac.blocksize = first.blocksize;
  }
  const assignment = b[3] >> 4; // 0..7: independent channels, 8..10: stereo decorrelation
  const channels = assignment < 8 ? assignment + 1 : 2;
  if (channels !== probe.channels) throw new AudioFormatError(`flac: the frames have ${plural(channels, "channel")}, STREAMINFO says ${probe.channels}`);
  const depth = [0, 8, 12, 0, 16, 20, 24, 32][first.sizeCode]; // 0: "get from STREAMINFO" (3 is reserved, refused above)
  if (depth !== 0) {
    probe.bitsPerSample = depth;
    flac.depthFrom = "the first frame";
  }
}

/**
 * At a FLAC reader's open: refuses what the decoder library cannot read (decoderProblem), sets the
 * frame searches' window and where the frames end (lastFrameEnd), and returns that end.
 */
async function openFlac(src: ByteSource, probe: Probe, flac: FlacSeek): Promise<FlacEnd> {
  const bits = probe.bitsPerSample ?? 0;
  const problem = decoderProblem(flac.streaminfo, bits, flac.blocksize);
  if (problem) throw new AudioFormatError(problem);
  flac.window = searchWindow(flac.streaminfo, bits, flac.blocksize);
  const end = await lastFrameEnd(src, flac.firstFrame, flac.blocksize, flac.window);
  [flac.dataEnd, flac.endSample, flac.lastFrame] = [end.byte, end.sample, end.last];
  return end;
}

/**
 * A FLAC's length in `frames` against `end`, the first sample after its last whole frame (lastFrameEnd).
 * - Stated by STREAMINFO: a file cut short (a recorder that lost power) or a header that claims
 *   more is refused when it is opened, with the error a read at its end would give — registered,
 *   it had the header's duration (3 × 10^9 frames, 52 h, for a 1 s file) and failed only on the
 *   tiles past the real end.
 * - Counted by decoding (STREAMINFO total 0, as streaming encoders write): the decoder stops
 *   producing output at a corrupt frame without reporting an error, so a count that falls short
 *   of the last frame is a stream cut there.
 */
function checkFlacEnd(end: number, frames: number, counted: boolean): void {
  if (!counted && end < frames) throw shortStream("flac", end, frames, true);
  if (counted && end > frames) throw new AudioFormatError(`flac: corrupt stream: decoding stops at frame ${frames}, but the file's frames run to frame ${end}`);
}

/**
 * The error of a stream shorter than its header says, at open (checkFlacEnd) or when a read runs
 * out (StreamReader.read): `exact` when its end is known, else where the read looked for audio.
 */
function shortStream(kind: string, end: number, stated: number, exact: boolean): AudioFormatError {
  return new AudioFormatError(`${kind}: stream ends ${exact ? "at" : "near"} frame ${end}, the header says ${stated} (truncated, or corrupt from there?)`);
}

/** Recognises FLAC, MP3 and Ogg from the first bytes; opens a StreamReader or returns null. */
export async function openCompressed(src: ByteSource, head: Uint8Array, options: StreamOptions = {}): Promise<AudioReader | null> {
  const ogg = await probeOgg(src, head);
  if (ogg) {
    const tail = await oggTail(src);
    const serial = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(14, true);
    if (tail.serial !== null && tail.serial !== serial) await chainOgg(src, ogg, tail.pagesEnd!, tail.dataEnd);
    else {
      ogg.oggEnd = tail.dataEnd;
      // Each header page read by itself, up to a whole page's length.
      const pageAt = async (at: number) => parsePage(await src.read(at, Math.min(65536 + 282, src.size - at)), 0);
      ogg.ogg = await oggSeekInfo(src, 0, src.size, await firstAudioPage(pageAt, 0, src.size, serial, oggHeaderPackets(ogg)), serial, ogg);
      ogg.frames = tail.granule === null ? null : oggFrames(ogg, tail.granule, ogg.ogg?.startGranule ?? 0);
    }
    // A stream that begins in the last 64 KiB where no link begins.
    const starts = linkStarts(ogg);
    const again = tail.begins.find((b) => !starts.has(b.offset));
    if (again) throw streamBeginsElsewhere(again.offset, again.serial, again.sequence, again.before);
    return StreamReader.open(src, ogg, 0, options);
  }
  const { skip, tagged } = await afterId3v2Tags(src, head);
  const flac = probeFlac(tagged, 0);
  if (flac) {
    flac.flac = await flacSeekInfo(src, skip, tagged);
    await checkFirstFlacFrame(src, flac, flac.flac);
    return StreamReader.open(src, flac, skip, options);
  }
  const mp3 = await probeMpeg(src, tagged, skip);
  if (mp3) return StreamReader.open(src, mp3, skip, options);
  return null;
}
