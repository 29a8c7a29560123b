/** /v1/clips: pieces [start_time, end_time) of recordings, optionally bounded in frequency, with tags and features. */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { STATES } from "../../store/common.js";
import { CLIP_SORTS, addClipTag, createClip, deleteClip, getClip, listClips, removeClipFeature, removeClipTag, setClipFeature, updateClip } from "../../store/clips.js";
import { requireCreatorOrAdmin } from "../plugins/auth.js";
import { featureValueRoute } from "../feature-routes.js";
import { stateRoutes } from "../state-routes.js";
import { authorUsername, carriedNotes, cursorQuery, decimalText, errorBody, id, idParams, keysetPage, nullableTimestamp, NUMERIC_CURSOR_BYTES, bandQuery, oneOf, pageQuery, sortQuery, stateQuery, label, tagPair, tagQuery, timestamp, withBandInOrder, withTagFilter, withTagKeyForValue } from "../schemas.js";

const clipSchema = z.object({
  id: z.uuid(),
  recording_id: z.uuid(),
  start_time: z.number(),
  end_time: z.number(),
  low_freq: z.number().nullable().describe("Lower frequency bound (Hz, real: after time expansion); null: none (0 Hz)"),
  high_freq: z.number().nullable().describe("Upper frequency bound (Hz, real); null: none (the Nyquist frequency)"),
  tags: z.array(z.object({ key: z.string(), value: z.string() })),
  features: z.array(z.object({ name: z.string(), value: z.number().nullable() })),
  notes: carriedNotes("clip"),
  state: z.enum(STATES),
  state_changed_at: nullableTimestamp,
  created_at: timestamp,
  created_by: z.uuid().nullable(),
  created_by_username: authorUsername,
  run_id: z.uuid().nullable(),
});

/**
 * A time the clips list compares clips with (s, real time), from the query string: any finite
 * number (zod's number refuses Infinity and NaN; 1e400 is Infinity) — a window scrolled left of
 * 0 (end_after=-2) selects as well as one clamped to 0.
 */
const windowEdge = (what: string) => decimalText(z.number({ error: "must be a finite number of seconds" })).optional().describe(what);
const seconds = (what: string) => z.number({ error: "must be a number of seconds" }).finite().min(0, "must be >= 0").describe(what);
/**
 * A clip's frequency bounds in a body (Hz, real: after time expansion, as the audio params'
 * low_freq / high_freq): 0 <= low_freq < high_freq, null for none on that side; the store checks
 * them against the recording's Nyquist frequency.
 */
const band = {
  low_freq: z.number({ error: "must be a number of Hz, or null" }).finite().min(0, "must be >= 0").nullable().optional()
    .describe("Lower frequency bound (Hz, real: after time expansion), < high_freq and < the recording's Nyquist frequency; null or absent: none"),
  high_freq: z.number({ error: "must be a number of Hz, or null" }).finite().positive("must be > 0").nullable().optional()
    .describe("Upper frequency bound (Hz, real), <= the recording's Nyquist frequency; null or absent: none"),
};
/**
 * What a member refused another's clip (its move, its deletion) may do instead: any member notes on
 * any clip. Not its trash, which is its creator's too (the hint had said "trash it instead").
 */
/** What a clips cursor is bound to (cursorQuery): the listing's query but its limit. */
const CLIP_CURSOR_QUERY = "filters, state, own_state, sort and order";
const ASK_ITS_CREATOR = "write a note on it for its creator";
const bandInOrder = (b: { low_freq?: number | null; high_freq?: number | null }) => b.low_freq == null || b.high_freq == null || b.low_freq < b.high_freq;
export const clipRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ["clips"];
  const sql = app.db.sql;

  app.get("/clips", {
    schema: {
      summary: "List clips", tags,
      description: "Every filter given applies (AND). `start_before` and `end_after` together list the clips overlapping the window [end_after, start_before): clips are half-open [start_time, end_time), so one ending at end_after or starting at start_before is not in it. Each is a condition of its own, so start_before <= end_after is no error: it lists the clips that start before start_before and end after end_after. `min_freq` and `max_freq` list the clips whose band overlaps [min_freq, max_freq] (real Hz): low_freq < max_freq and high_freq > min_freq, a clip without low_freq starting at 0 Hz and one without high_freq reaching to its recording's Nyquist frequency — a clip without bounds is listed for any band starting below that Nyquist frequency; one whose band only touches [min_freq, max_freq] is not. Either alone is its side's condition; together, max_freq must be > min_freq. Pages by offset, or by cursor: each page's next_cursor, given as `cursor` with the same filters, state, sort and order (with others it is a 400 naming cursor), is the page after it — one a clip created or deleted meanwhile does not shift, so that a clip there throughout the paging, its start and end unchanged, is listed once (by offset, a deletion on an earlier page skips one, a creation repeats one); one moved meanwhile past the cursor or back before it may be listed twice or not at all.",
      querystring: withBandInOrder(withTagKeyForValue(z.strictObject({
        ...pageQuery,
        state: stateQuery,
        own_state: oneOf(STATES).optional().describe("Only clips whose own state is this, whatever their recording's and dataset's, which `state` (their effective state) takes in: `state=archived&own_state=active` lists an archived recording's clips as it was left, without those archived on their own before (all of them are `archived` there), its `total` counting those alone"),
        recording_id: id.optional(),
        dataset_id: id.optional().describe("Only the clips of this dataset's recordings"),
        start_before: windowEdge("Only clips that start before this time: start_time < start_before (s, real time)"),
        end_after: windowEdge("Only clips that end after this time: end_time > end_after (s, real time)"),
        ...bandQuery,
        ...tagQuery("clips"),
        ...sortQuery(CLIP_SORTS, "start_time"),
        ...cursorQuery(NUMERIC_CURSOR_BYTES, CLIP_CURSOR_QUERY),
      }))),
      response: { 200: keysetPage(clipSchema, "clip", CLIP_CURSOR_QUERY), 400: errorBody },
    },
  }, async (request) => listClips(sql, withTagFilter(request.query)));

  app.post("/clips", {
    schema: {
      summary: "Create a clip", tags,
      description: "A clip with `low_freq` and/or `high_freq` is a box over that band (a sound event's bounding box, a Raven selection's Low/High Freq); without, the whole band of its times.",
      body: z.strictObject({ recording_id: id, start_time: seconds("Start (s, real time)"), end_time: seconds("End (s, real time), > start_time"), ...band })
        .refine((b) => b.start_time < b.end_time, { message: "must be > start_time", path: ["end_time"] })
        .refine(bandInOrder, { message: "must be > low_freq", path: ["high_freq"] }),
      response: { 201: clipSchema, 400: errorBody, 404: errorBody, 409: errorBody },
    },
  }, async (request, reply) => reply.code(201).send(await createClip(sql, { ...request.body, created_by: request.user?.id ?? null })));

  app.get("/clips/:id", { schema: { summary: "Get a clip", tags, params: idParams, response: { 200: clipSchema, 404: errorBody } } }, async (request) => getClip(sql, request.params.id));

  // A clip's bounds are what its creator's annotation covers, as its deletion and its trash are
  // theirs: another member moved them, and the clip's tags then named other audio. Its tags,
  // features and notes stay open to any member (labelling is collaborative).
  app.patch("/clips/:id", {
    schema: {
      summary: "Move a clip's bounds (its creator or an admin)", tags, params: idParams,
      description: "A field absent keeps its value; `low_freq` or `high_freq` null removes that bound. The result is checked whole: start_time < end_time within the recording, low_freq < high_freq within its Nyquist frequency. `expected` holds the bounds as the client read them: one of them that is no longer the clip's (another moved it meanwhile) is a 409 naming it (`expected.end_time`), nothing changed — send only the fields the user changed, with their values as read in `expected`, and no one's concurrent change of another field is reverted or overwritten unseen. Bounds that change remove the feature values jobs computed of the clip (of audio it no longer covers; values a client set stay), in the same transaction: `stale_feature_values_removed` counts them, and a job computing the clip meanwhile computes its new bounds instead of writing the old ones (POST /v1/jobs computes them again).",
      body: z.strictObject({
        start_time: seconds("Start").optional(), end_time: seconds("End").optional(), ...band,
        expected: z.strictObject({
          start_time: z.number({ error: "must be a number of seconds" }).optional(), end_time: z.number({ error: "must be a number of seconds" }).optional(),
          low_freq: z.number({ error: "must be a number of Hz, or null" }).nullable().optional(), high_freq: z.number({ error: "must be a number of Hz, or null" }).nullable().optional(),
        }).optional().describe("The clip's bounds as the client read them (GET /v1/clips/{id}), each compared exactly with the clip's now: one that differs is a 409 (moved meanwhile), nothing changed. Absent: none compared"),
      }).refine(bandInOrder, { message: "must be > low_freq", path: ["high_freq"] }),
      response: {
        200: clipSchema.extend({ stale_feature_values_removed: z.number().int().describe("Feature values a job computed of the clip's bounds before, removed as they changed (0 when they did not): computed again by a job (POST /v1/jobs)") }),
        400: errorBody, 403: errorBody, 404: errorBody, 409: errorBody,
      },
    },
  }, async (request) => {
    requireCreatorOrAdmin(request, "clip", await getClip(sql, request.params.id), "move", ASK_ITS_CREATOR);
    return updateClip(sql, request.params.id, request.body);
  });

  // Deleting is for good, unlike trash: like recordings and datasets (admin only), it is not
  // for any member — only the clip's creator, who may undo their own mistake, or an admin.
  app.delete("/clips/:id", {
    schema: { summary: "Delete an active clip for good (its creator or an admin)", tags, params: idParams, response: { 204: z.null(), 403: errorBody, 404: errorBody, 409: errorBody } },
  }, async (request, reply) => {
    requireCreatorOrAdmin(request, "clip", await getClip(sql, request.params.id), "delete", ASK_ITS_CREATOR);
    await deleteClip(sql, request.params.id);
    return reply.code(204).send(null);
  });

  app.post("/clips/:id/tags", {
    schema: { summary: "Tag a clip", tags, params: idParams, body: tagPair, response: { 200: clipSchema, 404: errorBody, 409: errorBody } },
  }, async (request) => addClipTag(sql, request.params.id, { ...request.body, created_by: request.user?.id ?? null }));

  app.delete("/clips/:id/tags", {
    schema: { summary: "Remove a tag from a clip", tags, params: idParams, querystring: tagPair, response: { 200: clipSchema, 404: errorBody, 409: errorBody } },
  }, async (request) => removeClipTag(sql, request.params.id, request.query));

  app.post("/clips/:id/features", {
    schema: { summary: "Set a clip's feature value", tags, params: idParams, body: z.strictObject({ name: label(255), value: z.number({ error: "must be a number" }).finite() }), response: { 200: clipSchema, 404: errorBody, 409: errorBody } },
  }, async (request) => setClipFeature(sql, request.params.id, { ...request.body, created_by: request.user?.id ?? null }));

  app.delete("/clips/:id/features/:name", {
    schema: { summary: "Remove a clip's feature value", tags, params: z.object({ id, name: label(255) }), response: { 200: clipSchema, 404: errorBody, 409: errorBody } },
  }, async (request) => removeClipFeature(sql, request.params.id, request.params.name));

  // A clip is its creator's work, as its deletion is: another member's trash hid it, and the next
  // purge deleted it for good.
  await app.register(stateRoutes("clips", "clips", clipSchema, (cid) => getClip(sql, cid), "creator or admin"));
  await app.register(featureValueRoute("clips", "clip"));
};
