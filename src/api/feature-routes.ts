/**
 * GET /recordings|clips/{id}/features/{name}: one feature value with its binary data. A record's
 * own answer lists its features' numbers only; a vector feature (log_mel, which batch jobs store as
 * 64 float32) has no number, and this is where its bytes are read (SPEC §7: stored as a binary value).
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { getFeatureValue } from "../store/features.js";
import { errorBody, id, label, timestamp } from "./schemas.js";

const featureValueSchema = z.object({
  name: z.string(),
  value: z.number().nullable().describe("The number, or null for a vector feature"),
  data: z.string().nullable().describe("Binary value, base64: log_mel is 64 float32, little-endian (numpy.frombuffer(b, '<f4'))"),
  created_at: timestamp,
  created_by: z.uuid().nullable(),
  run_id: z.uuid().nullable().describe("The run that wrote it: a job's (GET /v1/jobs?run_id= gives the job, and its parameters)"),
  engine_version: z.string().nullable().describe("The sonotile version that computed it, for a value a job computed; null for a value a client wrote, or one computed before 0.12"),
  recording_hash: z.string().nullable().describe("MD5 of the recording's bytes it was computed from (as the recording's `hash`), for a value a job computed: another than the recording's `hash` now means its file was refreshed since, and the value is of the earlier content; null as engine_version"),
});

/** Registers the route for `of` records under `/${path}/:id/features/:name`. */
export function featureValueRoute(path: string, of: "recording" | "clip"): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(`/${path}/:id/features/:name`, {
      schema: {
        summary: `A ${of}'s feature value, with its binary data (log_mel)`, tags: [path],
        params: z.object({ id, name: label(255) }), // the name as stored (trimmed, NFC): "Cafe\u0301" finds "Café", as DELETE does
        response: { 200: featureValueSchema, 404: errorBody },
      },
    }, async (request) => {
      const v = await getFeatureValue(app.db.sql, of, request.params.id, request.params.name);
      return { ...v, data: v.data ? v.data.toString("base64") : null };
    });
  };
}
