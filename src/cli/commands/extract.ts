/**
 * `sonotile extract <file|dir>… -o features.{csv,npy,parquet} [--features a,b,…]
 * [--clip-start S --clip-end S] [--clip-low-freq HZ --clip-high-freq HZ] [parameters]`
 * (SPEC §7–8): the acoustic features of every recording (directories are searched recursively
 * for audio files), or of the same clip of each, on every core (src/jobs/extract.ts).
 *
 * stderr: a progress bar when it is a terminal (files, audio hours, speed, ETA), else the same
 * numbers as a line a minute (--progress-interval), one line per skipped input, and a one-line
 * summary. A bad file never stops the run: it is reported and skipped, the table is written for
 * the others, and the exit code is 1 (SPEC §8: unreadable input); 0 when every target was
 * computed; 2 for bad usage or parameters (OptionRefusals: also when every file refused one).
 * One run per -o at a time (output-lock.ts).
 *
 * Interrupted (Ctrl-C, SIGTERM, SIGHUP) while computing, it keeps what it computed: the rows go
 * to a partial table beside -o and a resume file (extract-resume.ts), -o is left as it was, and
 * the run ends by the signal; `--resume` finishes it (as a job's killed worker loses nothing, SPEC §7).
 * Killed without a signal it can catch (SIGKILL, the OOM killer), it keeps the rows of its last
 * checkpoint: the resume file is written as the run goes (ResumeCheckpoint).
 */
import { readlink, rm, stat } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import { AUDIO_EXTENSIONS, isAudioName, notRegularFile, openAudio, readDirectory, specialKind, timeExpansionOf, UNDECODABLE_NAME } from "../../audio/index.js";
import { plural } from "../../audio/types.js";
import { fileFailure } from "../../audio/source.js";
import { ParamsError, parseParams } from "../../engine/params.js";
import { VERSION } from "../../engine/version.js";
import { FEATURE_NAMES, parseFeatureList, type FeatureName, type FeatureTarget } from "../../features/features.js";
import { featureTableCsvChunks, featureTableCsvSidecar, featureTableNpyChunks, featureTableParquetChunks, TABLE_FORMATS, type FeatureTableRow, type TableFormat, type TableProvenance, type TableTargets } from "../../features/table.js";
import { extractEach, type ExtractItem, type ExtractOutcome } from "../../jobs/extract.js";
import type { Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { checkTimeExpansionOption, flagName, flagsHelp, numberOption, readCommandLine, threadsOption, timeExpansionOption, namingFlags, withFlag, withFlagNames, type OptionSpec } from "../flags.js";
import { checkSameInputs, fileStamp, indexResumeFile, keptRowsPath, partialTablePath, ResumeCheckpoint, ResumeFileChanged, resumeFilePath, type ComputedTarget, type ExtractedFile, type ExtractSettings, type ResumedTargets } from "../extract-resume.js";
import { claimOutput } from "../output-lock.js";
import { checkOutputPath, checkOutputWritable, checkSidecarPath, endBySignal, onFirstSignal, sidecarPath, writeOutputBytes, writeOutputWithSidecar } from "../output-file.js";

/** Default --checkpoint-interval, seconds: a killed run recomputes at most this much. */
const DEFAULT_CHECKPOINT_S = 30;
/** Default --progress-interval, seconds: an hour's run logs 60 lines. */
const DEFAULT_PROGRESS_S = 60;

const OPTIONS: readonly OptionSpec[] = [
  { name: "output", short: "o", placeholder: "FILE", doc: "feature table: .csv (one row per target), .npy (float32 [targets, columns]; its columns and rows go to a .json beside it: -o notes.npy also writes notes.npy.json) or .parquet. Every table says what made it (sonotile's version, every parameter with its defaults, the options): in the .json beside a .npy or a .csv (-o notes.csv also writes notes.csv.json; a file there that is not a sonotile sidecar is refused, exit 2), in a .parquet's key-value metadata 'sonotile'" },
  { name: "features", placeholder: "LIST", doc: `comma-separated columns to write (default all; all are computed in one pass): ${FEATURE_NAMES.join(", ")}` },
  { name: "clip-start", placeholder: "S", doc: "the clip [start, end) of every recording, seconds; default the whole recording" },
  { name: "clip-end", placeholder: "S", doc: "end of the clip, seconds; default (and at most) the recording's end" },
  { name: "clip-low-freq", placeholder: "HZ", doc: "spectral features and mel vector of the band [low, high] Hz only; default 0" },
  { name: "clip-high-freq", placeholder: "HZ", doc: "upper edge of that band; default Nyquist" },
  { name: "time-expansion", placeholder: "X", doc: "time expansion factor of the recordings (SPEC §3.2); default each file's GUANO TE, else 1" },
  { name: "threads", short: "j", placeholder: "N", doc: "worker threads; default one per core" },
  { name: "md5", boolean: true, doc: "also each file's MD5, an md5 column after path (in an .npy's sidecar, each row's md5): what ties a row to the bytes it was computed from. Off by default: each whole file is read and hashed once more (a 300 MB recording: 9–11 s → 13 s; a 1 s clip of it: 3–5 s → 8–9 s)" },
  { name: "resume", boolean: true, doc: "finish a run that was interrupted (Ctrl-C, SIGTERM, SIGHUP) or killed (SIGKILL, out of memory, a reboot): keep the rows it left in the partial table (-o features.csv: features.partial.csv, with features.csv.resume.json), compute the other targets; the same options are required" },
  { name: "checkpoint-interval", placeholder: "S", doc: `seconds between writes of the rows computed so far to the resume file (-o features.csv: features.csv.resume.json), so that a run killed without a signal it can catch (SIGKILL, out of memory, a reboot) loses at most the last interval; default ${DEFAULT_CHECKPOINT_S}, and at least 20 times the last write took (a slow disk); 0: after every target that 20-times rule allows` },
  { name: "progress-interval", placeholder: "S", doc: `when stderr is not a terminal (nohup, cron, a log file): a progress line every S seconds (files, audio, speed, ETA); default ${DEFAULT_PROGRESS_S}, 0 for none. A terminal has the live bar instead` },
];

const USAGE = `usage: sonotile extract <file|dir>… -o features.{csv,npy,parquet} [options]

Acoustic features (SPEC §7) of recordings, or of a clip of each, on all cores.
Directories are searched recursively for audio files (${[...AUDIO_EXTENSIONS].join(" ")};
hidden files skipped, symlinked files followed (a link to nothing is reported), a directory that cannot be listed skipped).

A file that cannot be read or computed is reported on stderr and skipped. Exit status: 0 when
every target was computed; 1 when some were skipped (the table holds the others) or when none
could be computed (nothing is written); 2 for bad usage or parameters, also when none could be
computed because every file that opened refused an option (named with the first file's reason).

One run per -o at a time: a live run holds -o x.csv's x.csv.lock (pid, host, start, command); a
second is refused (exit 2). A lock of this host whose pid no longer runs is taken over.

Interrupted (Ctrl-C, SIGTERM, SIGHUP), it leaves -o as it was and writes the rows computed so far
to a partial table beside it (-o x.csv: x.partial.csv); --resume finishes from there. A second
Ctrl-C ends it at once, saying what it left. Exit status 128 + the signal (130 for Ctrl-C). The
rows also go to the resume file as the run goes (--checkpoint-interval): --resume finishes a run
killed with SIGKILL, by the OOM killer or a reboot, recomputing at most the targets of the last
interval.

Features come from the STFT power |rfft(window·frame)|² (librosa's, not the PSD of SPEC §3.5), before
PCEN and scaling: --pcen*, --normalize, --scale, --clamp, --min-db, --max-db and --cmap change none.
zero_crossing_rate is per sample; mel_00 … mel_63 are dB re a mel power of 1 (README: Batch feature extraction).

${flagsHelp(OPTIONS)}`;

export const command: Command = {
  async run(args) {
    try {
      return await extract(args);
    } catch (err) {
      throw namingFlags(err);
    }
  },
};

async function extract(args: string[]): Promise<number> {
  const cl = readCommandLine(args, OPTIONS, USAGE, { name: "extract", takesParams: true });
  if (!cl) return EXIT.ok;
  if (cl.positionals.length === 0) throw new UsageError("expects at least one audio file or directory (see --help)");
  const output = cl.options.output;
  if (typeof output !== "string" || output === "") throw new UsageError(`-o/--output FILE is required (${TABLE_FORMATS.join(", ")})`);
  const format = extname(output).toLowerCase() as TableFormat;
  if (!TABLE_FORMATS.includes(format)) throw new UsageError(`-o ${output}: unknown output format '${extname(output)}' (use ${TABLE_FORMATS.join(", ")})`);
  let features: FeatureName[] = [...FEATURE_NAMES];
  if (cl.options.features !== undefined) {
    try {
      features = parseFeatureList(String(cl.options.features));
    } catch (err) {
      throw new UsageError(`--features: ${(err as Error).message}`);
    }
  }
  const start = numberOption(cl.options["clip-start"], "clip-start", (v) => v >= 0, "a number >= 0");
  const end = numberOption(cl.options["clip-end"], "clip-end", (v) => v > (start ?? 0), `a number > ${start ?? 0} (the clip start)`);
  const lowFreq = numberOption(cl.options["clip-low-freq"], "clip-low-freq", (v) => v >= 0, "a number >= 0");
  const highFreq = numberOption(cl.options["clip-high-freq"], "clip-high-freq", (v) => v > (lowFreq ?? 0), `a number > ${lowFreq ?? 0} Hz`);
  const threads = threadsOption(cl.options.threads, "threads");
  const checkpointS = numberOption(cl.options["checkpoint-interval"], "checkpoint-interval", (v) => v >= 0, "a number of seconds >= 0") ?? DEFAULT_CHECKPOINT_S;
  const progressS = numberOption(cl.options["progress-interval"], "progress-interval", (v) => v >= 0, "a number of seconds >= 0") ?? DEFAULT_PROGRESS_S;
  const timeExpansion = timeExpansionOption(cl.options["time-expansion"]);
  const params = parseParams(cl.params); // ParamsError → exit 2 naming the field
  const clip = start !== undefined || end !== undefined;
  const target: FeatureTarget = { start, end, lowFreq, highFreq };
  const settings: ExtractSettings = {
    version: VERSION,
    params,
    features,
    "clip-start": start ?? null,
    "clip-end": end ?? null,
    "clip-low-freq": lowFreq ?? null,
    "clip-high-freq": highFreq ?? null,
    "time-expansion": timeExpansion ?? null,
    md5: cl.options.md5 === true,
  };
  const resume = cl.options.resume === true;

  // Before hours of work: the table must be writable where asked, and not over a directory or an input.
  for (const input of cl.positionals) await checkOutputPath(input, output);
  if (hasSidecar(format)) for (const table of [output, partialTablePath(output)]) await checkSidecarPath(table);
  await checkOutputWritable(output);
  const report = new Progress(progressS * 1000);
  // Before the resume file is read: a run on the same -o (a cron run overlapping the last) is refused.
  const claim = await claimOutput(output, ["sonotile", "extract", ...args].join(" "), (line) => report.say(line));
  const resumedTargets = await (resume ? indexResumeFile(output, settings).then((found) => found ?? NOTHING_RESUMED) : checkNoInterruptedRun(output)).catch((err: unknown) => {
    claim.release();
    throw err;
  });
  const { rows: earlier, changed } = resumedTargets;
  // A resumed run's partial table holds fewer rows than its first checkpoint: it goes (as in keepUnwrittenRows).
  const checkpoint = new ResumeCheckpoint(output, settings, resumedTargets, checkpointS * 1000, () => (resume ? removePartialTable(output, format) : Promise.resolve()), (line) => report.say(line));
  try {
    const { paths, unreadable } = await findRecordings(cl.positionals);
    if (paths.length === 0) {
      // Nothing to compute: one line says why (the skip lines would only repeat it).
      const searched = cl.positionals.filter((input) => !unreadable.has(input));
      const problems = [...unreadable].map(([input, why]) => `${input}: ${why}`);
      throw new Error([...(searched.length ? [`no audio file found in ${searched.join(", ")}`] : []), ...problems].join("; "));
    }
    const kept = await keptRowsPath(output);
    checkSameInputs(resumedTargets, paths, output, kept);
    for (const [input, why] of unreadable) report.skip(input, why);
    const resumed = paths.filter((path) => earlier.has(path)).length;
    const todo = paths.filter((path) => !earlier.has(path));
    // The first signal from here stops the batch and keeps what it computed (keepInterruptedRun);
    // a second one ends the run at once (output-file.ts), saying what that left (sayForcedStop).
    const stop = new AbortController();
    let tableWritten = false;
    let releaseSignal = onFirstSignal((signal) => {
      stop.abort(signal);
      releaseSignal = onFirstSignal((again) => {
        // Before this run's first checkpoint, a resumed run's resume file holds the rows it resumed.
        const kept = checkpoint.rows || (resume ? earlier.size : 0);
        sayForcedStop(again, output, runTargets(), paths.filter((path) => checkpoint.has(path)).length, kept, tableWritten);
        endBySignal(again);
      });
    });
    report.begin(todo.length);
    // Headers are read as the batch runs, a little ahead of it: its first targets start at once.
    const refusals = new OptionRefusals();
    const headers = readHeaders(todo, target, timeExpansion, report, refusals, stop.signal);
    /** The targets of the run: those resumed and those it set out to compute (the files that opened). */
    const runTargets = () => resumed + todo.length - headers.unopened;
    const computedTarget = (o: Extract<ExtractOutcome, { values: unknown }>): ComputedTarget => ({ path: o.item.path, values: o.values, file: headers.stamps.get(o.item.path) ?? null, md5: o.md5 });
    const onOutcome = (o: ExtractOutcome) => {
      if ("values" in o) {
        report.done(o);
        checkpoint.add(computedTarget(o));
        return;
      }
      const { reason, flags } = targetFailure(o, target);
      refusals.add(o.item.path, flags, reason);
      report.done(o, reason);
    };
    if (todo.length) await extractEach(headers.items, { params, timeExpansion, timeExpansionName: "--time-expansion", paramNames: { window_size: withFlag("window_size"), hop_size: withFlag("hop_size") }, threads, md5: settings.md5, stop: stop.signal, onOutcome });
    // The run's own writes and removals of the resume file come after a checkpoint's.
    await checkpoint.settle();
    // In the order of the paths, as an uninterrupted run writes them; each row read back from the
    // resume file (or as held, since the last checkpoint) as the table is written.
    const done = paths.filter((path) => checkpoint.has(path));
    const tableRow = ({ path, values, md5 }: ComputedTarget): FeatureTableRow => ({ path, md5, clip: clip ? { start: start ?? 0, end: (start ?? 0) + values.duration_s } : undefined, values });
    const rows: TableRows = {
      count: done.length,
      async *[Symbol.asyncIterator]() {
        for await (const row of checkpoint.rowsOf(done)) yield tableRow(row);
      },
    };
    const targets: TableTargets = { stored: false, clips: clip, md5: settings.md5 };
    if (stop.signal.aborted) {
      report.stop();
      await keepInterruptedRun(output, format, rows, features, targets, settings, runTargets(), checkpoint.rows, () => checkpoint.keep());
      return endBySignal(stop.signal.reason as NodeJS.Signals);
    }
    if (done.length === 0) {
      report.stop();
      throw refusals.nothingComputed();
    }
    // A signal while the table is written (a moment, all computed) lets the table be finished, then ends the run.
    await writeTable(output, format, rows, features, targets, settings).catch((err: Error) => {
      report.stop();
      if (err instanceof ResumeFileChanged) throw rowsLostWithResumeFile(output, err, done.length);
      return keepUnwrittenRows(output, err, done.length, checkpoint.rows, async () => {
        await checkpoint.keep();
        // A resumed run's partial table holds fewer rows than the resume file now does (as in keepInterruptedRun).
        await removePartialTable(output, format);
      });
    });
    tableWritten = true;
    if (resume) await removeInterruptedRun(output, format);
    else if (checkpoint.rows) await rm(resumeFilePath(output), { force: true });
    // Of the kept rows whose files changed, those this run found again (a file gone is not computed), in table order.
    const changedSince = new Set(changed);
    const again = paths.filter((path) => changedSince.has(path));
    const recomputed = again.length ? `; ${again.length} changed since, computed again (${again.join(", ")})` : "";
    report.finish(output, resumed || again.length ? `${resumed} resumed from ${kept}${recomputed}` : undefined);
    releaseSignal();
    if (stop.signal.aborted) return endBySignal(stop.signal.reason as NodeJS.Signals);
    return report.skipped > 0 ? EXIT.input : EXIT.ok;
  } finally {
    // The resume file, open since --resume or the first checkpoint (its rows are read through it).
    await checkpoint.close().finally(() => claim.release());
  }
}

/**
 * Refuses a run without --resume where an interrupted one left its rows: its next interruption
 * would replace them, an hour of work lost to a forgotten flag.
 * @returns no earlier targets.
 * @throws UsageError naming where the rows are (keptRowsPath) and the two ways on.
 */
async function checkNoInterruptedRun(output: string): Promise<ResumedTargets> {
  const resumeFile = resumeFilePath(output);
  if (await stat(resumeFile).catch(() => null)) {
    throw new UsageError(`an interrupted run left its rows in ${await keptRowsPath(output)}: add --resume to finish it, or remove ${resumeFile} to start over`);
  }
  return NOTHING_RESUMED;
}

/** A run with nothing taken from an interrupted one. */
const NOTHING_RESUMED: ResumedTargets = { rows: new Map(), changed: [], appendAt: null, file: null };

/**
 * The end of an interrupted run: `writeResume` keeps the rows computed (a resumed run's too) for
 * --resume, then they go to the partial table, in `-o`'s format; `-o` stays as it was. One line
 * says how far the run got and where its rows are. A failed write is said too: the run ends by
 * its signal all the same. The resume file goes first: when it cannot be written (a full disk:
 * it is the larger), nothing of this run is left — a partial table written before it had stayed,
 * 1.2 MB of rows on the full disk, while the line said they could not be kept —, and what an
 * earlier interruption left stays as it was — or the run's last checkpoint, which the line names.
 * @param total the targets of the run (those resumed and those it set out to compute).
 * @param checkpointed the rows of the run's last checkpoint in the resume file (ResumeCheckpoint.rows; 0: none)
 */
async function keepInterruptedRun(output: string, format: TableFormat, rows: TableRows, features: FeatureName[], targets: TableTargets, provenance: TableProvenance, total: number, checkpointed: number, writeResume: () => Promise<void>): Promise<void> {
  const say = (text: string): void => void process.stderr.write(`sonotile extract: interrupted: ${text}\n`);
  if (rows.count === 0) return say(`no target was computed; ${output} left as it was`);
  const partial = partialTablePath(output);
  const rest = total - rows.count;
  const resumeWith = resumeAdvice(output, rest);
  try {
    await writeResume();
  } catch (err) {
    if (checkpointed) return say(`${rows.count} of ${plural(total, "target")} ${total === 1 ? "was" : "were"} computed but could not all be kept: ${(err as Error).message}; ${checkpointed} of them ${checkpointed === 1 ? "is" : "are"}, the run's last checkpoint, in ${resumeFilePath(output)}; ${output} left as it was; ${resumeAdvice(output, total - checkpointed)}`);
    return say(`${rows.count} of ${plural(total, "target")} ${total === 1 ? "was" : "were"} computed but could not be kept: ${(err as Error).message}; ${output} left as it was`);
  }
  try {
    await writeTable(partial, format, rows, features, targets, provenance);
  } catch (err) {
    // An earlier interruption's partial table holds other rows than the resume file now does.
    await removePartialTable(output, format);
    return say(`${rows.count} of ${plural(total, "target")} computed, kept for --resume in ${resumeFilePath(output)}; their table ${partial} could not be written: ${(err as Error).message}; ${output} left as it was; ${resumeWith}`);
  }
  say(`${rows.count} of ${plural(total, "target")} computed, their rows are in ${partial}; ${output} left as it was; ${resumeWith}`);
}

/**
 * How a run whose rows are kept for --resume is finished, for the lines that end it.
 * @param rest the targets --resume is left to compute
 */
function resumeAdvice(output: string, rest: number): string {
  return `run the same command with --resume to compute the other ${rest} and write ${output}`;
}

/**
 * The line of a run ended at once by a second signal (output-file.ts ends it, in the middle of
 * keeping its rows or of writing its table): it writes nothing more — no partial table, not the
 * rows since the resume file's last write —, so it says what it leaves, and how to finish from
 * there as keepInterruptedRun does. A second Ctrl-C was silent: a run ended with its rows in the
 * resume file and not a word of them, nor of those lost.
 * @param signal the second signal, which ends the run
 * @param total the targets of the run (those resumed and those it set out to compute)
 * @param computed the targets the run has rows of (those resumed included)
 * @param kept the rows the resume file holds: its last write's (ResumeCheckpoint.rows), or those --resume took from it
 * @param tableWritten whether `output` was written in full (the signals came as it was finished)
 */
function sayForcedStop(signal: NodeJS.Signals, output: string, total: number, computed: number, kept: number, tableWritten: boolean): void {
  const say = (text: string): void => void process.stderr.write(`sonotile extract: interrupted again (${signal}): stopped at once, ${text}\n`);
  if (tableWritten) return say(`${output} written`);
  const lost = computed - kept;
  if (kept === 0) return say(`no partial table written: ${computed ? `the ${plural(computed, "target")} computed ${computed === 1 ? "was" : "were"} not kept yet (--checkpoint-interval) and ${computed === 1 ? "is" : "are"} lost` : "no target was computed"}; ${output} left as it was`);
  const lostSince = lost ? `; the ${lost} computed since its last write ${lost === 1 ? "is" : "are"} lost` : "";
  say(`no partial table written: ${kept} of ${plural(total, "target")} ${kept === 1 ? "is" : "are"} kept in ${resumeFilePath(output)}${lostSince}; ${output} left as it was; ${resumeAdvice(output, total - kept)}`);
}

/**
 * A finished table that could not be written (`err`: a full disk, a share gone, a file size limit):
 * its `computed` rows are kept for --resume as an interruption keeps them (`writeResume`), so that
 * the next run writes the table without computing them again — they were lost with the write, the
 * whole computation of a season's run for a disk that filled before its end. A resume file that
 * cannot be written either (it is larger than the table) is said, and nothing more of the run is
 * left than its last checkpoint, named (what an earlier interruption left stays as it was).
 * @param checkpointed the rows of the run's last checkpoint in the resume file (ResumeCheckpoint.rows; 0: none)
 * @throws always: the write's error, saying where the rows are kept, or that they could not be.
 */
async function keepUnwrittenRows(output: string, err: Error, computed: number, checkpointed: number, writeResume: () => Promise<void>): Promise<never> {
  const rows = plural(computed, "computed target");
  try {
    await writeResume();
  } catch (unkept) {
    if (checkpointed) throw new Error(`${err.message}; the ${rows} could not all be kept for --resume either: ${(unkept as Error).message}; ${checkpointed} of them ${checkpointed === 1 ? "is" : "are"}, the run's last checkpoint, in ${resumeFilePath(output)}: make room (or mend the path) and ${resumeAdvice(output, computed - checkpointed)}`);
    throw new Error(`${err.message}; the ${rows} could not be kept for --resume either: ${(unkept as Error).message}`);
  }
  throw new Error(`${err.message}; the ${rows} ${computed === 1 ? "is" : "are"} kept in ${resumeFilePath(output)}: make room (or mend the path) and run the same command with --resume to write ${output} without computing ${computed === 1 ? "it" : "them"} again`);
}

/**
 * The end of a run whose resume file another process wrote into (`err`; a second run on the same
 * -o without this run's lock, or a person): the rows read back from it are not this run's, so
 * none is kept and the table is not written. The line said they were kept there, and to make
 * room on the disk — neither true.
 */
function rowsLostWithResumeFile(output: string, err: ResumeFileChanged, computed: number): Error {
  return new Error(`${err.message}; the ${plural(computed, "computed target")} cannot be read back from it and ${computed === 1 ? "is" : "are"} not kept; ${output} left as it was; run the command again once no other process writes ${resumeFilePath(output)}`);
}

/** Removes what an interrupted run left for --resume (the resume file first: without it, the partial table is only a file). */
async function removeInterruptedRun(output: string, format: TableFormat): Promise<void> {
  await rm(resumeFilePath(output), { force: true });
  await removePartialTable(output, format);
}

/** Removes the partial table of `output` and its sidecar, where there are. */
async function removePartialTable(output: string, format: TableFormat): Promise<void> {
  const partial = partialTablePath(output);
  for (const path of [partial, ...(hasSidecar(format) ? [sidecarPath(partial)] : [])]) await rm(path, { force: true });
}

/**
 * Files named, and audio files found (recursively, sorted) in directories named; `unreadable`
 * maps the inputs that could not be looked at (missing, a directory that cannot be listed) or that are
 * no regular file (a FIFO, a socket, a device) to why.
 */
async function findRecordings(inputs: string[]): Promise<{ paths: string[]; unreadable: Map<string, string> }> {
  const found: string[] = [];
  const unreadable = new Map<string, string>();
  const walk = async (dir: string) => {
    let listing;
    try {
      listing = await readDirectory(dir);
    } catch (err) {
      // A directory that cannot be listed (lost+found, another user's) is skipped by its own name;
      // the walk goes on with the others.
      unreadable.set(dir, fileFailure(err));
      return;
    }
    for (const e of listing.undecodable) if (e.isDirectory || isAudioName(e.name)) unreadable.set(join(dir, e.name), UNDECODABLE_NAME);
    for (const e of listing.entries) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (isAudioName(e.name)) {
        // Symlinked recordings are followed; symlinked directories are not (no cycles). A FIFO, a
        // socket or a device (or a link to one) is named by its type, never opened: it was left out unsaid.
        if (e.isFile) found.push(path);
        else if (e.special) unreadable.set(path, notRegularFile(e.special));
        else if (e.isSymbolicLink) {
          try {
            const target = await stat(path);
            const special = specialKind(target);
            if (target.isFile()) found.push(path);
            else if (special) unreadable.set(path, notRegularFile(special));
          } catch (err) {
            // A link to nothing is a recording the user expects in the table (a DataLad or
            // git-annex file not fetched, a share moved): it is named, never dropped unsaid.
            unreadable.set(path, await statFailure(path, err));
          }
        }
      }
    }
  };
  for (const input of inputs) {
    try {
      const info = await stat(input);
      // A FIFO, a socket or a device named on the command line: in the words used for one in a
      // directory, never opened (it was "<path> is not a regular file").
      const special = specialKind(info);
      if (info.isDirectory()) await walk(input);
      else if (special) unreadable.set(input, notRegularFile(special));
      else found.push(input);
    } catch (err) {
      unreadable.set(input, await statFailure(input, err));
    }
  }
  return { paths: withoutRepeats(found), unreadable };
}

/**
 * `paths` without a second naming of a file already in it (a file named and inside a directory
 * named too, `./x.wav` beside `x.wav`): each target is computed once (SPEC §7), and a table with
 * the same recording twice would count it twice in every statistic drawn from it. The first
 * spelling stays, as named. Different links to one file stay distinct: they are different names.
 */
function withoutRepeats(paths: string[]): string[] {
  const seen = new Set<string>();
  return paths.filter((path) => {
    const key = resolve(path);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Why `path` could not be looked at: a symlink to nothing names its missing target; else as fileFailure. */
async function statFailure(path: string, err: unknown): Promise<string> {
  if ((err as NodeJS.ErrnoException).code !== "ENOENT") return fileFailure(err);
  const target = await readlink(path).catch(() => null);
  return target === null ? fileFailure(err) : `broken symbolic link: its target ${target} does not exist`;
}

/** Headers read at once (readHeaders): enough to stay ahead of the pool on a slow disk or share. */
const HEADER_READS = 8;

/** What readHeaders gives: an entry per path, and what it finds on the way. */
interface HeaderReads {
  /** Per path, in order: its item once its header is read; null when the file does not open (reported as skipped). */
  items: Promise<ExtractItem | null>[];
  /** Each file's size and time, taken before its header is read (ComputedTarget.file). */
  stamps: Map<string, ExtractedFile | null>;
  /** Files that did not open, or whose rate --time-expansion cannot take, so far. */
  unopened: number;
}

/**
 * Opens each file's header for its duration (progress and ETA), HEADER_READS at a time in path
 * order, while the targets whose headers are read are computed: entry i settles once path i's
 * header is read. 30,000 one-second WAVs took 5–8 s to read, which the run used to spend before
 * its first target with nothing on the screen. A file that does not open is reported and skipped
 * (its entry null), and so is one whose rate --time-expansion cannot take: found late in a long
 * batch, it must not cost the rows of the others (README: a bad file never stops the run); it is
 * counted in `refusals` (the run's exit status when nothing is computed).
 * `stop` leaves the rest unread.
 */
function readHeaders(paths: string[], target: FeatureTarget, timeExpansion: number | undefined, report: Progress, refusals: OptionRefusals, stop: AbortSignal): HeaderReads {
  const reads: HeaderReads = { items: [], stamps: new Map(), unopened: 0 };
  const settle: ((item: ExtractItem | null) => void)[] = [];
  reads.items = paths.map(() => new Promise<ExtractItem | null>((resolve) => settle.push(resolve)));
  const readHeader = async (path: string): Promise<ExtractItem> => {
    const stamp = await fileStamp(path);
    reads.stamps.set(path, stamp); // before any read (ComputedTarget.file)
    const reader = await openAudio(path);
    const duration = reader.info.duration / timeExpansionOf(reader.info, timeExpansion);
    await reader.close();
    checkTimeExpansionOption(timeExpansion, reader.info.samplerate);
    const checked = stamp ? { size: stamp.file_size, mtime: stamp.file_mtime } : undefined;
    return { path, target, seconds: Math.max(0, Math.min(target.end ?? Infinity, duration) - (target.start ?? 0)), checked };
  };
  let next = 0;
  const lane = async () => {
    while (next < paths.length) {
      const i = next++;
      if (stop.aborted) {
        settle[i](null);
        continue;
      }
      try {
        const item = await readHeader(paths[i]);
        report.read(item);
        settle[i](item);
      } catch (err) {
        // A file that does not open says nothing of the options: it is not counted.
        if (err instanceof UsageError) refusals.add(paths[i], ["--time-expansion"], (err as Error).message);
        reads.unopened++;
        report.unopened(paths[i], (err as Error).message);
        settle[i](null);
      }
    }
  };
  for (let i = 0; i < HEADER_READS; i++) void lane();
  return reads;
}

/**
 * Why a target was skipped, as its line says, and the options it could not take, as flags (none:
 * the file's own failure). A parameter this file cannot take (--channel 3 of a mono file) is named
 * as every command names it; a band above its spectrum by the band's options as given.
 */
function targetFailure(o: Extract<ExtractOutcome, { error: string }>, target: FeatureTarget): { reason: string; flags: string[] } {
  if (o.issues) return { reason: withFlagNames(new ParamsError(o.issues)).message, flags: [...new Set(o.issues.map((i) => `--${flagName(i.field)}`))] };
  if (o.part === "band") {
    const band = givenOptions({ "--clip-low-freq": target.lowFreq, "--clip-high-freq": target.highFreq });
    return { reason: `${band.map(([flag, v]) => `${flag} ${v}`).join(", ")}: ${o.error}`, flags: band.map(([flag]) => flag) };
  }
  // Its start already says the value given ("start 1.5 s is past the end of the recording (1 s)"); a
  // clip between two frames, its bounds and the frames' spacing, and the window or hop that fits it.
  const clip = givenOptions({ "--clip-start": target.start, "--clip-end": target.end }).map(([flag]) => flag);
  if (o.part === "clip") return { reason: o.error, flags: clip };
  if (o.part === "frames") return { reason: o.error, flags: [...clip, "--window-size", "--hop-size"] };
  return { reason: o.error, flags: [] };
}

/** The options of `values` given on the command line (not undefined or null), with their values. */
function givenOptions(values: Record<string, number | null | undefined>): [flag: string, value: number][] {
  return Object.entries(values).filter((entry): entry is [string, number] => entry[1] !== undefined && entry[1] !== null);
}

/**
 * How the files that opened were skipped, for the exit status of a run that computed nothing:
 * when each refused an option — a parameter it cannot take (--channel 3 of a mono file), a band
 * above its spectrum, a clip past its end or between two frames (--window-size, --hop-size), a
 * --time-expansion its rate cannot take — the command
 * line is at fault (exit 2, SPEC §8, as `spectrogram` with that flag says); when any failed
 * otherwise (its content), or none opened, the input (exit 1). It was exit 1 but for
 * --time-expansion. A batch that computed any target skips the others and exits 1 either way.
 */
class OptionRefusals {
  private readonly flags = new Set<string>();
  private first: string | undefined;
  private failures = 0;

  /** A file that opened and was skipped for `reason`; `flags`: the options it could not take (none: its own failure). */
  add(path: string, flags: readonly string[], reason: string): void {
    if (!flags.length) {
      this.failures++;
      return;
    }
    for (const flag of flags) this.flags.add(flag);
    this.first ??= `${path}: ${reason}`;
  }

  /** The error of a run that computed nothing: a UsageError naming the flags and the first file's refusal when they are the reason. */
  nothingComputed(): Error {
    if (this.first === undefined || this.failures) return new Error("no target could be computed; nothing written");
    const flags = [...this.flags];
    return new UsageError(`no target could be computed: ${flags.join(", ")} ${flags.length === 1 ? "suits" : "suit"} none of the recordings (${this.first}); nothing written`);
  }
}

/** Whether a table of this format has a .json sidecar (sidecarPath): .npy and .csv; Parquet keeps its provenance inside. */
function hasSidecar(format: TableFormat): boolean {
  return format !== ".parquet";
}

/**
 * A table's rows, read as it is written (in one pass, an .npy's sidecar with its matrix: each pass
 * reads them again from the resume file), and how many they are (an .npy's shape comes before them).
 */
export interface TableRows extends AsyncIterable<FeatureTableRow> {
  count: number;
}

/**
 * The table written as `spectrogram` writes its output (writeOutputFile): a failed write leaves a
 * previous table as it was. A sidecar is written and put in place inside the table's own write,
 * once the table is complete: a failed write of either leaves both as they were. `provenance`
 * (the run's settings: version, parameters, options) goes with every format (table.ts). Written as
 * the rows come, a chunk at a time (a Parquet row group at a time): no table is held whole, and
 * the bytes are those of the table written at once. `rows` is read once, an .npy's sidecar
 * written beside its matrix as they come (writeOutputWithSidecar).
 */
export async function writeTable(output: string, format: TableFormat, rows: TableRows, features: FeatureName[], targets: TableTargets, provenance: TableProvenance): Promise<void> {
  if (format === ".csv") await writeOutputBytes(output, featureTableCsvChunks(rows, features, targets), () => writeOutputBytes(sidecarPath(output), featureTableCsvSidecar(provenance)));
  else if (format === ".parquet") await writeOutputBytes(output, featureTableParquetChunks(rows, features, targets, provenance));
  else await writeOutputWithSidecar(output, featureTableNpyChunks(rows, rows.count, features, targets, provenance));
}

/**
 * What stderr shows: a live bar on a terminal, skipped inputs as they happen, and a summary. Not
 * a terminal (nohup, cron, a log file), the bar's numbers as a line every `logEveryMs` instead:
 * with nothing between the skipped files and the summary, a day's run could not be told from a
 * hung one. By time, not by share of the targets: a run of a minute logs nothing more than its
 * summary, an hour's 60 lines whatever its targets.
 */
class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private readonly started = performance.now();
  private lastLog = this.started;
  private total = 0;
  private totalSeconds = 0;
  private finished = 0;
  private computed = 0;
  private seconds = 0;
  skipped = 0;
  private lastDraw = 0;

  /** @param logEveryMs the least time between progress lines when stderr is not a terminal (--progress-interval); 0 for none. */
  constructor(private readonly logEveryMs: number) {}

  /** The run sets out to compute `targets` (their lengths come as their headers are read). */
  begin(targets: number): void {
    this.total = targets;
    this.draw(true);
  }

  /** A target's header is read: its audio counts in the total (the ETA). */
  read(item: ExtractItem): void {
    this.totalSeconds += item.seconds ?? 0;
  }

  /** A target's file does not open: skipped, no longer one the run computes. */
  unopened(path: string, message: string): void {
    this.total--;
    this.skip(path, message);
  }

  skip(path: string, message: string): void {
    this.skipped++;
    // Audio errors start with the path already.
    const text = message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message;
    this.say(`sonotile extract: skipped ${path}: ${text.split("\n")[0]}`);
  }

  /** Writes `line` on stderr, a terminal's progress line redrawn below it. */
  say(line: string): void {
    this.clear();
    process.stderr.write(`${line}\n`);
    this.draw(true);
  }

  /** A target finished: computed, or skipped for `failure` (targetFailure). */
  done(outcome: ExtractOutcome, failure?: string): void {
    this.finished++;
    if ("error" in outcome) {
      this.skip(outcome.item.path, failure ?? outcome.error);
    } else {
      this.computed++;
      this.seconds += outcome.values.duration_s;
    }
    this.draw(false);
    this.log();
  }

  /** Removes the bar (before a fatal error). */
  stop(): void {
    this.clear();
  }

  /** The summary line; `resumed` says what was taken from an interrupted run. */
  finish(output: string, resumed?: string): void {
    this.clear();
    const wall = (performance.now() - this.started) / 1000;
    const ok = this.computed;
    const parts = [
      `${ok} target${ok === 1 ? "" : "s"} (${audioLength(this.seconds)} of audio) in ${wall.toFixed(1)} s`,
      `${speed(this.seconds, wall)} real time`,
    ];
    if (this.skipped) parts.push(`${this.skipped} skipped`);
    if (resumed) parts.push(resumed);
    parts.push(`wrote ${output}`);
    process.stderr.write(`sonotile extract: ${parts.join("; ")}\n`);
  }

  private clear(): void {
    if (this.tty) process.stderr.write("\r\x1b[K");
  }

  /** Redraws the bar at most ten times a second (always when `force`). */
  private draw(force: boolean): void {
    if (!this.tty || this.total === 0) return;
    const now = performance.now();
    if (!force && now - this.lastDraw < 100 && this.finished < this.total) return;
    this.lastDraw = now;
    const text = this.numbers(now);
    // The bar takes what the terminal leaves beside the numbers (~70 columns), a fixed width so it does not jitter.
    const width = Math.min(30, (process.stderr.columns || 80) - 72);
    const filled = Math.round((Math.max(0, width) * this.finished) / this.total);
    const bar = width >= 5 ? `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ` : "";
    process.stderr.write(`\r${bar}${text}\x1b[K`);
  }

  /**
   * A progress line, not on a terminal, as a target finishes once `logEveryMs` has passed since the
   * last line (or the start); none for the last target (the summary follows). On a target's end, not
   * a timer: a line whose numbers have not moved says nothing the previous one did not.
   */
  private log(): void {
    if (this.tty || this.logEveryMs === 0 || this.finished >= this.total) return;
    const now = performance.now();
    if (now - this.lastLog < this.logEveryMs) return;
    this.lastLog = now;
    process.stderr.write(`sonotile extract: ${this.numbers(now)}\n`);
  }

  /** How far the run is at `now`: files, audio, speed, ETA (the bar's text). */
  private numbers(now: number): string {
    const wall = (now - this.started) / 1000;
    const rate = this.seconds / Math.max(wall, 1e-3); // audio seconds per wall second
    const eta = this.seconds > 0 ? Math.max(0, this.totalSeconds - this.seconds) / rate : NaN;
    return `${this.finished}/${this.total} files · ${audioLength(this.seconds, this.totalSeconds)}/${audioLength(this.totalSeconds)} audio · ${speed(this.seconds, wall)} real time · ETA ${clock(eta)}`;
  }
}

/**
 * An amount of audio in hours, or in seconds (3 significant digits) when `scale` — the amount
 * itself, or the total it is shown against — is under 0.1 h: time-expanded bat recordings last
 * tenths of a second of real time, which read "0.000 h".
 */
function audioLength(seconds: number, scale = seconds): string {
  return scale < 360 ? `${Number(seconds.toPrecision(3))} s` : `${(seconds / 3600).toFixed(3)} h`;
}

/** Audio seconds per wall second: whole from 10×, two significant digits below (0.1 s in 0.3 s read "0×"). */
function speed(audioSeconds: number, wallSeconds: number): string {
  const ratio = audioSeconds / Math.max(wallSeconds, 1e-3);
  return `${ratio >= 10 ? ratio.toFixed(0) : Number(ratio.toPrecision(2))}×`;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
