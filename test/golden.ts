/** Loading the golden data that scripts/*.py generate with scipy (the suite itself needs no Python). */
import { readFileSync } from "node:fs";

/** The repository root; fixtures live beside it in ../shared/fixtures. */
export const ROOT = new URL("../", import.meta.url).pathname;
export const FIXTURES = new URL("../../shared/fixtures/", import.meta.url).pathname;

/** A little-endian float32 file as a Float32Array. */
export function readF32(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}
