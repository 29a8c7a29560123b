/**
 * Token authentication and role checks (SPEC §10), as one onRequest hook:
 * - `Authorization: Bearer <key>` identifies the user; a wrong, disabled or expired key is 401 on
 *   every route (a client must learn its token is bad even where none is needed), an expired one
 *   saying so. Its WWW-Authenticate challenge says which (RFC 6750 §3: `error="invalid_token"`,
 *   `error_description` the token is unknown, malformed, disabled, expired, or its user disabled);
 *   a request without a token gets the challenge alone.
 * - Reading needs no token when the server listens on loopback only — and the request is addressed
 *   to it there (its Host is a loopback name): a web page whose name an attacker rebinds to
 *   127.0.0.1 (DNS rebinding) reaches the port from the user's browser, but under its own name,
 *   and could otherwise read every listing and download every recording. Nor when a proxy passed
 *   it on (it carries Forwarded, Via, X-Forwarded-For or another of PROXY_HEADERS): a reverse proxy
 *   in front of a loopback server serves clients beyond this machine, and Apache's ProxyPass, by
 *   default, addresses the server by its loopback name. Otherwise (option `requireAuthForReads`)
 *   every route except the public ones does.
 * - Mutating routes need at least the `member` role; a route can demand another role with
 *   `config: { role }`. No token: 401; a token whose user lacks the role: 403, its challenge
 *   `error="insufficient_scope"` (refused), naming the role. A read without a token refused on
 *   loopback (below) carries the challenge alone: a token would be answered.
 * Routes marked `config: { public: true }` are never checked: /health, for load balancers and
 * orchestrators that probe without a token, and the viewer's static files, which a browser loads
 * before the page can send one (they hold no data). The OpenAPI document and its UI are reads
 * like any other.
 */
import fp from "fastify-plugin";
import type { FastifyRequest } from "fastify";
import { authenticate, TokenExpiredError, TokenRefusedError, type Refusal } from "../../store/tokens.js";
import type { Role, User } from "../../store/users.js";
import { SAFE_METHODS } from "../methods.js";
import { HttpError, type BearerChallenge } from "./errors.js";

/** A role or "anonymous" (no token needed). */
export type Requirement = Role | "anonymous";

declare module "fastify" {
  interface FastifyRequest {
    /** The authenticated user, or null without a token. */
    user: User | null;
  }
  interface FastifyContextConfig {
    /** Minimum role for this route (defaults: reads anonymous on loopback, writes member). */
    role?: Requirement;
    /** Never authenticated (/health, the viewer's files): see isPublicRoute. */
    public?: boolean;
  }
}

const RANK: Record<Requirement, number> = { anonymous: 0, viewer: 1, member: 2, admin: 3 };

/**
 * A 403 refusing what the token's user may not do (their role, or a record that is not theirs):
 * RFC 6750's `insufficient_scope`, `description` saying what it takes (ASCII, no `"`: BearerChallenge).
 */
export function forbidden(message: string, description: string): HttpError {
  return new HttpError(403, message, { error: "insufficient_scope", description });
}

/** Throws 401 without a token, 403 unless `user` has at least `role` (for checks inside handlers, e.g. ownership). */
export function requireRole(request: FastifyRequest, role: Role): User {
  const user = request.user;
  if (!user) throw new HttpError(401, "this route needs a token: send 'Authorization: Bearer <key>'");
  if (RANK[user.role] < RANK[role]) throw forbidden(`this needs the ${role} role; user ${user.username} is ${user.role}`, `this needs the ${role} role`);
  return user;
}

/**
 * Refuses (403) `action` on `record` (a `kind` such as "clip") to a member who did not create it:
 * for what is someone's own work — moving or deleting a clip, editing a note, a job's abort and retry, the
 * states of clips, notes, jobs and artifacts (state-routes.ts). `hint` says what they may do instead.
 */
export function requireCreatorOrAdmin(request: FastifyRequest, kind: string, record: { id: string; created_by: string | null }, action: string, hint = ""): void {
  const actor = requireRole(request, "member");
  if (record.created_by === actor.id || actor.role === "admin") return;
  throw forbidden(`only the ${kind}'s creator or an admin may ${action} ${kind} ${record.id}; user ${actor.username} is ${actor.role}${hint && ` (${hint})`}`, `only the ${kind}'s creator or an admin may ${action} it`);
}

/** The role a route needs: its `config.role`, else anonymous for reads (viewer beyond loopback) and member for writes. */
export function neededRole(config: { role?: Requirement }, method: string, requireAuthForReads: boolean): Requirement {
  return config.role ?? (SAFE_METHODS.has(method) ? (requireAuthForReads ? "viewer" : "anonymous") : "member");
}

/** Whether `route` is marked `config: { public: true }`: never authenticated, and so outside the bearer requirement. */
export function isPublicRoute(route: { config?: unknown }): boolean {
  return (route.config as { public?: boolean } | undefined)?.public === true;
}

/** Whether a token's user can lack `role`, i.e. the route can answer 403 (every token's user is at least a viewer). */
export function roleCanRefuse(role: Requirement): boolean {
  return RANK[role] > RANK.viewer;
}

export const authPlugin = fp<{ requireAuthForReads: boolean }>(async (app, options) => {
  app.decorateRequest("user", null);
  app.addHook("onRequest", async (request) => {
    const config = request.routeOptions.config;
    if (request.is404 || isPublicRoute(request.routeOptions)) return;
    const header = request.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(header);
      // Another scheme (Basic) sent no bearer token: the challenge alone (RFC 6750 §3.1).
      if (!m) throw new HttpError(401, "the Authorization header must be 'Bearer <key>'", /^Bearer(\s|$)/i.test(header) ? invalidToken("malformed") : undefined);
      const found = await authenticate(app.db.sql, m[1]).catch((err: unknown) => {
        if (err instanceof TokenRefusedError) throw new HttpError(401, err instanceof TokenExpiredError ? err.message : NOT_AUTHENTICATED, invalidToken(err.reason));
        throw err;
      });
      if (!found) throw new HttpError(401, NOT_AUTHENTICATED, invalidToken("unknown"));
      request.user = found.user;
    }
    const needed = neededRole(config, request.method, options.requireAuthForReads);
    if (needed !== "anonymous") requireRole(request, needed);
    else if (!request.user && !isLoopbackName(request.host)) {
      throw new HttpError(403, `this server answers without a token only requests addressed to it by a loopback name (127.0.0.1, [::1], localhost), not '${request.host.slice(0, 100)}': use one, or send a token`, {});
    } else if (!request.user) {
      const proxy = PROXY_HEADERS.find((name) => request.headers[name] !== undefined);
      if (proxy) throw new HttpError(403, `this request came through a proxy (it carries ${proxy}), which serves clients beyond this machine: send a token`, {});
    }
  });
});

/** The message of a 401 for a key that does not authenticate, but for an expired one (which says so). */
const NOT_AUTHENTICATED = "the token is invalid or disabled, or its user is disabled";

/** The challenge of a 401 for a token that does not authenticate, saying why (RFC 6750 §3.1 invalid_token). */
function invalidToken(why: Refusal | "unknown" | "malformed"): BearerChallenge {
  const description = { unknown: "the token is unknown", malformed: "the token is malformed", disabled: "the token is disabled", "user disabled": "the token's user is disabled", expired: "the token has expired" }[why];
  return { error: "invalid_token", description };
}

/**
 * Headers a proxy adds to the requests it passes on: RFC 7239's Forwarded, RFC 9110's Via (Squid
 * and Varnish add it by default), and the de-facto ones of Apache, nginx recipes, Caddy, Traefik,
 * HAProxy (X-Forwarded-*, X-Real-IP, X-Client-IP, X-Cluster-Client-IP, Forwarded-For), Akamai
 * (True-Client-IP) and Cloudflare (CF-Connecting-IP).
 */
const PROXY_HEADERS = [
  "forwarded", "via", "x-forwarded-for", "x-forwarded-host", "x-forwarded", "forwarded-for",
  "x-real-ip", "x-client-ip", "x-cluster-client-ip", "true-client-ip", "cf-connecting-ip",
] as const;

/**
 * Whether a Host header (name or address, optional port) — or the address serve binds to — names
 * the loopback interface, which only this machine can reach:
 * localhost and its subdomains (RFC 6761 §6.3: browsers resolve them to loopback themselves),
 * also written with the root's trailing dot, 127.0.0.0/8 (also IPv4-mapped), ::1. Not 0.0.0.0,
 * which some browsers also send to the local machine.
 */
export function isLoopbackName(host: string): boolean {
  // "[v6]:port", "name:port", or a bare address: an IPv6 one (two colons or more, as serve's --host takes it) has no port.
  // After "[v6]" only a port may follow: "[::1].attacker.example" is no loopback name.
  if (host.startsWith("[") && !/^\](:\d*)?$/.test(host.slice(host.indexOf("]")))) return false;
  const address = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.indexOf(":") !== host.lastIndexOf(":") ? host : host.replace(/:\d*$/, "");
  const name = address.toLowerCase().replace(/\.$/, "");
  const v4 = /^(::ffff:)?127(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
  return name === "localhost" || name.endsWith(".localhost") || name === "::1" || name === "0:0:0:0:0:0:0:1" || v4.test(name);
}
