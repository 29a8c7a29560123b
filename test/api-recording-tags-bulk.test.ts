/**
 * POST and DELETE /v1/recordings/tags: one tag put on, or taken off, every recording of a
 * selection in one request — GET /v1/recordings' filters, or explicit ids. On the embedded
 * database, and on the PostgreSQL of DATABASE_URL when set.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { buildApp, type App } from "../src/api/app.js";
import { InvalidError } from "../src/store/errors.js";
import { MAX_SELECTED, tagRecordings, untagRecordings } from "../src/store/recording-tags.js";
import { resolveRoots } from "../src/store/paths.js";
import { createToken } from "../src/store/tokens.js";
import { createUser, ensureAdmin } from "../src/store/users.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let app: App;
let audio: { path: string; remove(): Promise<void> };
let admin: string;
let viewer: string;
let dataset: string;
let other: string;
/** Recording ids by path: site1/night1/a.wav, site1/night2/b.wav, site2/night1/c.wav (dataset), x.wav (other). */
const ids: Record<string, string> = {};

/**
 * The two ways to take a tag off a selection, answering alike: DELETE with a body, kept for its
 * callers, and POST …/remove, for the clients that drop a DELETE's body (OpenAPI 3.0.3).
 */
const REMOVALS = [["DELETE", "/v1/recordings/tags"], ["POST", "/v1/recordings/tags/remove"]] as const;
/** The bulk writes: the tagging and both removals. */
const WRITES = [["POST", "/v1/recordings/tags"], ...REMOVALS] as const;

async function call(method: "GET" | "POST" | "DELETE", url: string, payload?: object, token = admin) {
  return app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
}

async function ok(method: "GET" | "POST" | "DELETE", url: string, payload?: object) {
  const res = await call(method, url, payload);
  expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(200);
  return res.json();
}

/** The paths of the recordings (every state) carrying tag key=value, sorted. */
async function carrying(key: string, value: string): Promise<string[]> {
  const page = await ok("GET", `/v1/recordings?state=all&limit=100&tag_key=${key}&tag_value=${encodeURIComponent(value)}`);
  return page.items.map((r: { path: string }) => r.path).sort();
}

beforeAll(async () => {
  t = await freshDatabase();
  audio = await tempDir();
  admin = (await ensureAdmin(t.db.sql))!.key;
  const v = await createUser(t.db.sql, { username: "viewer", role: "viewer" });
  viewer = (await createToken(t.db.sql, { user_id: v.id, name: "v", created_by: null })).key;
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([audio.path]) });
  for (const [name, files] of [["main", ["site1/night1/a.wav", "site1/night2/b.wav", "site2/night1/c.wav"]], ["other", ["x.wav"]]] as const) {
    const dir = join(audio.path, name);
    await mkdir(dir);
    const created = await call("POST", "/v1/datasets", { name, audio_dir: dir });
    expect(created.statusCode, created.body).toBe(201);
    const d = created.json() as { id: string };
    if (name === "main") dataset = d.id;
    else other = d.id;
    for (const file of files) {
      await mkdir(join(dir, file, ".."), { recursive: true });
      await writeSineWav(join(dir, file), 8000, 0.2);
      const res = await call("POST", "/v1/recordings", { dataset_id: d.id, path: file });
      expect(res.statusCode, res.body).toBe(201);
      ids[file] = res.json().id;
    }
  }
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  await audio?.remove();
});

describe("POST /v1/recordings/tags", () => {
  it("tags a dataset's recordings under a path prefix (search), and a second call tags none anew", async () => {
    const body = { key: "site", value: "pond", filter: { dataset_id: dataset, search: "site1/" } };
    expect(await ok("POST", "/v1/recordings/tags", body)).toEqual({ matched: 2, added: 2, already_tagged: 0 });
    expect(await carrying("site", "pond")).toEqual(["site1/night1/a.wav", "site1/night2/b.wav"]);
    expect(await ok("POST", "/v1/recordings/tags", body)).toEqual({ matched: 2, added: 0, already_tagged: 2 });
    // The attachment records who made it, as a single tagging does.
    const [row] = await t.db.sql`SELECT count(*)::int AS n, count(DISTINCT rt.created_by)::int AS creators FROM recording_tags rt JOIN tags g ON g.id = rt.tag_id WHERE g.key = 'site'`;
    expect(row).toEqual({ n: 2, creators: 1 });
  });

  it("tags explicit recording_ids, across datasets, a repeated id counted once", async () => {
    const recording_ids = [ids["site2/night1/c.wav"], ids["x.wav"], ids["x.wav"]];
    expect(await ok("POST", "/v1/recordings/tags", { key: "checked", value: "yes", recording_ids })).toEqual({ matched: 2, added: 2, already_tagged: 0 });
    expect(await carrying("checked", "yes")).toEqual(["site2/night1/c.wav", "x.wav"]);
  });

  it("selects by the listing's tag filter and with all: true", async () => {
    expect(await ok("POST", "/v1/recordings/tags", { key: "reviewed", value: "1", filter: { tag_key: "site", tag_value: "pond" } })).toEqual({ matched: 2, added: 2, already_tagged: 0 });
    expect(await ok("POST", "/v1/recordings/tags", { key: "season", value: "2026", filter: { all: true } })).toEqual({ matched: 4, added: 4, already_tagged: 0 });
  });

  it("DELETE, and POST …/remove alike, takes the tag off the same selection, counting those that did not carry it", async () => {
    const filter = { dataset_id: dataset };
    for (const [method, url] of REMOVALS) {
      if (method === "POST") expect(await ok("POST", "/v1/recordings/tags", { key: "site", value: "pond", recording_ids: [ids["site1/night1/a.wav"], ids["site1/night2/b.wav"]] })).toEqual({ matched: 2, added: 2, already_tagged: 0 });
      expect(await ok(method, url, { key: "site", value: "pond", filter }), url).toEqual({ matched: 3, removed: 2, not_tagged: 1 });
      expect(await carrying("site", "pond"), url).toEqual([]);
      expect(await ok(method, url, { key: "site", value: "pond", filter }), url).toEqual({ matched: 3, removed: 0, not_tagged: 3 });
    }
    // The tag stays in the vocabulary, as a single removal leaves it.
    expect((await ok("GET", "/v1/tags?key=site")).total).toBe(1);
  });

  it("leaves archived recordings out of the default (active) selection, and refuses (409) a selection holding one, tagging none", async () => {
    const archived = ids["site1/night2/b.wav"];
    expect((await call("POST", `/v1/recordings/${archived}/archive`)).statusCode).toBe(200);
    try {
      expect(await ok("POST", "/v1/recordings/tags", { key: "night", value: "1", filter: { dataset_id: dataset, search: "site1/" } })).toEqual({ matched: 1, added: 1, already_tagged: 0 });
      for (const selection of [{ recording_ids: [ids["site1/night1/a.wav"], archived] }, { filter: { dataset_id: dataset, state: "all" } }]) {
        for (const [method, url] of WRITES) {
          const res = await call(method, url, { key: "night", value: "2", ...selection });
          expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(409);
          expect(res.json().message).toContain(archived);
          expect(res.json().message).toMatch(/archived or trashed and read-only/);
        }
      }
      expect(await carrying("night", "2")).toEqual([]);
      // Under an archived dataset every recording is read-only, whatever its own state.
      expect((await call("POST", `/v1/datasets/${other}/archive`)).statusCode).toBe(200);
      const res = await call("POST", "/v1/recordings/tags", { key: "night", value: "2", recording_ids: [ids["x.wav"]] });
      expect([res.statusCode, res.json().message]).toEqual([409, expect.stringContaining(ids["x.wav"])]);
      expect((await call("POST", `/v1/datasets/${other}/restore`)).statusCode).toBe(200);
    } finally {
      expect((await call("POST", `/v1/recordings/${archived}/restore`)).statusCode).toBe(200);
    }
  });

  it("answers 404 naming a recording id that does not exist, tagging none", async () => {
    const missing = "00000000-0000-4000-8000-000000000001";
    const res = await call("POST", "/v1/recordings/tags", { key: "ghost", value: "1", recording_ids: [ids["x.wav"], missing] });
    expect([res.statusCode, res.json().message]).toEqual([404, expect.stringContaining(missing)]);
    expect(await carrying("ghost", "1")).toEqual([]);
  });

  it("refuses (400, naming the field) a selection that is empty by accident or malformed", async () => {
    const cases: [object, string][] = [
      [{ key: "a", value: "b", filter: {} }, "filter.all"],
      [{ key: "a", value: "b", filter: { state: "archived" } }, "filter.all"],
      [{ key: "a", value: "b", filter: { all: false } }, "filter.all"],
      [{ key: "a", value: "b", filter: { search: "" } }, "filter.all"], // an empty search holds every path
      [{ key: "a", value: "b", filter: { date_from: "2025-07-02", date_to: "2025-07-01" } }, "filter.date_to"],
      [{ key: "a", value: "b" }, "filter"],
      [{ key: "a", value: "b", recording_ids: [] }, "recording_ids"],
      [{ key: "a", value: "b", recording_ids: ["nope"] }, "recording_ids.0"],
      [{ key: "a", value: "b", recording_ids: [ids["x.wav"]], filter: { dataset_id: dataset } }, "recording_ids"],
      [{ key: "a", value: "b", recording_ids: Array.from({ length: 10_001 }, () => ids["x.wav"]) }, "recording_ids"],
      [{ key: "a", value: "b", filter: { dataset_id: "x" } }, "filter.dataset_id"],
      [{ key: "a", value: "b", filter: { tag_value: "v" } }, "filter.tag_value"],
      [{ key: "a", value: "b", filter: { datset_id: dataset } }, "datset_id"],
      [{ key: " ", value: "b", filter: { all: true } }, "key"],
    ];
    for (const [body, field] of cases) {
      for (const [method, url] of WRITES) {
        const res = await call(method, url, body);
        expect(res.statusCode, `${method} ${url} ${JSON.stringify(body).slice(0, 200)}: ${res.body.slice(0, 300)}`).toBe(400);
        expect(res.json().message, JSON.stringify(body).slice(0, 200)).toContain(field);
      }
    }
    expect(await carrying("a", "b")).toEqual([]);
  });

  it("is refused by the store itself when a filter narrows nothing without all — an InvalidError naming all, nothing tagged", async () => {
    const unnarrowed = [{ state: "active" as const }, { state: "all" as const }, { state: "active" as const, search: "" }, { state: "active" as const, all: false }];
    for (const s of unnarrowed) {
      for (const write of [() => tagRecordings(t.db.sql, s, { key: "store", value: "1", created_by: null }), () => untagRecordings(t.db.sql, s, { key: "season", value: "2026" })]) {
        const err = await write().catch((e: unknown) => e);
        expect(err, JSON.stringify(s)).toBeInstanceOf(InvalidError);
        expect((err as InvalidError).fields).toEqual([{ field: "all", message: "no filter narrows the selection (dataset_id, a non-empty search, hash, date_from, date_to or tag; a state alone does not): it selects every recording of its state; give one, or all to mean every recording" }]);
      }
    }
    expect(await carrying("store", "1")).toEqual([]);
    expect((await carrying("season", "2026")).length).toBe(4);
    // The API says the store's refusal in the body's names.
    const res = await call("POST", "/v1/recordings/tags", { key: "store", value: "1", filter: { state: "all", search: "" } });
    expect([res.statusCode, res.json().fields]).toEqual([400, [{ field: "filter.all", message: "a filter without dataset_id, search, hash, date_from, date_to, tag_key selects every recording: give one, or all: true to mean every recording" }]]);
    // all says every recording is meant; a narrowing filter needs none.
    expect(await tagRecordings(t.db.sql, { state: "active", all: true }, { key: "store", value: "1", created_by: null })).toEqual({ matched: 4, added: 4, already_tagged: 0 });
    expect(await untagRecordings(t.db.sql, { state: "active", dataset_id: other }, { key: "store", value: "1" })).toEqual({ matched: 1, removed: 1, not_tagged: 0 });
    expect(await untagRecordings(t.db.sql, { state: "active", search: "site1/", all: false }, { key: "store", value: "1" })).toEqual({ matched: 2, removed: 2, not_tagged: 0 });
  });

  it("refuses a selection by filters over the limit (400 naming filter), changing nothing", async () => {
    expect(MAX_SELECTED).toBe(100_000);
    const filter = { state: "active" as const, dataset_id: dataset };
    for (const write of [() => tagRecordings(t.db.sql, filter, { key: "limit", value: "1", created_by: null }, 2), () => untagRecordings(t.db.sql, filter, { key: "season", value: "2026" }, 2)]) {
      const err = await write().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidError);
      expect((err as InvalidError).message).toBe("filter: selects more than 2 recordings, the most one bulk tagging writes (the limit); narrow it (dataset_id, search: a folder) and tag the parts one at a time");
    }
    expect(await tagRecordings(t.db.sql, filter, { key: "limit", value: "1", created_by: null }, 3)).toEqual({ matched: 3, added: 3, already_tagged: 0 });
    expect((await carrying("season", "2026")).length).toBe(4);
  });

  it("is refused (403) to a viewer, as a single tagging is", async () => {
    for (const [method, url] of WRITES) {
      const res = await call(method, url, { key: "v", value: "1", filter: { all: true } }, viewer);
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(403);
    }
    expect(await carrying("v", "1")).toEqual([]);
  });

  it("is in the OpenAPI document — the removal also as POST …/remove, with the DELETE's body and answers, which the DELETE tells generated clients to prefer (OpenAPI 3.0.3 lets them ignore a DELETE's body)", async () => {
    const doc = (await ok("GET", "/openapi.json"));
    expect(Object.keys(doc.paths["/v1/recordings/tags"]).sort()).toEqual(["delete", "post"]);
    expect(Object.keys(doc.paths["/v1/recordings/tags/remove"])).toEqual(["post"]);
    const [remove, del] = [doc.paths["/v1/recordings/tags/remove"].post, doc.paths["/v1/recordings/tags"].delete];
    expect(remove.operationId).toBe("postRecordingsTagsRemove");
    expect(remove.requestBody).toEqual(del.requestBody);
    expect(remove.requestBody.required).toBe(true);
    expect(remove.responses).toEqual(del.responses);
    expect(del.description).toContain("Generated clients: prefer POST /v1/recordings/tags/remove");
  });
});
