/**
 * Colormaps of SPEC §3.10: matplotlib's 256-entry tables (generated into colormap-tables.ts by
 * scripts/colormaps.py) and the value → colour-index mapping, which runs in the WASM core.
 */
import type { ColormapName } from "../engine/params.js";
import { core, CORE_MAX_BLOCK } from "../engine/wasm.js";
import { COLORMAP_HEX } from "./colormap-tables.js";

const palettes = new Map<ColormapName, Uint8Array>();

/** The colormap's table as a PNG palette: 256 entries × RGB = 768 bytes. Shared; do not modify. */
export function colormapPalette(name: ColormapName): Uint8Array {
  let table = palettes.get(name);
  if (!table) {
    const hex = COLORMAP_HEX[name];
    if (hex === undefined) throw new RangeError(`unknown colormap '${name}'`);
    table = Uint8Array.from({ length: hex.length / 2 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
    palettes.set(name, table);
  }
  return table;
}

/**
 * Colour index (0..255) of each value, SPEC §3.10: v = (x − lo)/(hi − lo) clipped to [0, 1],
 * index = min(floor(v·256), 255), NaN → 0. `lo`/`hi` are the values of the first and last
 * colour (a Spectrogram's `valueRange`). Computed in float64 by `colorIndex` in assembly/colormap.ts.
 */
export function colorIndices(values: Float32Array, lo: number, hi: number): Uint8Array {
  if (values.length === 0) {
    checkColourRange(lo, hi);
    return new Uint8Array(0);
  }
  return colorRows(values, values.length, lo, hi, { stride: values.length, offset: 0, bottomUp: false }, (indices) => indices.slice());
}

/** Where `colorRows` puts the rows of indices in its bytes. */
export interface RowLayout {
  /** Bytes from the start of one row to the next (≥ offset + width). */
  stride: number;
  /** Bytes before each row's indices (a PNG scanline's filter-type byte: 1); they and any after the row are 0. */
  offset: number;
  /** The last row of values first (a spectrogram's highest bin at the top of an image). */
  bottomUp: boolean;
}

/**
 * The most values `colorRows` takes: they go into the core as one block of 4 bytes each, which
 * the allocator's largest block (CORE_MAX_BLOCK) bounds: 2^28 − 1.
 */
export const MAX_COLOR_VALUES = Math.floor(CORE_MAX_BLOCK / 4);

/**
 * The colour indices of `values` (`colorIndices`), rows of `width` values, laid out as `layout`
 * says in the core's memory and handed to `use`, whose result is returned. The bytes are a view
 * that is valid during the call only: no JavaScript array is allocated, and fresh memory is what
 * costs here — first touch took 1.4 ms per MB on the 2-vCPU VMs (bench/PERFORMANCE.md), more
 * than indexing and deflating a tile's pixels.
 */
export function colorRows<T>(values: Float32Array, width: number, lo: number, hi: number, layout: RowLayout, use: (bytes: Uint8Array) => T): T {
  checkColourRange(lo, hi);
  const height = values.length / width;
  if (!(Number.isInteger(width) && width >= 1 && Number.isInteger(height) && height >= 1)) throw new RangeError(`${values.length} values are not rows of ${width}`);
  const { stride, offset, bottomUp } = layout;
  if (!(Number.isInteger(offset) && offset >= 0 && Number.isInteger(stride) && stride >= offset + width)) throw new RangeError(`row layout: stride ${stride} must hold offset ${offset} + width ${width}`);
  const bytes = stride * height;
  const input = core.alloc(values.byteLength);
  const output = core.alloc(bytes);
  try {
    new Float32Array(core.memory.buffer, input, values.length).set(values);
    for (let r = 0; r < height; r++) core.colorIndex(input + 4 * r * width, width, lo, hi, output + (bottomUp ? height - 1 - r : r) * stride + offset);
    const view = new Uint8Array(core.memory.buffer, output, bytes);
    if (stride > width) {
      for (let r = 0; r < height; r++) {
        view.fill(0, r * stride, r * stride + offset);
        view.fill(0, r * stride + offset + width, (r + 1) * stride);
      }
    }
    return use(view);
  } finally {
    core.free(output);
    core.free(input);
  }
}

function checkColourRange(lo: number, hi: number): void {
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo !== hi)) {
    throw new RangeError(`colour range [${lo}, ${hi}] must be two different finite numbers`);
  }
}
