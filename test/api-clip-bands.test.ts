/**
 * Clips' frequency bounds (low_freq / high_freq, real Hz): migration 026 (its checks, and the
 * selection bounds earlier imports kept as feature values moved into them), the API's create,
 * update and list, each refusal naming its field against the recording's Nyquist frequency (after
 * time expansion), a time expansion that would leave a clip's band above it, and the identity rule
 * an import and the viewer share, and the clips list's and export's band filter (min_freq / max_freq), read through the band index
 * (migration 028) beyond one recording. On the embedded database, and on real PostgreSQL when
 * DATABASE_URL is set.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { sameClipBand } from "../src/store/clip-identity.js";
import { loadMigrations, migrate } from "../src/store/migrate.js";
import { listClips, type ClipFilter } from "../src/store/clips.js";
import { putFeatureValues } from "../src/store/features.js";
import { resolveRoots } from "../src/store/paths.js";
import { ensureAdmin } from "../src/store/users.js";
import { freshDatabase, planNodes, tempDir, unmigratedDatabase, writeSineWav, type TestDatabase } from "./store-helpers.js";

it("026 moves the selection bounds earlier imports kept as feature values into the clips' bounds, leaving a pair the bounds cannot hold, and checks 0 <= low_freq < high_freq", async () => {
  const t = await unmigratedDatabase();
  const sql = t.db.sql;
  try {
    const migrations = await loadMigrations();
    await migrate(sql, migrations.filter((m) => m.version < 26));
    const [dataset] = await sql`INSERT INTO datasets (name, audio_dir) VALUES ('d', '/audio') RETURNING id`;
    const [recording] = await sql`INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels)
                                  VALUES (${dataset.id}, 'a.wav', ${"0".repeat(32)}, 44, 8000, 8000, 1) RETURNING id`;
    const clip = async (start: number) => (await sql`INSERT INTO clips (recording_id, start_time, end_time) VALUES (${recording.id}, ${start}, ${start + 0.5}) RETURNING id`)[0].id as string;
    const boxed = await clip(0), flat = await clip(0.1), plain = await clip(0.2);
    const names = Object.fromEntries((await sql`INSERT INTO feature_names (name) VALUES ('selection_low_freq_hz'), ('selection_high_freq_hz'), ('rms_dbfs') RETURNING id, name`).map((r) => [r.name, r.id]));
    const put = (clipId: string, name: string, value: number) => sql`INSERT INTO clip_features (clip_id, feature_name_id, value) VALUES (${clipId}, ${names[name]}, ${value})`;
    await put(boxed, "selection_low_freq_hz", 1200.5);
    await put(boxed, "selection_high_freq_hz", 3500);
    await put(boxed, "rms_dbfs", -20);
    await put(flat, "selection_low_freq_hz", 1000); // low = high: no band, kept as it was
    await put(flat, "selection_high_freq_hz", 1000);
    await put(plain, "rms_dbfs", -30);
    expect(await migrate(sql, migrations)).toContain(26);
    const rows = await sql`
      SELECT c.id, c.low_freq, c.high_freq, COALESCE((SELECT json_agg(f.name ORDER BY f.name) FROM clip_features cf JOIN feature_names f ON f.id = cf.feature_name_id WHERE cf.clip_id = c.id), '[]') AS features
      FROM clips c ORDER BY c.start_time`;
    expect(rows.map((r) => [r.id, r.low_freq, r.high_freq, r.features])).toEqual([
      [boxed, 1200.5, 3500, ["rms_dbfs"]],
      [flat, null, null, ["selection_high_freq_hz", "selection_low_freq_hz"]],
      [plain, null, null, ["rms_dbfs"]],
    ]);
    for (const [low, high, constraint] of [[5, 5, "clips_freq_order_check"], [-1, null, "clips_low_freq_check"], [null, 0, "clips_high_freq_check"], [null, Infinity, "clips_high_freq_check"], [NaN, null, "clips_low_freq_check"]] as const) {
      await expect(sql`UPDATE clips SET low_freq = ${low}::float8, high_freq = ${high}::float8 WHERE id = ${plain}`, `${low}–${high}`).rejects.toMatchObject({ constraint_name: constraint });
    }
    await sql`UPDATE clips SET low_freq = NULL, high_freq = 2000 WHERE id = ${plain}`; // one bound alone
  } finally {
    await t.cleanup();
  }
});

it("sameClipBand: bounds absent from both or within the tolerance; a box is not its time band", () => {
  const box = { low_freq: 1000, high_freq: 3000 };
  expect(sameClipBand(box, { low_freq: 1000.0009, high_freq: 2999.9991 })).toBe(true);
  expect(sameClipBand(box, { low_freq: 1000.0011, high_freq: 3000 })).toBe(false);
  expect(sameClipBand(box, { low_freq: 1000, high_freq: null })).toBe(false);
  expect(sameClipBand({ low_freq: null, high_freq: null }, { low_freq: null, high_freq: null })).toBe(true);
  expect(sameClipBand(box, { low_freq: 1000.009, high_freq: 3000 }, 0.01)).toBe(true);
});

describe("clips' frequency bounds through /v1/clips", () => {
  let t: TestDatabase;
  let app: App;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  /** A second dataset's directory (the band filter's), beside the first's, not inside it. */
  let bandsDir: Awaited<ReturnType<typeof tempDir>>;
  let headers: { authorization: string };
  const ids: Record<string, string> = {};
  const send = (method: "POST" | "PATCH", url: string, payload: object) => app.inject({ method, url, payload, headers });
  /** The fields of a 400, as [field, message] pairs. */
  const refused = async (res: Awaited<ReturnType<typeof send>>) => {
    expect(res.statusCode, res.body).toBe(400);
    return res.json().fields.map((f: { field: string; message: string }) => [f.field, f.message]);
  };

  beforeAll(async () => {
    t = await freshDatabase();
    dir = await tempDir();
    bandsDir = await tempDir();
    await writeSineWav(join(dir.path, "plain.wav"), 8000, 10); // Nyquist 4000 Hz
    await writeSineWav(join(dir.path, "bat.wav"), 8000, 10);
    headers = { authorization: `Bearer ${(await ensureAdmin(t.db.sql))!.key}` };
    app = await buildApp({ database: t.db, audioRoots: await resolveRoots([dir.path, bandsDir.path]) });
    ids.dataset = (await send("POST", "/v1/datasets", { name: "d", audio_dir: dir.path })).json().id;
    for (const name of ["plain", "bat"]) ids[name] = (await send("POST", "/v1/recordings", { dataset_id: ids.dataset, path: `${name}.wav` })).json().id;
    // 10× time-expanded: the file's 4 kHz Nyquist is 40 kHz real.
    expect((await send("PATCH", `/v1/recordings/${ids.bat}`, { time_expansion: 10 })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await app?.close();
    await t?.cleanup();
    await dir?.remove();
    await bandsDir?.remove();
  });

  it("creates, gets and lists a clip with its bounds (either alone too), and a time-only clip with none", async () => {
    const box = await send("POST", "/v1/clips", { recording_id: ids.plain, start_time: 1, end_time: 2, low_freq: 1200.5, high_freq: 4000 });
    expect(box.statusCode, box.body).toBe(201);
    expect(box.json()).toMatchObject({ start_time: 1, end_time: 2, low_freq: 1200.5, high_freq: 4000 });
    const above = (await send("POST", "/v1/clips", { recording_id: ids.plain, start_time: 1, end_time: 2, low_freq: 2000 })).json();
    const band = (await send("POST", "/v1/clips", { recording_id: ids.plain, start_time: 1, end_time: 2, high_freq: 500, low_freq: null })).json();
    const plain = (await send("POST", "/v1/clips", { recording_id: ids.plain, start_time: 3, end_time: 4 })).json();
    expect([above.low_freq, above.high_freq, band.low_freq, band.high_freq, plain.low_freq, plain.high_freq]).toEqual([2000, null, null, 500, null, null]);
    expect((await app.inject({ url: `/v1/clips/${box.json().id}` })).json()).toMatchObject({ low_freq: 1200.5, high_freq: 4000 });
    const listed = (await app.inject({ url: `/v1/clips?recording_id=${ids.plain}&sort=created_at` })).json().items;
    expect(listed.map((c: { id: string; low_freq: number | null; high_freq: number | null }) => [c.id, c.low_freq, c.high_freq])).toEqual([
      [box.json().id, 1200.5, 4000], [above.id, 2000, null], [band.id, null, 500], [plain.id, null, null],
    ]);
  });

  it("refuses bounds outside [0, Nyquist] or out of order, naming the field; a time-expanded recording's bounds are real Hz", async () => {
    const clip = (body: object, recording = ids.plain) => send("POST", "/v1/clips", { recording_id: recording, start_time: 0, end_time: 0.5, ...body });
    expect(await refused(await clip({ high_freq: 4000.5 }))).toEqual([["high_freq", "must be <= the recording's Nyquist frequency (4000 Hz)"]]);
    expect(await refused(await clip({ low_freq: 4000 }))).toEqual([["low_freq", "must be < the recording's Nyquist frequency (4000 Hz)"]]);
    expect(await refused(await clip({ low_freq: 3000, high_freq: 3000 }))).toEqual([["high_freq", "must be > low_freq"]]);
    expect(await refused(await clip({ low_freq: -1 }))).toEqual([["low_freq", "must be >= 0"]]);
    expect(await refused(await clip({ high_freq: 0 }))).toEqual([["high_freq", "must be > 0"]]);
    expect(await refused(await clip({ high_freq: "3000" }))).toEqual([["high_freq", "must be a number of Hz, or null"]]);
    // 30 kHz is below the bat recording's real Nyquist (40 kHz), above its file's (4 kHz).
    expect((await clip({ low_freq: 25000, high_freq: 30000 }, ids.bat)).json()).toMatchObject({ low_freq: 25000, high_freq: 30000 });
    expect(await refused(await clip({ high_freq: 45000 }, ids.bat))).toEqual([
      ["high_freq", "must be <= the recording's Nyquist frequency (40000 Hz); frequencies are real Hz: the recording's time_expansion 10 makes the file's 4000 Hz Nyquist frequency 40000 Hz"],
    ]);
  });

  it("PATCH moves a bound, removes one with null, keeps what it is not given, and names the field it sent when the order fails", async () => {
    const id = (await send("POST", "/v1/clips", { recording_id: ids.plain, start_time: 5, end_time: 6, low_freq: 1000, high_freq: 2000 })).json().id;
    expect((await send("PATCH", `/v1/clips/${id}`, { low_freq: 1500 })).json()).toMatchObject({ start_time: 5, end_time: 6, low_freq: 1500, high_freq: 2000 });
    expect((await send("PATCH", `/v1/clips/${id}`, { end_time: 7 })).json()).toMatchObject({ end_time: 7, low_freq: 1500, high_freq: 2000 });
    expect(await refused(await send("PATCH", `/v1/clips/${id}`, { low_freq: 2500 }))).toEqual([["low_freq", "must be < high_freq (2000 Hz)"]]);
    expect(await refused(await send("PATCH", `/v1/clips/${id}`, { high_freq: 1000 }))).toEqual([["high_freq", "must be > low_freq (1500 Hz)"]]);
    expect(await refused(await send("PATCH", `/v1/clips/${id}`, { high_freq: 5000 }))).toEqual([["high_freq", "must be <= the recording's Nyquist frequency (4000 Hz)"]]);
    expect((await send("PATCH", `/v1/clips/${id}`, { high_freq: null })).json()).toMatchObject({ low_freq: 1500, high_freq: null });
    expect((await send("PATCH", `/v1/clips/${id}`, { low_freq: null, high_freq: 300 })).json()).toMatchObject({ low_freq: null, high_freq: 300 });
    expect((await app.inject({ url: `/v1/clips/${id}` })).json()).toMatchObject({ start_time: 5, end_time: 7, low_freq: null, high_freq: 300 });
  });

  it("PATCH with `expected` refuses (409) a bound moved meanwhile by another, naming it, changing nothing; the fields not sent keep another's concurrent move — the viewer sent all four as it had read them, and reverted it", async () => {
    const id = (await send("POST", "/v1/clips", { recording_id: ids.plain, start_time: 1, end_time: 2, low_freq: 1000, high_freq: 2000 })).json().id;
    // Another moves the end; this client, having read 1–2 s, moves the start only: the end stays the other's.
    expect((await send("PATCH", `/v1/clips/${id}`, { end_time: 2.5, expected: { end_time: 2 } })).json()).toMatchObject({ start_time: 1, end_time: 2.5, stale_feature_values_removed: 0 });
    expect((await send("PATCH", `/v1/clips/${id}`, { start_time: 1.2, expected: { start_time: 1 } })).json()).toMatchObject({ start_time: 1.2, end_time: 2.5, low_freq: 1000, high_freq: 2000 });
    // The end again, from its reading of 2 s: refused, naming it, nothing changed.
    const stale = await send("PATCH", `/v1/clips/${id}`, { end_time: 3, low_freq: 1200, expected: { end_time: 2, low_freq: 1000 } });
    expect([stale.statusCode, stale.json().fields]).toEqual([409, [{ field: "expected.end_time", message: `the clip's end_time is 2.5 now, not 2 as read: it was moved meanwhile — read it again (GET /v1/clips/${id}) before moving it` }]]);
    expect((await app.inject({ url: `/v1/clips/${id}` })).json()).toMatchObject({ start_time: 1.2, end_time: 2.5, low_freq: 1000, high_freq: 2000 });
    // A bound removed meanwhile is expected as null; a null read but set since is refused too.
    expect((await send("PATCH", `/v1/clips/${id}`, { high_freq: null, expected: { high_freq: 2000 } })).statusCode).toBe(200);
    const unbounded = await send("PATCH", `/v1/clips/${id}`, { high_freq: 3000, expected: { high_freq: 2000 } });
    expect([unbounded.statusCode, unbounded.json().fields[0].message]).toEqual([409, expect.stringMatching(/^the clip's high_freq is none now, not 2000 as read/)]);
    expect((await send("PATCH", `/v1/clips/${id}`, { high_freq: 3000, expected: { high_freq: null } })).json()).toMatchObject({ high_freq: 3000 });
    expect(await refused(await send("PATCH", `/v1/clips/${id}`, { expected: { end_time: "2" } }))).toEqual([["expected.end_time", "must be a number of seconds"]]);
    expect(await refused(await send("PATCH", `/v1/clips/${id}`, { expected: { duration: 2 } }))).toEqual([["expected.duration", expect.any(String)]]);
  });

  it("PATCH that moves a bound removes the feature values a job computed of the clip, in the same transaction, counting them, and keeps those a client set; one that moves nothing removes none", async () => {
    const clip = (await send("POST", "/v1/clips", { recording_id: ids.plain, start_time: 3, end_time: 3.0045 })).json();
    const computed = (name: string, value: number) => ({ id: clip.id, name, value, created_by: null, engine_version: "0.0.0-test", recording_hash: "0".repeat(32) });
    const computeValues = () => putFeatureValues(t.db.sql, "clip", [computed("duration_s", 0.0045), computed("rms_dbfs", -30)]);
    await computeValues();
    expect((await send("POST", `/v1/clips/${clip.id}/features`, { name: "call_quality", value: 3 })).statusCode).toBe(200); // a client's
    const names = async () => ((await app.inject({ url: `/v1/clips/${clip.id}` })).json().features as { name: string }[]).map((f) => f.name).sort();
    // Bounds sent as they are: nothing moves, nothing is removed.
    expect((await send("PATCH", `/v1/clips/${clip.id}`, { start_time: 3, end_time: 3.0045 })).json().stale_feature_values_removed).toBe(0);
    expect(await names()).toEqual(["call_quality", "duration_s", "rms_dbfs"]);
    const moved = (await send("PATCH", `/v1/clips/${clip.id}`, { end_time: 3.0055 })).json();
    expect([moved.end_time, moved.stale_feature_values_removed, moved.features]).toEqual([3.0055, 2, [{ name: "call_quality", value: 3 }]]);
    expect(await names()).toEqual(["call_quality"]);
    // A band change makes them stale too.
    await computeValues();
    expect((await send("PATCH", `/v1/clips/${clip.id}`, { low_freq: 500 })).json()).toMatchObject({ low_freq: 500, stale_feature_values_removed: 2, features: [{ name: "call_quality", value: 3 }] });
    // Refused: nothing removed.
    await computeValues();
    expect((await send("PATCH", `/v1/clips/${clip.id}`, { end_time: 2 })).statusCode).toBe(400);
    expect(await names()).toEqual(["call_quality", "duration_s", "rms_dbfs"]);
  });

  it("refuses (409) a time expansion that would put a clip's band above the new Nyquist frequency, and takes one that keeps it", async () => {
    await writeSineWav(join(dir.path, "te.wav"), 8000, 10);
    const recording = (await send("POST", "/v1/recordings", { dataset_id: ids.dataset, path: "te.wav" })).json().id;
    const clip = (await send("POST", "/v1/clips", { recording_id: recording, start_time: 0, end_time: 0.1, low_freq: 1000, high_freq: 3000 })).json();
    const lowered = await send("PATCH", `/v1/recordings/${recording}?clips=keep`, { time_expansion: 0.5 });
    expect(lowered.statusCode, lowered.body).toBe(409);
    expect(lowered.json().message).toBe(`time_expansion 0.5 would make recording ${recording}'s Nyquist frequency 2000 Hz, and 1 of its clips would reach above that (first: clip ${clip.id}, 1000–3000 Hz); change or remove its frequency bounds first`);
    expect((await send("PATCH", `/v1/recordings/${recording}?clips=keep`, { time_expansion: 0.75 })).statusCode).toBe(200); // Nyquist 3000 Hz: the clip's top is at it
  });

  it("lists and exports the clips whose band overlaps [min_freq, max_freq], a missing bound at 0 Hz or the recording's real Nyquist frequency, the total following the filter", async () => {
    // A dataset of its own: an 8 kHz recording (Nyquist 4 kHz) and one stored at 8 kHz, 6× time-expanded (real Nyquist 24 kHz).
    await writeSineWav(join(bandsDir.path, "low.wav"), 8000, 10);
    await writeSineWav(join(bandsDir.path, "high.wav"), 8000, 10);
    const made = async (url: string, body: object) => {
      const res = await send("POST", url, body);
      expect(res.statusCode, res.body).toBe(201);
      return res.json().id as string;
    };
    const dataset = await made("/v1/datasets", { name: "bands", audio_dir: bandsDir.path });
    const low = await made("/v1/recordings", { dataset_id: dataset, path: "low.wav" });
    const high = await made("/v1/recordings", { dataset_id: dataset, path: "high.wav" });
    const expanded = await send("PATCH", `/v1/recordings/${high}`, { time_expansion: 6 });
    expect(expanded.statusCode, expanded.body).toBe(200);
    const boxes: [string, string, number | null, number | null][] = [
      ["a", low, 1000, 2000], ["b", low, 3000, null], ["c", low, null, 500], ["d", low, null, null],
      ["e", high, 10000, null], ["f", high, null, null], ["g", high, 2000, 3000],
    ];
    const clip: Record<string, string> = {};
    for (const [i, [name, recording, low_freq, high_freq]] of boxes.entries()) clip[await made("/v1/clips", { recording_id: recording, start_time: i / 10, end_time: i / 10 + 0.05, low_freq, high_freq })] = name;
    const listed = async (query: string) => {
      const res = await app.inject({ url: `/v1/clips?dataset_id=${dataset}&${query}` });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json();
      return [page.items.map((c: { id: string }) => clip[c.id]).join(""), page.total];
    };
    expect(await listed("min_freq=1500&max_freq=2500")).toEqual(["adfg", 4]); // a straddles 1500, g 2500; d and f have no bounds
    expect(await listed("min_freq=2000&max_freq=3000")).toEqual(["dfg", 3]); // a ends and b starts where the band does: touching, not overlapping
    expect(await listed("min_freq=2000.5&max_freq=2999.5")).toEqual(["dfg", 3]); // inside g
    expect(await listed("min_freq=4000")).toEqual(["ef", 2]); // b and d reach low.wav's Nyquist, 4 kHz, and no further; f reaches high.wav's real 24 kHz, not its file's 4 kHz
    expect(await listed("min_freq=3999&max_freq=30000")).toEqual(["bdef", 4]);
    expect(await listed("max_freq=400")).toEqual(["cdf", 3]); // a missing low bound is 0 Hz
    expect(await listed("min_freq=0")).toEqual(["abcdefg", 7]);
    expect(await listed("min_freq=24000")).toEqual(["", 0]); // the real Nyquist frequency of high.wav: nothing reaches above it
    expect(await listed("min_freq=1500&max_freq=2500&limit=1&offset=1&sort=start_time&order=desc")).toEqual(["f", 4]);
    expect(await listed(`min_freq=1500&max_freq=2500&recording_id=${high}&end_after=0.5`)).toEqual(["fg", 2]); // with the other filters
    const exported = await app.inject({ url: `/v1/clips/export?dataset_id=${dataset}&format=csv&min_freq=4000` });
    expect(exported.statusCode, exported.body).toBe(200);
    const [header, ...rows] = exported.body.trim().split("\r\n").map((line) => line.split(","));
    expect(rows.map((r) => clip[r[header.indexOf("Clip ID")]])).toEqual(["e", "f"]);
  });

  it("refuses a band filter that is not a band, naming the field, on the list and the export", async () => {
    const cases: [string, [string, string][]][] = [
      ["min_freq=-1", [["min_freq", "must be >= 0"]]],
      ["max_freq=0", [["max_freq", "must be > 0"]]],
      ["min_freq=low", [["min_freq", "must be a number of Hz"]]],
      ["max_freq=Infinity", [["max_freq", "must be a number of Hz"]]],
      ["min_freq=1e400", [["min_freq", "must be a number of Hz"]]],
      ["min_freq=3000&max_freq=3000", [["max_freq", "must be > min_freq: a band has a width"]]],
      ["min_freq=3000&max_freq=1000", [["max_freq", "must be > min_freq: a band has a width"]]],
    ];
    for (const url of [`/v1/clips?recording_id=${ids.plain}`, `/v1/clips/export?recording_id=${ids.plain}`]) {
      for (const [query, fields] of cases) expect(await refused(await app.inject({ url: `${url}&${query}` })), `${url} ${query}`).toEqual(fields);
    }
  });

  it("documents the bounds in the OpenAPI document", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    const body = doc.paths["/v1/clips"].post.requestBody.content["application/json"].schema;
    expect(Object.keys(body.properties)).toEqual(["recording_id", "start_time", "end_time", "low_freq", "high_freq"]);
    expect(body.properties.high_freq.description).toMatch(/Nyquist/);
  });
});

it("reads a band beyond one recording through the band index (028) — both sides at once, where neither side alone is selective — and a recording's through its clips, listing what the bounds say", async () => {
  const heard: { statement: string; parameters: unknown[] }[] = [];
  const own = await freshDatabase({ onStatement: (statement, parameters) => heard.push({ statement, parameters }) });
  const sql = own.db.sql;
  try {
    // 20 recordings of 1,000 clips, half at 48 kHz and half at 384 kHz (Nyquist 24 and 192 kHz);
    // a clip's band 1% of its Nyquist frequency wide, spread over the lower 90%; one clip in 50
    // without bounds (reaching from 0 Hz to its recording's Nyquist frequency).
    await sql`INSERT INTO datasets (name, audio_dir) VALUES ('d', '/audio/d')`;
    await sql`
      INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels)
      SELECT d.id, 'r' || i || '.wav', md5('r' || i), 1000, rate, rate * 1000, 1
      FROM datasets d, generate_series(1, 20) i, LATERAL (VALUES (CASE WHEN i % 2 = 0 THEN 48000 ELSE 384000 END)) AS r (rate)`;
    await sql`
      INSERT INTO clips (recording_id, start_time, end_time, low_freq, high_freq)
      SELECT r.id, i * 0.5, i * 0.5 + 0.3, CASE WHEN i % 50 <> 0 THEN low END, CASE WHEN i % 50 <> 0 THEN low + r.samplerate / 200 END
      FROM recordings r, generate_series(0, 999) i, LATERAL (VALUES ((i * 37 % 1000) / 1000.0 * r.samplerate / 2 * 0.9)) AS band (low)`;
    await sql`ANALYZE`;
    const [{ id: dataset }] = await sql`SELECT id FROM datasets`;
    const recordings = (await sql<{ id: string }[]>`SELECT id FROM recordings ORDER BY path`).map((r) => r.id);
    /** The clips whose band overlaps (min, max), a missing bound 0 Hz or the recording's Nyquist frequency: the rule, written as comparisons. */
    const overlapping = async (band: { min_freq?: number; max_freq?: number }, recording?: string) => {
      const [{ n }] = await sql`
        SELECT count(*)::int AS n FROM clips c JOIN recordings r ON r.id = c.recording_id
        WHERE COALESCE(c.low_freq, 0) < ${band.max_freq ?? Infinity} AND COALESCE(c.high_freq, r.samplerate / 2) > ${band.min_freq ?? -1}
          AND (${recording ?? null}::uuid IS NULL OR c.recording_id = ${recording ?? null}::uuid)`;
      return n as number;
    };
    /** The listing of `filter`'s first page: its total, and the indexes its plan finds the clips matching by (not clips_pkey: the page's clips by id). */
    const listed = async (filter: ClipFilter) => {
      heard.length = 0;
      const page = await listClips(sql, { state: "active", sort: "start_time", order: "asc", limit: 50, offset: 0, ...filter });
      const listing = heard.find((h) => /WITH page AS/.test(h.statement))!;
      const indexes = new Set((await planNodes(sql, listing)).map((n) => n["Index Name"]).filter((i) => i?.startsWith("clips_") && i !== "clips_pkey"));
      return { total: page.total, indexes: [...indexes].sort() };
    };

    // 100–100.5 kHz: 340 clips of 20,000, where high_freq > 100 kHz holds for 4,440 and low_freq < 100.5 kHz for 15,900.
    const middle = { min_freq: 100_000, max_freq: 100_500 };
    expect(await overlapping(middle)).toBe(340);
    expect(await overlapping({ min_freq: middle.min_freq })).toBe(4440);
    expect(await overlapping({ max_freq: middle.max_freq })).toBe(15_900);
    for (const scope of [{}, { dataset_id: dataset }]) {
      expect(await listed({ ...scope, ...middle }), JSON.stringify(scope)).toEqual({ total: 340, indexes: ["clips_band"] });
    }
    // One side alone, selective: the clips starting below 100 Hz (and those without bounds).
    expect(await listed({ max_freq: 100 })).toEqual({ total: await overlapping({ max_freq: 100 }), indexes: ["clips_band"] });
    // A recording's clips are read through clips_recording only, and the bounds compared on them.
    for (const recording of recordings.slice(0, 2)) {
      for (const band of [middle, { min_freq: 20_000 }, { max_freq: 1000 }, { min_freq: 5000, max_freq: 30_000 }]) {
        expect(await listed({ recording_id: recording, ...band }), JSON.stringify(band)).toEqual({ total: await overlapping(band, recording), indexes: ["clips_recording"] });
      }
    }
    // A band without width is refused by the store too, naming max_freq, as the API refuses it.
    await expect(listClips(sql, { state: "active", sort: "start_time", order: "asc", limit: 50, offset: 0, min_freq: 3000, max_freq: 3000 })).rejects.toMatchObject({ fields: [{ field: "max_freq", message: "must be > min_freq (3000 Hz): a band has a width" }] });
  } finally {
    await own.cleanup();
  }
}, 120_000);
