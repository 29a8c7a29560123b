/**
 * The statuses a route answers beyond its own, whatever its handler does. They are added to each
 * route's declared responses in one place (an onRoute hook, app.ts), so that the OpenAPI document
 * lists every status the routes answer — the route files declare only their own:
 * - 400: the zod schemas' validation, and the checks app.ts makes of every request (a query
 *   parameter given twice, a NUL character), so every route;
 * - 401: every route but the public ones — a wrong or malformed token is refused on all of them,
 *   even where none is needed (plugins/auth.ts);
 * - 403: routes whose role (plugins/auth.ts neededRole) a token's user can lack, and on loopback
 *   the reads that need no token, refused without one to a Host that is no loopback name;
 * - 413 and 415: methods Fastify reads a body for (POST, PUT, PATCH, DELETE), whether or not the
 *   route takes one: a body over the limit, or one that is not JSON (plugins/errors.ts);
 * - 503: the answer's deadline (plugins/deadline.ts), an unreachable database, a server closing
 *   (plugins/drain.ts), a record kept busy by other changes (store BusyError), with Retry-After
 *   where repeating the request is safe.
 * 401, 403 and 503 declare the headers they carry (WWW-Authenticate, Retry-After).
 * A status a route declares itself keeps its own schema and description — but a 403 declared as
 * the bare error body, which the token's refusal can be too, takes the common one's (its header).
 */
import { STATUS_CODES } from "node:http";
import type { RouteOptions } from "fastify";
import { isPublicRoute, neededRole, roleCanRefuse } from "./plugins/auth.js";
import { errorBody, errorWithHeaders, RETRY_AFTER_HEADER } from "./schemas.js";

/** The methods whose requests Fastify parses a body for (its "bodywith" methods that routes here use). */
const BODY_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

const responses = {
  400: errorBody.describe("Bad Request: a field is invalid (`fields` names each)"),
  // RFC 6750 §3: a 401 names the scheme a token is sent with, and what was wrong with the one
  // sent; a 403 of the token's user's role what it lacks (plugins/errors.ts, plugins/auth.ts).
  401: errorWithHeaders("Unauthorized: a wrong, disabled or malformed token, or none where one is needed", {
    "WWW-Authenticate": `Bearer realm="sonotile" — send the token as Authorization: Bearer <token>. For a token that does not authenticate also error="invalid_token" and an error_description saying why: the token is unknown, is malformed, is disabled, has expired, or the token's user is disabled or was deleted`,
  }),
  403: errorWithHeaders("Forbidden: the token's user lacks the role this needs (or, where a route says so, is not the record's creator), a request without a token names this server by a Host that is no loopback name or came through a proxy, or the route's own refusal (such as a dataset directory outside the audio roots)", {
    "WWW-Authenticate": `Bearer realm="sonotile", error="insufficient_scope" and an error_description saying what it takes (e.g. "this needs the admin role") when the token's user may not do this; Bearer realm="sonotile" alone when a request without a token was refused (a token would be answered); absent on the route's own refusals`,
  }),
  413: errorBody.describe("Content Too Large: the body is over the limit"),
  415: errorBody.describe("Unsupported Media Type: the body is not sent as application/json"),
  503: errorWithHeaders("Service Unavailable: no answer within the deadline, the database is unavailable, or a record is busy with other changes", RETRY_AFTER_HEADER),
};

/**
 * What a status means for an operation, for the responses its route declares without saying — the
 * bare error body, a 2xx record or page — which @fastify/swagger documented as "Default Response"
 * (275 of 788 responses): a success, by the operation's summary; an error, by what it means on
 * every route that declares it (the message says which record or value, and what to do).
 * `url` is the route's (`/v1/recordings/:id/tags`). Undefined for a status no route declares so.
 */
export function responseDescription(status: string, summary: string | undefined, url: string): string | undefined {
  if (/^2/.test(status)) return `${STATUS_CODES[status]}${summary ? ` — ${summary}` : ""}`;
  // The record the path's first id names: /v1/recordings/:id/… a recording's.
  const named = /^\/v1\/(\w+?)s?\/:id(\/|$)/.exec(url)?.[1];
  return {
    400: responses[400].description,
    404: named
      ? `Not Found: no ${named} has the path's id, or another record the request names does not exist (the message names it)`
      : "Not Found: a record the request names (an id in the body or query) does not exist (the message names it)",
    409: "Conflict: the request does not fit the records as they are — one archived or trashed (read-only), in a state this does not apply to, a recording whose file changed since it was registered, or a value another record holds (`fields` names it); the message says which and what to do",
    // Only an artifact's file answers 410.
    410: "Gone: the artifact has expired (past its expire_at, not archived): its file is no longer served, and cleanup deletes it",
    // The recording routes that read its file: the audio, playback, the spectrograms, a refresh.
    422: "Unprocessable Content: the recording's file cannot be used — no regular file at its path, audio the server cannot decode, or samples that cannot be analysed (the message says why)",
  }[status];
}

/** The statuses `route` answers whatever its handler does, with their error bodies. */
function commonResponses(route: Pick<RouteOptions, "method" | "config">, requireAuthForReads: boolean): Partial<typeof responses> {
  const config = (route.config ?? {}) as Parameters<typeof neededRole>[0];
  const methods = [route.method].flat();
  const common: Partial<typeof responses> = { 400: responses[400] };
  if (!isPublicRoute(route)) {
    common[401] = responses[401];
    const needed = methods.map((m) => neededRole(config, m, requireAuthForReads));
    if (needed.some((role) => roleCanRefuse(role) || role === "anonymous")) common[403] = responses[403];
  }
  if (methods.some((m) => BODY_METHODS.has(m))) Object.assign(common, { 413: responses[413], 415: responses[415] });
  common[503] = responses[503];
  return common;
}

/**
 * The security of a route that answers with a token or without one — the reads that need no token
 * on loopback (requireAuthForReads false, plugins/auth.ts neededRole): bearer, or nothing (OpenAPI
 * 3.0.3 §4.7.30, an empty requirement making it optional). With the document's global bearer
 * requirement alone, a generated client demanded a token for them.
 */
const OPTIONAL_BEARER = [{ bearer: [] }, {}];

/**
 * Adds commonResponses to a documented route's schema (hidden routes are left alone), takes a
 * public route out of the document's global bearer requirement (/health answers without a token),
 * and makes the token optional on a route every method of which a request without one may use.
 */
export function declareCommonResponses(route: RouteOptions, requireAuthForReads: boolean): void {
  const schema = route.schema as { hide?: boolean; response?: Record<string, unknown>; security?: unknown[] } | undefined;
  if (!schema || schema.hide) return;
  const common = commonResponses(route, requireAuthForReads);
  // A route's own 403 (someone else's record, a directory outside the audio roots) is declared as
  // the bare error body; the token's refusal on the same route carries WWW-Authenticate.
  const own = schema.response?.[403] === errorBody && !isPublicRoute(route) ? { 403: responses[403] } : {};
  schema.response = { ...common, ...schema.response, ...own };
  if (isPublicRoute(route)) schema.security = [];
  else if ([route.method].flat().every((m) => neededRole((route.config ?? {}) as Parameters<typeof neededRole>[0], m, requireAuthForReads) === "anonymous")) schema.security = OPTIONAL_BEARER;
}
