/**
 * PNG encoding of 8-bit palette images (colour type 3), the form spectrogram images take: one
 * byte per pixel, the colormap in PLTE, optionally text (iTXt) saying what made the image.
 * Reference: PNG specification (W3C, 2nd ed.), §5 (chunks), §11.2 (IHDR, PLTE), §11.3.4 (iTXt),
 * §7 (scanlines with a filter-type byte), IDAT = zlib stream (RFC 1950).
 *
 * node:zlib does the deflate and the CRC-32 (§5.5), with the Z_RLE strategy: matches only at
 * distance 1 (runs), then Huffman coding. A spectrogram's rows hardly ever repeat at a distance,
 * and a PCEN or dB image of a field recording is close to noise, so LZ77's match search costs
 * time and finds little. Measured (bench/PERFORMANCE.md) on the Whombat-default spectrograms of
 * the bat recordings in ../shared/fixtures (0.4–1.7 MB of pixels each): the default strategy
 * at levels 1–9 took 8–49 ms and gave 286–1218 KB; Z_RLE 2.6–12 ms and the same size or up to
 * 0.7 % smaller. On a power-scale image with long near-constant stretches it is 13 % larger
 * (35 vs 31 KB) and 6× faster. upng-js `UPNG.encode([rgba], 1024, 512, 0)` took 52 ms for a
 * 1024×512 image that this encoder wrote in 3–5 ms even with the default strategy.
 */
import { constants, crc32, deflateSync } from "node:zlib";

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
/** PNG caps width and height at 2^31 − 1 (§11.2.2). */
const MAX_DIMENSION = 0x7fffffff;

/**
 * A textual entry of an image (§11.3.4): `keyword` 1–79 printable Latin-1 characters without
 * leading, trailing or consecutive spaces (§11.3.4.2; "Software" is a registered one), `text` any
 * Unicode. Pillow reads them into `Image.open(…).text`, `exiftool` lists them.
 */
export interface PngText {
  keyword: string;
  text: string;
}

/**
 * Encodes a `width`×`height` image of palette indices as an 8-bit palette PNG with `palette` (RGB
 * triplets, 1..256 entries), from its `scanlines`: per row, top row first, a filter-type byte
 * (0, None: palette images compress best unfiltered, §12.8) then the row's `width` indices (§7.3).
 * `text` goes into uncompressed iTXt chunks before the pixels (palettePngBound counts none).
 */
export function encodePaletteScanlines(scanlines: Uint8Array, width: number, height: number, palette: Uint8Array, text: readonly PngText[] = []): Uint8Array {
  for (const [name, v] of [["width", width], ["height", height]] as const) {
    if (!(Number.isInteger(v) && v >= 1 && v <= MAX_DIMENSION)) throw new RangeError(`PNG ${name} must be an integer from 1 to ${MAX_DIMENSION}, got ${v}`);
  }
  if (scanlines.length !== (width + 1) * height) throw new RangeError(`${width}×${height} image needs ${(width + 1) * height} bytes of scanlines (a filter byte and ${width} indices per row), got ${scanlines.length}`);
  if (palette.length === 0 || palette.length > 768 || palette.length % 3 !== 0) throw new RangeError(`palette must hold 1..256 RGB entries, got ${palette.length} bytes`);

  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, 3, 0, 0, 0], 8); // bit depth 8, colour type 3 (palette), deflate, adaptive filtering, no interlace

  return concat([
    SIGNATURE,
    chunk("IHDR", ihdr),
    chunk("PLTE", palette),
    ...text.map((entry) => chunk("iTXt", internationalText(entry))),
    chunk("IDAT", deflateSync(scanlines, { strategy: constants.Z_RLE })),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/**
 * An iTXt chunk's data (§11.3.4.5): keyword, NUL, compression flag 0 and method 0 (uncompressed),
 * an empty language tag and translated keyword (each ended by NUL), the text in UTF-8.
 * @throws RangeError for a keyword §11.3.4.2 does not allow.
 */
function internationalText({ keyword, text }: PngText): Uint8Array {
  if (!/^[\x21-\x7e\xa1-\xff]+(?: [\x21-\x7e\xa1-\xff]+)*$/.test(keyword) || keyword.length > 79) {
    throw new RangeError(`PNG text keyword must be 1 to 79 printable Latin-1 characters without leading, trailing or double spaces, got '${keyword}'`);
  }
  const head = Uint8Array.from(keyword, (c) => c.charCodeAt(0));
  return concat([head, Uint8Array.of(0, 0, 0, 0, 0), new TextEncoder().encode(text)]);
}

/** length (big-endian) · type · data · CRC-32 of type and data (§5.3). */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The most bytes `encodePaletteScanlines` can write for a `width`×`height` image, whatever its
 * pixels: signature, IHDR, a full 256-colour PLTE, IEND, and IDAT holding at most zlib's
 * deflateBound of the scanlines — for the default window and memory level, which deflateSync
 * uses (zlib deflate.c, deflateBound: `n + (n >> 12) + (n >> 14) + (n >> 25) + 13 − 6` and the
 * 6-byte zlib wrapper; deflate stores a block whose coding would be larger, so noise costs that).
 * Lets a server know an image's size before drawing it.
 */
export function palettePngBound(width: number, height: number): number {
  const n = (width + 1) * height;
  const idat = n + Math.floor(n / 4096) + Math.floor(n / 16384) + Math.floor(n / 33554432) + 13;
  return SIGNATURE.length + (12 + 13) + (12 + 768) + (12 + idat) + 12;
}
