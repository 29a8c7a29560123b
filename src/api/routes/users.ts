/** /v1/users: people who create records and own tokens. Creating, changing and deleting users is for admins. */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { FastifyRequest } from "fastify";
import { ROLES, createUser, deleteUser, getUser, listUsers, updateUser, type User } from "../../store/users.js";
import { requireRole } from "../plugins/auth.js";
import { errorBody, idParams, oneOf, page, pageQuery, text, timestamp } from "../schemas.js";

const userSchema = z.object({
  id: z.uuid(),
  username: z.string(),
  name: z.string(),
  email: z.string().nullable().optional().describe("Shown to admins and to the user themself only; absent for anyone else"),
  role: z.enum(ROLES),
  enabled: z.boolean().describe("False: none of the user's tokens authenticates, and none can be made for them"),
  created_at: timestamp,
  created_by: z.uuid().nullable().describe("The admin who created the user; null for the first admin, for users made with the CLI, and once that admin is deleted"),
});

const role = oneOf(ROLES);
const userFields = {
  name: text(0, 255).optional(),
  email: z.email({ error: "must be an e-mail address" }).max(255).nullable().optional(),
  role: role.optional(),
};

/**
 * `user` as the caller may see them: an e-mail address is for admins and its own user — any
 * viewer's token read every user's address (a security walk-through) where the name is what
 * others need to tell who made a record.
 */
function shownTo(request: FastifyRequest, user: User): User | Omit<User, "email"> {
  const actor = requireRole(request, "viewer");
  if (actor.role === "admin" || actor.id === user.id) return user;
  const { email: _, ...rest } = user;
  return rest;
}

export const userRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ["users"];
  // Users (names; e-mails to admins and their own user: shownTo) are shown to token holders only, even on loopback.
  app.get("/users", {
    config: { role: "viewer" },
    schema: { summary: "List users", tags, querystring: z.strictObject(pageQuery), response: { 200: page(userSchema) } },
  }, async (request) => {
    const page = await listUsers(app.db.sql, request.query);
    return { ...page, items: page.items.map((user) => shownTo(request, user)) };
  });

  app.get("/users/me", {
    config: { role: "viewer" },
    schema: { summary: "The user of the presented token", tags, response: { 200: userSchema } },
  }, async (request) => requireRole(request, "viewer"));

  app.get("/users/:id", {
    config: { role: "viewer" },
    schema: { summary: "Get a user", tags, params: idParams, response: { 200: userSchema, 404: errorBody } },
  }, async (request) => shownTo(request, await getUser(app.db.sql, request.params.id)));

  app.post("/users", {
    config: { role: "admin" },
    schema: {
      summary: "Create a user (admin)", tags,
      body: z.strictObject({ username: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, "must be 1-64 letters, digits or _ . @ -"), ...userFields }),
      response: { 201: userSchema, 400: errorBody, 409: errorBody },
    },
  }, async (request, reply) => reply.code(201).send(await createUser(app.db.sql, { ...request.body, created_by: request.user?.id ?? null })));

  app.patch("/users/:id", {
    config: { role: "admin" },
    schema: {
      summary: "Change a user's name, e-mail or role, or disable or enable them (admin)", tags, params: idParams,
      description: "The last enabled admin stays an enabled admin (409).",
      body: z.strictObject({ ...userFields, enabled: z.boolean({ error: "must be true or false" }).optional() }),
      response: { 200: userSchema, 404: errorBody, 409: errorBody },
    },
  }, async (request) => updateUser(app.db.sql, request.params.id, request.body));

  app.delete("/users/:id", {
    config: { role: "admin" },
    schema: {
      summary: "Delete a user for good (admin): their tokens go, what they made stays", tags, params: idParams,
      description: "Their API tokens and their ownership of recordings are deleted. Every record they made stays, its `created_by` null — as for what the CLI makes: datasets, recordings, clips, notes, tags, feature values, jobs, artifacts, runs, and the users and tokens they created. Refused (409): deleting yourself, the last enabled admin, and a user with an import or job under way (abort it or let it end first).",
      response: { 204: z.null(), 404: errorBody, 409: errorBody },
    },
  }, async (request, reply) => {
    await deleteUser(app.db.sql, request.params.id, requireRole(request, "admin").id);
    return reply.code(204).send(null);
  });
};
