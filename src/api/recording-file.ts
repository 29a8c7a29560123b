/**
 * A recording's audio file for the routes that read it (download, spectrograms): located
 * through the store, then checked against this server's audio roots at every use — a dataset
 * registered by another server may lie outside them, and a symlink swapped in after
 * registration must not escape.
 */
import type { FastifyInstance } from "fastify";
import { isInside, resolveRecordingPath } from "../store/paths.js";
import { getRecordingLocation, type RecordingLocation } from "../store/recordings.js";
import { HttpError } from "./plugins/errors.js";

/** The recording's location and the real absolute path of its file. */
export async function recordingFile(app: FastifyInstance, id: string): Promise<RecordingLocation & { file: string }> {
  const loc = await getRecordingLocation(app.db.sql, id);
  if (!app.audioRoots.some((root) => isInside(root, loc.audio_dir))) {
    throw new HttpError(403, `the dataset directory of recording ${id} is outside this server's audio roots`);
  }
  const file = await resolveRecordingPath(loc.audio_dir, loc.path).catch(() => {
    throw new HttpError(404, `the file of recording ${id} is missing from its dataset directory`);
  });
  return { ...loc, file };
}
