/**
 * Stored sample words → float32 in [-1, 1), exactly as libsndfile's `sf_read_float` does
 * (SPEC §3.1): signed ints divide by 2^(bits-1), unsigned 8-bit is (v − 128)/128, floats pass
 * through (float64 rounded to float32), A-law/µ-law expand by G.711 to 16 bits and divide by 2^15.
 *
 * One tight loop per encoding, selected once per call, so the JIT sees monomorphic code.
 */

/** How one stored sample is laid out. */
export type SampleFormat = "u8" | "s8" | "s16" | "s24" | "s32" | "f32" | "f64" | "alaw" | "ulaw";

/** Bytes per stored sample of each format. */
export const SAMPLE_BYTES: Record<SampleFormat, number> = {
  u8: 1, s8: 1, s16: 2, s24: 3, s32: 4, f32: 4, f64: 8, alaw: 1, ulaw: 1,
};

/**
 * G.711 A-law → 16-bit linear, the classic Sun Microsystems `alaw2linear` (ITU-T G.711 Table 1a);
 * libsndfile's `alaw_decode` table holds the same values.
 */
function alawToLinear(code: number): number {
  const a = code ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

/** G.711 µ-law → 16-bit linear, Sun's `ulaw2linear` (bias 0x84), as libsndfile's `ulaw_decode`. */
function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

function table(expand: (code: number) => number): Float32Array {
  const t = new Float32Array(256);
  for (let c = 0; c < 256; c++) t[c] = expand(c) / 32768;
  return t;
}
const ALAW = table(alawToLinear);
const ULAW = table(ulawToLinear);

/**
 * Converts `n` samples starting at byte `first` of `bytes`, `stride` bytes apart (the frame size
 * for one channel of interleaved audio), into `out[outOffset ..]`.
 *
 * @param format        stored sample format
 * @param littleEndian  byte order of multi-byte samples (WAV/W64/RF64: true; AIFF: false, AIFC 'sowt': true)
 */
export function convertSamples(
  format: SampleFormat,
  littleEndian: boolean,
  bytes: Uint8Array,
  first: number,
  stride: number,
  out: Float32Array,
  outOffset: number,
  n: number,
): void {
  if (littleEndian && convertAligned(format, bytes, first, stride, out, outOffset, n)) return;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = first;
  const end = outOffset + n;
  switch (format) {
    case "u8":
      for (let i = outOffset; i < end; i++, p += stride) out[i] = (bytes[p] - 128) / 128;
      return;
    case "s8":
      for (let i = outOffset; i < end; i++, p += stride) out[i] = view.getInt8(p) / 128;
      return;
    case "s16":
      for (let i = outOffset; i < end; i++, p += stride) out[i] = view.getInt16(p, littleEndian) / 32768;
      return;
    case "s24":
      // Assemble the 24-bit word in the top of an int32 so the sign comes for free; /2^31 = /2^23 of the word.
      if (littleEndian) {
        for (let i = outOffset; i < end; i++, p += stride)
          out[i] = ((bytes[p] << 8) | (bytes[p + 1] << 16) | (bytes[p + 2] << 24)) / 2147483648;
      } else {
        for (let i = outOffset; i < end; i++, p += stride)
          out[i] = ((bytes[p + 2] << 8) | (bytes[p + 1] << 16) | (bytes[p] << 24)) / 2147483648;
      }
      return;
    case "s32":
      for (let i = outOffset; i < end; i++, p += stride) out[i] = view.getInt32(p, littleEndian) / 2147483648;
      return;
    case "f32":
      for (let i = outOffset; i < end; i++, p += stride) out[i] = view.getFloat32(p, littleEndian);
      return;
    case "f64":
      for (let i = outOffset; i < end; i++, p += stride) out[i] = view.getFloat64(p, littleEndian);
      return;
    case "alaw":
      for (let i = outOffset; i < end; i++, p += stride) out[i] = ALAW[bytes[p]];
      return;
    case "ulaw":
      for (let i = outOffset; i < end; i++, p += stride) out[i] = ULAW[bytes[p]];
      return;
  }
}

/** Typed-array constructors for the multi-byte formats a little-endian host can read as they are. */
const HOST_ORDER_VIEWS = { s16: Int16Array, s32: Int32Array, f32: Float32Array, f64: Float64Array } as const;

/**
 * convertSamples for little-endian data whose samples are aligned to their size in memory (the
 * usual case: the reader fetches whole frames into a fresh buffer): read through a typed-array
 * view — a plain copy for mono float32 — which is several times faster than DataView reads.
 * Node runs on little-endian hosts only here (as npy.ts assumes). Returns false when the data
 * does not qualify, so the caller converts it the general way.
 */
function convertAligned(format: SampleFormat, bytes: Uint8Array, first: number, stride: number, out: Float32Array, outOffset: number, n: number): boolean {
  if (!(format in HOST_ORDER_VIEWS) || n === 0) return false;
  const View = HOST_ORDER_VIEWS[format as keyof typeof HOST_ORDER_VIEWS];
  const size = View.BYTES_PER_ELEMENT;
  const start = bytes.byteOffset + first;
  if (start % size !== 0 || stride % size !== 0) return false;
  const step = stride / size;
  const words = new View(bytes.buffer as ArrayBuffer, start, (n - 1) * step + 1);
  if (format === "f32" && step === 1) {
    out.set(words as Float32Array, outOffset);
    return true;
  }
  // libsndfile's scale: ints divide by 2^(bits-1); floats pass through (float64 rounded).
  const scale = format === "s16" ? 1 / 32768 : format === "s32" ? 1 / 2147483648 : 1;
  for (let i = 0, j = 0; i < n; i++, j += step) out[outOffset + i] = words[j] * scale;
  return true;
}
