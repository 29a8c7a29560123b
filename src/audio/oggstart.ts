/**
 * Where an Ogg stream's audio begins on its granule scale. A stream captured from the middle of a
 * broadcast (an Icecast capture, a radio recorder) keeps the encoder's granule positions: its first
 * audio page states far more samples than the stream holds up to there. Its audio begins at that
 * page's granule less the samples its packets decode to — libopusfile's pcm_start (RFC 7845 §4.5:
 * such a stream starts at that offset, nothing trimmed), libvorbisfile's pcm_offset — and its
 * length is the last granule less that start. The samples a page's packets decode to come from the
 * packets themselves, without a decoder: Opus from each packet's TOC byte (RFC 6716 §3.1), Vorbis
 * from each packet's mode and the modes' block sizes (Vorbis I spec §4.3.1 and §1.3.2: a packet
 * returns a quarter of the block before it and a quarter of its own; the first returns nothing).
 *
 * A first page whose granule is less than its packets' samples (a "negative start") is read as the
 * specifications say. Vorbis: the samples before granule 0 are discarded (Vorbis I spec A.2,
 * "beginning of stream" trimming, as libvorbis does it) — AudioStart.trim. Opus: RFC 7845 §4.5
 * makes the stream invalid (it trims with its pre-skip instead), and libopusfile refuses it, as
 * does libsndfile ("malformed"). Either, where that page ends the stream, is end trimming instead.
 */
import { type HeaderPages, type OggPage, pageLength, parsePage, readPage } from "./oggseek.js";
import type { ByteSource } from "./source.js";
import { AudioFormatError } from "./types.js";

/** Pages read from the first audio page on for the first that states a granule (ends a packet). */
const FIRST_PAGES = 16;

/** What the samples of a stream's packets depend on: the codec, and for Vorbis its two block sizes (identification header). */
export interface PacketCodec {
  kind: "vorbis" | "opus";
  /** Vorbis: blocksize_0 and blocksize_1 (Vorbis I spec §4.2.2). */
  blocksizes?: [number, number];
  /** Opus: the OpusHead pre-skip, in 48 kHz samples (RFC 7845 §5.1). */
  preSkip?: number;
}

/** Where the audio of a stream begins (audioStart). */
export interface AudioStart {
  /** The granule position of its first output frame: 0, or more in a stream captured from the middle of a broadcast. */
  granule: number;
  /** Vorbis: decoded frames dropped before its first output frame, where its first audio page's granule is less than the samples its packets decode to; else 0. */
  trim: number;
}

/**
 * The packets that begin and end within the whole pages of `b` (the file's bytes from a page
 * boundary), in order; the rest of a packet begun before `b` (a first page that continues one,
 * header type 0x01) is passed over, and so is a packet that `b` ends inside (RFC 3533 §6).
 */
function packetsIn(b: Uint8Array): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  let skip = b.length > 5 && (b[5] & 0x01) !== 0;
  for (let at = 0, length = pageLength(b, 0); length !== null && length > 0; at += length, length = pageLength(b, at)) {
    let body = at + 27 + b[at + 26];
    for (let i = 0; i < b[at + 26]; i++) {
      const lacing = b[at + 27 + i];
      if (!skip) parts.push(b.subarray(body, body + lacing));
      body += lacing;
      if (lacing < 255) {
        if (!skip) packets.push(parts.length === 1 ? parts[0] : new Uint8Array(Buffer.concat(parts)));
        parts = [];
        skip = false;
      }
    }
  }
  return packets;
}

/**
 * The block flag (0: blocksize_0, 1: blocksize_1) of each mode of a Vorbis setup header `setup`,
 * read from its end, as FFmpeg's vorbis_parser.c reads it: the modes are the header's last fields
 * (Vorbis I spec §4.2.4: a 6-bit count less one, then per mode a block flag, a 16-bit window type
 * and a 16-bit transform type, both 0, and an 8-bit mapping; then the framing bit), and what comes
 * before them cannot be parsed without decoding the codebooks. Read backwards, entries are taken
 * while their window and transform types are 0 and the mapping below 64; the count is the last
 * number of them that the 6 bits before agree with. Empty if none does.
 */
function vorbisModeBlockflags(setup: Uint8Array): number[] {
  // Bit i counted from the end of the packet: the packing is LSB first (Vorbis I spec §2.1.4), so
  // reading the bytes from the last, each from its top bit, gives each field most significant bit first.
  const total = setup.length * 8;
  const bit = (i: number) => (setup[setup.length - 1 - (i >> 3)] >> (7 - (i & 7))) & 1;
  const bits = (from: number, n: number) => {
    let v = 0;
    for (let i = 0; i < n; i++) v = (v << 1) | bit(from + i);
    return v;
  };
  let framing = 0;
  while (framing < total && bit(framing) === 0) framing++;
  const first = framing + 1; // the bit before the framing bit
  let count = 0;
  for (let n = 0, at = first; n < 64 && total - at >= 41 + 6; n++, at += 41) {
    if (bits(at, 8) > 63 || bits(at + 8, 16) !== 0 || bits(at + 24, 16) !== 0) break;
    if (bits(at + 41, 6) + 1 === n + 1) count = n + 1;
  }
  // Entries are met last mode first; the block flag is each entry's bit after its 40 others.
  return Array.from({ length: count }, (_, mode) => bit(first + (count - 1 - mode) * 41 + 40));
}

/** The samples (at 48 kHz) an Opus packet decodes to, from its TOC byte (RFC 6716 §3.1); 0 for an empty packet. */
function opusPacketSamples(p: Uint8Array): number {
  if (p.length === 0) return 0;
  const config = p[0] >> 3;
  // Frame sizes of configurations 0–11 (SILK), 12–15 (hybrid), 16–31 (CELT), in samples at 48 kHz.
  const frame = config < 12 ? [480, 960, 1920, 2880][config & 3] : config < 16 ? [480, 960][config & 1] : [120, 240, 480, 960][config & 3];
  const code = p[0] & 3;
  const frames = code === 0 ? 1 : code < 3 ? 2 : p.length > 1 ? p[1] & 0x3f : 0;
  return frame * frames;
}

/**
 * Where the audio of a stream begins (see the file comment): its first page from
 * `headers.firstAudio` (before `end`) that states a granule, less what the packets up to there
 * decode to. Granule 0 where no such page is found within FIRST_PAGES pages, or where the Vorbis
 * modes cannot be read. Where the difference is negative: granule 0, and Vorbis trims that many
 * frames (AudioStart.trim), Opus is refused — unless that page ends the stream, whose end is then
 * trimmed instead (RFC 7845 §4.4 and §4.5; libvorbis trims the end there too, not the start).
 * @param codec  the stream's codec (Vorbis block sizes, Opus pre-skip)
 * @throws AudioFormatError for an Opus stream whose first page's granule is less than its packets'
 *   samples, or, where that page ends the stream, less than its pre-skip (RFC 7845 §4.5).
 */
export async function audioStart(src: ByteSource, codec: PacketCodec, headers: HeaderPages, end: number): Promise<AudioStart> {
  const none = { granule: 0, trim: 0 };
  const pages: Uint8Array[] = [];
  let first: OggPage | null = null; // the first page that states a granule
  for (let at = headers.firstAudio; !first; ) {
    if (pages.length === FIRST_PAGES || at >= end) return none;
    const b = await readPage(src, at);
    const page = parsePage(b, 0);
    if (!page) return none;
    // The header packets end their pages (RFC 7845 §3, Vorbis I spec §A.2): nothing to continue.
    if (pages.length === 0 && page.continued)
      throw new AudioFormatError(`${codec.kind}: the first audio page (at byte ${at}) is flagged as continuing a packet, but the header pages before it end theirs (RFC 7845 §3, Vorbis I spec §A.2: audio begins on a fresh page; a packet lost?)`);
    pages.push(b);
    if (page.granule >= 0) first = { ...page, offset: at };
    at += page.length;
  }
  const { granule, offset, eos } = first;
  const packets = packetsIn(new Uint8Array(Buffer.concat(pages)));
  let samples = 0;
  if (codec.kind === "opus") for (const p of packets) samples += opusPacketSamples(p);
  else {
    const setup = packetsIn(await src.read(headers.lastFrom, headers.firstAudio - headers.lastFrom)).at(-1);
    const flags = setup ? vorbisModeBlockflags(setup) : [];
    if (flags.length === 0 || !codec.blocksizes) return none;
    // The mode number: ilog(modes − 1) bits after the packet type bit (Vorbis I spec §4.3.1).
    const modeBits = Math.ceil(Math.log2(flags.length));
    let before = 0; // the block size of the packet before, 0 for none
    for (const p of packets) {
      if (p.length === 0) continue;
      const size = codec.blocksizes[flags[(p[0] >> 1) & ((1 << modeBits) - 1)] ?? 0];
      if (before) samples += (before + size) / 4;
      before = size;
    }
  }
  const preSkip = codec.preSkip ?? 0;
  if (eos) {
    if (codec.kind === "opus" && granule < preSkip)
      throw new AudioFormatError(`opus: the only audio page (at byte ${offset}) states granule position ${granule}, less than the pre-skip of ${preSkip} samples: RFC 7845 §4.5 makes such a stream invalid (more samples to skip than it holds)`);
    // Past its packets' samples, the granule would place the stream's start after granule 0 and
    // leave its end untrimmed: libsndfile refuses such a stream (2^32 on the Opus fixture had read
    // as 16056 frames, its end trim of 56 lost). Less is end trimming (RFC 7845 §4.5).
    if (codec.kind === "opus" && granule > samples)
      throw new AudioFormatError(`opus: the only audio page (at byte ${offset}) states granule position ${granule}, more than the ${samples} samples its packets decode to: a stream of one page begins at granule 0, so its granule can only trim its end (RFC 7845 §4.5; a corrupt granule position?)`);
    return { granule: Math.max(0, granule - samples), trim: 0 };
  }
  if (granule >= samples) return { granule: granule - samples, trim: 0 };
  if (codec.kind === "opus")
    throw new AudioFormatError(`opus: the first audio page (at byte ${offset}) states granule position ${granule}, less than the ${samples} samples its packets decode to: RFC 7845 §4.5 makes such a stream invalid (Opus trims its start by the pre-skip, not by the granule)`);
  return { granule: 0, trim: samples - granule };
}
