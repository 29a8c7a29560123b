/**
 * What a tile is made of, computed on whichever thread calls it (the pool's workers in the
 * server): the pooled values of one tile, and its encodings (SPEC §4 formats).
 */
import { valueRange } from "../engine/analysis.js";
import { overviewPooledRange, type PackedStats, type RecordingSpectrogram } from "../engine/recording.js";
import type { ColormapName, Params } from "../engine/params.js";
import { renderPng } from "../render/image.js";
import { npyHeader } from "../render/npy.js";
import { palettePngBound, type PngText } from "../render/png.js";
import type { TileLayout } from "./grid.js";

export const TILE_FORMATS = ["png", "f32", "npy"] as const;
export type TileFormat = (typeof TILE_FORMATS)[number];

/** A tile's values, [rows][columns], row 0 the lowest frequency, written into `out` (by default a new array). */
export async function tileValues(recording: RecordingSpectrogram, layout: TileLayout, out = new Float32Array(layout.rows * layout.columns)): Promise<Float32Array> {
  await recording.writePooledRange(layout.f0, layout.f1, layout.binEdges, layout.factor, out);
  return out;
}

/**
 * A tile's values as `tileValues` lays them out, pooled from the overview in `stats` (complete
 * stats that kept one, or statsForOverview of them) instead of the recording's samples: tiles
 * zoomed out to OVERVIEW_FACTOR frames a column or more (overviewPooledRange).
 */
export async function overviewTileValues(stats: PackedStats, params: Params, layout: TileLayout, out = new Float32Array(layout.rows * layout.columns)): Promise<Float32Array> {
  await overviewPooledRange(stats, params, layout.f0, layout.f1, layout.binEdges, layout.factor, out);
  return out;
}

/**
 * Float32 arrays for values that are drawn and dropped (PNG), kept from one image to the next:
 * first touch of fresh memory cost 1.4 ms per MB on the 2-vCPU VMs (bench/PERFORMANCE.md), about
 * as much as computing a tile's values. Holds the largest array asked for up to `limit` values;
 * larger ones are allocated each time.
 */
export class ValuesScratch {
  private values: Float32Array<ArrayBuffer> = new Float32Array(0);
  constructor(private readonly limit: number) {}

  /** An array of `n` values, overwritten by the next `take`. */
  take(n: number): Float32Array<ArrayBuffer> {
    if (n > this.limit) return new Float32Array(n);
    if (this.values.length < n) this.values = new Float32Array(n);
    return this.values.subarray(0, n);
  }
}

/**
 * The bytes of a [rows][columns] image in `format` (PNG through the colormap, raw float32, or
 * NumPy), its values written by `write`: for f32 and npy straight into the bytes that are sent
 * (after the npy header, which keeps them 64-byte aligned), for PNG into `scratch`, with
 * `render.text` as its iTXt (what made it).
 */
export async function encodeImage(rows: number, columns: number, format: TileFormat, render: { params: Params; peak: number; cmap: ColormapName; text?: readonly PngText[] }, scratch: ValuesScratch, write: (values: Float32Array<ArrayBuffer>) => Promise<unknown>): Promise<Uint8Array> {
  const n = rows * columns;
  if (format === "png") {
    const values = scratch.take(n);
    await write(values);
    return renderPng({ data: values, bins: rows, frames: columns, valueRange: valueRange(render.params, render.peak) }, render.cmap, render.text);
  }
  const header = format === "npy" ? npyHeader([rows, columns]) : new Uint8Array(0);
  const bytes = new Uint8Array(header.length + 4 * n);
  bytes.set(header);
  // Float32Array is host-endian; every platform Node runs on here is little-endian.
  await write(new Float32Array(bytes.buffer, header.length, n));
  return bytes;
}

/**
 * The most bytes `encodeImage` writes for a [rows][columns] image in `format`, known before its
 * values are computed: f32 and npy exactly (4 bytes a value, npy's header before them), PNG at
 * most palettePngBound (what deflate makes of the pixels is known only once it has run).
 */
export function encodedBytesBound(rows: number, columns: number, format: TileFormat): number {
  if (format === "png") return palettePngBound(columns, rows);
  return (format === "npy" ? npyHeader([rows, columns]).length : 0) + 4 * rows * columns;
}

/**
 * The bytes `encodeImage` writes for a [rows][columns] image in `format` when they are known before
 * its values are computed: f32 and npy (encodedBytesBound); null for PNG, whose size deflate
 * decides — spectrograms compress 1.4–4× (png.ts), so its bound would refuse PNGs that fit.
 */
export function encodedBytesKnown(rows: number, columns: number, format: TileFormat): number | null {
  return format === "png" ? null : encodedBytesBound(rows, columns, format);
}
