/**
 * `sonotile dataset add <dir>` — create a dataset for a directory (inside an audio root) and
 * import its recordings; `sonotile dataset scan <dir>` — compare a dataset's directory with its
 * recordings, registering nothing; `sonotile dataset list`; `sonotile dataset reprobe` — read again the
 * header facts of the recordings an older sonotile read (store/reprobe.ts), as a server does at
 * start: for those its sweep left (a directory not mounted then), without restarting it. Works
 * beside a running `serve` on the same embedded data directory by connecting to it; `sonotile
 * dataset refresh <dir>` — make the files of a dataset's recordings changed since their content,
 * as POST /v1/recordings/{id}/refresh does for one.
 */
import { basename, resolve } from "node:path";
import { AudioFormatError, durationText, plural } from "../../audio/types.js";
import { storeConfig } from "../../store/config.js";
import { addDataset, DatasetImports, datasetsHoldingSameBytes, findDatasetByDir, getDataset, importNew, listDatasets, scanDataset, type DatasetHoldingSameBytes, type ImportOutcome, type ImportResult, type ScanFile } from "../../store/datasets.js";
import type { Sql } from "../../store/db.js";
import { ConflictError, InvalidError, NotFoundError } from "../../store/errors.js";
import { refreshRecordingFile, refusedFileMessage, type ClipsOutside, type MetadataDifference, type Recording } from "../../store/recordings.js";
import { differ, sweepStaleRecordings, type ReprobeOutcome } from "../../store/reprobe.js";
import { normalForm, RefusedFileError, resolveAudioDir } from "../../store/paths.js";
import { ensureAdmin } from "../../store/users.js";
import { adminKeyFields, adminKeyLines, deliverAdminKey } from "../admin-key.js";
import { LIST_LIMIT, noteUnlisted, type Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { optionRows, readCommandLine, type OptionSpec } from "../flags.js";
import { audioRootsOption, endInterruptedRuns, openCommandStore, STORE_OPTIONS, type AnswerPrinter } from "../store-options.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "name", placeholder: "NAME", doc: "dataset name; default the directory's name" },
  { name: "description", placeholder: "TEXT", doc: "dataset description" },
  { name: "force", boolean: true, doc: "refresh: also a file holding another recording's bytes (swapped or copied over; refused without it)" },
  { name: "json", boolean: true, doc: "print JSON" },
  ...STORE_OPTIONS,
];

const USAGE = `usage: sonotile dataset add <dir> [--name NAME] [--description TEXT]
       sonotile dataset scan <dir>
       sonotile dataset refresh <dir> [--force]
       sonotile dataset list
       sonotile dataset reprobe

Creates a dataset for a directory inside an audio root and registers its recordings; for a
directory that has its dataset already (an earlier 'add' interrupted, or files added since),
registers the files not registered yet — a file with the bytes (MD5) of a recording whose file
is missing is that file moved or renamed, and the recording follows it with its clips, tags and
notes — and names those registered whose size or modification time changed since (they keep
their registered content until refreshed: 'refresh' below, or POST /v1/recordings/{id}/refresh)
and those whose file is missing. Files holding the same bytes as another recording are
registered and named as duplicates. A directory inside another dataset's, or holding one, is refused (exit 2): its
files would be registered twice. 'add' creates the database if there is none (its admin token
printed on a terminal, else written to DATA/admin-token, as serve does), 'scan', 'refresh',
'list' and 'reprobe' refuse to. On a shared PostgreSQL, 'add' waits (saying so)
for an import of the same dataset running on a server or in another 'add', then registers what
is still new; a server's import asked for meanwhile waits for it.

'scan' compares the directory of <dir>'s dataset with its recordings and registers nothing: it
names the files not registered yet (as 'unreadable', with the reason, those whose header does
not read: empty, not audio, cut short — an import cannot register them; the scan reads headers
only, what decoding finds is left to 'add'), those registered and changed since, and the
recordings whose file is missing — with the files not registered of the same size, where it may
have moved (the scan hashes nothing; 'add' checks them by MD5 and the recording follows the one
with its bytes).

'refresh' makes the file now at the path of each recording of <dir>'s dataset whose size or
modification time changed since it was registered (those 'scan' names 'changed') that
recording's content, as POST /v1/recordings/{id}/refresh does: hashed and read again, its hash,
size and header facts stored, so that its tiles and statistics follow the new bytes; its clips,
tags, features and notes stay. A recording whose file went missing, no longer reads as audio, or
that is archived or trashed (read-only) is named with why and left as it was (exit 1); so is one
whose file now holds the bytes (MD5) of another recording of the dataset — two files swapped, or
one copied over another — unless --force. Each refreshed line names the file's GUANO/bext date,
time, place or time expansion where they differ from the recording's (which keeps its own), and
the feature values computed from the former bytes, now stale.

'reprobe' reads again the header facts (rate, frames, channels) of the recordings an older
sonotile read, in the datasets inside the audio roots, as every server does when it starts;
a recording whose file is missing, replaced or unreadable is named and left (exit 1).

${optionRows(OPTIONS)}`;

/**
 * The directory argument as messages name it: the API's field, then what the user typed instead
 * (as flags are named: withFlag) — `audio_dir (<dir>) "/data/field/site A" lies inside …`; it said
 * only `audio_dir`, a field of the API, to a user who had typed a directory.
 */
const DIR = "audio_dir (<dir>)";

/**
 * What ends the refusal of a <dir> outside the audio roots: which roots those are and the flag
 * that sets them — the root defaults to the current directory, so `dataset add /data/bats` run
 * from elsewhere was refused naming neither.
 */
function outsideRootsHint(roots: readonly string[]): string {
  return ` (${roots.join(", ")}): give --audio-root DIR (or SONOTILE_AUDIO_ROOTS) with a directory that holds it; the default is the current directory`;
}

export const command: Command = {
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "dataset", takesParams: false });
    if (!cl) return EXIT.ok;
    const [action, ...rest] = cl.positionals;
    const onDir = action === "add" || action === "scan" || action === "refresh";
    if (!(onDir && rest.length === 1) && !((action === "list" || action === "reprobe") && rest.length === 0)) throw new UsageError(`expected 'add <dir>', 'scan <dir>', 'refresh <dir>', 'list' or 'reprobe' (see --help)`);
    if (action !== "add" && (cl.options.name !== undefined || cl.options.description !== undefined)) throw new UsageError(`${action} takes no ${["name", "description"].filter((f) => cl.options[f] !== undefined).map((f) => `--${f}`).join(", ")}`);
    if (action !== "refresh" && cl.options.force) throw new UsageError("--force is refresh's only");
    const config = storeConfig({ data: cl.options.data as string | undefined, audioRoot: cl.options["audio-root"] as string | undefined });
    const roots = action === "list" ? [] : await audioRootsOption(config.audioRoots);
    // A path typed on a command line is relative to the current directory (the API's audio_dir
    // is relative to the first root: a remote caller has no current directory of the server's).
    const audioDir = onDir ? await resolveAudioDir(roots, resolve(rest[0]), DIR, outsideRootsHint(roots)) : "";

    // `add` brings a database into use (its first admin token is delivered below); `list` only reads one.
    const { database, out } = await openCommandStore(cl, { poolSize: 2, create: action === "add", config });
    try {
      const sql = database.sql;
      if (action === "list") {
        const page = await listDatasets(sql, { state: "all", sort: "name", order: "asc", limit: LIST_LIMIT, offset: 0 });
        out(page, page.items.map((d) => `${d.id}  ${d.name}  ${plural(d.recording_count, "recording")}  ${d.audio_dir}${d.state === "active" ? "" : `  (${d.state})`}`).join("\n") || "no datasets");
        noteUnlisted("dataset", page, "datasets", "first by name", "GET /v1/datasets pages through them all");
        return EXIT.ok;
      }
      if (action === "reprobe") return await reprobe(sql, roots, out);
      if (action === "scan") return await scan(sql, audioDir, out);
      if (action === "refresh") return await refresh(sql, audioDir, out, cl.options.force === true);
      const first = await ensureAdmin(sql);
      const admin = first && (await deliverAdminKey(first.key, config.dataDir));
      // With --json the token (or its file) is a field of the one JSON document, not a line before it.
      if (admin && !cl.options.json) process.stdout.write(adminKeyLines(admin).join("\n") + "\n");
      // An earlier `add` killed mid-import left its run `running`: it ends as failed (this one resumes the work).
      await endInterruptedRuns(sql, "sonotile dataset");
      // The directory's dataset exists (an earlier `add` interrupted, or files added since): its
      // files not registered yet are imported — the run again finishes the work.
      const existing = await findDatasetByDir(sql, audioDir);
      // On a shared PostgreSQL the import holds the dataset's import lock, as a server's do: one
      // running elsewhere (a server's, another `add`'s) is waited for, saying so, and its files are
      // then registered — not read and hashed a second time. (It ran beside them, each hashing every file.)
      const waiting = (id: string) => process.stderr.write(`sonotile dataset: dataset ${id} of ${audioDir} is being imported by another process (a server or another 'sonotile dataset add'); waiting for that import to end — its files are then registered, not read again (Ctrl-C stops waiting)\n`);
      if (existing) {
        // Files registered before and replaced since are named too (an import leaves them, a refresh
        // takes them), and entries it cannot read — with nothing new to register as well (the one scan's).
        const imported = await new DatasetImports<ImportOutcome>(waiting, database).run(existing.id, () => importNew(sql, existing.id, null));
        // As a new dataset's answer and the API's import: this one may be the dataset made by mistake.
        const sameBytes = await datasetsHoldingSameBytes(sql, existing.id);
        const moved = imported.moved.length ? `, ${plural(imported.moved.length, "recording")} found moved` : "";
        const lines = [
          `dataset ${existing.name} (${existing.id}) of ${audioDir} exists: ${plural(imported.registered.length, "more recording")} registered${moved}`,
          ...importLines(imported),
          ...sameBytes.map((d) => sameBytesLine(d, existing.id)),
        ];
        out({ ...imported, dataset: await getDataset(sql, existing.id), datasets_holding_same_bytes: sameBytes }, lines.join("\n"));
        return imported.failed.length ? EXIT.input : EXIT.ok;
      }
      const result = await addDataset(sql, {
        name: (cl.options.name as string | undefined) ?? basename(audioDir),
        description: cl.options.description as string | undefined,
        audio_dir: audioDir,
        created_by: null,
      }, DIR, new DatasetImports(waiting, database));
      const sameBytes = await datasetsHoldingSameBytes(sql, result.dataset.id);
      const lines = [
        `dataset ${result.dataset.name} (${result.dataset.id}): ${plural(result.registered.length, "recording")} registered from ${audioDir}`,
        ...importLines(result),
        ...sameBytes.map((d) => sameBytesLine(d, result.dataset.id)),
      ];
      const answer = { ...result, datasets_holding_same_bytes: sameBytes };
      out(admin ? { ...answer, ...adminKeyFields(admin) } : answer, lines.join("\n"));
      // As extract's: a file with an audio file's name that could not be registered is input not read.
      return result.failed.length ? EXIT.input : EXIT.ok;
    } finally {
      await database.close();
    }
  },
};

/**
 * The line for another dataset holding the bytes of the recordings of dataset `id` (new, or added
 * to): files moved to a new disk are its recordings, whose work a new dataset does not carry.
 */
function sameBytesLine(other: DatasetHoldingSameBytes, id: string): string {
  // The advice to delete this dataset only when that one's files look moved here (moved_here): given
  // for one calibration file copied across, following it destroyed this dataset's work.
  if (!other.moved_here) return sharedFilesLine(other);
  return `  ${plural(other.recordings, "recording")} ${other.recordings === 1 ? "holds" : "hold"} the bytes of recordings of dataset ${other.name} (${other.id}, ${other.audio_dir}): if its files moved here, those are the recordings with the clips, tags, features and notes — delete this dataset (DELETE /v1/datasets/${id}; the files stay) and point that one here (PUT /v1/datasets/${other.id}/audio_dir)`;
}

/**
 * The line of a recording whose file the import found at another path (by its MD5). Where only
 * the Unicode normal form changed — a file copied back from macOS, which names it in NFD — the two
 * paths look the same, and the line says what changed.
 */
export function movedLine(m: ImportResult["moved"][number]): string {
  const form = m.from !== m.path && m.from.normalize("NFC") === m.path.normalize("NFC") ? `, the path's Unicode normal form changed (${normalForm(m.from)} → ${normalForm(m.path)})` : "";
  return `  moved ${m.from} → ${m.path} (${m.recording_id}): the same bytes${form}; the recording, its clips, tags, features and notes follow the file`;
}

/** The line for another dataset a few of whose files are copied here (not moved_here): which files, and that nothing needs undoing. */
function sharedFilesLine(other: DatasetHoldingSameBytes): string {
  const pairs = other.files.map((f) => `${f.path} → ${f.their_path}`).join(", ");
  const more = other.recordings > other.files.length ? ", …" : "";
  return `  ${plural(other.recordings, "file")} here ${other.recordings === 1 ? "duplicates" : "duplicate"} files of dataset ${other.name} (${other.id}, ${other.audio_dir}): ${pairs}${more} — ${other.theirs_here} of its ${plural(other.their_recordings, "recording")}, not its files moved here; each copy is a recording of its own dataset, with its own clips, tags and notes`;
}

/**
 * What `dataset add` says of an import beyond its counts, a line each: files it could not read,
 * recordings it found moved, files holding the bytes of another recording, registered files
 * changed since and recordings whose file is missing — the last two are left as they are.
 */
function importLines(imported: Pick<ImportResult, "failed" | "moved" | "duplicates" | "changed" | "missing" | "metadata_unread">): string[] {
  return [
    ...imported.failed.map((f) => `  skipped ${naming(f.path, f.error)}`),
    ...imported.moved.map(movedLine),
    ...imported.duplicates.map((g) => `  duplicates (MD5 ${g.hash}): ${g.recordings.map((r) => `${r.path} (${r.recording_id}${r.state === "active" ? "" : `, ${r.state}`})`).join(", ")} hold the same bytes`),
    ...imported.changed.map((f) => `  changed ${f.path} (${f.recording_id}): ${f.changed!.message}`),
    ...imported.missing.map((f) => missingLine(f, "import")),
    ...imported.metadata_unread.map((u) => `  metadata of ${u.path} not read: ${u.key} ${JSON.stringify(u.value)}: ${u.message}`),
  ];
}

/** `message` starting with `path`: a reader's message names the file already ("cut.wav: file is empty"); a link's reason does not. */
function naming(path: string, message: string): string {
  return message.startsWith(`${path}: `) ? message : `${path}: ${message}`;
}

/**
 * The line for a recording whose file is missing, after a scan or an import: what is kept, and
 * where its file may be — the files not registered of its size (possibly_moved_to), which an
 * import checks by MD5; after the import, those it found to hold other bytes, and how to point the
 * recording at one that is its file edited (PATCH path: readRecordingFile, updateRecording).
 */
function missingLine(f: ScanFile, after: "scan" | "import"): string {
  const kept = `  missing ${f.path} (${f.recording_id}): no file at this path; the recording and its clips, tags and notes are kept`;
  const at = f.possibly_moved_to.join(", ");
  if (!at) return `${kept} — put the file back (moved with the same bytes, ${after === "scan" ? "an" : "the next"} import finds it), or delete the recording`;
  return after === "scan"
    ? `${kept}; it may have moved to ${at} (the same size); an import will check by MD5 (sonotile dataset add), and the recording follows the file with its bytes`
    : `${kept}; ${at}, of its size, ${f.possibly_moved_to.length > 1 ? "hold" : "holds"} other bytes (MD5) and ${f.possibly_moved_to.length > 1 ? "were" : "was"} registered as new: its file moved and edited, or another recording — if its file, delete the new recording and give the file to this one (PATCH /v1/recordings/${f.recording_id} {"path": …})`;
}

/** The dataset of directory `audioDir`; a usage error (exit 2) naming how to make one when there is none. */
async function datasetOfDir(sql: Sql, audioDir: string) {
  const dataset = await findDatasetByDir(sql, audioDir);
  if (!dataset) throw new UsageError(`${audioDir} is no dataset's directory: sonotile dataset add ${audioDir} makes it one`);
  return dataset;
}

/**
 * `dataset scan`: the counts, then a line per file not registered (`unreadable` where its header
 * does not read: an import cannot register it), per registered file changed since, per recording
 * whose file is missing, and per entry not read; with --json the scan. Exit 2 when the directory
 * has no dataset. Registers nothing.
 */
async function scan(sql: Sql, audioDir: string, out: AnswerPrinter): Promise<number> {
  const dataset = await datasetOfDir(sql, audioDir);
  const result = await scanDataset(sql, dataset.id);
  const { registered, missing, unregistered } = result.counts;
  const unreadable = result.files.filter((f) => f.unreadable).length;
  const lines = [
    `dataset ${dataset.name} (${dataset.id}) of ${audioDir}: ${registered} registered, ${missing} missing, ${unregistered} not registered${unreadable ? ` (${unreadable} of them unreadable)` : ""}`,
    ...result.files.filter((f) => f.status === "unregistered").map((f) => (f.unreadable ? `  unreadable ${naming(f.path, f.unreadable)} — an import cannot register it: replace or remove the file` : `  not registered ${f.path}`)),
    ...result.files.filter((f) => f.changed).map((f) => `  changed ${f.path} (${f.recording_id}): ${f.changed!.message}`),
    ...result.files.filter((f) => f.status === "missing").map((f) => missingLine(f, "scan")),
    ...result.skipped.map((s) => `  skipped ${s.path}: ${s.reason}`),
  ];
  out(result, lines.join("\n"));
  return EXIT.ok;
}

/**
 * `dataset reprobe`: one line per recording whose facts changed or that was left, then the count;
 * with --json one document, the counts and those recordings. Exit 1 when some were left.
 */
async function reprobe(sql: Sql, roots: readonly string[], out: AnswerPrinter): Promise<number> {
  const outcomes: ReprobeOutcome[] = [];
  const summary = await sweepStaleRecordings(sql, { audioRoots: roots, onRecording: (o) => outcomes.push(o) });
  const facts = (f: { file_samplerate: number; frames: number; channels: number }) => `${plural(f.frames, "frame")}, ${f.channels} ch, ${f.file_samplerate} Hz`;
  const lines = outcomes.flatMap((o) => {
    if (o.kind === "left") return [`left ${o.path} (${o.id}): ${o.reason}`];
    if (!o.result.stored || !differ(o.result)) return [];
    const { before, facts: now } = o.result;
    return [`corrected ${o.path} (${o.id}): ${facts(before)} → ${facts(now)}${clipsOutsideNote(o.result)}`];
  });
  lines.push(`${plural(summary.stored, "recording")} read again (${summary.corrected} corrected), ${summary.left} left`);
  out({ ...summary, recordings: outcomes }, lines.join("\n"));
  return summary.left ? EXIT.input : EXIT.ok;
}

/**
 * Why refreshRecordingFile left recording `id`, as POST /v1/recordings/{id}/refresh says it (422,
 * 404, 403, 409): its file does not read as audio; is gone from the dataset's directory, now a
 * directory, or a link leading out of it (RefusedFileError, since the scan found it changed); or
 * the recording is read-only or was deleted meanwhile. Null for any other error (the database
 * lost, say), which ends the command.
 */
export function refreshFailure(err: unknown, id: string): string | null {
  if (err instanceof AudioFormatError) return `the file of recording ${id} cannot be read as audio: ${err.message}`;
  if (err instanceof RefusedFileError) return refusedFileMessage(id, err);
  return err instanceof ConflictError || err instanceof NotFoundError || err instanceof InvalidError ? (err as Error).message : null;
}

/**
 * What a refresh or a reprobe left outside the recording (ClipsOutside), after its line: clips
 * that now end after it, or reach above its Nyquist frequency — to be moved or their bounds changed.
 */
function clipsOutsideNote({ clipsPastEnd, clipsAboveNyquist }: ClipsOutside): string {
  const verb = (n: number, one: string, many: string) => `${plural(n, "clip")} now ${n > 1 ? many : one}`;
  return [
    clipsPastEnd ? `; ${verb(clipsPastEnd, "ends", "end")} after it` : "",
    clipsAboveNyquist ? `; ${verb(clipsAboveNyquist, "reaches", "reach")} above its Nyquist frequency (change or remove ${clipsAboveNyquist > 1 ? "their" : "its"} frequency bounds)` : "",
  ].join("");
}

/** What a refresh says, after its line, of the new file's metadata that differs from the recording's (kept). */
function metadataNote(id: string, differs: readonly MetadataDifference[]): string {
  if (!differs.length) return "";
  const each = differs.map((d) => `${d.field} ${d.file} (recording ${d.recording ?? "none"})`).join(", ");
  return `; the file's metadata differs from the recording's, which keeps its own: ${each} — PATCH /v1/recordings/${id} sets them if the file's are right`;
}

/** What a refresh says, after its line, of the feature values computed from the former bytes. */
function staleNote(n: number): string {
  return n ? `; ${plural(n, "feature value")} computed from the former bytes ${n > 1 ? "are" : "is"} stale: submit the job that computed ${n > 1 ? "them" : "it"} again` : "";
}

/**
 * `dataset refresh`: each recording of the dataset of `audioDir` whose file changed since it was
 * registered (the scan's `changed`) refreshed (refreshRecordingFile, what the API's refresh
 * does), a line each — refreshed with its new facts, or failed with why —, then the counts; with
 * --json one document. Exit 1 when some failed, 2 when the directory has no dataset.
 */
async function refresh(sql: Sql, audioDir: string, out: AnswerPrinter, force: boolean): Promise<number> {
  const dataset = await datasetOfDir(sql, audioDir);
  const changed = (await scanDataset(sql, dataset.id)).files.filter((f) => f.changed);
  const refreshed: { path: string; recording: Recording; clips_past_end: number; clips_above_nyquist: number; metadata_differs: MetadataDifference[]; stale_feature_values: number }[] = [];
  const failed: { path: string; recording_id: string; error: string }[] = [];
  for (const f of changed) {
    const id = f.recording_id!;
    try {
      const { recording, clipsPastEnd, clipsAboveNyquist, metadataDiffers, staleFeatureValues } = await refreshRecordingFile(sql, id, { force });
      refreshed.push({ path: f.path, recording, clips_past_end: clipsPastEnd, clips_above_nyquist: clipsAboveNyquist, metadata_differs: metadataDiffers, stale_feature_values: staleFeatureValues });
    } catch (err) {
      const error = refreshFailure(err, id);
      if (error === null) throw err;
      failed.push({ path: f.path, recording_id: id, error });
    }
  }
  const lines = [
    ...refreshed.map((r) => `  refreshed ${r.path} (${r.recording.id}): ${plural(r.recording.file_size, "byte")}, MD5 ${r.recording.hash}, ${durationText(r.recording.duration, r.recording.samplerate)}${clipsOutsideNote({ clipsPastEnd: r.clips_past_end, clipsAboveNyquist: r.clips_above_nyquist })}${metadataNote(r.recording.id, r.metadata_differs)}${staleNote(r.stale_feature_values)}`),
    ...failed.map((f) => `  failed ${f.path} (${f.recording_id}): ${f.error}`),
    `dataset ${dataset.name} (${dataset.id}) of ${audioDir}: ${refreshed.length} of ${plural(changed.length, "changed recording")} refreshed${failed.length ? `, ${failed.length} failed` : ""}`,
  ];
  out({ dataset_id: dataset.id, refreshed, failed }, lines.join("\n"));
  return failed.length ? EXIT.input : EXIT.ok;
}
