/**
 * Artifacts' files read from the database onto disk, as `sonotile jobs download` writes them —
 * each on its own, or the tables of a job's chain of retries merged (job-chain.ts): what makes a
 * file undownloadable, its chunks checked as they pass, and the directory they go into.
 */
import { createHash } from "node:crypto";
import { lstat, mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
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
 * was not given: nothing may be replaced unasked.
 * @throws UsageError naming -o and the files found
 */
export async function makeDownloadDirectory(dir: string, names: readonly string[], force: boolean): Promise<void> {
  const existing = force ? [] : (await Promise.all(names.map(async (name) => ((await lstat(join(dir, name)).catch(() => null)) ? join(dir, name) : null)))).filter((p) => p !== null);
  if (existing.length) throw new UsageError(`-o ${dir}: ${existing.join(", ")} ${existing.length > 1 ? "exist" : "exists"}; give --force to replace ${existing.length > 1 ? "them" : "it"}, or another -o — nothing written`);
  await mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => Promise.reject(outputError(dir, err)));
}
