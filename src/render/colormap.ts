/**
 * Colormaps of SPEC §3.10: matplotlib's 256-entry tables (generated into colormap-tables.ts by
 * scripts/colormaps.py) and the value → colour-index mapping, which runs in the WASM core.
 */
import type { ColormapName } from "../engine/params.js";
import { core } from "../engine/wasm.js";
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
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo !== hi)) {
    throw new RangeError(`colour range [${lo}, ${hi}] must be two different finite numbers`);
  }
  const n = values.length;
  if (n === 0) return new Uint8Array(0);
  const input = core.alloc(values.byteLength);
  const output = core.alloc(n);
  try {
    new Float32Array(core.memory.buffer, input, n).set(values);
    core.colorIndex(input, n, lo, hi, output);
    return new Uint8Array(core.memory.buffer, output, n).slice();
  } finally {
    core.free(output);
    core.free(input);
  }
}
