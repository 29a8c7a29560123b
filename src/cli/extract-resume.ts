/**
 * What an interrupted `sonotile extract` keeps, and what `--resume` takes back (README: Batch
 * feature extraction). For `-o features.csv` the rows computed before the signal go to
 * `features.partial.csv` (extract writes it, in the output's format: the rows to use now) and
 * here to `features.csv.resume.json` (JSON Lines: a header, then a line per row): the settings they
 * were computed with and every feature of every row at full precision (float64, where an .npy table holds float32), which is what
 * `--resume` reads — so the finished table is the one an uninterrupted run writes, byte for byte,
 * whatever the format. The resume file is also written as the run goes (ResumeCheckpoint), for a
 * run killed without a signal it can catch.
 */
import { constants } from "node:fs";
import { access, open, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import { plural } from "../audio/types.js";
import type { Params } from "../engine/params.js";
import type { FeatureName, FeatureValues } from "../features/features.js";
import type { FileStamp } from "../store/probe.js";
import { UsageError } from "./errors.js";
import { PARAM_FLAGS } from "./flags.js";
import { outputError, writeFailure, writeOutputFile, writeWholeAt } from "./output-file.js";

/** Everything a row's values or the table's layout depend on; `--resume` needs all of it unchanged. */
export interface ExtractSettings {
  /** sonotile's version: another may compute other values. */
  version: string;
  params: Params;
  features: FeatureName[];
  /** The options as given (numbers), null where not given. */
  "clip-start": number | null;
  "clip-end": number | null;
  "clip-low-freq": number | null;
  "clip-high-freq": number | null;
  "time-expansion": number | null;
  /** `--md5`: each row has its file's MD5 (a column more, so the layout differs without it). */
  md5: boolean;
}

/**
 * One computed target: its path as named (with the settings' clip bounds, what identifies it), its
 * values, and its file as it was before it was read (fileStamp): a file rewritten since — the same
 * path, another recording — is computed again by --resume, not given the old file's values.
 */
export interface ComputedTarget {
  path: string;
  values: FeatureValues;
  file: ExtractedFile | null;
  /** The file's MD5, with `--md5`. */
  md5?: string;
}

/** A file's size and modification time, as the store keeps them for a registered file. */
export type ExtractedFile = FileStamp & { file_size: number };

/**
 * The file's size and modification time, taken before it is read (as the store's probeFile does:
 * a rewrite during the read shows as a change); null when it cannot be looked at.
 */
export async function fileStamp(path: string): Promise<ExtractedFile | null> {
  const st = await stat(path).catch(() => null);
  return st ? { file_size: st.size, file_mtime: st.mtimeMs } : null;
}

/**
 * Where a kept row is: its line in the resume file, bytes [start, end) — or the row itself while it
 * is not written there (computed since the last checkpoint; 0.15.0's document, read whole).
 */
export type KeptRow = ComputedTarget | { start: number; end: number };

/** The resume file, open: every append and read-back of a run goes through it, so that the file removed or renamed over during the run is still the run's (its rows were lost with it). */
export interface ResumeFile {
  handle: FileHandle;
  /** Its path, as messages name it. */
  path: string;
}

/** Rows kept by an interrupted run whose files are unchanged, by path, and the paths of those changed since. */
export interface ResumedTargets {
  rows: Map<string, KeptRow>;
  changed: string[];
  /**
   * The byte length of the resume file's complete lines, where this run appends its rows (a torn
   * last line is cut); null: its first checkpoint writes the file whole (there is none, or it is
   * 0.15.0's single document).
   */
  appendAt: number | null;
  /** The resume file, open (read and write), where its rows are; null with appendAt (its rows are held). Closed by ResumeCheckpoint.close, or by whoever reads it otherwise. */
  file: ResumeFile | null;
}

/** What the resume file says it is, so that no other JSON is taken for one. */
const RESUME_KIND = "sonotile extract --resume";

/** The table of an interrupted run's rows, beside `-o`: `features.partial.csv` for `features.csv`. */
export function partialTablePath(output: string): string {
  const ext = extname(output);
  return `${output.slice(0, -ext.length)}.partial${ext}`;
}

/**
 * Where an interrupted run of `output` keeps its rows, as messages name them: its partial table,
 * or the resume file when the table could not be written (a full disk) — `--resume` reads the
 * resume file either way. Messages named the partial table, which then did not exist.
 */
export async function keptRowsPath(output: string): Promise<string> {
  const partial = partialTablePath(output);
  return (await stat(partial).catch(() => null)) ? partial : resumeFilePath(output);
}

/** What `--resume` reads, beside `-o`: `features.csv.resume.json` for `features.csv` (per format: a .csv and a .parquet run do not meet). */
export function resumeFilePath(output: string): string {
  return join(dirname(output), `${basename(output)}.resume.json`);
}

/**
 * The resume file is JSON Lines: a header line, what the run is (RESUME_KIND and its settings),
 * then one line per computed target, appended as the run goes — in the order written; a target
 * written again (its file changed since) on a later line, which is the one taken. Appending keeps
 * each checkpoint's cost to the rows it adds: the single JSON document of 0.15.0, rewritten whole
 * at every checkpoint, cost the square of the run over it and could not be written past V8's
 * 2^29-character strings (about 300,000 targets by estimate). 0.15.0's document is still read,
 * and rewritten in lines at the resumed run's first checkpoint.
 */
interface ResumeHeader {
  kind: typeof RESUME_KIND;
  settings: ExtractSettings;
  /** 0.15.0's single document only: every row, in table order. */
  rows?: unknown;
}

/** A row as the resume file holds it: numbers that are not finite as text ("NaN"), log_mel as an array. */
interface SavedRow {
  path: string;
  file?: ExtractedFile | null;
  md5?: string;
  values: Record<string, number | string | (number | string)[]>;
}

/** Characters of lines written at once: a checkpoint of many rows is never one string (V8's 2^29-character limit). */
const WRITE_CHUNK = 1 << 20;

/** JSON has no NaN or ±Infinity: they are written as text ("NaN") and read back by Number(). */
function finiteOrText(_key: string, v: unknown): unknown {
  return typeof v === "number" && !Number.isFinite(v) ? String(v) : v;
}

/** The line of one computed target: its values at full precision (float64), log_mel as an array. */
function rowLine({ path, file, md5, values }: ComputedTarget): string {
  return JSON.stringify({ path, file, md5, values: { ...values, log_mel: Array.from(values.log_mel) } }, finiteOrText) + "\n";
}

/** The header line of a resume file: what the run is. */
function headerLine(settings: ExtractSettings): string {
  const header: ResumeHeader = { kind: RESUME_KIND, settings };
  return JSON.stringify(header, finiteOrText) + "\n";
}

/** `lines` joined into strings of about WRITE_CHUNK characters. */
function* chunked(lines: Iterable<string>): Generator<string> {
  let chunk = "";
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= WRITE_CHUNK) {
      yield chunk;
      chunk = "";
    }
  }
  if (chunk) yield chunk;
}

/**
 * Writes `lines` into `file` from byte `at`, then flushes them to the disk (a reboot keeps them).
 * @returns the byte just after them.
 */
async function writeLinesAt(file: FileHandle, at: number, lines: Iterable<string>): Promise<number> {
  for (const chunk of chunked(lines)) at = await writeWholeAt(file, Buffer.from(chunk), at);
  await file.sync();
  return at;
}

/**
 * Writes the resume file at `path` whole with `write` (given the file open for reading and writing,
 * it returns its length), atomically as every output: a temporary file renamed over it, so a
 * failure or a kill leaves the one before.
 * @returns the file, open — the temporary file's handle, which is the renamed file's: no other file
 * put there between the rename and an open is taken for it — and its length in bytes (where
 * ResumeCheckpoint appends the next rows).
 */
async function writeWholeResumeFile(path: string, write: (handle: FileHandle) => Promise<number>): Promise<{ file: ResumeFile; length: number }> {
  let handle: FileHandle | undefined;
  try {
    const length = await writeOutputFile(path, async (temp) => {
      const file = await open(temp, "w+").catch((err: NodeJS.ErrnoException) => Promise.reject(outputError(path, err)));
      handle = file;
      return await write(file).catch((err: NodeJS.ErrnoException) => Promise.reject(outputError(path, err)));
    });
    return { file: { handle: handle!, path }, length };
  } catch (err) {
    await handle?.close();
    throw err;
  }
}

/**
 * The resume file whose path is not that of the open `file` any more (removed, or another file put
 * there during the run) written there again: a copy of the open file's first `length` bytes, so
 * that each row's line is at the same bytes, and --resume finds the rows where a message says.
 */
async function copyResumeFile(file: ResumeFile, length: number): Promise<ResumeFile> {
  const { file: copy } = await writeWholeResumeFile(file.path, async (handle) => {
    const bytes = Buffer.alloc(READ_WINDOW);
    for (let at = 0; at < length; ) {
      const { bytesRead } = await file.handle.read(bytes, 0, Math.min(bytes.length, length - at), at);
      if (bytesRead === 0) throw new ResumeFileChanged(`the run's open file holds ${at} bytes, not the ${length} it wrote (the file was changed during the run)`);
      at = await writeWholeAt(handle, bytes.subarray(0, bytesRead), at);
    }
    await handle.sync();
    return length;
  });
  return copy;
}

/** Whether the file at `path` is the open `file` (not removed or replaced since it was opened). */
async function isAtItsPath({ handle, path }: ResumeFile): Promise<boolean> {
  const [there, opened] = await Promise.all([stat(path).catch(() => null), handle.stat()]);
  return there !== null && there.ino === opened.ino && there.dev === opened.dev;
}

/**
 * Flushes the entries of directory `dir` to the disk (fsync of the directory). A file system that
 * cannot flush a directory says EINVAL (fsync(2)): it has nothing to do then.
 */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync().catch((err: NodeJS.ErrnoException) => (err.code === "EINVAL" ? undefined : Promise.reject(err)));
  } finally {
    await handle.close();
  }
}

/**
 * Appends `lines` (rowLine) to the resume `file` at byte `at`, the end of its complete lines: a
 * torn line after them (a run killed while writing it, a write that failed) is cut first. A write
 * that fails is cut again, so that the file holds the rows it held.
 * @returns the file's new length.
 */
async function appendResumeLines({ handle, path }: ResumeFile, at: number, lines: readonly string[]): Promise<number> {
  try {
    await handle.truncate(at);
    return await writeLinesAt(handle, at, lines);
  } catch (err) {
    // Cut back to the rows before; if even that fails, the next append cuts it, and a reader ignores a torn last line.
    await handle.truncate(at).catch(() => undefined);
    throw outputError(path, err as NodeJS.ErrnoException);
  }
}

/**
 * The resume file written as the run goes, so that a run killed without a word (SIGKILL, the OOM
 * killer, a reboot: no signal it can catch) loses the targets of its last interval only — it lost
 * every row computed. A write starts once a row comes `intervalMs` after the last one ended, and no
 * sooner than 20 times the last one took (a slow disk's fsync: checkpoints stay under 5 % of the
 * run); one at a time. Each appends the rows computed since the one before to the file, fsynced
 * (the first writes it whole, atomically, its directory fsynced too, when there is none or it is 0.15.0's document): a kill
 * during a write leaves a torn last line, which --resume ignores. A write that fails (a full disk)
 * is said once on stderr — it was silent, the run thought safe — and its rows are left for the
 * next: the run's end keeps every row (keep) as it always did (an interruption, a table that
 * cannot be written).
 *
 * It is also where the run's table is written from (rowsOf): a row written to the file is no
 * longer held, only where its line is — a run's memory is that of the rows of one interval,
 * whatever its targets (every row was held to the end: 901 MiB for 400,000). Every write and
 * read goes through the file as opened at the first write (or by --resume) until close: a file
 * removed or put over it during the run does not lose its rows (the table was not written, the run
 * failed), and the run's end puts it back where --resume reads it (keep).
 */
export class ResumeCheckpoint {
  /** Every row of the run (an interrupted run's kept, and this run's), by path: its line in the file, or the row until it is written. */
  private readonly kept: Map<string, KeptRow>;
  /** Rows computed since the last write: what the next one appends. */
  private unwritten: ComputedTarget[] = [];
  /** The byte length of the resume file's complete lines, where the next write appends; null: the next write writes it whole. */
  private appendAt: number | null;
  /** The rows --resume would take from the file as it is (the earlier run's, when appended to, and this run's written). */
  private held: number;
  private lastEnd = performance.now();
  private lastCost = 0;
  private writing: Promise<void> | null = null;
  private failureSaid = false;
  /** The resume file, open from the first write (or --resume's) to close: a file removed or put over it during the run does not lose its rows. */
  private file: ResumeFile | null;
  /** The rows of the last checkpoint in the resume file (0: none yet): a run that finishes removes it. */
  rows = 0;

  /**
   * @param output the run's -o
   * @param earlier what --resume took from an interrupted run: its rows, kept in every checkpoint, and where its file takes more
   * @param intervalMs the least time between the end of a write and the start of the next (--checkpoint-interval)
   * @param onFirstWrite runs once the first checkpoint is written (a resumed run's partial table, which holds fewer rows, is removed)
   * @param say writes a line on stderr (the progress display's: a terminal's progress line is redrawn below it)
   */
  constructor(
    private readonly output: string,
    private readonly settings: ExtractSettings,
    private readonly earlier: ResumedTargets,
    private readonly intervalMs: number,
    private readonly onFirstWrite: () => Promise<void>,
    private readonly say: (line: string) => void,
  ) {
    this.appendAt = earlier.appendAt;
    this.held = earlier.appendAt === null ? 0 : earlier.rows.size;
    this.kept = new Map(earlier.rows);
    this.file = earlier.file;
  }

  /** A computed target: written with the others once the interval has passed. */
  add(target: ComputedTarget): void {
    this.kept.set(target.path, target);
    this.unwritten.push(target);
    if (this.writing || performance.now() - this.lastEnd < Math.max(this.intervalMs, 20 * this.lastCost)) return;
    this.writing = this.checkpoint().finally(() => (this.writing = null));
  }

  /** Waits for the write in flight, if any: the run's own writes and removals of the resume file come after it. */
  async settle(): Promise<void> {
    await this.writing;
  }

  /**
   * Every row computed so far into the resume file, now (the run's end: interrupted, or its table
   * unwritable); `rows` then counts them all. A resume file removed or replaced during the run is
   * written at its path again first, from the open file.
   * @throws the write's error (the file holds the rows of the last checkpoint, as before).
   */
  async keep(): Promise<void> {
    await this.settle();
    if (this.file && this.appendAt !== null && !(await isAtItsPath(this.file))) {
      // Removed or replaced during the run: --resume reads the path, so the rows go back there.
      const copy = await copyResumeFile(this.file, this.appendAt);
      await this.file.handle.close();
      this.file = copy;
      await this.syncDirectory();
    }
    await this.write();
  }

  /** Whether the run has a row of `path` (an interrupted run's kept, or this run's). */
  has(path: string): boolean {
    return this.kept.has(path);
  }

  /**
   * The rows of `paths` the run has, in that order (those it has not left out), read back from the
   * resume file one by one — those not written there yet as they are held. For the run's table,
   * once no write is in flight (settle, keep).
   * @throws Error naming the resume file when it cannot be read, or a row's line is not one
   */
  rowsOf(paths: Iterable<string>): AsyncGenerator<ComputedTarget> {
    const kept = this.kept;
    return readKeptRows(this.file, (function* (): Generator<[string, KeptRow]> {
      for (const path of paths) {
        const row = kept.get(path);
        if (row) yield [path, row];
      }
    })());
  }

  /** Closes the resume file (a run's end: its table written, or its rows kept). */
  async close(): Promise<void> {
    await this.file?.handle.close();
    this.file = null;
  }

  private async checkpoint(): Promise<void> {
    const start = performance.now();
    const holding = this.appendAt === null ? this.kept.size : this.held + this.unwritten.length;
    try {
      await this.write();
    } catch (err) {
      // Left as it was (an earlier checkpoint, or none): the next write, or the run's end, tries again.
      if (!this.failureSaid) {
        const kept = this.rows ? `it keeps its checkpoint of ${plural(this.rows, "row")}` : "it holds no row of this run yet";
        this.say(`sonotile extract: a checkpoint of ${plural(holding, "row")} could not be written to ${resumeFilePath(this.output)} (${(err as Error).message}); ${kept}, and later checkpoints are tried as the run goes (said once)`);
        this.failureSaid = true;
      }
    }
    this.lastEnd = performance.now();
    this.lastCost = this.lastEnd - start;
  }

  /**
   * Flushes the resume file's directory after the file was renamed into it: the rename is an entry
   * of the directory, not of the file — with the file's bytes alone flushed, a crash of the system
   * could lose it. The appends after it change no entry, so a run flushes the directory once. The
   * file is written all the same: a failure is said, not taken for a failed checkpoint (whose rows
   * would then be written whole again at every next one).
   */
  private async syncDirectory(): Promise<void> {
    const path = resumeFilePath(this.output);
    await syncDirectory(dirname(path)).catch((err: NodeJS.ErrnoException) =>
      this.say(`sonotile extract: ${dirname(path)} could not be flushed to the disk after ${path} was written (${err.code ?? err.message}): a crash of the system could lose the file; the run goes on`),
    );
  }

  /** Appends the rows computed since the last write, or writes the whole file (appendAt null). */
  private async write(): Promise<void> {
    const rows = this.unwritten;
    if (!rows.length) return;
    this.unwritten = [];
    try {
      if (this.appendAt === null) {
        // No write of this run has been: every row is held (there was no file, or 0.15.0's document, read whole).
        const all = [...this.kept.values()] as ComputedTarget[];
        const lines = all.map(rowLine);
        const header = headerLine(this.settings);
        const { file, length } = await writeWholeResumeFile(resumeFilePath(this.output), (handle) => writeLinesAt(handle, 0, [header, ...lines]));
        [this.file, this.appendAt] = [file, length];
        this.written(all, lines, Buffer.byteLength(header));
        this.held = all.length;
        await this.syncDirectory();
      } else {
        const lines = rows.map(rowLine);
        const at = this.appendAt;
        this.appendAt = await appendResumeLines(this.file!, at, lines);
        this.written(rows, lines, at);
        this.held += rows.length;
      }
      if (!this.rows) await this.onFirstWrite();
    } catch (err) {
      this.unwritten = rows.concat(this.unwritten);
      throw err;
    }
    this.rows = this.held;
  }

  /** `targets`, written as `lines` from byte `at` of the file, are no longer held: where their lines are is. */
  private written(targets: readonly ComputedTarget[], lines: readonly string[], at: number): void {
    targets.forEach((target, i) => {
      const start = at;
      at += Buffer.byteLength(lines[i]);
      this.kept.set(target.path, { start, end: at });
    });
  }
}

/**
 * `rows` as computed, each with the path it is the row of: those held as they are, the others read
 * back from the resume `file` where their lines are (null only where every row is held).
 * @throws Error naming the resume file when it cannot be read, or a row's line is not the row of its path
 */
export async function* readKeptRows(file: ResumeFile | null, rows: Iterable<[path: string, row: KeptRow]>): AsyncGenerator<ComputedTarget> {
  let lines: ResumeLines | undefined;
  // A row is where its line is only once a write put it in the file, which is then open.
  for (const [path, row] of rows) yield "values" in row ? row : await (lines ??= new ResumeLines(file!)).row(path, row);
}

/**
 * The resume file as this run wrote it is gone: another process wrote into it during the run (the
 * rows its lines held are lost, not kept — what a message must not claim).
 */
export class ResumeFileChanged extends Error {
  override name = "ResumeFileChanged";
}

/** Bytes of the resume file read at once by ResumeLines: a read per many rows. */
const READ_WINDOW = 1 << 20;

/**
 * Rows of a resume file read by where their lines are (KeptRow), through a window of the file: rows
 * asked for in about the order they were written (a table's, whose targets finish in about its
 * order) cost a read per READ_WINDOW bytes, not one each.
 */
class ResumeLines {
  private window = Buffer.alloc(0);
  private windowAt = 0;

  constructor(private readonly file: ResumeFile) {}

  /** The row of `path`, whose line is bytes [start, end) of the file. */
  async row(path: string, { start, end }: { start: number; end: number }): Promise<ComputedTarget> {
    const { handle, path: filePath } = this.file;
    if (start < this.windowAt || end > this.windowAt + this.window.length) {
      const bytes = Buffer.alloc(Math.max(READ_WINDOW, end - start));
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, start).catch((err: NodeJS.ErrnoException) => Promise.reject(new Error(`cannot read ${filePath}: ${err.code ?? err.message}`)));
      [this.window, this.windowAt] = [bytes.subarray(0, bytesRead), start];
    }
    const value = end <= this.windowAt + this.window.length ? parsedOrUndefined(this.window.toString("utf8", start - this.windowAt, end - this.windowAt)) : undefined;
    if (!isSavedRow(value) || value.path !== path) throw new ResumeFileChanged(`${filePath}: bytes ${start}–${end} are not the row of ${path} this run wrote there (the file was changed during the run)`);
    return restoredRow(value);
  }
}

/**
 * The complete lines of `file` (each without its \n) and the byte just after each: a last line
 * without its \n is torn (a run killed while appending it) and left out. Read in chunks, not as one
 * string: a file of a million rows is past V8's 2^29-character limit.
 * @throws Error naming `path` when it cannot be read.
 */
async function* completeLines(file: FileHandle, path: string): AsyncGenerator<[line: string, end: number]> {
  let parts: Buffer[] = [];
  let offset = 0;
  const stream = file.createReadStream({ highWaterMark: 1 << 20, autoClose: false });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let from = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, from)) {
        parts.push(chunk.subarray(from, nl));
        const line = Buffer.concat(parts).toString("utf8");
        parts = [];
        from = nl + 1;
        yield [line, offset + from];
      }
      if (from < chunk.length) parts.push(chunk.subarray(from));
      offset += chunk.length;
    }
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** `text` parsed, or undefined when it is not JSON. */
function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isResumeHeader(value: unknown): value is ResumeHeader {
  const header = value as ResumeHeader | null;
  return typeof header === "object" && header !== null && header.kind === RESUME_KIND && typeof header.settings === "object" && header.settings !== null;
}

function isSavedRow(value: unknown): value is SavedRow {
  const row = value as SavedRow | null;
  return typeof row === "object" && row !== null && typeof row.path === "string" && typeof row.values === "object" && row.values !== null;
}

/** A row as read, its values numbers again (log_mel a Float32Array, as computed). */
function restoredRow({ path, file, md5, values }: SavedRow): ComputedTarget {
  const asNumber = (v: number | string) => (typeof v === "string" ? Number(v) : v);
  const restored = Object.fromEntries(Object.entries(values).map(([name, v]) => [name, Array.isArray(v) ? Float32Array.from(v, asNumber) : asNumber(v)]));
  return { path, values: restored as FeatureValues, file: file ?? null, md5 };
}

/** Files looked at at once (fileStamp) as a resume file is read: one at a time, a season's rows wait on each stat in turn. */
const STAMP_READS = 64;

/**
 * The targets an interrupted run of `output` computed, by path, if it left a resume file — after
 * checking that it was computed with `settings` (checkSameSettings, before its rows are read); null
 * when there is none. A target whose file changed since (size or modification time) is left out,
 * to be computed again. Reads this format and 0.15.0's single JSON document. Each row is read
 * (checked, its file's stamp taken) but only where its line is kept (KeptRow): --resume holds no
 * row of a season's run; 0.15.0's document's rows are held, as read.
 * @throws UsageError (exit 2) naming the first setting that differs, or a resume file (or its directory) that cannot be written; Error for a file that is not a resume file (naming a line that is not a row).
 */
export async function indexResumeFile(output: string, settings: ExtractSettings): Promise<ResumedTargets | null> {
  const path = resumeFilePath(output);
  // Read and write: the run appends its rows through this handle (ResumeCheckpoint).
  const file = await open(path, "r+").catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? null : Promise.reject(unopenedResumeFile(path, err))));
  if (file === null) return null;
  const notResumeFile = () => new Error(`${path} is not the resume file of an interrupted sonotile extract; remove it to start over`);
  // By path: a later line of a target (computed again, its file changed) replaces the earlier.
  const saved = new Map<string, { row: KeptRow; file: ExtractedFile | null }>();
  let lines = 0;
  let appendAt: number | null = 0;
  try {
    await checkResumeDirectory(path, await file.stat());
    for await (const [line, end] of completeLines(file, path)) {
      const start = appendAt ?? 0;
      const value = parsedOrUndefined(line);
      if (++lines === 1) {
        if (!isResumeHeader(value)) throw notResumeFile();
        checkSameSettings(value.settings, settings, output, await keptRowsPath(output));
        if (value.rows !== undefined) {
          // 0.15.0's document: this one line holds every row; the first checkpoint writes the file in lines.
          if (!Array.isArray(value.rows) || !value.rows.every(isSavedRow)) throw notResumeFile();
          for (const row of value.rows) saved.set(row.path, { row: restoredRow(row), file: row.file ?? null });
          appendAt = null;
          break;
        }
      } else {
        if (!isSavedRow(value)) throw new Error(`${path}: line ${lines} is not a row of the resume file of an interrupted sonotile extract; remove the file to start over`);
        saved.set(value.path, { row: { start, end }, file: value.file ?? null });
      }
      appendAt = end;
    }
    if (lines === 0) throw notResumeFile();
  } catch (err) {
    await file.close();
    throw err;
  }
  // 0.15.0's document's rows are held: the file is not read again, its first checkpoint writes another.
  if (appendAt === null) await file.close();
  const resumed: ResumedTargets = { rows: new Map(), changed: [], appendAt, file: appendAt === null ? null : { handle: file, path } };
  const rows = [...saved];
  for (let i = 0; i < rows.length; i += STAMP_READS) {
    const group = rows.slice(i, i + STAMP_READS);
    const stamps = await Promise.all(group.map(([path]) => fileStamp(path)));
    group.forEach(([path, { row, file: was }], j) => {
      const now = stamps[j];
      if (!was || !now || now.file_size !== was.file_size || now.file_mtime !== was.file_mtime) resumed.changed.push(path);
      else resumed.rows.set(path, row);
    });
  }
  return resumed;
}

/** Why a resume file cannot be written, as opening it for writing says: permission, a read-only file system. */
const UNWRITABLE = new Set(["EACCES", "EPERM", "EROFS"]);

/**
 * The error of a resume file that exists but does not open to be read and appended to (`err`):
 * one that cannot be written is refused as the command line's (exit 2), before any work — the run
 * appends its rows to it as it goes. It was "cannot read" (exit 1), of a file that could be read.
 */
function unopenedResumeFile(path: string, err: NodeJS.ErrnoException): Error {
  if (!err.code || !UNWRITABLE.has(err.code)) return new Error(`cannot read ${path}: ${err.code ?? err.message}`);
  return new UsageError(`--resume: ${path} cannot be opened to read and append to (${writeFailure(err)}): the run reads the rows kept there and appends those it computes as it goes; make it readable and writable by this user, then run again`);
}

/** S_ISVTX, the sticky bit of a mode (node:fs constants lacks it). */
const STICKY_BIT = 0o1000;

/**
 * Refuses, before any work, a resume file whose directory takes no changes (no permission, a
 * read-only file system) or, being sticky (as /tmp), lets only the file's owner or its own remove
 * it: the run removes the file there once its table is written, and writes it anew there when it
 * is 0.15.0's document. The finished table was written, then the run failed removing the file,
 * which refused the next run as an interrupted one's.
 * @param file the resume file's stat (its owner)
 * @throws UsageError naming the directory, the file and why
 */
async function checkResumeDirectory(path: string, file: { uid: number }): Promise<void> {
  const dir = dirname(path);
  // Named in full: the directory of -o t.csv is ".".
  await access(dir, constants.W_OK).catch((err: NodeJS.ErrnoException) =>
    Promise.reject(new UsageError(`--resume: ${resolve(dir)}, the directory of ${path}, takes no changes (${writeFailure(err)}): the run removes the file there once its table is written; make the directory writable by this user, then run again`)),
  );
  const uid = process.getuid?.();
  const folder = await stat(dir);
  // access() does not tell: a sticky directory refuses the unlink only (EPERM), root excepted.
  if (uid !== undefined && uid !== 0 && folder.mode & STICKY_BIT && uid !== file.uid && uid !== folder.uid) {
    throw new UsageError(`--resume: ${path} is another user's (uid ${file.uid}) in ${resolve(dir)}, a sticky directory, where only its owner may remove it: the run removes the file there once its table is written; run as its owner, then run again`);
  }
}

/**
 * Refuses to resume where this run leaves out an input whose rows were kept (its file unchanged):
 * finishing would write the table without them and remove the resume file, their work lost.
 * @param paths the recordings this run found, as named
 * @param kept where the rows are (keptRowsPath)
 * @throws UsageError naming the first such target
 */
export function checkSameInputs(resumed: ResumedTargets, paths: readonly string[], output: string, kept: string): void {
  const named = new Set(paths);
  const left = [...resumed.rows.keys()].filter((path) => !named.has(path));
  if (left.length) {
    throw new UsageError(
      `--resume: the rows in ${kept} include ${left[0]}${left.length > 1 ? ` and ${left.length - 1} more` : ""}, which this run does not name; ` +
        `run with the inputs they were computed with, or remove ${resumeFilePath(output)} to start over`,
    );
  }
}

/**
 * Refuses to resume rows computed with other settings: the table would mix two computations.
 * @param kept where the rows are (keptRowsPath)
 * @throws UsageError naming the first difference as the flags that make it (`--hop-size 0.5`, `--no-pcen`, `no --clip-start`).
 */
function checkSameSettings(saved: ExtractSettings, now: ExtractSettings, output: string, kept: string): void {
  const spelled = (s: ExtractSettings): [string, string][] => [
    ["version", `sonotile ${s.version}`],
    ...PARAM_FLAGS.map((f): [string, string] => {
      const value = s.params?.[f.param];
      return [f.name, f.boolean && typeof value === "boolean" ? `--${value ? "" : "no-"}${f.name}` : `--${f.name} ${String(value)}`];
    }),
    ["features", `--features ${s.features?.join(",")}`],
    ...(["clip-start", "clip-end", "clip-low-freq", "clip-high-freq", "time-expansion"] as const).map((flag): [string, string] => {
      const value = s[flag];
      return [flag, value === null || value === undefined ? `no --${flag}` : `--${flag} ${value}`];
    }),
    ["md5", s.md5 ? "--md5" : "no --md5"],
  ];
  const before = new Map(spelled(saved));
  const difference = spelled(now).find(([name, text]) => before.get(name) !== text);
  if (difference) {
    const [name, text] = difference;
    throw new UsageError(
      `--resume: the rows in ${kept} were computed with ${before.get(name)}, this run has ${text}; ` +
        `run with the options they were computed with, or remove ${resumeFilePath(output)} to start over`,
    );
  }
}
