/**
 * GET /v1/tags: the vocabulary, and the tags in use within a dataset or a recording (dataset_id,
 * recording_id: carried by its recordings or their clips), found by text in the key or the value
 * (search) — what the viewer's tag completion asks for. On the embedded database, and on the
 * PostgreSQL of DATABASE_URL when set: the scoped listing reads the scope's rows through indexes,
 * not every tag attachment.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { buildApp, type App } from "../src/api/app.js";
import { resolveRoots } from "../src/store/paths.js";
import { listTags } from "../src/store/tags.js";
import { ensureAdmin } from "../src/store/users.js";
import { freshDatabase, planNodes, tempDir, writeSineWav, type PlanNode, type TestDatabase } from "./store-helpers.js";
import { mkdir } from "node:fs/promises";

let t: TestDatabase;
let app: App;
let audio: { path: string; remove(): Promise<void> };
let admin: string;

async function call(method: "GET" | "POST" | "PATCH" | "DELETE", url: string, payload?: object) {
  const res = await app.inject({ method, url, headers: { authorization: `Bearer ${admin}` }, ...(payload ? { payload } : {}) });
  expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
  return res.body ? res.json() : null;
}

/** The tags GET /v1/tags?`query` lists, as "key: value". */
async function listed(query: string): Promise<string[]> {
  const res = await app.inject({ url: `/v1/tags?${query}` });
  expect(res.statusCode, res.body).toBe(200);
  const page = res.json();
  expect(page.total).toBe(page.items.length);
  return page.items.map((tag: { key: string; value: string }) => `${tag.key}: ${tag.value}`);
}

beforeAll(async () => {
  t = await freshDatabase();
  audio = await tempDir();
  admin = (await ensureAdmin(t.db.sql))!.key;
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([audio.path]) });
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  await audio?.remove();
});

describe("GET /v1/tags", () => {
  it("lists the tags in use within a dataset or a recording (its own and its clips'), and finds text in keys as in values", async () => {
    const datasets: string[] = [];
    const recordings: string[] = [];
    for (const name of ["north", "south"]) {
      await mkdir(join(audio.path, name));
      datasets.push((await call("POST", "/v1/datasets", { name, audio_dir: join(audio.path, name) })).id);
      for (const file of ["a.wav", "b.wav"]) {
        await writeSineWav(join(audio.path, name, file), 8000, 1);
        recordings.push((await call("POST", "/v1/recordings", { dataset_id: datasets.at(-1), path: file })).id);
      }
    }
    const [northA, northB, southA] = recordings;
    const clip = async (recording: string, tags: [string, string][], start = 0.1) => {
      const c = await call("POST", "/v1/clips", { recording_id: recording, start_time: start, end_time: start + 0.2 });
      for (const [key, value] of tags) await call("POST", `/v1/clips/${c.id}/tags`, { key, value });
      return c.id as string;
    };
    await clip(northA, [["species", "Myotis daubentonii"], ["quality", "faint"]]);
    await call("POST", `/v1/recordings/${northA}/tags`, { key: "site", value: "pond" });
    await clip(northB, [["species", "Pipistrellus pygmaeus"]]);
    await clip(southA, [["species", "Nyctalus noctula"]]);
    const trashed = await clip(southA, [["species", "Eptesicus serotinus"]], 0.5);
    await call("POST", `/v1/clips/${trashed}/trash`);
    await call("POST", "/v1/tags", { key: "call", value: "social" }); // in the vocabulary, on nothing

    expect(await listed("limit=100")).toEqual(["call: social", "quality: faint", "site: pond", "species: Eptesicus serotinus", "species: Myotis daubentonii", "species: Nyctalus noctula", "species: Pipistrellus pygmaeus"]);
    // A dataset's: its recordings' and their clips'.
    expect(await listed(`dataset_id=${datasets[0]}`)).toEqual(["quality: faint", "site: pond", "species: Myotis daubentonii", "species: Pipistrellus pygmaeus"]);
    // A trashed clip's tags are not in use.
    expect(await listed(`dataset_id=${datasets[1]}`)).toEqual(["species: Nyctalus noctula"]);
    // A recording's: its own and its clips'; with its dataset the same, with another none.
    expect(await listed(`recording_id=${northA}`)).toEqual(["quality: faint", "site: pond", "species: Myotis daubentonii"]);
    expect(await listed(`recording_id=${northA}&dataset_id=${datasets[0]}`)).toEqual(["quality: faint", "site: pond", "species: Myotis daubentonii"]);
    expect(await listed(`recording_id=${northA}&dataset_id=${datasets[1]}`)).toEqual([]);
    expect(await listed(`recording_id=${recordings[3]}`)).toEqual([]);
    // With the other filters, and paged.
    expect(await listed(`dataset_id=${datasets[0]}&key=species`)).toEqual(["species: Myotis daubentonii", "species: Pipistrellus pygmaeus"]);
    const second = (await app.inject({ url: `/v1/tags?dataset_id=${datasets[0]}&limit=1&offset=1` })).json();
    expect([second.total, second.items.map((tag: { key: string }) => tag.key)]).toEqual([4, ["site"]]);

    // search: text held by the key or the value, whatever its case.
    expect(await listed("search=QUAL")).toEqual(["quality: faint"]);
    expect(await listed("search=ec")).toEqual(["species: Eptesicus serotinus", "species: Myotis daubentonii", "species: Nyctalus noctula", "species: Pipistrellus pygmaeus"]);
    expect(await listed("search=pond")).toEqual(["site: pond"]);
    expect(await listed(`search=i&recording_id=${northB}`)).toEqual(["species: Pipistrellus pygmaeus"]);
    expect(await listed("search=%25")).toEqual([]); // a LIKE wildcard is text here
  });

  it("refuses a dataset_id or recording_id that is no id, naming it", async () => {
    for (const field of ["dataset_id", "recording_id"]) {
      const res = await app.inject({ url: `/v1/tags?${field}=north` });
      expect(res.statusCode).toBe(400);
      expect(res.json().fields.map((f: { field: string }) => f.field)).toEqual([field]);
    }
  });
});

/**
 * Rows the plan's nodes on `relation` read, over all their loops: those they returned and those
 * their filter dropped (a lookup's test of each attachment). PostgreSQL 15 gives both per loop
 * rounded to a whole row, so this is exact within half a row a loop.
 */
function rowsRead(nodes: PlanNode[], relation: string): number {
  return nodes.filter((n) => n["Relation Name"] === relation).reduce((sum, n) => {
    const counts = n as unknown as { "Actual Rows": number; "Rows Removed by Filter"?: number };
    return sum + (counts["Actual Rows"] + (counts["Rows Removed by Filter"] ?? 0)) * n["Actual Loops"];
  }, 0);
}

it("lists a dataset's tags through indexes: no scan of every tag, attachment, clip or recording", async () => {
  const heard: { statement: string; parameters: unknown[] }[] = [];
  const own = await freshDatabase({ onStatement: (statement, parameters) => heard.push({ statement, parameters }) });
  const sql = own.db.sql;
  try {
    // 50 datasets of 20 recordings, each with 20 clips of 2 tags and a tag of its own, out of 20,000 tags.
    await sql`INSERT INTO tags (key, value) SELECT 'k' || (i % 50), 'v' || i FROM generate_series(1, 20000) i`;
    await sql`INSERT INTO datasets (name, audio_dir) SELECT 'd' || i, '/audio/d' || i FROM generate_series(1, 50) i`;
    await sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels)
      SELECT d.id, 'r' || i || '.wav', md5(d.name || i), 1000, 48000, 480000, 1 FROM datasets d, generate_series(1, 20) i`;
    await sql`INSERT INTO clips (recording_id, start_time, end_time) SELECT r.id, i, i + 0.5 FROM recordings r, generate_series(1, 20) i`;
    await sql`
      WITH numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM clips), tag AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM tags)
      INSERT INTO clip_tags (clip_id, tag_id) SELECT DISTINCT c.id, t.id FROM numbered c, LATERAL (VALUES (c.n % 20000 + 1), ((c.n * 7) % 20000 + 1)) AS pick (n) JOIN tag t ON t.n = pick.n`;
    await sql`
      WITH numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM recordings), tag AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM tags)
      INSERT INTO recording_tags (recording_id, tag_id) SELECT r.id, t.id FROM numbered r JOIN tag t ON t.n = r.n * 3`;
    await sql`ANALYZE`;
    const [{ id: datasetId }] = await sql`SELECT id FROM datasets WHERE name = 'd17'`;
    const [{ n: expected }] = await sql`
      SELECT count(DISTINCT tag_id)::int AS n FROM (
        SELECT ct.tag_id FROM clip_tags ct JOIN clips c ON c.id = ct.clip_id JOIN recordings r ON r.id = c.recording_id WHERE r.dataset_id = ${datasetId}
        UNION ALL SELECT rt.tag_id FROM recording_tags rt JOIN recordings r ON r.id = rt.recording_id WHERE r.dataset_id = ${datasetId}) used`;
    expect(expected).toBeGreaterThan(400);
    heard.length = 0;
    const page = await listTags(sql, { limit: 50, offset: 0, dataset_id: datasetId });
    expect([page.items.length, page.total]).toEqual([50, expected]);
    const listing = heard.find((h) => /FROM tags WHERE/.test(h.statement))!;
    // At this size a scan of the 20,000 clips is the planner's cheaper choice; what must hold is
    // that every table can be reached by an index from the dataset, as the planner does once the
    // tables are large (PostgreSQL 15, 1,000,000 clips: see the commit). Seq scans off, any left
    // would be a table with no such path.
    const nodes = await sql.begin(async (tx) => {
      await tx`SET LOCAL enable_seqscan = off`;
      return planNodes(tx as unknown as typeof sql, listing);
    });
    const scans = nodes.filter((n) => n["Node Type"] === "Seq Scan").map((n) => n["Relation Name"]);
    expect(nodes.filter((n) => n["Relation Name"]).length).toBeGreaterThanOrEqual(5);
    expect(scans).toEqual([]);
  } finally {
    await own.cleanup();
  }
}, 120_000);

it("lists a large dataset's tags tag by tag, reading a few attachments, not the dataset's thousands; the same tags as its attachments hold", async () => {
  const heard: { statement: string; parameters: unknown[] }[] = [];
  const own = await freshDatabase({ onStatement: (statement, parameters) => heard.push({ statement, parameters }) });
  const sql = own.db.sql;
  try {
    // "large": 2 recordings of 3,000 clips, each clip a species of 4; "small": 1 recording of 10
    // clips of a species of its own and one of large's. A trashed clip of large carries a tag of its
    // own; a recording of each dataset carries a site.
    await sql`INSERT INTO tags (key, value) SELECT 'species', v FROM unnest(ARRAY['s0', 's1', 's2', 's3', 'small only', 'trashed only', 'on nothing']) v`;
    await sql`INSERT INTO tags (key, value) VALUES ('site', 'pond'), ('site', 'bank')`;
    await sql`INSERT INTO datasets (name, audio_dir) VALUES ('large', '/audio/large'), ('small', '/audio/small')`;
    await sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels)
      SELECT d.id, 'r' || i || '.wav', md5(d.name || i), 1000, 48000, 480000000, 1 FROM datasets d, generate_series(1, CASE d.name WHEN 'large' THEN 2 ELSE 1 END) i`;
    await sql`
      INSERT INTO clips (recording_id, start_time, end_time)
      SELECT r.id, i, i + 0.5 FROM recordings r JOIN datasets d ON d.id = r.dataset_id, generate_series(1, CASE d.name WHEN 'large' THEN 3000 ELSE 10 END) i`;
    await sql`
      INSERT INTO clip_tags (clip_id, tag_id)
      SELECT c.id, t.id FROM clips c JOIN recordings r ON r.id = c.recording_id JOIN datasets d ON d.id = r.dataset_id
      JOIN tags t ON t.value = CASE WHEN d.name = 'small' THEN CASE WHEN c.start_time < 5 THEN 'small only' ELSE 's2' END ELSE 's' || (c.start_time::int % 4) END`;
    const [{ id: trashed }] = await sql`SELECT c.id FROM clips c JOIN recordings r ON r.id = c.recording_id WHERE r.path = 'r1.wav' LIMIT 1`;
    await sql`UPDATE clips SET state = 'trashed' WHERE id = ${trashed}`;
    await sql`INSERT INTO clip_tags (clip_id, tag_id) SELECT ${trashed}, id FROM tags WHERE value = 'trashed only'`;
    await sql`
      INSERT INTO recording_tags (recording_id, tag_id)
      SELECT r.id, t.id FROM recordings r JOIN datasets d ON d.id = r.dataset_id JOIN tags t ON t.value = CASE d.name WHEN 'large' THEN 'pond' ELSE 'bank' END
      WHERE r.path = 'r1.wav'`;
    await sql`ANALYZE`;
    const [{ id: large }] = await sql`SELECT id FROM datasets WHERE name = 'large'`;
    const [{ id: small }] = await sql`SELECT id FROM datasets WHERE name = 'small'`;
    const values = async (q: Parameters<typeof listTags>[1]) => {
      const page = await listTags(sql, q);
      return [page.total, page.items.map((t) => t.value)];
    };

    heard.length = 0;
    expect(await values({ dataset_id: large, limit: 100, offset: 0 })).toEqual([5, ["pond", "s0", "s1", "s2", "s3"]]);
    const listing = heard.find((h) => /FROM tags WHERE/.test(h.statement))!;
    // Each tag's attachments by tag, the first in the dataset ending the search: a few rows read
    // of clip_tags, where the dataset's attachments are 6,000.
    const nodes = await planNodes(sql, listing);
    const read = rowsRead(nodes, "clip_tags");
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThan(50);
    // And each attachment's clip by its key: not the clips in key order up to a tag's last one.
    expect(rowsRead(nodes, "clips")).toBeLessThan(50);
    // Paged and filtered as before; a small dataset beside it is read from its own attachments.
    expect(await values({ dataset_id: large, limit: 2, offset: 1 })).toEqual([5, ["s0", "s1"]]);
    expect(await values({ dataset_id: large, search: "S3", limit: 100, offset: 0 })).toEqual([1, ["s3"]]);
    expect(await values({ dataset_id: small, limit: 100, offset: 0 })).toEqual([3, ["bank", "s2", "small only"]]);
  } finally {
    await own.cleanup();
  }
}, 120_000);

it("lists a large dataset's tags from its own attachments when the database holds many more clips: not the others' attachments, tag by tag", async () => {
  const heard: { statement: string; parameters: unknown[] }[] = [];
  const own = await freshDatabase({ onStatement: (statement, parameters) => heard.push({ statement, parameters }) });
  const sql = own.db.sql;
  try {
    // Datasets "b" of 6,000 clips and "a" of 24,000, one recording each, each clip a species of
    // five of its own dataset's: a's tags are used 24,000 times, none of them in b.
    const sizes = { a: 24_000, b: 6_000 };
    for (const [name, clips] of Object.entries(sizes)) {
      const [{ id: dataset }] = await sql`INSERT INTO datasets (name, audio_dir) VALUES (${name}, ${"/audio/" + name}) RETURNING id`;
      const [{ id: recording }] = await sql`
        INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels)
        VALUES (${dataset}, 'r.wav', md5(${name}), 1000, 8000, ${8000 * clips}, 1) RETURNING id`;
      await sql`INSERT INTO clips (recording_id, start_time, end_time) SELECT ${recording}, i, i + 0.5 FROM generate_series(0, ${clips - 1}) i`;
      await sql`INSERT INTO tags (key, value) SELECT 'species', ${name} || i FROM generate_series(1, 5) i`;
      await sql`
        INSERT INTO clip_tags (clip_id, tag_id)
        SELECT c.id, t.id FROM clips c JOIN tags t ON t.key = 'species' AND t.value = ${name} || (1 + c.start_time::int % 5)
        WHERE c.recording_id = ${recording}`;
    }
    await sql`ANALYZE`;
    const ids = Object.fromEntries((await sql<{ name: string; id: string }[]>`SELECT name, id FROM datasets`).map((d) => [d.name, d.id]));
    for (const [name, clips] of Object.entries(sizes)) {
      heard.length = 0;
      const page = await listTags(sql, { dataset_id: ids[name], limit: 100, offset: 0 });
      expect([page.total, page.items.map((t) => t.value)]).toEqual([5, [1, 2, 3, 4, 5].map((i) => name + i)]);
      const listing = heard.find((h) => /FROM tags WHERE/.test(h.statement))!;
      // Planned as the tables were large (seq scans off, as above, and joins by lookup: at this
      // size a merge of all of clip_tags' keys is the planner's cheaper choice), the listing reads
      // at most the dataset's own attachments: b's from them, a's (80% of the clips) tag by tag,
      // through b's 6,000 for b's tags. Tag by tag, b's read a's 24,000.
      const nodes = await sql.begin(async (tx) => {
        await tx`SET LOCAL enable_seqscan = off`;
        await tx`SET LOCAL enable_mergejoin = off`;
        await tx`SET LOCAL enable_hashjoin = off`;
        return planNodes(tx as unknown as typeof sql, listing);
      });
      expect(rowsRead(nodes, "clip_tags")).toBeLessThanOrEqual(clips);
      expect(rowsRead(nodes, "clip_tags")).toBeGreaterThan(0);
    }
    // Paged and searched as before.
    expect((await listTags(sql, { dataset_id: ids.b, limit: 2, offset: 3 })).items.map((t) => t.value)).toEqual(["b4", "b5"]);
    const found = await listTags(sql, { dataset_id: ids.b, search: "B2", limit: 100, offset: 0 });
    expect([found.total, found.items.map((t) => t.value)]).toEqual([1, ["b2"]]);
  } finally {
    await own.cleanup();
  }
}, 120_000);
