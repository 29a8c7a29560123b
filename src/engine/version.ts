/**
 * What package.json, the single source of both, says of the package: its version, part of every
 * tile's ETag — a new engine may compute different values, so its tiles must not be served from
 * caches filled by an older one — and its licence (an SPDX identifier), which the API's OpenAPI
 * document states.
 */
import { readFileSync } from "node:fs";

const manifest: { version: string; license: string } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));

export const VERSION = manifest.version;

/** The package's licence as package.json gives it: an SPDX identifier ("MIT"). */
export const LICENSE = manifest.license;
