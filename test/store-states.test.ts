/**
 * Archive and trash reach what a record holds (SPEC §5): a dataset's recordings, a recording's
 * clips, notes, tags and features, a clip's notes, tags and features are hidden and read-only
 * with their parent, and come back exactly as they were when it is restored. Also: deleting
 * clips (only active ones, only their creator or an admin), recordings and datasets (only active
 * ones; purging the trash still works), scans that refuse a dataset directory swapped for a
 * symlink, time expansion that would leave clips outside the recording, and recording_count.
 * Embedded PGlite, or real PostgreSQL when DATABASE_URL is set.
 */
import { mkdir, rename, symlink } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { inTransaction, purgeTrashed, setState, STATES, writing, type State, type StateFilter } from "../src/store/common.js";
import { addClipTag, createClip, deleteClip, getClip, listClips, setClipFeature, updateClip } from "../src/store/clips.js";
import { createDataset, deleteDataset, getDataset, importDataset, relocateDataset, scanDataset } from "../src/store/datasets.js";
import { importClipTable } from "../src/store/clip-tables.js";
import { ConflictError, InvalidError } from "../src/store/errors.js";
import { createNote, listNotes, updateNote } from "../src/store/notes.js";
import { resolveAudioDir, resolveRoots } from "../src/store/paths.js";
import { addRecordingTag, deleteRecording, getRecording, insertRecording, listRecordings, setRecordingFeature, updateRecording } from "../src/store/recordings.js";
import { createToken } from "../src/store/tokens.js";
import { createUser } from "../src/store/users.js";
import type { Sql } from "../src/store/db.js";
import { freshDatabase, mostHidden, REAL_PG_URL, tempDir, type TestDatabase, writeSineWav } from "./store-helpers.js";

let t: TestDatabase;
let sql: Sql;
let userId: string;
let scratch: { path: string; remove(): Promise<void> };
let roots: string[];
const HASH = "0123456789abcdef0123456789abcdef";
let nextPath = 0;

beforeAll(async () => {
  t = await freshDatabase();
  sql = t.db.sql;
  userId = (await createUser(sql, { username: "curator" })).id;
  scratch = await tempDir();
  await mkdir(join(scratch.path, "root"));
  await mkdir(join(scratch.path, "outside"));
  roots = await resolveRoots([join(scratch.path, "root")]);
});

afterAll(async () => {
  await t?.cleanup();
  await scratch?.remove();
});

/** A dataset (no directory needed) with one 10 s recording (1 kHz), a clip and notes on both. */
async function tree(name: string) {
  const dataset = await createDataset(sql, { name, audio_dir: `/nonexistent/${name}`, created_by: userId });
  const recording = (await insertRecording(sql, { dataset_id: dataset.id, path: `r${nextPath++}.wav`, hash: HASH, file_size: 20044, file_samplerate: 1000, frames: 10000, channels: 1, created_by: userId }))!;
  const clip = await createClip(sql, { recording_id: recording.id, start_time: 1, end_time: 2, created_by: userId });
  const recordingNote = await createNote(sql, { message: "on the recording", recording_id: recording.id, created_by: userId });
  const clipNote = await createNote(sql, { message: "on the clip", clip_id: clip.id, created_by: userId });
  return { dataset, recording, clip, recordingNote, clipNote };
}

const page = { limit: 100, offset: 0 } as const;
const recordingIds = async (dataset_id: string, state: StateFilter) =>
  (await listRecordings(sql, { ...page, dataset_id, state, sort: "path", order: "asc" })).items.map((r) => r.id);
const clipIds = async (recording_id: string, state: StateFilter) =>
  (await listClips(sql, { ...page, recording_id, state, sort: "start_time", order: "asc" })).items.map((c) => c.id);
const noteIds = async (q: { recording_id?: string; clip_id?: string }, state: StateFilter) =>
  (await listNotes(sql, { ...page, ...q, state })).items.map((n) => n.id);

/** The 409 `p` fails with (its message), failing the test if it succeeds or fails otherwise. */
async function conflict(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConflictError);
  return (err as ConflictError).message;
}

describe("an archived or trashed parent", () => {
  it("makes a dataset's recordings, their clips and notes read-only while archived", async () => {
    const { dataset, recording, clip, recordingNote } = await tree("archived-parent");
    await setState(sql, "datasets", dataset.id, "archived");
    expect(await conflict(updateRecording(sql, recording.id, { rights: "CC0" }))).toMatch(new RegExp(`dataset ${dataset.id} is archived; restore it first`));
    await conflict(addRecordingTag(sql, recording.id, { key: "site", value: "A", created_by: userId }));
    await conflict(setRecordingFeature(sql, recording.id, { name: "snr_db", value: 3, created_by: userId }));
    await conflict(createClip(sql, { recording_id: recording.id, start_time: 3, end_time: 4, created_by: userId }));
    await conflict(updateClip(sql, clip.id, { end_time: 3 }));
    await conflict(addClipTag(sql, clip.id, { key: "call", value: "x", created_by: userId }));
    await conflict(setClipFeature(sql, clip.id, { name: "peak_hz", value: 1, created_by: userId }));
    await conflict(createNote(sql, { message: "new", clip_id: clip.id, created_by: userId }));
    await conflict(createNote(sql, { message: "new", recording_id: recording.id, created_by: userId }));
    await conflict(updateNote(sql, recordingNote.id, { message: "edited" }));
    await conflict(deleteClip(sql, clip.id));
    // Nothing below the dataset moves either: its archive froze them.
    await conflict(setState(sql, "clips", clip.id, "trashed"));
    // Fetched by id they are still there, with their own state.
    expect((await getRecording(sql, recording.id)).state).toBe("active");
    expect((await getClip(sql, clip.id)).state).toBe("active");
  });

  it("hides what it holds from default listings, lists it with the archived records, and restores it exactly", async () => {
    const { dataset, recording, clip, recordingNote, clipNote } = await tree("archived-listing");
    const other = (await insertRecording(sql, { dataset_id: dataset.id, path: `r${nextPath++}.wav`, hash: HASH, file_size: 20044, file_samplerate: 1000, frames: 10000, channels: 1, created_by: userId }))!;
    await setState(sql, "recordings", other.id, "trashed");
    await setState(sql, "datasets", dataset.id, "archived");
    expect(await recordingIds(dataset.id, "active")).toEqual([]);
    expect(await recordingIds(dataset.id, "archived")).toEqual([recording.id]);
    // Trashed on its own before: stays with the trash, the more hidden state.
    expect(await recordingIds(dataset.id, "trashed")).toEqual([other.id]);
    expect(await clipIds(recording.id, "active")).toEqual([]);
    expect(await clipIds(recording.id, "archived")).toEqual([clip.id]);
    expect(await noteIds({ recording_id: recording.id }, "active")).toEqual([]);
    expect(await noteIds({ clip_id: clip.id }, "archived")).toEqual([clipNote.id]);
    expect((await listRecordings(sql, { ...page, dataset_id: dataset.id, state: "all", sort: "path", order: "asc" })).total).toBe(2);

    await setState(sql, "datasets", dataset.id, "active");
    expect(await recordingIds(dataset.id, "active")).toEqual([recording.id]);
    expect(await recordingIds(dataset.id, "trashed")).toEqual([other.id]);
    expect(await clipIds(recording.id, "active")).toEqual([clip.id]);
    expect(await noteIds({ recording_id: recording.id }, "active")).toEqual([recordingNote.id]);
    expect(await noteIds({ clip_id: clip.id }, "active")).toEqual([clipNote.id]);
    expect((await updateRecording(sql, recording.id, { rights: "CC0" })).rights).toBe("CC0");
  });

  it("a restore changes state_changed_at only when it changes the state", async () => {
    const { recording } = await tree("restore-times");
    const changedAt = async () => (await sql`SELECT state, extract(epoch FROM state_changed_at)::float8 AS at FROM recordings WHERE id = ${recording.id}`)[0];
    const created = await changedAt();
    await setState(sql, "recordings", recording.id, "active");
    expect(await changedAt()).toEqual(created);
    await setState(sql, "recordings", recording.id, "archived");
    const archived = await changedAt();
    expect(archived.state).toBe("archived");
    expect(archived.at).toEqual(expect.any(Number));
    await setState(sql, "recordings", recording.id, "active");
    const restored = await changedAt();
    await setState(sql, "recordings", recording.id, "active");
    expect(await changedAt()).toEqual(restored);
  });

  it("hides a trashed dataset's recordings like trashed ones", async () => {
    const { dataset, recording, clip, clipNote } = await tree("trashed-parent");
    await setState(sql, "datasets", dataset.id, "trashed");
    expect(await recordingIds(dataset.id, "active")).toEqual([]);
    expect(await recordingIds(dataset.id, "archived")).toEqual([]);
    expect(await recordingIds(dataset.id, "trashed")).toEqual([recording.id]);
    // Not in the unfiltered default listing either.
    expect((await listRecordings(sql, { ...page, state: "active", sort: "path", order: "asc" })).items.map((r) => r.id)).not.toContain(recording.id);
    expect(await clipIds(recording.id, "trashed")).toEqual([clip.id]);
    expect(await noteIds({ clip_id: clip.id }, "trashed")).toEqual([clipNote.id]);
    await conflict(addRecordingTag(sql, recording.id, { key: "site", value: "A", created_by: userId }));
    await setState(sql, "datasets", dataset.id, "active");
    expect(await recordingIds(dataset.id, "active")).toEqual([recording.id]);
  });

  it("reaches a recording's clips and notes, and a restore keeps a clip archived on its own archived", async () => {
    const { recording, clip, recordingNote, clipNote } = await tree("recording-parent");
    const second = await createClip(sql, { recording_id: recording.id, start_time: 5, end_time: 6, created_by: userId });
    await setState(sql, "clips", second.id, "archived");
    await setState(sql, "recordings", recording.id, "trashed");
    expect(await clipIds(recording.id, "active")).toEqual([]);
    expect(await clipIds(recording.id, "trashed")).toEqual([clip.id, second.id]);
    expect(await noteIds({ recording_id: recording.id }, "active")).toEqual([]);
    expect(await noteIds({ clip_id: clip.id }, "active")).toEqual([]);
    expect(await conflict(addClipTag(sql, clip.id, { key: "call", value: "x", created_by: userId }))).toMatch(new RegExp(`recording ${recording.id} is trashed`));
    await conflict(updateClip(sql, clip.id, { end_time: 3 }));
    await conflict(createNote(sql, { message: "new", clip_id: clip.id, created_by: userId }));

    await setState(sql, "recordings", recording.id, "active");
    expect(await clipIds(recording.id, "active")).toEqual([clip.id]);
    expect(await clipIds(recording.id, "archived")).toEqual([second.id]);
    expect(await noteIds({ recording_id: recording.id }, "active")).toEqual([recordingNote.id]);
    expect(await noteIds({ clip_id: clip.id }, "active")).toEqual([clipNote.id]);
    expect((await addClipTag(sql, clip.id, { key: "call", value: "x", created_by: userId })).tags).toEqual([{ key: "call", value: "x" }]);
  });

  it("reaches a clip's notes", async () => {
    const { clip, clipNote } = await tree("clip-parent");
    await setState(sql, "clips", clip.id, "archived");
    expect(await noteIds({ clip_id: clip.id }, "active")).toEqual([]);
    expect(await noteIds({ clip_id: clip.id }, "archived")).toEqual([clipNote.id]);
    await conflict(updateNote(sql, clipNote.id, { is_issue: true }));
    await setState(sql, "clips", clip.id, "active");
    expect((await updateNote(sql, clipNote.id, { is_issue: true })).is_issue).toBe(true);
  });
});

describe("listings by effective state", () => {
  const sorted = (ids: string[]) => [...ids].sort();

  it("list and count exactly the records of each state, whatever their own and their parents' states", async () => {
    // Every combination: 3 datasets × 3 recordings × 3 clips, a note of each state on each recording and clip, and notes on nothing.
    // Built active (writes refuse hidden parents), then each record's own state set.
    type Made = { id: string; own: State; effective: State };
    const recordings: (Made & { dataset: string })[] = [];
    const clips: (Made & { recording: string; dataset: string })[] = [];
    const notes: (Made & { recording?: string; clip?: string; onClipOf?: string; is_issue: boolean })[] = [];
    const datasets: Made[] = [];
    const noteEach = async (on: { recording_id?: string; clip_id?: string }, parent: State, extra: Partial<(typeof notes)[number]>) => {
      for (const own of STATES) {
        const is_issue = own === "archived";
        const note = await createNote(sql, { message: `${own}`, is_issue, ...on, created_by: userId });
        notes.push({ id: note.id, own, effective: mostHidden(own, parent), is_issue, ...extra });
      }
    };
    for (const d of STATES) {
      const dataset = await createDataset(sql, { name: `lineage-${d}`, audio_dir: `/nonexistent/lineage-${d}`, created_by: userId });
      datasets.push({ id: dataset.id, own: d, effective: d });
      for (const r of STATES) {
        const recording = (await insertRecording(sql, { dataset_id: dataset.id, path: `r${nextPath++}.wav`, hash: HASH, file_size: 20044, file_samplerate: 1000, frames: 10000, channels: 1, created_by: userId }))!;
        recordings.push({ id: recording.id, own: r, effective: mostHidden(d, r), dataset: dataset.id });
        await noteEach({ recording_id: recording.id }, mostHidden(d, r), { recording: recording.id });
        for (const [i, c] of STATES.entries()) {
          const clip = await createClip(sql, { recording_id: recording.id, start_time: i, end_time: i + 1, created_by: userId });
          clips.push({ id: clip.id, own: c, effective: mostHidden(d, r, c), recording: recording.id, dataset: dataset.id });
          await noteEach({ clip_id: clip.id }, mostHidden(d, r, c), { clip: clip.id, onClipOf: recording.id });
        }
      }
    }
    for (const [table, made] of [["notes", notes], ["clips", clips], ["recordings", recordings], ["datasets", datasets]] as const) {
      for (const m of made) await sql`UPDATE ${sql(table)} SET state = ${m.own} WHERE id = ${m.id}`;
    }

    /** The ids and total a listing gives, and the total its page past the end gives (counted apart). */
    const listed = async (list: (p: { limit: number; offset: number }) => Promise<{ items: { id: string }[]; total: number | null }>) => {
      const all = await list({ limit: 100, offset: 0 });
      const past = await list({ limit: 10, offset: 1000 });
      return { ids: sorted(all.items.map((i) => i.id)), total: all.total, pastTotal: past.total };
    };
    const expected = (made: Made[], filter: StateFilter) => {
      const ids = sorted(made.filter((m) => filter === "all" || m.effective === filter).map((m) => m.id));
      return { ids, total: ids.length, pastTotal: ids.length };
    };
    for (const state of [...STATES, "all"] as const) {
      for (const d of datasets) {
        expect(await listed((p) => listRecordings(sql, { ...p, state, dataset_id: d.id, sort: "path", order: "asc" }))).toEqual(expected(recordings.filter((r) => r.dataset === d.id), state));
        expect(await listed((p) => listClips(sql, { ...p, state, dataset_id: d.id, sort: "start_time", order: "asc" }))).toEqual(expected(clips.filter((c) => c.dataset === d.id), state));
      }
      for (const r of recordings) {
        expect(await listed((p) => listClips(sql, { ...p, state, recording_id: r.id, sort: "start_time", order: "asc" }))).toEqual(expected(clips.filter((c) => c.recording === r.id), state));
        // Of those, the clips of each own state: a read-only recording's clips as it was left (own active) apart from those hidden on their own.
        for (const own of STATES) {
          expect(await listed((p) => listClips(sql, { ...p, state, own_state: own, recording_id: r.id, sort: "start_time", order: "asc" }))).toEqual(expected(clips.filter((c) => c.recording === r.id && c.own === own), state));
        }
        expect(await listed((p) => listNotes(sql, { ...p, state, recording_id: r.id }))).toEqual(expected(notes.filter((n) => n.recording === r.id), state));
        expect(await listed((p) => listNotes(sql, { ...p, state, recording_id: r.id, include_clips: true }))).toEqual(expected(notes.filter((n) => n.recording === r.id || n.onClipOf === r.id), state));
      }
      for (const c of clips) {
        expect(await listed((p) => listNotes(sql, { ...p, state, clip_id: c.id }))).toEqual(expected(notes.filter((n) => n.clip === c.id), state));
      }
      const ours = new Set(notes.map((n) => n.id));
      const issues = await listed((p) => listNotes(sql, { ...p, limit: p.limit * 10, state, is_issue: true }));
      expect(issues.ids.filter((id) => ours.has(id))).toEqual(expected(notes.filter((n) => n.is_issue), state).ids);
    }
  });
});

describe("transactions beside other queries", () => {
  it("clips created (each a transaction) while the recording is read: every request answers right", async () => {
    // On the embedded database, with a pool of connections, 180 of these 300 failed: PGlite
    // interleaved the connections' protocol messages ("portal \"\" does not exist", an empty row).
    const { recording } = await tree("beside");
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, round) => [
      ...Array.from({ length: 5 }, (_, i) => createClip(sql, { recording_id: recording.id, start_time: 0.01 * round + i, end_time: 0.01 * round + i + 1, created_by: userId })),
      ...Array.from({ length: 10 }, () => getRecording(sql, recording.id)),
    ]).flat());
    expect(results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
  });

  // The embedded database runs one transaction at a time: the second would wait for the first, which waits for it.
  it.runIf(REAL_PG_URL)("a transaction PostgreSQL ends as the loser of a deadlock runs again: two that lock two rows in opposite orders both commit", async () => {
    const [left, right] = [(await createUser(sql, { username: "left" })).id, (await createUser(sql, { username: "right" })).id];
    let runs = 0;
    let holding = 0;
    let bothHold!: () => void;
    const bothHeld = new Promise<void>((resolve) => (bothHold = resolve));
    const lockInOrder = (first: string, second: string) => inTransaction(sql, async (tx) => {
      runs++;
      await tx`SELECT 1 FROM users WHERE id = ${first} FOR UPDATE`;
      if (++holding === 2) bothHold();
      await bothHeld;
      const [row] = await tx<{ username: string }[]>`SELECT username FROM users WHERE id = ${second} FOR UPDATE`;
      return row.username;
    }, `users ${first} and ${second}`);
    expect(await Promise.all([lockInOrder(left, right), lockInOrder(right, left)])).toEqual(["right", "left"]);
    expect(runs).toBe(3); // PostgreSQL aborted one of them (40P01), once
  });
});

describe("a write and an archive at the same moment", () => {
  it("the archive of a record, or of what it belongs to, waits for a write in progress, which saw it writable; a write after it is refused", async () => {
    for (const hidden of ["recordings", "datasets"] as const) {
      const { dataset, recording } = await tree(`racing-${hidden}`);
      const target = hidden === "recordings" ? recording.id : dataset.id;
      let archiving: Promise<void> | undefined;
      let seen: string | undefined;
      await writing(sql, "recordings", recording.id, async (tx) => {
        // Not awaited here: on the embedded database (one session) it runs once this transaction ends.
        archiving = setState(sql, hidden, target, "archived");
        await new Promise((resolve) => setTimeout(resolve, 300)); // long enough for an unlocked archive to commit
        // A new statement sees what others have committed: the archive has not (it waits for this transaction).
        [{ state: seen }] = await tx`SELECT state FROM ${tx(hidden)} WHERE id = ${target}`;
        await setRecordingFeature(tx, recording.id, { name: "racing", value: 1, created_by: userId });
      });
      await archiving;
      expect(seen, hidden).toBe("active");
      expect((await getRecording(sql, recording.id)).features, hidden).toEqual([{ name: "racing", value: 1 }]);
      await expect(setRecordingFeature(sql, recording.id, { name: "late", value: 2, created_by: userId }), hidden).rejects.toBeInstanceOf(ConflictError);
    }
  });
});

describe("a state change and a parent's archive at the same moment", () => {
  // Needs two sessions: on the embedded database (one session) the three run one after another.
  it.runIf(REAL_PG_URL)("a trash waiting for its record does not land under a dataset archived meanwhile: the archive waits for it", async () => {
    const { dataset, recording } = await tree("racing-trash");
    let trashed = false;
    let archived = false;
    let trashing: Promise<void> | undefined;
    let archiving: Promise<void> | undefined;
    // Sessions of this database waiting for a lock: the trash, then the archive, each asked once the
    // one before waits — after a fixed 200 ms, a trash whose statements had not yet reached the
    // database (a loaded machine) let the archive through first, and was refused under it.
    const waiting = async () => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)[0].n;
    // Another transaction holds the recording (not its dataset) for a moment, as a write does.
    await sql.begin(async (tx) => {
      await tx`SELECT id FROM recordings WHERE id = ${recording.id} FOR SHARE`;
      trashing = setState(sql, "recordings", recording.id, "trashed").then(() => void (trashed = true));
      await expect.poll(waiting, { timeout: 20_000, interval: 20 }).toBe(1);
      archiving = setState(sql, "datasets", dataset.id, "archived").then(() => void (archived = true));
      await expect.poll(waiting, { timeout: 20_000, interval: 20 }).toBe(2);
      // A trash that checked the dataset (active) and then waited only to write let the archive land
      // first, and then landed under it.
      expect([trashed, archived]).toEqual([false, false]);
    });
    await Promise.all([trashing, archiving]);
    expect((await getRecording(sql, recording.id)).state).toBe("trashed");
    expect((await getDataset(sql, dataset.id)).state).toBe("archived");
  });

  it("changes of one record at the same moment queue, and a refusal names the state it found (one read 'is active; restore it first')", async () => {
    const { recording } = await tree("racing-states");
    const outcomes = await Promise.allSettled(Array.from({ length: 12 }, (_, k) => setState(sql, "recordings", recording.id, k % 3 === 0 ? "active" : k % 3 === 1 ? "archived" : "trashed")));
    for (const o of outcomes) if (o.status === "rejected") expect(String(o.reason)).toMatch(/is (archived|trashed); restore it first$/);
  });
});

describe("deleting a clip", () => {
  it("is refused while the clip is archived", async () => {
    const { clip } = await tree("delete-archived");
    await setState(sql, "clips", clip.id, "archived");
    expect(await conflict(deleteClip(sql, clip.id))).toMatch(/archived and read-only/);
    expect((await getClip(sql, clip.id)).state).toBe("archived");
    await setState(sql, "clips", clip.id, "active");
    await deleteClip(sql, clip.id);
    expect(await clipIds(clip.recording_id, "all")).toEqual([]);
  });
});

describe("deleting a recording or a dataset", () => {
  it("is refused while it is archived or trashed, or under an archived dataset, and purging still takes the trash", async () => {
    const { dataset, recording, clip } = await tree("delete-states");
    await setState(sql, "recordings", recording.id, "archived");
    expect(await conflict(deleteRecording(sql, recording.id))).toBe(`recording ${recording.id} is archived and read-only; restore it first`);
    await setState(sql, "recordings", recording.id, "active");
    await setState(sql, "datasets", dataset.id, "archived");
    expect(await conflict(deleteDataset(sql, dataset.id))).toBe(`dataset ${dataset.id} is archived and read-only; restore it first`);
    expect(await conflict(deleteRecording(sql, recording.id))).toBe(`recording ${recording.id} is read-only: its dataset ${dataset.id} is archived; restore it first`);
    await setState(sql, "datasets", dataset.id, "active");
    await setState(sql, "datasets", dataset.id, "trashed");
    expect(await conflict(deleteDataset(sql, dataset.id))).toBe(`dataset ${dataset.id} is trashed and read-only; restore it first`);
    // Nothing was deleted: a restore brings it all back.
    await setState(sql, "datasets", dataset.id, "active");
    expect(await recordingIds(dataset.id, "active")).toEqual([recording.id]);
    expect(await clipIds(recording.id, "active")).toEqual([clip.id]);

    // Active, they go for good: a recording with its clips, a dataset with its recordings.
    await deleteRecording(sql, recording.id);
    expect(await clipIds(recording.id, "all")).toEqual([]);
    await deleteDataset(sql, dataset.id);
    await expect(getDataset(sql, dataset.id)).rejects.toThrow(/not found/);

    // Purging the trash does not go through the refusal.
    const trashed = await tree("delete-purge");
    await setState(sql, "datasets", trashed.dataset.id, "trashed");
    expect((await purgeTrashed(sql, 0)).datasets).toBeGreaterThanOrEqual(1);
    await expect(getDataset(sql, trashed.dataset.id)).rejects.toThrow(/not found/);
    await expect(getRecording(sql, trashed.recording.id)).rejects.toThrow(/not found/);
  });
});

describe("time expansion", () => {
  it("is refused when the recording would end before some of its clips, naming how many and the first", async () => {
    const { recording, clip } = await tree("expansion");
    const late = await createClip(sql, { recording_id: recording.id, start_time: 8, end_time: 9, created_by: userId });
    await setState(sql, "clips", late.id, "archived");
    // 10 s at time expansion 1; at 5 it lasts 2 s: the clip [1, 2] still fits, [8, 9] does not.
    expect((await updateRecording(sql, recording.id, { time_expansion: 1 }, { clips: "keep" })).duration).toBe(10);
    const message = await conflict(updateRecording(sql, recording.id, { time_expansion: 5 }, { clips: "keep" }));
    expect(message).toContain(`2 s long, and 1 of its clips`);
    expect(message).toContain(`clip ${late.id}`);
    expect(message).not.toContain(clip.id);
    expect(await conflict(updateRecording(sql, recording.id, { time_expansion: 20 }, { clips: "keep" }))).toContain(`2 of its clips would end past that (first: clip ${clip.id}, 1–2 s)`);
    expect((await getRecording(sql, recording.id)).time_expansion).toBe(1);
    // Once the late clip is gone, the clip ending exactly at the new end still fits.
    await setState(sql, "clips", late.id, "active");
    await deleteClip(sql, late.id);
    expect((await updateRecording(sql, recording.id, { time_expansion: 5 }, { clips: "keep" })).duration).toBe(2);
    await updateClip(sql, clip.id, { start_time: 0.5 });
  });
});

describe("recording_count", () => {
  it("counts the recordings a default listing of the dataset shows", async () => {
    const { dataset, recording } = await tree("count");
    const archived = (await insertRecording(sql, { dataset_id: dataset.id, path: `r${nextPath++}.wav`, hash: HASH, file_size: 20044, file_samplerate: 1000, frames: 10000, channels: 1, created_by: userId }))!;
    const trashed = (await insertRecording(sql, { dataset_id: dataset.id, path: `r${nextPath++}.wav`, hash: HASH, file_size: 20044, file_samplerate: 1000, frames: 10000, channels: 1, created_by: userId }))!;
    await setState(sql, "recordings", archived.id, "archived");
    await setState(sql, "recordings", trashed.id, "trashed");
    expect((await getDataset(sql, dataset.id)).recording_count).toBe(1);
    expect(await recordingIds(dataset.id, "active")).toEqual([recording.id]);
    // Archiving the dataset hides them all, but the count says what a restore brings back.
    await setState(sql, "datasets", dataset.id, "archived");
    expect((await getDataset(sql, dataset.id)).recording_count).toBe(1);
  });
});

describe("scanning a dataset", () => {
  it("refuses a directory replaced since by a symlink out of the audio roots", async () => {
    const dir = join(roots[0], "site");
    await mkdir(dir);
    await writeSineWav(join(dir, "inside.wav"), 8000, 0.25);
    await writeSineWav(join(scratch.path, "outside", "secret.wav"), 8000, 0.25);
    const dataset = await createDataset(sql, { name: "swapped", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    expect((await scanDataset(sql, dataset.id)).files.map((f) => f.path)).toEqual(["inside.wav"]);

    await rename(dir, `${dir}.old`);
    await symlink(join(scratch.path, "outside"), dir);
    for (const attempt of [scanDataset(sql, dataset.id), importDataset(sql, dataset.id, userId)]) {
      const err = await attempt.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidError);
      expect((err as InvalidError).fields.map((f) => f.field)).toEqual(["audio_dir"]);
      expect((err as InvalidError).message).toMatch(/outside the configured audio roots/);
    }
    expect(await recordingIds(dataset.id, "all")).toEqual([]);
  });
});

describe("over HTTP", () => {
  let app: App;
  let admin: string;
  let member: string;
  let otherMember: string;
  let datasetId: string;
  let recordingId: string;
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });

  beforeAll(async () => {
    admin = (await createToken(sql, { user_id: (await createUser(sql, { username: "boss", role: "admin" })).id, name: "a", created_by: null })).key;
    member = (await createToken(sql, { user_id: (await createUser(sql, { username: "m1" })).id, name: "m1", created_by: null })).key;
    otherMember = (await createToken(sql, { user_id: (await createUser(sql, { username: "m2" })).id, name: "m2", created_by: null })).key;
    const dir = join(roots[0], "http");
    await mkdir(dir);
    // 2.52 s at 8 kHz, the recording of the audit.
    await writeSineWav(join(dir, "tone.wav"), 8000, 2.52);
    app = await buildApp({ database: t.db, audioRoots: roots });
    const dataset = await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "http", audio_dir: dir }, headers: auth(member) });
    expect(dataset.statusCode).toBe(201);
    datasetId = dataset.json().id;
    const rec = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path: "tone.wav" }, headers: auth(member) });
    expect(rec.statusCode).toBe(201);
    recordingId = rec.json().id;
  });

  afterAll(async () => {
    await app?.close();
  });

  const newClip = async (key: string, start_time: number, end_time: number): Promise<string> => {
    const res = await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time, end_time }, headers: auth(key) });
    expect(res.statusCode).toBe(201);
    return res.json().id;
  };

  it("an archived dataset's recordings answer 409 to changes and leave the default listing", async () => {
    expect((await app.inject({ method: "POST", url: `/v1/datasets/${datasetId}/archive`, headers: auth(member) })).statusCode).toBe(200);
    const patch = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { rights: "CC0" }, headers: auth(member) });
    expect(patch.statusCode).toBe(409);
    expect(patch.json().message).toMatch(/dataset .* is archived; restore it first/);
    expect((await app.inject({ method: "POST", url: `/v1/recordings/${recordingId}/tags`, payload: { key: "site", value: "A" }, headers: auth(member) })).statusCode).toBe(409);
    expect((await app.inject({ url: `/v1/recordings?dataset_id=${datasetId}` })).json().total).toBe(0);
    expect((await app.inject({ url: `/v1/recordings?dataset_id=${datasetId}&state=archived` })).json().total).toBe(1);
    expect((await app.inject({ url: `/v1/recordings/${recordingId}` })).statusCode).toBe(200);
    expect((await app.inject({ method: "POST", url: `/v1/datasets/${datasetId}/restore`, headers: auth(member) })).statusCode).toBe(200);
    expect((await app.inject({ url: `/v1/recordings?dataset_id=${datasetId}` })).json().total).toBe(1);
  });

  it("a clip is deleted for good only by its creator or an admin, and only while active", async () => {
    const mine = await newClip(member, 0.1, 0.2);
    const admins = await newClip(admin, 0.1, 0.3);
    const del = (id: string, key: string) => app.inject({ method: "DELETE", url: `/v1/clips/${id}`, headers: auth(key) });
    const refused = await del(admins, member);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().message).toMatch(/creator or an admin/);
    expect((await del(mine, otherMember)).statusCode).toBe(403);
    await app.inject({ method: "POST", url: `/v1/clips/${mine}/archive`, headers: auth(member) });
    const archived = await del(mine, member);
    expect(archived.statusCode).toBe(409);
    expect(archived.json().message).toMatch(/archived and read-only; restore it first/);
    await app.inject({ method: "POST", url: `/v1/clips/${mine}/restore`, headers: auth(member) });
    expect((await del(mine, member)).statusCode).toBe(204);
    expect((await del(admins, admin)).statusCode).toBe(204);
    expect((await app.inject({ url: `/v1/clips/${admins}` })).statusCode).toBe(404);
  });

  it("an archived recording or dataset answers 409 to DELETE, also from an admin, until it is restored", async () => {
    const dir = join(roots[0], "http-delete");
    await mkdir(dir);
    await writeSineWav(join(dir, "tone.wav"), 8000, 0.5);
    const dataset = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "http-delete", audio_dir: dir }, headers: auth(admin) })).json().id;
    const recording = (await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: dataset, path: "tone.wav" }, headers: auth(admin) })).json().id;
    const del = (url: string) => app.inject({ method: "DELETE", url, headers: auth(admin) });
    await app.inject({ method: "POST", url: `/v1/datasets/${dataset}/archive`, headers: auth(admin) });
    for (const [url, message] of [
      [`/v1/datasets/${dataset}`, `dataset ${dataset} is archived and read-only; restore it first`],
      [`/v1/recordings/${recording}`, `recording ${recording} is read-only: its dataset ${dataset} is archived; restore it first`],
    ]) {
      const res = await del(url);
      expect([res.statusCode, res.json().message]).toEqual([409, message]);
    }
    await app.inject({ method: "POST", url: `/v1/datasets/${dataset}/restore`, headers: auth(admin) });
    expect((await del(`/v1/recordings/${recording}`)).statusCode).toBe(204);
    expect((await del(`/v1/datasets/${dataset}`)).statusCode).toBe(204);
  });

  it("lists an archived recording's clips as it was left by own_state, counting those alone, and refuses an own_state that is no state, naming it", async () => {
    const [kept, hidden] = [await newClip(member, 0.1, 0.2), await newClip(member, 0.3, 0.4)];
    await app.inject({ method: "POST", url: `/v1/clips/${hidden}/archive`, headers: auth(member) });
    await app.inject({ method: "POST", url: `/v1/recordings/${recordingId}/archive`, headers: auth(member) });
    try {
      const list = async (query: string) => (await app.inject({ url: `/v1/clips?recording_id=${recordingId}&end_after=0.05&start_before=0.45&${query}` })).json();
      const both = await list("state=archived");
      expect([both.items.map((c: { id: string }) => c.id), both.total]).toEqual([[kept, hidden], 2]);
      const asLeft = await list("state=archived&own_state=active&limit=1");
      expect([asLeft.items.map((c: { id: string }) => c.id), asLeft.total]).toEqual([[kept], 1]);
      expect((await list("state=archived&own_state=archived")).items.map((c: { id: string }) => c.id)).toEqual([hidden]);
      const refused = await app.inject({ url: `/v1/clips?recording_id=${recordingId}&own_state=hidden` });
      expect([refused.statusCode, refused.json().message]).toEqual([400, "invalid query: own_state: must be one of active, archived, trashed"]);
    } finally {
      await app.inject({ method: "POST", url: `/v1/recordings/${recordingId}/restore`, headers: auth(member) });
      for (const id of [kept, hidden]) {
        await app.inject({ method: "POST", url: `/v1/clips/${id}/restore`, headers: auth(member) });
        await app.inject({ method: "DELETE", url: `/v1/clips/${id}`, headers: auth(member) });
      }
    }
  });

  it("a time expansion that would leave clips outside the recording is refused with 409", async () => {
    const clip = await newClip(member, 0.5, 1.2);
    const res = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}?clips=keep`, payload: { time_expansion: 10 }, headers: auth(member) });
    expect(res.statusCode).toBe(409);
    expect(res.json().message).toContain(`1 of its clips would end past that (first: clip ${clip}, 0.5–1.2 s)`);
    expect((await app.inject({ url: `/v1/recordings/${recordingId}` })).json().time_expansion).toBe(1);
    const moved = await app.inject({ method: "PATCH", url: `/v1/clips/${clip}`, payload: { start_time: 0.1, end_time: 0.2 }, headers: auth(member) });
    expect(moved.statusCode).toBe(200);
    const ok = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}?clips=keep`, payload: { time_expansion: 10 }, headers: auth(member) });
    expect([ok.statusCode, ok.json().duration]).toEqual([200, 0.252]);
  });
});

describe("a change that keeps losing its conflicts with others", () => {
  /** What `change` fails with while every insert and update of `table` loses as a deadlock's loser (40P01) — also under the embedded import's replica role. */
  async function losingEveryWrite(table: string, change: () => Promise<unknown>): Promise<unknown> {
    await sql.unsafe(`
      CREATE FUNCTION lose_as_deadlock() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$;
      CREATE TRIGGER contended BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION lose_as_deadlock();
      ALTER TABLE ${table} ENABLE ALWAYS TRIGGER contended;`);
    try {
      return await change().then(() => null, (err: unknown) => err);
    } finally {
      await sql.unsafe(`DROP TRIGGER contended ON ${table}; DROP FUNCTION lose_as_deadlock();`);
    }
  }
  const busy = (what: string) => `${what} is busy: other changes to it at the same moment won 10 times in a row (deadlock detected); nothing was changed — retry in a few seconds`;

  it("names the record it writes — clip, recording or dataset — where it said 'a record this change writes is busy'", async () => {
    const { recording, clip } = await tree("contended");
    const empty = await createDataset(sql, { name: "contended-empty", audio_dir: "/nonexistent/contended-empty", created_by: userId });
    const text = "Begin Time (s)\tEnd Time (s)\tSpecies\n3\t3.5\tA\n";
    const cases: [string, () => Promise<unknown>, string][] = [
      ["clips", () => createClip(sql, { recording_id: recording.id, start_time: 4, end_time: 5, created_by: userId }), `recording ${recording.id}`],
      ["clips", () => updateClip(sql, clip.id, { end_time: 1.5 }), `clip ${clip.id}`],
      ["clips", () => importClipTable(t.db, { target: { recording_id: recording.id }, text, times: "real", created_by: userId }), `recording ${recording.id}`],
      ["recordings", () => updateRecording(sql, recording.id, { rights: "CC-BY" }), `recording ${recording.id}`],
      ["datasets", () => createDataset(sql, { name: "contended-new", audio_dir: "/nonexistent/contended-new", created_by: userId }), "dataset contended-new"],
      ["datasets", () => relocateDataset(sql, empty.id, "/nonexistent/contended-moved"), "dataset contended-empty"],
    ];
    for (const [table, change, what] of cases) expect(String(await losingEveryWrite(table, change))).toBe(`BusyError: ${busy(what)}`);
  });
});
