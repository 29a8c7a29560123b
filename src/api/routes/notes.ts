/** /v1/notes: messages (1–1000 characters) on recordings or clips, possibly flagged as issues. */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { STATES } from "../../store/common.js";
import { createNote, getNote, listNotes, updateNote } from "../../store/notes.js";
import { requireCreatorOrAdmin } from "../plugins/auth.js";
import { stateRoutes } from "../state-routes.js";
import { authorUsername, booleanText, cursorQuery, errorBody, id, idParams, keysetPage, nullableTimestamp, NUMERIC_CURSOR_BYTES, pageQuery, stateQuery, label, timestamp } from "../schemas.js";

const noteSchema = z.object({
  id: z.uuid(),
  message: z.string(),
  is_issue: z.boolean(),
  recording_id: z.uuid().nullable(),
  clip_id: z.uuid().nullable(),
  state: z.enum(STATES),
  state_changed_at: nullableTimestamp,
  created_at: timestamp,
  created_by: z.uuid().nullable(),
  created_by_username: authorUsername,
  run_id: z.uuid().nullable(),
});

/** A note's flag, as its creation and its edit take it. */
/** What a notes cursor is bound to (cursorQuery): the listing's query but its limit; notes have one order. */
const NOTE_CURSOR_QUERY = "filters and state";
const isIssue = z.boolean({ error: "must be true or false" });

export const noteRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ["notes"];
  const sql = app.db.sql;

  app.get("/notes", {
    schema: {
      summary: "List notes", tags,
      description: "Newest first (created_at, then id). Pages by offset, or by cursor: each page's next_cursor, given as `cursor` with the same filters and state (with others it is a 400 naming cursor), is the page after it — one a note written or deleted meanwhile does not shift.",
      querystring: z.strictObject({
        ...pageQuery, state: stateQuery, recording_id: id.optional(),
        include_clips: booleanText().optional().describe("with recording_id: also the notes on the recording's clips (each names its clip_id)"),
        clip_id: id.optional(), is_issue: booleanText().optional(),
        created_by: id.optional().describe("only the notes this user wrote (a member archives, trashes and restores only those)"),
        ...cursorQuery(NUMERIC_CURSOR_BYTES, NOTE_CURSOR_QUERY),
      }),
      response: { 200: keysetPage(noteSchema, "note", NOTE_CURSOR_QUERY), 400: errorBody },
    },
  }, async (request) => listNotes(sql, request.query));

  app.post("/notes", {
    schema: {
      summary: "Write a note", tags,
      description: "On a recording (`recording_id`) or a clip (`clip_id`): one of them, not both (400 naming the field).",
      body: z.strictObject({ message: label(1000), is_issue: isIssue.optional(), recording_id: id.optional(), clip_id: id.optional() }),
      response: { 201: noteSchema, 400: errorBody, 404: errorBody, 409: errorBody },
    },
  }, async (request, reply) => reply.code(201).send(await createNote(sql, { ...request.body, created_by: request.user?.id ?? null })));

  app.get("/notes/:id", { schema: { summary: "Get a note", tags, params: idParams, response: { 200: noteSchema, 404: errorBody } } }, async (request) => getNote(sql, request.params.id));

  // A note speaks for its creator (created_by): another member rewrote it under their name.
  app.patch("/notes/:id", {
    schema: { summary: "Edit a note (its creator or an admin)", tags, params: idParams, body: z.strictObject({ message: label(1000).optional(), is_issue: isIssue.optional() }), response: { 200: noteSchema, 400: errorBody, 403: errorBody, 404: errorBody, 409: errorBody } },
  }, async (request) => {
    requireCreatorOrAdmin(request, "note", await getNote(sql, request.params.id), "edit", "write a note of your own");
    return updateNote(sql, request.params.id, request.body);
  });

  // As its edit: another member's archive or trash hid what a note's creator said.
  await app.register(stateRoutes("notes", "notes", noteSchema, (nid) => getNote(sql, nid), "creator or admin"));
};
