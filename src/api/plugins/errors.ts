/**
 * Every error leaves the API as JSON a person can act on: `{statusCode, error, message}`,
 * plus `fields` naming each invalid field for a 400 (one left out `is required`), and for a 409
 * the field whose value another record holds (a dataset's name, a user's username). Store errors map to 400/404/409 (a write
 * naming the requesting user, deleted since the request was authenticated, to 401), an
 * unreachable database to 503 (postgres.js reconnects by itself, so the next request after
 * the database returns succeeds), a transaction that kept losing conflicts (BusyError) to 503 with
 * Retry-After, one out of resources (disk full) to 503, and so does an answer
 * that the bound on answers waiting for slow clients refuses (unsent-bytes.ts); Fastify's own
 * errors (413 body too large, bad JSON) keep their status with their message, a 415 says to send
 * JSON (or what the route's `consumes` lists), a malformed percent-encoding in the path is a 400
 * naming the path parameter it falls in (frameworkRefusal), and anything else is a logged 500.
 * A path that exists with other methods is a 405 with `Allow` (RFC 9110 §15.5.6), not a 404.
 */
import fp from "fastify-plugin";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { STATUS_CODES } from "node:http";
import { connectionErrorText, databaseOutageLog, isConnectionError, type DatabaseOutageLog } from "../../store/db.js";
import { BusyError, ConflictError, InvalidError, MissingUserError, NotFoundError } from "../../store/errors.js";
import { DirectoryGoneError } from "../../store/paths.js";
import { TableFaultsError } from "../../store/selection-table.js";
import { SAFE_METHODS } from "../methods.js";
import { UnsentBytesFullError } from "../unsent-bytes.js";

declare module "fastify" {
  interface FastifyInstance {
    /**
     * The methods of the routes whose path matches request path `path` (without its query),
     * sorted, HEAD included: what a 405's Allow names, and a CORS preflight (plugins/cors.ts).
     */
    routeMethods(path: string): string[];
    /**
     * What this server says of a database outage — once an outage, as warnings —: `serve`'s job
     * worker, in process, says its own outages here, so that one outage is not said twice.
     */
    databaseOutage: DatabaseOutageLog;
    /**
     * Answers the router's own refusals (Fastify's `frameworkErrors`, app.ts) in the body of every
     * other refusal: a malformed percent-encoding in the path a 400 naming the path parameter it
     * falls in (badEncodingRefusal), anything else (a segment over the length limit) with its status
     * and Fastify's message.
     */
    frameworkRefusal(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply;
  }
}

/**
 * What a refusal's `WWW-Authenticate` challenge says beside the scheme (RFC 6750 §3): nothing when
 * the request sent no token (or one of another scheme); else `error` — `invalid_token` for a 401
 * whose token does not authenticate, `insufficient_scope` for a 403 whose token's user may not do
 * this — and `description`, which says which (ASCII without `"` or `\`, as the RFC's grammar allows).
 */
export interface BearerChallenge {
  error?: "invalid_token" | "insufficient_scope";
  description?: string;
}

/** The `WWW-Authenticate` value of `challenge`. */
export function bearerChallenge(challenge: BearerChallenge): string {
  const params = ['realm="sonotile"'];
  if (challenge.error) params.push(`error="${challenge.error}"`);
  if (challenge.description) params.push(`error_description="${challenge.description}"`);
  return `Bearer ${params.join(", ")}`;
}

/** An error with an HTTP status, thrown by route handlers and hooks (401, 403, 416, ...). */
export class HttpError extends Error {
  /**
   * @param challenge the WWW-Authenticate challenge the answer carries (a 401 without one names
   *   the scheme alone); absent on a refusal no token would change (a directory outside the audio roots)
   */
  constructor(readonly statusCode: number, message: string, readonly challenge?: BearerChallenge) {
    super(message);
    this.name = "HttpError";
  }
}

/** The body of every error answer: `{statusCode, error, message}`, and `fields` when given. */
export function errorBody(statusCode: number, message: string, fields?: { field: string; message: string }[]) {
  return { statusCode, error: STATUS_CODES[statusCode] ?? "Error", message, ...(fields ? { fields } : {}) };
}

export function sendError(reply: FastifyReply, statusCode: number, message: string, fields?: { field: string; message: string }[]) {
  return reply.code(statusCode).type("application/json").send(errorBody(statusCode, message, fields));
}

/**
 * How many invalid fields a 400 lists; the rest are counted. A body of 90,000 unknown keys (under
 * the 1 MiB limit) was answered with each named twice: 7 MB, built and sent on the main thread for
 * 1–2 s while every other request waited.
 */
const MAX_LISTED_FIELDS = 20;

/** The invalid fields of a 400: the first MAX_LISTED_FIELDS made (only they are), the others counted. */
class ListedFields {
  readonly listed: { field: string; message: string }[] = [];
  unlisted = 0;
  /** @param max how many are listed: MAX_LISTED_FIELDS, or a selection table's faults whole (their first 100 and the count of the rest, for one pass over the file). */
  constructor(private readonly max = MAX_LISTED_FIELDS) {}
  /** Adds `count` fields, the i-th made by `field(i)` if it is listed. */
  add(count: number, field: (i: number) => { field: string; message: string }) {
    const listing = Math.min(count, this.max - this.listed.length);
    for (let i = 0; i < listing; i++) this.listed.push(field(i));
    this.unlisted += count - listing;
  }
}

/**
 * A 400 naming `fields`: the message `prefix` and each listed field with its message, then "… and N
 * more"; `fields` the listed ones, then one entry for `part` ("body", "query", "request") counting
 * the unlisted ones.
 */
function sendInvalid(reply: FastifyReply, prefix: string, part: string, fields: ListedFields) {
  const message = `${prefix}${fields.listed.map((f) => `${f.field}: ${f.message}`).join("; ")}${fields.unlisted ? `; … and ${fields.unlisted} more` : ""}`;
  const more = fields.unlisted ? [{ field: part, message: `and ${fields.unlisted} more invalid fields, not listed` }] : [];
  return sendError(reply, 400, message, [...fields.listed, ...more]);
}

/** "/a/0/b" → ["a", "0", "b"]: the keys of a field, as apiValidatorCompiler (schemas.ts) joins them into an instancePath. */
function fieldKeys(instancePath: string): string[] {
  return instancePath.split("/").filter(Boolean);
}

/** "/a/0/b" → "a.0.b" — the field path as people write it. */
function fieldPath(context: string | undefined, instancePath: string): string {
  return fieldKeys(instancePath).join(".") || (context === undefined ? "body" : requestPart(context));
}

/**
 * The part of `request` Fastify's validation context names, as the client sent it: a part that
 * failed validation is left as it was read (its parsed value replaces it only once it passes).
 */
function sentPart(request: FastifyRequest, context: string | undefined): unknown {
  return context === "querystring" ? request.query : context === "params" ? request.params : context === "headers" ? request.headers : request.body;
}

/** Whether the field at `keys` is absent from `sent` (JSON and query strings hold no undefined: absent is left out). */
function isAbsent(sent: unknown, keys: readonly string[]): boolean {
  let value = sent;
  for (const key of keys) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return true;
    value = (value as Record<string, unknown>)[key];
  }
  return value === undefined;
}

/**
 * What a validation issue says of its field: `is required` when the request left the field out.
 * A field's schema says what a value of it must be ("must be a string", the UUID rule), and zod
 * hands it an absent field as `undefined` — which read as a value sent in the wrong form (POST
 * /v1/clips without recording_id answered "recording_id: must be an RFC 9562 UUID…"). A rule's
 * own issue (code `custom`) keeps its words, which say what the field is needed beside (tag_value
 * "needs tag_key"); so does an issue of a whole request part, which names no field.
 */
function issueMessage(issue: { keyword: string; instancePath: string; message?: string }, sent: unknown): string {
  const keys = fieldKeys(issue.instancePath);
  if (keys.length && issue.keyword !== "custom" && isAbsent(sent, keys)) return "is required";
  return issue.message ?? "is invalid";
}

/**
 * The part of a request Fastify's validation context names, as a person calls it: the messages
 * of the spectrogram routes' own checks say "invalid query:", and the schema's said "invalid
 * querystring:" for the same query.
 */
function requestPart(context: string | undefined): string {
  return context === "querystring" ? "query" : context === "params" ? "path" : (context ?? "request");
}

/** A PostgreSQL error of SQLSTATE class 53, insufficient resources (postgres.js: `severity` set, `code` the SQLSTATE). */
function isOutOfResources(err: { code?: string; severity?: unknown }): boolean {
  return typeof err.severity === "string" && typeof err.code === "string" && err.code.startsWith("53");
}

/** How often the API asks an unreachable database whether it is back (errorsPlugin's watchOutage). */
const DATABASE_PROBE_MS = 2000;

/**
 * @param errorDetails say why the database is unavailable (its error names hosts and ports): off
 *   beyond loopback, where a 503 also reaches a client whose token could not be looked up yet.
 */
export const errorsPlugin = fp<{ errorDetails: boolean }>(async (app, options) => {
  const outage = databaseOutageLog((message) => app.log.warn(message));
  app.decorate("databaseOutage", outage);
  let probe: NodeJS.Timeout | undefined;
  let closed = false;
  /** Asks the database every DATABASE_PROBE_MS until it answers, then says it is back. */
  const probeUntilReachable = () => {
    if (closed) return; // the database closes after the server: its failures then are no outage
    probe = setTimeout(() => {
      app.db.sql`SELECT 1`.then(() => outage.reachable(), probeUntilReachable);
    }, DATABASE_PROBE_MS).unref();
  };
  /**
   * Says a request found the database unreachable (`why`) — once an outage: a warning with its stack
   * for every 503 flooded serve's log while a viewer fetched tiles — and from then on probes it, to
   * say once that it is back whether or not requests come.
   */
  const watchOutage = (why: string) => {
    if (outage.unreachable(`database unreachable (${why}): requests that need it are answered 503 until it is back`)) probeUntilReachable();
  };
  app.addHook("onClose", async () => {
    closed = true;
    clearTimeout(probe);
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    // A schema's refusal: the zod issues apiValidatorCompiler (schemas.ts) gives Fastify.
    if (err.validation?.length) {
      const where = err.validationContext;
      const sent = sentPart(request, where);
      const fields = new ListedFields();
      for (const v of err.validation) {
        // An unknown key is blamed on the key itself, so the caller sees which name was wrong.
        const keys = (v.params as { keys?: unknown }).keys;
        if (v.keyword === "unrecognized_keys" && Array.isArray(keys)) {
          fields.add(keys.length, (i) => ({ field: fieldPath(where, `${v.instancePath}/${String(keys[i])}`), message: "is not a known field" }));
        } else {
          fields.add(1, () => ({ field: fieldPath(where, v.instancePath), message: issueMessage(v, sent) }));
        }
      }
      return sendInvalid(reply, `invalid ${requestPart(where)}: `, requestPart(where), fields);
    }
    if (err instanceof MissingUserError && request.user && err.userId === request.user.id) {
      // Deleted (DELETE /v1/users/{id}) after this request was authenticated: the write names
      // them as its author (created_by) or owner, and was refused.
      reply.header("WWW-Authenticate", bearerChallenge({ error: "invalid_token", description: "the token's user was deleted" }));
      return sendError(reply, 401, `user ${request.user.username}, who made this request, was deleted after it was authenticated: its write, which names them, was refused`);
    }
    // A dataset's directory gone: 404, as its recordings' files missing with it are (recording-file.ts).
    if (err instanceof DirectoryGoneError) return sendError(reply, 404, err.reason);
    if (err instanceof InvalidError) {
      // A table's faults are bounded where made: the cap cut them to 20 and counted their own "and N more" as one.
      const fields = err instanceof TableFaultsError ? new ListedFields(err.fields.length) : new ListedFields();
      fields.add(err.fields.length, (i) => err.fields[i]);
      return sendInvalid(reply, "", "request", fields);
    }
    if (err instanceof NotFoundError) return sendError(reply, 404, err.message);
    if (err instanceof ConflictError) return sendError(reply, 409, err.message, err.field ? [{ field: err.field, message: err.fieldMessage }] : undefined);
    if (err instanceof HttpError) {
      // RFC 6750 §3: a 401 names the scheme the client should use, and what was wrong with the
      // token sent; a 403 of the token's user's role what it lacks.
      const challenge = err.challenge ?? (err.statusCode === 401 ? {} : undefined);
      if (challenge) reply.header("WWW-Authenticate", bearerChallenge(challenge));
      return sendError(reply, err.statusCode, err.message);
    }
    // Tiles, images and playback (unsent-bytes.ts): retried once slower clients have taken their answers.
    if (err instanceof UnsentBytesFullError) return sendError(reply.header("Retry-After", "5"), 503, err.message);
    // A transaction that lost its conflicts every time (store/common.ts inTransaction) was rolled
    // back: repeating it is safe, a write's too.
    if (err instanceof BusyError) return sendError(reply.header("Retry-After", String(err.retryAfterS)), 503, err.message);
    if (isConnectionError(err)) {
      // The outage in one line (watchOutage); each request's error, with its stack, at the info level (serve --verbose).
      request.log.info({ err }, "database unavailable");
      watchOutage(connectionErrorText(err));
      const why = options.errorDetails ? ` (${err.code}: ${err.message})` : "";
      // Retry-After for a read, as the deadline's 503 has: clients that retry by themselves wait
      // for it. Not for a write: a connection lost after its COMMIT was sent may have made it.
      if (SAFE_METHODS.has(request.method)) reply.header("Retry-After", "5");
      return sendError(reply, 503, `the database is unavailable${why}; the server reconnects by itself — retry in a few seconds`);
    }
    if (isOutOfResources(err)) {
      // SQLSTATE class 53 (disk full, out of memory, too many connections): the database refused
      // the statement, changing nothing, and takes the next one once it has room again.
      request.log.error({ err }, "database out of resources");
      const what = err.code === "53100" ? "out of disk space" : err.code === "53200" ? "out of memory" : "out of resources";
      return sendError(reply, 503, `the database is ${what} (SQLSTATE ${err.code}); nothing was changed — retry once its administrator has made room`);
    }
    if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      // Typically `curl -d '{…}'` without -H, which sends application/x-www-form-urlencoded.
      // A route that takes more than JSON (a table's text: routes/clip-tables.ts) names what it takes.
      const type = request.headers["content-type"];
      const consumes = (request.routeOptions.schema as { consumes?: string[] } | undefined)?.consumes;
      const send = consumes ? `send it with a Content-Type of ${consumes.join(", ")}` : "send it as JSON with Content-Type: application/json";
      return sendError(reply, 415, `${type ? `a body of Content-Type ${type} is not accepted` : "the body has no Content-Type"}: ${send}`);
    }
    if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
      const message = err.code === "FST_ERR_CTP_BODY_TOO_LARGE" ? `request body is larger than the limit of ${request.routeOptions.bodyLimit ?? app.initialConfig.bodyLimit} bytes` : err.message;
      return sendError(reply, err.statusCode, message);
    }
    // A client that went away (its work then cancelled, e.g. clientLeft in routes/tiles.ts) gets no
    // answer; its leaving is no fault of the server's.
    // (The connection, not the request stream: Node destroys that once a body has been read.)
    if (request.raw.socket?.destroyed) request.log.info({ err: err.message }, "the client left before its answer");
    else request.log.error({ err }, "unhandled error");
    return sendError(reply, 500, "internal server error; the server log has the details");
  });

  // Every route's path (with its prefix), as a pattern and as written, with its methods: what a 405 allows.
  const routes: { url: string; pattern: RegExp; methods: string[] }[] = [];
  app.addHook("onRoute", (route) => {
    routes.push({ url: route.url ?? "", pattern: pathPattern(route.url ?? ""), methods: [route.method].flat() });
  });
  app.decorate("frameworkRefusal", (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err.code !== "FST_ERR_BAD_URL") return sendError(reply, err.statusCode ?? 400, err.message);
    const path = request.url.split("?")[0];
    const params = [...new Set(routes.flatMap((route) => undecodableParams(route.url, path) ?? []))];
    return badEncodingRefusal(reply, params);
  });
  app.decorate("routeMethods", (path: string) => [...new Set(routes.filter((r) => r.pattern.test(routedPath(path))).flatMap((r) => r.methods))].sort());
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0];
    const allowed = app.routeMethods(path);
    if (allowed.length) return sendError(reply.header("Allow", allowed.join(", ")), 405, `${request.method} is not a method of ${path}; it takes ${allowed.join(", ")}`);
    return sendError(reply, 404, `no route ${request.method} ${path}; see /docs for the API`);
  });
});

/** A route's path as a pattern of request paths: a `:param` is one segment (maybe empty, as the router takes it), a trailing `*` the rest. */
function pathPattern(url: string): RegExp {
  const literal = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  const segments = url.split("/").map((seg) => (seg.startsWith(":") ? "[^/]*" : seg === "*" ? ".*" : literal(seg)));
  return new RegExp(`^${segments.join("/")}$`);
}

/** `path` with one trailing slash dropped, as the router reads it (app.ts: ignoreTrailingSlash). */
function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/**
 * A request path as the router matches it: percent-decoded outside the parameters' slashes, one
 * trailing slash dropped (app.ts). (A malformed percent-encoding never gets here: the router
 * answers it with a 400, frameworkRefusal.)
 */
function routedPath(path: string): string {
  return withoutTrailingSlash(path).split("/").map((seg) => decodeURIComponent(seg).replaceAll("/", "%2F")).join("/");
}

/** `segment` percent-decoded; undefined when its percent-encoding is malformed (`%ff`, not UTF-8; `%zz`; a lone `%`). */
function decodedSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * The parameters of the route of path `url` (`/v1/recordings/:id/tiles/:z/:tile`) whose segments of
 * request path `path` have a malformed percent-encoding; undefined when `path` is no path of that
 * route (a fixed segment differs, or is itself malformed) or the route ends in a wildcard.
 */
function undecodableParams(url: string, path: string): string[] | undefined {
  const routeSegments = url.split("/");
  const pathSegments = withoutTrailingSlash(path).split("/");
  if (routeSegments.length !== pathSegments.length || routeSegments.includes("*")) return undefined;
  const params: string[] = [];
  for (const [i, segment] of routeSegments.entries()) {
    const decoded = decodedSegment(pathSegments[i]);
    if (segment.startsWith(":")) {
      if (decoded === undefined) params.push(segment.slice(1));
    } else if (decoded !== segment) return undefined;
  }
  return params;
}

const BAD_ENCODING = "has a malformed percent-encoding: each % must be followed by two hex digits, the bytes they encode UTF-8 text (a % itself is sent as %25)";

/**
 * The 400 of a request path whose percent-encoding does not decode, in the words of every other
 * 400 of the path: naming `params`, the path parameters it falls in (`invalid path: tile: …`), or
 * the path itself when it falls in none (a fixed segment, or no route's path). It was Fastify's
 * `'/v1/…/%ff.f32' is not a valid url component`, naming no field.
 */
function badEncodingRefusal(reply: FastifyReply, params: readonly string[]) {
  if (!params.length) return sendError(reply, 400, `the URL's path ${BAD_ENCODING}`, [{ field: "path", message: BAD_ENCODING }]);
  const fields = new ListedFields();
  fields.add(params.length, (i) => ({ field: params[i], message: BAD_ENCODING }));
  return sendInvalid(reply, "invalid path: ", "path", fields);
}
