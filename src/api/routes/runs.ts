/** /v1/runs: provenance — one run per import or batch job execution (read-only over HTTP). */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { RUN_KINDS, getRun, listRuns } from "../../store/runs.js";
import { errorBody, idParams, nullableTimestamp, oneOf, page, pageQuery, timestamp } from "../schemas.js";

const STATUSES = ["running", "completed", "failed"] as const;
/** A run as the API answers it (also the clips import's `run`). */
export const runSchema = z.object({
  id: z.uuid(), kind: z.enum(RUN_KINDS), description: z.string(), status: z.enum(STATUSES),
  created_at: timestamp, created_by: z.uuid().nullable(), finished_at: nullableTimestamp,
  engine_version: z.string().nullable().describe("The sonotile version (its engine's) that made the run; null for a run made before 0.12, which did not record it"),
});

export const runRoutes: FastifyPluginAsyncZod = async (app) => {
  const sql = app.db.sql;
  app.get("/runs", {
    schema: { summary: "List runs, newest first", tags: ["runs"], querystring: z.strictObject({ ...pageQuery, kind: oneOf(RUN_KINDS).optional(), status: oneOf(STATUSES).optional() }), response: { 200: page(runSchema), 400: errorBody } },
  }, async (request) => listRuns(sql, request.query));
  app.get("/runs/:id", { schema: { summary: "Get a run", tags: ["runs"], params: idParams, response: { 200: runSchema, 404: errorBody } } }, async (request) => getRun(sql, request.params.id));
};
