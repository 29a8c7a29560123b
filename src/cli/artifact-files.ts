/**
 * Artifacts' files read from the database onto disk, as `sonotile jobs download` writes them —
 * each on its own, or the tables of a job's chain of retries merged (job-chain.ts): what makes a
 * file undownloadable, its chunks checked as they pass, and the directory they go into.
 */
import { createHash } from "node:crypto";
import { lstat, mkdir, rmdir } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Sql } from "../store/db.js";
import { expiredArtifactMessage, fileContentsStored, readFileContents, unstoredFileMessage, type Artifact } from "../store/artifacts.js";
import { UsageError } from "./errors.js";
import { outputError } from "./output-file.js";

/**
 * Why an artifact's file cannot be downloaded, after its name, or null: expired, its bytes not in
 * the database (as GET /v1/artifacts/{id}/file says: 410, 404), or a name that is no plain file
 * name (it would be written elsewhere than DIR).
 */
export async function undownloadable(sql: Sql, a: Artifact): Promise<string | null> {
  if (a.expired) return `${a.name}: ${expiredArtifactMessage(a)}`;
  if (basename(a.name) !== a.name || a.name === "." || a.name === "..") return `artifact ${a.id}: its name ${JSON.stringify(a.name)} is no file name`;
  if (!(await fileContentsStored(sql, a.file_sha256, a.size))) return `${a.name}: ${unstoredFileMessage(a)}`;
  return null;
}

/**
 * The chunks of an artifact's file as readFileContents reads them (one query per 1 MiB, one chunk
 * held at a time), checked as they pass: a file whose bytes do not come to its size and SHA-256
 * fails at its end, before writeOutputBytes renames it into place.
 */
export async function* checkedContents(sql: Sql, a: Artifact): AsyncGenerator<Buffer> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of readFileContents(sql, a.file_sha256, a.size)) {
    hash.update(chunk);
    size += chunk.length;
    yield chunk;
  }
  const sha256 = hash.digest("hex");
  if (size !== a.size || sha256 !== a.file_sha256) throw new Error(`artifact ${a.id} (${a.name}): the database gave ${size} bytes of SHA-256 ${sha256}, not the ${a.size} bytes of ${a.file_sha256} stored; nothing was written for it`);
}

/**
 * Makes `dir` (and its parents) for files of `names`, unless one of them exists there and `force`
 * was not given: nothing may be replaced unasked; then `write`s them. When that fails, the
 * directories this call made that are still empty — nothing was written into them — are removed
 * again: a download refused by a full disk left the directory it had made behind.
 * @throws UsageError naming -o and the files found
 */
export async function intoDownloadDirectory<T>(dir: string, names: readonly string[], force: boolean, write: () => Promise<T>): Promise<T> {
  const existing = force ? [] : (await Promise.all(names.map(async (name) => ((await lstat(join(dir, name)).catch(() => null)) ? join(dir, name) : null)))).filter((p) => p !== null);
  if (existing.length) throw new UsageError(`-o ${dir}: ${existing.join(", ")} ${existing.length > 1 ? "exist" : "exists"}; give --force to replace ${existing.length > 1 ? "them" : "it"}, or another -o — nothing written`);
  // Absolute and normalised, as mkdir's answer (`made`) is: the clean-up below walks up by dirname
  // and stops there — from x/../keep/job it walked past it, and removed the user's own empty keep.
  const absolute = resolve(dir);
  const made = await mkdir(absolute, { recursive: true }).catch(async (err: NodeJS.ErrnoException) => Promise.reject(outputError(dir, await mkdirFailure(dir, err))));
  try {
    return await write();
  } catch (err) {
    if (made) {
      // From `dir` up to the first directory made, each removed only while empty (rmdir refuses others).
      for (let empty = absolute; await rmdir(empty).then(() => true, () => false); empty = dirname(empty)) if (empty === made) break;
    }
    throw err;
  }
}

/**
 * Why a recursive mkdir of `dir` failed: Node's reports ENOENT for any component it could not
 * make (a read-only file system said "no such directory"); a plain mkdir of the first missing one
 * gives the real reason (EROFS, EACCES, ENOSPC). `err` itself otherwise.
 */
async function mkdirFailure(dir: string, err: NodeJS.ErrnoException): Promise<NodeJS.ErrnoException> {
  if (err.code !== "ENOENT") return err;
  let missing = dir;
  while (dirname(missing) !== missing && !(await lstat(dirname(missing)).then(() => true, () => false))) missing = dirname(missing);
  return mkdir(missing).then(
    () => rmdir(missing).then(() => err, () => err), // made after all (a race): the first error stands
    (real: NodeJS.ErrnoException) => (real.code === "EEXIST" ? err : real),
  );
}
