/**
 * NumPy `.npy` files (format version 1.0), so that `numpy.load` reads what sonotile writes.
 * Reference: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */

/**
 * The .npy header (magic, version, header dict) of little-endian float32 data laid out C-order
 * (row-major) with the given `shape`; the data follows directly. Padded with spaces so that the
 * data starts on a 64-byte boundary. Lets large arrays be written to a file in pieces.
 */
export function npyHeader(shape: readonly number[]): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  const preamble = 10; // magic (6) + version (2) + header length (2)
  header += " ".repeat(63 - ((preamble + header.length) % 64)) + "\n";
  const out = new Uint8Array(preamble + header.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]); // "\x93NUMPY" v1.0
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
