/**
 * Reading HTTP answers in the API tests: the parts of a multipart/byteranges body (RFC 9110
 * §14.6), split as RFC 2046 §5.1.1 defines multipart bodies, not by the lengths the server claims.
 */

/** One body part: its headers (names lower-cased) and its bytes. */
export interface BodyPart {
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * The parts of a multipart body whose Content-Type (with its `boundary` parameter) is
 * `contentType`. A delimiter is CRLF, "--" and the boundary; the CRLF before the first one may be
 * left out; the last is followed by "--". Throws when the body does not end with that last delimiter.
 */
export function multipartParts(contentType: string, body: Buffer): BodyPart[] {
  const boundary = /;\s*boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const text = Buffer.concat([Buffer.from("\r\n"), body]);
  const parts: BodyPart[] = [];
  let at = text.indexOf(delimiter);
  if (at < 0) throw new Error("no delimiter in the body");
  for (;;) {
    const after = at + delimiter.length;
    if (text.subarray(after, after + 2).toString() === "--") {
      if (text.subarray(after + 2).toString() !== "\r\n") throw new Error("bytes after the closing delimiter");
      return parts;
    }
    const next = text.indexOf(delimiter, after);
    if (next < 0) throw new Error("no closing delimiter");
    const part = text.subarray(after + 2, next); // after the delimiter's CRLF
    const blank = part.indexOf("\r\n\r\n");
    const headers = Object.fromEntries(part.subarray(0, blank).toString("latin1").split("\r\n").map((line) => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    }));
    parts.push({ headers, body: part.subarray(blank + 4) });
    at = next;
  }
}
