/** /v1/artifacts: job outputs, content-addressed by SHA-256, with expiry and cleanup (admin). */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { STATES } from "../../store/common.js";
import { cleanupExpired, getArtifact, listArtifacts } from "../../store/artifacts.js";
import { stateRoutes } from "../state-routes.js";
import { errorBody, id, idParams, nullableTimestamp, page, pageQuery, stateQuery, timestamp } from "../schemas.js";

export const artifactSchema = z.object({
  id: z.uuid(), job_id: z.uuid().nullable(), name: z.string(), file_sha256: z.string(), size: z.number().int(), media_type: z.string(),
  expiration_delay: z.number().nullable().describe("Seconds after creation it expires"), expire_at: nullableTimestamp,
  state: z.enum(STATES), state_changed_at: nullableTimestamp, created_at: timestamp, created_by: z.uuid().nullable(), run_id: z.uuid().nullable(),
});

export const artifactRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ["artifacts"];
  const sql = app.db.sql;
  app.get("/artifacts", {
    schema: { summary: "List artifacts", tags, querystring: z.object({ ...pageQuery, state: stateQuery, job_id: id.optional() }), response: { 200: page(artifactSchema), 400: errorBody } },
  }, async (request) => listArtifacts(sql, request.query));
  app.get("/artifacts/:id", { schema: { summary: "Get an artifact", tags, params: idParams, response: { 200: artifactSchema, 404: errorBody } } }, async (request) => getArtifact(sql, request.params.id));
  app.post("/artifacts/cleanup", {
    config: { role: "admin" },
    schema: { summary: "Delete expired artifacts and unreferenced files (admin)", tags, response: { 200: z.object({ artifacts: z.array(z.uuid()), files: z.array(z.string()) }) } },
  }, async () => cleanupExpired(sql));
  await app.register(stateRoutes("artifacts", "artifacts", artifactSchema, (aid) => getArtifact(sql, aid)));
};
