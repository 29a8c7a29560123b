/**
 * Cross-origin requests (CORS, Fetch standard §3.2), opt-in: a web app served from another origin
 * — an annotation front end on a Vite dev server at http://localhost:5173, a lab's web app — may
 * call the API from its pages, send its token (`Authorization: Bearer`) and read the headers that
 * place a tile's values (x-shape, x-frame-range…). Without origins the plugin is not registered:
 * browsers then let no other origin read an answer, as before.
 *
 * - A request from an allowed origin gets `Access-Control-Allow-Origin` and
 *   `Access-Control-Expose-Headers` on every answer, errors included (a front end reads the
 *   message of a 401 or the Retry-After of a 503 too). Other origins get no CORS header; their
 *   requests are answered as any other, and their browsers keep the answer from their pages.
 * - A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here, before
 *   the token check — a browser sends it without the request's headers, so without its token —
 *   with 204 and the path's methods for an allowed origin; 403 saying so for another origin; the
 *   path's 404 for a path no route has.
 * - Tokens are bearer headers, never cookies: no `Access-Control-Allow-Credentials`, so a page
 *   can send only a token it was given, never one the browser would add by itself.
 * - `*` allows every origin, which is safe only where every route needs a token: on loopback,
 *   reads need none, and every web page its user visits could read every recording through the
 *   user's browser. allowedOrigins refuses it there.
 * Not @fastify/cors: its catch-all route `OPTIONS *` would match every path in the 405 handler's
 * list (plugins/errors.ts: every unknown path a 405), and it names one list of methods for every
 * route, where a preflight here names the path's own (errors.ts routeMethods).
 */
import fp from "fastify-plugin";
import { GEOMETRY_HEADERS } from "../../tiles/service.js";
import { HttpError } from "./errors.js";

/** Request headers a page may send beyond the CORS-safelisted ones: the token, JSON bodies, conditional and ranged reads. */
const CORS_ALLOWED_HEADERS = ["Authorization", "Content-Type", "If-None-Match", "If-Range", "Range"];

/**
 * Response headers a page may read beyond the CORS-safelisted ones (Cache-Control, Content-Type,
 * Content-Length…): the geometry of tiles and images, the tiles a stream holds, the frames a
 * playback WAV holds (x-frame-range, a name it shares with the geometry: listed once), validators,
 * ranges, when to retry, a download's file name, a 405's methods and a 401's scheme.
 */
export const CORS_EXPOSED_HEADERS = [...new Set([
  ...Object.keys(GEOMETRY_HEADERS), "x-tile-range", "x-frame-range", "x-clips-past-end",
  "ETag", "Content-Range", "Accept-Ranges", "Retry-After", "Content-Disposition", "Allow", "WWW-Authenticate",
])];

/** How long (s) a browser may reuse a preflight's answer: short, so that a restart with other origins takes effect soon. */
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * `text` as the origin a browser sends (URL#origin: scheme and host in lower case, the scheme's
 * default port left out), or what is wrong with it: a CORS origin is `scheme://host[:port]`,
 * http or https, with no path (not even "/"), query, fragment or user.
 */
export function parseOrigin(text: string): { origin: string } | { problem: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: `'${text}' is not a URL origin (scheme://host[:port], e.g. http://localhost:5173)` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { problem: `'${text}': the scheme must be http or https (scheme://host[:port], e.g. http://localhost:5173)` };
  if (url.username || url.password || !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]+$/i.test(text)) {
    return { problem: `'${text}' is not an origin: scheme://host[:port], without a path, query or user (did you mean ${url.origin}?)` };
  }
  return { origin: url.origin };
}

/**
 * `given` as a server's allowed origins: each as parseOrigin reads it, or `*` alone — only where
 * `requireAuthForReads` (the header above says why); else what is wrong with them.
 */
export function allowedOrigins(given: readonly string[], requireAuthForReads: boolean): { origins: string[] } | { problem: string } {
  if (given.includes("*")) {
    if (given.length > 1) return { problem: "'*' (every origin) stands alone: give either '*' or a list of origins" };
    if (!requireAuthForReads) {
      return { problem: "'*' (every origin) is refused on loopback, where reads need no token: every web page a user of this machine visits could read every recording; name the front end's origins, or listen beyond loopback (--host), where every route needs a token" };
    }
    return { origins: ["*"] };
  }
  const origins: string[] = [];
  for (const text of given) {
    const parsed = parseOrigin(text);
    if ("problem" in parsed) return parsed;
    origins.push(parsed.origin);
  }
  return { origins };
}

/**
 * @param origins the allowed origins as allowedOrigins reads them — each `scheme://host[:port]`
 *   (parseOrigin), or ["*"] — checked by buildApp (appSettingsOf) when the app is built, and by
 *   serve first, as a usage error.
 */
export const corsPlugin = fp<{ origins: readonly string[] }>(async (app, options) => {
  const any = options.origins[0] === "*";
  const allowed = new Set(options.origins);
  const exposed = CORS_EXPOSED_HEADERS.join(", ");

  app.addHook("onRequest", async (request, reply) => {
    const origin = request.headers.origin;
    // A bare OPTIONS, without Origin and the method it asks about, is no preflight: a 405 as before.
    const preflight = request.method === "OPTIONS" && origin !== undefined && request.headers["access-control-request-method"] !== undefined;
    if (any) {
      reply.header("Access-Control-Allow-Origin", "*").header("Access-Control-Expose-Headers", exposed);
    } else {
      // The answer depends on the Origin: shared caches must keep one per origin (Fetch §3.2.5).
      reply.header("Vary", "Origin");
      if (origin !== undefined && allowed.has(origin)) reply.header("Access-Control-Allow-Origin", origin).header("Access-Control-Expose-Headers", exposed);
      else if (preflight) throw new HttpError(403, `pages of ${origin!.slice(0, 200)} may not call this API: the origins that may (CORS) are given to sonotile serve with --cors-origin`);
      else return;
    }
    if (!preflight) return;
    const methods = app.routeMethods(request.url.split("?")[0]);
    if (!methods.length) return; // no such path: its 404
    return reply.code(204)
      .header("Access-Control-Allow-Methods", methods.join(", "))
      .header("Access-Control-Allow-Headers", CORS_ALLOWED_HEADERS.join(", "))
      .header("Access-Control-Max-Age", String(PREFLIGHT_MAX_AGE_S))
      .send();
  });
});
