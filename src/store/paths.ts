/**
 * Keeping file access inside the configured audio roots (SPEC §10): a dataset's audio_dir
 * must resolve inside a root, and a recording's path inside its dataset's audio_dir.
 * "Resolve" means realpath — symlinks followed — so a link pointing out of a root is refused
 * exactly like `..` or an absolute path.
 */
import { realpath, stat } from "node:fs/promises";
import { isAbsolute, posix, relative, resolve, sep } from "node:path";
import { InvalidError, invalid } from "./errors.js";

/** True when `child` is `parent` or below it (both absolute and normalized). */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/** Real paths of the configured roots; a root that does not exist is a configuration error. */
export async function resolveRoots(roots: readonly string[]): Promise<string[]> {
  return Promise.all(
    roots.map(async (r) => {
      try {
        return await realpath(resolve(r));
      } catch {
        throw new Error(`audio root ${r} does not exist`);
      }
    }),
  );
}

/**
 * The real path of a dataset directory given by a user: absolute, or relative to the first
 * root. It must exist, be a directory and lie inside one of `roots` (already real paths).
 * `outsideHint` ends the refusal of a directory outside them: what the caller can do about it.
 */
export async function resolveAudioDir(roots: readonly string[], input: string, field = "audio_dir", outsideHint = ""): Promise<string> {
  if (!roots.length) throw invalid(field, "no audio roots are configured on this server (start it with --audio-root)");
  if (input.includes("\0")) throw invalid(field, "contains a NUL character");
  const candidate = isAbsolute(input) ? input : resolve(roots[0], input);
  const outside = () => invalid(field, `${input} is outside the configured audio roots${outsideHint}`);
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    // Outside the roots as written, a path is refused as outside whether or not it exists: the
    // answer must not tell a client what exists elsewhere on the server (/root/.ssh vs /root/x).
    if (!roots.some((root) => isInside(root, candidate))) throw outside();
    throw invalid(field, `directory ${input} does not exist${isAbsolute(input) ? "" : relativeHint(roots.length, field)}`);
  }
  if (!roots.some((root) => isInside(root, real))) throw outside();
  if (!(await stat(real)).isDirectory()) throw invalid(field, `${input} is not a directory`);
  return real;
}

/**
 * Why the file at a recording's path was refused (resolveRecordingFile): there is none there
 * (`missing`), its real path leaves the dataset's audio_dir (`outside`: a link leading out of it,
 * SPEC §10), or it is no regular file (`not_regular`: a directory — the audio_dir itself too —, a
 * FIFO, a device). Each caller
 * answers by it — the API with a status of its own (api/recording-file.ts), the CLI with the
 * store's words — rather than by matching the words, which name the path.
 */
export type FileRefusal = "missing" | "outside" | "not_regular";

/**
 * Why a dataset's directory that no longer exists (moved to another disk, unmounted) cannot be
 * read, and how to point the dataset at its files: one wording for a recording's file missing with
 * it (recordings.ts locatedFile) and for the dataset's scan and import (DirectoryGoneError).
 */
export function directoryGone(audioDir: string, datasetId: string): string {
  return `the dataset's directory ${audioDir} does not exist (files moved to another disk: PUT /v1/datasets/${datasetId}/audio_dir points the dataset at them)`;
}

/**
 * A dataset's directory gone (directoryGone) when its scan or import would read it: the API
 * answers 404 with `reason`, as it answers a recording's file missing with it (RefusedFileError
 * `missing`) — it was a 400 naming audio_dir, which a GET of the scan never sent; the command line
 * says it under audio_dir, as its other refusals of the directory.
 */
export class DirectoryGoneError extends InvalidError {
  override name = "DirectoryGoneError";
  constructor(readonly reason: string) {
    super([{ field: "audio_dir", message: reason }]);
  }
}

/** The file at a recording's path refused (FileRefusal): an InvalidError naming the path's field, `reason` its message. */
export class RefusedFileError extends InvalidError {
  override name = "RefusedFileError";
  constructor(field: string, readonly refusal: FileRefusal, readonly reason: string) {
    super([{ field, message: reason }]);
  }
}

/**
 * Where a relative directory that does not exist was looked for, and how to name one of another
 * root. The roots are named by their place, not their paths: an answer names files relative to
 * the roots, never where the server keeps them (api/recording-file.ts withoutAudioRoots).
 */
function relativeHint(roots: number, field: string): string {
  if (roots === 1) return ` in the audio root (a relative ${field} is resolved against it)`;
  return ` in the first of the ${roots} audio roots (a relative ${field} is resolved against the first): a directory of another root is given by its absolute path`;
}

/**
 * Checks a recording path relative to `audioDir` (a real path) and returns the file's real
 * absolute path, the path of it relative to `audioDir` (`realPath`: where the file is, without the
 * links that may lead there — the path a dataset scan lists it by), its size in bytes and when it
 * was last modified (stat's `mtimeMs`). Refused: empty, absolute, NUL, any `..` segment, and
 * anything whose real path (after symlinks) leaves `audioDir`, or is not a regular file.
 * @throws RefusedFileError for a file missing, leading outside `audioDir`, or not a regular file;
 *   InvalidError naming `field` for a path refused as written
 */
export async function resolveRecordingFile(audioDir: string, path: string, field = "path"): Promise<{ file: string; realPath: string; size: number; mtime: number }> {
  checkRelativePath(path, field);
  let real: string;
  try {
    real = await realpath(resolve(audioDir, path));
  } catch {
    throw new RefusedFileError(field, "missing", `file ${path} does not exist in the dataset's audio_dir`);
  }
  if (!isInside(audioDir, real)) throw new RefusedFileError(field, "outside", `${path} resolves outside the dataset's audio_dir`);
  // `.`, `./`, a link to `.`: inside as isInside counts, and no file; it was "resolves outside".
  if (real === audioDir) throw new RefusedFileError(field, "not_regular", `"${path}" is the dataset's audio_dir itself, not a file in it`);
  const info = await stat(real);
  if (!info.isFile()) throw new RefusedFileError(field, "not_regular", `${path} is not a regular file`);
  return { file: real, realPath: relative(audioDir, real).split(sep).join("/"), size: info.size, mtime: info.mtimeMs };
}

/** Syntactic checks of a relative recording path (no file system access). */
function checkRelativePath(path: string, field = "path"): void {
  if (!path) throw invalid(field, "must not be empty");
  if (path.includes("\0")) throw invalid(field, "contains a NUL character");
  if (isAbsolute(path) || path.startsWith("/")) throw invalid(field, "must be relative to the dataset's audio_dir, not absolute");
  if (path.split(/[\\/]/).includes("..")) throw invalid(field, "must not contain '..'");
}

/**
 * A recording path as it is stored: checked, then in the form a dataset scan lists files in
 * (`a/b.wav`, not `./a//b.wav` or `a/b.wav/`), so one file has one path — and one registration.
 */
export function canonicalRecordingPath(path: string, field = "path"): string {
  checkRelativePath(path, field);
  return posix.normalize(path).replace(/\/+$/, "");
}

/**
 * The Unicode normal form a path is written in: "NFC" (as typed, and as Linux and Windows keep it),
 * "NFD" (accents decomposed, as macOS writes names) or "mixed" (parts in each, a directory named on
 * one system holding a file named on the other) — what tells apart two paths that look alike.
 */
export function normalForm(path: string): "NFC" | "NFD" | "mixed" {
  if (path === path.normalize("NFC")) return "NFC";
  return path === path.normalize("NFD") ? "NFD" : "mixed";
}
