/**
 * Datasets: a named directory of recordings inside an audio root. A scan compares the files
 * on disk with the registered recordings; import registers the unregistered ones under a run.
 */
import { realpath, stat } from "node:fs/promises";
import { join, posix, relative, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileMd5, headerError, isAudioName, notRegularFile, readDirectory, specialKind, UNDECODABLE_NAME } from "../audio/index.js";
import { MissingFileError } from "../audio/source.js";
import type { Database, Queryable, Sql } from "./db.js";
import { assertWritable, deleting, inTransaction, updating, writing, likePattern, stateCondition, toPage, type Page, type PageRequest, type State, type StateFilter } from "./common.js";
import { ConflictError, InvalidError, NotFoundError, conflict, invalid, translating } from "./errors.js";
import { directoryGone, DirectoryGoneError, isInside, RefusedFileError, resolveAudioDir, resolveRecordingFile } from "./paths.js";
import { probeFile, type FileFacts, type FileStamp, type UnreadMetadata } from "./probe.js";
import { createRun, finishRun, type Run } from "./runs.js";
import { checkTimeExpansion, insertRecordings, moveRecordingPath, refreshRoute, statChange, type FileChange, type NewRecording } from "./recordings.js";

export interface Dataset {
  id: string;
  name: string;
  description: string;
  audio_dir: string;
  recording_count: number;
  state: State;
  state_changed_at: string | null;
  created_at: string;
  created_by: string | null;
  run_id: string | null;
}

export const DATASET_SORTS = ["name", "created_at", "recording_count"] as const;

/**
 * recording_count counts the recordings that are active themselves: those a default listing
 * of the dataset's recordings shows (archived and trashed ones are hidden there). It does not
 * drop to 0 while the dataset itself is archived or trashed — it says what a restore brings back.
 */
const SELECT = (db: Queryable) => db`
  SELECT d.id, d.name, d.description, d.audio_dir, d.state, d.state_changed_at, d.created_at, d.created_by, d.run_id,
         (SELECT count(*)::int FROM recordings r WHERE r.dataset_id = d.id AND r.state = 'active') AS recording_count
  FROM datasets d`;

/**
 * How a refusal names the directory its caller gave (the text only; the error's field stays
 * `audio_dir`): the API's field by default; a command line names what was typed too
 * (`audio_dir (<dir>)`), as it names flags.
 */
const AUDIO_DIR = "audio_dir";

/**
 * Creates a dataset; `audio_dir` must already be resolved by paths.resolveAudioDir. One that holds,
 * or lies inside, another dataset's directory is refused (refuseNestedDirectory), naming it `dirName` (AUDIO_DIR).
 */
export async function createDataset(db: Queryable, d: { name: string; description?: string; audio_dir: string; created_by: string | null; run_id?: string | null }, dirName = AUDIO_DIR): Promise<Dataset> {
  const name = d.name.trim();
  try {
    const id = await inTransaction(db, async (tx) => {
      await refuseNestedDirectory(tx, d.audio_dir, null, dirName);
      const [row] = await translating(() => tx`
        INSERT INTO datasets (name, description, audio_dir, created_by, run_id)
        VALUES (${name}, ${d.description ?? ""}, ${d.audio_dir}, ${d.created_by}, ${d.run_id ?? null})
        RETURNING id`);
      return row.id as string;
    }, `dataset ${name}`);
    return getDataset(db, id);
  } catch (err) {
    throw await namingHolder(db, err, { name, audio_dir: d.audio_dir });
  }
}

/** An arbitrary constant naming, among advisory locks, the one under which datasets take their directories. */
const DATASET_DIRECTORY_LOCK = 0x736f6e64; // "sond"

/**
 * Refuses (409) `audioDir` (a real path) when it holds, or lies inside, the directory of another
 * dataset — in any state, as the unique directory is: a restore would bring the overlap back. A
 * file below both would be registered twice, its clips, tags and notes split between two
 * recordings without a word. Both are real paths (resolveAudioDir), so a link to a dataset's
 * directory or into it is seen. The same directory is left to the unique key (namingHolder).
 * Runs in the caller's transaction, which it makes wait for any other taking a directory (an
 * advisory lock, held until commit): two overlapping creates at once — on two servers sharing the
 * database — each checked before the other inserted, and both were taken.
 * Datasets that overlap already (made before this check) are left as they are. `movingId`: the
 * dataset being pointed at `audioDir` (relocateDataset), whose own directory is no other's;
 * `dirName`: what the message calls the directory (AUDIO_DIR).
 */
async function refuseNestedDirectory(tx: Queryable, audioDir: string, movingId: string | null = null, dirName = AUDIO_DIR): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${DATASET_DIRECTORY_LOCK})`;
  // starts_with narrows to the candidates; isInside decides by path segments (`site A` is not inside `site`).
  const candidates = await tx<Pick<Dataset, "id" | "name" | "audio_dir" | "state">[]>`
    SELECT id, name, audio_dir, state FROM datasets
    WHERE audio_dir <> ${audioDir} AND id IS DISTINCT FROM ${movingId}::uuid AND (starts_with(${audioDir}, audio_dir) OR starts_with(audio_dir, ${audioDir}))
    ORDER BY audio_dir`;
  for (const other of candidates) {
    const inside = isInside(other.audio_dir, audioDir);
    if (!inside && !isInside(audioDir, other.audio_dir)) continue;
    const state = { active: "", archived: " (archived)", trashed: " (in the trash: purge it first)" }[other.state];
    const instead = inside ? "import the files into that dataset instead" : "delete that dataset first (its files stay), or choose a directory beside it";
    throw new ConflictError(`${dirName} ${JSON.stringify(audioDir)} ${inside ? "lies inside" : "holds"} ${other.audio_dir}, the directory of dataset ${other.id} ("${other.name}")${state}: a file below both would be registered in each, its work split between two recordings; ${instead}`, "audio_dir");
  }
}

/**
 * `err`, or where it is a name or directory another dataset holds, a ConflictError naming the field
 * (conflict: `name: "fx" is taken by dataset …`, as a 400 names one), that dataset and, when it is
 * hidden, what frees it: names and directories are unique over every state, and "name already
 * exists in datasets" for a name no listing showed (its dataset trashed) left the client guessing.
 * Runs after the failed statement's transaction, on `db`.
 */
async function namingHolder(db: Queryable, err: unknown, d: { name?: string; audio_dir?: string }): Promise<unknown> {
  if (!(err instanceof ConflictError) || (err.field !== "name" && err.field !== "audio_dir")) return err;
  const field = err.field;
  const value = d[field];
  const holder = value === undefined ? null : field === "name" ? await findDatasetByName(db, value) : await findDatasetByDir(db, value);
  if (!holder) return err;
  const which = { active: "", archived: ", which is archived", trashed: ", which is in the trash" }[holder.state];
  return conflict(field, `${JSON.stringify(value)} is taken by dataset ${holder.id} ("${holder.name}")${which}; ${TAKEN_INSTEAD[field][holder.state]}`);
}

/** What to do about a name or directory another dataset holds, by that dataset's state (namingHolder). */
const TAKEN_INSTEAD: Record<"name" | "audio_dir", Record<State, string>> = {
  name: {
    active: "choose another name",
    archived: "choose another name, or restore it, then rename or delete it",
    trashed: "choose another name, or purge it, or restore it and rename it",
  },
  audio_dir: {
    active: "a directory is one dataset's: import into that one, or choose another directory",
    archived: "restore it, then import into it or delete it",
    trashed: "restore it and import into it, or purge it",
  },
};

export async function getDataset(db: Queryable, id: string): Promise<Dataset> {
  const [row] = await translating(() => db<Dataset[]>`${SELECT(db)} WHERE d.id = ${id}`);
  if (!row) throw new NotFoundError("dataset", id);
  return row;
}

/** The dataset of the directory `audioDir` (a real path, as datasets store it), or null. */
export async function findDatasetByDir(db: Queryable, audioDir: string): Promise<Dataset | null> {
  const [row] = await translating(() => db<Dataset[]>`${SELECT(db)} WHERE d.audio_dir = ${audioDir}`);
  return row ?? null;
}

export async function findDatasetByName(db: Queryable, name: string): Promise<Dataset | null> {
  const [row] = await translating(() => db<Dataset[]>`${SELECT(db)} WHERE d.name = ${name}`);
  return row ?? null;
}

export interface DatasetQuery extends PageRequest {
  state: StateFilter;
  /** Case-insensitive substring of the name. */
  search?: string;
  sort: (typeof DATASET_SORTS)[number];
  order: "asc" | "desc";
}

export async function listDatasets(db: Queryable, q: DatasetQuery): Promise<Page<Dataset>> {
  const where = db`${stateCondition(db, q.state)} AND (${q.search ?? null}::text IS NULL OR name ILIKE ${likePattern(q.search)})`;
  // Ties (of a creation time or a count) by name, as the list shows them, not by random id.
  const direction = q.order === "desc" ? db`DESC` : db`ASC`;
  const page = await db<(Dataset & { total_count: number })[]>`
    SELECT *, count(*) OVER () AS total_count FROM (${SELECT(db)}) d WHERE ${where}
    ORDER BY ${db(q.sort)} ${direction}, name ${direction}, id
    LIMIT ${q.limit} OFFSET ${q.offset}`;
  return toPage(page, q, () => db`SELECT count(*) AS n FROM datasets WHERE ${where}`);
}

export async function updateDataset(db: Queryable, id: string, patch: { name?: string; description?: string }): Promise<Dataset> {
  const fields: Record<string, string> = {};
  if (patch.name !== undefined) fields.name = patch.name.trim();
  if (patch.description !== undefined) fields.description = patch.description;
  try {
    return await updating(db, "datasets", id, async (tx) => {
      if (Object.keys(fields).length) {
        await translating(() => tx`UPDATE datasets SET ${tx(fields, ...Object.keys(fields))} WHERE id = ${id}`);
      }
      return getDataset(tx, id);
    });
  } catch (err) {
    throw await namingHolder(db, err, { name: fields.name });
  }
}

/** Recordings named in a refused relocation's message, at most. */
const RELOCATION_EXAMPLES = 3;
/**
 * The share of a dataset's recordings whose files must be in the directory it is pointed at: one
 * file of 2,500 matching by size let a directory holding a copied file take the dataset, the other
 * 2,499 recordings turning missing. Half, not all: recordings already missing before the move stay so.
 */
const RELOCATION_SHARE = 0.5;

/**
 * Points a dataset at the directory its files now live in — `audioDir`, already resolved by
 * paths.resolveAudioDir — keeping its recordings (their paths are relative to it), clips, tags,
 * features, notes and jobs: the operator's step when the audio moves to another disk or mount
 * point. Whatever the dataset's state (an archived dataset's files move with the disk too).
 * Refused when fewer than half of the dataset's recordings' files (RELOCATION_SHARE) are in
 * `audioDir` with their registered size: a mistyped directory, or one holding a few files copied
 * there, would otherwise turn the rest missing. Every file is statted. Files that
 * are there are read as any file is: one whose modification time moved in the copy is hashed
 * again at its first use, the same bytes keeping the recording's content (recordingFileNow). A
 * directory holding, or inside, another dataset's is refused as at creation (refuseNestedDirectory).
 */
export async function relocateDataset(db: Queryable, id: string, audioDir: string): Promise<Dataset> {
  const dataset = await getDataset(db, id);
  const recordings = await db<{ path: string; file_size: number }[]>`SELECT path, file_size::float8 AS file_size FROM recordings WHERE dataset_id = ${id} ORDER BY path`;
  // SCAN_STAT_LANES stats at a time, as a scan's: a mistyped directory stats every file, and one
  // after another, a large dataset on a slow mount could outlast the request's deadline. Every
  // file is statted: the rule counts them.
  const absent: string[] = [];
  await inLanes(recordings, SCAN_STAT_LANES, async (r) => {
    if (!(await stat(join(audioDir, r.path)).then((s) => s.size === r.file_size, () => false))) absent.push(r.path);
  });
  const present = recordings.length - absent.length;
  if (present < RELOCATION_SHARE * recordings.length) {
    const examples = absent.sort().slice(0, RELOCATION_EXAMPLES).join(", ");
    const where = `in ${audioDir} with its registered size`;
    const copy = `copy the files there first, keeping their paths relative to ${dataset.audio_dir}`;
    throw invalid("audio_dir", present
      ? `only ${present} of dataset ${dataset.name}'s ${recordings.length} recordings' files is ${where} (missing e.g. ${examples}); at least half must be: ${copy}`
      : `none of dataset ${dataset.name}'s ${recordings.length} recordings' files is ${where} (e.g. ${examples}): ${copy}`);
  }
  try {
    await inTransaction(db, async (tx) => {
      await refuseNestedDirectory(tx, audioDir, id);
      await translating(() => tx`UPDATE datasets SET audio_dir = ${audioDir} WHERE id = ${id}`);
    }, `dataset ${dataset.name}`);
  } catch (err) {
    throw await namingHolder(db, err, { audio_dir: audioDir });
  }
  return getDataset(db, id);
}

/**
 * Deletes a dataset and (by cascade) its recordings' metadata; files on disk are untouched. Only
 * an active one: archived means read-only, deletion included, and trashed ones go when the trash
 * is purged (409 otherwise).
 */
export async function deleteDataset(db: Queryable, id: string): Promise<void> {
  return deleting(db, "datasets", id, async (tx) => {
    const rows = await translating(() => tx`DELETE FROM datasets WHERE id = ${id} RETURNING id`);
    if (!rows.length) throw new NotFoundError("dataset", id);
  });
}

/** File extensions a scan considers audio (the formats src/audio reads), lower case. */
/** A scan stops with an error rather than walk an unbounded tree. */
const MAX_SCAN_FILES = 100_000;
const MAX_SCAN_DEPTH = 32;

/** What a scan says of a file: its recording's file is there, its recording's file is not, or no recording has it. */
export const SCAN_STATUSES = ["registered", "missing", "unregistered"] as const;
export type ScanStatus = (typeof SCAN_STATUSES)[number];
export interface ScanFile {
  path: string;
  status: ScanStatus;
  recording_id: string | null;
  /**
   * The recording's own state (null for an unregistered file): a trashed recording's file is
   * `registered` until the trash is purged — then `unregistered`, and the next import registers it
   * again (the file stays on disk) — and the scan had not said that the recording was hidden.
   */
  recording_state: State | null;
  /**
   * A registered file whose size or modification time is not the registered one (statChange):
   * what moved, and what a person can do — without hashing the file (a scan of many GB would
   * read them all). Null for every other file. `holds_bytes_of`: another recording of the dataset
   * whose registered bytes (size, then MD5) the file holds now — two files swapped, or one copied
   * over another (bytesOfAnother): only a file of another recording's registered size is hashed.
   */
  changed: { reason: FileChange; message: string; holds_bytes_of?: { recording_id: string; path: string } } | null;
  /**
   * For a missing recording, the unregistered files (paths, sorted; the first POSSIBLY_MOVED_LIMIT)
   * of its registered size in bytes — perhaps its file moved or renamed; empty for every other
   * file. A hint only: a scan hashes nothing, and a file moved with its bytes is what an import
   * finds by MD5 and gives the recording (movedHere). A curator who saw only `missing` could delete
   * the recording before that import.
   */
  possibly_moved_to: string[];
  /**
   * For an unregistered file, why an import cannot register it, as the import's `failed` says it:
   * its header does not read (empty, not a supported format, a header cut short or lying —
   * unreadableFiles); null for every other file. Without it such a file was `unregistered` in
   * every scan, as a new file waiting for its import is, and failed every import again.
   */
  unreadable: string | null;
}
export interface ScanResult {
  dataset_id: string;
  files: ScanFile[];
  counts: Record<ScanStatus, number>;
  /** Entries that may hold recordings but are not read (listAudioFiles), paths with \xNN escapes. */
  skipped: SkippedEntry[];
}

/** An entry a scan does not read, and why. */
export interface SkippedEntry {
  path: string;
  reason: string;
}

/** Why a symbolic link in a dataset is not followed (SPEC §10), for the reports that list it. */
const LINK_OUTSIDE = "a symbolic link that leads outside the dataset's directory, which is not followed: move or copy what it points to inside";
const LINK_BROKEN = "a symbolic link to nothing";
/** A link that leads back to itself through links alone (`ln -s loop loop`): it resolves to nothing, whatever it is named. */
const LINK_LOOP = "a symbolic link that loops";

/**
 * Audio files below `dir` as '/'-separated paths relative to it, sorted, each file once. Symlinks
 * are followed only when their target stays inside `dir` (SPEC §10), and after the directories
 * themselves: a file or directory reached both ways is listed by its own path, one reached only
 * through links by the first link's (in name order), and a link back to a directory already
 * walked (`loop -> .`) leads nowhere new — such loops listed a.wav, loop/a.wav, loop/loop/a.wav …
 * down to the depth limit, and two of them made the walk exponential. `skipped` names what might
 * hold recordings but is not read: names that are not UTF-8 (readDirectory's `undecodable`),
 * links leading outside `dir` — such a link had vanished from a scan without a word —, links that
 * loop (LINK_LOOP: whatever their names, since one may have stood for a directory) and entries
 * named as audio that are no regular file (a FIFO, a socket, a device, or a link to one: by their
 * type, never opened; they vanished too).
 * `realPaths`: each listed path's file by its real path (inside `dir`), as the walk found it — what
 * a scan opens without resolving each path again (unreadableFiles).
 */
export async function listAudioFiles(dir: string): Promise<{ paths: string[]; skipped: SkippedEntry[]; realPaths: Map<string, string> }> {
  const found = new Map<string, string>(); // real path → listed path
  const walked = new Set<string>(); // real paths of the directories walked
  const links: { path: string; target: string; depth: number }[] = [];
  const skipped = new Map<string, string>(); // listed path → reason
  const listed = (path: string) => relative(dir, path).split(sep).join("/");
  const add = (real: string, path: string) => {
    if (found.has(real)) return;
    if (found.size >= MAX_SCAN_FILES) throw invalid("audio_dir", `holds more than ${MAX_SCAN_FILES} audio files; split it into several datasets`);
    found.set(real, listed(path));
  };
  async function walk(abs: string, real: string, depth: number): Promise<void> {
    if (depth > MAX_SCAN_DEPTH || walked.has(real)) return;
    walked.add(real);
    const { entries, undecodable: unnamed } = await readDirectory(abs);
    // Only the names that could hold recordings: a directory, a link, an audio file.
    for (const entry of unnamed) if (entry.isDirectory || entry.isSymbolicLink || isAudioName(entry.name)) skipped.set(listed(join(abs, entry.name)), UNDECODABLE_NAME);
    for (const entry of entries) {
      const child = join(abs, entry.name), childReal = join(real, entry.name);
      if (entry.isSymbolicLink) {
        let loops = false;
        const target = await realpath(child).catch((err: NodeJS.ErrnoException) => {
          loops = err.code === "ELOOP";
          return null;
        });
        if (target && isInside(dir, target)) links.push({ path: child, target, depth: depth + 1 });
        else if (loops) skipped.set(listed(child), LINK_LOOP);
        else if (isAudioName(entry.name) || (target && (await stat(target).catch(() => null))?.isDirectory())) skipped.set(listed(child), target ? LINK_OUTSIDE : LINK_BROKEN);
      } else if (entry.isDirectory) await walk(child, childReal, depth + 1);
      else if (entry.isFile && isAudioName(entry.name)) add(childReal, child);
      else if (entry.special && isAudioName(entry.name)) skipped.set(listed(child), notRegularFile(entry.special));
    }
  }
  await walk(dir, dir, 0);
  // Links in the order met, those found while following them last.
  for (let i = 0; i < links.length; i++) {
    const { path, target, depth } = links[i];
    const info = await stat(target).catch(() => null);
    const special = info && specialKind(info);
    if (info?.isDirectory()) await walk(path, target, depth);
    else if (info?.isFile() && isAudioName(path)) add(target, path);
    else if (special && isAudioName(path)) skipped.set(listed(path), notRegularFile(special));
  }
  const byPath = (a: SkippedEntry, b: SkippedEntry) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return {
    paths: [...found.values()].sort(),
    skipped: [...skipped].map(([path, reason]) => ({ path, reason })).sort(byPath),
    realPaths: new Map([...found].map(([real, path]) => [path, real])),
  };
}

/**
 * The dataset's directory, checked again before it is read. audio_dir was stored as a real
 * path inside an audio root (resolveAudioDir, when the dataset was made), so it must still
 * resolve to itself: a directory replaced since by a symlink (or one above it) would lead a
 * scan — and the import built on it — to files elsewhere. resolveAudioDir with the directory
 * as its only root is exactly that check; a directory since removed is DirectoryGoneError, as its
 * recordings' files then are (a 404 in the API).
 */
async function checkedAudioDir(dataset: Dataset): Promise<string> {
  try {
    return await resolveAudioDir([dataset.audio_dir], dataset.audio_dir);
  } catch (err) {
    if (!(err instanceof InvalidError)) throw err;
    const cannot = `dataset ${dataset.name} cannot be read`;
    if (!(await stat(dataset.audio_dir).then(() => true, () => false))) throw new DirectoryGoneError(`${cannot}: ${directoryGone(dataset.audio_dir, dataset.id)}`);
    throw invalid("audio_dir", `${cannot}: ${err.fields.map((f) => f.message).join("; ")} (files moved to another disk: PUT /v1/datasets/${dataset.id}/audio_dir points the dataset at them)`);
  }
}

/** Files a scan looks at (stat) at once, each lane taking the next file when done with its own (inLanes). */
const SCAN_STAT_LANES = 64;

/**
 * Compares the files in the dataset's directory with its registered recordings. Each registered
 * file is looked at where the recording says it is (resolveRecordingFile) — so one the listing
 * does not name (registered by hand under another extension, or by a path through a link) is
 * found before it counts as missing — and its size and time are compared with the registered
 * ones (statChange): a file replaced since is `registered` with `changed` saying so and naming
 * the refresh route, where it had looked like any other. A recording whose path holds no regular
 * file now (a FIFO, a socket, a device, or a link to one) is named under `skipped` alone, as the
 * listing names such an entry, not also among `files` as missing.
 */
export async function scanDataset(db: Queryable, id: string): Promise<ScanResult> {
  const dataset = await getDataset(db, id);
  const audioDir = await checkedAudioDir(dataset);
  const listing = await listAudioFiles(audioDir);
  const onDisk = new Set(listing.paths);
  const registered = await db<RegisteredFile[]>`
    SELECT id, path, state, hash, file_size::float8 AS file_size, file_mtime FROM recordings WHERE dataset_id = ${id}`;
  const files: ScanFile[] = [];
  const known = new Set(registered.map((r) => r.path));
  const changedFiles: { file: ScanFile; found: { file: string; size: number } }[] = [];
  const skippedPaths = new Set(listing.skipped.map((s) => s.path));
  await inLanes(registered, SCAN_STAT_LANES, async (r) => {
    let found: Awaited<ReturnType<typeof resolveRecordingFile>> | null = null;
    try {
      found = await resolveRecordingFile(audioDir, r.path);
    } catch (err) {
      // A path that holds no regular file (a FIFO, a socket, a device, or a link to one) is said
      // once, as what it is, under `skipped` (listAudioFiles): it was `missing` too ("no file at this path").
      if (err instanceof RefusedFileError && err.refusal === "not_regular" && skippedPaths.has(r.path)) return;
    }
    // A listed file that cannot be looked at now (removed during the scan) still counts as there, as the listing saw it.
    const status = found || onDisk.has(r.path) ? "registered" : "missing";
    const file: ScanFile = { path: r.path, status, recording_id: r.id, recording_state: r.state, changed: found && changeSeen(r, found), possibly_moved_to: [], unreadable: null };
    files.push(file);
    if (found && file.changed) changedFiles.push({ file, found });
  });
  await bytesOfAnother(registered, changedFiles);
  const unregistered = [...onDisk].filter((path) => !known.has(path));
  const unreadable = await unreadableFiles(unregistered, listing.realPaths);
  for (const path of unregistered) files.push({ path, status: "unregistered", recording_id: null, recording_state: null, changed: null, possibly_moved_to: [], unreadable: unreadable.get(path) ?? null });
  const missing = files.filter((f) => f.status === "missing");
  if (missing.length) {
    const sizeOf = new Map(registered.map((r) => [r.id, r.file_size]));
    const bySize = await pathsBySize(audioDir, unregistered);
    for (const f of missing) f.possibly_moved_to = (bySize.get(sizeOf.get(f.recording_id!)!) ?? []).slice(0, POSSIBLY_MOVED_LIMIT);
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const counts = Object.fromEntries(SCAN_STATUSES.map((status) => [status, 0])) as Record<ScanStatus, number>;
  for (const f of files) counts[f.status]++;
  return { dataset_id: id, files, counts, skipped: listing.skipped };
}

/** Which files of a scan a page of it holds (scanPage): all, or those of one status. */
export interface ScanPageRequest extends PageRequest {
  status?: ScanStatus;
}

/**
 * A page of `scan`'s files (SPEC §5 lists), in path order, of one status if asked — with the counts
 * and skipped entries of the whole scan: a season's scan listed its 30,000 files in one answer of
 * 5 MB, when a curator wants the counts and the files not plainly registered. `total`: the files
 * of that status (all files without one).
 */
export function scanPage(scan: ScanResult, q: ScanPageRequest): Omit<ScanResult, "files"> & Page<ScanFile> {
  const { files, ...whole } = scan;
  const chosen = q.status ? files.filter((f) => f.status === q.status) : files;
  return { ...whole, items: chosen.slice(q.offset, q.offset + q.limit), limit: q.limit, offset: q.offset, total: chosen.length };
}

/**
 * Files whose header a scan reads at once (unreadableFiles): enough to keep the disk and libuv's
 * threads busy (4 by default) while each file waits for its own reads; a batch of 64 waited for
 * its slowest file before the next began.
 */
const HEADER_PROBE_LANES = 8;

/**
 * Of `paths` (unregistered, relative to the dataset's directory), those an import cannot register,
 * with the failure it would report: their header does not read (headerError, on the file's real
 * path as the listing found it: `realPaths`, listAudioFiles'; opened only as that file, so a link
 * swapped in since leads nowhere). HEADER_PROBE_LANES files at a time, each an open and one read of
 * its first bytes — nothing decoded, nothing hashed: a scan runs often, and over files not
 * registered yet (a first scan, thousands) hashing or decoding would take minutes. An error reading
 * a header (I/O) is the file's, said as for a header that does not read. What only reading further
 * finds — a compressed stream cut short after its header, an I/O error past the header — is left
 * to the import, which reports it under `failed` and does not remember it (no table holds it). A
 * file removed since the listing is left to the import too.
 */
async function unreadableFiles(paths: string[], realPaths: ReadonlyMap<string, string>): Promise<Map<string, string>> {
  const problems = new Map<string, string>();
  await inLanes(paths, HEADER_PROBE_LANES, async (path) => {
    const file = realPaths.get(path)!;
    // Any error reading one file is that file's (an I/O error, a parser's RangeError on a hostile
    // header): said as its import would say it, not thrown — it failed every scan and import of
    // the dataset, where an import's failure had stayed with its one file.
    const problem = await headerError(file, { exactPath: true, headBytes: HEADER_BYTES }).catch((err: Error) => err);
    // A file removed since the listing is left to the import, which says so.
    if (problem && !(problem instanceof MissingFileError)) problems.set(path, namedAsRecorded(problem.message, file, path));
  });
  return problems;
}

/**
 * Bytes read at once from the start of a file whose header a scan checks: a WAV's chunks up to its
 * samples (RIFF, fmt, a LIST or bext, the data chunk's header) fit in them, in one read where the
 * header walk made one per chunk; what lies further (a long metadata chunk) is read as before.
 */
const HEADER_BYTES = 4096;

/**
 * `work` on each of `items` (with its index), `lanes` at a time: each lane takes the next item when
 * done with its own — batches of a fixed size waited for their slowest item before the next began.
 * Items end in any order; a `work` that throws ends its lane and rejects the whole (the other lanes
 * go on with the items they took).
 */
async function inLanes<T>(items: readonly T[], lanes: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
}

/** `message` naming the file as its record would (`path`, relative to the dataset's audio_dir), not by the server's own path (`file`). */
function namedAsRecorded(message: string, file: string, path: string): string {
  return message.replaceAll(file, path);
}

/**
 * Same-size files named per missing recording: recorders write files of one size (an AudioMoth's
 * minutes), and a folder of them moved would name every one for every recording, M × N paths.
 */
const POSSIBLY_MOVED_LIMIT = 10;

/**
 * `paths` (relative to `audioDir`, in order) by their size in bytes, each size's in the order of
 * `paths`: one stat each, SCAN_STAT_LANES at a time; a file gone since it was listed is left out.
 */
async function pathsBySize(audioDir: string, paths: string[]): Promise<Map<number, string[]>> {
  const sizes: (number | null)[] = new Array(paths.length);
  await inLanes(paths, SCAN_STAT_LANES, async (path, i) => {
    sizes[i] = await stat(join(audioDir, path)).then((info) => info.size, () => null);
  });
  const bySize = new Map<number, string[]>();
  paths.forEach((path, i) => {
    const size = sizes[i];
    if (size !== null) appendTo(bySize, size, path);
  });
  return bySize;
}

/** A recording as a scan compares it with its file. */
interface RegisteredFile {
  id: string;
  path: string;
  state: State;
  hash: string;
  file_size: number;
  file_mtime: number | null;
}

/**
 * Marks each changed file holding another recording's registered bytes (ScanFile.changed's
 * holds_bytes_of), its message saying so: two files swapped were each only `changed`, and a
 * refresh gave each recording the other's audio under its own date, time and clips. Only a
 * changed file of another recording's registered size is hashed, SCAN_HASH_LANES at a time.
 */
async function bytesOfAnother(registered: readonly RegisteredFile[], changed: { file: ScanFile; found: { file: string; size: number } }[]): Promise<void> {
  const bySize = new Map<number, RegisteredFile[]>();
  for (const r of registered) appendTo(bySize, r.file_size, r);
  const suspects = changed.filter((c) => bySize.get(c.found.size)?.some((r) => r.id !== c.file.recording_id));
  await inLanes(suspects, SCAN_HASH_LANES, async ({ file, found }) => {
    const hash = await fileMd5(found.file, { exactPath: true }).catch(() => null);
    // Still its own bytes (a file only touched), which a duplicate of it holds too: no other's.
    if (registered.some((r) => r.id === file.recording_id && r.hash === hash)) return;
    const other = bySize.get(found.size)!.find((r) => r.id !== file.recording_id && r.hash === hash);
    if (!other || !file.changed) return;
    file.changed.holds_bytes_of = { recording_id: other.id, path: other.path };
    file.changed.message += ` — its bytes (MD5 ${hash}) are now those of recording ${other.id} (${other.path}): swapped or copied over? Put the files back; a refresh refuses it`;
  });
}

/** Files a scan hashes at once (bytesOfAnother): each is read whole. */
const SCAN_HASH_LANES = 2;

/** A scan's word on a registered file whose size or time moved (statChange), or null. */
function changeSeen(r: { id: string; file_size: number; file_mtime: number | null }, found: { size: number; mtime: number }): ScanFile["changed"] {
  const reason = statChange(r, found);
  if (reason === "size") {
    return { reason, message: `${r.file_size} bytes when registered, ${found.size} now: the content changed, and reads of the recording answer 409 until the registered file is put back or the new one is made its content (${refreshRoute(r.id)})` };
  }
  if (reason === "modified") {
    const time = (ms: number) => new Date(ms).toISOString();
    return { reason, message: `the same size, but modified since it was registered (at ${time(r.file_mtime!)}, now ${time(found.mtime)}): the content may have changed — the next read of the recording hashes the file and answers 409 if it did; ${refreshRoute(r.id)} makes the file as it is the recording's content` };
  }
  return null;
}

export interface ImportResult {
  run: Run;
  registered: { path: string; recording_id: string }[];
  /**
   * Recordings whose file the import found at another path — moved or renamed: a file not
   * registered yet with the MD5 of a recording whose file was missing. The recording now points
   * to it (moveRecordingPath), keeping its id, clips, tags, features and notes; a new recording
   * had been registered for the file, with none of them, beside the old one left missing.
   */
  moved: { from: string; path: string; recording_id: string }[];
  /**
   * Recordings whose file is at none of the dataset's paths after the import (a scan's `missing`):
   * deleted, or moved with other bytes. Their `possibly_moved_to` keeps, of the scan's, the files
   * this import registered anew: of the recording's size but, by MD5, other bytes — its file moved
   * and edited, or another recording of that length.
   */
  missing: ScanFile[];
  /**
   * Recordings of the dataset holding the same bytes (one MD5), in groups that take in a recording
   * this import registered: a file copied under two names had been registered twice without a word.
   */
  duplicates: DuplicateGroup[];
  failed: { path: string; error: string }[];
  /** Registered files the import's scan found changed (ScanFile.changed): an import registers new files, it leaves these be. */
  changed: ScanFile[];
  /**
   * Metadata values of the files it registered that it could not read (probeFile's
   * metadata_unread), by path: the recording registered without them — they had been dropped
   * without a word, a date or place left empty.
   */
  metadata_unread: ({ path: string } & UnreadMetadata)[];
}

/** Recordings of one dataset whose files hold the same bytes, by path. */
export interface DuplicateGroup {
  hash: string;
  recordings: { path: string; recording_id: string; state: State }[];
}

/** Files probed at once during an import (each reads a header and hashes a file). */
const IMPORT_CONCURRENCY = 4;

/**
 * Files an import registers per transaction: one INSERT for them all (insertRecordings). The
 * files of a batch are read while the batch before is registered.
 */
const IMPORT_BATCH = 200;

/**
 * How long (ms) files read wait for their batch to fill before they are registered anyway: with
 * field recordings of GB each (seconds of hashing a file), 200 files took half an hour, and no
 * recording of the import appeared before them.
 */
const IMPORT_BATCH_WAIT = 5000;

/**
 * Registers every unregistered audio file of the dataset under an `import` run — `run` when
 * the caller started it (see addDataset), else a new one. A file with the bytes of a recording
 * whose file is missing is that file moved or renamed: the recording is pointed to it (movedHere)
 * rather than a second one registered. Files that cannot be decoded are reported, not fatal
 * (those whose header its scan found unreadable without opening them again: scanOutcome);
 * files whose bytes another recording of the dataset holds are registered and reported
 * (duplicates). IMPORT_CONCURRENCY lanes read the files, each taking the next file when done
 * with its own, and hand what they read to registration by batches of IMPORT_BATCH (fewer when a
 * file is done IMPORT_BATCH_WAIT after the first of them was read, and at the end), each
 * registered in a transaction of its own (no long transaction) while the lanes read on; one
 * registration at a time, and the lanes wait when a full batch waits behind it. An import
 * interrupted loses the hashing of the files read and not registered yet — at most the batch
 * being registered and the one being filled — not what the earlier batches stored. A file
 * registered concurrently by someone else is skipped.
 * `scan`: the dataset's scan when the caller has just made it (importNew), else one is made.
 */
export async function importDataset(db: Queryable, id: string, user: string | null, run?: Run, scan?: ScanResult): Promise<ImportResult> {
  await assertWritable(db, "datasets", id);
  const dataset = await getDataset(db, id);
  scan ??= await scanDataset(db, id);
  const importRun = run ?? (await createRun(db, { kind: "import", description: `import into dataset ${dataset.name}`, created_by: user }));
  const todo = scan.files.filter(waitsForImport).map((f) => f.path);
  const registered: ImportResult["registered"] = [];
  const moved: ImportResult["moved"] = [];
  const unread: ImportResult["metadata_unread"] = [];
  const { failed, changed, missing } = scanOutcome(scan);
  const gone = await missingByHash(db, missing);
  // The file named as its record names it (relative to the dataset's audio_dir), not by the server's own path.
  const fail = (path: string, err: unknown, abs?: string) => {
    const message = (err as Error).message;
    failed.push({ path, error: abs ? namedAsRecorded(message, abs, path) : message });
  };

  /**
   * Registers the rows in one transaction that checks the dataset anew, holding it: one archived
   * mid-import takes no more (each row fails with the check's message). It waits for any refresh
   * or PATCH path writing the rows' bytes (insertRecordings), so that duplicatesOf names that recording. When the check passed and
   * the insert failed (a row refused: a constraint, a trigger), the rows are registered one by
   * one, so that only the file refused fails — one row had failed the 200 of its batch.
   */
  async function register(rows: NewRecording[]): Promise<void> {
    let checked = false;
    try {
      const inserted = await writing(db, "datasets", id, (tx) => {
        checked = true;
        return insertRecordings(tx, rows);
      });
      registered.push(...inserted.map((r) => ({ path: r.path, recording_id: r.id })));
    } catch (err) {
      if (checked && rows.length > 1) for (const row of rows) await register([row]);
      else for (const row of rows) fail(row.path, err);
    }
  }

  const pending: NewRecording[] = []; // read, not handed to registration yet
  let oldest = 0; // when the first of `pending` was read (Date.now())
  let registering = Promise.resolve(); // the registration in flight (register does not reject)
  let handing = false; // a lane waits for it to end, to hand the next batch over

  /** Hands the next batch to registration once the registration in flight has ended. */
  async function handOver(): Promise<void> {
    handing = true;
    await registering;
    handing = false;
    const batch = pending.splice(0, IMPORT_BATCH);
    oldest = Date.now();
    registering = register(batch);
  }

  /** Reads one file: a new recording waits in `pending`; one moved is given to its recording here. */
  async function read(path: string): Promise<void> {
    let abs: string | undefined;
    try {
      abs = (await resolveRecordingFile(dataset.audio_dir, path)).file;
      const facts = await probeFile(abs, { exactPath: true });
      if (facts.time_expansion !== undefined) checkTimeExpansion(facts.file_samplerate, facts.time_expansion);
      const from = await movedHere(db, dataset, gone.get(facts.hash), path, facts);
      if (from) moved.push({ from: from.path, path, recording_id: from.id });
      else {
        unread.push(...facts.metadata_unread.map((u) => ({ path, ...u })));
        if (!pending.length) oldest = Date.now();
        pending.push({ dataset_id: id, path, ...facts, created_by: user, run_id: importRun.id });
      }
    } catch (err) {
      fail(path, err, abs);
    }
    const full = pending.length >= IMPORT_BATCH;
    if (!handing && (full || (pending.length && Date.now() - oldest >= IMPORT_BATCH_WAIT))) await handOver();
    else if (full) await registering; // a full batch waits already: read no further ahead
  }

  await inLanes(todo, IMPORT_CONCURRENCY, read);
  while (pending.length) await handOver();
  await registering;
  const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : 1);
  registered.sort(byPath);
  moved.sort(byPath);
  failed.sort(byPath);
  const found = new Set(moved.map((m) => m.recording_id));
  // Of the files of its size, those hashed here and found to hold other bytes: registered anew.
  const anew = new Set(registered.map((r) => r.path));
  return {
    run: await finishRun(db, importRun.id, "completed"),
    registered, moved,
    missing: missing.filter((f) => !found.has(f.recording_id!)).map((f) => ({ ...f, possibly_moved_to: f.possibly_moved_to.filter((path) => anew.has(path)) })),
    duplicates: await duplicatesOf(db, id, registered.map((r) => r.recording_id)),
    failed, changed,
    metadata_unread: unread.filter((u) => anew.has(u.path)).sort(byPath),
  };
}

/**
 * The imports one process runs, by dataset (a server's, over its requests). An import of a dataset
 * asked for while one of it runs waits for that one to end, then runs — its scan finding the files
 * the first registered, so that it reads and hashes only those still new (two at once had each
 * hashed every new file: 44 s for 30,000, the second registering none). At most one waits per
 * dataset: those asked for while one waits share its outcome — a client retrying every 10 s
 * during a long import had queued an import per retry, each a scan, its header probes and a run of
 * its own, one after another. A waiting import runs as the first of its callers still waiting (its
 * `work`: the run is that caller's — it ran as the first even after that one had left); one whose
 * every caller has left (their `signal`s aborted) is not run. One that fails fails only its own callers: the next still runs.
 * Across servers sharing a PostgreSQL (each its DatasetImports given the database) the import
 * runs holding the dataset's import lock (acrossProcesses), so that an import asked for on
 * another server waits there for this one and then finds its files registered: two servers
 * importing one dataset at once each hashed every new file (six files of 345 MB: 6.3 and 6.6 CPU
 * s, one registering all six, the other none), and each answered as `missing` the recordings the
 * other had found moved (three at once over 100 renamed files: `missing` 99, 94 and 7, each file
 * moved once). `sonotile dataset add` imports through one of its own, given its database, and so
 * waits for servers' imports of the dataset, and they for its. An embedded database has one process
 * serving it: its imports queue here alone (a command attached to it shares the server's one
 * session, where the advisory lock cannot tell them apart). `R`: what an import answers — an
 * ImportResult, or an ImportOutcome (no run when nothing was new: importNew).
 */
export class DatasetImports<R extends ImportOutcome = ImportResult> {
  /** The import running, per dataset id. */
  private readonly running = new Map<string, Promise<unknown>>();
  /** The import waiting for it, per dataset id, and the callers sharing it (each its `work` and `signal`), in order. */
  private readonly waiting = new Map<string, { outcome: Promise<R>; callers: { work: () => Promise<R>; signal?: AbortSignal }[] }>();
  /** The connections held for import locks (acrossProcesses): imports beyond their number wait here. */
  private readonly lockSessions = new Places();

  /**
   * @param onWait told each time a caller waits (a new waiting import or one shared, or an import
   *   waiting for another process's): for a server's log, and for tests that must act while an import waits
   * @param database the database imported into: on PostgreSQL an import waits for those of the
   *   same dataset in other processes (acrossProcesses); none, or an embedded one, only for this process's
   */
  constructor(private readonly onWait: (datasetId: string) => void = () => {}, private readonly database?: Pick<Database, "sql" | "kind">) {}

  /**
   * `work`, the import of dataset `id` (its checks included, so that they see the dataset as it is
   * when it runs), once the import of it running in this process has ended; or, when another waits
   * already, that one's outcome: the `work` of the first of its callers still waiting when it runs.
   * @param signal aborted when the caller no longer waits for the outcome (its client left)
   * @throws the first signal's reason when every caller of a waiting import left before it ran
   */
  run(id: string, work: () => Promise<R>, signal?: AbortSignal): Promise<R> {
    const queued = this.waiting.get(id);
    if (queued) {
      queued.callers.push({ work, signal });
      this.onWait(id);
      return queued.outcome;
    }
    const before = this.running.get(id);
    if (!before) return this.start(id, work, signal);
    const callers = [{ work, signal }];
    const outcome = (async () => {
      await before.catch(() => {}); // its own callers have its error
      this.waiting.delete(id); // callers from now on wait for this one
      const first = callers.find((c) => !c.signal?.aborted);
      if (!first) throw callers[0].signal!.reason;
      return this.start(id, first.work, first.signal);
    })();
    this.waiting.set(id, { outcome, callers });
    this.onWait(id);
    return outcome;
  }

  /** `work` run now (once no other process imports the dataset: acrossProcesses), as dataset `id`'s running import until it ends. */
  private start(id: string, work: () => Promise<R>, signal?: AbortSignal): Promise<R> {
    const mine = this.acrossProcesses(id, work, signal);
    this.running.set(id, mine);
    const forget = () => {
      if (this.running.get(id) === mine) this.running.delete(id);
    };
    mine.then(forget, forget);
    return mine;
  }

  /**
   * `work` holding dataset `id`'s import lock, a PostgreSQL session advisory lock on a connection
   * reserved for the import: its session's end (the process killed, its connection cut) releases
   * it. The lock is tried every IMPORT_LOCK_POLL_MS, not waited for in one statement, which would
   * hold a connection while it waits and outlast the bound on unanswered statements (REPLY_LIMIT_S)
   * behind a long import. Waiting ends with `signal`'s reason once it is aborted (the caller left:
   * an import waiting for another process's is not run for nobody, as one waiting in this process).
   * At most a quarter of the pool's connections hold locks at once (Places); imports of more
   * datasets wait for a place.
   */
  private async acrossProcesses<T>(id: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.database?.kind !== "postgres") return work();
    const { sql } = this.database;
    const leave = await this.lockSessions.take(Math.max(1, Math.floor(sql.options.max / LOCK_SESSIONS_PER_POOL)));
    try {
      return await this.holdingLock(sql, id, work, signal);
    } finally {
      leave();
    }
  }

  /** acrossProcesses's lock and work, on a connection of its own (lockSessions). */
  private async holdingLock<T>(sql: Sql, id: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const session = await sql.reserve();
      try {
        const [{ locked }] = await session<{ locked: boolean }[]>`SELECT pg_try_advisory_lock(${DATASET_IMPORT_LOCK}::int, hashtext(${id})) AS locked`;
        if (locked) {
          try {
            return await work();
          } finally {
            // A session lost meanwhile took its lock with it: the import's outcome stands. One whose
            // unlock failed (a cancel) went back to the pool still holding it, and other processes'
            // imports of the dataset waited until that connection closed (idle 60 s, or its
            // lifetime): its locks are all released then (it holds no other).
            await session`SELECT pg_advisory_unlock(${DATASET_IMPORT_LOCK}::int, hashtext(${id}))`
              .catch(() => session`SELECT pg_advisory_unlock_all()`)
              .catch(() => {});
          }
        }
      } finally {
        session.release();
      }
      if (attempt === 0) this.onWait(id);
      await sleep(IMPORT_LOCK_POLL_MS);
    }
  }
}

/**
 * Takers of a limited number of places, first come first served: the connections DatasetImports
 * reserves to hold import locks. Each import holds one for its whole run while its own queries take
 * others from the same pool: with no limit, as many imports of different datasets as the pool has
 * connections (10 by default) took them all, their queries then waited for ever, and so did every
 * other query of the server (a pool of 3: three imports at once, none ended and a `SELECT 1` hung).
 */
class Places {
  private taken = 0;
  private readonly queue: (() => void)[] = [];

  /** Waits for one of `limit` places; returns its release. */
  async take(limit: number): Promise<() => void> {
    while (this.taken >= limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.taken++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.taken--;
      this.queue.shift()?.();
    };
  }
}

/** A process holds import locks on at most its pool's connections ÷ this (at least one): the rest stay for the imports' queries and every other request. */
const LOCK_SESSIONS_PER_POOL = 4;

/** An arbitrary constant naming, among two-key advisory locks, the imports of datasets (the dataset is the second key). */
const DATASET_IMPORT_LOCK = 0x736f6e69; // "soni"

/** How often an import waiting for another process's import of its dataset tries the lock (ms). */
const IMPORT_LOCK_POLL_MS = 250;

/** How long a scan is kept for the pages after its first (RecentScans). */
export const RECENT_SCAN_MS = 30_000;
/** Datasets whose last scan is kept at most (RecentScans): a scan of 30,000 files holds some 10 MB. */
const RECENT_SCAN_DATASETS = 4;

/**
 * The last scan of each of a few datasets (a server's), for the pages of it after the first: a
 * page of a scan (scanPage) is cheap, the scan is not (3 s for 30,000 files), and walking the
 * 30,000 at 1,000 a page scanned them 30 times — each page of another scan, so that a file added
 * or registered meanwhile could be listed twice or not at all. A first page (`fresh`) always
 * scans, so what a curator asks for first is what is on disk now; the following pages (`recent`)
 * read that scan while it is at most RECENT_SCAN_MS old, of the dataset's directory as it is, and
 * of its recordings as they are (datasetRevision, read at each page: any write to them, by any
 * route, server or command line, scans again). A list of the routes that forget it had missed
 * archiving, trashing, restoring, deleting and purging recordings and the dataset's own state:
 * the pages after a recording's deletion still listed it. What this server changes still forgets
 * it (`forget`); changes on disk are seen at the next first page or once the scan has expired.
 */
export class RecentScans {
  private readonly scans = new Map<string, { audioDir: string; at: number; revision: Promise<string>; scan: Promise<ScanResult> }>();

  /** A new scan of `dataset`, kept for the pages that follow. */
  fresh(db: Queryable, dataset: Pick<Dataset, "id" | "audio_dir">): Promise<ScanResult> {
    const at = Date.now();
    for (const [id, kept] of this.scans) if (at - kept.at > RECENT_SCAN_MS) this.scans.delete(id);
    this.scans.delete(dataset.id); // kept in the order made: the first is the oldest
    if (this.scans.size >= RECENT_SCAN_DATASETS) this.scans.delete(this.scans.keys().next().value!);
    // Read before the scan: a write while it runs makes the next page scan again.
    const revision = datasetRevision(db, dataset.id);
    const scan = revision.then(() => scanDataset(db, dataset.id));
    const entry = { audioDir: dataset.audio_dir, at, revision, scan };
    this.scans.set(dataset.id, entry);
    scan.catch(() => {
      if (this.scans.get(dataset.id) === entry) this.scans.delete(dataset.id);
    });
    return scan;
  }

  /** The kept scan of `dataset` when it is recent and of its directory and recordings as they are, else a new one (fresh). */
  async recent(db: Queryable, dataset: Pick<Dataset, "id" | "audio_dir">): Promise<ScanResult> {
    const kept = this.scans.get(dataset.id);
    if (kept && kept.audioDir === dataset.audio_dir && Date.now() - kept.at <= RECENT_SCAN_MS) {
      const [then, now] = await Promise.all([kept.revision.catch(() => null), datasetRevision(db, dataset.id)]);
      if (then === now) return kept.scan;
    }
    return this.fresh(db, dataset);
  }

  /** Forgets the scan kept of dataset `id`: its recordings changed. */
  forget(id: string): void {
    this.scans.delete(id);
  }
}

/**
 * What a scan of dataset `id` read of the database, in one string: the dataset's state and
 * directory, and its recordings' count and an MD5 of what a scan reads of each (id, path, state,
 * hash, size, mtime). Equal strings, the same scan. One statement over the dataset's recordings
 * (recordings carry no updated_at: a moved path or a refreshed size changes no timestamp).
 */
async function datasetRevision(db: Queryable, id: string): Promise<string> {
  const [row] = await db<{ revision: string }[]>`
    SELECT concat_ws(' ', d.state, d.state_changed_at, d.audio_dir, count(r.id),
      md5(string_agg(concat_ws(' ', r.id, r.path, r.state, r.hash, r.file_size, r.file_mtime), '/' ORDER BY r.id))) AS revision
    FROM datasets d LEFT JOIN recordings r ON r.dataset_id = d.id WHERE d.id = ${id} GROUP BY d.id`;
  return row?.revision ?? "";
}

/** The recordings a scan found missing, by MD5, in path order: the ones a new file with those bytes may be. */
async function missingByHash(db: Queryable, missing: ScanFile[]): Promise<Map<string, { id: string; path: string }[]>> {
  if (!missing.length) return new Map();
  const rows = await db<{ id: string; path: string; hash: string }[]>`
    SELECT id, path, hash FROM recordings WHERE id = ANY(${missing.map((f) => f.recording_id!)}::uuid[]) ORDER BY path, id`;
  const byHash = new Map<string, { id: string; path: string }[]>();
  for (const r of rows) appendTo(byHash, r.hash, { id: r.id, path: r.path });
  return byHash;
}

/** Adds `value` to the list of `key` (a copy per addition had made grouping N values N²/2 copies). */
function appendTo<K, V>(groups: Map<K, V[]>, key: K, value: V): void {
  const list = groups.get(key);
  if (list) list.push(value);
  else groups.set(key, [value]);
}

/**
 * The recording, of `candidates` (missing ones with the file's MD5), that the file at `path` is —
 * moved or renamed — now pointed to it (moveRecordingPath), or null: none, or none still missing.
 * Of several (copies registered once each, then gone), the one of the same file name is taken
 * first (a move keeps the name), then one of the same folder (a rename), then the first by path.
 * A candidate is taken off the list before any wait, so that two copies of its file found at once
 * do not both claim it; one whose file is back at its path meanwhile is no longer missing (the
 * file here is then a copy, and registered as one).
 */
async function movedHere(db: Queryable, dataset: Dataset, candidates: { id: string; path: string }[] | undefined, path: string, facts: FileFacts & FileStamp): Promise<{ id: string; path: string } | null> {
  for (let gone = closestPath(candidates, path); gone; gone = closestPath(candidates, path)) {
    if (await resolveRecordingFile(dataset.audio_dir, gone.path).then(() => true, () => false)) continue;
    const to = { from: gone.path, to: path, hash: facts.hash, file_size: facts.file_size, file_mtime: facts.file_mtime };
    if (await writing(db, "datasets", dataset.id, (tx) => moveRecordingPath(tx, gone!.id, to))) return gone;
  }
  return null;
}

/**
 * Takes off `candidates` (paths in order) and returns the one `path` most likely came from: the
 * first with its file name, else the first in its folder, else the first; undefined when none is left.
 */
function closestPath<T extends { path: string }>(candidates: T[] | undefined, path: string): T | undefined {
  if (!candidates?.length) return undefined;
  const name = posix.basename(path), folder = posix.dirname(path);
  const at = [(c: T) => posix.basename(c.path) === name, (c: T) => posix.dirname(c.path) === folder].map((same) => candidates.findIndex(same)).find((i) => i >= 0) ?? 0;
  return candidates.splice(at, 1)[0];
}

/** The groups of the dataset's recordings (any state) sharing an MD5 with one of `ids`, by their first path. */
async function duplicatesOf(db: Queryable, datasetId: string, ids: string[]): Promise<DuplicateGroup[]> {
  if (!ids.length) return [];
  return db<DuplicateGroup[]>`
    SELECT hash, json_agg(json_build_object('path', path, 'recording_id', id, 'state', state) ORDER BY path) AS recordings
    FROM recordings
    WHERE dataset_id = ${datasetId} AND hash IN (SELECT hash FROM recordings WHERE id = ANY(${ids}::uuid[]))
    GROUP BY hash HAVING count(*) > 1
    ORDER BY min(path)`;
}

/** Another dataset holding recordings of the same bytes as some of a dataset's (datasetsHoldingSameBytes). */
export interface DatasetHoldingSameBytes {
  id: string;
  name: string;
  audio_dir: string;
  /** How many of the dataset's recordings hold bytes (one MD5) that a recording of this one holds. */
  recordings: number;
  /** How many of this one's recordings (any state) hold bytes a recording of the dataset holds. */
  theirs_here: number;
  /** This one's recordings, any state. */
  their_recordings: number;
  /**
   * Whether this one's files look moved here: at least MOVED_HERE_SHARE of its recordings hold
   * bytes found here. Only then is the advice to delete the new dataset and point this one here
   * given — a calibration file copied across, or one file moved, is no disk move.
   */
  moved_here: boolean;
  /** The first pairs of files holding the same bytes (`path` here, `their_path` there), by path: at most SAME_BYTES_EXAMPLES. */
  files: { path: string; their_path: string }[];
}

/** The share of another dataset's recordings whose bytes must be here for its files to count as moved here (DatasetHoldingSameBytes.moved_here). */
export const MOVED_HERE_SHARE = 0.9;
/** Pairs of files named per other dataset holding the same bytes. */
const SAME_BYTES_EXAMPLES = 3;

/**
 * The other datasets whose recordings hold the bytes of `datasetId`'s, most shared first: a new
 * dataset made for files that moved from another dataset's directory (a new disk) registered them
 * again as bare recordings, the work staying with the old ones, without a word. Whether that is
 * what happened (moved_here) or only a few files are shared is told apart by how many of the
 * other dataset's recordings are here: the advice for a move (delete this dataset) destroyed this
 * one's work when given for one file copied across.
 */
export async function datasetsHoldingSameBytes(db: Queryable, datasetId: string): Promise<DatasetHoldingSameBytes[]> {
  const rows = await db<(Omit<DatasetHoldingSameBytes, "moved_here">)[]>`
    SELECT d.id, d.name, d.audio_dir, count(DISTINCT mine.id)::int AS recordings, count(DISTINCT theirs.id)::int AS theirs_here,
      (SELECT count(*)::int FROM recordings r WHERE r.dataset_id = d.id) AS their_recordings,
      to_json((array_agg(json_build_object('path', mine.path, 'their_path', theirs.path) ORDER BY mine.path, theirs.path))[1:${SAME_BYTES_EXAMPLES}]) AS files
    FROM recordings mine JOIN recordings theirs ON theirs.hash = mine.hash AND theirs.dataset_id <> mine.dataset_id
    JOIN datasets d ON d.id = theirs.dataset_id
    WHERE mine.dataset_id = ${datasetId}
    GROUP BY d.id, d.name, d.audio_dir ORDER BY count(DISTINCT mine.id) DESC, d.name`;
  return rows.map((r) => ({ ...r, moved_here: r.theirs_here >= MOVED_HERE_SHARE * r.their_recordings }));
}

/**
 * What an import reports of a scan before it registers anything: the entries it cannot read as
 * `failed` (ScanResult.skipped, and the files whose header does not read: ScanFile.unreadable —
 * the import does not open them again), the registered files changed since (ScanFile.changed) and
 * those missing — also when there is nothing new to register (importNew's answer without a run),
 * so that a repeated `dataset add` reports them as the first did.
 */
export function scanOutcome(scan: ScanResult): Pick<ImportResult, "failed" | "changed" | "missing"> {
  const unreadable = scan.files.filter((f) => f.unreadable).map((f) => ({ path: f.path, error: f.unreadable! }));
  return {
    failed: [...scan.skipped.map((s) => ({ path: s.path, error: s.reason })), ...unreadable].sort((a, b) => (a.path < b.path ? -1 : 1)),
    changed: scan.files.filter((f) => f.changed),
    missing: scan.files.filter((f) => f.status === "missing"),
  };
}

/** Whether an import would try to register the file: unregistered, and its header reads (ScanFile.unreadable). */
function waitsForImport(f: ScanFile): boolean {
  return f.status === "unregistered" && !f.unreadable;
}

/** What importNew answers: an import's result, or — nothing new to register — its scan's outcome (scanOutcome) and no run. */
export type ImportOutcome = Omit<ImportResult, "run"> & { run: Run | null };

/**
 * importDataset when the dataset holds a file not registered yet whose header reads, else what its
 * scan found (scanOutcome: files it cannot read, registered files changed, recordings missing) with
 * `run: null`: no run is recorded for an import with nothing to do (an empty one was, at every
 * `serve --demo` and every repeated `dataset add`; so was one whose only files could not be read).
 * The dataset is scanned once: the import takes this scan (each new file's header read once), and
 * with nothing new its caller took null and scanned again for the outcome (`dataset add`).
 */
export async function importNew(db: Queryable, id: string, user: string | null): Promise<ImportOutcome> {
  const scan = await scanDataset(db, id);
  if (scan.files.some(waitsForImport)) return importDataset(db, id, user, undefined, scan);
  return { run: null, registered: [], moved: [], duplicates: [], metadata_unread: [], ...scanOutcome(scan) };
}

/**
 * Creates a dataset for a directory and registers its recordings: one import run makes the
 * dataset and its recordings, so all of them point to it (SPEC §5). A dataset created on its
 * own (POST /v1/datasets) is made by hand and has no run; its imports are runs of their own.
 * `dirName`: as createDataset's. `imports`: where the import runs once the dataset exists — a
 * DatasetImports given the database takes the dataset's import lock, so that an import of it asked
 * for meanwhile on a server waits for this one (`sonotile dataset add`).
 */
export async function addDataset(db: Queryable, d: { name: string; description?: string; audio_dir: string; created_by: string | null }, dirName = AUDIO_DIR, imports?: Pick<DatasetImports, "run">): Promise<ImportResult & { dataset: Dataset }> {
  const run = await createRun(db, { kind: "import", description: `import of ${d.audio_dir} as dataset ${d.name.trim()}`, created_by: d.created_by });
  let dataset: Dataset;
  try {
    dataset = await createDataset(db, { ...d, run_id: run.id }, dirName);
  } catch (err) {
    await finishRun(db, run.id, "failed");
    throw err;
  }
  const work = () => importDataset(db, dataset.id, d.created_by, run);
  const imported = await (imports ? imports.run(dataset.id, work) : work()).catch(async (err) => {
    await finishRun(db, run.id, "failed").catch(() => {}); // not left `running` for ever
    throw err;
  });
  return { dataset: await getDataset(db, dataset.id), ...imported }; // as it is now: its recording_count counts the import
}
