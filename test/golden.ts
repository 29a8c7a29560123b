/** Loading the golden data that scripts/*.py generate with scipy (the suite itself needs no Python). */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The repository root; fixtures live beside it in ../shared/fixtures. */
export const ROOT = new URL("../", import.meta.url).pathname;
export const FIXTURES = new URL("../../shared/fixtures/", import.meta.url).pathname;

/** Little-endian float32 bytes (a file, a response body) as a Float32Array of their own. */
export function bytesToF32(bytes: Uint8Array): Float32Array {
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** A little-endian float32 file as a Float32Array. */
export function readF32(path: string): Float32Array {
  return bytesToF32(readFileSync(path));
}

/** The code of the README's Library API section, which scripts are to build on (SPEC §8b), as written. */
export function readmeLibrarySnippet(): string {
  const snippet = /## Library API\n+```ts\n([\s\S]*?)\n```/.exec(readFileSync(join(ROOT, "README.md"), "utf8"))?.[1];
  if (!snippet?.includes('from "sonotile"')) throw new Error("README.md: no Library API snippet importing from \"sonotile\"");
  return snippet;
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** The largest |x|: the scale golden comparisons are relative to. */
export function peakAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

/** Index of the first value whose bits differ (-1: identical, same length); toEqual is slow on large arrays. */
export function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** The largest |a[i] − b[i]|; a and b must have one length (throws otherwise). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths ${a.length} and ${b.length} differ`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** A PNG's iTXt entries (PNG §11.3.4.5), keyword → text, uncompressed ones only (as sonotile writes them). */
export function pngText(png: Uint8Array): Record<string, string> {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const entries: Record<string, string> = {};
  for (let at = 8; at < png.length; at += 12 + view.getUint32(at)) {
    if (new TextDecoder().decode(png.subarray(at + 4, at + 8)) !== "iTXt") continue;
    const data = png.subarray(at + 8, at + 8 + view.getUint32(at));
    const nul = data.indexOf(0);
    let text = nul + 3; // the keyword's NUL, compression flag and method
    text = data.indexOf(0, text) + 1; // language tag
    text = data.indexOf(0, text) + 1; // translated keyword
    entries[new TextDecoder("latin1").decode(data.subarray(0, nul))] = new TextDecoder().decode(data.subarray(text));
  }
  return entries;
}
