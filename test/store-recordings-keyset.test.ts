/**
 * Keyset paging of the recordings listing (store/common.ts pageFirst, RecordingQuery.cursor): a
 * page after a cursor is the recordings after the cursor's row, whatever was registered or deleted
 * before it meanwhile; every sort and order, NULLs and ties included, pages into the unpaged
 * listing; a cursor that is none, of another order or beside an offset is a 400 naming the field;
 * a page by path, created_at, duration or samplerate is read from the index where the last one ended.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cursorFiltersDigest } from "../src/store/common.js";
import { InvalidError } from "../src/store/errors.js";
import { insertRecordings, listRecordings, RECORDING_SORTS, type NewRecording, type RecordingQuery } from "../src/store/recordings.js";
import type { Sql } from "../src/store/db.js";
import { createDataset } from "../src/store/datasets.js";
import { everyPageByCursor, freshDatabase, mostReadsOf, planNodes, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let sql: Sql;
/** The last statement sent, with its parameters, for the test that reads its plan. */
let lastStatement: { statement: string; parameters: unknown[] } | undefined;

const newRecording = (datasetId: string, path: string, more: Partial<NewRecording> = {}): NewRecording => ({
  dataset_id: datasetId, path, hash: createHash("md5").update(path).digest("hex"), file_size: 16_044, file_samplerate: 8000, frames: 8000, channels: 1, created_by: null, ...more,
});

/** A dataset of its own, with `rows` registered in it (one statement: one created_at for all). */
async function datasetWith(name: string, rows: [string, Partial<NewRecording>?][]): Promise<string> {
  const id = (await createDataset(sql, { name, audio_dir: `/nonexistent/${name}`, created_by: null })).id;
  await insertRecordings(sql, rows.map(([path, more]) => newRecording(id, path, more)));
  return id;
}

/** Every page of `q` by cursor, `limit` a page: the paths in the order listed. */
async function byCursor(q: Omit<RecordingQuery, "limit" | "offset" | "cursor">, limit: number, between?: (page: number) => Promise<void>): Promise<string[]> {
  return (await everyPageByCursor((page) => listRecordings(sql, { ...q, ...page }), limit, between)).map((r) => r.path);
}

beforeAll(async () => {
  t = await freshDatabase({ onStatement: (statement, parameters) => { lastStatement = { statement, parameters }; } });
  sql = t.db.sql;
}, 60_000);
afterAll(async () => t?.cleanup());

describe("recordings listing by cursor", () => {
  it("lists a recording there throughout once while others are registered and deleted before the page", async () => {
    const dataset = await datasetWith("churn", Array.from({ length: 9 }, (_, i) => [`r${i}.wav`] as [string]));
    const q = { state: "active", dataset_id: dataset, sort: "path", order: "asc" } as const;
    const ids = Object.fromEntries((await listRecordings(sql, { ...q, limit: 100, offset: 0 })).items.map((r) => [r.path, r.id]));
    // Between the pages: one recording of the first page deleted, one registered before every other.
    const churn = async (page: number) => {
      await sql`DELETE FROM recordings WHERE id = ${ids[`r${page * 3}.wav`]}`;
      await insertRecordings(sql, [newRecording(dataset, `a${page}.wav`)]);
    };
    expect(await byCursor(q, 3, churn)).toEqual(["r0.wav", "r1.wav", "r2.wav", "r3.wav", "r4.wav", "r5.wav", "r6.wav", "r7.wav", "r8.wav"]);

    // By offset, the same churn skips one recording and repeats another.
    await sql`DELETE FROM recordings WHERE dataset_id = ${dataset}`;
    await insertRecordings(sql, Array.from({ length: 9 }, (_, i) => newRecording(dataset, `r${i}.wav`)));
    Object.assign(ids, Object.fromEntries((await listRecordings(sql, { ...q, limit: 100, offset: 0 })).items.map((r) => [r.path, r.id])));
    const byOffset: string[] = [];
    for (let offset = 0, page = 0; offset < 9; offset += 3, page++) {
      byOffset.push(...(await listRecordings(sql, { ...q, limit: 3, offset })).items.map((r) => r.path));
      await sql`DELETE FROM recordings WHERE id = ${ids[`r${page * 3}.wav`]}`;
    }
    expect(byOffset).toEqual(["r0.wav", "r1.wav", "r2.wav", "r4.wav", "r5.wav", "r6.wav", "r8.wav"]);
  }, 60_000);

  it("pages every sort and order, NULLs and ties included, into the unpaged listing", async () => {
    // Dates and times missing and repeated; durations and rates repeated (time expansion 2 halves
    // both); one created_at for all (one statement); a path repeated across datasets, so that the id
    // breaks ties of every key.
    const rows: [string, Partial<NewRecording>][] = [
      ["a.wav", { date: "2025-07-01", time: "22:10:00" }], ["b.wav", { date: "2025-07-01", time: "22:10:00", time_expansion: 2 }],
      ["c.wav", { date: "2025-07-01" }], ["d.wav", {}], ["e.wav", { time: "01:00:00" }], ["f.wav", { date: "2024-12-31", time: "23:59:59.5", frames: 4000 }],
      ["g.wav", { date: "2025-07-01", time: "22:10:00+02:00", frames: 12_000 }], ["h.wav", { time_expansion: 2 }],
    ];
    const one = await datasetWith("ties-1", rows);
    const two = await datasetWith("ties-2", rows);
    for (const sort of RECORDING_SORTS) {
      for (const order of ["asc", "desc"] as const) {
        const q = { state: "active", sort, order } as const;
        const whole = await listRecordings(sql, { ...q, limit: 1000, offset: 0 });
        const mine = whole.items.filter((r) => r.dataset_id === one || r.dataset_id === two);
        expect(mine, `${sort} ${order}`).toHaveLength(16);
        for (const limit of [1, 2, 3, 5]) {
          const paged: string[] = [];
          let cursor: string | undefined;
          do {
            const p = await listRecordings(sql, { ...q, limit, offset: 0, cursor });
            expect(p.items.length, `${sort} ${order} limit ${limit}`).toBeLessThanOrEqual(limit);
            paged.push(...p.items.map((r) => r.id));
            cursor = p.next_cursor ?? undefined;
          } while (cursor);
          expect(paged, `${sort} ${order} limit ${limit}`).toEqual(whole.items.map((r) => r.id));
        }
      }
    }
    // And the unpaged listing is the ORDER BY the sorts name (NULLs last in either order).
    const dated = await listRecordings(sql, { state: "active", dataset_id: one, sort: "date", order: "desc", limit: 1000, offset: 0 });
    expect(dated.items.map((r) => r.path)).toEqual(["g.wav", "b.wav", "a.wav", "c.wav", "f.wav", "e.wav", "h.wav", "d.wav"]);
  }, 120_000);

  it("gives the first page's total and offset, a cursor's page neither, and no cursor after the last", async () => {
    const dataset = await datasetWith("counted", [["x1.wav"], ["x2.wav"], ["x3.wav"]]);
    const q = { state: "active", dataset_id: dataset, sort: "path", order: "asc" } as const;
    const first = await listRecordings(sql, { ...q, limit: 2, offset: 0 });
    expect({ ...first, items: first.items.map((r) => r.path), next_cursor: typeof first.next_cursor }).toEqual({ items: ["x1.wav", "x2.wav"], limit: 2, offset: 0, total: 3, next_cursor: "string" });
    const second = await listRecordings(sql, { ...q, limit: 2, offset: 0, cursor: first.next_cursor! });
    expect({ ...second, items: second.items.map((r) => r.path) }).toEqual({ items: ["x3.wav"], limit: 2, offset: null, total: null, next_cursor: null });
    // A page that ends the listing exactly has no cursor either: no empty page to read.
    const exact = await listRecordings(sql, { ...q, limit: 3, offset: 0 });
    expect(exact.next_cursor).toBeNull();
  }, 60_000);

  it("refuses a cursor that is none, of another order, or beside an offset, naming the field", async () => {
    const dataset = await datasetWith("refused", [["y1.wav", { date: "2025-01-01" }], ["y2.wav", { date: "2025-01-02" }]]);
    const q = { state: "active", dataset_id: dataset, sort: "date", order: "asc" } as const;
    const { next_cursor: cursor } = await listRecordings(sql, { ...q, limit: 1, offset: 0 });
    const refusal = (query: RecordingQuery) => listRecordings(sql, query).then(() => undefined, (err: unknown) => (err instanceof InvalidError ? err.fields : err));
    const notACursor = [{ field: "cursor", message: "is not a cursor: give a next_cursor of this listing, or page by offset" }];
    const made = (content: unknown) => Buffer.from(JSON.stringify(content)).toString("base64url");
    const id = "00000000-0000-4000-8000-000000000000";
    expect(await refusal({ ...q, limit: 1, offset: 0, cursor: "!!" })).toEqual(notACursor);
    expect(await refusal({ ...q, limit: 1, offset: 0, cursor: made({ date: "2025-01-01" }) })).toEqual(notACursor);
    expect(await refusal({ ...q, limit: 1, offset: 0, cursor: made(["date", "asc", ["2025-01-01", null], id]) })).toEqual(notACursor);
    expect(await refusal({ ...q, limit: 1, offset: 0, cursor: made(["date", "asc", ["2025-01-01", null, "y1.wav"], "not-an-id"]) })).toEqual(notACursor);
    // Keys PostgreSQL cannot read as the columns' types: a 400 naming the cursor, not a 500.
    expect(await refusal({ ...q, limit: 1, offset: 0, cursor: made(["date", "asc", ["yesterday-ish", null, "y1.wav"], id]) })).toEqual(notACursor);
    expect(await refusal({ ...q, sort: "duration", limit: 1, offset: 0, cursor: made(["duration", "asc", ["long", "y1.wav"], id]) })).toEqual(notACursor);
    expect(await refusal({ ...q, order: "desc", limit: 1, offset: 0, cursor: cursor! }))
      .toEqual([{ field: "cursor", message: "was given by a listing of sort=date order=asc, not sort=date order=desc" }]);
    // Another sort holds another number of keys (date: date, time, path; path: path alone): it said 'is not a cursor'.
    for (const sort of ["path", "created_at"] as const) {
      expect(await refusal({ ...q, sort, limit: 1, offset: 0, cursor: cursor! }), sort)
        .toEqual([{ field: "cursor", message: `was given by a listing of sort=date order=asc, not sort=${sort} order=asc` }]);
    }
    expect(await refusal({ ...q, limit: 1, offset: 1, cursor: cursor! }))
      .toEqual([{ field: "offset", message: "must be 0 with a cursor: the cursor says where the page begins" }]);
  }, 60_000);

  it("pages created_at microseconds apart and durations of every digit into the unpaged listing, by every page size", async () => {
    // Six recordings registered within one millisecond (created_at set to microseconds apart), and
    // durations that no decimal of fewer digits writes (1600/48510 s): a key read back to
    // milliseconds, or a float rounded, seeks past the rows it shares them with.
    const rows: [string, Partial<NewRecording>][] = Array.from({ length: 6 }, (_, i) => [`p${i}.wav`, { frames: 1600 + (i % 2), file_samplerate: 48_510 }]);
    const dataset = await datasetWith("precision", rows);
    await sql`UPDATE recordings SET created_at = '2025-03-04 05:06:07.123000+00'::timestamptz + (((ascii(substr(path, 2, 1)) - 48) * 5 % 6) || ' microseconds')::interval
      WHERE dataset_id = ${dataset}`;
    const [{ duration }] = await sql<{ duration: number }[]>`SELECT duration FROM recordings WHERE dataset_id = ${dataset} AND path = 'p0.wav'`;
    expect(duration).toBe(1600 / 48_510);
    for (const sort of ["created_at", "duration"] as const) {
      for (const order of ["asc", "desc"] as const) {
        const q = { state: "active", dataset_id: dataset, sort, order } as const;
        const whole = (await listRecordings(sql, { ...q, limit: 1000, offset: 0 })).items.map((r) => r.path);
        expect(new Set(whole).size, `${sort} ${order}`).toBe(6);
        for (let limit = 1; limit <= 6; limit++) expect(await byCursor(q, limit), `${sort} ${order} limit ${limit}`).toEqual(whole);
      }
    }
    const created = await sql<{ us: string }[]>`SELECT to_char(created_at, 'US') AS us FROM recordings WHERE dataset_id = ${dataset} ORDER BY created_at`;
    expect(created.map((r) => r.us)).toEqual(["123000", "123001", "123002", "123003", "123004", "123005"]);
  }, 60_000);

  it("refuses a cursor of other filters or state, naming the cursor", async () => {
    const one = await datasetWith("filtered-1", [["z1.wav", { date: "2025-01-01" }], ["z2.wav", { date: "2025-01-02" }]]);
    const two = await datasetWith("filtered-2", [["z1.wav", { date: "2025-01-01" }], ["z2.wav", { date: "2025-01-02" }]]);
    const q = { state: "active", dataset_id: one, sort: "path", order: "asc" } as const;
    const { next_cursor: cursor } = await listRecordings(sql, { ...q, limit: 1, offset: 0 });
    const refusal = (query: RecordingQuery) => listRecordings(sql, query).then(() => undefined, (err: unknown) => (err instanceof InvalidError ? err.fields : err));
    const otherFilters = [{ field: "cursor", message: "was made for other filters: give it with the filters and state of the page that gave it" }];
    for (const other of [{ dataset_id: two }, { state: "all" as const }, { search: "z" }, { hash: "0".repeat(32) }, { date_from: "2025-01-01" }, { date_to: "2025-01-02" }, { tag: { key: "k" } }]) {
      expect(await refusal({ ...q, ...other, limit: 1, offset: 0, cursor: cursor! }), JSON.stringify(other)).toEqual(otherFilters);
    }
    expect((await listRecordings(sql, { ...q, limit: 1, offset: 0, cursor: cursor! })).items.map((r) => r.path)).toEqual(["z2.wav"]);
  }, 60_000);

  it("takes the cursor of a search typed in another case or Unicode form, which lists the same recordings", async () => {
    const dataset = await datasetWith("searched", [["Café-1.wav"], ["cafe\u0301-2.wav"], ["CAFÉ-3.wav"], ["caf-4.wav"], ["tea.wav"]]);
    const q = { state: "active", dataset_id: dataset, sort: "path", order: "asc" } as const;
    const refusal = (query: RecordingQuery) => listRecordings(sql, query).then(() => undefined, (err: unknown) => (err instanceof InvalidError ? err.fields : err));
    /** The paths `search` lists, and those its first page's cursor gives with `other` instead (a 400's fields when it is refused). */
    const paged = async (search: string, other: string) => {
      const whole = (await listRecordings(sql, { ...q, search: other, limit: 1000, offset: 0 })).items.map((r) => r.path);
      const first = await listRecordings(sql, { ...q, search, limit: 1, offset: 0 });
      const rest = await listRecordings(sql, { ...q, search: other, limit: 1000, offset: 0, cursor: first.next_cursor! }).then((p) => p.items.map((r) => r.path), () => refusal({ ...q, search: other, limit: 1, offset: 0, cursor: first.next_cursor! }));
      return { whole, pages: [first.items[0].path, rest] };
    };
    // ILIKE lower-cases both sides: CAF and caf list the same four, and so page.
    const cased = await paged("caf", "CAF");
    expect(cased.whole).toHaveLength(4);
    expect(cased.pages).toEqual([cased.whole[0], cased.whole.slice(1)]);
    // The search is matched in NFC and NFD whichever it is typed in.
    const composed = await paged("café", "cafe\u0301");
    expect(composed.pages).toEqual([composed.whole[0], composed.whole.slice(1)]);
    // Another search is another listing still.
    expect((await paged("caf", "cafe")).pages[1]).toEqual([{ field: "cursor", message: "was made for other filters: give it with the filters and state of the page that gave it" }]);
    // É and é are one letter where the database's collation folds them (as ILIKE then lists the
    // same recordings), two under the C locale: the cursor is taken exactly when they are one.
    const [{ folded }] = await sql<{ folded: boolean }[]>`SELECT lower('É') = 'é' AS folded`;
    const accented = await paged("café", "CAFÉ");
    expect(accented.pages[1]).toEqual(folded ? accented.whole.slice(1) : [{ field: "cursor", message: "was made for other filters: give it with the filters and state of the page that gave it" }]);
  }, 60_000);

  it("blames the cursor for its own keys alone: another value PostgreSQL cannot read is named as without one", async () => {
    const dataset = await datasetWith("blamed", [["w1.wav", { date: "2025-01-01" }]]);
    const id = "00000000-0000-4000-8000-000000000000";
    const q = { state: "active", dataset_id: dataset, date_from: "2025-02-30", sort: "path", order: "asc" } as const;
    const refusal = (query: RecordingQuery) => listRecordings(sql, query).then(() => undefined, (err: unknown) => (err instanceof InvalidError ? err.fields : err));
    const filters = [dataset, undefined, undefined, "2025-02-30", undefined, undefined, undefined];
    const cursor = Buffer.from(JSON.stringify(["path", "asc", cursorFiltersDigest("active", filters), ["w1.wav"], id])).toString("base64url");
    const withoutCursor = await refusal({ ...q, limit: 1, offset: 0 });
    expect(withoutCursor).toEqual([{ field: "value", message: "has an invalid value" }]);
    expect(await refusal({ ...q, limit: 1, offset: 0, cursor })).toEqual(withoutCursor);
  }, 60_000);

  it("reads a page by path, created_at, duration or samplerate from the index where the last one ended, building its rows alone", async () => {
    // 20,000 recordings over two datasets, of 5 rates, varied lengths and registration times
    // (ties in each): few, and PostgreSQL reads and sorts the table whole.
    for (const name of ["indexed-1", "indexed-2"]) {
      const dataset = await datasetWith(name, []);
      await sql`INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels, probed_by, created_at)
        SELECT ${dataset}, 'site' || (i % 7) || '/f' || i || '.wav', md5(${name} || i), 16044, (ARRAY[8000, 16000, 44100, 48000, 96000])[1 + i % 5],
               8000 + (i * 7919) % 10007, 1, 'test', '2025-01-01'::timestamptz + ((i % 5000) || ' seconds')::interval
        FROM generate_series(1, 10000) i`;
    }
    await sql`ANALYZE recordings`;
    const indexes = { path: "recordings_path", created_at: "recordings_created_at", duration: "recordings_duration", samplerate: "recordings_samplerate" } as const;
    // Either order: NULLS LAST on the NOT NULL path (`path DESC NULLS LAST`) kept the index from a
    // descending page; descending, the id still ascends, sorted by PostgreSQL within each run of one key and path.
    for (const [sort, index] of Object.entries(indexes) as [keyof typeof indexes, string][]) {
      for (const order of ["asc", "desc"] as const) {
        const first = await listRecordings(sql, { state: "active", sort, order, limit: 10, offset: 0 });
        await listRecordings(sql, { state: "active", sort, order, limit: 10, offset: 0, cursor: first.next_cursor! });
        const seek = lastStatement!;
        const nodes = await planNodes(sql, seek);
        const scans = nodes.filter((n) => n["Relation Name"] === "recordings" && n["Index Name"] !== "recordings_pkey");
        const plan = `${sort} ${order}: ${JSON.stringify(nodes.map((n) => [n["Node Type"], n["Index Name"], n["Actual Rows"]]))}`;
        expect(scans.map((n) => n["Index Name"]), plan).toEqual([index]);
        // Read from the cursor on: the page's 10 and the one after, a few more of the same key at most — not the table.
        expect(scans[0]["Actual Rows"], plan).toBeLessThan(100);
        // The row read to know that more follow is not built: its features are read for the page's 10 alone.
        expect(await mostReadsOf(sql, "recording_features", seek)).toBe(10);
      }
    }
  }, 60_000);
});
