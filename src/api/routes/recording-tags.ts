/**
 * POST and DELETE /v1/recordings/tags: one tag put on, or taken off, every recording of a
 * selection — GET /v1/recordings' filters, or explicit ids — in one transaction
 * (store/recording-tags.ts). Members and admins, as a single tagging. The removal is also
 * POST /v1/recordings/tags/remove, the same route under a method whose body every client sends.
 */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { invalid } from "../../store/errors.js";
import { MAX_RECORDING_IDS, MAX_SELECTED, SelectsEveryRecordingError, tagRecordings, untagRecordings, type RecordingSelection } from "../../store/recording-tags.js";
import { errorBody, id, label, recordingFilters, withDatesInOrder, withTagFilter, withTagKeyForValue } from "../schemas.js";

/**
 * A selection by GET /v1/recordings' filters. Without one that narrows it, every recording would
 * be written: a body that lost its filter (a typo is refused as an unknown field; an empty object
 * is not) must not tag a whole database, so that takes `all: true` — the store's rule
 * (store/recording-tags.ts checkSelection), said in the body's names by bodyTerms.
 */
const filterSelection = withDatesInOrder(withTagKeyForValue(z.strictObject({
  ...recordingFilters,
  all: z.boolean().optional().describe("true: every recording of the state (default active) — needed when no filter narrows the selection"),
})));

const body = z.strictObject({
  key: label(255),
  value: label(255),
  filter: filterSelection.optional().describe("GET /v1/recordings' filters (state default active, dataset_id, search, hash, date_from, date_to, tag_key, tag_value): the recordings that listing lists, every page"),
  recording_ids: z.array(id).min(1, "must name at least one recording").max(MAX_RECORDING_IDS, `must name at most ${MAX_RECORDING_IDS} recordings; select more with filter`).optional()
    .describe(`Explicit recordings (1 to ${MAX_RECORDING_IDS}, repeats counted once): each must exist (404) and be writable (409), as for a single tagging`),
}).superRefine((b, ctx) => {
  if (b.filter !== undefined && b.recording_ids !== undefined) ctx.addIssue({ code: "custom", path: ["recording_ids"], message: "give filter or recording_ids, not both" });
  if (b.filter === undefined && b.recording_ids === undefined) ctx.addIssue({ code: "custom", path: ["filter"], message: "give the recordings: filter (GET /v1/recordings' filters) or recording_ids" });
});

/** The body's selection as the store takes it. */
function selection(b: z.infer<typeof body>): RecordingSelection {
  if (b.recording_ids !== undefined) return { recording_ids: [...new Set(b.recording_ids)] };
  return withTagFilter(b.filter!);
}

/** The store's refusal of a filter that narrows nothing (SelectsEveryRecordingError) in the body's names: field filter.all. */
function bodyTerms(err: unknown): never {
  if (err instanceof SelectsEveryRecordingError) {
    throw invalid("filter.all", "a filter without dataset_id, search, hash, date_from, date_to, tag_key selects every recording: give one, or all: true to mean every recording");
  }
  throw err;
}

const SELECTION_DESCRIPTION =
  "One transaction for the whole selection. Read-only recordings (archived or trashed, or under such a dataset) are refused as for a single tagging: " +
  "a selection holding one (a filter of state archived, trashed or all; or ids naming one) changes nothing and answers 409 naming the first. " +
  `The default filter state, active, holds none. A filter may select at most ${MAX_SELECTED} recordings (400 naming filter): tag more in parts, a dataset or folder at a time.`;

export const recordingTagRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ["recordings"];
  const sql = app.db.sql;

  app.post("/recordings/tags", {
    schema: {
      summary: "Tag every recording of a selection (the tag is created if new)", tags, body, description: SELECTION_DESCRIPTION,
      response: {
        200: z.object({
          matched: z.number().int().describe("Recordings the selection holds"),
          added: z.number().int().describe("Those that carry the tag now and did not before"),
          already_tagged: z.number().int().describe("Those that carried it already"),
        }),
        400: errorBody, 404: errorBody, 409: errorBody,
      },
    },
  }, async (request) => tagRecordings(sql, selection(request.body), { key: request.body.key, value: request.body.value, created_by: request.user?.id ?? null }).catch(bodyTerms));

  // The removal takes a body, which OpenAPI 3.0.3 lets consumers ignore on a DELETE (its HTTP
  // semantics are vague there): generated clients may send none. POST …/remove is the same route
  // — schema and handler — for them; the DELETE stays for its callers.
  const removal = {
    schema: {
      summary: "Remove a tag from every recording of a selection (the tag itself stays)", tags, body,
      response: {
        200: z.object({
          matched: z.number().int().describe("Recordings the selection holds"),
          removed: z.number().int().describe("Those the tag was taken off"),
          not_tagged: z.number().int().describe("Those that did not carry it"),
        }),
        400: errorBody, 404: errorBody, 409: errorBody,
      },
    },
  };
  const untag = async (request: { body: z.infer<typeof body> }) => untagRecordings(sql, selection(request.body), request.body).catch(bodyTerms);
  app.delete("/recordings/tags", {
    schema: {
      ...removal.schema,
      description: `${SELECTION_DESCRIPTION} Generated clients: prefer POST /v1/recordings/tags/remove, which takes the same body and answers the same — OpenAPI 3.0.3 lets a client ignore a DELETE's body.`,
    },
  }, untag);
  app.post("/recordings/tags/remove", {
    schema: { ...removal.schema, description: `The removal DELETE /v1/recordings/tags makes, as a POST: the same body and answers, for the clients that send no body with a DELETE. ${SELECTION_DESCRIPTION}` },
  }, untag);
};
