/**
 * Keyset paging of the clips and notes listings (store/common.ts pageFirst, ClipQuery.cursor,
 * NoteQuery.cursor), as test/store-recordings-keyset.test.ts does the recordings': a page after a
 * cursor is the rows after the cursor's row, whatever was created or deleted before it meanwhile
 * (by offset, the same churn skips and repeats clips); every sort and order, ties included, pages
 * into the unpaged listing; a cursor of other filters, state or order, or beside an offset, is a 400.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLIP_SORTS, listClips, type ClipQuery } from "../src/store/clips.js";
import { createDataset } from "../src/store/datasets.js";
import { InvalidError } from "../src/store/errors.js";
import { listNotes, type NoteQuery } from "../src/store/notes.js";
import { insertRecordings } from "../src/store/recordings.js";
import type { Sql } from "../src/store/db.js";
import { everyPageByCursor, freshDatabase, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let sql: Sql;

/** A dataset of its own with `count` recordings of 600 s (8 kHz): their ids. */
async function recordingsOf(name: string, count = 1): Promise<{ dataset: string; recordings: string[] }> {
  const dataset = (await createDataset(sql, { name, audio_dir: `/nonexistent/${name}`, created_by: null })).id;
  const rows = Array.from({ length: count }, (_, i) => ({
    dataset_id: dataset, path: `r${i}.wav`, hash: createHash("md5").update(`${name}/${i}`).digest("hex"), file_size: 16_044, file_samplerate: 8000, frames: 8000 * 600, channels: 1, created_by: null,
  }));
  const inserted = await insertRecordings(sql, rows);
  return { dataset, recordings: [...inserted].sort((a, b) => a.path.localeCompare(b.path)).map((r) => r.id) };
}

/** Inserts clips [start, end) of `recording` in one statement (one created_at for all): their ids in that order. */
async function clipsOf(recording: string, bounds: [number, number][]): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    INSERT INTO clips (recording_id, start_time, end_time)
    SELECT ${recording}, b.s, b.e FROM unnest(${bounds.map((b) => b[0])}::float8[], ${bounds.map((b) => b[1])}::float8[]) WITH ORDINALITY AS b(s, e, n)
    ORDER BY b.n RETURNING id`;
  return rows.map((r) => r.id);
}

/** Every page of `q` by cursor, `limit` a page: the ids in the order listed. */
async function clipsByCursor(q: Omit<ClipQuery, "limit" | "offset" | "cursor">, limit: number, between?: (page: number) => Promise<void>): Promise<string[]> {
  return (await everyPageByCursor((page) => listClips(sql, { ...q, ...page }), limit, between)).map((c) => c.id);
}

/** The fields of the 400 a query gets (undefined when it is answered). */
const refusal = <Q>(list: (db: Sql, q: Q) => Promise<unknown>) => (q: Q) => list(sql, q).then(() => undefined, (err: unknown) => (err instanceof InvalidError ? err.fields : err));
const OTHER_FILTERS = [{ field: "cursor", message: "was made for other filters: give it with the filters and state of the page that gave it" }];

beforeAll(async () => {
  t = await freshDatabase();
  sql = t.db.sql;
}, 60_000);
afterAll(async () => t?.cleanup());

describe("clips listing by cursor", () => {
  it("lists a clip there throughout once while others are created and deleted before the page; by offset it skips and repeats", async () => {
    const { dataset, recordings: [rec] } = await recordingsOf("churn");
    const starts = Array.from({ length: 9 }, (_, i) => 10 + i);
    const q = { state: "active", dataset_id: dataset, sort: "start_time", order: "asc" } as const;
    // Between pages, as others annotate the dataset: a clip of the page just read deleted, one created before every other.
    const churn = (listed: string[]) => async (page: number) => {
      await sql`DELETE FROM clips WHERE id = ${listed[page * 3]}`;
      await clipsOf(rec, [[page / 10, page / 10 + 1]]);
    };
    const present = await clipsOf(rec, starts.map((s) => [s, s + 1]));
    expect(await clipsByCursor(q, 3, churn(present))).toEqual(present);

    // By offset: a deletion before the next page skips a clip, a creation repeats one.
    const byOffset = async (between: (ids: string[], page: number) => Promise<void>) => {
      await sql`DELETE FROM clips WHERE recording_id = ${rec}`;
      const ids = await clipsOf(rec, starts.map((s) => [s, s + 1]));
      const listed: string[] = [];
      for (let offset = 0, page = 0; offset < 9; offset += 3, page++) {
        listed.push(...(await listClips(sql, { ...q, limit: 3, offset })).items.filter((c) => c.start_time >= 10).map((c) => c.id));
        await between(ids, page);
      }
      return { ids, listed };
    };
    const deleted = await byOffset(async (ids, page) => { await sql`DELETE FROM clips WHERE id = ${ids[page * 3]}`; });
    expect(deleted.listed).toEqual([0, 1, 2, 4, 5, 6, 8].map((i) => deleted.ids[i]));
    const created = await byOffset(async (_, page) => { await clipsOf(rec, [[page / 10, page / 10 + 1]]); });
    expect(created.listed).toEqual([0, 1, 2, 2, 3, 4, 4, 5, 6].map((i) => created.ids[i]));
  }, 60_000);

  it("pages every sort and order, ties and float8 keys of every digit included, into the unpaged listing", async () => {
    // Ties of every key: starts and ends repeated, one clip's bounds repeated on another recording
    // (the id breaks the tie), one created_at for all but the clips inserted later; bounds that a
    // decimal of fewer digits does not write (0.1 + 0.2, 1/3 and the float8 after it).
    const { dataset, recordings: [one, two] } = await recordingsOf("ties", 2);
    const after = (x: number) => x + Number.EPSILON * x;
    const bounds: [number, number][] = [[0.1 + 0.2, 1], [0.3, 1], [1 / 3, 2], [after(1 / 3), 2], [1 / 3, 1], [2, 3], [2, 3], [0, 0.5], [5, 6]];
    await clipsOf(one, bounds);
    await clipsOf(two, bounds.slice(0, 4));
    await sql`UPDATE clips SET created_at = created_at + interval '1 microsecond' WHERE recording_id = ${two}`;
    for (const sort of CLIP_SORTS) {
      for (const order of ["asc", "desc"] as const) {
        const q = { state: "active", dataset_id: dataset, sort, order } as const;
        const whole = (await listClips(sql, { ...q, limit: 1000, offset: 0 })).items.map((c) => c.id);
        expect(whole, `${sort} ${order}`).toHaveLength(13);
        for (const limit of [1, 2, 3, 5]) expect(await clipsByCursor(q, limit), `${sort} ${order} limit ${limit}`).toEqual(whole);
      }
    }
    // The unpaged listing is the order the sorts name: by start, then end, then id.
    const byStart = (await listClips(sql, { state: "active", recording_id: one, sort: "start_time", order: "asc", limit: 1000, offset: 0 })).items;
    expect(byStart.map((c) => [c.start_time, c.end_time])).toEqual([[0, 0.5], [0.3, 1], [0.1 + 0.2, 1], [1 / 3, 1], [1 / 3, 2], [after(1 / 3), 2], [2, 3], [2, 3], [5, 6]]);
  }, 120_000);

  it("lists no clip NULLS LAST: every column a clip is sorted by is NOT NULL", async () => {
    // listClips names no column in Listing.nullsLast, so afterCursor leaves out their NULL case: a
    // sort column that may be NULL would have its NULL rows skipped by a cursor.
    const nullable = await sql<{ column_name: string; is_nullable: string }[]>`
      SELECT column_name, is_nullable FROM information_schema.columns
      WHERE table_name = 'clips' AND column_name IN ('start_time', 'end_time', 'created_at') ORDER BY column_name`;
    expect(nullable.map((c) => [c.column_name, c.is_nullable])).toEqual([["created_at", "NO"], ["end_time", "NO"], ["start_time", "NO"]]);
  }, 60_000);

  it("gives the first page's total and offset, a cursor's page neither, and no cursor after the last", async () => {
    const { recordings: [rec] } = await recordingsOf("counted");
    const ids = await clipsOf(rec, [[1, 2], [2, 3], [3, 4]]);
    const q = { state: "active", recording_id: rec, sort: "start_time", order: "asc" } as const;
    const first = await listClips(sql, { ...q, limit: 2, offset: 0 });
    expect({ ...first, items: first.items.map((c) => c.id), next_cursor: typeof first.next_cursor }).toEqual({ items: ids.slice(0, 2), limit: 2, offset: 0, total: 3, next_cursor: "string" });
    const second = await listClips(sql, { ...q, limit: 2, offset: 0, cursor: first.next_cursor! });
    expect({ ...second, items: second.items.map((c) => c.id) }).toEqual({ items: ids.slice(2), limit: 2, offset: null, total: null, next_cursor: null });
    expect((await listClips(sql, { ...q, limit: 3, offset: 0 })).next_cursor).toBeNull();
  }, 60_000);

  it("refuses a cursor of other filters, state, sort or order, or beside an offset, naming the field", async () => {
    const { dataset, recordings: [rec, other] } = await recordingsOf("refused", 2);
    await clipsOf(rec, [[1, 2], [2, 3]]);
    const q = { state: "active", dataset_id: dataset, sort: "start_time", order: "asc" } as const;
    const { next_cursor: cursor } = await listClips(sql, { ...q, limit: 1, offset: 0 });
    const refused = refusal(listClips);
    const others: Partial<ClipQuery>[] = [
      { dataset_id: undefined }, { recording_id: other }, { state: "all" }, { start_before: 10 }, { end_after: 0 }, { min_freq: 100 }, { max_freq: 1000 }, { tag: { key: "k" } }, { tag: { key: "k", value: "v" } }, { own_state: "active" },
    ];
    for (const o of others) expect(await refused({ ...q, ...o, limit: 1, offset: 0, cursor: cursor! }), JSON.stringify(o)).toEqual(OTHER_FILTERS);
    expect(await refused({ ...q, order: "desc", limit: 1, offset: 0, cursor: cursor! }))
      .toEqual([{ field: "cursor", message: "was given by a listing of sort=start_time order=asc, not sort=start_time order=desc" }]);
    expect(await refused({ ...q, sort: "end_time", limit: 1, offset: 0, cursor: cursor! }))
      .toEqual([{ field: "cursor", message: "was given by a listing of sort=start_time order=asc, not sort=end_time order=asc" }]);
    // created_at's cursor holds three keys, start_time's two: it said 'is not a cursor'.
    expect(await refused({ ...q, sort: "created_at", order: "desc", limit: 1, offset: 0, cursor: cursor! }))
      .toEqual([{ field: "cursor", message: "was given by a listing of sort=start_time order=asc, not sort=created_at order=desc" }]);
    expect(await refused({ ...q, limit: 1, offset: 1, cursor: cursor! })).toEqual([{ field: "offset", message: "must be 0 with a cursor: the cursor says where the page begins" }]);
    expect(await refused({ ...q, limit: 1, offset: 0, cursor: "!!" })).toEqual([{ field: "cursor", message: "is not a cursor: give a next_cursor of this listing, or page by offset" }]);
    // Its own query takes it.
    expect((await listClips(sql, { ...q, limit: 1, offset: 0, cursor: cursor! })).items.map((c) => c.start_time)).toEqual([2]);
  }, 60_000);
});

describe("notes listing by cursor", () => {
  /** Every page of `q` by cursor: the ids in the order listed. */
  async function notesByCursor(q: Omit<NoteQuery, "limit" | "offset" | "cursor">, limit: number, between?: (page: number) => Promise<void>): Promise<string[]> {
    return (await everyPageByCursor((page) => listNotes(sql, { ...q, ...page }), limit, between)).map((n) => n.id);
  }
  /** `count` notes on `recording`, created_at 1 s apart (the first oldest), some of one instant: their ids, newest first. */
  async function notesOn(recording: string, count: number): Promise<string[]> {
    const rows = await sql<{ id: string }[]>`
      INSERT INTO notes (message, recording_id, created_at)
      SELECT 'n' || i, ${recording}, '2025-01-01 00:00:00+00'::timestamptz + ((i / 2) || ' seconds')::interval FROM generate_series(0, ${count - 1}) i
      RETURNING id, created_at`;
    const listed = await listNotes(sql, { state: "active", recording_id: recording, limit: 1000, offset: 0 });
    expect(listed.items.map((n) => n.id).sort()).toEqual(rows.map((r) => r.id).sort());
    return listed.items.map((n) => n.id);
  }

  it("lists a note there throughout once while newer ones are written before the page, and pages ties of created_at into the unpaged listing", async () => {
    const { recordings: [rec] } = await recordingsOf("notes-churn");
    const present = await notesOn(rec, 9);
    const q = { state: "active", recording_id: rec } as const;
    for (const limit of [1, 2, 4]) expect(await notesByCursor(q, limit), `limit ${limit}`).toEqual(present);
    // A note written between pages is newer than every other: by cursor the pages go on; by offset it repeats one.
    const write = async () => { await sql`INSERT INTO notes (message, recording_id) VALUES ('newer', ${rec})`; };
    expect(await notesByCursor(q, 3, write)).toEqual(present);
    await sql`DELETE FROM notes WHERE recording_id = ${rec} AND message = 'newer'`;
    const byOffset: string[] = [];
    for (let offset = 0; offset < 9; offset += 3) {
      byOffset.push(...(await listNotes(sql, { ...q, limit: 3, offset })).items.filter((n) => n.message !== "newer").map((n) => n.id));
      await write();
    }
    expect(byOffset).toEqual([0, 1, 2, 2, 3, 4, 4, 5, 6].map((i) => present[i]));
  }, 60_000);

  it("refuses a cursor of other filters or state; include_clips left out is false", async () => {
    const { recordings: [rec] } = await recordingsOf("notes-refused");
    const present = await notesOn(rec, 3);
    const q = { state: "active", recording_id: rec } as const;
    const { next_cursor: cursor } = await listNotes(sql, { ...q, limit: 1, offset: 0 });
    const refused = refusal(listNotes);
    for (const o of [{ recording_id: undefined }, { include_clips: true }, { is_issue: false }, { state: "all" as const }, { created_by: "00000000-0000-4000-8000-000000000000" }]) {
      expect(await refused({ ...q, ...o, limit: 1, offset: 0, cursor: cursor! }), JSON.stringify(o)).toEqual(OTHER_FILTERS);
    }
    expect(await refused({ ...q, limit: 1, offset: 2, cursor: cursor! })).toEqual([{ field: "offset", message: "must be 0 with a cursor: the cursor says where the page begins" }]);
    expect((await listNotes(sql, { ...q, include_clips: false, limit: 2, offset: 0, cursor: cursor! })).items.map((n) => n.id)).toEqual(present.slice(1));
  }, 60_000);
});
