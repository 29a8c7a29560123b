/**
 * Token authentication and role checks (SPEC §10), as one onRequest hook:
 * - `Authorization: Bearer <key>` identifies the user; a wrong or disabled key is 401 on
 *   every route (a client must learn its token is bad even where none is needed).
 * - Reading needs no token when the server listens on loopback only; otherwise (option
 *   `requireAuthForReads`) every route except the public ones does.
 * - Mutating routes need at least the `member` role; a route can demand another role with
 *   `config: { role }`. No token: 401; a token whose user lacks the role: 403.
 * Routes marked `config: { public: true }` are never checked: /health, for load balancers and
 * orchestrators that probe without a token, and the viewer's static files, which a browser loads
 * before the page can send one (they hold no data). The OpenAPI document and its UI are reads
 * like any other.
 */
import fp from "fastify-plugin";
import type { FastifyRequest } from "fastify";
import { authenticate } from "../../store/tokens.js";
import type { Role, User } from "../../store/users.js";
import { HttpError } from "./errors.js";

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
    /** Never authenticated (health, version). */
    public?: boolean;
  }
}

const RANK: Record<Requirement, number> = { anonymous: 0, viewer: 1, member: 2, admin: 3 };
/** Methods that only read: open to anyone on loopback (see the header), safe to repeat. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

/** Throws 403 unless `user` has at least `role` (for checks inside handlers, e.g. ownership). */
export function requireRole(request: FastifyRequest, role: Role): User {
  const user = request.user;
  if (!user) throw new HttpError(401, "this route needs a token: send 'Authorization: Bearer <key>'");
  if (RANK[user.role] < RANK[role]) throw new HttpError(403, `this needs the ${role} role; user ${user.username} is ${user.role}`);
  return user;
}

/** The role a route needs: its `config.role`, else anonymous for reads (viewer beyond loopback) and member for writes. */
export function neededRole(config: { role?: Requirement }, method: string, requireAuthForReads: boolean): Requirement {
  return config.role ?? (SAFE_METHODS.has(method) ? (requireAuthForReads ? "viewer" : "anonymous") : "member");
}

/** Whether a token's user can lack `role`, i.e. the route can answer 403 (every token's user is at least a viewer). */
export function roleCanRefuse(role: Requirement): boolean {
  return RANK[role] > RANK.viewer;
}

export const authPlugin = fp<{ requireAuthForReads: boolean }>(async (app, options) => {
  app.decorateRequest("user", null);
  app.addHook("onRequest", async (request) => {
    const config = request.routeOptions.config;
    if (request.is404 || config.public) return;
    const header = request.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(header);
      if (!m) throw new HttpError(401, "the Authorization header must be 'Bearer <key>'");
      const found = await authenticate(app.db.sql, m[1]);
      if (!found) throw new HttpError(401, "the token is invalid or disabled");
      request.user = found.user;
    }
    const needed = neededRole(config, request.method, options.requireAuthForReads);
    if (needed !== "anonymous") requireRole(request, needed);
  });
});
