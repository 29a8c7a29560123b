/**
 * Spectrogram routes (SPEC §4, §5): tiles of the pyramid, a streamed range of tiles, and a
 * Whombat-style one-shot image of [start_time, end_time). Every SPEC §2 parameter is a query
 * parameter validated by the shared schema. A tile or image is identified by the recording's
 * content and the parameters (strong ETags); it is cached for good only under a URL that names
 * the recording's current `revision`, the one URL whose answer can never change.
 */
import { once } from "node:events";
import { PassThrough } from "node:stream";
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { FastifyReply, FastifyRequest } from "fastify";
import { FileChangedError } from "../../audio/source.js";
import { checkNumberOptions, checkOptions, type NumberRule } from "../../audio/signal.js";
import { AudioFormatError } from "../../audio/types.js";
import { SampleValuesError } from "../../engine/analysis.js";
import { CoreMemoryError } from "../../engine/wasm.js";
import { MAX_COLOR_VALUES } from "../../render/colormap.js";
import { checkCrossFieldRules, PARAM_NAMES, paramsObject, ParamsError, parseParams, type Params } from "../../engine/params.js";
import { encodedBytesBound, TILE_FORMATS, type TileFormat } from "../../tiles/compute.js";
import { bandOptionsSchema, MAX_ZOOM, tileOptionsSchema, TileRangeError } from "../../tiles/grid.js";
import { PoolBusyError, TaskTimeoutError } from "../../tiles/pool.js";
import { GEOMETRY_HEADERS, retryHint, StatsPendingError, type ImagePlan, type Requester, type TileBody, type TileRecording, type TileService } from "../../tiles/service.js";
import { requesterOf } from "../client-left.js";
import { notModified } from "../conditional.js";
import { sendError } from "../plugins/errors.js";
import { recordingRevision } from "../../store/recordings.js";
import { fileChangedWhileRead, recordingFile, recordingName, withoutAudioRoots } from "../recording-file.js";
import { bytesResponse, errorBody, errorWithHeaders, ETAG_HEADER, HEAD_DOCUMENTED, id, integerText, interval, notModifiedResponse, oneOf, RETRY_AFTER_HEADER } from "../schemas.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Tile computation: the worker pool, stats, caches. */
    tiles: TileService;
  }
}

/** Request limits (SPEC §10): over a limit is a 400 that says which. */
export interface TileLimits {
  /** Tiles one stream may ask for. */
  maxStreamTiles: number;
  /** Frames one image of the one-shot route may hold. */
  maxImageFrames: number;
  /** Pixels (columns × rows) one image of the one-shot route may hold. */
  maxImagePixels: number;
  /** Pixels (columns × rows) one tile may hold: its rows are the FFT's bins unless cropped or merged. */
  maxTilePixels: number;
}

export const DEFAULT_TILE_LIMITS: TileLimits = { maxStreamTiles: 256, maxImageFrames: 65_536, maxImagePixels: 32 * 1024 * 1024, maxTilePixels: 32 * 1024 * 1024 };

/**
 * The limits of `options` (buildApp's tileLimits) over the defaults, refused when the app is built,
 * naming the limit, rather than at a request: compared with NaN every request would be over it, and
 * a pixel limit above MAX_COLOR_VALUES let through PNGs whose values the worker's DSP core cannot
 * take in one block — a 500 at the first such tile (1024 × 262145 pixels, measured). Frames and
 * tiles have no bound of their own: an image's frames are its columns, which its pixels bound, and a
 * stream computes its tiles one at a time.
 * @throws TypeError for a value that is no number or an unknown key; RangeError for a number out of range
 */
export function tileLimitsOf(options: Partial<TileLimits> = {}): TileLimits {
  checkOptions(options, Object.keys(DEFAULT_TILE_LIMITS), undefined, "tileLimits");
  const count: NumberRule = [(v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1"];
  const pixels: NumberRule = [(v) => Number.isInteger(v) && v >= 1 && v <= MAX_COLOR_VALUES, `an integer from 1 to ${MAX_COLOR_VALUES}`,
    (v) => (v > MAX_COLOR_VALUES ? "a PNG's values go into the worker's DSP core as one block of 4 bytes a pixel, and the core's largest block is 1 GiB less 4 bytes" : null)];
  checkNumberOptions(options, { maxStreamTiles: count, maxImageFrames: count, maxImagePixels: pixels, maxTilePixels: pixels } satisfies Record<keyof TileLimits, NumberRule>, "tileLimits.");
  const given = Object.entries(options).filter(([, value]) => value !== undefined);
  return { ...DEFAULT_TILE_LIMITS, ...Object.fromEntries(given) };
}

/**
 * The answer deadline of these routes once their recording is looked up (plugins/deadline.ts:
 * the lookup has the deadline every route has): beyond their own limits, which answer first — a
 * 20 s wait for the recording's stats (503), then the task's time limit of 60 s for its wait for
 * a worker (503) and 60 s more for its run (400).
 */
export const DEFAULT_TILE_DEADLINE_MS = 150_000;

// Each route's query is one strict object of every spectrogram parameter and its own fields, so
// that an unknown name is refused (an intersection with .and() would let it through).
/** The recording's revision a URL was made for: the routes whose answers are cached take it. */
const revisionQuery = {
  // An empty one is refused, as every empty query value is (README): `revision=` was served as a stale URL's answer.
  revision: z.string().min(1, "must not be empty").max(64, "must be at most 64 characters").optional().describe("The recording's `revision` (from its JSON). When it is the current one the answer is cached for good (`immutable`); without it, or with an old one, caches revalidate it (`no-cache`, ETag → 304)"),
};

/** The zoom of a tile path: an integer the grid has (tiles/grid.ts MAX_ZOOM), else the grid's own message. */
const zoomMessage = `must be an integer from 0 to ${MAX_ZOOM}`;
const zoom = integerText(z.number({ error: zoomMessage }).min(0, { error: zoomMessage, abort: true }).max(MAX_ZOOM, { error: zoomMessage, abort: true }).int(zoomMessage))
  .describe("Zoom: each column is the maximum of 2^z frames");

/**
 * A tile path's last segment, `<x>.<format>`: x an integer as every integer of a path or query is
 * read (integerText: decimal digits, an optional sign), as z is — `+1.f32` and `-0.f32` were refused
 * where `tiles/+1/…` and `tiles/-0/…` were read, with a message that did not say x is an integer.
 */
const TILE_NAME = /^([+-]?\d+)\.(png|f32|npy)$/;
const tileName = z.string().regex(TILE_NAME, "must be <x>.png, <x>.f32 or <x>.npy, x an integer (decimal digits, an optional sign)")
  .describe("`<x>.<png|f32|npy>`: x, the tile's index at zoom z, an integer from 0");

/** How long an answer may be cached: sent with the 200 and repeated by the 304. */
const CACHE_CONTROL_HEADER = { "Cache-Control": "immutable for a year when the URL names the recording's current revision, else no-cache (revalidate by ETag); private when the request had a token" };
/** A tile or one-shot image, as its format's media type: PNG, or float32 values (f32 raw, npy with NumPy's header). */
const spectrogramBody = bytesResponse(
  "PNG (png), or float32 values [rows][columns], row 0 the lowest frequency (f32: raw little-endian; npy: NumPy's format); the headers give the geometry",
  ["image/png", "application/octet-stream"],
  { ...ETAG_HEADER, ...CACHE_CONTROL_HEADER, ...GEOMETRY_HEADERS },
);
/** A tile or one-shot image the client holds is current. */
const spectrogramNotModified = notModifiedResponse({ ...ETAG_HEADER, ...CACHE_CONTROL_HEADER });
/** The statuses a spectrogram route's errors take: 403 for a dataset outside the audio roots, 422 for a file at the path that cannot be used (no regular file, a link out of the dataset's directory) or audio that cannot be analysed. */
const spectrogramErrors = {
  400: errorBody.describe("Bad Request: a field is invalid (`fields` names each), or the request is over a limit (SPEC §10) and the message says which: pixels per tile or image, frames per image, tiles per stream, samples a pass or a tile transforms, or the request time limit — a computation that ran 60 s on a worker without finishing (in a stream, the first tile's is the stream's 400, a later tile's its JSON part after the 200)"),
  403: errorBody, 404: errorBody, 409: errorBody, 422: errorBody,
  503: errorWithHeaders("Service Unavailable, with Retry-After: every worker is busy (the queue is full, the client's own share of it is, or no worker was free within 60 s), answers still being sent to slower clients hold the server's limit of such bytes, the recording's statistics are being computed or their pass is queued behind others for a pass slot (the message says which, with the place and the progress of the pass ahead; Retry-After, 10–60 s, follows that pass's time to go), the database is unavailable, a worker's DSP core had no room for the computation (its memory could not grow: at WebAssembly's 4 GiB, or refused more by the host; the worker is then replaced by a fresh one), or no answer came within the deadline", RETRY_AFTER_HEADER),
};
const format = oneOf(TILE_FORMATS);

/** Splits a validated query into spectrogram parameters and the route's own options (a tile's: tileOptionsSchema; the one-shot image's: bandOptionsSchema). */
function splitQuery<Options extends z.ZodType>(query: Record<string, unknown>, optionsSchema: Options): { params: Params; options: z.output<Options> } {
  const params: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(query)) ((PARAM_NAMES as string[]).includes(k) ? params : rest)[k] = v;
  return { params: parseParams(params), options: optionsSchema.parse(rest) };
}

/**
 * Cache-Control of an answer. A URL naming the recording's current revision can never be
 * answered differently (a new file content, time expansion or engine makes a new revision, hence
 * a new URL), so it is cached for good (SPEC §4). A URL without it, or with an old one, may be
 * answered differently tomorrow under the same URL: caches keep it but check its ETag at every use.
 * An answer to a request with a token is `private`: `public` would let a shared cache (a proxy)
 * serve it to anyone without one (RFC 9111 §3.5) — where reads need a token, a recording's
 * spectrograms are not for everyone. The browser's own cache keeps it all the same.
 */
function cacheControl(request: FastifyRequest, askedRevision: string | undefined, currentRevision: string): string {
  const scope = request.headers.authorization === undefined ? "public" : "private";
  return askedRevision === currentRevision ? `${scope}, max-age=31536000, immutable` : `${scope}, no-cache`;
}

/** A 503's words when a worker's DSP core had no room for the computation (CoreMemoryError with memoryFull). */
const CORE_FULL = "the worker's DSP core had no room for this computation: its memory could not grow (it was at WebAssembly's 4 GiB, or the host refused it more); the worker is replaced by a fresh one, without what the old one kept for other requests: retry shortly";

/** What a client refused a tile or image for its size (UnsentBytesFullError) can ask for instead. */
const SMALLER_SPECTROGRAM = "ask for a smaller answer (png, fewer rows with height, fmin or fmax, a narrower tile or interval)";

/**
 * Sends a planned tile or one-shot image: the bytes themselves (the cache's, for a cached tile),
 * counted against the server's bound on answers still waiting for their clients until the client's
 * socket has taken them. One that the bound would refuse is refused before it is computed where
 * its size is known from its plan (plan.knownBytes: f32 and npy; a PNG is checked once encoded,
 * by its bound it would be refused when it fits, and PNG is what a refused client is told to ask
 * for) — unless its bytes are cached or being computed for another request: refusing then would
 * spare nothing, and a cached tile already held costs no more.
 * @param requester the request's client and its leaving (requesterOf)
 * @throws UnsentBytesFullError (a 503) when that bound is full
 */
async function sendPlanned(reply: FastifyReply, plan: ImagePlan, cache: string, requester: Requester) {
  const { tiles, unsentBytes } = reply.server;
  if (plan.knownBytes !== null && tiles.wouldCompute(plan)) unsentBytes.checkRoom(plan.knownBytes, SMALLER_SPECTROGRAM);
  const tile = await tiles.render(plan, requester);
  unsentBytes.hold(reply.raw, tile.body, SMALLER_SPECTROGRAM);
  reply.header("ETag", tile.etag).header("Cache-Control", cache).type(tile.contentType);
  for (const [k, v] of Object.entries(tile.headers)) reply.header(k, v);
  return reply.send(Buffer.from(tile.body.buffer, tile.body.byteOffset, tile.body.byteLength));
}

/**
 * Tiles a stream computes ahead of the one it writes: enough to keep every worker busy (two a
 * thread), never the whole range (the pool's queue is shared with every other request), and no
 * more than keep what the stream holds (streamHeldBytes) within the server's limit on unsent bytes
 * where tiles are small enough — yet at least one, so that the first tile is sent while the next
 * is computed (SPEC §4). 2^25-pixel f32 tiles are 128 MiB: 34 of them for a 16-thread server
 * would be 4.3 GiB for one stream, past the 1 GiB limit.
 * @param threads the pool's worker threads
 * @param tileBytes the most bytes one of the stream's tiles takes
 * @param limit the server's limit on bytes held for slow clients (UnsentBytes.limit)
 */
function tilesAhead(threads: number, tileBytes: number, limit: number): number {
  return Math.max(1, Math.min(2 * threads, Math.floor(limit / tileBytes) - 2));
}

/**
 * Bytes a stream of `tiles` tiles of at most `tileBytes` each holds at once, counted against the
 * unsent-bytes bound until it closes: the `ahead` tiles computed ahead, the one the writer has
 * given the body (which waits in it while the client is slow), and the one the socket is taking.
 * Measured: paused clients held six 9 MB tiles each with four computed ahead (README).
 */
const streamHeldBytes = (tiles: number, ahead: number, tileBytes: number) => Math.min(tiles, ahead + 2) * tileBytes;

/** `deadlineMs`: the deadline once a recording is looked up (buildApp's tileDeadlineMs, default DEFAULT_TILE_DEADLINE_MS). */
export const tileRoutes: FastifyPluginAsyncZod<{ limits: TileLimits; deadlineMs: number }> = async (app, options) => {
  const { limits, deadlineMs } = options;

  /**
   * The recording as the tile service needs it, and its current revision. Its location's lookup
   * keeps the deadline of every route — with the tile routes' own from the start, a database that
   * held its connections without answering held each tile request for the routes' deadline, a
   * viewer's every connection with them —, then the request's deadline becomes `deadlineMs`:
   * for the file's check (a hash of a file touched since, seconds for gigabytes, had the general
   * deadline's 503 blaming the database) and the computation.
   */
  async function tileRecording(reply: FastifyReply, recordingId: string): Promise<{ recording: TileRecording; revision: string }> {
    const r = await recordingFile(app, recordingId, () => reply.extendDeadline(deadlineMs));
    return {
      // r.file: the real path checked against the audio roots, opened as exactly that file (SPEC §10)
      // checked: a file written while a task reads it fails the task (FileChangedError, a 409), nothing of it kept
      recording: { id: recordingId, path: r.file, exactPath: true, hash: r.hash, checked: { size: r.size, mtime: r.mtime }, timeExpansion: r.time_expansion, samplerate: r.file_samplerate, frames: r.frames, channels: r.channels, name: recordingName(recordingId, r.path) },
      revision: recordingRevision(r.hash, r.time_expansion),
    };
  }

  // Errors of this layer; anything else goes on to the application's handler.
  app.setErrorHandler((err, request, reply) => {
    if (err instanceof ParamsError) return sendError(reply, 400, `invalid query: ${err.message}`, err.issues);
    if (err instanceof TileRangeError) return sendError(reply, 400, err.message, [{ field: err.field, message: err.message.slice(err.field.length + 2) }]);
    // Before RangeError, which it is: the worker's core could not grow — at wasm32's limit, much of
    // it what it keeps for other requests, or refused pages by the host — and the worker is replaced
    // by a fresh one (tiles/worker.ts compute): this request, asked again, runs on a fresh core.
    if (err instanceof CoreMemoryError && err.memoryFull) return sendError(reply.header("Retry-After", "1"), 503, CORE_FULL);
    if (err instanceof RangeError) return sendError(reply, 400, err.message);
    if (err instanceof PoolBusyError) return sendError(reply.header("Retry-After", String(err.retryAfterS ?? 1)), 503, `${err.message}; ${err.retryAfterS === undefined ? "retry shortly" : retryHint(err.retryAfterS)}`);
    // Its run alone counts (a task still waiting for a worker is a PoolBusyError): asked again, it would fail again.
    if (err instanceof TaskTimeoutError) return sendError(reply, 400, `over the request time limit of ${err.limitMs / 1000} s: the computation ran that long on a worker and was stopped; ask for less work at once (a lower zoom, a narrower tile, a shorter interval or a longer hop_size)`);
    if (err instanceof StatsPendingError) return sendError(reply.header("Retry-After", String(err.retryAfterS)), 503, err.message);
    if (err instanceof FileChangedError) return sendError(reply, 409, fileChangedWhileRead((request.params as { id: string }).id, err).message);
    if (err instanceof SampleValuesError) return sendError(reply, 422, `the recording decodes, but its samples cannot be analysed: ${withoutAudioRoots(err.message, app.audioRoots)}`);
    if (err instanceof AudioFormatError) return sendError(reply, 422, `the recording's audio cannot be decoded: ${withoutAudioRoots(err.message, app.audioRoots)}`);
    throw err;
  });

  app.get("/recordings/:id/tiles/:z/:tile", {
    config: HEAD_DOCUMENTED,
    schema: {
      summary: "One spectrogram tile",
      description: "Tile x at zoom z covers frames [x·W·2^z, (x+1)·W·2^z) of the whole recording's spectrogram, each column the maximum of 2^z frames. `tile` is `<x>.<png|f32|npy>`. f32/npy are [rows][columns] float32, row 0 the lowest frequency; headers give the geometry.",
      tags: ["spectrograms"],
      params: z.object({
        id,
        z: zoom,
        tile: tileName,
      }),
      querystring: paramsObject.extend({ ...tileOptionsSchema.shape, ...revisionQuery }).superRefine(checkCrossFieldRules),
      response: { 200: spectrogramBody, 304: spectrogramNotModified, ...spectrogramErrors },
    },
  }, async (request, reply) => {
    const [, xText, fmt] = TILE_NAME.exec(request.params.tile)!;
    const { revision: askedRevision, ...query } = request.query;
    const { params, options } = splitQuery(query, tileOptionsSchema);
    const { recording, revision } = await tileRecording(reply, request.params.id);
    const cache = cacheControl(request, askedRevision, revision);
    // The client's leaving cancels what is done for it alone: the stats pass too, until its 503.
    const requester = requesterOf(reply);
    const plan = await app.tiles.planTile(recording, params, request.params.z, Number(xText), options, fmt as TileFormat, limits.maxTilePixels, requester);
    if (notModified(request.headers["if-none-match"], plan.etag)) return reply.code(304).header("ETag", plan.etag).header("Cache-Control", cache).send();
    return sendPlanned(reply, plan, cache, requester);
  });

  app.get("/recordings/:id/tiles/:z/stream", {
    config: HEAD_DOCUMENTED,
    schema: {
      summary: "The tiles of a time interval, streamed in order",
      description: "multipart/mixed: one part per tile, in order, each sent as soon as it is ready; its headers are the tile's (ETag, geometry, X-Tile: z/x). The first tile is computed before the 200: a stream refused at it gets the status a single tile would (503 with Retry-After when every worker is busy, 400, 409, 422). A client that disconnects cancels the work still queued.",
      tags: ["spectrograms"],
      params: z.object({ id, z: zoom }),
      // revision: taken, so that a client may carry it on every spectrogram URL (it was a 400 here); a stream is not cached.
      querystring: paramsObject.extend({ ...tileOptionsSchema.shape, ...interval, format: format.default("png"), ...revisionQuery }).superRefine(checkCrossFieldRules),
      response: { 200: bytesResponse("One part per tile, in order: the tile's bytes with its headers (ETag, geometry, X-Tile: z/x); a tile after the first that fails ends the stream with a JSON part {error}", ["multipart/mixed"], { "X-Tile-Range": "z/first-last: the tiles the parts hold, in order" }), ...spectrogramErrors },
    },
  }, async (request, reply) => {
    const { start_time, end_time, format: fmt, revision: _revision, ...query } = request.query as Record<string, unknown> & { start_time: number; end_time: number; format: TileFormat; revision?: string };
    if (!(end_time > start_time)) throw new ParamsError([{ field: "end_time", message: `must be > start_time (${start_time})` }]);
    const { params, options } = splitQuery(query, tileOptionsSchema);
    const { recording } = await tileRecording(reply, request.params.id);
    const z = request.params.z;
    // The stream's tiles are let go when the client leaves, or when its first tile fails (`refused`):
    // the request is then answered with that tile's status, and the tiles started after it would
    // be computed for no one — a refused client's own, held in its queue, refused its retry too.
    const refused = new AbortController();
    const { client, left: clientGone } = requesterOf(reply);
    const left = AbortSignal.any([clientGone, refused.signal]);
    const requester = { client, left };
    // Everything a tile could be refused for is checked here, before the 200 and its headers.
    const { x0, x1, widest } = await app.tiles.planStream(recording, params, z, start_time, end_time, options, { tiles: limits.maxStreamTiles, pixels: limits.maxTilePixels }, requester);
    const tiles = x1 - x0;
    const boundary = `sonotile-${Math.random().toString(36).slice(2)}`;
    // The stream's headers are set once it is taken: a 503 refusing it carried X-Tile-Range, tiles it would not send.
    const streamHeaders = () => reply.type(`multipart/mixed; boundary=${boundary}`).header("X-Tile-Range", `${z}/${x0}-${x0 + tiles - 1}`);
    // HEAD (Fastify answers it with this handler) gets the headers and no tile: its body would be
    // thrown away, and the answer counts as finished at once, so a disconnect could not cancel it.
    // An ended stream, not an empty body: that would state Content-Length: 0, which a GET's answer does not have.
    if (request.method === "HEAD") return streamHeaders().send(new PassThrough().end());
    // Tiles are computed a few ahead of the one being written (tilesAhead) and written in order
    // as each is ready; a slow reader holds the computation back (the body's backpressure), and a
    // disconnect aborts what has not run yet. A tile is let go once taken for writing: the stream
    // holds the tiles ahead, not every tile sent (a stream of 256 f32 tiles of 12 MB had held 3 GB
    // to its end). What it can hold at once counts against the server's bound on answers waiting
    // for slow clients, from before its 200 to its close: a stream past it is refused with the
    // 503 and Retry-After a tile gets (README: streams are refused, not queued), and a client
    // that takes nothing for the stall limit loses its connection, which cancels the rest.
    const tileBytes = encodedBytesBound(widest.rows, widest.columns, fmt);
    const ahead = tilesAhead(app.tiles.pool.threads, tileBytes, app.unsentBytes.limit);
    app.unsentBytes.reserve(reply.raw, streamHeldBytes(tiles, ahead, tileBytes), SMALLER_SPECTROGRAM);
    const pending = new Map<number, Promise<TileBody>>();
    const start = (i: number) => {
      if (i >= tiles || left.aborted) return;
      const next = app.tiles.tile(recording, params, z, x0 + i, options, fmt, requester);
      next.catch(() => {});
      pending.set(i, next);
    };
    // Gone while the stream was planned: no tile is started (start), so tile 0 may not be awaited.
    left.throwIfAborted();
    for (let i = 0; i < ahead; i++) start(i);
    // The first tile before the 200: a stream refused at it — the pool's queue or the client's share
    // of it full, the file changed, the run over the time limit — is answered with the status (and
    // Retry-After) a single tile gets. It was a 200 of one error part, no status for a client to act
    // on. The tiles after it are computed meanwhile, and it is sent while they are (SPEC §4).
    try {
      await pending.get(0);
    } catch (err) {
      refused.abort(err);
      if (reply.sent) return reply; // the request's deadline answered meanwhile (plugins/deadline.ts)
      throw err;
    }
    // The request's deadline may have answered (its 503) while the first tile was awaited: nobody
    // reads a stream now, and the tiles started ahead are let go (they were computed, and the
    // writer went on starting more into a body already destroyed).
    if (reply.sent) {
      refused.abort(new Error("the request was answered while its first tile was computed"));
      return reply;
    }
    streamHeaders();
    const body = new PassThrough();
    // A body closed — all sent, or destroyed — has no reader for the tiles still ahead: let go.
    body.once("close", () => refused.abort(new Error("the stream's answer has ended")));
    (async () => {
      for (let i = 0; i < tiles; i++) {
        // Gone: no tile is started after that (start), so none may be awaited — undefined, whose
        // write threw outside any request and ended the process (a client that left while the
        // stream was planned, or while tiles computed ahead were written).
        if (left.aborted) break;
        let tile: TileBody;
        try {
          tile = await pending.get(i)!;
        } catch (err) {
          // A file changed while the tile read it: the words of the single tile's 409, which name the recording and what to do.
          const error = err instanceof FileChangedError ? fileChangedWhileRead(request.params.id, err).message
            : err instanceof CoreMemoryError && err.memoryFull ? CORE_FULL
            : withoutAudioRoots((err as Error).message, app.audioRoots);
          if (!left.aborted) body.write(`--${boundary}\r\nContent-Type: application/json\r\nX-Tile: ${z}/${x0 + i}\r\n\r\n${JSON.stringify({ error })}\r\n`);
          // The stream ends here: the tiles started after this one would be computed for no one,
          // holding places in the client's queue (as the first tile's refusal lets them go).
          refused.abort(err);
          break;
        } finally {
          pending.delete(i);
        }
        start(i + ahead);
        const head = [`Content-Type: ${tile.contentType}`, `Content-Length: ${tile.body.byteLength}`, `X-Tile: ${z}/${x0 + i}`, `ETag: ${tile.etag}`, ...Object.entries(tile.headers).map(([k, v]) => `${k}: ${v}`)];
        body.write(`--${boundary}\r\n${head.join("\r\n")}\r\n\r\n`);
        body.write(tile.body);
        if (!body.write("\r\n")) {
          const drained = await once(body, "drain", { signal: left }).then(() => true, () => false);
          if (!drained) break;
        }
      }
      body.end(`--${boundary}--\r\n`);
    })().catch((err: Error) => {
      // This writer runs in no request's hands: a throw here would be an unhandled rejection,
      // which ends the process (as the stream planned for a client gone once did). It ends this
      // answer instead, cut short, and is logged.
      request.log.error({ err }, "tile stream failed after its 200");
      body.destroy(err);
    });
    return reply.send(body);
  });

  app.get("/recordings/:id/spectrogram", {
    config: HEAD_DOCUMENTED,
    schema: {
      summary: "A spectrogram image (or matrix) of [start_time, end_time)",
      description: "The frames of the whole recording's spectrogram whose centres lie in [start_time, end_time): same normalization, PCEN state and filter context as the whole recording, so any two requests agree where they overlap. Its rows are a tile's: every bin, or those within [fmin, fmax] merged (maximum) into `height` rows; the pixel limit counts the rows after that crop.",
      tags: ["spectrograms"],
      params: z.object({ id }),
      querystring: paramsObject.extend({ ...bandOptionsSchema.shape, ...interval, format: format.default("png"), ...revisionQuery }).superRefine(checkCrossFieldRules),
      response: { 200: spectrogramBody, 304: spectrogramNotModified, ...spectrogramErrors },
    },
  }, async (request, reply) => {
    const { start_time, end_time, format: fmt, revision: askedRevision, ...query } = request.query as Record<string, unknown> & { start_time: number; end_time: number; format: TileFormat; revision?: string };
    if (!(end_time > start_time)) throw new ParamsError([{ field: "end_time", message: `must be > start_time (${start_time})` }]);
    const { params, options } = splitQuery(query, bandOptionsSchema);
    const { recording, revision } = await tileRecording(reply, request.params.id);
    const cache = cacheControl(request, askedRevision, revision);
    const pieceLimits = { frames: limits.maxImageFrames, pixels: limits.maxImagePixels };
    const requester = requesterOf(reply);
    const plan = await app.tiles.planPiece(recording, params, start_time, end_time, options, fmt, pieceLimits, requester);
    if (notModified(request.headers["if-none-match"], plan.etag)) return reply.code(304).header("ETag", plan.etag).header("Cache-Control", cache).send();
    return sendPlanned(reply, plan, cache, requester);
  });
};
