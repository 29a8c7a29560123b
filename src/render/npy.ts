/**
 * NumPy `.npy` files (format version 1.0), so that `numpy.load` reads what sonotile writes.
 * Reference: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */

/** The magic string that opens every .npy file. */
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/**
 * The .npy header (magic, version, header dict) of data of dtype `descr` (default little-endian
 * float32) laid out C-order (row-major) with the given `shape`; the data follows directly. Padded
 * with spaces so that the data starts on a 64-byte boundary. Lets large arrays be written to a file
 * in pieces.
 */
export function npyHeader(shape: readonly number[], descr = "<f4"): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const preamble = 10; // magic (6) + version (2) + header length (2)
  header += " ".repeat(63 - ((preamble + header.length) % 64)) + "\n";
  const out = new Uint8Array(preamble + header.length);
  out.set([...NPY_MAGIC, 1, 0]); // v1.0
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[preamble + i] = header.charCodeAt(i);
  return out;
}

/** Encodes float32 `data` with the given `shape` as a whole .npy file (see npyHeader). */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new RangeError(`npy shape [${shape.join(", ")}] holds ${count} values, data has ${data.length}`);
  const header = npyHeader(shape);
  const out = new Uint8Array(header.length + data.byteLength);
  out.set(header);
  // Float32Array is host-endian; every platform Node runs on here is little-endian.
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), header.length);
  return out;
}

/** What a .npy header says of the data after it: dtype, layout, shape, and where it starts. */
export interface NpyLayout {
  /** The dtype as NumPy writes it, e.g. `<f4`. */
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** The byte the data starts at (the header's length). */
  dataOffset: number;
}

/**
 * The header at the start of `bytes`, as npyHeader writes it (format 1.0; `bytes` need hold no
 * more than the header).
 * @throws Error saying what is not such a header
 */
export function parseNpyHeader(bytes: Uint8Array): NpyLayout {
  if (bytes.length < 10 || NPY_MAGIC.some((b, i) => bytes[i] !== b)) throw new Error("not a .npy file (no \\x93NUMPY magic)");
  if (bytes[6] !== 1) throw new Error(`.npy format version ${bytes[6]}.${bytes[7]}, not the 1.0 sonotile writes`);
  const dataOffset = 10 + new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(8, true);
  if (bytes.length < dataOffset) throw new Error(".npy header cut short");
  const dict = new TextDecoder("latin1").decode(bytes.subarray(10, dataOffset));
  const descr = /'descr':\s*'([^']+)'/.exec(dict)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(dict)?.[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(dict)?.[1];
  if (descr === undefined || fortran === undefined || shape === undefined) throw new Error(`.npy header ${JSON.stringify(dict.trim())} lacks descr, fortran_order or shape`);
  return { descr, fortranOrder: fortran === "True", shape: shape.split(",").map((d) => d.trim()).filter(Boolean).map(Number), dataOffset };
}
