/**
 * A recording's audio file for the routes that read it (download, spectrograms): located
 * through the store, then checked against this server's audio roots at every use — a dataset
 * registered by another server may lie outside them, and a symlink swapped in after
 * registration must not escape. A file whose content is no longer the registered one (another
 * size, or another MD5 after its mtime moved: recordingFileNow) has been replaced: 409 rather
 * than served under its old hash and tile URLs.
 */
import type { FastifyInstance } from "fastify";
import type { FileChangedError } from "../audio/source.js";
import { ConflictError } from "../store/errors.js";
import { isInside, RefusedFileError, type FileRefusal } from "../store/paths.js";
import { getRecordingLocation, recordingFileNow, refreshRoute, refusedFileMessage, type RecordingLocation } from "../store/recordings.js";
import { HttpError } from "./plugins/errors.js";

/**
 * `message` (an error naming a recording's file) with this server's audio roots taken out of its
 * paths: clients know recordings by their dataset-relative paths, not where the server keeps them.
 */
export function withoutAudioRoots(message: string, roots: readonly string[]): string {
  return roots.reduce((m, root) => m.replaceAll(root.endsWith("/") ? root : `${root}/`, ""), message);
}

/** How the API's errors about recording `id` name it: by its id and by `path`, its file's path in its dataset, which a person knows it by. */
export function recordingName(id: string, path: string): string {
  return `recording ${id} (${path})`;
}

/** For the operator whose audio moved to another disk (the roots changed, the datasets did not). */
const MOVED_HINT = "; if its files moved to another disk, an admin points the dataset at them with PUT /v1/datasets/{id}/audio_dir";

/**
 * Refuses (403) to read in a dataset directory outside this server's audio roots: servers that
 * share a database may be given different roots, and each reads only inside its own — files
 * (download, tiles) as well as listings and registrations (scan, import, POST /recordings).
 */
export function checkInAudioRoots(app: FastifyInstance, audioDir: string, whose: string): void {
  if (!app.audioRoots.some((root) => isInside(root, audioDir))) throw new HttpError(403, `the dataset directory of ${whose} is outside this server's audio roots${MOVED_HINT}`);
}

/**
 * The status answering why a recording's file was refused (FileRefusal), for every route that
 * reads it (download, tiles, playback, refresh): nothing there is not found; a directory or another
 * file that is not a regular one, and a link leading out of the dataset's directory, are there but
 * cannot be used as its audio, as a file that does not read as audio (422). Not 403: SPEC §10
 * answers that for what the token may not do, and no token may read this file — an admin client
 * would look for a missing role. Not 409: that answers a file whose content changed since
 * registration, which a refresh resolves — this one it cannot.
 */
const REFUSAL_STATUS: Record<FileRefusal, number> = { missing: 404, outside: 422, not_regular: 422 };

/** The answer to recording `id`'s file refused by the store: its status by why, the store's words (which name it by its path in the dataset). */
export function refusedFile(id: string, err: RefusedFileError): HttpError {
  return new HttpError(REFUSAL_STATUS[err.refusal], refusedFileMessage(id, err));
}

/**
 * The recording's location, the real absolute path of its file and the file's size in bytes and
 * modification time as checked to hold the registered content, with
 * the header facts as this engine's readers count them (recordingFileNow reads them again where an
 * older engine's did). `located` is called once the location is read, before the file is looked
 * at — which hashes the whole file when its modification time moved, seconds for gigabytes.
 */
export async function recordingFile(app: FastifyInstance, id: string, located?: () => void): Promise<RecordingLocation & { file: string; size: number; mtime: number }> {
  const loc = await getRecordingLocation(app.db.sql, id);
  checkInAudioRoots(app, loc.audio_dir, `recording ${id}`);
  located?.();
  const now = await recordingFileNow(app.db.sql, loc, id).catch((err) => {
    if (err instanceof RefusedFileError) throw refusedFile(id, err);
    throw err instanceof ConflictError ? err : new HttpError(404, `the file of recording ${id} is missing from its dataset directory`);
  });
  return { ...loc, ...now };
}

/**
 * The answer to a read of recording `id` whose file changed while it was read (`change`): a 409
 * naming the recording, the change, and what to do — one message for every route that reads the
 * file (a tile, an image, a stream's part, a playback, a download), whether it is the answer or,
 * the status sent already, what cut the answer short.
 */
export function fileChangedWhileRead(id: string, change: FileChangedError): HttpError {
  return new HttpError(409, `recording ${id}: ${change.message}; nothing read from it was kept or sent whole — ask again once the file is no longer written (its new content, if it is the recording's now: ${refreshRoute(id)})`);
}
