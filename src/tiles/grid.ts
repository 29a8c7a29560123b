/**
 * The tile grid of SPEC §4. At zoom z ≥ 0, tile x covers frames [x·W·2^z, (x+1)·W·2^z) of the
 * whole recording's spectrogram, each column the maximum of 2^z consecutive frames; rows are
 * all nperseg//2+1 bins, or those between fmin and fmax, optionally merged (maximum) into
 * `height` rows. The last tile of a recording is narrower. The one-shot image's rows are a tile's.
 */
import { z } from "zod";
import { plural } from "../audio/types.js";
import { binRange, framesInInterval, noFrameInInterval, type FrameGeometry } from "../engine/geometry.js";
import { decimalText, integerText } from "../engine/params.js";

export const TILE_WIDTHS = [128, 256, 512, 1024] as const;
/** Beyond this a column would pool more than 2^20 frames: nobody needs it, it only costs. */
export const MAX_ZOOM = 20;

/**
 * The rows of a tile or one-shot image beyond the spectrogram parameters, validated like them:
 * numbers from a query string read as theirs are (decimalText, integerText).
 */
export const bandOptionsSchema = z.object({
  fmin: decimalText(z.number({ error: "must be a number" }).min(0, "must be >= 0")).optional().describe("Lowest frequency shown, Hz (bins at or above it)"),
  fmax: decimalText(z.number({ error: "must be a number" }).min(0, "must be >= 0")).optional().describe("Highest frequency shown, Hz (bins at or below it; fmin=0&fmax=0 is the 0 Hz row)"),
  height: integerText(z.number({ error: "must be an integer" }).positive("must be > 0").int("must be an integer")).optional().describe("Rows of the image: bins are merged (maximum) down to this many"),
});
export type BandOptions = z.output<typeof bandOptionsSchema>;

/** Tile request fields beyond the spectrogram parameters: the band's, and the width, declared as the enum it is. */
export const tileOptionsSchema = z.object({
  width: integerText(z.literal(TILE_WIDTHS, { error: `must be one of ${TILE_WIDTHS.join(", ")}` })).prefault(512).describe("Frames per tile at zoom 0 (W)"),
  ...bandOptionsSchema.shape,
});
export type TileOptions = z.output<typeof tileOptionsSchema>;

/** Where one tile lies in the recording's spectrogram. */
export interface TileLayout {
  z: number;
  x: number;
  /** Whole-recording frames [f0, f1) the tile covers. */
  f0: number;
  f1: number;
  /** Frames per column: 2^z. */
  factor: number;
  /** Output columns: ceil((f1 − f0) / factor). */
  columns: number;
  /** Bin edges of the rows: row r merges bins [binEdges[r], binEdges[r+1]) = k0 + floor(r·n / rows) … (n bins from k0); row 0 is the lowest. */
  binEdges: Int32Array;
  rows: number;
}

/** A tile that cannot exist for this recording: `field` names the offending request part. */
export class TileRangeError extends Error {
  override name = "TileRangeError";
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

/** Number of tiles at zoom z for a recording of `frames` frames. */
export function tileCount(frames: number, z: number, width: number): number {
  return Math.ceil(frames / (width * 2 ** z));
}

/**
 * Frames [f0, f1) of the whole recording centred in [start, end) seconds (SPEC §3's rule for
 * pieces), at least one: else TileRangeError naming the bound at fault, its message ended by
 * `hint` (realSecondsHint: for a time-expanded recording, that the times are real seconds).
 */
export function framesOfInterval(start: number, end: number, frames: number, g: FrameGeometry, hint = ""): [number, number] {
  const [f0, f1] = framesInInterval(start, end, frames, g);
  if (f1 > f0) return [f0, f1];
  const { bound, message } = noFrameInInterval(start, end, frames, g);
  throw new TileRangeError(`${bound}_time`, message + hint);
}

/** Tiles [x0, x1) at zoom z that hold the frames centred in [start, end) seconds (the streamed range); `hint` as framesOfInterval's. */
export function tilesInInterval(zoom: number, start: number, end: number, frames: number, g: FrameGeometry, width: number, hint = ""): [number, number] {
  checkZoom(zoom);
  const [f0, f1] = framesOfInterval(start, end, frames, g, hint);
  const span = width * 2 ** zoom;
  return [Math.floor(f0 / span), Math.floor((f1 - 1) / span) + 1];
}

function checkZoom(zoom: number): void {
  if (!Number.isInteger(zoom) || zoom < 0 || zoom > MAX_ZOOM) throw new TileRangeError("z", `must be an integer from 0 to ${MAX_ZOOM}`);
}

/** The layout of tile (z, x) — throws TileRangeError for tiles or bands outside the recording. */
export function tileLayout(zoom: number, x: number, frames: number, g: FrameGeometry, options: TileOptions): TileLayout {
  checkZoom(zoom);
  const count = tileCount(frames, zoom, options.width);
  // Blamed on `tile`, the path segment <x>.<format> a client sent (the field it can map to its input).
  if (count === 0) throw new TileRangeError("tile", "the recording has no frames at these parameters, so no tiles");
  if (!Number.isInteger(x) || x < 0 || x >= count) throw new TileRangeError("tile", `x must be an integer from 0 to ${count - 1} (the recording has ${plural(count, "tile")} at zoom ${zoom})`);
  const factor = 2 ** zoom;
  const f0 = x * options.width * factor;
  const f1 = Math.min(frames, f0 + options.width * factor);
  const binEdges = bandRows(g, options);
  return { z: zoom, x, f0, f1, factor, columns: Math.ceil((f1 - f0) / factor), binEdges, rows: binEdges.length - 1 };
}

/**
 * The layout of the one-shot image of frames [f0, f1) (SPEC §3's piece): a column a frame, its
 * rows a tile's (bandRows) — throws TileRangeError for a band outside the spectrogram.
 */
export function pieceLayout(f0: number, f1: number, g: FrameGeometry, options: BandOptions): TileLayout {
  const binEdges = bandRows(g, options);
  return { z: 0, x: 0, f0, f1, factor: 1, columns: f1 - f0, binEdges, rows: binEdges.length - 1 };
}

/**
 * Hz of the lowest and the highest bin of a layout's rows (the `x-frequency-range` header, the
 * CLI's `frequency_range`): k·rate/n rather than k·(rate/n) — 250000 for bin 175 of n = 350 at
 * 500 kHz, not 250000.00000000003.
 */
export function rowsFrequencyRange(layout: TileLayout, g: FrameGeometry): [number, number] {
  return [(layout.binEdges[0] * g.samplerate) / g.nperseg, ((layout.binEdges[layout.rows] - 1) * g.samplerate) / g.nperseg];
}

/** The bins a row of a layout merges, on average: its band's bins over its rows (1 when uncropped and unmerged). */
export function binsPerRow(layout: TileLayout): number {
  return (layout.binEdges[layout.rows] - layout.binEdges[0]) / layout.rows;
}

/**
 * The bin edges of the rows of a band (TileLayout.binEdges): the bins within [fmin, fmax] Hz,
 * merged into `height` rows — throws TileRangeError naming the field for a band with no bin, upside
 * down, or of fewer bins than `height`.
 */
function bandRows(g: FrameGeometry, options: BandOptions): Int32Array {
  if (options.fmin !== undefined && options.fmax !== undefined && options.fmax < options.fmin) throw new TileRangeError("fmax", `must be >= fmin (${options.fmin} Hz)`);
  const [k0, k1] = binRange(g, options.fmin, options.fmax);
  if (k1 <= k0) throw new TileRangeError("fmin", `no frequency bin lies in [${options.fmin ?? 0}, ${options.fmax ?? g.samplerate / 2}] Hz (bins are ${g.samplerate / g.nperseg} Hz apart)`);
  const available = k1 - k0;
  const rows = options.height ?? available;
  if (rows > available) throw new TileRangeError("height", `must be <= ${available} (the bins in the band)`);
  const binEdges = new Int32Array(rows + 1);
  for (let r = 0; r <= rows; r++) binEdges[r] = k0 + Math.floor((r * available) / rows);
  return binEdges;
}
