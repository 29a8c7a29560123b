// Rendering (SPEC §3.10): colour indices against numpy's float64 formula, palettes and PNG pixels
// against matplotlib's colours (golden data from scripts/colormaps.py), PNG structure.
import { readFileSync } from "node:fs";
import UPNG from "upng-js";
import { describe, expect, it } from "vitest";
import { COLORMAPS } from "../src/engine/params.js";
import { colorIndices, colormapPalette, colorRows } from "../src/render/colormap.js";
import { renderPng } from "../src/render/image.js";
import { encodeNpy } from "../src/render/npy.js";
import { encodePaletteScanlines, palettePngBound } from "../src/render/png.js";

interface GoldenCase { lo: number; hi: number; values: (number | null)[]; indices: number[]; colors: Record<string, string> }
const golden: { cases: GoldenCase[] } = JSON.parse(readFileSync(new URL("golden/colormap-render.json", import.meta.url), "utf8"));
const valuesOf = (c: GoldenCase) => Float32Array.from(c.values, (v) => (v === null ? NaN : v));
const hexColor = (hex: string, i: number) => [0, 2, 4].map((j) => parseInt(hex.slice(6 * i + j, 6 * i + j + 2), 16));

/** SPEC §3.10 written out in float64, independently of the kernel. */
function referenceIndex(x: number, lo: number, hi: number): number {
  if (Number.isNaN(x)) return 0;
  const v = Math.min(Math.max((x - lo) / (hi - lo), 0), 1);
  return Math.min(Math.floor(v * 256), 255);
}

describe("colorIndices (assembly/colormap.ts colorIndex)", () => {
  for (const c of golden.cases) {
    it(`matches numpy's float64 indices on edge and random values, range [${c.lo}, ${c.hi}]`, () => {
      const x = valuesOf(c);
      expect(Array.from(colorIndices(x, c.lo, c.hi))).toEqual(c.indices);
      expect(c.indices).toEqual(Array.from(x, (v) => referenceIndex(v, c.lo, c.hi)));
    });
  }

  it("gives the same index on the SIMD body and the scalar tail, at every length and offset", () => {
    const c = golden.cases[1];
    const x = valuesOf(c);
    for (let len = 0; len <= 40; len++) {
      for (const start of [0, 1, 7, 500]) {
        const part = x.subarray(start, start + len);
        expect(Array.from(colorIndices(part, c.lo, c.hi))).toEqual(c.indices.slice(start, start + len));
      }
    }
  });

  it("covers the edges: exactly lo/hi, beyond them, infinities, NaN", () => {
    const x = Float32Array.of(-100, 0, -101, 1, -Infinity, Infinity, NaN, -50, -100 + 100 / 256, -100 + 100 / 256 - 1e-5);
    expect(Array.from(colorIndices(x, -100, 0))).toEqual([0, 255, 0, 255, 0, 255, 0, 128, 1, 0]);
    // hi < lo reverses the map
    expect(Array.from(colorIndices(Float32Array.of(0, -100, -50), 0, -100))).toEqual([0, 255, 128]);
  });

  it("rejects a colour range that cannot map values", () => {
    for (const [lo, hi] of [[0, 0], [NaN, 1], [0, Infinity]]) {
      expect(() => colorIndices(Float32Array.of(1), lo, hi)).toThrow(/colour range/);
    }
  });
});

describe("colormap tables", () => {
  it("hold matplotlib's colour at every index the golden values reach, for every colormap", () => {
    for (const name of COLORMAPS) {
      const pal = colormapPalette(name);
      expect(pal.length).toBe(768);
      for (const c of golden.cases) {
        c.indices.forEach((k, i) => expect([pal[3 * k], pal[3 * k + 1], pal[3 * k + 2]]).toEqual(hexColor(c.colors[name], i)));
      }
    }
  });

  it("gray runs from black to white and cool from cyan to magenta", () => {
    expect(Array.from(colormapPalette("gray").subarray(0, 3))).toEqual([0, 0, 0]);
    expect(Array.from(colormapPalette("gray").subarray(765))).toEqual([255, 255, 255]);
    expect(Array.from(colormapPalette("cool").subarray(0, 3))).toEqual([0, 255, 255]);
    expect(Array.from(colormapPalette("cool").subarray(765))).toEqual([255, 0, 255]);
  });
});

/** Decodes with upng-js to RGBA8 pixels. */
function decode(png: Uint8Array) {
  const img = UPNG.decode(png.slice().buffer);
  return { img, rgba: new Uint8Array(UPNG.toRGBA8(img)[0]) };
}

describe("renderPng", () => {
  // 980 golden values as a 28-bin × 35-frame spectrogram ([bins][frames], row 0 = 0 Hz).
  const bins = 28, frames = 35;
  for (const c of golden.cases) {
    it(`decodes to matplotlib's colours with the highest bin on top, range [${c.lo}, ${c.hi}]`, () => {
      const data = valuesOf(c);
      expect(data.length).toBe(bins * frames);
      for (const cmap of COLORMAPS) {
        const { img, rgba } = decode(renderPng({ data, bins, frames, valueRange: [c.lo, c.hi] }, cmap));
        expect([img.width, img.height, img.ctype, img.depth]).toEqual([frames, bins, 3, 8]);
        for (let row = 0; row < bins; row++) {
          const bin = bins - 1 - row;
          for (let t = 0; t < frames; t++) {
            const p = 4 * (row * frames + t);
            expect([rgba[p], rgba[p + 1], rgba[p + 2], rgba[p + 3]]).toEqual([...hexColor(c.colors[cmap], bin * frames + t), 255]);
          }
        }
      }
    });
  }

  it("refuses an empty spectrogram", () => {
    expect(() => renderPng({ data: new Float32Array(0), bins: 513, frames: 0, valueRange: [-100, 0] }, "gray")).toThrow(/empty/);
  });
});

/** CRC-32 (ISO 3309, PNG §5.5) bit by bit: an independent check of the encoder's chunk CRCs. */
function crc32Reference(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** PNG scanlines of `indices` (rows of `width`, top row first): a filter byte 0 before each row. */
function scanlinesOf(indices: Uint8Array, width: number): Uint8Array {
  const height = indices.length / width;
  const out = new Uint8Array((width + 1) * height);
  for (let r = 0; r < height; r++) out.set(indices.subarray(r * width, (r + 1) * width), r * (width + 1) + 1);
  return out;
}

describe("colorRows", () => {
  it("lays rows of indices out at a stride, after zeroed offset bytes, bottom-up or in order; the same indices as colorIndices", () => {
    const c = golden.cases[0];
    const data = valuesOf(c).subarray(0, 4 * 7); // 4 rows of 7
    const indices = colorIndices(data, c.lo, c.hi);
    for (const bottomUp of [false, true]) {
      const bytes = colorRows(data, 7, c.lo, c.hi, { stride: 10, offset: 2, bottomUp }, (view) => view.slice());
      expect(bytes.length).toBe(40);
      for (let r = 0; r < 4; r++) {
        const at = (bottomUp ? 3 - r : r) * 10;
        expect(Array.from(bytes.subarray(at, at + 10))).toEqual([0, 0, ...indices.subarray(7 * r, 7 * r + 7), 0]);
      }
    }
  });

  it("refuses values that are not whole rows and layouts too narrow for them", () => {
    expect(() => colorRows(new Float32Array(10), 3, -100, 0, { stride: 3, offset: 0, bottomUp: false }, () => 0)).toThrow(/not rows of 3/);
    expect(() => colorRows(new Float32Array(9), 3, -100, 0, { stride: 3, offset: 1, bottomUp: false }, () => 0)).toThrow(/stride 3 must hold offset 1 \+ width 3/);
    expect(() => colorRows(new Float32Array(9), 3, 0, 0, { stride: 3, offset: 0, bottomUp: false }, () => 0)).toThrow(/colour range/);
  });
});

describe("encodePaletteScanlines", () => {
  const palette = Uint8Array.of(10, 20, 30, 200, 100, 0, 1, 2, 3);
  const indices = Uint8Array.of(0, 1, 2, 2, 1, 0); // 3×2, top row first

  it("writes IHDR/PLTE/IDAT/IEND with valid CRCs and the rows in order", () => {
    const png = encodePaletteScanlines(scanlinesOf(indices, 3), 3, 2, palette);
    const view = new DataView(png.buffer, png.byteOffset);
    const types: string[] = [];
    for (let at = 8; at < png.length; ) {
      const len = view.getUint32(at);
      types.push(String.fromCharCode(...png.subarray(at + 4, at + 8)));
      expect(view.getUint32(at + 8 + len)).toBe(crc32Reference(png.subarray(at + 4, at + 8 + len)));
      at += 12 + len;
    }
    expect(types).toEqual(["IHDR", "PLTE", "IDAT", "IEND"]);
    const { rgba } = decode(png);
    const expected = Array.from(indices, (k) => [...palette.subarray(3 * k, 3 * k + 3), 255]).flat();
    expect(Array.from(rgba)).toEqual(expected);
  });

  it("a 1024×512 image of runs and noise decodes to exactly its pixels; runs compress", () => {
    const width = 1024, height = 512;
    const big = new Uint8Array(width * height);
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    // The left half noise over all three palette entries, the right half runs of random length.
    for (let r = 0; r < height; r++) {
      for (let c = 0; c < width / 2; c++) big[r * width + c] = Math.floor(random() * 3);
      for (let c = width / 2; c < width; ) {
        const run = 1 + Math.floor(random() * 300), k = Math.floor(random() * 3);
        big.fill(k, r * width + c, r * width + Math.min(width, c + run));
        c += run;
      }
    }
    const { img, rgba } = decode(encodePaletteScanlines(scanlinesOf(big, width), width, height, palette));
    expect([img.width, img.height]).toEqual([width, height]);
    for (let i = 0; i < big.length; i++) {
      if (rgba[4 * i] !== palette[3 * big[i]] || rgba[4 * i + 1] !== palette[3 * big[i] + 1] || rgba[4 * i + 2] !== palette[3 * big[i] + 2]) {
        throw new Error(`pixel ${i} (row ${Math.floor(i / width)}, column ${i % width}) is not palette entry ${big[i]}`);
      }
    }
    // One colour everywhere: the runs must be coded as runs, not stored (raw: 513 KB).
    expect(encodePaletteScanlines(scanlinesOf(new Uint8Array(width * height).fill(2), width), width, height, palette).length).toBeLessThan(8 * 1024);
  });

  it("palettePngBound: no image is larger — noise over all 256 colours, which deflate cannot shrink, comes within bytes of it", () => {
    const full = Uint8Array.from({ length: 768 }, (_, i) => i % 251);
    let seed = 777;
    for (const [width, height] of [[1, 1], [3, 2], [1024, 513], [2048, 1025]]) {
      const noise = Uint8Array.from({ length: width * height }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
      const size = encodePaletteScanlines(scanlinesOf(noise, width), width, height, full).length;
      expect(size, `${width}×${height}`).toBeLessThanOrEqual(palettePngBound(width, height));
      expect(palettePngBound(width, height) - size, `${width}×${height}`).toBeLessThan(64);
    }
  });

  it("rejects bad geometry and palettes with a message naming the problem", () => {
    const scanlines = scanlinesOf(indices, 3);
    expect(() => encodePaletteScanlines(new Uint8Array(0), 0, 2, palette)).toThrow(/width/);
    expect(() => encodePaletteScanlines(scanlines, 3, 1.5, palette)).toThrow(/height/);
    expect(() => encodePaletteScanlines(scanlines, 2, 2, palette)).toThrow(/needs 6 bytes of scanlines \(a filter byte and 2 indices per row\), got 8/);
    expect(() => encodePaletteScanlines(scanlines, 3, 2, new Uint8Array(4))).toThrow(/palette/);
    expect(() => encodePaletteScanlines(scanlines, 3, 2, new Uint8Array(771))).toThrow(/palette/);
  });

  it("writes text as iTXt chunks (UTF-8) before the pixels, which decode as without it; refuses a keyword PNG does not allow", () => {
    const text = [{ keyword: "Software", text: "sonotile" }, { keyword: "sonotile", text: '{"path":"Nachtigall-Lärm.wav"}' }];
    const png = encodePaletteScanlines(scanlinesOf(indices, 3), 3, 2, palette, text);
    const view = new DataView(png.buffer, png.byteOffset);
    const chunks: [string, Uint8Array][] = [];
    for (let at = 8; at < png.length; at += 12 + view.getUint32(at)) {
      const len = view.getUint32(at);
      expect(view.getUint32(at + 8 + len)).toBe(crc32Reference(png.subarray(at + 4, at + 8 + len)));
      chunks.push([String.fromCharCode(...png.subarray(at + 4, at + 8)), png.subarray(at + 8, at + 8 + len)]);
    }
    expect(chunks.map(([type]) => type)).toEqual(["IHDR", "PLTE", "iTXt", "iTXt", "IDAT", "IEND"]);
    // keyword NUL, compression flag 0, method 0, empty language tag NUL, empty translated keyword NUL, UTF-8 text
    expect(Buffer.from(chunks[3][1]).equals(Buffer.concat([Buffer.from("sonotile\0\0\0\0\0", "latin1"), Buffer.from(text[1].text, "utf8")]))).toBe(true);
    expect(decode(png).rgba).toEqual(decode(encodePaletteScanlines(scanlinesOf(indices, 3), 3, 2, palette)).rgba);
    for (const keyword of ["", " lead", "trail ", "two  spaces", "tab\t", "x".repeat(80), "Ünïcödé…"]) {
      expect(() => encodePaletteScanlines(scanlinesOf(indices, 3), 3, 2, palette, [{ keyword, text: "" }]), keyword).toThrow(/PNG text keyword must be 1 to 79 printable Latin-1 characters/);
    }
  });
});

describe("encodeNpy (numpy's .npy format 1.0)", () => {
  /** Magic and version, the header's dict as written (padding stripped), where the data starts, the data. */
  const parts = (b: Uint8Array) => {
    const length = new DataView(b.buffer, b.byteOffset).getUint16(8, true);
    const header = new TextDecoder().decode(b.subarray(10, 10 + length));
    return { magic: [...b.subarray(0, 8)], dict: header.trimEnd(), newline: header.endsWith("\n"), dataStart: 10 + length, data: [...b.subarray(10 + length)] };
  };

  // Files numpy.save wrote (scripts/golden_npy.py): numpy pads its header further (room to grow
  // the first axis in place), so the bytes differ there; the dict, the alignment and the data may not.
  it.each([["vector", [3]], ["matrix", [2, 3]], ["single", [1, 1]], ["row", [1, 5]], ["column", [513, 1]]])("%s %j as numpy.save writes it", (name, shape) => {
    const numpy = parts(new Uint8Array(readFileSync(new URL(`./golden/npy/${name}.npy`, import.meta.url))));
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const ours = parts(encodeNpy(Float32Array.from({ length: count }, (_, i) => i * 0.25 - 1), shape as number[]));
    expect({ ...ours, dataStart: ours.dataStart % 64 }).toEqual({ ...numpy, dataStart: numpy.dataStart % 64 });
    expect(ours.dataStart % 64).toBe(0);
  });
});
