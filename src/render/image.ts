/**
 * Spectrogram images (SPEC §3.10): colour index per value in WASM, the colormap as the PNG
 * palette, the highest frequency at the top.
 */
import type { ColormapName } from "../engine/params.js";
import type { Spectrogram } from "../engine/spectrogram.js";
import { colorRows, colormapPalette } from "./colormap.js";
import { encodePaletteScanlines, type PngText } from "./png.js";

/** What an image needs of a spectrogram (a whole one, a piece or a tile). */
export type SpectrogramImage = Pick<Spectrogram, "data" | "bins" | "frames" | "valueRange">;

/**
 * PNG of `s`: width = frames, height = bins, top row = the highest bin, colours from `cmap`
 * with `s.valueRange` mapped to the first and last colour; `text`, what made it, in its text chunks.
 */
export function renderPng(s: SpectrogramImage, cmap: ColormapName, text: readonly PngText[] = []): Uint8Array {
  if (s.frames < 1 || s.bins < 1) throw new RangeError(`cannot draw an image of ${s.bins} bins × ${s.frames} frames: it is empty`);
  const [lo, hi] = s.valueRange;
  // The scanlines are made and deflated where the core indexed them (colorRows).
  const layout = { stride: s.frames + 1, offset: 1, bottomUp: true };
  return colorRows(s.data, s.frames, lo, hi, layout, (scanlines) => encodePaletteScanlines(scanlines, s.frames, s.bins, colormapPalette(cmap), text));
}
