/**
 * Single byte-range requests (RFC 9110 §14) of a file download: the recording's audio and an
 * artifact's file answer `Range: bytes=…` with 206 and Content-Range, 416 for a range outside
 * the file, and honour If-Range against their strong ETag.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { HttpError } from "./plugins/errors.js";

/** First and last byte (inclusive) of a satisfiable range. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Parses a single `bytes=` range against `size`; null for "whole file", throws 416 if unsatisfiable. */
function parseRange(header: string | undefined, size: number): ByteRange | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Multiple ranges and other units are allowed to be ignored (RFC 9110 §14.2): send it all. So is
  // an invalid range, a last byte before the first (§14.1.1) — unlike a valid one beyond the end (416).
  if (!m || (m[1] === "" && m[2] === "") || (m[1] !== "" && m[2] !== "" && Number(m[2]) < Number(m[1]))) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size) throw new HttpError(416, `range ${header} is outside the file's ${size} bytes`);
  return { start, end };
}

/**
 * The range the request asks of a file of `size` bytes whose ETag is `etag`, null for the whole
 * file. If-Range (RFC 9110 §13.1.5): the range only if the client's copy is this one (strong
 * comparison; a date never matches: there is no Last-Modified), else the whole file. A 416 carries
 * the file size in Content-Range, after "bytes *" and a slash (§15.5.17).
 */
export function requestedRange(request: FastifyRequest, reply: FastifyReply, etag: string, size: number): ByteRange | null {
  const ifRange = request.headers["if-range"] as string | undefined;
  if (ifRange !== undefined && ifRange.trim() !== etag) return null;
  try {
    return parseRange(request.headers.range, size);
  } catch (err) {
    reply.header("Content-Range", `bytes */${size}`);
    throw err;
  }
}
