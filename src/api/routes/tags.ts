/** /v1/tags and /v1/feature_names: the shared vocabularies (get-or-create on POST). */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { getOrCreateFeatureName, listFeatureNames } from "../../store/features.js";
import { getOrCreateTag, listTags } from "../../store/tags.js";
import { errorBody, id, page, pageQuery, label, tagPair, timestamp } from "../schemas.js";

const tagSchema = z.object({ id: z.uuid(), key: z.string(), value: z.string(), created_at: timestamp, created_by: z.uuid().nullable(), run_id: z.uuid().nullable() });
const featureNameSchema = z.object({ id: z.uuid(), name: z.string(), created_at: timestamp, created_by: z.uuid().nullable(), run_id: z.uuid().nullable() });

export const tagRoutes: FastifyPluginAsyncZod = async (app) => {
  const sql = app.db.sql;

  app.get("/tags", {
    schema: {
      summary: "List tags, by key then value: all of them (the vocabulary), or those in use within a dataset or recording", tags: ["tags"],
      querystring: z.strictObject({
        ...pageQuery, key: label(255).optional(),
        search: z.string().max(255).optional().describe("Text the key or the value holds (case-insensitive)"),
        dataset_id: id.optional().describe("Only the tags carried by this dataset's recordings or their clips (trashed ones aside)"),
        recording_id: id.optional().describe("Only the tags carried by this recording or its clips (trashed ones aside); with dataset_id, a recording of that dataset"),
      }),
      response: { 200: page(tagSchema), 400: errorBody },
    },
  }, async (request) => listTags(sql, request.query));

  app.post("/tags", {
    schema: { summary: "Get or create a tag", tags: ["tags"], body: tagPair, response: { 200: tagSchema, 400: errorBody } },
  }, async (request) => getOrCreateTag(sql, { ...request.body, created_by: request.user?.id ?? null }));

  app.get("/feature_names", {
    schema: { summary: "List feature names", tags: ["features"], querystring: z.strictObject({ ...pageQuery, search: z.string().max(255).optional() }), response: { 200: page(featureNameSchema), 400: errorBody } },
  }, async (request) => listFeatureNames(sql, request.query));

  app.post("/feature_names", {
    schema: { summary: "Get or create a feature name", tags: ["features"], body: z.strictObject({ name: label(255) }), response: { 200: featureNameSchema, 400: errorBody } },
  }, async (request) => getOrCreateFeatureName(sql, request.body.name, { created_by: request.user?.id ?? null }));
};
