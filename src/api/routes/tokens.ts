/**
 * /v1/tokens: API tokens. Anyone with a token manages their own tokens (creates them, disables
 * them); admins manage everyone's, and only they re-enable a disabled token. The key is in the
 * creation response only — it is stored as a SHA-256 hash.
 */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { FastifyRequest } from "fastify";
import type { Sql } from "../../store/db.js";
import { NotFoundError } from "../../store/errors.js";
import { createToken, getToken, listTokens, setTokenEnabled } from "../../store/tokens.js";
import { getUser } from "../../store/users.js";
import { forbidden, requireRole } from "../plugins/auth.js";
import { HttpError } from "../plugins/errors.js";
import { errorBody, id, idParams, page, pageQuery, label, timestamp } from "../schemas.js";

const tokenSchema = z.object({
  id: z.uuid(),
  user_id: z.uuid(),
  name: z.string(),
  key_prefix: z.string().describe("First characters of the key, to tell tokens apart"),
  enabled: z.boolean(),
  created_at: timestamp,
  created_by: z.uuid().nullable(),
  expires_at: timestamp.nullable().describe("When the key stops authenticating (a 401 saying it expired); null: never"),
});

/** A new token's expiry: an ISO 8601 date-time with its offset, in the future. */
const expiresAt = z.iso
  .datetime({ offset: true, error: "must be an ISO 8601 date-time with its offset, e.g. 2027-03-31T00:00:00Z" })
  // Not a date-time (NaN) is the format's refusal alone.
  .refine((text) => !(Date.parse(text) <= Date.now()), "must be in the future")
  .nullable()
  .optional()
  .describe("When the key stops authenticating; absent or null: never");

/** The acting user, allowed to act on `userId`'s tokens (themselves, or any as admin). */
function actorFor(request: FastifyRequest, userId: string) {
  const actor = requireRole(request, "viewer");
  if (actor.id !== userId && actor.role !== "admin") throw forbidden(`only admins manage other users' tokens; user ${actor.username} is ${actor.role}`, "only admins manage other users' tokens");
  return actor;
}

/**
 * Token `id` as the caller may see it: another user's token is, to a non-admin, as missing as one
 * that does not exist (404, the same message) — a 403 told which ids were real tokens.
 */
async function visibleToken(request: FastifyRequest, sql: Sql, id: string) {
  const actor = requireRole(request, "viewer");
  const token = await getToken(sql, id);
  if (token.user_id !== actor.id && actor.role !== "admin") throw new NotFoundError("token", id);
  return token;
}

export const tokenRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ["tokens"];
  app.get("/tokens", {
    config: { role: "viewer" },
    schema: {
      summary: "List tokens (your own; admins: anyone's)", tags,
      querystring: z.strictObject({ ...pageQuery, user_id: id.optional() }),
      response: { 200: page(tokenSchema), 403: errorBody },
    },
  }, async (request) => {
    const actor = requireRole(request, "viewer");
    const user_id = request.query.user_id ?? (actor.role === "admin" ? undefined : actor.id);
    if (user_id !== undefined) actorFor(request, user_id);
    return listTokens(app.db.sql, { ...request.query, user_id });
  });

  app.post("/tokens", {
    config: { role: "viewer" },
    schema: {
      summary: "Create a token; the key is shown in this response only", tags,
      body: z.strictObject({ name: label(255), user_id: id.optional().describe("Owner (default: you; others: admins only)"), expires_at: expiresAt }),
      response: { 201: z.object({ token: tokenSchema, key: z.string().describe("The secret key: store it now, it cannot be shown again") }), 400: errorBody, 403: errorBody, 404: errorBody, 409: errorBody },
    },
  }, async (request, reply) => {
    const actor = requireRole(request, "viewer");
    const owner = request.body.user_id ?? actor.id;
    actorFor(request, owner);
    const user = await getUser(app.db.sql, owner);
    if (!user.enabled) throw new HttpError(409, `user ${user.username} is disabled: enable them first (PATCH /v1/users/${user.id})`);
    return reply.code(201).send(await createToken(app.db.sql, { user_id: owner, name: request.body.name, created_by: actor.id, expires_at: request.body.expires_at }));
  });

  app.get("/tokens/:id", {
    config: { role: "viewer" },
    schema: { summary: "Get a token", tags, params: idParams, response: { 200: tokenSchema, 403: errorBody, 404: errorBody } },
  }, async (request) => visibleToken(request, app.db.sql, request.params.id));

  app.patch("/tokens/:id", {
    config: { role: "viewer" },
    schema: {
      summary: "Disable or re-enable a token (re-enable: admins only)", tags, params: idParams,
      description: "Anyone may disable their own tokens; only an admin re-enables a disabled token (an admin may have disabled it).",
      body: z.strictObject({ enabled: z.boolean({ error: "must be true or false" }) }),
      response: { 200: tokenSchema, 403: errorBody, 404: errorBody },
    },
  }, async (request) => {
    const token = await visibleToken(request, app.db.sql, request.params.id);
    const actor = requireRole(request, "viewer");
    // Owners re-enabling their tokens had undone an admin's disabling of a member's token (the
    // member's other token sufficed): whoever disabled it, only an admin turns it back on.
    if (request.body.enabled && !token.enabled && actor.role !== "admin") {
      throw forbidden(`only admins re-enable a disabled token (an admin may have disabled it); user ${actor.username} is ${actor.role} — create a new token instead`, "only admins re-enable a disabled token");
    }
    return setTokenEnabled(app.db.sql, request.params.id, request.body.enabled);
  });
};
