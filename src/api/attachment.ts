/** Content-Disposition of a file download (RFC 6266). */

/**
 * `attachment` with the file's name in UTF-8 (`filename*`, RFC 8187) and, for clients that read only
 * `filename`, the name with every character outside printable ASCII as `_` — and `"`, `\`, and `%`,
 * which some clients would percent-decode (RFC 6266 appendix D).
 */
export function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  // encodeURIComponent leaves ' ( ) * as they are; RFC 8187's attr-char does not allow them.
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
