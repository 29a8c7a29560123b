/**
 * What a tile is made of, computed on whichever thread calls it (the pool's workers in the
 * server): the pooled values of one tile, and its encodings (SPEC §4 formats).
 */
import { valueRange } from "../engine/analysis.js";
import type { RecordingSpectrogram } from "../engine/recording.js";
import type { ColormapName, Params } from "../engine/params.js";
import { renderPng } from "../render/image.js";
import { encodeNpy } from "../render/npy.js";
import type { TileLayout } from "./grid.js";

export const TILE_FORMATS = ["png", "f32", "npy"] as const;
export type TileFormat = (typeof TILE_FORMATS)[number];

/** A tile's values, [rows][columns], row 0 the lowest frequency. */
export async function tileValues(recording: RecordingSpectrogram, layout: TileLayout): Promise<Float32Array> {
  const { f0, f1, factor, columns, binEdges, rows } = layout;
  const out = new Float32Array(rows * columns);
  await recording.writePooledRange(f0, f1, binEdges, factor, out);
  return out;
}

/** Encodes [rows][columns] values: PNG through the colormap, raw float32, or NumPy. */
export function encodeValues(values: Float32Array, rows: number, columns: number, format: TileFormat, render: { params: Params; peak: number; cmap: ColormapName }): Uint8Array {
  if (format === "png") {
    return renderPng({ data: values, bins: rows, frames: columns, valueRange: valueRange(render.params, render.peak) }, render.cmap);
  }
  if (format === "npy") return encodeNpy(values, [rows, columns]);
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
