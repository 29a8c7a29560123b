/**
 * The HTTP API (SPEC §5): `buildApp(options)` assembles a Fastify instance — zod schemas for
 * validation and the OpenAPI document (/openapi.json, UI at /docs), JSON errors, token auth,
 * and one route file per resource under /v1. It opens nothing itself: the caller passes the
 * database and closes it, so tests and `sonotile serve` share this factory.
 */
import { constants as bufferConstants } from "node:buffer";
import { STATUS_CODES } from "node:http";
import { isAbsolute } from "node:path";
import { PassThrough, Readable } from "node:stream";
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from "fastify";
import swagger, { type SwaggerTransformObject } from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { z } from "zod";
import { jsonSchemaTransform, serializerCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { Database } from "../store/db.js";
import { InvalidError } from "../store/errors.js";
import { declareCommonResponses, responseDescription } from "./common-responses.js";
import { authPlugin, isPublicRoute } from "./plugins/auth.js";
import { corsPlugin } from "./plugins/cors.js";
import { drainPlugin } from "./plugins/drain.js";
import { deadlinePlugin } from "./plugins/deadline.js";
import { errorsPlugin, HttpError } from "./plugins/errors.js";
import { reprobePlugin } from "./plugins/reprobe.js";
import { statePlugin } from "./plugins/state.js";
import { healthRoutes } from "./routes/health.js";
import { userRoutes } from "./routes/users.js";
import { tokenRoutes } from "./routes/tokens.js";
import { datasetRoutes } from "./routes/datasets.js";
import { recordingRoutes } from "./routes/recordings.js";
import { recordingTagRoutes } from "./routes/recording-tags.js";
import { playbackRoutes } from "./routes/playback.js";
import { clipRoutes } from "./routes/clips.js";
import { clipTableRoutes } from "./routes/clip-tables.js";
import { noteRoutes } from "./routes/notes.js";
import { tagRoutes } from "./routes/tags.js";
import { runRoutes } from "./routes/runs.js";
import { jobRoutes } from "./routes/jobs.js";
import { artifactRoutes } from "./routes/artifacts.js";
import { trashRoutes } from "./routes/trash.js";
import { statsRoutes } from "./routes/stats.js";
import { LICENSE, VERSION } from "../engine/version.js";
import { openApiLicense } from "./openapi-license.js";
import { webRoutes } from "./routes/web.js";
import { apiValidatorCompiler } from "./schemas.js";
import { DEFAULT_TILE_DEADLINE_MS, tileLimitsOf, tileRoutes, type TileLimits } from "./routes/tiles.js";
import { DEFAULT_MAX_UNSENT_BYTES, DEFAULT_STALLED_SEND_MS, UnsentBytes } from "./unsent-bytes.js";
import { DatasetImports, RecentScans, type ImportOutcome } from "../store/datasets.js";
import { connectionLimitsOf, connectionOptions, type ConnectionLimits } from "./connection-limits.js";
import { allowedOrigins } from "./plugins/cors.js";
import { checkNumberOptions, checkOptions, describeValue, MAX_TIMER_MS, timerRule, type NumberRule } from "../audio/signal.js";
import { TileService } from "../tiles/service.js";

declare module "fastify" {
  interface FastifyInstance {
    /** The bytes of answers still waiting for their clients, server-wide, and their limit (unsent-bytes.ts). */
    unsentBytes: UnsentBytes;
    /** The dataset imports this server runs: one at a time per dataset, those asked for meanwhile sharing one (routes/datasets.ts). */
    datasetImports: DatasetImports<ImportOutcome>;
    /** The last scans of datasets, for the pages after a scan's first; forgotten when a route changes the dataset's recordings. */
    recentScans: RecentScans;
  }
}

export interface AppOptions {
  database: Database;
  /** Real paths of the audio roots (see store/paths.resolveRoots). */
  audioRoots: readonly string[];
  /** Require a token for reads too: set when listening beyond loopback (SPEC §10). */
  requireAuthForReads?: boolean;
  /** Largest request body in bytes (default 1 MiB); larger ones get 413. */
  bodyLimit?: number;
  /** Fastify's logger option (pino): false (default), true, or e.g. { level: "warn" }. */
  logger?: FastifyServerOptions["logger"];
  /**
   * The dataset imports the server runs (default a new DatasetImports logging each import that
   * waits for another); tests pass one with their own hook on imports that wait.
   */
  datasetImports?: DatasetImports<ImportOutcome>;
  /** Tile computation (worker pool, stats, caches); without it the spectrogram routes are absent. */
  tiles?: TileService;
  /** Limits of the spectrogram routes (defaults and bounds in routes/tiles.ts: DEFAULT_TILE_LIMITS, tileLimitsOf). */
  tileLimits?: Partial<TileLimits>;
  /** Samples one playback response may hold (default MAX_PLAYBACK_SAMPLES, playback-limit.ts). */
  maxPlaybackSamples?: number;
  /**
   * Bytes that tiles, one-shot images and playback answers not yet taken by their clients' sockets
   * may hold, server-wide (default DEFAULT_MAX_UNSENT_BYTES, 1 GiB; unsent-bytes.ts): past it, new
   * ones get a 503.
   */
  maxUnsentBytes?: number;
  /** How long such an answer may wait for its client to take any byte before the connection is closed (default 60 s). */
  stalledSendMs?: number;
  /** Longest a request waits for its answer before a 503 (default 30 s; plugins/deadline.ts). */
  deadlineMs?: number;
  /**
   * The spectrogram routes' deadline once their recording is looked up (default
   * DEFAULT_TILE_DEADLINE_MS, 150 s; routes/tiles.ts): for the file's check and the computation,
   * whose own limits — 20 s for stats, 60 s for a worker, 60 s of computation — answer first.
   */
  tileDeadlineMs?: number;
  /**
   * Origins whose web pages may call the API (CORS, plugins/cors.ts): `scheme://host[:port]` each,
   * or ["*"] for every origin, only with requireAuthForReads. Default none: no CORS.
   */
  corsOrigins?: readonly string[];
  /** Timeouts for receiving requests and the cap on open connections (defaults DEFAULT_CONNECTION_LIMITS, connection-limits.ts). */
  connectionLimits?: Partial<ConnectionLimits>;
}

export type App = FastifyInstance;

/** The fields of AppOptions: buildApp refuses any other key (checkOptions). */
const APP_OPTIONS = [
  "database", "audioRoots", "requireAuthForReads", "bodyLimit", "logger", "datasetImports", "tiles", "tileLimits", "maxPlaybackSamples", "maxUnsentBytes", "stalledSendMs", "deadlineMs", "tileDeadlineMs", "corsOrigins", "connectionLimits",
] as const satisfies readonly (keyof AppOptions)[];

/** What closing the app may take beyond the drain's deadlineMs (Fastify's pluginTimeout, a timer too). */
const CLOSE_MARGIN_MS = 10_000;

/**
 * `options` checked before anything is made, each bad one refused naming it, what it must be and
 * what was given (as a TilePool checks its PoolOptions) — rather than a late 500 or odd behaviour:
 * a NaN deadline answered every request 503 at once, a maxPlaybackSamples of "10" compared as a
 * string, a fractional connection timeout was Node's ERR_OUT_OF_RANGE naming none of these, and a
 * misspelt key was ignored. Returns the limits it reads over their defaults, and the CORS origins
 * as allowedOrigins reads them (as browsers send them).
 * @throws TypeError for a value of the wrong kind or an unknown key; RangeError for one out of range
 */
function appSettingsOf(options: AppOptions): { tileLimits: TileLimits; connectionLimits: ConnectionLimits; deadlineMs: number; tileDeadlineMs: number; corsOrigins: string[] } {
  checkOptions(options, APP_OPTIONS, undefined, "buildApp options");
  const refuse = (name: string, what: string, value: unknown) => new TypeError(`${name}: must be ${what}, got ${describeValue(value)}`);
  const { database, audioRoots, requireAuthForReads, logger, datasetImports, tiles, corsOrigins } = options as Partial<AppOptions>;
  if (typeof database?.sql !== "function") throw refuse("database", "a Database (store/db.ts openDatabase)", database);
  const paths = "an array of absolute paths (store/paths.ts resolveRoots)";
  if (!Array.isArray(audioRoots)) throw refuse("audioRoots", paths, audioRoots);
  const notPath = audioRoots.findIndex((root) => typeof root !== "string" || !isAbsolute(root));
  if (notPath >= 0) throw refuse(`audioRoots[${notPath}]`, "an absolute path", audioRoots[notPath]);
  if (requireAuthForReads !== undefined && typeof requireAuthForReads !== "boolean") throw refuse("requireAuthForReads", "a boolean", requireAuthForReads);
  if (logger !== undefined && typeof logger !== "boolean" && (logger === null || typeof logger !== "object" || Array.isArray(logger))) throw refuse("logger", "a boolean or Fastify's logger options (e.g. { level: \"warn\" })", logger);
  if (datasetImports !== undefined && !(datasetImports instanceof DatasetImports)) throw refuse("datasetImports", "a DatasetImports", datasetImports);
  if (tiles !== undefined && !(tiles instanceof TileService)) throw refuse("tiles", "a TileService", tiles);
  const deadlineMost = MAX_TIMER_MS - CLOSE_MARGIN_MS;
  checkNumberOptions(options, {
    // A body is parsed as one string, which holds at most MAX_STRING_LENGTH characters.
    bodyLimit: [(v) => Number.isInteger(v) && v >= 1 && v <= bufferConstants.MAX_STRING_LENGTH, `an integer number of bytes from 1 to ${bufferConstants.MAX_STRING_LENGTH}`],
    maxPlaybackSamples: [(v) => Number.isSafeInteger(v) && v >= 1, "an integer ≥ 1"],
    maxUnsentBytes: [(v) => v >= 1 && (Number.isInteger(v) || v === Infinity), "an integer number of bytes ≥ 1 (Infinity: no limit)"],
    stalledSendMs: timerRule(),
    // Closing waits up to the deadline for the drain, and Fastify's own timer CLOSE_MARGIN_MS more.
    deadlineMs: timerRule(deadlineMost),
    tileDeadlineMs: timerRule(),
  } satisfies Partial<Record<keyof AppOptions, NumberRule>>);
  if (corsOrigins !== undefined && (!Array.isArray(corsOrigins) || corsOrigins.some((origin) => typeof origin !== "string"))) throw refuse("corsOrigins", "an array of origins (scheme://host[:port]) or [\"*\"]", corsOrigins);
  const origins = allowedOrigins(corsOrigins ?? [], requireAuthForReads ?? false);
  if ("problem" in origins) throw new RangeError(`corsOrigins: ${origins.problem}`);
  return { tileLimits: tileLimitsOf(options.tileLimits), connectionLimits: connectionLimitsOf(options.connectionLimits), deadlineMs: options.deadlineMs ?? 30_000, tileDeadlineMs: options.tileDeadlineMs ?? DEFAULT_TILE_DEADLINE_MS, corsOrigins: origins.origins };
}

/** The OpenAPI document's operations, as the document transform (openApiTransforms) reads them. */
interface OpenApiDocument {
  paths?: Record<string, Record<string, { requestBody?: { required?: boolean } }>>;
}

/**
 * A route's operationId, for the client generators that name their methods by it: the method and
 * the path's segments, a parameter as "By" and its name — `GET /v1/recordings/:id/tiles/:z/:tile`
 * is getRecordingsByIdTilesByZByTile. Unique, as method and path are.
 */
function operationId(method: string, url: string): string {
  const word = (w: string) => w.charAt(0).toUpperCase() + w.slice(1);
  const segments = url.split("/").filter((seg) => seg && seg !== "v1");
  const words = (text: string) => text.split(/[-_]/).map(word).join("");
  return method.toLowerCase() + segments.map((seg) => (seg.startsWith(":") ? `By${words(seg.slice(1))}` : words(seg))).join("");
}

/**
 * @fastify/swagger's two transforms for one app. `transform`: a route as the OpenAPI document shows
 * it (jsonSchemaTransform), with its operationId; a response whose schema is z.null() — a 204 or
 * 304, which has no body — shown without content, where jsonSchemaTransform would document a JSON
 * null; a response in the `content` form with the headers it declares, which
 * jsonSchemaTransform leaves out; and a HEAD (routes with HEAD_DOCUMENTED, schemas.ts) as its GET,
 * its responses without bodies (headResponse). `transformObject`: @fastify/swagger marks every declared body
 * required; the routes whose body schema takes no body (`.nullish()`: abort, purge), noted by
 * `transform`, say otherwise, so generated clients do not force one on callers.
 */
function openApiTransforms(): { transform: typeof jsonSchemaTransform; transformObject: SwaggerTransformObject } {
  const bodiesOptional = new Set<string>(); // "METHOD /path/{param}"
  const transform: typeof jsonSchemaTransform = (route) => {
    const method = route.route.method;
    const body = route.schema?.body;
    if (body instanceof z.ZodType && body.safeParse(undefined).success) {
      for (const m of [method].flat()) bodiesOptional.add(`${m} ${route.url.replace(/:(\w+)/g, "{$1}")}`);
    }
    const documented = jsonSchemaTransform(route);
    if (typeof method === "string") (documented.schema as { operationId?: string }).operationId = operationId(method, route.url);
    // Before a HEAD's responses are made from them: they take the GET's descriptions. A copy, not
    // the response changed in place: a schema the routes share must not carry one route's words.
    const described = (documented.schema.response ?? {}) as Record<string, { description?: string }>;
    for (const [status, response] of Object.entries(described)) {
      const description = typeof response === "object" && response !== null && !response.description ? responseDescription(status, route.schema?.summary, route.url) : undefined;
      if (description) described[status] = { ...response, description };
    }
    const head = method === "HEAD";
    if (head) (documented.schema as { summary?: string }).summary += " — headers only (HEAD: the GET's answer without its body)";
    const responses = (route.schema?.response ?? {}) as Record<string, unknown>;
    const documentedResponses = documented.schema.response as Record<string, Record<string, unknown>>;
    for (const [status, schema] of Object.entries(responses)) {
      const headers = responseHeaders(schema);
      if (head) documentedResponses[status] = headResponse(status, documentedResponses[status], headers);
      else if (schema instanceof z.ZodNull) documentedResponses[status] = { type: "null", description: schema.description ?? STATUS_CODES[status], ...(headers && { headers }) };
      else if (headers) documentedResponses[status].headers = headers;
    }
    return documented;
  };
  const transformObject: SwaggerTransformObject = (doc) => {
    if (!("openapiObject" in doc)) return doc.swaggerObject;
    const openapi = doc.openapiObject as OpenApiDocument;
    for (const [path, operations] of Object.entries(openapi.paths ?? {})) {
      for (const [m, operation] of Object.entries(operations)) {
        if (operation.requestBody && bodiesOptional.has(`${m.toUpperCase()} ${path}`)) operation.requestBody.required = false;
      }
    }
    enumsTakeTheirNull(openapi);
    return doc.openapiObject;
  };
  return { transform, transformObject };
}

/**
 * The headers a route's response declares: those of the `content` form (bytesResponse,
 * errorWithHeaders in schemas.ts), or the metadata of a response without a body (a 304:
 * notModifiedResponse).
 */
function responseHeaders(schema: unknown): Record<string, object> | undefined {
  if (schema instanceof z.ZodType) return schema.meta()?.headers as Record<string, object> | undefined;
  return typeof schema === "object" && schema !== null && "headers" in schema ? (schema.headers as Record<string, object>) : undefined;
}

/** Media types of bodies written as they are made (the tile stream, multipart/mixed): no header states their length. */
const SENT_AS_MADE = new Set(["multipart/mixed"]);

/** Whether a response's body is only ever one written as it is made (SENT_AS_MADE). */
function sentAsMade(response: { content?: object }): boolean {
  const types = Object.keys(response.content ?? {});
  return types.length > 0 && types.every((type) => SENT_AS_MADE.has(type));
}

/**
 * A HEAD's response as the OpenAPI document shows it: the GET's for `status` (its description and
 * headers) without content, since a HEAD answer has no body; a 2xx states the length of the body a
 * GET would get, which is what a client asks a HEAD for before a ranged download — but for a body
 * written as it is made (sentAsMade: the tile stream), whose length neither answer states.
 */
function headResponse(status: string, get: { description?: unknown; content?: object }, headers: Record<string, object> | undefined): Record<string, unknown> {
  const length = /^2/.test(status) && !sentAsMade(get) ? { "Content-Length": { type: "integer", description: "bytes of the body the GET answers with (of a 206: of the range)" } } : undefined;
  const all = headers || length ? { ...headers, ...length } : undefined;
  return { type: "null", description: get.description, ...(all && { headers: all }) };
}

/**
 * Lists null among the values of every nullable enum of the document. zod's `z.enum(…).nullable()`
 * is `{type, enum, nullable: true}`, and OpenAPI 3.0.3 says nullable adds null to the type only:
 * `enum` still refuses it, so a validator (Ajv) refused every job not yet finished — its
 * `result: null` — against the schema the document declared for it.
 */
function enumsTakeTheirNull(doc: object): void {
  const stack: unknown[] = [doc];
  while (stack.length) {
    const node = stack.pop();
    if (node === null || typeof node !== "object") continue;
    const schema = node as { nullable?: unknown; enum?: unknown[] };
    if (schema.nullable === true && Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum.push(null);
    stack.push(...Object.values(node));
  }
}

/**
 * The access log (`serve --verbose`): one line a request, at its answer, with its method, URL,
 * client, status and time. Fastify's own wrote two, `incoming request` (method, URL) and `request
 * completed` (status, time), tied only by their reqId: no line said which URL answered a 500. Its
 * other lines (errors, streams cut short, routes not found) stay Fastify's.
 */
class AccessLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, url: request.url, remoteAddress: request.ip, statusCode: reply.statusCode, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...line, err: error }, "request errored");
    else reply.log.info(line, "request completed");
  }
}

export async function buildApp(options: AppOptions): Promise<App> {
  // Before anything is made: a bad option is the caller's error, named (appSettingsOf). One
  // deadline bounds a request's database work and the drain at close.
  const { tileLimits, connectionLimits, deadlineMs, tileDeadlineMs, corsOrigins } = appSettingsOf(options);
  const requireAuthForReads = options.requireAuthForReads ?? false;
  // Why the database is unavailable (its error names hosts and ports): only on loopback (errorsPlugin).
  const errorDetails = !requireAuthForReads;
  const app = Fastify({
    logger: options.logger ?? false,
    logController: new AccessLog(),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // No connection is held for ever by a client sending its request slowly, or not at all.
    ...connectionOptions(connectionLimits),
    // Close hooks run under this bound too: the drain (up to deadlineMs) must fit in it. With
    // Fastify's 10 s, a close while a slow client still read a large tile gave up after 10 s —
    // the answer cut short, and `serve` left running without its port.
    pluginTimeout: Math.ceil(deadlineMs) + CLOSE_MARGIN_MS, // Fastify takes whole ms: 1500.5 was refused naming no option
    // Requests arriving while the server closes get the drain plugin's 503, which says what to do.
    return503OnClosing: false,
    routerOptions: {
      // A path segment may be a feature name of 255 characters, percent-encoded (up to 12
      // characters each): Fastify's 100 refused names the API had accepted in a body (414).
      maxParamLength: 4096,
      // `/v1/datasets/` is `/v1/datasets` (its empty segment was read as an id: "must be a UUID").
      ignoreTrailingSlash: true,
    },
    // The router's own refusals (a malformed percent-encoding in the path, a segment over the
    // limit) in the error body of every other refusal (plugins/errors.ts).
    frameworkErrors: (err, request, reply) => request.server.frameworkRefusal(err, request, reply),
  }).withTypeProvider<ZodTypeProvider>();
  app.server.maxConnections = connectionLimits.maxConnections;
  // Each parse in the API's words where a schema gives none (schemas.ts apiWording), this app's alone.
  app.setValidatorCompiler(apiValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Every body is JSON. Fastify would also parse text/plain (what fetch sends with a string body
  // unless told otherwise) and hand the routes a string: "expected object, received string". Such a
  // body is refused like any other non-JSON one: 415 saying what to send (plugins/errors.ts).
  app.removeContentTypeParser("text/plain");

  // First, so that its route list (a 405's Allow) holds every route, the documentation's too.
  await app.register(errorsPlugin, { errorDetails });
  // HEAD is answered by the GET handler; Fastify then reads a streamed body to its end to throw it
  // away (its head-route.js resumes it): a HEAD of a recording's audio read the whole file from
  // disk — on past the client's leaving, with no backpressure — for an answer of headers only. The
  // stream is released instead (its file or decoder closed), the GET's headers kept.
  app.addHook("onSend", async (request, _reply, payload) => {
    if (request.method !== "HEAD" || !(payload instanceof Readable)) return payload;
    payload.destroy();
    return new PassThrough().end();
  });
  await app.register(swagger, {
    openapi: {
      // The licence is the package's (package.json): client generators copy it into what they generate.
      info: { title: "sonotile", description: "Spectrogram tiles and metadata for bioacoustics (SPEC §5)", version: VERSION, license: openApiLicense(LICENSE) },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "An API token key (st_…)" } } },
      security: [{ bearer: [] }],
    },
    ...openApiTransforms(),
  });
  // Every documented route declares the statuses any route can answer (400, 401, 403, 413/415, 503)
  // besides its own: common-responses.ts.
  app.addHook("onRoute", (route) => declareCommonResponses(route, requireAuthForReads));
  // A route that takes no query parameters refuses any, naming it, as the others refuse those they
  // do not know: `GET /v1/datasets/{id}/scan?limit=1`, before scans were paged, answered the whole scan as if it were a page.
  // (Not the public /health: probes and load balancers may tag their requests.)
  app.addHook("onRoute", (route) => {
    const schema = route.schema as { hide?: boolean; querystring?: unknown } | undefined;
    if (schema && !schema.hide && !isPublicRoute(route) && !schema.querystring) schema.querystring = z.strictObject({});
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  app.decorate("unsentBytes", new UnsentBytes(options.maxUnsentBytes ?? DEFAULT_MAX_UNSENT_BYTES, options.stalledSendMs ?? DEFAULT_STALLED_SEND_MS));
  await app.register(statePlugin, { db: options.database, audioRoots: options.audioRoots });
  // Before the drain: its close hook stops the sweep first, so that no file is taken up meanwhile.
  await app.register(reprobePlugin);
  // A query parameter given twice arrives as an array, which every schema here would report as
  // "expected number, received NaN": say what is wrong instead.
  app.addHook("preValidation", async (request) => {
    const repeated = Object.entries((request.query ?? {}) as Record<string, unknown>).filter(([, v]) => Array.isArray(v));
    if (repeated.length) throw new InvalidError(repeated.map(([field]) => ({ field, message: "is given more than once" })));
    // PostgreSQL's text cannot hold U+0000: refused here, naming the field, for every route,
    // instead of failing in the database as a 500.
    const nul = [...stringsWithNul(request.params, ""), ...stringsWithNul(request.query, ""), ...stringsWithNul(request.body, "")];
    if (nul.length) throw new InvalidError(nul.map((field) => ({ field, message: "must not contain a NUL character (U+0000)" })));
  });
  // A compressed body is refused before it is read, as RFC 9110 §15.5.16 says (415): nothing here
  // decompresses (so no body can inflate past its limit), and a gzipped JSON body was a 400 "Body
  // is not valid JSON", which sent its sender looking for a fault in the JSON.
  app.addHook("preParsing", async (request) => {
    const coding = request.headers["content-encoding"];
    const hasBody = request.headers["transfer-encoding"] !== undefined || Number(request.headers["content-length"] ?? 0) > 0;
    if (hasBody && coding !== undefined && coding.trim().toLowerCase() !== "identity") {
      throw new HttpError(415, `a body with Content-Encoding ${coding.slice(0, 100)} is not accepted: send it uncompressed, without Content-Encoding`);
    }
  });
  // A front end that sets Content-Type: application/json on every request sends it with an
  // empty body too: that is no body (routes whose body is optional accept it), not a 400.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (body === "") done(null, undefined);
    else parseJson(request, body as string, (err, value) => done(err && poisoned(body as string) ? prototypeKey() : err, value));
  });
  // Before the deadline and auth: a preflight carries no token, and their refusals carry the CORS
  // headers too (a page reads a 401's message, a 503's Retry-After).
  if (corsOrigins.length) await app.register(corsPlugin, { origins: corsOrigins });
  await app.register(drainPlugin, { drainMs: deadlineMs });
  // Before auth: its token lookup is a database query too.
  await app.register(deadlinePlugin, { deadlineMs });
  await app.register(authPlugin, { requireAuthForReads });

  await app.register(healthRoutes, { errorDetails });
  await app.register(webRoutes);
  await app.register(
    async (v1) => {
      v1.decorate("datasetImports", options.datasetImports ?? new DatasetImports((id) => v1.log.info({ dataset: id }, "an import of the dataset waits for the one running"), options.database));
      v1.decorate("recentScans", new RecentScans());
      await v1.register(userRoutes);
      await v1.register(tokenRoutes);
      await v1.register(datasetRoutes);
      await v1.register(recordingRoutes);
      await v1.register(recordingTagRoutes);
      await v1.register(playbackRoutes, { maxSamples: options.maxPlaybackSamples });
      await v1.register(statsRoutes);
      await v1.register(clipRoutes);
      await v1.register(clipTableRoutes);
      await v1.register(noteRoutes);
      await v1.register(tagRoutes);
      await v1.register(runRoutes);
      await v1.register(jobRoutes);
      await v1.register(artifactRoutes);
      await v1.register(trashRoutes);
      if (options.tiles) {
        v1.decorate("tiles", options.tiles);
        await v1.register(tileRoutes, { limits: tileLimits, deadlineMs: tileDeadlineMs });
      }
    },
    { prefix: "/v1" },
  );
  return app;
}

/**
 * Whether `body`, which the JSON parser refused, is well-formed JSON: then it was refused for a
 * `__proto__` key or a `constructor.prototype` (Fastify's protection against prototype
 * poisoning), and the client is told so instead of "Body is not valid JSON".
 */
function poisoned(body: string): boolean {
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}

function prototypeKey(): InvalidError {
  return new InvalidError([{ field: "body", message: "must not hold a key __proto__ or constructor.prototype (they would change the prototype of the objects read from it)" }]);
}

/**
 * Field paths ("message", "data.targets.0") of the strings in a parsed query or body that contain
 * U+0000, depth first. A loop over a stack, not recursion: a 10 kB body nested 5000 deep exhausted
 * the call stack (a 500 for any token holder). Only containers and the strings holding U+0000 are
 * stacked, each with its place, and a path is spelt only for a string found: spelling every
 * value's path took 0.4 s of the main thread for a 1 MiB body `{"name":[1,1,…]}`.
 */
function stringsWithNul(value: unknown, path: string): string[] {
  /** A container's place: its key, in its parent's. */
  interface Place { key: string; parent: Place | undefined }
  const spell = (place: Place): string => {
    const keys: string[] = [];
    for (let p: Place | undefined = place; p; p = p.parent) if (p.key) keys.push(p.key);
    return keys.reverse().join(".") || "body";
  };
  const worthVisiting = (v: unknown) => (typeof v === "string" ? v.includes("\0") : v !== null && typeof v === "object");
  const found: string[] = [];
  const stack: [unknown, Place][] = worthVisiting(value) ? [[value, { key: path, parent: undefined }]] : [];
  while (stack.length) {
    const [v, place] = stack.pop()!;
    if (typeof v === "string") {
      found.push(spell(place));
      continue;
    }
    const container = v as Record<string, unknown>;
    const keys = Object.keys(container);
    // Pushed last first, so that the fields are named in the order they were sent.
    for (let i = keys.length - 1; i >= 0; i--) {
      if (worthVisiting(container[keys[i]])) stack.push([container[keys[i]], { key: keys[i], parent: place }]);
    }
  }
  return found;
}
