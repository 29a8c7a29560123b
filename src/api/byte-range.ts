/**
 * Byte-range requests (RFC 9110 §14) of a file download: the recording's audio and an artifact's
 * file answer `Range: bytes=…` with 206 — one range with Content-Range, several as a
 * multipart/byteranges body (§14.6), each part with its Content-Type and Content-Range —, 416
 * for ranges outside the file or too many of them, and honour If-Range against their strong ETag.
 */
import { randomBytes } from "node:crypto";
import { finished, Readable } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import { HttpError } from "./plugins/errors.js";

/** First and last byte (inclusive) of a satisfiable range. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The most ranges a request is answered, counted once overlapping and adjacent ones are merged;
 * more is a 416 (RFC 9110 §15.5.17 allows one for "an excessive number of small or overlapping
 * ranges"). A 200 with the whole file — ignoring the header, which §14.2 allows too — would send
 * gigabytes (3.4 GB for a 10 h FLAC) to a client that asked for a few kilobytes, the cost this
 * limit is there to avoid; a 416 that names the limit tells it to ask in several requests. Each
 * part costs a read of its own (a seek, for an artifact a query per 1 MiB chunk it touches), and
 * players and annotation tools ask for one range, or a few (a header and a stretch of samples).
 */
export const MAX_RANGES = 32;

/** A range-spec as written: first-last, first- or -suffix (RFC 9110 §14.1.1). */
const RANGE_SPEC = /^(\d*)-(\d*)$/;

/**
 * The ranges a `Range` header asks of a file of `size` bytes, satisfiable ones only, in the order
 * asked; null when the header is absent or to be ignored (another unit, or a range-spec that is
 * invalid — a last byte before the first, §14.1.1 —: §14.2 lets a server send the whole file).
 * An empty list when none is satisfiable: none starts inside the file, no suffix is longer than 0.
 */
function parseRanges(header: string | undefined, size: number): ByteRange[] | null {
  if (!header) return null;
  const unit = header.indexOf("=");
  if (unit < 0 || header.slice(0, unit).trim().toLowerCase() !== "bytes") return null;
  const ranges: ByteRange[] = [];
  // A list (§5.6.1): elements separated by commas with optional whitespace; empty ones are skipped.
  for (const spec of header.slice(unit + 1).split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const m = RANGE_SPEC.exec(spec);
    if (!m || (m[1] === "" && m[2] === "") || (m[1] !== "" && m[2] !== "" && Number(m[2]) < Number(m[1]))) return null;
    const range = m[1] === ""
      ? { start: Math.max(0, size - Number(m[2])), end: size - 1 }
      : { start: Number(m[1]), end: m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1) };
    if (range.start < size && range.start <= range.end) ranges.push(range);
  }
  return ranges;
}

/**
 * `ranges` with those that overlap or touch merged (RFC 9110 §15.3.7.2 allows it), so no byte is
 * sent twice and a request of many overlapping ranges costs no more than of their union. The
 * merged ranges keep the order the request asked them in (§15.3.7.2: the parts "in the same
 * order"), each at the place of the first range it took in.
 */
function coalesce(ranges: readonly ByteRange[]): ByteRange[] {
  const byStart = ranges.map((range, asked) => ({ ...range, asked })).sort((a, b) => a.start - b.start);
  const merged: typeof byStart = [];
  for (const range of byStart) {
    const last = merged.at(-1);
    if (last && range.start <= last.end + 1) {
      last.end = Math.max(last.end, range.end);
      last.asked = Math.min(last.asked, range.asked);
    } else merged.push({ ...range });
  }
  return merged.sort((a, b) => a.asked - b.asked).map(({ start, end }) => ({ start, end }));
}

/**
 * The ranges the request asks of a file of `size` bytes whose ETag is `etag`, merged (coalesce),
 * in the order asked; null for the whole file. If-Range (RFC 9110 §13.1.5): the ranges only if the
 * client's copy is this one (strong comparison; a date never matches: there is no Last-Modified),
 * else the whole file. A 416 — no range satisfiable, or more than MAX_RANGES — carries the file
 * size in Content-Range, after "bytes *" and a slash (§15.5.17).
 */
export function requestedRanges(request: FastifyRequest, reply: FastifyReply, etag: string, size: number): ByteRange[] | null {
  const ifRange = request.headers["if-range"] as string | undefined;
  if (ifRange !== undefined && ifRange.trim() !== etag) return null;
  const header = request.headers.range;
  const asked = parseRanges(header, size);
  if (!asked) return null;
  const ranges = coalesce(asked);
  if (ranges.length === 0 || ranges.length > MAX_RANGES) {
    reply.header("Content-Range", `bytes */${size}`);
    throw new HttpError(416, ranges.length === 0
      ? `range ${header} is outside the file's ${size} bytes`
      : `range asks for ${ranges.length} separate ranges (overlapping and adjacent ones merged); at most ${MAX_RANGES} are answered in one request: ask for them in several`);
  }
  return ranges;
}

/**
 * Sends a file download of `size` bytes and media type `type` as `ranges` (requestedRanges) asks:
 * null the whole file (200), one range as a 206 with Content-Range, several as a 206
 * multipart/byteranges body (RFC 9110 §14.6) whose parts each carry `type` and their
 * Content-Range. Content-Length is stated in every case (a HEAD gets the GET's). The body streams:
 * `read(start, end)` gives bytes start..end (inclusive) of the file, called for one part once the
 * previous one is sent; `release` runs once when the body ends, fails or is cut short.
 */
export function sendRanges(reply: FastifyReply, ranges: readonly ByteRange[] | null, size: number, type: string,
  read: (start: number, end: number) => AsyncIterable<Uint8Array>, release: () => void = () => {}) {
  let body: Readable;
  if (!ranges || ranges.length === 1) {
    const { start, end } = ranges?.[0] ?? { start: 0, end: size - 1 };
    if (ranges) reply.code(206).header("Content-Range", `bytes ${start}-${end}/${size}`);
    reply.type(type).header("Content-Length", end - start + 1);
    body = Readable.from(read(start, end), { objectMode: false });
  } else {
    const boundary = randomBytes(16).toString("hex");
    // Each part is its delimiter and headers, then its bytes; a CRLF before every delimiter but the
    // first belongs to the delimiter (RFC 2046 §5.1.1), as does the closing one's.
    const heads = ranges.map(({ start, end }, i) =>
      `${i === 0 ? "" : "\r\n"}--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${start}-${end}/${size}\r\n\r\n`);
    const close = `\r\n--${boundary}--\r\n`;
    const length = heads.reduce((sum, head, i) => sum + Buffer.byteLength(head) + ranges[i].end - ranges[i].start + 1, Buffer.byteLength(close));
    reply.code(206).type(`multipart/byteranges; boundary=${boundary}`).header("Content-Length", length);
    body = Readable.from((async function* () {
      for (const [i, { start, end }] of ranges.entries()) {
        yield Buffer.from(heads[i]);
        yield* read(start, end);
      }
      yield Buffer.from(close);
    })(), { objectMode: false });
  }
  finished(body, () => release());
  return reply.send(body);
}
