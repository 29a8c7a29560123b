/**
 * What a connection may hold of the server before it has sent its request, and how many it may
 * hold at once (SPEC §10 limits). Node's own bounds were left as Fastify sets them: 3,000
 * connections trickling a header line every few seconds (Slowloris) each stayed open about 120 s
 * — Node's headers timeout, which its server only checks every 30 s — and nothing capped how many
 * there were, each holding a socket, a parser and a file descriptor that audio files, worker
 * threads and the database also need.
 */
import { maxHeaderSize, METHODS, STATUS_CODES, type ServerOptions } from "node:http";
import type { Socket } from "node:net";
import { checkNumberOptions, checkOptions, MAX_TIMER_MS, type NumberRule } from "../audio/signal.js";
import { errorBody } from "./plugins/errors.js";

export interface ConnectionLimits {
  /** Longest a client may take to send a request's headers (Node's headersTimeout); then 408 and closed. */
  headersTimeoutMs: number;
  /** Longest a client may take to send a whole request, headers and body (Node's requestTimeout); then 408 and closed. Not the answer's time: that is the deadline's. */
  requestTimeoutMs: number;
  /** Longest a connection stays open idle between requests (keep-alive). */
  keepAliveTimeoutMs: number;
  /** Connections open at once; further ones are closed as they arrive, until some close. */
  maxConnections: number;
}

/**
 * 20 s for headers (Apache's mod_reqtimeout starts at 20 s; a request's headers are one packet);
 * 60 s for a whole request, enough for the largest body (a clip table's 8 MiB) at 140 kB/s; 5 s
 * idle between requests, Node's default — Fastify's 72 s suits a load balancer that keeps
 * connections for 60 s, and such a setup raises it above its balancer's; 1,024 connections, 170
 * browsers' six each, well below the process's file descriptors.
 */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { headersTimeoutMs: 20_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 5_000, maxConnections: 1024 };

/**
 * The limits of `options` (buildApp's connectionLimits) over the defaults, refused naming the limit
 * when the app is built: Node takes its timeouts in whole ms (1.5 ms was its ERR_OUT_OF_RANGE, not
 * naming the option), and a NaN cap on connections let none in. A request's time includes its
 * headers', so it is never shorter: left out, it is at least the headers' (as `serve` sets it);
 * given shorter, it is refused (Node refused the server).
 * @throws TypeError for a value that is no number or an unknown key; RangeError for a number out of range
 */
export function connectionLimitsOf(options: Partial<ConnectionLimits> = {}): ConnectionLimits {
  checkOptions(options, Object.keys(DEFAULT_CONNECTION_LIMITS), undefined, "connectionLimits");
  const timeout: NumberRule = [(v) => Number.isInteger(v) && v >= 1 && v <= MAX_TIMER_MS, `an integer number of ms from 1 to ${MAX_TIMER_MS}`];
  checkNumberOptions(options, {
    headersTimeoutMs: timeout,
    requestTimeoutMs: timeout,
    keepAliveTimeoutMs: timeout,
    maxConnections: [(v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1"],
  } satisfies Record<keyof ConnectionLimits, NumberRule>, "connectionLimits.");
  const headersTimeoutMs = options.headersTimeoutMs ?? DEFAULT_CONNECTION_LIMITS.headersTimeoutMs;
  const requestTimeoutMs = options.requestTimeoutMs ?? Math.max(DEFAULT_CONNECTION_LIMITS.requestTimeoutMs, headersTimeoutMs);
  if (requestTimeoutMs < headersTimeoutMs) throw new RangeError(`connectionLimits.requestTimeoutMs: must be at least headersTimeoutMs (${headersTimeoutMs}): a request's time includes its headers', got ${requestTimeoutMs}`);
  const { keepAliveTimeoutMs = DEFAULT_CONNECTION_LIMITS.keepAliveTimeoutMs, maxConnections = DEFAULT_CONNECTION_LIMITS.maxConnections } = options;
  return { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, maxConnections };
}

/** What Node's parser gives the server's 'clientError' listener. */
interface ClientError {
  code?: string;
  /** The bytes the parser was reading when it stopped (one read from the socket), for a parse error: a Buffer (Fastify's types say the JSON of one). */
  rawPacket?: unknown;
  /** How many of `rawPacket` it had read. */
  bytesParsed?: number;
}

/** A request line's start, up to where its URL is being read: a method (all upper-case in HTTP's registry) and a space, then no space or line end. */
const REQUEST_LINE_START = /^([A-Z][A-Z-]*) ([^\s]*)$/;

/**
 * The length of a URL that took a request over Node's header limit on its own — Node counts the
 * URL and the headers together, stopping at the byte that reaches `maxHeaderSize` — read from
 * what the parser was reading when it stopped. Only where that read surely begins a request: it
 * is the connection's first (`socket.bytesRead` counts no other), or a pipelined request's blank
 * line ends in it. There, when it holds a request line of a known method whose URL has not ended
 * before the stop, the URL alone is over the limit: its length, `whole` when the stop is at its end
 * (the space before the HTTP version), else the bytes read of it. Null otherwise: the stop came
 * after the request line (a header), or the read may begin inside a line — a header value sent in
 * a read of its own reads like a request line (`X-Long: ` then `AB bbb…` was told its URL was too
 * long), and a URL or header arriving in pieces, of which Node keeps no more, may either have gone over.
 */
function overflowingUrl(err: ClientError, socket: Socket): { length: number; whole: boolean } | null {
  if (!Buffer.isBuffer(err.rawPacket) || err.bytesParsed === undefined) return null;
  const read = err.rawPacket.subarray(0, err.bytesParsed).toString("latin1");
  const blank = read.lastIndexOf("\r\n\r\n");
  if (blank < 0 && socket.bytesRead !== err.rawPacket.length) return null;
  const [, method, url] = REQUEST_LINE_START.exec(blank < 0 ? read : read.slice(blank + 4)) ?? [];
  return url === undefined || !METHODS.includes(method) ? null : { length: url.length, whole: err.rawPacket[err.bytesParsed] === 0x20 };
}

/**
 * Answers a request Node refused before Fastify saw it — too slow (408), a URL over Node's limit
 * (414) or a URL and headers over it together (431), not HTTP (400) — with the API's error body,
 * saying what to do; then closes the connection, as Fastify's own handler, whose bodies said
 * "Exceeded maximum allowed HTTP header size" or "Client Error" in another shape.
 */
function clientErrorAnswer(limits: ConnectionLimits): (err: ClientError, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === "ECONNRESET" || socket.destroyed) return; // the client has left: nobody to answer
    const url = err.code === "HPE_HEADER_OVERFLOW" ? overflowingUrl(err, socket) : null;
    const [statusCode, message] =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? [408, `the request was not sent in time: its headers within ${limits.headersTimeoutMs / 1000} s, all of it within ${limits.requestTimeoutMs / 1000} s`]
      : url ? [414, `the request's URL is ${url.whole ? "" : "at least "}${url.length} bytes; the server's limit is ${maxHeaderSize} bytes for a request's URL and headers together: send a shorter one`]
      : err.code === "HPE_HEADER_OVERFLOW" ? [431, `the request's URL and headers are larger than the server's limit of ${maxHeaderSize} bytes for them together: send a shorter URL, or fewer or shorter headers`]
      : [400, "the request is not well-formed HTTP/1.1"];
    const body = JSON.stringify(errorBody(statusCode, message));
    if (socket.writable) socket.write(`HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
    socket.destroy();
  };
}

/** Fastify's server options for `limits` (maxConnections is set on the server itself, by buildApp). */
export function connectionOptions(limits: ConnectionLimits): { requestTimeout: number; keepAliveTimeout: number; http: ServerOptions; clientErrorHandler: ReturnType<typeof clientErrorAnswer> } {
  return {
    clientErrorHandler: clientErrorAnswer(limits),
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks the headers and request timeouts of open connections every
    // connectionsCheckingInterval (30 s by default): a 20 s bound held connections up to 50 s.
    http: { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs) },
  };
}
