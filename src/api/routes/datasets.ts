/**
 * /v1/datasets: named directories of recordings inside the server's audio roots, with scan
 * (which files are registered — and changed since —, missing, unregistered) and import
 * (register the unregistered).
 */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { STATES } from "../../store/common.js";
import { DATASET_SORTS, RECENT_SCAN_MS, SCAN_STATUSES, createDataset, datasetsHoldingSameBytes, deleteDataset, getDataset, importNew, listDatasets, relocateDataset, scanPage, updateDataset } from "../../store/datasets.js";
import { clientLeft } from "../client-left.js";
import { checkInAudioRoots } from "../recording-file.js";
import { resolveAudioDir } from "../../store/paths.js";
import { stateRoutes } from "../state-routes.js";
import { errorBody, idParams, nullableTimestamp, oneOf, page, pageQuery, sortQuery, stateQuery, label, text, timestamp } from "../schemas.js";

const datasetSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string(),
  audio_dir: z.string().describe("Absolute real path inside an audio root"),
  recording_count: z.number().int(),
  state: z.enum(STATES),
  state_changed_at: nullableTimestamp,
  created_at: timestamp,
  created_by: z.uuid().nullable(),
  run_id: z.uuid().nullable(),
});

const name = label(255);
const description = text(0, 10000);

const scanFileSchema = z.object({
  path: z.string(), status: z.enum(SCAN_STATUSES), recording_id: z.uuid().nullable(),
  recording_state: z.enum(STATES).nullable().describe("The recording's own state (null for an unregistered file): a trashed recording's file stays `registered` until the trash is purged, then it is `unregistered` and the next import registers it anew"),
  changed: z.object({
    reason: z.enum(["size", "modified"]).describe("size: not the registered size, so other content (reads of the recording answer 409); modified: the same size but not the registered modification time, so maybe other content (the next read hashes the file)"),
    message: z.string().describe("What moved and what to do: put the registered file back, or make the new one the recording's content with POST /v1/recordings/{id}/refresh"),
    holds_bytes_of: z.object({ recording_id: z.uuid(), path: z.string() }).optional()
      .describe("Another recording of the dataset whose registered bytes (size and MD5) the file holds now: two files swapped, or one copied over another — put the files back (a refresh refuses it). Only a changed file of another recording's registered size is hashed; absent otherwise"),
  }).nullable().describe("A registered file whose size or modification time differ from the registered ones (the scan reads no registered file's bytes: a rewrite that keeps both is not seen); null otherwise"),
  possibly_moved_to: z.array(z.string()).describe("For a missing recording: the unregistered files of its registered size in bytes, where its file may have moved — a hint, the scan hashes nothing; an import checks them by MD5 and gives the recording the one with its bytes. In an import's `missing`: those the import registered anew, of its size but other bytes (moved and edited, or another recording of that length). Empty for every other file"),
  unreadable: z.string().nullable().describe("For an unregistered file: why an import cannot register it — its header does not read (empty, not a supported format, a header cut short or lying), as the import's `failed` says it (`a.wav: file is empty`); replace or remove the file. The scan reads each unregistered file's header only, decodes and hashes nothing: what only decoding finds (a compressed stream cut short after its header) is null here and reported by the import. Null for every other file"),
});

/** How many files of a status. */
const count = z.number().int();

const scanSchema = page(scanFileSchema).extend({
  dataset_id: z.uuid(),
  items: z.array(scanFileSchema).describe("This page of the files, in path order: of the `status` asked for, else of every status. The whole list was the answer's `files` before it was paged (5 MB of JSON for 30,000 files)"),
  total: z.number().int().describe("Files of the `status` asked for (every file without one): page on with `offset` while `offset + limit < total`"),
  counts: z.object(Object.fromEntries(SCAN_STATUSES.map((status) => [status, count])) as Record<(typeof SCAN_STATUSES)[number], typeof count>)
    .describe("Files of each status in the whole scan, whatever the page and `status`"),
  skipped: z.array(z.object({ path: z.string().describe("Relative path, bytes that are not UTF-8 as \\xNN"), reason: z.string() }))
    .describe("Entries that may hold recordings but are not read: names that are not valid UTF-8, symbolic links that lead outside the dataset's directory (not followed), to nothing, or round in a loop (`ln -s loop loop`); all of them, on every page"),
});

/** What the routes that read a dataset's directory (scan, import) answer when it is gone (DirectoryGoneError). */
const DIRECTORY_GONE_404 = "A dataset whose directory no longer exists (its files moved to another disk, unmounted) is a 404 saying so and how to point the dataset at its files (PUT /v1/datasets/{id}/audio_dir), as its recordings' audio and spectrograms are.";

const scanQuery = z.strictObject({
  ...pageQuery,
  status: oneOf(SCAN_STATUSES).optional()
    .describe("Only the files of this status: `unregistered` (new files, and those whose header does not read: `unreadable`), `missing` (recordings whose file is gone, with where it may have moved) or `registered` (`changed` ones among them); default every file"),
});

const importSchema = z.object({
  run: z.object({ id: z.uuid(), kind: z.string(), status: z.string(), created_at: timestamp, finished_at: nullableTimestamp, engine_version: z.string().nullable().describe("The sonotile version that made the run (GET /v1/runs/{id})") })
    .nullable().describe("The import's run; null when there was nothing to register (no new file whose header reads): no run is recorded then, as by `sonotile dataset add`"),
  registered: z.array(z.object({ path: z.string(), recording_id: z.uuid() })),
  moved: z.array(z.object({ from: z.string(), path: z.string(), recording_id: z.uuid() }))
    .describe("Recordings whose file was missing and is found at `path` (the same MD5: moved or renamed): the recording now points there and keeps its clips, tags, features and notes"),
  missing: z.array(scanFileSchema).describe("Recordings whose file is at none of the dataset's paths after the import (as the scan's `missing`): kept as they are"),
  duplicates: z.array(z.object({ hash: z.string(), recordings: z.array(z.object({ path: z.string(), recording_id: z.uuid(), state: z.enum(STATES) })) }))
    .describe("Recordings of the dataset holding the same bytes (one MD5), in groups that take in a recording this import registered"),
  failed: z.array(z.object({ path: z.string(), error: z.string() }))
    .describe("Files not registered, and why: entries the scan does not read (its `skipped`), files whose header does not read (the scan's `unreadable`, not opened again), and files that failed when read or hashed"),
  changed: z.array(scanFileSchema).describe("Registered files the import's scan found changed (as the scan's `changed`); an import leaves them as they are"),
  metadata_unread: z.array(z.object({ path: z.string(), key: z.string(), value: z.string(), message: z.string() }))
    .describe("Metadata values of the files registered that the import could not read, each with where it was (`GUANO Timestamp`, `bext OriginationDate/OriginationTime`, `GUANO Loc Position`, `GUANO TE`), as written, and what was done instead (the field left empty; PATCH /v1/recordings/{id} sets it)"),
  datasets_holding_same_bytes: z.array(z.object({
    id: z.uuid(), name: z.string(), audio_dir: z.string(),
    recordings: z.number().int().describe("How many of this dataset's recordings hold bytes (one MD5) that a recording of that one holds"),
    theirs_here: z.number().int().describe("How many of that dataset's recordings hold bytes that a recording of this one holds"),
    their_recordings: z.number().int().describe("That dataset's recordings, any state"),
    moved_here: z.boolean().describe("At least 90 % of that dataset's recordings hold bytes found here (theirs_here ≥ 0.9 × their_recordings): its files look moved here — then, and only then, delete this dataset (its files stay) and point that one here (PUT /v1/datasets/{id}/audio_dir). Otherwise a few files are copies of that dataset's: nothing to undo"),
    files: z.array(z.object({ path: z.string(), their_path: z.string() })).describe("The first 3 pairs of files holding the same bytes, by path: `path` in this dataset, `their_path` in that one"),
  })).describe("The other datasets whose recordings hold the bytes of this one's, most shared first (as `sonotile dataset add --json` answers): files moved from another dataset's directory (a new disk) and imported here are registered anew, as bare recordings, the clips, tags, features and notes staying with that dataset's (moved_here says whether that looks to be the case)"),
});

export const datasetRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ["datasets"];
  const sql = app.db.sql;

  app.get("/datasets", {
    schema: {
      summary: "List datasets", tags,
      querystring: z.strictObject({ ...pageQuery, state: stateQuery, search: z.string().max(255).optional().describe("Substring of the name"), ...sortQuery(DATASET_SORTS, "name") }),
      response: { 200: page(datasetSchema), 400: errorBody },
    },
  }, async (request) => listDatasets(sql, request.query));

  app.post("/datasets", {
    schema: {
      summary: "Create a dataset", tags,
      body: z.strictObject({ name, description: description.optional(), audio_dir: text(1, 4096).describe("Directory inside an audio root: absolute, or relative to the first root. It may not hold or lie inside another dataset's directory, in any state (409 naming that dataset): a file below both would be registered twice") }),
      response: { 201: datasetSchema, 400: errorBody, 409: errorBody },
    },
  }, async (request, reply) => {
    const audio_dir = await resolveAudioDir(app.audioRoots, request.body.audio_dir);
    return reply.code(201).send(await createDataset(sql, { ...request.body, audio_dir, created_by: request.user?.id ?? null }));
  });

  app.get("/datasets/:id", {
    schema: { summary: "Get a dataset", tags, params: idParams, response: { 200: datasetSchema, 404: errorBody } },
  }, async (request) => getDataset(sql, request.params.id));

  app.patch("/datasets/:id", {
    schema: {
      summary: "Rename or describe a dataset", tags, params: idParams,
      body: z.strictObject({ name: name.optional(), description: description.optional() }),
      response: { 200: datasetSchema, 400: errorBody, 404: errorBody, 409: errorBody },
    },
  }, async (request) => updateDataset(sql, request.params.id, request.body));

  // Its own route, not a PATCH field: it changes which files every recording reads, for every
  // user, so it is an admin's (an operator's) step, and it is allowed in any state.
  app.put("/datasets/:id/audio_dir", {
    config: { role: "admin" },
    schema: {
      summary: "Point a dataset at the directory its files were moved to (admin): recordings, clips, tags, features and notes stay", tags, params: idParams,
      body: z.strictObject({ audio_dir: text(1, 4096).describe("The new directory inside an audio root: absolute, or relative to the first root; its files keep their paths relative to it") }),
      response: { 200: datasetSchema, 400: errorBody, 403: errorBody, 404: errorBody, 409: errorBody },
    },
  }, async (request) => {
    const relocated = await relocateDataset(sql, request.params.id, await resolveAudioDir(app.audioRoots, request.body.audio_dir));
    app.recentScans.forget(relocated.id);
    return relocated;
  });

  app.delete("/datasets/:id", {
    config: { role: "admin" },
    schema: { summary: "Delete an active dataset and its recordings' metadata for good (admin; files stay)", tags, params: idParams, response: { 204: z.null(), 404: errorBody, 409: errorBody } },
  }, async (request, reply) => {
    await deleteDataset(sql, request.params.id);
    return reply.code(204).send(null);
  });

  app.get("/datasets/:id/scan", {
    schema: {
      summary: "Compare the dataset's directory with its registered recordings: the counts of the whole scan, and a page of its files (of one status if asked)", tags, params: idParams,
      description: `A page at offset 0 scans the directory (some 3 s for 30,000 files); the pages after it are read from the dataset's last scan while it is at most ${RECENT_SCAN_MS / 1000} s old (else they scan), so that paging through lists each file once and costs one scan. Any change to the dataset or its recordings (an import, a refresh, a relocation, a recording archived, trashed, restored or deleted, a \`dataset add\` from the command line or another server) makes the next page scan again; files copied in or removed on disk show from the next page at offset 0. For what needs a curator, ask \`?status=unregistered\` or \`?status=missing\`: their pages are the few files concerned. ${DIRECTORY_GONE_404}`,
      querystring: scanQuery,
      response: { 200: scanSchema, 400: errorBody, 403: errorBody, 404: errorBody },
    },
  }, async (request) => {
    const dataset = await getDataset(sql, request.params.id);
    checkInAudioRoots(app, dataset.audio_dir, `dataset ${dataset.id}`);
    const scan = await (request.query.offset === 0 ? app.recentScans.fresh(sql, dataset) : app.recentScans.recent(sql, dataset));
    return scanPage(scan, request.query);
  });

  app.post("/datasets/:id/import", {
    config: { deadline: false }, // it hashes every new file: minutes for a large dataset
    schema: {
      summary: "Register the unregistered audio files (one import run; none when nothing is new)", tags, params: idParams,
      description: "Sent while an import of the same dataset runs on this server (or, on a shared PostgreSQL, on another one), it waits for that one to end, then registers the files still not registered: each file is read and hashed once. Those sent while one waits share its answer (its run, made by the first of them whose request is still open when it runs): a client that retries during a long import starts one more import, not one per retry. A waiting import whose every request was closed is not run; one that fails fails only its own requests. " + DIRECTORY_GONE_404,
      response: { 200: importSchema, 403: errorBody, 404: errorBody, 409: errorBody },
    },
  }, async (request, reply) => {
    const id = request.params.id;
    const user = request.user?.id ?? null;
    // The dataset is looked at when its import runs: its directory may have been moved (PUT audio_dir) while it waited.
    const imported = await app.datasetImports.run(id, async () => {
      checkInAudioRoots(app, (await getDataset(sql, id)).audio_dir, `dataset ${id}`);
      try {
        return await importNew(sql, id, user);
      } finally {
        app.recentScans.forget(id);
      }
    }, clientLeft(reply));
    return { ...imported, datasets_holding_same_bytes: await datasetsHoldingSameBytes(sql, id) };
  });

  await app.register(stateRoutes("datasets", "datasets", datasetSchema, (id) => getDataset(sql, id), "any member"));
};
