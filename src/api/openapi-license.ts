/**
 * The OpenAPI document's licence (OpenAPI 3.0.3 License Object: `name`, optional `url`), from the
 * package's npm `license` field.
 */

/** One SPDX licence identifier ("MIT", "Apache-2.0", "GPL-3.0-or-later"), not an expression. */
const SPDX_IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9.+-]*$/;

/**
 * The License Object for an npm `license` field: its name, and a link to its page on spdx.org when
 * it is one SPDX identifier. An expression ("MIT OR Apache-2.0"), "UNLICENSED" or "SEE LICENSE IN
 * LICENSE.txt" has no such page (a link built from it would be dead), so it is named only.
 */
export function openApiLicense(license: string): { name: string; url?: string } {
  const single = SPDX_IDENTIFIER.test(license) && license !== "UNLICENSED";
  return single ? { name: license, url: `https://spdx.org/licenses/${license}.html` } : { name: license };
}
