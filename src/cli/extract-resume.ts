/**
 * What an interrupted `sonotile extract` keeps, and what `--resume` takes back (README: Batch
 * feature extraction). For `-o features.csv` the rows computed before the signal go to
 * `features.partial.csv` (extract writes it, in the output's format: the rows to use now) and
 * here to `features.csv.resume.json`: the settings they were computed with and every feature of
 * every row at full precision (float64, where an .npy table holds float32), which is what
 * `--resume` reads — so the finished table is the one an uninterrupted run writes, byte for byte,
 * whatever the format. The resume file is also written as the run goes (ResumeCheckpoint), for a
 * run killed without a signal it can catch.
 */
import { readFile, stat } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { plural } from "../audio/types.js";
import type { Params } from "../engine/params.js";
import type { FeatureName, FeatureValues } from "../features/features.js";
import type { FileStamp } from "../store/probe.js";
import { UsageError } from "./errors.js";
import { PARAM_FLAGS } from "./flags.js";
import { writeOutputBytes } from "./output-file.js";

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

/** Rows kept by an interrupted run whose files are unchanged, by path, and the paths of those changed since. */
export interface ResumedTargets {
  rows: Map<string, ComputedTarget>;
  changed: string[];
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

/** Writes the resume file of `output` (atomically, as every output): `targets` in table order. */
export async function writeResumeFile(output: string, settings: ExtractSettings, targets: readonly ComputedTarget[]): Promise<void> {
  const rows = targets.map(({ path, file, md5, values }) => ({ path, file, md5, values: { ...values, log_mel: Array.from(values.log_mel) } }));
  // JSON has no NaN or ±Infinity: they are written as text ("NaN") and read back by Number().
  const text = JSON.stringify({ kind: RESUME_KIND, settings, rows }, (_key, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v));
  await writeOutputBytes(resumeFilePath(output), text + "\n");
}

/**
 * The resume file written as the run goes, so that a run killed without a word (SIGKILL, the OOM
 * killer, a reboot: no signal it can catch) loses the targets of its last interval only — it lost
 * every row computed. A write starts once a row comes `intervalMs` after the last one ended, and no
 * sooner than 20 times the last one took (the file holds every row, rewritten whole: 20 times its
 * write keeps it under 5 % of the run whatever the table's size); one at a time. Each is atomic
 * (writeResumeFile: a temporary file renamed over it), so a kill during a write leaves the one
 * before. A write that fails (a full disk, a JSON text past V8's 2^29-character limit, about 300,000 targets by estimate)
 * is said once on stderr — it was silent, the run thought safe — and left for the next: the run's
 * end keeps its rows as it always did (an interruption, a table that cannot be written).
 */
export class ResumeCheckpoint {
  private readonly computed = new Map<string, ComputedTarget>();
  private lastEnd = performance.now();
  private lastCost = 0;
  private writing: Promise<void> | null = null;
  private failureSaid = false;
  /** The rows of the last checkpoint in the resume file (0: none yet): a run that finishes removes it. */
  rows = 0;

  /**
   * @param output the run's -o
   * @param paths the run's targets, in table order
   * @param earlier the rows resumed from an interrupted run, kept in every checkpoint
   * @param intervalMs the least time between the end of a write and the start of the next (--checkpoint-interval)
   * @param onFirstWrite runs once the first checkpoint is written (a resumed run's partial table, which holds fewer rows, is removed)
   * @param say writes a line on stderr (the progress display's: a terminal's progress line is redrawn below it)
   */
  constructor(
    private readonly output: string,
    private readonly settings: ExtractSettings,
    private readonly paths: readonly string[],
    private readonly earlier: ReadonlyMap<string, ComputedTarget>,
    private readonly intervalMs: number,
    private readonly onFirstWrite: () => Promise<void>,
    private readonly say: (line: string) => void,
  ) {}

  /** A computed target: written with the others once the interval has passed. */
  add(target: ComputedTarget): void {
    this.computed.set(target.path, target);
    if (this.writing || performance.now() - this.lastEnd < Math.max(this.intervalMs, 20 * this.lastCost)) return;
    this.writing = this.write().finally(() => (this.writing = null));
  }

  /** Waits for the write in flight, if any: the run's own writes and removals of the resume file come after it. */
  async settle(): Promise<void> {
    await this.writing;
  }

  private async write(): Promise<void> {
    const start = performance.now();
    const rows = this.paths.flatMap((path) => this.earlier.get(path) ?? this.computed.get(path) ?? []);
    try {
      await writeResumeFile(this.output, this.settings, rows);
      if (!this.rows) await this.onFirstWrite();
      this.rows = rows.length;
    } catch (err) {
      // Left as it was (an earlier checkpoint, or none): the next write, or the run's end, tries again.
      if (!this.failureSaid) {
        const kept = this.rows ? `it keeps its checkpoint of ${plural(this.rows, "row")}` : "it holds no row of this run yet";
        this.say(`sonotile extract: a checkpoint of ${plural(rows.length, "row")} could not be written to ${resumeFilePath(this.output)} (${(err as Error).message}); ${kept}, and later checkpoints are tried as the run goes (said once)`);
        this.failureSaid = true;
      }
    }
    this.lastEnd = performance.now();
    this.lastCost = this.lastEnd - start;
  }
}

/**
 * The targets an interrupted run of `output` computed, by path, if it left a resume file — after
 * checking that it was computed with `settings` (checkSameSettings); null when there is none. A
 * target whose file changed since (size or modification time) is left out, to be computed again.
 * @throws UsageError (exit 2) naming the first setting that differs; Error for a file that is not a resume file.
 */
export async function readResumeFile(output: string, settings: ExtractSettings): Promise<ResumedTargets | null> {
  const path = resumeFilePath(output);
  const text = await readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? null : Promise.reject(new Error(`cannot read ${path}: ${err.code ?? err.message}`))));
  if (text === null) return null;
  let saved: { kind?: unknown; settings?: ExtractSettings; rows?: { path: string; file?: ExtractedFile | null; md5?: string; values: Record<string, number | string | (number | string)[]> }[] };
  try {
    saved = JSON.parse(text);
  } catch {
    saved = {};
  }
  if (saved?.kind !== RESUME_KIND || typeof saved.settings !== "object" || !Array.isArray(saved.rows)) {
    throw new Error(`${path} is not the resume file of an interrupted sonotile extract; remove it to start over`);
  }
  checkSameSettings(saved.settings, settings, output, await keptRowsPath(output));
  const asNumber = (v: number | string) => (typeof v === "string" ? Number(v) : v);
  const resumed: ResumedTargets = { rows: new Map(), changed: [] };
  for (const { path: target, file, md5, values } of saved.rows) {
    const now = await fileStamp(target);
    if (!file || !now || now.file_size !== file.file_size || now.file_mtime !== file.file_mtime) {
      resumed.changed.push(target);
      continue;
    }
    const restored = Object.fromEntries(Object.entries(values).map(([name, v]) => [name, Array.isArray(v) ? Float32Array.from(v, asNumber) : asNumber(v)]));
    resumed.rows.set(target, { path: target, values: restored as FeatureValues, file, md5 });
  }
  return resumed;
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
