/**
 * /v1/recordings/{id}/stats: the recording stats (SPEC §5) stored for a recording's current content
 * — per parameter set, what seamless tiles need: the normalization maximum and the PCEN state
 * checkpoints. Read-only: the first tile (or one-shot image) of a parameter set computes its stats
 * (README, Tiles and the HTTP API: Seamless); these routes never start that pass.
 */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { checkCrossFieldRules, checkParamsForRecording, paramsObject, ParamsError, parseParams, realSamplerate } from "../../engine/params.js";
import { needsRecordingStats } from "../../engine/recording.js";
import { InvalidError } from "../../store/errors.js";
import { getRecordingLocation } from "../../store/recordings.js";
import { listStats } from "../../store/stats.js";
import { recordingStatsIdentity } from "../../tiles/service.js";
import { HttpError } from "../plugins/errors.js";
import { recordingName } from "../recording-file.js";
import { statsView } from "../tile-stats.js";
import { errorBody, idParams, nullableTimestamp, page, pageQuery, timestamp } from "../schemas.js";

const statsSchema = z.object({
  key: z.string().describe("The stats' key among the recording's: a hash of what they are for (params, time_expansion, engine)"),
  // The claim is taken before the pass waits for a slot (TileService#loadOrCompute), so that other
  // instances wait for it: `computing` said a pass was running while it was queued.
  status: z.enum(["ready", "computing"]).describe("ready: stored; or computing: claimed by a server instance (under a live lease), its pass over the whole recording running there or waiting there for a pass slot — queued behind other passes, as its tiles' 503 says (`waits for a free pass slot`). Its tiles answer 503 with Retry-After until the pass ends"),
  params: z.record(z.string(), z.union([z.number().nullable(), z.string(), z.boolean()])).nullable()
    .describe("The spectrogram parameters the stats are for, by the names a request sends them: every one that changes the values before normalization (not scale, clamp, min_dB, max_dB, normalize or cmap, which share the stats), as they act on this recording — window_size and hop_size as the midpoints of the frames they give (`geometry`), which every spelling of those frames shares; fields that cannot act at their defaults (kaiser_beta with another window, pcen_* without pcen, samplerate without resampling). Null in the listing for stats stored before sonotile kept this (their lookup by parameters shows them)"),
  time_expansion: z.number().nullable().describe("The recording's time expansion the stats were computed at: tiles use them while the recording has it"),
  engine: z.string().nullable().describe("The engine version that computed them: tiles use only the current one's (GET /version)"),
  maximum: z.number().nullable().describe("The normalization maximum: max(S) over the whole recording, after PCEN when pcen (SPEC §3.7); null while computing"),
  frames: z.number().int().nullable().describe("Frames of the whole recording's spectrogram; null while computing"),
  geometry: z.object({
    nperseg: z.number().int().describe("Samples per frame and FFT length"), noverlap: z.number().int(), hop: z.number().int().describe("Samples between frame starts"),
    bins: z.number().int(), samplerate: z.number().describe("Rate the STFT runs at, Hz (real units)"),
  }).nullable().describe("The frames the stats describe; null while computing"),
  pcen_checkpoints: z.object({
    count: z.number().int().describe("Checkpoints stored (the state before frame 0 is implied)"),
    every_frames: z.number().int().describe("Frames between checkpoints: a tile replays at most this many frames of PCEN before its first"),
    bytes: z.number().int().describe("Their size in the database"),
  }).nullable().describe("The PCEN smoother's state kept along the recording (never the bytes themselves); null without PCEN, while computing, or when the recording is shorter than one spacing"),
  overview: z.object({
    columns: z.number().int().describe("Overview columns: one per `every_frames` frames of the recording, the last one over what is left"),
    every_frames: z.number().int().describe("Frames each column is the maximum of (512: the columns of zoom 9)"),
    bytes: z.number().int().describe("Its size in the database and in the stats cache (float32, columns × geometry.bins)"),
  }).nullable().describe("The recording's overview, kept by a pass that transforms more than the tile work limit (frames × FFT length over 2^32): per bin, the maximum of every `every_frames` frames after PCEN and before normalization, from which every tile of the recording from zoom 9 up is pooled (never the bytes themselves); null for a recording within that limit, while computing, or for stats stored before sonotile kept one (the first tile that needs it computes them again)"),
  created_at: timestamp,
  computed_at: nullableTimestamp.describe("When the stats were stored; null while computing"),
});

export const statsRoutes: FastifyPluginAsyncZod = async (app) => {
  const sql = app.db.sql;
  const tags = ["recordings"];

  app.get("/recordings/:id/stats", {
    schema: {
      summary: "The recording stats stored for a recording's current content, one entry per parameter set, newest first", tags, params: idParams,
      description: "What seamless tiles need per parameter set: the normalization maximum, the PCEN checkpoints (their count and spacing, not their bytes) and, for a recording over the tile work limit, the overview its tiles from zoom 9 up are pooled from (its size). Stats claimed by a server instance — their pass running there, or waiting there for a pass slot — are listed as `computing`. Stats of an earlier content of the file (before a refresh) are not listed. GET /v1/recordings/{id}/stats/lookup finds those of given parameters.",
      querystring: z.strictObject(pageQuery),
      response: { 200: page(statsSchema), 404: errorBody },
    },
  }, async (request) => {
    const recording = await getRecordingLocation(sql, request.params.id);
    const stats = await listStats(sql, { ...request.query, recording_id: request.params.id, recording_hash: recording.hash });
    return { ...stats, items: stats.items.map((entry) => statsView(entry)) };
  });

  app.get("/recordings/:id/stats/lookup", {
    schema: {
      summary: "The recording stats of these spectrogram parameters, as a tile with them uses", tags, params: idParams,
      description: "The spectrogram parameters (SPEC §2) of a tile or one-shot URL, their defaults as there — not the tile's own options (width, height, fmin, fmax, revision: a 400 naming them), which do not change the stats; those that share the stats (scale, clamp, min_dB, max_dB, normalize, cmap) find the same entry. 404 when they are not computed yet: the first tile with these parameters computes them. dB without pcen or normalize needs stats only for tiles pooled from the overview (every tile from zoom 9 up of a recording over the tile work limit, within the pass limit): found once the first such tile, or any tile sharing their key, computed them, 404 before or when no tile needs them. Never starts a computation.",
      querystring: paramsObject.superRefine(checkCrossFieldRules),
      response: { 200: statsSchema, 400: errorBody, 404: errorBody },
    },
  }, async (request) => {
    const id = request.params.id;
    const recording = await getRecordingLocation(sql, id);
    const params = parseParams(request.query);
    const frames = { samplerate: recording.file_samplerate, timeExpansion: recording.time_expansion, frames: recording.frames };
    try {
      checkParamsForRecording(params, { samplerate: realSamplerate(recording.file_samplerate, recording.time_expansion), channels: recording.channels, name: recordingName(id, recording.path) });
    } catch (err) {
      throw err instanceof ParamsError ? new InvalidError(err.issues) : err;
    }
    const identity = recordingStatsIdentity(frames, params);
    const [entry] = (await listStats(sql, { limit: 1, offset: 0, recording_id: id, recording_hash: recording.hash, params_hash: identity.key })).items;
    // dB without pcen or normalize makes a pass only for a tile pooled from the overview (zoom 9 up, over the tile work limit): look for its stats first.
    if (!entry && !needsRecordingStats(params)) {
      throw new HttpError(404, `no recording stats are kept for these parameters on recording ${id} (key ${identity.key}): dB without pcen or normalize needs no whole-recording statistic, so their tiles are computed without a pass — except tiles pooled from the overview (every tile from zoom 9 up of a recording over the tile work limit, within the pass limit), the first of which computes them`);
    }
    if (!entry) throw new HttpError(404, `the stats of recording ${id} for these parameters are not computed yet (key ${identity.key}): the first tile or one-shot image with them computes them`);
    return statsView(entry, identity.for);
  });
};
