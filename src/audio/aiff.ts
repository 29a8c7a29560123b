/**
 * AIFF and AIFF-C (Apple, "Audio Interchange File Format" 1.3 and the AIFF-C draft of 1991):
 * big-endian chunks in a FORM container; COMM gives channels, sample size, the sample rate as an
 * 80-bit IEEE extended float and, in AIFC, a compression type; SSND holds the samples.
 */
import { imaAiffCodec } from "./adpcm.js";
import { checkBasics, framesOf, pcmCodec, type BlockCodec, type Layout } from "./layout.js";
import type { SampleFormat } from "./pcm.js";
import type { ByteSource } from "./source.js";
import { AudioFormatError } from "./types.js";

const MAX_CHUNKS = 100_000;
const MAX_TEXT_CHUNK = 1 << 16;

/** True for a FORM/AIFF or FORM/AIFC header. */
export function sniffAiff(head: Uint8Array): boolean {
  if (head.length < 12) return false;
  const id = String.fromCharCode(...head.subarray(0, 4));
  const form = String.fromCharCode(...head.subarray(8, 12));
  return id === "FORM" && (form === "AIFF" || form === "AIFC");
}

/** 80-bit IEEE 754 extended precision (big-endian), the AIFF sample-rate field. */
function readExtended(b: Uint8Array, at: number): number {
  const sign = b[at] & 0x80 ? -1 : 1;
  const exponent = ((b[at] & 0x7f) << 8) | b[at + 1];
  let mantissa = 0;
  for (let i = 0; i < 8; i++) mantissa = mantissa * 256 + b[at + 2 + i];
  if (exponent === 0 && mantissa === 0) return 0;
  // The largest exponent: ±infinity when the fraction (all but the explicit integer bit) is 0, else NaN.
  if (exponent === 0x7fff) return (b[at + 2] & 0x7f) === 0 && b.subarray(at + 3, at + 10).every((x) => x === 0) ? sign * Infinity : NaN;
  return sign * mantissa * 2 ** (exponent - 16383 - 63);
}

interface Comm {
  channels: number;
  sampleSize: number;
  samplerate: number;
  compression: string;
}

/** Chooses the decoder for COMM's sample size and (AIFC) compression type. */
function aiffCodec(comm: Comm): { codec: BlockCodec; encoding: string; bits: number | null } {
  const { channels, sampleSize: bits, compression } = comm;
  const pcm = (format: SampleFormat, le: boolean, encoding: string) => ({ codec: pcmCodec(format, le, channels), encoding, bits });
  const integer = (le: boolean) => {
    if (bits < 1 || bits > 32) throw new AudioFormatError(`aiff: ${bits}-bit integer PCM is not a valid bit depth`);
    const width = Math.ceil(bits / 8);
    return pcm((["s8", "s16", "s24", "s32"] as const)[width - 1], le, width === 1 ? "pcm_s8" : `pcm_${width * 8}`);
  };
  switch (compression.toLowerCase()) {
    case "none":
    case "twos":
      return integer(false);
    case "sowt": // byte-swapped (little-endian) integer PCM
      return integer(true);
    case "raw ": // unsigned 8-bit
      if (bits !== 8) throw new AudioFormatError(`aiff: 'raw ' compression with ${bits}-bit samples (must be 8)`);
      return pcm("u8", false, "pcm_u8");
    case "in24":
      return pcm("s24", false, "pcm_24");
    case "42n1": // little-endian 24-bit: libsndfile's name for it, which it writes for AIFC with endian=LITTLE
      return pcm("s24", true, "pcm_24");
    case "in32":
      return pcm("s32", false, "pcm_32");
    case "23ni": // little-endian 32-bit, likewise
      return pcm("s32", true, "pcm_32");
    case "fl32":
      return pcm("f32", false, "float");
    case "fl64":
      return pcm("f64", false, "double");
    case "alaw":
      return { ...pcm("alaw", false, "alaw"), bits: 8 };
    case "ulaw":
      return { ...pcm("ulaw", false, "ulaw"), bits: 8 };
    case "ima4":
      return { codec: imaAiffCodec(channels), encoding: "ima_adpcm", bits: 4 };
    default:
      throw new AudioFormatError(`aiff: unsupported AIFC compression type '${compression}'`);
  }
}

export async function parseAiff(src: ByteSource): Promise<Layout> {
  const head = await src.read(0, 12);
  const aifc = String.fromCharCode(...head.subarray(8, 12)) === "AIFC";
  let comm: Comm | null = null;
  let ssnd: { offset: number; size: number } | null = null;
  const text: Record<string, string> = {};

  let at = 12;
  for (let n = 0; at + 8 <= src.size; n++) {
    if (n >= MAX_CHUNKS) throw new AudioFormatError(`aiff: more than ${MAX_CHUNKS} chunks`);
    const h = await src.read(at, 8);
    const id = String.fromCharCode(...h.subarray(0, 4));
    const size = new DataView(h.buffer, h.byteOffset, 8).getUint32(4, false);
    const body = at + 8;
    if (size > src.size - body) {
      if (id === "SSND" || !ssnd || !comm)
        throw new AudioFormatError(`aiff: '${id}' chunk at byte ${at} declares ${size} bytes but only ${src.size - body} remain in the file (truncated or corrupt)`);
      break;
    }
    if (id === "COMM") {
      if (size < (aifc ? 22 : 18)) throw new AudioFormatError(`aiff: COMM chunk is ${size} bytes, too short`);
      const c = await src.read(body, Math.min(size, 256));
      const v = new DataView(c.buffer, c.byteOffset, c.byteLength);
      // libsndfile keeps the whole Hz of the 80-bit rate, truncated (aiff.c tenbytefloat2int): the
      // classic Macintosh 22254.545… Hz is 22254 Hz there, and here. Kept fractional, such a file
      // could be neither decoded to a WAV (whole Hz) nor resampled (an integer ratio).
      const rate = readExtended(c, 8);
      comm = {
        channels: v.getInt16(0, false),
        sampleSize: v.getInt16(6, false),
        samplerate: rate >= 1 ? Math.trunc(rate) : rate,
        compression: aifc ? String.fromCharCode(...c.subarray(18, 22)) : "NONE",
      };
      checkBasics("aiff", comm.channels, comm.samplerate);
    } else if (id === "SSND") {
      if (size < 8) throw new AudioFormatError(`aiff: SSND chunk is ${size} bytes, too short`);
      const s = await src.read(body, 8);
      const offset = new DataView(s.buffer, s.byteOffset, 8).getUint32(0, false);
      if (offset > size - 8) throw new AudioFormatError(`aiff: SSND data offset ${offset} lies beyond the chunk (${size} bytes)`);
      ssnd = { offset: body + 8 + offset, size: size - 8 - offset };
    } else if ((id === "NAME" || id === "AUTH" || id === "ANNO" || id === "(c) ") && size <= MAX_TEXT_CHUNK) {
      text[id.trim()] = new TextDecoder("latin1").decode(await src.read(body, size)).replace(/\0+$/, "").trim();
    }
    at = body + size + (size & 1);
  }
  if (!comm) throw new AudioFormatError("aiff: no COMM chunk");
  if (!ssnd) throw new AudioFormatError("aiff: no SSND chunk");
  const { codec, encoding, bits } = aiffCodec(comm);
  return {
    container: "aiff",
    encoding,
    samplerate: comm.samplerate,
    channels: comm.channels,
    bitsPerSample: bits,
    frames: framesOf(codec, ssnd.size),
    dataOffset: ssnd.offset,
    dataEnd: ssnd.offset + ssnd.size,
    codec,
    metadata: Object.keys(text).length ? { aiff: text } : {},
  };
}
