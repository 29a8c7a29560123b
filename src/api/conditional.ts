/** Conditional requests (RFC 9110 §13): what answers 304 Not Modified. */

/** True when the request's If-None-Match names `etag` (RFC 9110 §13.1.2, weak comparison). */
export function notModified(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((t) => t.trim() === "*" || t.trim().replace(/^W\//, "") === etag);
}
