/**
 * What opening a compressed stream (FLAC, MP3, Ogg Vorbis/Opus) learns of it before decoding — a
 * Probe, with the parts seeking needs (FlacSeek, set by flacopen.ts; OggSeek and OggLink, set by
 * oggopen.ts; Mp3Stream, mp3seek.ts) — and the header probes. Each probe reads a few bytes, checks
 * them, and never sizes anything by them.
 */
import { Mp3Stream, type MpegHeader, parseInfoTag, parseMpegHeader } from "./mp3seek.js";
import type { ByteSource } from "./source.js";
import { AudioFormatError, plural } from "./types.js";

type CompressedKind = "flac" | "mp3" | "vorbis" | "opus";

/**
 * A compressed stream: what its header probe learns before decoding, and the seeking facts
 * (`flac`, `ogg`, `oggEnd`, `chain`) that opening it adds (flacopen.ts, oggopen.ts).
 */
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
  /** Opus only: the OpusHead Output Gain, in 1/256 dB (Q7.8, RFC 7845 §5.1); of a chained file's first link (OggLink.outputGain). */
  outputGain?: number;
  /** Vorbis only: blocksize_0 and blocksize_1 of the identification header. */
  vorbisBlocksizes?: [number, number];
  /** MP3 Layer III only: frame index, gapless trimming and seeking (see mp3seek.ts). */
  mp3?: Mp3Stream;
}

/** Where Ogg audio pages start, and how granules map to output frames. */
export interface OggSeek {
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
export interface OggLink {
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
  /** Opus: its OpusHead's Output Gain (Probe.outputGain): each link's own applies to its samples. */
  outputGain?: number;
}

/** The link of `chain` that holds frame `frame` (the last one for frames past the end). */
export function linkOf(chain: OggLink[], frame: number): number {
  const i = chain.findIndex((l) => frame < l.firstFrame + l.frames);
  return i < 0 ? chain.length - 1 : i;
}

/** Where the links of an Ogg file begin: the only places a page may begin a stream (OggPageCheck). */
export function linkStarts(probe: Probe): ReadonlySet<number> {
  return new Set(probe.chain?.map((l) => l.start) ?? [0]);
}

/** Where FLAC audio frames start and what to feed a fresh decoder before a frame from the middle. */
export interface FlacSeek {
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
export async function afterId3v2Tags(src: ByteSource, head: Uint8Array): Promise<{ skip: number; tagged: Uint8Array }> {
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
export function probeFlac(b: Uint8Array, at: number): Probe | null {
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
 * gapless trimming; Layer III streams get a frame index for seeking (mp3seek.ts), which opening
 * asks for the length (Mp3Stream.length: the tag's count, checked against the file's size, else
 * every frame header scanned — not a header probe's cost). Returns null when `b[0]` is not an MPEG audio frame header.
 */
export async function probeMpeg(src: ByteSource, b: Uint8Array, at: number): Promise<Probe | null> {
  const h = parseMpegHeader(b, 0);
  if (!h) return null;
  if (h.frameBytes === 0) throw await freeFormatError(src, h, at);
  // Two bytes that look like a frame header are no MPEG stream: the next frame must follow where
  // the first ends, in the same layer and rate, unless the file ends there (mpg123 and libsndfile
  // check the same; one header before random bytes decoded to 1536 frames of noise).
  const next = at + h.frameBytes;
  if (next + 4 <= src.size) {
    const n = parseMpegHeader(await src.read(next, 4), 0);
    if (!n || n.layer !== h.layer || n.samplerate !== h.samplerate)
      throw new AudioFormatError(`mp3: the frame at byte ${at} is not followed by another at byte ${next} (not an MPEG audio stream, or corrupt)`);
    if (n.channels !== h.channels)
      throw new AudioFormatError(`mp3: the frame at byte ${at} has ${plural(h.channels, "channel")}, the next one ${n.channels} (corrupt?)`);
  }
  const probe: Probe = { kind: "mp3", container: "mp3", samplerate: h.samplerate, channels: h.channels, bitsPerSample: null, frames: null };
  if (h.layer !== 3) return probe; // Layer I/II: counted and read by decoding
  const tag = parseInfoTag(await src.read(at, h.frameBytes), 0, h);
  probe.mp3 = new Mp3Stream(src, h, tag ? at + h.frameBytes : at, tag);
  return probe;
}

/** The most bytes mpg123 looks through for the frame after a free-format one (MAXFRAMESIZE in its frame.h). */
const FREE_FORMAT_REACH = 3456;

/**
 * The refusal of an MP3 whose first frame `h`, at byte `at`, is in free format (bitrate index 0:
 * its length is where the next frame of the stream starts, as mpg123 finds it). The decoder library
 * (mpg123 fed in pieces) finds no frames in such a stream — it read a 16 kHz one as 2496 samples at
 * 44100 Hz —, so it is refused at open, where the frame after it is named; without one within
 * FREE_FORMAT_REACH the bytes are no MPEG stream.
 */
async function freeFormatError(src: ByteSource, h: MpegHeader, at: number): Promise<AudioFormatError> {
  const b = await src.read(at, Math.min(FREE_FORMAT_REACH + 4, src.size - at));
  for (let i = 4; i + 4 <= b.length; i++) {
    const n = parseMpegHeader(b, i);
    if (n && n.frameBytes === 0 && n.layer === h.layer && n.samplerate === h.samplerate && n.channels === h.channels)
      return new AudioFormatError(`mp3: free-format MP3 (bitrate index 0) is not supported (the frame at byte ${at}, whose next frame begins at byte ${at + i})`);
  }
  return new AudioFormatError(`mp3: the frame at byte ${at} is in free format (bitrate index 0) and no frame of its stream follows it within ${FREE_FORMAT_REACH} bytes (not an MPEG audio stream, or corrupt)`);
}

/**
 * Ogg: the first page's first packet names the codec and is checked field by field against its
 * specification (Vorbis I spec §4.2.2; RFC 7845 §5.1), so a header that lies is refused here,
 * naming the field, rather than failing inside the decoder library with its own text. `head`: the
 * first bytes of the page at byte `at` (the first link of a chained file, or another one).
 */
export async function probeOgg(src: ByteSource, head: Uint8Array, at = 0): Promise<Probe | null> {
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
    return { kind: "opus", container: "ogg", samplerate, channels: b[9], bitsPerSample: null, frames: null, preSkip: v.getUint16(10, true), outputGain: v.getInt16(16, true) };
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
