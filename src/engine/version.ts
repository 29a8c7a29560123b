/**
 * What package.json, the single source of both, says of the package: its version, part of every
 * tile's ETag — a new engine may compute different values, so its tiles must not be served from
 * caches filled by an older one — and its licence (an SPDX identifier), which the API's OpenAPI
 * document states.
 */
import { readFileSync } from "node:fs";

const manifest: { version?: unknown; license?: unknown } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));

/** A field package.json must give as a non-empty string: a package without one is refused at start. */
function manifestField(name: "version" | "license"): string {
  const value = manifest[name];
  if (typeof value !== "string" || value === "") throw new Error(`package.json: "${name}" must be a non-empty string (got ${JSON.stringify(value)})`);
  return value;
}

export const VERSION = manifestField("version");

/** The package's licence as package.json gives it: an SPDX identifier ("MIT") or expression. */
export const LICENSE = manifestField("license");
