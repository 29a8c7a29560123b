/**
 * The clips list's filters: a recording's clips overlapping a time window (start_before,
 * end_after), a dataset's clips (dataset_id), clips carrying a tag (tag_key, tag_value), and
 * their combinations. Each expectation differs from what a filter ignored, or one comparing
 * with <= or >= at a clip's bound, would list.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { resolveRoots } from "../src/store/paths.js";
import { ensureAdmin } from "../src/store/users.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let app: App;
let dirs: { path: string; remove(): Promise<void> }[] = [];
let headers: { authorization: string };
const datasets: Record<"A" | "B", string> = { A: "", B: "" };
const recordings: Record<"a1" | "a2" | "b1", string> = { a1: "", a2: "", b1: "" };
/** Clip ids by name: A–G on recording a1 (dataset A), H on a2 (dataset A), I on b1 (dataset B). */
const clips: Record<string, string> = {};
const names = new Map<string, string>();

/** The clips a list query gives (a page of 1000), by name, in the order listed. */
async function listed(query: string): Promise<string[]> {
  const res = await app.inject({ url: `/v1/clips?${query}&limit=1000` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().items.map((c: { id: string }) => names.get(c.id));
}

/** The 400 a list query gets: its fields as [field, message] pairs. */
async function refused(query: string): Promise<[string, string][]> {
  const res = await app.inject({ url: `/v1/clips?${query}` });
  expect(res.statusCode, res.body).toBe(400);
  return res.json().fields.map((f: { field: string; message: string }) => [f.field, f.message]);
}

beforeAll(async () => {
  t = await freshDatabase();
  dirs = [await tempDir(), await tempDir()]; // two datasets: neither directory may lie inside the other
  await writeSineWav(join(dirs[0].path, "a1.wav"), 8000, 10);
  await writeSineWav(join(dirs[0].path, "a2.wav"), 8000, 2);
  await writeSineWav(join(dirs[1].path, "b1.wav"), 8000, 2);
  headers = { authorization: `Bearer ${(await ensureAdmin(t.db.sql))!.key}` };
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots(dirs.map((d) => d.path)) });
  const post = async (url: string, payload: object) => {
    const res = await app.inject({ method: "POST", url, payload, headers });
    expect(res.statusCode, res.body).toBeLessThan(300);
    return res.json();
  };
  for (const [name, dir] of [["A", dirs[0]], ["B", dirs[1]]] as const) datasets[name] = (await post("/v1/datasets", { name, audio_dir: dir.path })).id;
  for (const [name, d] of [["a1", "A"], ["a2", "A"], ["b1", "B"]] as const) recordings[name] = (await post("/v1/recordings", { dataset_id: datasets[d], path: `${name}.wav` })).id;
  // Bounds that are exact binary fractions, so a comparison at a bound is exact.
  const bounds: [string, keyof typeof recordings, number, number][] = [
    ["A", "a1", 0, 1], ["B", "a1", 1, 2], ["C", "a1", 2, 3], ["D", "a1", 2.5, 4], ["E", "a1", 3, 4], ["F", "a1", 0.5, 5], ["G", "a1", 5, 6],
    ["H", "a2", 0, 1], ["I", "b1", 0, 1],
  ];
  for (const [name, rec, start_time, end_time] of bounds) {
    clips[name] = (await post("/v1/clips", { recording_id: recordings[rec], start_time, end_time })).id;
    names.set(clips[name], name);
  }
  for (const [name, key, value] of [["C", "species", "x"], ["D", "species", "y"], ["I", "species", "x"], ["G", "call", "x"]]) await post(`/v1/clips/${clips[name]}/tags`, { key, value });
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  for (const d of dirs) await d.remove();
});

describe("GET /v1/clips", () => {
  it("lists a recording's clips overlapping a window [end_after, start_before): a clip ending at its start or starting at its end is not in it", async () => {
    const a1 = `recording_id=${recordings.a1}`;
    expect(await listed(a1)).toEqual(["A", "F", "B", "C", "D", "E", "G"]); // by start_time
    // [2, 3): B ends at 2 and E starts at 3 — out; C, D and F (0.5–5, across the window) in.
    expect(await listed(`${a1}&end_after=2&start_before=3`)).toEqual(["F", "C", "D"]);
    // A hair wider on either side takes B or E in.
    expect(await listed(`${a1}&end_after=1.9999999&start_before=3`)).toEqual(["F", "B", "C", "D"]);
    expect(await listed(`${a1}&end_after=2&start_before=3.0000001`)).toEqual(["F", "C", "D", "E"]);
    // Each on its own: start_time < 1 (B starts at 1), end_time > 4 (D and E end at 4).
    expect(await listed(`${a1}&start_before=1`)).toEqual(["A", "F"]);
    expect(await listed(`${a1}&end_after=4`)).toEqual(["F", "G"]);
    // A window left of 0, as a view scrolled past the start asks it, and one past every clip.
    expect(await listed(`${a1}&end_after=-2&start_before=0.5`)).toEqual(["A"]);
    expect(await listed(`${a1}&end_after=6`)).toEqual([]);
    // start_before <= end_after is no window but still two conditions: the clips spanning [1, 4] with room on both sides.
    expect(await listed(`${a1}&start_before=1&end_after=4`)).toEqual(["F"]);
    expect(await listed(`${a1}&start_before=2.5&end_after=2.5`)).toEqual(["F", "C"]);
  });

  it("lists a dataset's clips, alone or with a recording, a window and a page", async () => {
    const { A, B } = datasets;
    expect((await listed(`dataset_id=${A}`)).sort()).toEqual(["A", "B", "C", "D", "E", "F", "G", "H"]);
    expect(await listed(`dataset_id=${B}`)).toEqual(["I"]);
    // A recording of another dataset: nothing.
    expect(await listed(`dataset_id=${A}&recording_id=${recordings.b1}`)).toEqual([]);
    expect(await listed(`dataset_id=${A}&recording_id=${recordings.a2}`)).toEqual(["H"]);
    // [0.5, 1) in dataset A: A and H (0–1) and F (from 0.5); not I (dataset B), nor B (from 1).
    expect((await listed(`dataset_id=${A}&end_after=0.5&start_before=1`)).sort()).toEqual(["A", "F", "H"]);
    // Starts, latest first: G 5, E 3, D 2.5, C 2, …; the page after the first.
    const page = (await app.inject({ url: `/v1/clips?dataset_id=${A}&sort=start_time&order=desc&limit=3&offset=1` })).json();
    expect([page.items.map((c: { id: string }) => names.get(c.id)), page.total, page.limit, page.offset]).toEqual([["E", "D", "C"], 8, 3, 1]);
  });

  it("lists clips carrying a tag: a key alone (any value) or a key and a value, with the other filters", async () => {
    expect((await listed("tag_key=species")).sort()).toEqual(["C", "D", "I"]);
    expect((await listed("tag_key=species&tag_value=x")).sort()).toEqual(["C", "I"]);
    expect(await listed("tag_key=call")).toEqual(["G"]);
    expect(await listed("tag_key=habitat")).toEqual([]);
    expect(await listed("tag_key=species&tag_value=X")).toEqual([]); // exact, case-sensitive
    expect(await listed(`tag_key=species&recording_id=${recordings.a1}`)).toEqual(["C", "D"]);
    // With a window [3, 3.5): C ends at 3, D (2.5–4) overlaps it.
    expect(await listed(`tag_key=species&recording_id=${recordings.a1}&end_after=3&start_before=3.5`)).toEqual(["D"]);
    expect(await listed(`tag_key=species&tag_value=x&dataset_id=${datasets.B}`)).toEqual(["I"]);
  });

  it("refuses a tag_value without tag_key and times that are no finite number, naming the field", async () => {
    expect(await refused("tag_value=x")).toEqual([["tag_value", "needs tag_key: a tag is a key and a value"]]);
    for (const bad of ["1e400", "Infinity", "NaN", "0x10", "", "soon"]) {
      expect(await refused(`start_before=${bad}`), bad).toEqual([["start_before", "must be a finite number of seconds"]]);
      expect(await refused(`end_after=${bad}`), bad).toEqual([["end_after", "must be a finite number of seconds"]]);
    }
    // A version-0 UUID is well-formed, and refused saying which UUIDs are taken: it was "must be a UUID".
    const rule = "must be an RFC 9562 UUID: 8-4-4-4-12 hex digits, the 13th (the version) 1 to 8 and the 17th (the variant) 8, 9, a or b — or the nil or max UUID (all 0, all f)";
    expect(await refused("dataset_id=00000000-0000-0000-0000-000000000001")).toEqual([["dataset_id", rule]]);
    expect(await refused("dataset_id=nope")).toEqual([["dataset_id", rule]]);
  });

  it("documents the filters in the OpenAPI document", async () => {
    const get = (await app.inject({ url: "/openapi.json" })).json().paths["/v1/clips"].get;
    const described = Object.fromEntries(get.parameters.map((p: { name: string; description?: string }) => [p.name, p.description]));
    expect(described).toMatchObject({
      dataset_id: "Only the clips of this dataset's recordings",
      start_before: "Only clips that start before this time: start_time < start_before (s, real time)",
      end_after: "Only clips that end after this time: end_time > end_after (s, real time)",
      tag_key: "Only clips carrying a tag of this key: of any value, or of tag_value when given",
      tag_value: "With tag_key: only clips carrying the tag tag_key = tag_value (exact, case-sensitive)",
    });
    expect(get.description).toContain("the window [end_after, start_before)");
  });

  it("pages by cursor: next_cursor to the end, the clips listed by offset; a cursor of another query is a 400 naming it", async () => {
    const url = `/v1/clips?dataset_id=${datasets.A}&sort=end_time&order=desc&limit=3`;
    const byOffset = (await app.inject({ url: url.replace("limit=3", "limit=1000") })).json().items.map((c: { id: string }) => names.get(c.id));
    expect(byOffset).toHaveLength(8);
    const pages: { offset: number | null; total: number | null; names: string[] }[] = [];
    for (let cursor = ""; ;) {
      const res = await app.inject({ url: url + cursor });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json();
      pages.push({ offset: page.offset, total: page.total, names: page.items.map((c: { id: string }) => names.get(c.id)) });
      if (page.next_cursor === null) break;
      cursor = `&cursor=${page.next_cursor}`;
    }
    expect(pages.map((p) => [p.offset, p.total])).toEqual([[0, 8], [null, null], [null, null]]);
    expect(pages.flatMap((p) => p.names)).toEqual(byOffset);
    const { next_cursor: cursor } = (await app.inject({ url })).json();
    expect(await refused(`dataset_id=${datasets.A}&sort=end_time&order=desc&limit=3&tag_key=species&cursor=${cursor}`))
      .toEqual([["cursor", "was made for other filters: give it with the filters and state of the page that gave it"]]);
    expect(await refused(`dataset_id=${datasets.A}&sort=end_time&order=desc&limit=3&offset=3&cursor=${cursor}`)).toEqual([["offset", "must be 0 with a cursor: the cursor says where the page begins"]]);
    expect((await refused(`cursor=${"x".repeat(1000)}`))[0][0]).toBe("cursor");
    const get = (await app.inject({ url: "/openapi.json" })).json().paths["/v1/clips"].get;
    expect(get.parameters.find((p: { name: string }) => p.name === "cursor").description).toMatch(/^A page's next_cursor, given with that page's filters, state, own_state, sort and order unchanged \(limit may change\)/);
    // The notes listing has no sort or order: its cursor's description names what it has.
    const notes = (await app.inject({ url: "/openapi.json" })).json().paths["/v1/notes"].get;
    expect(notes.parameters.find((p: { name: string }) => p.name === "cursor").description).toMatch(/^A page's next_cursor, given with that page's filters and state unchanged/);
    expect(notes.responses["200"].content["application/json"].schema.properties.next_cursor.description).toMatch(/^Where the next page begins \(give it as cursor, with the same filters and state; limit may change\)/);
    expect(get.responses["200"].content["application/json"].schema.properties.next_cursor.description).toMatch(/^Where the next page begins .*; null when no clip follows this page$/);
  });
});

describe("GET /v1/notes", () => {
  it("pages by cursor, newest first: next_cursor to the end; a cursor of other filters is a 400 naming it", async () => {
    for (const message of ["one", "two", "three"]) {
      const res = await app.inject({ method: "POST", url: "/v1/notes", payload: { message, clip_id: clips.C }, headers });
      expect(res.statusCode, res.body).toBe(201);
    }
    const url = `/v1/notes?clip_id=${clips.C}&limit=2`;
    const first = (await app.inject({ url })).json();
    expect(first).toMatchObject({ offset: 0, total: 3, next_cursor: expect.any(String) });
    const second = (await app.inject({ url: `${url}&cursor=${first.next_cursor}` })).json();
    expect(second).toMatchObject({ offset: null, total: null, next_cursor: null });
    expect([...first.items, ...second.items].map((n: { message: string }) => n.message)).toEqual(["three", "two", "one"]);
    const other = await app.inject({ url: `${url}&is_issue=true&cursor=${first.next_cursor}` });
    expect([other.statusCode, other.json().fields]).toEqual([400, [{ field: "cursor", message: "was made for other filters: give it with the filters and state of the page that gave it" }]]);
    const get = (await app.inject({ url: "/openapi.json" })).json().paths["/v1/notes"].get;
    expect(get.parameters.map((p: { name: string }) => p.name)).toContain("cursor");
    expect(get.responses["200"].content["application/json"].schema.properties.next_cursor.description).toMatch(/null when no note follows this page$/);
  });
});
