/**
 * /v1/recordings: registered audio files with their facts and metadata; tags, features and
 * owners attached to them; the audio itself with HTTP range requests (RFC 9110 §14).
 */
import type { FileHandle } from "node:fs/promises";
import { extname } from "node:path";
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { AudioFormatError, fileChange, openRegularFile } from "../../audio/index.js";
import { assertWritable, STATES, writing } from "../../store/common.js";
import { getDataset } from "../../store/datasets.js";
import { canonicalRecordingPath, RefusedFileError, resolveRecordingFile } from "../../store/paths.js";
import { probeFile, RECORDED_TIME } from "../../store/probe.js";
import {
  CLIPS_ON_TIME_EXPANSION, RECORDING_SORTS, addRecordingOwner, addRecordingTag, deleteRecording, getRecording, getRecordingLocation, insertRecording,
  listRecordings, readRecordingFile, refreshRecordingFile, removeRecordingFeature, removeRecordingOwner, removeRecordingTag, setRecordingFeature, updateRecording,
} from "../../store/recordings.js";
import { ConflictError, invalid } from "../../store/errors.js";
import { requestedRanges, sendRanges } from "../byte-range.js";
import { notModified } from "../conditional.js";
import { HttpError } from "../plugins/errors.js";
import { checkInAudioRoots, fileChangedWhileRead, recordingFile, refusedFile, withoutAudioRoots } from "../recording-file.js";
import { featureValueRoute } from "../feature-routes.js";
import { stateRoutes } from "../state-routes.js";
import { attachment } from "../attachment.js";
import { ACCEPT_RANGES_HEADER, booleanText, bytesResponse, carriedNotes, cursorQuery, DISPOSITION_HEADER, errorBody, errorWithHeaders, ETAG_HEADER, HEAD_DOCUMENTED, id, idParams, keysetPage, notModifiedResponse, nullableTimestamp, NUMERIC_CURSOR_BYTES, pageQuery, calendarDate, recordingFilters, withDatesInOrder, RANGE_NOT_SATISFIABLE, RANGES_DESCRIPTION, rangesResponse, sortQuery, stateQuery, label, tagPair, tagQuery, text, timestamp, UNSATISFIED_RANGE_HEADER, withTagFilter, withTagKeyForValue } from "../schemas.js";

const recordingSchema = z.object({
  id: z.uuid(),
  dataset_id: z.uuid(),
  path: z.string().describe("Relative to the dataset's audio_dir"),
  hash: z.string().describe("MD5 of the file"),
  file_size: z.number().int(),
  file_samplerate: z.number().int().describe("Sample rate as stored in the file (Hz)"),
  frames: z.number().int(),
  channels: z.number().int(),
  time_expansion: z.number(),
  revision: z.string().describe("Changes whenever the recording's spectrograms can (file content, time_expansion, engine version): pass it as `revision` to the tile and spectrogram routes, whose answers are then cacheable for good"),
  samplerate: z.number().describe("Real sample rate, the one the engine analyses at: file_samplerate × time_expansion (Hz), a product within 1e-9 (relative) of a whole number being that number"),
  duration: z.number().describe("Real duration: frames / samplerate (s)"),
  date: z.string().nullable(),
  time: z.string().nullable(),
  latitude: z.number().nullable(),
  longitude: z.number().nullable(),
  rights: z.string().nullable(),
  tags: z.array(z.object({ key: z.string(), value: z.string() })),
  features: z.array(z.object({ name: z.string(), value: z.number().nullable() })),
  owners: z.array(z.uuid()),
  notes: carriedNotes("recording"),
  state: z.enum(STATES),
  state_changed_at: nullableTimestamp,
  created_at: timestamp,
  created_by: z.uuid().nullable(),
  run_id: z.uuid().nullable(),
});

/** The longest path of a recording, in characters (Linux's PATH_MAX: a relative path under audio_dir is shorter). */
const MAX_PATH = 4096;

/**
 * The most JSON a `cursor` holds (cursorQuery). A page's next_cursor holds its last recording's
 * sort keys, the path among them: JSON writes a control character (which a path may hold) as 6
 * bytes (`\u0001`), so a path is up to 6·MAX_PATH bytes; NUMERIC_CURSOR_BYTES more hold the sort,
 * order, filters' digest, the other keys (date, time), the id and punctuation.
 */
const CURSOR_BYTES = 6 * MAX_PATH + NUMERIC_CURSOR_BYTES;

/** What people may set on a recording; null clears a field. */
/** What a recordings cursor is bound to (cursorQuery): the listing's query but its limit. */
const RECORDING_CURSOR_QUERY = "filters, state, sort and order";
const metadataFields = {
  time_expansion: z.number({ error: "must be a number" }).positive("must be > 0").finite().optional(),
  date: calendarDate.nullable().optional(),
  time: z.string().regex(RECORDED_TIME, "must be a time HH:MM[:SS[.ffffff]], optionally with a UTC offset ±HH:MM").nullable().optional(),
  latitude: z.number({ error: "must be a number" }).min(-90, "must be between -90 and 90").max(90, "must be between -90 and 90").nullable().optional(),
  longitude: z.number({ error: "must be a number" }).min(-180, "must be between -180 and 180").max(180, "must be between -180 and 180").nullable().optional(),
  rights: text(0, 1000).nullable().optional(),
};

/**
 * The media type of a recording's file, by its extension (the audio layer's AUDIO_EXTENSIONS):
 * what a browser or player needs to handle the download. RF64 and Wave64 have no media type of
 * their own (and are not WAV to a WAV parser), so they stay application/octet-stream, as does
 * a file registered under another extension.
 */
const AUDIO_MEDIA_TYPES: Record<string, string> = {
  ".wav": "audio/wav", ".wave": "audio/wav", ".wavex": "audio/wav", ".bwf": "audio/wav",
  ".aif": "audio/aiff", ".aiff": "audio/aiff", ".aifc": "audio/aiff",
  ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
};
const audioMediaType = (path: string) => AUDIO_MEDIA_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
const AUDIO_DOWNLOAD_TYPES = [...new Set(Object.values(AUDIO_MEDIA_TYPES)), "application/octet-stream"];
/** The most bytes of a download read at once: fs.ReadStream's default. */
const FILE_PIECE_BYTES = 64 * 1024;

/**
 * Bytes `start`..`end` (inclusive) of the open file `handle`, read a piece at a time as the body
 * takes them. Not handle.createReadStream: each stream over a FileHandle adds a listener to it that
 * outlives the stream, one per part of a multipart answer. Every piece goes out only once `check`
 * has found the file unchanged since its content was checked (it throws when it changed), so the
 * bytes sent are always the first ones of that content: a file rewritten while it is sent fails
 * the body, which ends short of its Content-Length — or, nothing sent yet, is a 409. Checked at
 * the last piece alone, the pieces before it read after a rewrite had gone out under the MD5 ETag
 * and Accept-Ranges, and a client resuming with If-Range once the bytes were put back assembled
 * the right length of the wrong bytes. A read that finds no byte (a file cut short, its size and
 * time put back) fails the body too, rather than reading for ever.
 */
async function* fileBytes(handle: FileHandle, start: number, end: number, check: () => Promise<void>): AsyncGenerator<Uint8Array> {
  const read = (at: number) => {
    const length = Math.min(FILE_PIECE_BYTES, end + 1 - at);
    const reading = handle.read(Buffer.allocUnsafe(length), 0, length, at);
    reading.catch(() => {}); // awaited below, unless the body ended before
    return reading;
  };
  for (let at = start, reading = read(start); at <= end;) {
    const { bytesRead, buffer } = await reading;
    at += bytesRead;
    // The next piece is read while this one is checked (the check, made once this piece was read,
    // speaks for it alone): one after the other, the downloads ran at 0.6 of their speed.
    if (at <= end && bytesRead > 0) reading = read(at);
    await check();
    if (bytesRead === 0) throw new Error(`the file ended at byte ${at}, before byte ${end}: it changed while it was sent`);
    yield buffer.subarray(0, bytesRead);
  }
}

/** The headers of a file download, whole (200) or a range (206). */
const fileHeaders = { ...ETAG_HEADER, ...DISPOSITION_HEADER, ...ACCEPT_RANGES_HEADER };

export const recordingRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ["recordings"];
  const sql = app.db.sql;

  app.get("/recordings", {
    schema: {
      summary: "List recordings", tags,
      description: "sort=date orders by date, then time of day (as the recorder wrote it), then path — recordings without a date (of a date, without a time) last in either order; every other sort's ties go by path (created_at, duration, samplerate). The id breaks the last ties. Pages by offset, or by cursor: each page's next_cursor, given as `cursor` with the same filters, state, sort and order (with others it is a 400 naming cursor), is the page after it — one a recording registered or deleted meanwhile does not shift, so that a recording there throughout the paging, its sort key unchanged, is listed once (by offset, a deletion on an earlier page skips one, a registration repeats one).",
      querystring: withDatesInOrder(withTagKeyForValue(z.strictObject({
        ...pageQuery, ...recordingFilters, ...sortQuery(RECORDING_SORTS, "path"),
        ...cursorQuery(CURSOR_BYTES, RECORDING_CURSOR_QUERY),
      }))),
      response: {
        200: keysetPage(recordingSchema, "recording", RECORDING_CURSOR_QUERY),
        400: errorBody,
      },
    },
  }, async (request) => listRecordings(sql, withTagFilter(request.query)));

  app.post("/recordings", {
    schema: {
      summary: "Register one audio file of a dataset (reads its header and hash)", tags,
      body: z.strictObject({ dataset_id: id, path: text(1, MAX_PATH).describe("Relative to the dataset's audio_dir"), ...metadataFields }),
      response: { 201: recordingSchema, 400: errorBody, 403: errorBody, 404: errorBody, 409: errorBody },
    },
  }, async (request, reply) => {
    const { dataset_id, path: given, ...metadata } = request.body;
    await assertWritable(sql, "datasets", dataset_id);
    const dataset = await getDataset(sql, dataset_id);
    checkInAudioRoots(app, dataset.audio_dir, `dataset ${dataset_id}`);
    // Registered by where the file is, as a scan lists it: "sublink/a.wav", through a link to the
    // directory "sub", is "sub/a.wav" — registered once, not once per way to reach it.
    const { file: abs, realPath: path } = await resolveRecordingFile(dataset.audio_dir, canonicalRecordingPath(given));
    // The file named as the request names it, not by the server's own path (as the import does).
    const facts = await probeFile(abs, { exactPath: true }).catch((err: Error) => { throw invalid("path", err.message.replaceAll(abs, path)); });
    // Checked above before the file is read and hashed, and again with the dataset held as the row goes in.
    const rec = await writing(sql, "datasets", dataset_id, (tx) => insertRecording(tx, { dataset_id, path, ...facts, ...metadata, created_by: request.user?.id ?? null }));
    if (!rec) throw new ConflictError(`dataset ${dataset_id} already has a recording at ${path}`);
    app.recentScans.forget(dataset_id); // the file is registered now
    return reply.code(201).send(rec);
  });

  app.get("/recordings/:id", {
    schema: { summary: "Get a recording", tags, params: idParams, response: { 200: recordingSchema, 404: errorBody } },
  }, async (request) => getRecording(sql, request.params.id));

  app.patch("/recordings/:id", {
    schema: {
      summary: "Change a recording's metadata, or point it at another file of its dataset", tags, params: idParams,
      description: "A new `time_expansion` changes the recording's real samplerate and duration, hence what every time and frequency of its clips means: a recording with clips needs the query parameter `clips` (409 without it). In the same transaction its statistics and the feature values jobs computed of it and of its clips go — they are in real units of the old factor; submit a job to compute them again — while values a client wrote stay.",
      body: z.strictObject({
        path: text(1, MAX_PATH).optional().describe("Another file of the dataset, relative to its audio_dir, for a file moved and edited (an import follows a file moved with its bytes by MD5, not this): it must be readable audio there, no other recording's file, and hold no other recording's bytes (MD5; 409 unless `force=true`). Hashed and read as POST /v1/recordings/{id}/refresh does: the hash, size and header facts, hence the revision, tiles and statistics, follow the new bytes; clips, tags, features and notes stay"),
        ...metadataFields,
      }),
      querystring: z.strictObject({
        clips: z.enum(CLIPS_ON_TIME_EXPANSION, { error: `must be one of ${CLIPS_ON_TIME_EXPANSION.join(", ")}` }).optional()
          .describe("What a new `time_expansion` does to the recording's clips (every state), whose times and bounds are real seconds and Hz: `follow` — each keeps the audio of the file it covers (times × old/new factor, frequencies × new/old; a clip that fitted the recording still does), `keep` — each keeps its numbers, covering other audio of the file (409 where one would end past the recording or reach above its Nyquist frequency). Needed when the factor changes and the recording has clips (409 without it, naming how many); ignored otherwise"),
        force: booleanText().optional().describe("With `path`: point the recording at the file also when it holds another recording's bytes (a copy of that one's file): only when the file really is this recording's content; ignored without `path`"),
      }),
      response: { 200: recordingSchema, 400: errorBody, 403: errorBody, 404: errorBody, 409: errorBody },
    },
  }, async (request) => {
    const { path, ...metadata } = request.body;
    const id = request.params.id;
    if (path !== undefined) checkInAudioRoots(app, (await getRecordingLocation(sql, id)).audio_dir, `recording ${id}`);
    // The file is read before the transaction (hashing takes a while); the move and the other fields are one step.
    const content = path === undefined ? undefined : await readRecordingFile(sql, id, path);
    const updated = await updateRecording(sql, id, metadata, { content, clips: request.query.clips, force: request.query.force });
    if (path !== undefined) app.recentScans.forget(updated.dataset_id); // the recording's file moved
    return updated;
  });

  app.post("/recordings/:id/refresh", {
    schema: {
      summary: "Make the file now at the recording's path its content (after the file was replaced)", tags, params: idParams,
      description: "Hashes and reads the file again and stores its hash, size and header facts: the revision, tiles and statistics follow the new bytes. Clips, tags, features and notes stay; `clips_past_end` counts clips that now end after the recording, `clips_above_nyquist` those whose frequency band now reaches above its Nyquist frequency (a file of a lower rate): move them, or change or remove their bounds, before any other change of theirs passes. A file holding the bytes (MD5) of another recording of the dataset — two files swapped, or one copied over another — is refused (409 naming both) unless `force=true`.",
      querystring: z.strictObject({
        force: booleanText().optional().describe("Refresh also when the file holds another recording's bytes (swapped or copied over): only when the file really is this recording's content"),
      }),
      response: {
        200: z.object({
          recording: recordingSchema, clips_past_end: z.number().int(), clips_above_nyquist: z.number().int(),
          metadata_differs: z.array(z.object({ field: z.enum(["date", "time", "latitude", "longitude", "time_expansion"]), recording: z.union([z.string(), z.number()]).nullable(), file: z.union([z.string(), z.number()]) }))
            .describe("Where the new file's GUANO/bext metadata states another value than the recording's: the recording keeps its own (a person may have set it); PATCH /v1/recordings/{id} sets the file's if it is right"),
          stale_feature_values: z.number().int().describe("Feature values of the recording and its clips a job computed from its former bytes (their recording_hash is not the new MD5): kept, stale until a job computes them again (POST /v1/jobs)"),
        }),
        400: errorBody, 403: errorBody, 404: errorBody, 409: errorBody, 422: errorBody,
      },
    },
  }, async (request) => {
    const id = request.params.id;
    checkInAudioRoots(app, (await getRecordingLocation(sql, id)).audio_dir, `recording ${id}`);
    const { recording, clipsPastEnd, clipsAboveNyquist, metadataDiffers, staleFeatureValues } = await refreshRecordingFile(sql, id, { force: request.query.force }).catch((err) => {
      if (err instanceof AudioFormatError) throw new HttpError(422, `the file of recording ${id} cannot be read as audio: ${withoutAudioRoots(err.message, app.audioRoots)}`);
      // The request names no path, so no 400 naming one: the status every route reading the file gives (recordingFile).
      throw err instanceof RefusedFileError ? refusedFile(id, err) : err;
    });
    app.recentScans.forget(recording.dataset_id); // its size and time are the file's now
    return { recording, clips_past_end: clipsPastEnd, clips_above_nyquist: clipsAboveNyquist, metadata_differs: metadataDiffers, stale_feature_values: staleFeatureValues };
  });

  app.delete("/recordings/:id", {
    config: { role: "admin" },
    schema: { summary: "Delete an active recording's metadata for good (admin; the file stays)", tags, params: idParams, response: { 204: z.null(), 404: errorBody, 409: errorBody } },
  }, async (request, reply) => {
    await deleteRecording(sql, request.params.id);
    return reply.code(204).send(null);
  });

  app.post("/recordings/:id/tags", {
    schema: { summary: "Tag a recording (the tag is created if new)", tags, params: idParams, body: tagPair, response: { 200: recordingSchema, 400: errorBody, 404: errorBody, 409: errorBody } },
  }, async (request) => addRecordingTag(sql, request.params.id, { ...request.body, created_by: request.user?.id ?? null }));

  app.delete("/recordings/:id/tags", {
    schema: { summary: "Remove a tag from a recording", tags, params: idParams, querystring: tagPair, response: { 200: recordingSchema, 404: errorBody, 409: errorBody } },
  }, async (request) => removeRecordingTag(sql, request.params.id, request.query));

  app.post("/recordings/:id/features", {
    schema: {
      summary: "Set a feature value (the feature name is created if new)", tags, params: idParams,
      body: z.strictObject({ name: label(255), value: z.number({ error: "must be a number" }).finite() }),
      response: { 200: recordingSchema, 400: errorBody, 404: errorBody, 409: errorBody },
    },
  }, async (request) => setRecordingFeature(sql, request.params.id, { ...request.body, created_by: request.user?.id ?? null }));

  app.delete("/recordings/:id/features/:name", {
    schema: { summary: "Remove a feature value", tags, params: z.object({ id, name: label(255) }), response: { 200: recordingSchema, 404: errorBody, 409: errorBody } },
  }, async (request) => removeRecordingFeature(sql, request.params.id, request.params.name));

  app.post("/recordings/:id/owners", {
    schema: { summary: "Add an owner", tags, params: idParams, body: z.strictObject({ user_id: id }), response: { 200: recordingSchema, 400: errorBody, 404: errorBody, 409: errorBody } },
  }, async (request) => addRecordingOwner(sql, request.params.id, request.body.user_id));

  app.delete("/recordings/:id/owners/:user_id", {
    schema: { summary: "Remove an owner", tags, params: z.object({ id, user_id: id }), response: { 200: recordingSchema, 404: errorBody, 409: errorBody } },
  }, async (request) => removeRecordingOwner(sql, request.params.id, request.params.user_id));

  app.get("/recordings/:id/audio", {
    config: HEAD_DOCUMENTED,
    schema: {
      summary: "The audio file; supports Range requests (206, several ranges as multipart/byteranges), 416 for ranges outside it", tags, params: idParams,
      description: `The file as its format's media type (by extension), ETag its MD5 (304 on If-None-Match). ${RANGES_DESCRIPTION}`,
      response: {
        200: bytesResponse("The file, as its format's media type (by extension)", AUDIO_DOWNLOAD_TYPES, fileHeaders),
        206: rangesResponse(AUDIO_DOWNLOAD_TYPES, fileHeaders),
        304: notModifiedResponse({ ...ETAG_HEADER, ...ACCEPT_RANGES_HEADER }), 403: errorBody, 404: errorBody, 409: errorBody, 422: errorBody,
        416: errorWithHeaders(RANGE_NOT_SATISFIABLE, { ...ETAG_HEADER, ...ACCEPT_RANGES_HEADER, ...UNSATISFIED_RANGE_HEADER }),
      },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const { file: abs, size, mtime, ...loc } = await recordingFile(app, id);
    const etag = `"${loc.hash}"`; // the MD5 of the bytes: a strong validator
    reply.header("Accept-Ranges", "bytes").header("ETag", etag);
    // No body, and no JSON Content-Type from the 304's schema: a cache takes a 304's headers as the file's.
    if (notModified(request.headers["if-none-match"], etag)) return reply.code(304).header("ETag", etag).send(undefined);
    const ranges = requestedRanges(request, reply, etag, size);
    reply.header("Content-Disposition", attachment(loc.path.split("/").pop()!));
    // Opened as the file just checked (a link swapped in since leads nowhere: SPEC §10), and only
    // while it still has the size the headers state and the time its content was checked at.
    const { handle, size: opened, mtimeMs } = await openRegularFile(abs, { exactPath: true }).catch((err: Error) => {
      throw new HttpError(404, `the file of recording ${id} cannot be opened: ${withoutAudioRoots(err.message, app.audioRoots)}`);
    });
    const checked = { size, mtime };
    const changedSinceCheck = fileChange(checked, { size: opened, mtime: mtimeMs });
    if (changedSinceCheck) {
      await handle.close();
      throw fileChangedWhileRead(id, changedSinceCheck);
    }
    // Every piece waits for this check of the file (fileBytes): the open file's own size and time
    // (fstat), those of the bytes it reads — a file written in place moves them; one replaced by
    // another under its path (renamed over it) or deleted does not, and its bytes, read on, are
    // still the content checked. Failing before the first byte, the body is answered by Fastify's
    // error handling with the 409, which carries no header of the file's bytes: not its ETag, name
    // or range (set on the reply and, once the body was given, on the raw response).
    const check = async () => {
      const now = await handle.stat();
      const change = fileChange(checked, { size: now.size, mtime: now.mtimeMs });
      if (!change) return;
      if (!reply.raw.headersSent) {
        for (const name of ["etag", "content-disposition", "content-range"]) {
          reply.removeHeader(name);
          reply.raw.removeHeader(name);
        }
      }
      throw fileChangedWhileRead(id, change);
    };
    // One handle for every part, closed with the body (ended, failed or cut short).
    return sendRanges(reply, ranges, size, audioMediaType(loc.path), (start, end) => fileBytes(handle, start, end, check), () => void handle.close().catch(() => {}));
  });

  await app.register(stateRoutes("recordings", "recordings", recordingSchema, (id) => getRecording(sql, id), "any member"));
  await app.register(featureValueRoute("recordings", "recording"));
};
