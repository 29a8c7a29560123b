/**
 * The package version, part of every tile's ETag: a new engine may compute different values,
 * so its tiles must not be served from caches filled by an older one.
 */
import { readFileSync } from "node:fs";

export const VERSION: string = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
