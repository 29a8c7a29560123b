/**
 * WAV-family containers: RIFF WAVE (and its big-endian twin RIFX), RF64/BW64 (EBU Tech 3306: the
 * real sizes of a > 4 GiB file live in a `ds64` chunk) and Sony Wave64 (GUID chunk ids, 64-bit
 * sizes). All share the `fmt ` chunk (WAVEFORMATEX / WAVE_FORMAT_EXTENSIBLE), so one parser walks
 * the chunk list and hands `fmt ` to `waveCodec`.
 *
 * Every size read from the file is checked against the real file size before it is used.
 */
import { adpcmCodecFromWaveFormat } from "./adpcm.js";
import { checkBasics, framesOf, pcmCodec, type BlockCodec, type Layout } from "./layout.js";
import { parseBext, parseGuano, parseListInfo } from "./metadata.js";
import type { SampleFormat } from "./pcm.js";
import type { ByteSource } from "./source.js";
import { AudioFormatError, plural } from "./types.js";

/** Largest metadata/format chunk read into memory; bigger ones are skipped (their content is not needed). */
const MAX_META_CHUNK = 1 << 20;
/** A file with more chunks than this is not a recording (and walking it could take forever). */
const MAX_CHUNKS = 100_000;

// Wave64 chunk GUIDs: the first four bytes spell the RIFF id; the rest is one of two fixed tails.
const W64_TAIL = [0xf3, 0xac, 0xd3, 0x11, 0x8c, 0xd1, 0x00, 0xc0, 0x4f, 0x8e, 0xdb, 0x8a];
const W64_RIFF_TAIL = [0x2e, 0x91, 0xcf, 0x11, 0xa5, 0xd6, 0x28, 0xdb, 0x04, 0xc1, 0x00, 0x00];

/** The codec names of WAVE format tags sonotile does not decode, for a useful error. */
const KNOWN_UNSUPPORTED: Record<number, string> = {
  0x0031: "GSM 6.10",
  0x0040: "G.721 ADPCM",
  0x0050: "MPEG",
  0x0055: "MPEG Layer 3",
  0x0064: "G.726 ADPCM",
  0x0092: "Dolby AC3",
  0x0161: "WMA",
  0xf1ac: "FLAC",
};

function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
}

/**
 * A 64-bit size, exactly: past 2^53 bytes (8 PiB) it fails the file-size checks, whose messages
 * say it as the header does — a double said 2^62 as 4611686018427388000, and 2^62 + 1 as 2^62.
 */
function u64(view: DataView, at: number, le: boolean): bigint {
  return view.getBigUint64(at, le);
}

export type RiffKind = "wav" | "rifx" | "rf64" | "w64";

/** Identifies a WAV-family file from its first 16 bytes, or null. */
export function sniffRiff(head: Uint8Array): RiffKind | null {
  if (head.length < 12) return null;
  const id = fourcc(head, 0);
  const form = fourcc(head, 8);
  if (id === "RIFF" && form === "WAVE") return "wav";
  if (id === "RIFX" && form === "WAVE") return "rifx";
  if ((id === "RF64" || id === "BW64") && form === "WAVE") return "rf64";
  if (id === "riff" && head.length >= 16 && W64_RIFF_TAIL.every((v, i) => head[4 + i] === v)) return "w64";
  return null;
}

/** The decoded `fmt ` chunk. */
export interface WaveFormat {
  /** Format tag, with WAVE_FORMAT_EXTENSIBLE resolved to its sub-format's tag. */
  tag: number;
  extensible: boolean;
  channels: number;
  samplerate: number;
  blockAlign: number;
  bitsPerSample: number;
  /** The whole chunk, for codec-specific extensions (ADPCM coefficients). */
  raw: Uint8Array;
  littleEndian: boolean;
}

/**
 * The SubFormat GUIDs libsndfile reads, after their first two bytes (the format tag): Microsoft's
 * KSDATAFORMAT_SUBTYPE_* ({0000tttt-0000-0010-8000-00aa00389b71}) and the Ambisonic B-format ones
 * ({0000tttt-0721-11d3-8644-c8c1ca000000}), as stored (little-endian fields).
 */
const SUBFORMAT_TAILS = ["0000000010008000" + "00aa00389b71", "00002107d3118644" + "c8c1ca000000"];

/** Refuses a WAVE_FORMAT_EXTENSIBLE SubFormat that is none of those: its tag alone would pass a foreign codec off as PCM. */
function checkSubFormat(guid: Uint8Array, container: string): void {
  const tail = Buffer.from(guid.subarray(2)).toString("hex");
  if (!SUBFORMAT_TAILS.includes(tail))
    throw new AudioFormatError(`${container}: WAVE_FORMAT_EXTENSIBLE SubFormat ${Buffer.from(guid).toString("hex")} is not a format sonotile reads`);
}

function parseWaveFormat(raw: Uint8Array, littleEndian: boolean, container: string): WaveFormat {
  if (raw.length < 16) throw new AudioFormatError(`${container}: fmt chunk is ${raw.length} bytes, needs at least 16`);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let tag = v.getUint16(0, littleEndian);
  const extensible = tag === 0xfffe;
  if (extensible) {
    // WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) SubFormat GUID(16) whose first 2 bytes are the tag.
    if (raw.length < 40) throw new AudioFormatError(`${container}: WAVE_FORMAT_EXTENSIBLE fmt chunk is ${raw.length} bytes, needs 40`);
    tag = v.getUint16(24, littleEndian);
    checkSubFormat(raw.subarray(24, 40), container);
  }
  const fmt: WaveFormat = {
    tag,
    extensible,
    channels: v.getUint16(2, littleEndian),
    samplerate: v.getUint32(4, littleEndian),
    blockAlign: v.getUint16(12, littleEndian),
    bitsPerSample: v.getUint16(14, littleEndian),
    raw,
    littleEndian,
  };
  checkBasics(container, fmt.channels, fmt.samplerate);
  if (fmt.blockAlign === 0) throw new AudioFormatError(`${container}: fmt chunk declares block align 0`);
  return fmt;
}

interface WaveCodec {
  codec: BlockCodec;
  encoding: string;
  bits: number | null;
}

/** Picks the decoder for a `fmt ` chunk, checking that its numbers agree with each other (and, for ADPCM blocks, with the `dataBytes` of sample data). */
function waveCodec(fmt: WaveFormat, container: string, dataBytes: number): WaveCodec {
  const { tag, channels, bitsPerSample: bits, blockAlign, littleEndian } = fmt;
  const plain = (format: SampleFormat, encoding: string, width: number): WaveCodec => {
    if (blockAlign !== width * channels)
      throw new AudioFormatError(`${container}: block align ${blockAlign} does not match ${plural(channels, "channel")} × ${width} bytes (${bits}-bit ${encoding})`);
    return { codec: pcmCodec(format, littleEndian, channels), encoding, bits };
  };
  switch (tag) {
    case 0x0001: {
      // Integer PCM: samples sit in ceil(bits/8)-byte containers and libsndfile scales by the container width.
      if (bits < 1 || bits > 32) throw new AudioFormatError(`${container}: ${bits}-bit integer PCM is not a valid bit depth`);
      const width = Math.ceil(bits / 8);
      const format = (["u8", "s16", "s24", "s32"] as const)[width - 1];
      return plain(format, width === 1 ? "pcm_u8" : `pcm_${width * 8}`, width);
    }
    case 0x0003:
      if (bits === 32) return plain("f32", "float", 4);
      if (bits === 64) return plain("f64", "double", 8);
      throw new AudioFormatError(`${container}: ${bits}-bit IEEE float is not a valid bit depth (32 or 64)`);
    case 0x0006:
    case 0x0007:
      if (bits !== 8) throw new AudioFormatError(`${container}: G.711 ${tag === 6 ? "A-law" : "µ-law"} with ${bits} bits per sample (must be 8)`);
      return tag === 6 ? plain("alaw", "alaw", 1) : plain("ulaw", "ulaw", 1);
    case 0x0002:
    case 0x0011:
      return adpcmCodecFromWaveFormat(fmt, container, dataBytes);
    default: {
      const name = KNOWN_UNSUPPORTED[tag];
      throw new AudioFormatError(`${container}: unsupported codec, format tag 0x${tag.toString(16).padStart(4, "0")}${name ? ` (${name})` : ""}`);
    }
  }
}

interface Chunk {
  id: string;
  /** Offset of the chunk body. */
  body: number;
  /** Body size in bytes as declared (within the file: parseRiff refuses a chunk past its end before it makes one). */
  size: number;
}

/** An RF64 `ds64` chunk's 64-bit sizes (u64), exact: the RIFF size (which counts all but the first 8 bytes) and the data chunk's. */
interface Ds64 { riffSize: bigint; dataSize: bigint }

/** Parses a WAV/RIFX/RF64/W64 header into a layout; only chunk headers and small metadata chunks are read. */
export async function parseRiff(src: ByteSource, kind: RiffKind): Promise<Layout> {
  const container = kind === "rifx" ? "wav" : kind;
  const le = kind !== "rifx";
  const w64 = kind === "w64";
  const headerBytes = w64 ? 24 : 8;
  const first = w64 ? 40 : 12;
  // Cut inside its own header (a copy stopped in its first bytes): the sizes there are not to be read.
  if (src.size < first) throw new AudioFormatError(`${container}: ${src.size} bytes, less than its ${first}-byte header (truncated or corrupt)`);

  let fmt: WaveFormat | null = null;
  let data: Chunk | null = null;
  let ds64: Ds64 | null = null;
  const metadata: Record<string, unknown> = {};

  let at = first;
  for (let n = 0; at + headerBytes <= src.size; n++) {
    if (n >= MAX_CHUNKS) throw new AudioFormatError(`${container}: more than ${MAX_CHUNKS} chunks`);
    const h = await src.read(at, headerBytes);
    const hv = new DataView(h.buffer, h.byteOffset, h.byteLength);
    let id: string, body: number;
    /** The body's size as declared, exact (u64) until it is checked against the file. */
    let declared: bigint;
    if (w64) {
      const known = W64_TAIL.every((b, i) => h[4 + i] === b) || W64_RIFF_TAIL.every((b, i) => h[4 + i] === b);
      const total = u64(hv, 16, true); // Wave64 sizes include the 24-byte header
      if (total < 24n) {
        if (data) break; // trailing garbage after the audio
        throw new AudioFormatError(`w64: chunk at byte ${at} declares size ${total}, less than its own header`);
      }
      [id, body, declared] = [known ? fourcc(h, 0).trim() : "?", at + 24, total - 24n];
    } else {
      [id, body] = [fourcc(h, 0), at + 8];
      const field = hv.getUint32(4, le);
      if (kind === "rf64" && id === "data") declared = await rf64DataSize(src, body, field, ds64);
      else declared = BigInt((kind === "wav" || kind === "rifx") && id === "data" && !data ? await wavDataSize(src, body, field, le) : field);
    }
    const remaining = src.size - body;
    if (declared > BigInt(remaining)) {
      if (id === "data" || !data)
        throw new AudioFormatError(
          `${container}: '${id}' chunk at byte ${at} declares ${declared} bytes but only ${Math.max(0, remaining)} remain in the file (truncated or corrupt)`,
        );
      break; // a damaged chunk after the audio: keep the audio, ignore the rest
    }
    // Within the file: a size a double holds exactly.
    const chunk: Chunk = { id, body, size: Number(declared) };

    switch (chunk.id) {
      case "ds64": {
        if (kind !== "rf64") break;
        if (chunk.size < 28) throw new AudioFormatError(`rf64: ds64 chunk is ${chunk.size} bytes, needs 28`);
        const b = await src.read(chunk.body, 28);
        const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
        ds64 = { riffSize: u64(v, 0, true), dataSize: u64(v, 8, true) };
        break;
      }
      case "fmt":
      case "fmt ": {
        // The first one counts, as in libsndfile: a later fmt chunk is ignored, not obeyed.
        if (fmt) break;
        if (chunk.size > 4096) throw new AudioFormatError(`${container}: fmt chunk of ${chunk.size} bytes is implausible`);
        fmt = parseWaveFormat(await src.read(chunk.body, chunk.size), le, container);
        break;
      }
      case "data":
        if (!data) data = chunk;
        break;
      default:
        if (chunk.size <= MAX_META_CHUNK) await readMetadataChunk(src, chunk, metadata);
    }
    // RIFF pads chunks to even sizes; Wave64 aligns to 8 bytes.
    const align = w64 ? 8 : 2;
    at = chunk.body + Math.ceil(chunk.size / align) * align;
  }

  if (!fmt || !data) {
    // A file cut short before its chunks (a copy or download stopped) says so by its header's size.
    const declared = await declaredFileSize(src, kind, ds64);
    if (declared && declared.size > BigInt(src.size)) {
      throw new AudioFormatError(`${container}: ${declared.header} declares ${declared.size} bytes but only ${src.size} are in the file (truncated or corrupt): no ${fmt ? "data" : "fmt"} chunk in what remains`);
    }
  }
  if (!fmt) throw new AudioFormatError(`${container}: no fmt chunk`);
  if (!data) throw new AudioFormatError(`${container}: no data chunk`);
  const { codec, encoding, bits } = waveCodec(fmt, container, data.size);
  return {
    container,
    encoding,
    samplerate: fmt.samplerate,
    channels: fmt.channels,
    bitsPerSample: bits,
    frames: framesOf(codec, data.size),
    dataOffset: data.body,
    dataEnd: data.body + data.size,
    codec,
    metadata: { ...metadata, ...(fmt.extensible ? { extensible: true } : {}) },
  };
}

/**
 * The file's size as its header declares it, and which header: RIFF's (RIFX's) 32-bit size, which
 * counts the 8 bytes before it too; RF64's in its ds64 chunk (the 32-bit field holds 0xFFFFFFFF),
 * null when no ds64 was read; Wave64's 64-bit size, which counts its whole 40-byte header.
 */
async function declaredFileSize(src: ByteSource, kind: RiffKind, ds64: Ds64 | null): Promise<{ header: string; size: bigint } | null> {
  if (kind === "rf64") return ds64 ? { header: "the ds64 chunk", size: ds64.riffSize + 8n } : null;
  const h = await src.read(0, kind === "w64" ? 24 : 8);
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  if (kind === "w64") return { header: "the Wave64 header", size: u64(v, 16, true) };
  return { header: `the ${kind === "rifx" ? "RIFX" : "RIFF"} header`, size: BigInt(v.getUint32(4, kind === "wav") + 8) };
}

/**
 * The size of an RF64 data chunk at byte `body` whose 32-bit size `field` says so. RF64 puts 0xFFFFFFFF in the 32-bit field and the real size in
 * ds64, whose size counts whatever the field says, as in libsndfile (a writer that streams may
 * leave the field 0). A size stated nowhere — ds64's 0 and the field 0 or 0xFFFFFFFF, or no ds64
 * and the field 0, as a writer leaves a recording it never finalised — is the rest of the file
 * up to the chunks after the audio that `audioEndBeforeTail` recognises: libsndfile reads such a
 * file as 0 frames, a recording full of audio as empty.
 */
async function rf64DataSize(src: ByteSource, body: number, field: number, ds64: Ds64 | null): Promise<bigint> {
  if (ds64 && ds64.dataSize > 0n) return ds64.dataSize;
  if (field === 0xffffffff && !ds64) throw new AudioFormatError("rf64: data chunk size is 0xFFFFFFFF but there is no ds64 chunk before it");
  if (field === 0 || field === 0xffffffff) return BigInt((await audioEndBeforeTail(src, body, true)) - body);
  return BigInt(field);
}

/**
 * The size of a WAV data chunk at byte `body`, where its 32-bit size `field` may be unset. A writer that streams (to a
 * pipe: ffmpeg, sox) puts 0xFFFFFFFF there, which libsndfile reads as the rest of the file; a
 * recorder stopped before it finalised its file (power lost, card pulled) leaves 0 with the audio
 * after it, which libsndfile reads as 0 frames — a recording full of audio shown as empty. Both
 * are the rest of the file here up to the chunks after the audio that `audioEndBeforeTail`
 * recognises, unless a chunk header follows the 0: then the data chunk is empty.
 */
async function wavDataSize(src: ByteSource, body: number, field: number, le: boolean): Promise<number> {
  const rest = src.size - body;
  if (field === 0 && rest >= 8) {
    const next = await src.read(body, 8);
    const fourccLike = next.subarray(0, 4).every((c) => c >= 0x20 && c <= 0x7e);
    const size = new DataView(next.buffer, next.byteOffset, 8).getUint32(4, le);
    if (fourccLike && size <= rest - 8) return 0;
  }
  if (field !== 0 && field !== 0xffffffff) return field;
  return (await audioEndBeforeTail(src, body, le)) - body;
}

/**
 * Chunk ids that writers put after a WAV's audio: the ones libsndfile's wav.c names, with ID3
 * (`id3 `, `ID3 `), GUANO (`guan`), XMP (`_PMX`), `axml`, `umid` and padding (`JUNK`, `FLLR`).
 */
const TAIL_CHUNK_IDS = new Set(
  ["LIST", "id3 ", "ID3 ", "cue ", "bext", "guan", "fact", "PEAK", "smpl", "inst", "acid", "cart", "iXML", "axml", "_PMX", "umid", "levl", "MEXT", "DISP",
    "strc", "afsp", "clm ", "elmo", "exif", "plst", "labl", "ltxt", "note", "slnt", "JUNK", "junk", "PAD ", "pad ", "FLLR"]
    .map((id) => Buffer.from(id, "latin1").readUInt32BE(0)),
);
/** How far before the end of the file `audioEndBeforeTail` looks for chunks: all of a tail larger than this stays audio. */
const TAIL_SCAN_BYTES = 4 << 20;

/**
 * Where the audio of a data chunk whose size is unset (0 or 0xFFFFFFFF), starting at byte `body`,
 * ends: before the chunks a writer put after it, else at the end of the file. Nothing states where
 * the audio stops, so only a tail that cannot be audio by chance is taken off — a chain of chunks
 * with ids of `TAIL_CHUNK_IDS`, each starting where the one before ends (RIFF's even padding), the
 * last ending exactly at the end of the file (its pad byte there or not), in the last
 * `TAIL_SCAN_BYTES`. Bytes that are no such chain (an unknown id, a size that ends elsewhere) stay
 * audio: they may be samples. libsndfile reads the chunks as audio (0xFFFFFFFF) or reads no audio (0).
 */
async function audioEndBeforeTail(src: ByteSource, body: number, le: boolean): Promise<number> {
  const from = Math.max(body, src.size - TAIL_SCAN_BYTES);
  const tail = await src.read(from, src.size - from);
  const v = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  // Walked backwards: a chunk joins the chain when it ends where the chain (or the file) begins.
  const chainStarts = new Set([src.size]);
  let end = src.size;
  for (let at = src.size - 8; at >= from; at--) {
    if ((at - body) % 2 !== 0 || !TAIL_CHUNK_IDS.has(v.getUint32(at - from, false))) continue;
    const size = v.getUint32(at - from + 4, le);
    const next = at + 8 + size;
    if (next === src.size || chainStarts.has(next + (size % 2))) {
      chainStarts.add(at);
      end = at;
    }
  }
  return end;
}

async function readMetadataChunk(src: ByteSource, chunk: Chunk, metadata: Record<string, unknown>): Promise<void> {
  const id = chunk.id.toLowerCase();
  if (id !== "guan" && id !== "bext" && id !== "list") return;
  const body = await src.read(chunk.body, chunk.size);
  if (id === "guan") metadata.guano = parseGuano(body);
  else if (id === "bext") metadata.bext = parseBext(body);
  else {
    const info = parseListInfo(body);
    if (info) metadata.info = { ...(metadata.info as object | undefined), ...info };
  }
}
