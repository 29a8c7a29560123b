/**
 * Seeking in MP3 (MPEG-1/2/2.5 Layer III) with output identical to mpg123 decoding from the start.
 *
 * MPEG audio frames carry no sample position, so a frame is found by counting: a lazy scan of the
 * frame headers (each gives its frame's byte length, ISO/IEC 11172-3 §2.4.2.3, 13818-3 §2.4.2.3)
 * keeps a sparse index — the byte offset of every INDEX_STRIDE-th frame — so memory stays small
 * (10 h at 44.1 kHz: 1.4 M frames, 21 k offsets) and each byte is scanned once per reader, at
 * open (the length is counted, or a Xing count checked, by it: Mp3Stream.length) — once per file
 * and thread while the file is unchanged, as the whole scan is kept (scannedFiles). Audio frame i
 * (0 = the first after the Xing/Info frame) holds the decoder's raw samples [i·spf, (i+1)·spf).
 *
 * To decode from frame j, a fresh mpg123 decoder is fed a few frames before it and their output
 * dropped. Three things make the output bit-identical to a decode from the start (checked at many
 * positions by test/audio-mp3seek.test.ts):
 *  1. Bit reservoir: frame j's main data may start up to 511 bytes (MPEG-2/2.5: 255) before its own
 *     frame (main_data_begin, 11172-3 §2.4.1.7). Enough frames are fed before it to hold those bytes.
 *  2. Overlap state: a frame's output depends on the two granules before it (IMDCT overlap-add and
 *     the 16-slot synthesis window), so the frames holding them decode with their real side info.
 *     The earlier warm-up frames get an all-zero side info (silent granules) whose main_data_begin
 *     is what mpg123 itself would substitute for a frame whose reservoir is missing (layer3.c,
 *     III_get_side_info): mpg123 then keeps the reservoir bytes without decoding garbage. mpg123
 *     does this itself for MPEG-1 but leaves byte 1 of MPEG-2 side info in place, which can make
 *     such a frame fail and skip synthesis — and break (3).
 *  3. Synthesis phase: mpg123's polyphase synthesis (synth_1to1) keeps a ring of 16 slots whose
 *     write position advances once per 32 output samples; the float sums depend on where in the
 *     ring they start, so decoding from frame s agrees with decoding from the start to the last
 *     bit only when s sits at the same ring phase (differences of ~1e-7 otherwise). s is rounded
 *     down to a multiple of 16 / gcd(16, spf/32) frames (4 for MPEG-1, 8 for MPEG-2/2.5) from the
 *     first frame mpg123 decodes.
 * mpg123's gapless mode (on in mpg123-decoder) is mirrored from its parse.c (check_lame_tag) and
 * frame.c (frame_gapless_init, frame_set_frameseek): the Xing/Info frame is skipped, `529 + encoder
 * delay` samples are dropped at the start, output ends at `frames·spf − padding + 529`, and frames
 * before the first output frame less 4 "preframes" are not decoded at all (which moves the phase).
 * mpg123-decoder does that itself up to a Xing count of 932067 frames; above it (a 32-bit limit of
 * mpg123's, see DECODER_TRACK_MAX_FRAMES) it trims nothing, and the reader does it as libsndfile's
 * 64-bit mpg123 does: the decode from the start begins at that first decoded frame and drops the
 * samples before the first output one (Mp3Stream.start), the length ends the output.
 *
 * Streams this does not cover — Layer I/II, an MPEG-2 stream whose first decoded
 * frames lack their reservoir, anything but frames up to the end (junk, a second stream) — report
 * it (`seek()` and `length()` return null) and the reader decodes from the start, as mpg123 does.
 * A free-format stream (bitrate index 0) is refused when opened (probeMpeg).
 */
import { ByteCache } from "./byte-cache.js";
import type { ByteSource, FileIdentity } from "./source.js";
import { AudioFormatError } from "./types.js";

/** Frames between two offsets kept by the index: the walk from an entry to any frame is bounded by it. */
const INDEX_STRIDE = 64;
/** Bytes read per step of the index scan. */
const SCAN_BYTES = 1 << 20;
/** mpg123's decoder delay, added to the encoder delay of the LAME tag (GAPLESS_DELAY in frame.h). */
const GAPLESS_DELAY = 529;
/** mpg123's default MPG123_PREFRAMES: frames decoded (unheard) before the first output frame. */
const PREFRAMES = 4;
/**
 * mpg123 takes a Xing frame count above TRACK_MAX_FRAMES = ULONG_MAX/4/1152 (parse.c: "a limit for
 * number of frames in a track; beyond that unsigned long may not be enough to hold byte addresses")
 * for an "endless stream" and then does no gapless trimming at all. That limit depends on the width
 * of `unsigned long`: mpg123-decoder is 32-bit WebAssembly, where it is 932067 frames (6.2 h at
 * 48 kHz, 6.8 h at 44.1 kHz MPEG-1; 9.3 h at 16 kHz MPEG-2); libsndfile's mpg123 on a 64-bit system
 * has 4.0e15, above any 32-bit Xing count, so libsndfile trims at every count — and so does the
 * reader (Gapless.decoderTrims).
 */
const DECODER_TRACK_MAX_FRAMES = Math.floor((2 ** 32 - 1) / 4 / 1152);

/** kbit/s by bitrate index: MPEG-1 layers I, II, III; MPEG-2/2.5 layer I; MPEG-2/2.5 layers II and III. */
const BITRATES = {
  mpeg1: [
    [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  ],
  lsf: [
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  ],
};
const SAMPLERATES = [44100, 48000, 32000];

/** An MPEG audio frame header (ISO/IEC 11172-3 §2.4.1.3; MPEG-2 LSF: 13818-3; MPEG 2.5: Fraunhofer's extension). */
export interface MpegHeader {
  /** MPEG-1 (false: MPEG-2 or 2.5, the "low sampling frequency" variants). */
  mpeg1: boolean;
  layer: 1 | 2 | 3;
  samplerate: number;
  channels: 1 | 2;
  /** A 16-bit CRC follows the header. */
  crc: boolean;
  /** Whole frame in bytes, header included; 0 for free format (bitrate index 0). */
  frameBytes: number;
  samplesPerFrame: number;
  /** Layer III side information in bytes (after the header and CRC). */
  sideInfoBytes: number;
}

/** Parses the 4-byte header at `b[at]`, or returns null when it is not one. */
export function parseMpegHeader(b: Uint8Array, at: number): MpegHeader | null {
  if (b.length < at + 4 || b[at] !== 0xff || (b[at + 1] & 0xe0) !== 0xe0) return null;
  const version = (b[at + 1] >> 3) & 3; // 0: MPEG 2.5, 1: reserved, 2: MPEG 2, 3: MPEG 1
  const layerBits = (b[at + 1] >> 1) & 3; // 1: III, 2: II, 3: I, 0: reserved
  const bitrateIndex = b[at + 2] >> 4;
  const rateIndex = (b[at + 2] >> 2) & 3;
  if (version === 1 || layerBits === 0 || bitrateIndex === 15 || rateIndex === 3) return null;
  const mpeg1 = version === 3;
  const layer = (4 - layerBits) as 1 | 2 | 3;
  const samplerate = SAMPLERATES[rateIndex] / (mpeg1 ? 1 : version === 2 ? 2 : 4);
  const bitrate = BITRATES[mpeg1 ? "mpeg1" : "lsf"][layer - 1][bitrateIndex] * 1000;
  const padding = (b[at + 2] >> 1) & 1;
  const channels = b[at + 3] >> 6 === 3 ? 1 : 2;
  let frameBytes: number;
  if (layer === 1) frameBytes = (Math.floor((12 * bitrate) / samplerate) + padding) * 4;
  else frameBytes = Math.floor(((layer === 3 && !mpeg1 ? 72 : 144) * bitrate) / samplerate) + padding;
  return {
    mpeg1,
    layer,
    samplerate,
    channels,
    crc: (b[at + 1] & 1) === 0,
    frameBytes,
    samplesPerFrame: layer === 1 ? 384 : layer === 3 && !mpeg1 ? 576 : 1152,
    sideInfoBytes: mpeg1 ? (channels === 1 ? 17 : 32) : channels === 1 ? 9 : 17,
  };
}

/** Same decoding routines in mpg123 (same version, layer, rate; mono stays mono): frames of one stream. */
function sameStream(a: MpegHeader, b: MpegHeader): boolean {
  return a.mpeg1 === b.mpeg1 && a.layer === b.layer && a.samplerate === b.samplerate && a.channels === b.channels;
}

/** Offset of the side information (after the header and the optional CRC). */
function sideInfoAt(h: MpegHeader): number {
  return 4 + (h.crc ? 2 : 0);
}

/** main_data_begin of the Layer III frame at `b[at]`: how many bytes before this frame its main data starts. */
function mainDataBegin(b: Uint8Array, at: number, h: MpegHeader): number {
  const p = at + sideInfoAt(h);
  return h.mpeg1 ? (b[p] << 1) | (b[p + 1] >> 7) : b[p];
}

/** Main-data bytes a frame adds to the bit reservoir, as mpg123 counts them. */
function mainDataBytes(h: MpegHeader): number {
  return h.frameBytes - sideInfoAt(h) - h.sideInfoBytes;
}

/** The largest bit reservoir mpg123 keeps: main_data_begin is 9 bits in MPEG-1, 8 in MPEG-2/2.5. */
function reservoirCap(h: MpegHeader): number {
  return h.mpeg1 ? 511 : 255;
}

/** What a Xing/Info frame tells mpg123 (its frame count and the LAME extension's delays), and its byte count. */
export interface InfoTag {
  /** The Xing frame count, when the flag says it is there. */
  frames: number | null;
  /** The Xing byte count (the stream's bytes; LAME 3.100 counts the Xing frame too), when the flag says it is there. */
  bytes: number | null;
  /** Encoder delay and padding from the LAME extension, when present. */
  delays: { delay: number; padding: number } | null;
}

/**
 * The Xing/Info tag of a first frame `b[at..]` exactly as mpg123's check_lame_tag reads it (and so
 * skips the frame), or null. The tag sits right after the side info with only zeros before it
 * (apart from the first two bytes); any encoder name (LAME, Lavc...) may head the extension.
 * References: mpg123 parse.c; "MP3 Info Tag rev 1 specifications" (Gabriel Bouvigne).
 */
export function parseInfoTag(b: Uint8Array, at: number, h: MpegHeader): InfoTag | null {
  if (h.layer !== 3) return null;
  const body = b.subarray(at + 4, at + h.frameBytes);
  const size = h.frameBytes - 4; // mpg123's framesize excludes the header
  let p = h.sideInfoBytes; // mpg123's lame_offset: the side info size, not counting a CRC
  if (body.length < size || size < p + 8) return null;
  for (let i = 2; i < p; i++) if (body[i] !== 0) return null;
  const id = String.fromCharCode(...body.subarray(p, p + 4));
  if (id !== "Xing" && id !== "Info") return null;
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const flags = v.getUint32(p + 4, false);
  p += 8;
  const tag: InfoTag = { frames: null, bytes: null, delays: null };
  // Each field is read only if the frame holds it; a short tag is still a tag (check_bytes_left).
  for (const [flag, field] of [[1, "frames"], [2, "bytes"]] as const) {
    if (!(flags & flag)) continue;
    if (size < p + 4) return tag;
    tag[field] = v.getUint32(p, false);
    p += 4;
  }
  for (const [flag, bytes] of [[4, 100], [8, 4]]) {
    if (!(flags & flag)) continue;
    if (size < p + bytes) return tag;
    p += bytes;
  }
  if (size >= p + 24 && body[p] !== 0) {
    tag.delays = { delay: (body[p + 21] << 4) | (body[p + 22] >> 4), padding: ((body[p + 22] << 8) | body[p + 23]) & 0xfff };
  }
  return tag;
}

/** What mpg123's gapless mode drops, in decoder output samples (frame_gapless_init). */
export interface Gapless {
  /** Samples dropped at the start. */
  begin: number;
  /** Raw sample where output ends, or null (decode to the end). */
  end: number | null;
  /** Frame count from the tag (trusted like FLAC's STREAMINFO length), or null. */
  frames: number | null;
  /**
   * Whether mpg123-decoder trims this itself when fed the Xing/Info frame: not above its count limit
   * (DECODER_TRACK_MAX_FRAMES), where the reader trims (Mp3Stream.start and the length).
   */
  decoderTrims: boolean;
}

/** The trimming of libsndfile's (64-bit) mpg123 for a stream led by `tag` (null: no Xing/Info frame). */
export function gaplessOf(tag: InfoTag | null, samplesPerFrame: number): Gapless {
  const frames = tag?.frames || null;
  if (!frames) return { begin: 0, end: null, frames, decoderTrims: true };
  const { delay, padding } = tag!.delays ?? { delay: 0, padding: 0 };
  return { begin: GAPLESS_DELAY + delay, end: frames * samplesPerFrame - padding + GAPLESS_DELAY, frames, decoderTrims: frames <= DECODER_TRACK_MAX_FRAMES };
}

/** Output frames of `audioFrames` decoded frames after gapless trimming. */
export function gaplessLength(g: Gapless, audioFrames: number, samplesPerFrame: number): number {
  return Math.max(0, Math.min(g.end ?? Infinity, audioFrames * samplesPerFrame) - g.begin);
}

/** Where the scan stopped: after `frames` audio frames, at the end of the file (or a trailer: see FrameIndex.isTrailer) or at something else. */
interface ScanEnd {
  frames: number;
  clean: boolean;
  /** Byte offset where the scan stopped: the end of the last frame. */
  stopped: number;
  /** Where the bytes fed to the decoder end: at a trailer, its start (mpg123 fails on junk after the last frame); else the end of the file. */
  dataEnd: number;
}

/** A run of consecutive frames read from the file. */
interface FrameSpan {
  /** Byte offset of the first frame in the file. */
  offset: number;
  bytes: Uint8Array;
  /** Start of each frame in `bytes`, plus one entry for the end of the last (bytes.length). */
  starts: number[];
  headers: MpegHeader[];
}

/** What a scan of a whole file found: every INDEX_STRIDE-th frame's offset (FrameIndex.offsets) and where it ended. */
interface ScannedFile {
  offsets: Float64Array<ArrayBuffer>;
  end: ScanEnd;
}

/**
 * The frame indexes of whole files scanned on this thread, by file identity (FileIdentity.key),
 * the least recently used dropped first past 4 MiB (an entry counted as its offsets and 256 bytes
 * for its key and objects): the next opening of an unchanged file — a tile thread's reader opened
 * again after it was closed, a playback reader after the import's probe — takes its index from
 * here instead of reading every frame header again (a 10 h 44.1 kHz MP3 of 276–570 MB: 0.13–0.45 s
 * at load 5, 0.3–2.4 s under a benchmark's load; README "Audio formats"). An index holds one offset per INDEX_STRIDE frames, 8 bytes each:
 * 17 KB per hour at 44.1 kHz (MPEG-1), 19 KB at 48 kHz, 12.5 KB at 16 kHz (MPEG-2), so the 4 MiB
 * hold over 200 h of audio.
 */
const scannedFiles = new ByteCache<ScannedFile>(4 * 2 ** 20, (s) => s.offsets.byteLength + 256);

/**
 * How long before its scan a file must have last changed (FileIdentity.changedMs) for the scan to
 * be kept in scannedFiles: 2 s, the coarsest tick of common file systems' timestamps (FAT's). A
 * file written again within the tick of its last change can keep its identity; one whose last
 * change is a tick older cannot, as any write gets the time of a later tick.
 */
const SETTLED_MS = 2000;

/**
 * Byte offsets of the audio frames, found by walking the headers from the first one: every
 * INDEX_STRIDE-th offset is kept, the scan goes only as far as asked and is done once — once per
 * file while it is unchanged, when the scan of the whole file is kept (scannedFiles).
 */
class FrameIndex {
  private offsets = new Float64Array(1024);
  /** Frames scanned so far: the offsets of all frames below it are known (sparsely). */
  private known = 0;
  /** Byte offset of frame `known`. */
  private next: number;
  private end: ScanEnd | null = null;
  /** The look in scannedFiles, made before the scan reads anything (restore). */
  private restored: Promise<void> | null = null;
  /** The file's identity when its scan began (Date.now() then: `at`), if the scan may be kept once it ends (keep). */
  private scanning: { identity: FileIdentity; at: number } | null = null;

  constructor(private readonly src: ByteSource, private readonly format: MpegHeader, firstAudio: number) {
    this.next = firstAudio;
  }

  /**
   * Takes the whole scan of this file from scannedFiles when its identity is there; else notes
   * its identity, for the scan to be kept once it ends (keep). Bytes in memory have no identity.
   */
  private async restore(): Promise<void> {
    const identity = await this.src.identity?.();
    if (!identity || identity.size !== this.src.size) return; // none, or the file changed since it was opened: read as it is
    const scanned = scannedFiles.get(identity.key);
    if (!scanned) {
      this.scanning = { identity, at: Date.now() };
      return;
    }
    // Shared with the other readers of the file: nothing writes to a whole scan's offsets (remember is for scanning).
    this.offsets = scanned.offsets;
    this.end = scanned.end;
    this.known = scanned.end.frames;
    this.next = scanned.end.stopped;
  }

  /**
   * Keeps the scan that has just ended in scannedFiles, when the file has the identity it had as
   * the scan began (else the scan may mix two contents) and had it for SETTLED_MS before.
   */
  private async keep(): Promise<void> {
    const began = this.scanning!;
    this.scanning = null;
    const now = await this.src.identity!();
    if (now.key !== began.identity.key || began.at - began.identity.changedMs < SETTLED_MS) return;
    this.offsets = this.offsets.slice(0, Math.ceil(this.known / INDEX_STRIDE));
    scannedFiles.set(now.key, { offsets: this.offsets, end: this.end! });
  }

  /** Audio frames up to the end of the stream, or null if the stream does not consist of whole frames to the end. */
  async count(): Promise<number | null> {
    const end = await this.scanTo(Infinity);
    return end!.clean ? end!.frames : null;
  }

  /**
   * Scans until frame `frame` is indexed and the frames before byte `byte` are, or the stream
   * ends. Returns the end once reached (clean, or where something other than a frame of this
   * stream was found), else null.
   */
  async scanTo(frame: number, byte = 0): Promise<ScanEnd | null> {
    await (this.restored ??= this.restore());
    while (this.end === null && (this.known <= frame || this.next < byte)) {
      const base = this.next;
      const chunk = await this.src.read(base, SCAN_BYTES);
      while (this.end === null && this.next + 4 <= base + chunk.length) {
        const h = parseMpegHeader(chunk, this.next - base);
        if (!h || !sameStream(h, this.format) || h.frameBytes === 0) {
          this.end = await this.endAt(this.next);
        } else if (this.next + h.frameBytes > this.src.size) {
          this.end = { frames: this.known, clean: true, stopped: this.next, dataEnd: this.src.size }; // a truncated last frame: mpg123 never decodes it
        } else {
          if (this.known % INDEX_STRIDE === 0) this.remember(this.next);
          this.known++;
          this.next += h.frameBytes;
        }
      }
      if (this.end === null && this.next + 4 > this.src.size) this.end = await this.endAt(this.next);
    }
    if (this.end !== null && this.scanning) await this.keep();
    return this.end;
  }

  /** The end of the scan at byte `at`, where no frame of this stream starts. */
  private async endAt(at: number): Promise<ScanEnd> {
    const trailer = await this.isTrailer(at);
    return { frames: this.known, clean: trailer, stopped: at, dataEnd: trailer ? at : this.src.size };
  }

  /**
   * Frames of this stream after the bytes where the scan stopped at something else (it must have),
   * as mpg123 counts them when it resynchronises there: each run of frames, one after another,
   * begins at a frame followed by another (or by the end of the file). One read of the rest of the
   * file.
   */
  async framesAfterJunk(): Promise<number> {
    const size = this.src.size;
    const reach = maxFrameBytes(this.format) + 4;
    let frames = 0;
    let runEnd = -1; // where the last frame counted ends: a frame there goes on with its run
    for (let base = this.end!.stopped + 1; base < size; base += SCAN_BYTES) {
      const chunk = await this.src.read(base, Math.min(SCAN_BYTES + reach, size - base));
      for (let i = Math.max(0, runEnd - base); i < Math.min(SCAN_BYTES, chunk.length); ) {
        const h = parseMpegHeader(chunk, i);
        const end = h && sameStream(h, this.format) && h.frameBytes > 0 ? base + i + h.frameBytes : Infinity;
        const next = end + 4 <= size ? parseMpegHeader(chunk, end - base) : null;
        if (end <= size && (base + i === runEnd || end === size || (next && sameStream(next, this.format)))) {
          frames++;
          runEnd = end;
          i = end - base;
        } else i++;
      }
    }
    return frames;
  }

  /**
   * Whether the bytes from `at` to the end of the file are a trailer: nothing, or bytes in which
   * no MPEG audio frame (of this stream or another) starts that is followed by another or by the
   * end of the file — an ID3v1 tag (the last 128 bytes, "TAG"), zeros, random bytes. mpg123
   * resynchronises on such a pair of frames (junk mid-stream; another stream appended, which the
   * reader refuses where it decodes it); it fails on a trailer of about 1 KB or more (1027 zero
   * bytes after the last frame: "cannot decode the audio after frame 0" for every read), which
   * libsndfile skips. One read of the trailer.
   */
  private async isTrailer(at: number): Promise<boolean> {
    for (let base = at; base < this.src.size; base += SCAN_BYTES) {
      const chunk = await this.src.read(base, Math.min(SCAN_BYTES + 4, this.src.size - base));
      for (let i = 0; i < Math.min(SCAN_BYTES, chunk.length); i++) {
        if (chunk[i] !== 0xff) continue;
        const h = parseMpegHeader(chunk, i);
        if (!h || h.frameBytes === 0) continue;
        const next = base + i + h.frameBytes;
        if (next === this.src.size || (next + 4 <= this.src.size && parseMpegHeader(await this.src.read(next, 4), 0))) return false;
      }
    }
    return true;
  }

  /** Frames of this stream before bytes that are none of its frames and no trailer (another stream appended, junk), once the scan has reached them; else null. */
  get framesBeforeOther(): number | null {
    return this.end && !this.end.clean ? this.end.frames : null;
  }

  /** Where the bytes fed to the decoder end (ScanEnd.dataEnd), as far as the frames before byte `byte` tell: the end of the file while they do not reach a trailer. */
  async dataEnd(byte: number): Promise<number> {
    return (await this.scanTo(-1, byte))?.dataEnd ?? this.src.size;
  }

  private remember(offset: number): void {
    const slot = this.known / INDEX_STRIDE;
    if (slot === this.offsets.length) {
      const grown = new Float64Array(this.offsets.length * 2);
      grown.set(this.offsets);
      this.offsets = grown;
    }
    this.offsets[slot] = offset;
  }

  /** Frames [from, to) with their bytes — fewer if the stream ends before `to`; null if it has none from `from`. */
  async span(from: number, to: number): Promise<FrameSpan | null> {
    const end = await this.scanTo(to - 1);
    if (end) to = Math.min(to, end.frames);
    if (from < 0 || from >= to) return null;
    // Walk from the index entry before `from`; read enough for the largest frames of this stream.
    const entry = Math.floor(from / INDEX_STRIDE);
    const entryOffset = this.offsets[entry];
    const all = await this.src.read(entryOffset, (to - entry * INDEX_STRIDE) * maxFrameBytes(this.format));
    const starts: number[] = [];
    const headers: MpegHeader[] = [];
    let p = 0;
    for (let i = entry * INDEX_STRIDE; i < to; i++) {
      const h = parseMpegHeader(all, p); // the scan checked every header below `to`, unless the file changed since
      if (!h) throw new AudioFormatError(`mp3: no frame header at byte ${entryOffset + p} any more (file changed while open?)`);
      if (i >= from) {
        starts.push(p);
        headers.push(h);
      }
      p += h.frameBytes;
    }
    starts.push(p);
    const first = starts[0];
    return { offset: entryOffset + first, bytes: all.subarray(first, p), starts: starts.map((s) => s - first), headers };
  }
}

/** The largest Layer III frame of this version and rate (highest bitrate, padded). */
function maxFrameBytes(h: MpegHeader): number {
  return Math.floor((h.mpeg1 ? 144 * 320000 : 72 * 160000) / h.samplerate) + 1;
}

/** Where to start a fresh decoder: the file's bytes from `resume`, its output's first sample `firstSample`. */
export interface Mp3Start {
  /** Byte offset of the first frame fed from the file as it is. */
  resume: number;
  /** Output index of the first sample the decoder will produce (warm-up included; negative: samples trimmed). */
  firstSample: number;
}

/** Where to start a fresh decoder so that its output from a target sample on is exact. */
export interface Mp3Seek extends Mp3Start {
  /** Warm-up frames, side info rewritten, fed before the file bytes from `resume`. */
  warmup: Uint8Array;
}

/** An MP3 (Layer III) stream: its frame index, mpg123's gapless trimming, and seeking (see the file comment). */
export class Mp3Stream {
  readonly gapless: Gapless;
  private readonly index: FrameIndex;
  private readonly spf: number;
  /** Frame holding the first output sample less mpg123's preframes: the first frame mpg123 decodes. */
  private readonly firstDecoded: number;
  /** Frames between two starts at the same synthesis ring phase. */
  private readonly period: number;
  /** Frames before the target holding the two granules its output depends on. */
  private readonly overlapFrames: number;
  private startsClean: Promise<boolean> | null = null;

  /**
   * @param format     header of the first audio frame
   * @param firstAudio byte offset of the first audio frame (after ID3v2 and the Xing/Info frame)
   * @param tag        the Xing/Info tag, if the stream starts with one
   */
  constructor(private readonly src: ByteSource, private readonly format: MpegHeader, private readonly firstAudio: number, private readonly tag: InfoTag | null) {
    this.spf = format.samplesPerFrame;
    this.gapless = gaplessOf(tag, this.spf);
    this.index = new FrameIndex(src, format, firstAudio);
    this.firstDecoded = Math.max(0, Math.floor(this.gapless.begin / this.spf) - PREFRAMES);
    this.period = 16 / gcd(16, this.spf / 32);
    this.overlapFrames = format.mpeg1 ? 1 : 2;
  }

  /** Where the bytes fed to the decoder end, as far as the frames before byte `byte` tell (see FrameIndex.isTrailer). */
  dataEnd(byte: number): Promise<number> {
    return this.index.dataEnd(byte);
  }

  /**
   * The output frame where this stream's frames give way to something else (another stream
   * appended, at another rate maybe; junk), once the scan has reached it — it runs ahead of the
   * bytes fed to the decoder (Cursor.bytesEnd); else null.
   */
  otherStreamAt(): number | null {
    const frames = this.index.framesBeforeOther;
    return frames === null ? null : gaplessLength(this.gapless, frames, this.spf);
  }

  /** Output frames: from the tag when it counts the frames (and the file holds them: checkTag), else by scanning them all; null if neither can tell. */
  async length(): Promise<number | null> {
    await this.checkTag();
    const frames = this.gapless.frames ?? (await this.index.count());
    return frames === null ? null : gaplessLength(this.gapless, frames, this.spf);
  }

  /**
   * Refuses a Xing/Info frame count the file does not hold, as a truncated WAV or FLAC is refused:
   * a file cut short (a recorder's battery died, a copy stopped) keeps the tag written for the
   * whole stream, whose count gave the length — a 1500-byte cut of the 1 s fixture opened and was
   * registered as 16000 frames, and its decode and every tile past the cut failed. Nothing short of
   * the frame headers tells a count from the frames it counts — a tag rewritten for a cut, frames
   * overwritten by junk, a forged count all keep a byte count the file holds — so the headers are
   * scanned at open (~0.3 ms per MB from page cache; the index keeps them for the reads), and where
   * they break off at junk, the frames after it are counted as mpg123 resynchronises on them.
   */
  private async checkTag(): Promise<void> {
    const frames = this.gapless.frames;
    if (frames === null) return;
    const end = (await this.index.scanTo(Infinity))!;
    if (end.frames >= frames) return;
    const found = end.clean ? end.frames : end.frames + (await this.index.framesAfterJunk());
    if (found >= frames) return;
    const bytes = this.tag!.bytes; // a count of frames comes from a tag
    const xingAt = this.firstAudio - this.format.frameBytes;
    const held = this.src.size - xingAt;
    const stated = bytes === null ? "" : ` in ${bytes} bytes`;
    const after = end.clean ? `${found} whole frames after it` : `${found} frames after it, around bytes at ${end.stopped} that are no frame`;
    throw new AudioFormatError(`mp3: the Xing frame at byte ${xingAt} counts ${frames} MPEG frames${stated}, the file holds ${held} bytes from there: ${after} (truncated, or corrupt from there?)`);
  }

  /**
   * Where a decode from the start begins when mpg123-decoder leaves the trimming to the reader
   * (Gapless.decoderTrims false): at the first frame mpg123 decodes, fed to a fresh decoder as
   * mpg123 starts there (nothing before it decoded, no bit reservoir), its output's first
   * `gapless.begin − firstDecoded·spf` samples dropped. Null when the file fed from its start (the
   * Xing/Info frame first) decodes to the output as it is.
   */
  async start(): Promise<Mp3Start | null> {
    if (this.gapless.decoderTrims) return null;
    const span = await this.index.span(this.firstDecoded, this.firstDecoded + 1);
    // A stream shorter than that (its tag lies) has nothing to output: every sample is dropped.
    const first = span ? this.firstDecoded : 0;
    return { resume: span?.offset ?? this.firstAudio, firstSample: first * this.spf - this.gapless.begin };
  }

  /** How to decode from output sample `target` on, or null when decoding from the start is the way (or as cheap). */
  async seek(target: number): Promise<Mp3Seek | null> {
    const c = Math.floor((target + this.gapless.begin) / this.spf) - this.overlapFrames;
    if (c - this.period < this.firstDecoded || !(await this.startsWithReservoir())) return null;
    // Frames before c whose main data hold what c reaches back to; widen the span until they do.
    for (let back = 2 * this.period; ; back *= 2) {
      const from = Math.max(this.firstDecoded, c - back);
      const span = await this.index.span(from, c + 1);
      if (!span || span.headers.length <= c - from) return null; // the stream (or its clean part) ends first
      const start = this.warmupStart(span, from, c);
      if (start !== null) return this.plan(span, from, start, c);
      if (from === this.firstDecoded) return null;
    }
  }

  /**
   * First warm-up frame for frame c of `span` (which starts at frame `from`): late enough to be
   * cheap, early enough that the frames before c hold c's main_data_begin bytes, at the ring phase
   * of a decode from the start, and not mistaken by mpg123 for a Xing/Info frame once its side info
   * is zeroed. Null if that frame is before the span.
   */
  private warmupStart(span: FrameSpan, from: number, c: number): number | null {
    const need = mainDataBegin(span.bytes, span.starts[c - from], span.headers[c - from]);
    let s = c;
    for (let have = 0; have < need; have += mainDataBytes(span.headers[s - from])) if (--s < from) return null;
    s -= mod(s - this.firstDecoded, this.period);
    for (; s >= from; s -= this.period) {
      const first = rewrittenSideInfo(span.bytes.subarray(span.starts[s - from], span.starts[s - from + 1]), span.headers[s - from], 0);
      if (parseInfoTag(first, 0, span.headers[s - from]) === null) return s;
    }
    return null;
  }

  private plan(span: FrameSpan, from: number, s: number, c: number): Mp3Seek {
    const warmup = new Uint8Array(span.starts[c - from] - span.starts[s - from]);
    let reservoir = 0;
    for (let i = s; i < c; i++) {
      const h = span.headers[i - from];
      const frame = span.bytes.subarray(span.starts[i - from], span.starts[i - from + 1]);
      warmup.set(rewrittenSideInfo(frame, h, reservoir), span.starts[i - from] - span.starts[s - from]);
      reservoir = Math.min(reservoirCap(h), reservoir + mainDataBytes(h));
    }
    return { warmup, resume: span.offset + span.starts[c - from], firstSample: s * this.spf - this.gapless.begin };
  }

  /**
   * Whether mpg123 decodes the first frames it decodes (from firstDecoded on) with their whole bit
   * reservoir — always so for a stream cut at a frame whose main_data_begin is 0, as encoders start.
   * An MPEG-1 frame short of its reservoir is decoded as silence; an MPEG-2/2.5 one may skip
   * synthesis (see the file comment), leaving the ring phase of every later frame unknown.
   */
  private startsWithReservoir(): Promise<boolean> {
    this.startsClean ??= (async () => {
      if (this.format.mpeg1) return true;
      const cap = reservoirCap(this.format);
      let reservoir = 0;
      for (let i = this.firstDecoded; reservoir < cap; i += INDEX_STRIDE) {
        const span = await this.index.span(i, i + INDEX_STRIDE);
        if (!span) return true;
        for (let k = 0; k < span.headers.length && reservoir < cap; k++) {
          if (mainDataBegin(span.bytes, span.starts[k], span.headers[k]) > reservoir) return false;
          reservoir = Math.min(cap, reservoir + mainDataBytes(span.headers[k]));
        }
      }
      return true;
    })();
    return this.startsClean;
  }
}

/**
 * A copy of a Layer III frame with its side info zeroed (every granule silent) but for
 * main_data_begin = `reservoir`: what mpg123 decodes for a frame whose reservoir is missing, keeping
 * the bytes it holds for the frames after it. A CRC no longer matches (mpg123 does not check it).
 */
function rewrittenSideInfo(frame: Uint8Array, h: MpegHeader, reservoir: number): Uint8Array {
  const out = frame.slice();
  const p = sideInfoAt(h);
  out.fill(0, p, p + h.sideInfoBytes);
  if (h.mpeg1) {
    out[p] = reservoir >> 1;
    out[p + 1] = (reservoir & 1) << 7;
  } else out[p] = reservoir;
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}
