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
  run_id: z.uuid().nullable(),
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
