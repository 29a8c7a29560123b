/**
 * A recording's audio file for the routes that read it (download, spectrograms): located
 * through the store, then checked against this server's audio roots at every use — a dataset
 * registered by another server may lie outside them, and a symlink swapped in after
 * registration must not escape. A file whose size is no longer the registered one has been
 * replaced: its hash, statistics and immutable tile URLs describe the old content, so it is
 * refused (409) rather than served under them.
 */
import type { FastifyInstance } from "fastify";
import { isInside, resolveRecordingFile } from "../store/paths.js";
import { getRecordingLocation, type RecordingLocation } from "../store/recordings.js";
import { HttpError } from "./plugins/errors.js";

/** The recording's location, the real absolute path of its file and the file's size in bytes. */
export async function recordingFile(app: FastifyInstance, id: string): Promise<RecordingLocation & { file: string; size: number }> {
  const loc = await getRecordingLocation(app.db.sql, id);
  if (!app.audioRoots.some((root) => isInside(root, loc.audio_dir))) {
    throw new HttpError(403, `the dataset directory of recording ${id} is outside this server's audio roots`);
  }
  const { file, size } = await resolveRecordingFile(loc.audio_dir, loc.path).catch(() => {
    throw new HttpError(404, `the file of recording ${id} is missing from its dataset directory`);
  });
  if (size !== loc.file_size) {
    throw new HttpError(409, `the file of recording ${id} (${loc.path}) has changed since it was registered: ${loc.file_size} bytes then, ${size} now; its hash, statistics and tiles describe the registered content — put that file back, or register the new one as a recording of its own`);
  }
  return { ...loc, file, size };
}
