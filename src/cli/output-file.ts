/**
 * The output file of `decode` and `spectrogram`, written so that a run never costs the user a
 * file: `-o` may not name the input itself (nor, through a link, the same file), and the output
 * is written to a temporary file beside it and renamed over it only once complete — a run that
 * fails, however late, leaves whatever was at that path untouched and nothing half-written.
 */
import { lstat, readlink, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { UsageError } from "./errors.js";

/**
 * Rejects an `output` that is the `input` file (compared as files, by device and inode, so links
 * count) or an existing directory, before any work is done.
 * @throws UsageError naming -o.
 */
export async function checkOutputPath(input: string, output: string): Promise<void> {
  const target = await stat(output).catch(() => null);
  if (!target) return;
  if (target.isDirectory()) throw new UsageError(`-o ${output}: is a directory`);
  const source = await stat(input).catch(() => null);
  if (source && source.dev === target.dev && source.ino === target.ino) {
    throw new UsageError(`-o ${output}: is the input file; write the output somewhere else`);
  }
}

/**
 * Runs `write(tempPath)`, then renames the temporary file to `output` (atomic within a directory).
 * If `write` or the rename fails, the temporary file is removed and the error is thrown as it is;
 * `output` is left as it was.
 */
export async function writeOutputFile<T>(output: string, write: (tempPath: string) => Promise<T>): Promise<T> {
  const target = await linkTarget(output);
  const tempPath = join(dirname(target), `.${basename(target)}.${process.pid}.partial`);
  try {
    const result = await write(tempPath);
    await rename(tempPath, target).catch((err: Error) => Promise.reject(outputError(output, err)));
    return result;
  } catch (err) {
    await rm(tempPath, { force: true });
    throw err;
  }
}

/** What a failed file operation means to a person, by its error code. */
const WRITE_FAILURES: Record<string, string> = {
  ENOENT: "no such directory",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "is a directory",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
};

/**
 * Where writing `output` lands: an -o that is a link is written through, as opening it would —
 * its target (existing or not yet) is replaced, the link stays.
 */
async function linkTarget(output: string): Promise<string> {
  const existing = await realpath(output).catch(() => null);
  if (existing) return existing;
  const link = await lstat(output).catch(() => null);
  return link?.isSymbolicLink() ? resolve(dirname(output), await readlink(output)) : output;
}

/**
 * A failed write of an output file (exit 1, like unreadable input: the run could not complete),
 * named by the user's path — Node's own message names the temporary file.
 */
export function outputError(output: string, err: NodeJS.ErrnoException): Error {
  return new Error(`cannot write ${output}: ${(err.code && WRITE_FAILURES[err.code]) ?? err.code ?? err.message}`);
}
