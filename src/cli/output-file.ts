/**
 * The output files of `decode`, `spectrogram` and `extract`, written so that a run never costs the
 * user a file: `-o` may not name the input itself (nor, through a link, the same file), and the
 * output is written to a temporary file beside it and renamed over it only once complete — a run
 * that fails, however late, or is interrupted (Ctrl-C, `kill`) leaves whatever was at that path
 * untouched and nothing half-written.
 */
import { rmSync, writeFileSync, writeSync } from "node:fs";
import { lstat, open, readFile, readlink, realpath, rename, rm, stat, writeFile, type FileHandle } from "node:fs/promises";
import { constants } from "node:os";
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
 * The .json that says what made `output` (spectrogram's numbers, extract's .npy and .csv tables):
 * `<output>.json` — one per output, so that outputs of one stem (x.csv and x.npy, x.npy and x.f32,
 * x.partial.csv and x.partial.npy) never write the same file.
 */
export function sidecarPath(output: string): string {
  return `${output}.json`;
}

/**
 * Refuses, before any work, a sidecar path (sidecarPath) that holds anything but a sonotile
 * sidecar — a directory, or a file without a top-level `sonotile` key (a user's own notes): writing
 * the sidecar would replace it. A sidecar of an earlier run is replaced, as its output is.
 * @throws UsageError naming -o and the sidecar.
 */
export async function checkSidecarPath(output: string): Promise<void> {
  const path = sidecarPath(output);
  const found = await stat(path).catch(() => null);
  if (!found) return;
  if (found.isDirectory()) throw new UsageError(`-o ${output}: its sidecar ${path} is a directory`);
  if (!(await isSonotileSidecar(path))) throw new UsageError(`-o ${output}: its sidecar ${path} exists and is not a sonotile sidecar (no "sonotile" key); move it or choose another -o`);
}

/** Whether the file at `path` is JSON whose top level has a `sonotile` key (what every sidecar holds). */
async function isSonotileSidecar(path: string): Promise<boolean> {
  try {
    const value: unknown = JSON.parse(await readFile(path, "utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) && "sonotile" in value;
  } catch {
    return false; // unreadable or not JSON: not ours
  }
}

/**
 * Runs `write(tempPath)`, then renames the temporary file to `output` (atomic within a directory).
 * If `write` or the rename fails, the temporary file is removed and the error is thrown as it is;
 * `output` is left as it was. So is it when the process is interrupted meanwhile (`onSignal`).
 */
export async function writeOutputFile<T>(output: string, write: (tempPath: string) => Promise<T>): Promise<T> {
  const target = await linkTarget(output);
  const tempPath = partialPath(target);
  watchPartial(tempPath);
  try {
    const result = await write(tempPath);
    await rename(tempPath, target).catch((err: Error) => Promise.reject(outputError(output, err)));
    return result;
  } catch (err) {
    await rm(tempPath, { force: true });
    throw err;
  } finally {
    unwatchPartial(tempPath);
  }
}

/**
 * `bytes` written to `output` by writeOutputFile; `then` runs once they are in the temporary file,
 * before it is renamed (a CSV table puts its sidecar in place there; an `.npy` table's sidecar is
 * written in the same pass: writeOutputWithSidecar). Text or bytes given as an async iterable (a
 * table read from the database as it is written, an artifact's chunks) are written chunk by chunk,
 * one held at a time; a failure of the iterable is thrown as it is, not as the file's.
 */
export function writeOutputBytes(output: string, bytes: Uint8Array | string | AsyncIterable<string | Uint8Array>, then?: () => Promise<void>): Promise<void> {
  return writeOutputFile(output, async (temp) => {
    if (typeof bytes === "string" || bytes instanceof Uint8Array) await writeFile(temp, bytes).catch((err: NodeJS.ErrnoException) => Promise.reject(outputError(output, err)));
    else {
      const file = await ChunkedFile.open(temp, output);
      try {
        for await (const chunk of bytes) await file.append(chunk);
      } finally {
        await file.close();
      }
    }
    await then?.();
  });
}

/**
 * An output and the sidecar beside it (sidecarPath) written in one pass over `chunks`, each chunk
 * of the one it names (an .npy table's matrix and sidecar: featureTableNpyChunks): a chunk at a
 * time, each into its temporary file, as writeOutputBytes writes one. The sidecar is put in place
 * once both are complete, then the output, as writeOutputBytes' `then` puts a sidecar: a failure
 * of either, or of `chunks`, leaves both as they were.
 */
export function writeOutputWithSidecar(output: string, chunks: AsyncIterable<{ table: string | Uint8Array } | { sidecar: string | Uint8Array }>): Promise<void> {
  const beside = sidecarPath(output);
  return writeOutputFile(output, (tableTemp) =>
    writeOutputFile(beside, async (sidecarTemp) => {
      const table = await ChunkedFile.open(tableTemp, output);
      try {
        const sidecar = await ChunkedFile.open(sidecarTemp, beside);
        try {
          for await (const chunk of chunks) await ("table" in chunk ? table.append(chunk.table) : sidecar.append(chunk.sidecar));
        } finally {
          await sidecar.close();
        }
      } finally {
        await table.close();
      }
    }),
  );
}

/** A temporary file written a chunk at a time from its start, a failure named by the output it becomes (outputError). */
class ChunkedFile {
  private at = 0;

  private constructor(
    private readonly file: FileHandle,
    private readonly output: string,
  ) {}

  /**
   * @param temp the temporary file, created (or emptied)
   * @param output the path it is written for, as messages name it
   */
  static async open(temp: string, output: string): Promise<ChunkedFile> {
    const file = await open(temp, "w").catch((err: NodeJS.ErrnoException) => Promise.reject(outputError(output, err)));
    return new ChunkedFile(file, output);
  }

  /** Writes `chunk` after the chunks before it. */
  async append(chunk: string | Uint8Array): Promise<void> {
    this.at = await writeWholeAt(this.file, typeof chunk === "string" ? Buffer.from(chunk) : chunk, this.at).catch((err: NodeJS.ErrnoException) => Promise.reject(outputError(this.output, err)));
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

/**
 * Writes all of `bytes` into `file` from byte `at`. A write may take fewer bytes than given and
 * resolve without error (a file size limit or a full disk reached mid-write): the rest is written,
 * so that the write past the limit throws its error (EFBIG, ENOSPC) — not a short file taken for whole.
 * A write that takes none and gives no error is thrown (nothingWritten): asked again, it looped for ever.
 * @returns the byte just after them.
 */
export async function writeWholeAt(file: FileHandle, bytes: Uint8Array, at: number): Promise<number> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, at + done);
    if (bytesWritten === 0) throw nothingWritten(bytes.length - done, at + done);
    done += bytesWritten;
  }
  return at + bytes.length;
}

/** writeWholeAt on a file descriptor, synchronously: `length` bytes of `bytes` from `offset`, at byte `at` of the file. */
export function writeWholeSyncAt(fd: number, bytes: Uint8Array, offset: number, length: number, at: number): void {
  for (let done = 0; done < length; ) {
    const written = writeSync(fd, bytes, offset + done, length - done, at + done);
    if (written === 0) throw nothingWritten(length - done, at + done);
    done += written;
  }
}

/**
 * A write of `length` bytes at byte `at` that took none and gave no error (a file system that
 * takes no more without saying why): named by where, the callers naming the file (outputError).
 */
function nothingWritten(length: number, at: number): Error {
  return new Error(`a write of ${length} bytes at byte ${at} wrote none and gave no error`);
}

/** The temporary file an output is written to, beside it (hidden, named by the process). */
function partialPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.partial`);
}

/**
 * Refuses, before any work, an output that cannot be created where asked — a directory on its
 * path missing or a file, no permission, a read-only file system, a directory that takes no new
 * files (/proc) — by creating and removing the temporary file writeOutputFile would write.
 */
export async function checkOutputWritable(output: string): Promise<void> {
  const probe = partialPath(await linkTarget(output));
  // Watched as a partial file: a Ctrl-C between its creation and removal must not leave it behind.
  // Created and removed synchronously: an asynchronous create still in flight when the signal's
  // handler removed the file made it again just after (one of a CI run's eight interrupted checks left it).
  watchPartial(probe);
  try {
    writeFileSync(probe, "");
    rmSync(probe, { force: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // ENOENT in a directory that exists: it takes no new files (/proc, a pseudo file system).
    if (e.code === "ENOENT" && (await stat(dirname(probe)).catch(() => null))?.isDirectory()) throw new Error(`cannot write ${output}: its directory takes no new files`);
    throw outputError(output, e);
  } finally {
    unwatchPartial(probe);
  }
}

/** Signals that end a run from outside: Ctrl-C, `kill`, the terminal closing. */
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Temporary files being written now: what an interrupted run must remove. */
const partialFiles = new Set<string>();
let signalsWatched = false;
/** What the next signal is handed to instead of ending the run (onFirstSignal); null: it ends the run. */
let firstSignalHandler: ((signal: NodeJS.Signals) => void) | null = null;

/**
 * The handlers stay from the first write to the end of the process: taking them off when no file
 * is open would swallow a signal Node has caught but not yet handed to them — a Ctrl-C lost, the
 * run going on. With no file being written, onSignal only gives the signal its default effect.
 */
function watchSignals(): void {
  if (!signalsWatched) for (const signal of SIGNALS) process.on(signal, onSignal);
  signalsWatched = true;
}

function watchPartial(path: string): void {
  watchSignals();
  partialFiles.add(path);
}

function unwatchPartial(path: string): void {
  partialFiles.delete(path);
}

/**
 * Hands the next of SIGNALS (Ctrl-C, SIGTERM, SIGHUP) to `handler` instead of ending the run, for
 * a command that keeps its work when interrupted (`extract` writes the rows it has): `handler`
 * must then end the process itself, by endBySignal. Only the first: the one after it ends the
 * run at once, as without this — a second Ctrl-C is never swallowed by a slow wind-down.
 * @returns a function that takes `handler` back (signals end the run again).
 */
export function onFirstSignal(handler: (signal: NodeJS.Signals) => void): () => void {
  watchSignals();
  firstSignalHandler = handler;
  return () => {
    if (firstSignalHandler === handler) firstSignalHandler = null;
  };
}

/** Synchronous steps of a run ended by a signal, before it dies (onSignalEnd). */
const signalEndSteps = new Set<() => void>();

/**
 * Runs `step` (synchronous: nothing else may run first) when a signal ends the run (endBySignal),
 * as the temporary files are removed — a lock the run holds is released.
 * @returns a function that takes `step` back.
 */
export function onSignalEnd(step: () => void): () => void {
  watchSignals();
  signalEndSteps.add(step);
  return () => void signalEndSteps.delete(step);
}

function onSignal(signal: NodeJS.Signals): void {
  const handler = firstSignalHandler;
  firstSignalHandler = null;
  if (handler) handler(signal);
  else endBySignal(signal);
}

/**
 * Ends an interrupted run: a handler stops Node from dying of the signal, so the temporary files
 * are removed here (synchronously: nothing else may run first), and then the signal is raised
 * again with its default effect — the process ends killed by it, as it would have without us
 * (a shell reports 128 + the signal: 130 for SIGINT, 143 for SIGTERM), and a script looping over
 * files stops on Ctrl-C as it expects.
 */
export function endBySignal(signal: NodeJS.Signals): never {
  for (const path of partialFiles) rmSync(path, { force: true });
  for (const step of signalEndSteps) step();
  for (const s of SIGNALS) process.off(s, onSignal);
  process.kill(process.pid, signal);
  // The signal, now at its default, ended the process in kill(); were it held off, the status says the same.
  process.exit(128 + constants.signals[signal]);
}

/** What a failed file operation means to a person, by its error code. */
const WRITE_FAILURES: Record<string, string> = {
  ENOENT: "no such directory",
  ENOTDIR: "not a directory (a file on its path)",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "is a directory",
  ENOSPC: "no space left on device",
  EFBIG: "file too large",
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
  return new Error(`cannot write ${output}: ${writeFailure(err)}`);
}

/** Why a file operation failed, in a person's words (WRITE_FAILURES), else its error code or message. */
export function writeFailure(err: NodeJS.ErrnoException): string {
  return (err.code && WRITE_FAILURES[err.code]) ?? err.code ?? err.message;
}
