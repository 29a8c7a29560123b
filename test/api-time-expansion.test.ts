/**
 * A change of a recording's time_expansion (PATCH /v1/recordings/{id}): the feature values jobs
 * computed of it and of its clips (at the old factor) go in the same transaction, values a client
 * wrote stay; and its clips, kept in real seconds and Hz, either follow the file's audio
 * (`?clips=follow`: times × old/new, frequencies × new/old, each clip that fitted still fitting
 * despite rounding) or keep their numbers (`?clips=keep`, checked to fit as before) — without
 * either, a recording with clips answers 409 naming how many and the two choices. On the embedded
 * database, and on real PostgreSQL when DATABASE_URL is set.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { VERSION } from "../src/engine/version.js";
import { putFeatureValues } from "../src/store/features.js";
import { resolveRoots } from "../src/store/paths.js";
import { createRun } from "../src/store/runs.js";
import { ensureAdmin } from "../src/store/users.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let app: App;
let dir: { path: string; remove(): Promise<void> };
let headers: Record<string, string>;
let datasetId: string;

const send = (method: "POST" | "PATCH" | "DELETE", url: string, body?: object) => app.inject({ method, url, payload: body, headers });
const get = async (url: string) => {
  const res = await app.inject({ url, headers });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

/** A recording of `seconds` of a `rate` Hz file of its own, at time expansion 1. */
async function recording(name: string, rate: number, seconds: number): Promise<string> {
  await writeSineWav(join(dir.path, name), rate, seconds);
  const res = await send("POST", "/v1/recordings", { dataset_id: datasetId, path: name });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

async function clip(recordingId: string, bounds: { start_time: number; end_time: number; low_freq?: number | null; high_freq?: number | null }): Promise<string> {
  const res = await send("POST", "/v1/clips", { recording_id: recordingId, ...bounds });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

const bounds = async (clipId: string) => {
  const c = await get(`/v1/clips/${clipId}`);
  return [c.start_time, c.end_time, c.low_freq, c.high_freq];
};

beforeAll(async () => {
  t = await freshDatabase();
  dir = await tempDir();
  headers = { authorization: `Bearer ${(await ensureAdmin(t.db.sql))!.key}` };
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([dir.path]) });
  datasetId = (await send("POST", "/v1/datasets", { name: "te", audio_dir: dir.path })).json().id;
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  await dir?.remove();
});

describe("a time_expansion change", () => {
  it("drops the feature values jobs computed of the recording and of its clips (any state) in the same transaction; a client's values stay", async () => {
    const recordingId = await recording("features.wav", 192000, 1);
    const active = await clip(recordingId, { start_time: 0.1, end_time: 0.3 });
    const trashed = await clip(recordingId, { start_time: 0.4, end_time: 0.5 });
    expect((await send("POST", `/v1/clips/${trashed}/trash`)).statusCode).toBe(200);
    const other = await recording("other.wav", 192000, 1);
    // A job's values (engine_version, since 0.12), one computed before 0.12 (no engine_version: its run is a job's), a client's.
    const jobRun = await createRun(t.db.sql, { kind: "job", description: "extract_features", created_by: null });
    const computed = { created_by: null, run_id: jobRun.id, engine_version: VERSION, recording_hash: "0".repeat(32) };
    await t.db.sql.begin(async (tx) => {
      await putFeatureValues(tx, "recording", [
        { id: recordingId, name: "peak_frequency_hz", value: 34300, ...computed },
        { id: recordingId, name: "rms_dbfs", value: -20.5, created_by: null, run_id: jobRun.id },
        { id: other, name: "peak_frequency_hz", value: 34300, ...computed },
      ]);
      await putFeatureValues(tx, "clip", [
        { id: active, name: "peak_frequency_hz", value: 41000, ...computed },
        { id: trashed, name: "log_mel", data: new Uint8Array(256), ...computed },
      ]);
    });
    expect((await send("POST", `/v1/recordings/${recordingId}/features`, { name: "call_quality", value: 3 })).statusCode).toBe(200);
    expect((await send("POST", `/v1/clips/${active}/features`, { name: "call_quality", value: 2 })).statusCode).toBe(200);

    // Another field alone, or the same factor again, changes nothing the values describe.
    expect((await send("PATCH", `/v1/recordings/${recordingId}`, { rights: "CC0", time_expansion: 1 })).statusCode).toBe(200);
    expect((await get(`/v1/recordings/${recordingId}`)).features).toEqual([{ name: "call_quality", value: 3 }, { name: "peak_frequency_hz", value: 34300 }, { name: "rms_dbfs", value: -20.5 }]);

    const changed = await send("PATCH", `/v1/recordings/${recordingId}?clips=follow`, { time_expansion: 10 });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ time_expansion: 10, samplerate: 1920000, features: [{ name: "call_quality", value: 3 }] });
    expect((await app.inject({ url: `/v1/recordings/${recordingId}/features/peak_frequency_hz`, headers })).statusCode).toBe(404);
    expect((await get(`/v1/clips/${active}`)).features).toEqual([{ name: "call_quality", value: 2 }]);
    expect((await get(`/v1/clips/${trashed}`)).features).toEqual([]);
    const left = await t.db.sql`
      SELECT f.name, v.value FROM clip_features v JOIN feature_names f ON f.id = v.feature_name_id JOIN clips c ON c.id = v.clip_id
      WHERE c.recording_id = ${recordingId} ORDER BY f.name`;
    expect(left.map((r) => [r.name, r.value])).toEqual([["call_quality", 2]]);
    // Another recording's values are its own.
    expect((await get(`/v1/recordings/${other}`)).features).toEqual([{ name: "peak_frequency_hz", value: 34300 }]);
  });

  it("with clips and neither choice is a 409 naming how many clips (archived and trashed ones too) and the two choices; nothing changes", async () => {
    const recordingId = await recording("unsaid.wav", 192000, 1);
    const first = await clip(recordingId, { start_time: 0.1, end_time: 0.3, low_freq: 30000, high_freq: 90000 });
    const archived = await clip(recordingId, { start_time: 0.5, end_time: 0.6 });
    expect((await send("POST", `/v1/clips/${archived}/archive`)).statusCode).toBe(200);
    const jobRun = await createRun(t.db.sql, { kind: "job", description: "extract_features", created_by: null });
    await t.db.sql.begin((tx) => putFeatureValues(tx, "recording", [{ id: recordingId, name: "peak_frequency_hz", value: 34300, created_by: null, run_id: jobRun.id, engine_version: VERSION }]));

    const refused = await send("PATCH", `/v1/recordings/${recordingId}`, { time_expansion: 0.5 });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().message).toBe(
      `time_expansion 0.5 changes what recording ${recordingId}'s 2 clips (1 of them archived or trashed) cover: their times and frequency bounds are ` +
        "real seconds and Hz, at time_expansion 1 now. Say which with the query parameter clips: clips=follow keeps each clip on the audio of the file it covers " +
        "(times × 1/0.5, frequencies × 0.5/1), clips=keep keeps their times and bounds (covering other audio of the file; refused where they would not fit)",
    );
    const kept = await get(`/v1/recordings/${recordingId}`);
    expect([kept.time_expansion, kept.features]).toEqual([1, [{ name: "peak_frequency_hz", value: 34300 }]]);
    expect(await bounds(first)).toEqual([0.1, 0.3, 30000, 90000]);

    const bad = await send("PATCH", `/v1/recordings/${recordingId}?clips=stay`, { time_expansion: 0.5 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().fields).toEqual([{ field: "clips", message: "must be one of follow, keep" }]);
  });

  it("clips=follow keeps each clip on the file's audio: times × old/new, frequencies × new/old, archived clips too", async () => {
    const recordingId = await recording("follow.wav", 192000, 1); // Nyquist 96 kHz
    const box = await clip(recordingId, { start_time: 0.1, end_time: 0.3, low_freq: 30000, high_freq: 90000 });
    const plain = await clip(recordingId, { start_time: 0.25, end_time: 0.5 });
    const upper = await clip(recordingId, { start_time: 0, end_time: 0.05, low_freq: 20000, high_freq: null });
    expect((await send("POST", `/v1/clips/${plain}/archive`)).statusCode).toBe(200);
    // At 0.5 the file's 0.05–0.15 s would be real 0.1–0.3 s: following, the clip's file audio (0.1–0.3 s, 30–90 kHz at 1) is real 0.2–0.6 s, 15–45 kHz.
    const halved = await send("PATCH", `/v1/recordings/${recordingId}?clips=follow`, { time_expansion: 0.5 });
    expect(halved.statusCode, halved.body).toBe(200);
    expect([halved.json().duration, halved.json().samplerate]).toEqual([2, 96000]);
    expect(await bounds(box)).toEqual([0.2, 0.6, 15000, 45000]);
    expect(await bounds(plain)).toEqual([0.5, 1, null, null]);
    expect(await bounds(upper)).toEqual([0, 0.1, 10000, null]);
    // And back: the numbers they had.
    expect((await send("PATCH", `/v1/recordings/${recordingId}?clips=follow`, { time_expansion: 1 })).statusCode).toBe(200);
    expect(await bounds(box)).toEqual([0.1, 0.3, 30000, 90000]);
    expect(await bounds(plain)).toEqual([0.25, 0.5, null, null]);
    // ×10: file audio of a bat call at 30–90 kHz real is 300–900 kHz at a factor ten times larger.
    expect((await send("PATCH", `/v1/recordings/${recordingId}?clips=follow`, { time_expansion: 10 })).statusCode).toBe(200);
    expect(await bounds(box)).toEqual([0.01, 0.03, 300000, 900000]);
  });

  it("clips=follow keeps a clip that ended at the recording's end, or whose band reached its Nyquist frequency, inside it despite rounding", async () => {
    const recordingId = await recording("edge.wav", 16000, 0.1); // 1600 frames: 0.1 s, Nyquist 8000 Hz
    const whole = await clip(recordingId, { start_time: 0, end_time: 0.1, low_freq: 100, high_freq: 8000 });
    // At 0.7: 1600 / 11200 Hz = 0.14285714285714285 s; 0.1 × 1 / 0.7 is 0.14285714285714288, past it.
    const followed = await send("PATCH", `/v1/recordings/${recordingId}?clips=follow`, { time_expansion: 0.7 });
    expect(followed.statusCode, followed.body).toBe(200);
    expect(followed.json().duration).toBe(0.14285714285714285);
    expect(await bounds(whole)).toEqual([0, 0.14285714285714285, 70, 5600]);
    // 1.1 then 0.3: 0.14285714285714285 × 0.7 / 1.1 … each step lands on the recording's end.
    for (const te of [1.1, 0.3, 3, 7]) {
      const res = await send("PATCH", `/v1/recordings/${recordingId}?clips=follow`, { time_expansion: te });
      expect(res.statusCode, res.body).toBe(200);
      const [, end, , high] = await bounds(whole);
      expect([end, high], String(te)).toEqual([res.json().duration, res.json().samplerate / 2]);
    }
  });

  it("clips=follow refuses (409 naming it) a clip a float step wide whose times or band the rounding would close, changing nothing", async () => {
    const recordingId = await recording("sliver.wav", 16000, 0.1); // 1600 frames: 0.1 s, Nyquist 8000 Hz
    const [start, low] = [0.1 - 2 ** -56, 8000 - 2 ** -40]; // the floats just below 0.1 and 8000
    const sliver = await clip(recordingId, { start_time: start, end_time: 0.1, low_freq: low, high_freq: 8000 });
    for (const te of [0.7, 1.1]) {
      const res = await send("PATCH", `/v1/recordings/${recordingId}?clips=follow`, { time_expansion: te });
      expect([res.statusCode, res.json().message], String(te)).toEqual([409, `clip ${sliver} is too narrow to follow the file's audio to time_expansion ${te}: its times or its band would meet in the rounding; widen it, or change the time expansion with clips=keep`]);
    }
    expect(await bounds(sliver)).toEqual([start, 0.1, low, 8000]);
    expect((await get(`/v1/recordings/${recordingId}`)).time_expansion).toBe(1);
  });

  it("clips=follow with a new path is a 400 naming clips: which file's audio each clip follows is two requests' business", async () => {
    const recordingId = await recording("first.wav", 16000, 1);
    await writeSineWav(join(dir.path, "second.wav"), 16000, 2);
    const box = await clip(recordingId, { start_time: 0.1, end_time: 0.3 });
    const res = await send("PATCH", `/v1/recordings/${recordingId}?clips=follow`, { path: "second.wav", time_expansion: 2 });
    expect([res.statusCode, res.json().fields]).toEqual([400, [{ field: "clips", message: "follow keeps each clip on the audio of the recording's file; with a new path, change the path and the time_expansion in two requests" }]]);
    expect((await get(`/v1/recordings/${recordingId}`)).path).toBe("first.wav");
    expect(await bounds(box)).toEqual([0.1, 0.3, null, null]);
  });

  it("clips=keep keeps their times and bounds, refused (409) as before where they would not fit", async () => {
    const recordingId = await recording("keep.wav", 192000, 1);
    const box = await clip(recordingId, { start_time: 0.1, end_time: 0.3, low_freq: 30000, high_freq: 90000 });
    const halved = await send("PATCH", `/v1/recordings/${recordingId}?clips=keep`, { time_expansion: 0.5 });
    expect(halved.statusCode).toBe(409);
    expect(halved.json().message).toBe(`time_expansion 0.5 would make recording ${recordingId}'s Nyquist frequency 48000 Hz, and 1 of its clips would reach above that (first: clip ${box}, 30000–90000 Hz); change or remove its frequency bounds first`);
    const doubled = await send("PATCH", `/v1/recordings/${recordingId}?clips=keep`, { time_expansion: 2 });
    expect(doubled.statusCode, doubled.body).toBe(200);
    expect(doubled.json().duration).toBe(0.5);
    expect(await bounds(box)).toEqual([0.1, 0.3, 30000, 90000]);
    expect((await send("PATCH", `/v1/recordings/${recordingId}?clips=keep`, { time_expansion: 4 })).json().message).toContain("0.25 s long, and 1 of its clips would end past that");
  });

  it("needs no choice for a recording without clips, nor for a change that keeps its factor", async () => {
    const recordingId = await recording("bare.wav", 192000, 1);
    const res = await send("PATCH", `/v1/recordings/${recordingId}`, { time_expansion: 10 });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ time_expansion: 10, duration: 0.1 });
    await clip(recordingId, { start_time: 0, end_time: 0.05 });
    expect((await send("PATCH", `/v1/recordings/${recordingId}`, { time_expansion: 10, rights: "CC-BY" })).statusCode).toBe(200);
    const changed = await send("PATCH", `/v1/recordings/${recordingId}`, { time_expansion: 20 });
    expect([changed.statusCode, changed.json().message]).toEqual([409, expect.stringMatching(new RegExp(`^time_expansion 20 changes what recording ${recordingId}'s 1 clip covers: its times .* clips=keep keeps its times and bounds \\(covering other audio of the file; refused where it would not fit\\)$`))]);
  });

  it("a clip created while its recording's time expansion changes with clips=follow is either followed or checked against the new factor", async () => {
    const recordingId = await recording("race.wav", 16000, 3);
    for (let i = 0; i < 10; i++) {
      expect((await send("PATCH", `/v1/recordings/${recordingId}?clips=follow`, { time_expansion: 1 })).json().duration).toBe(3);
      const [created, patched] = await Promise.all([
        send("POST", "/v1/clips", { recording_id: recordingId, start_time: 2, end_time: 2.9 }),
        send("PATCH", `/v1/recordings/${recordingId}?clips=follow`, { time_expansion: 2 }),
      ]);
      expect(patched.statusCode, patched.body).toBe(200);
      const clips = (await get(`/v1/clips?recording_id=${recordingId}&state=all`)).items as { id: string; start_time: number; end_time: number }[];
      if (created.statusCode === 201) {
        // Created first, then followed: the file's 2–2.9 s at 2 are real 1–1.45 s.
        expect(clips.map((c) => [c.id, c.start_time, c.end_time]), `try ${i}`).toEqual([[created.json().id, 1, 1.45]]);
        expect((await send("DELETE", `/v1/clips/${created.json().id}`)).statusCode).toBe(204);
      } else {
        expect(created.statusCode, `try ${i}`).toBe(400);
        expect(clips).toEqual([]);
      }
    }
  });

  it("is documented in the OpenAPI document: the clips choice, and the values that go", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    const patch = doc.paths["/v1/recordings/{id}"].patch;
    const clips = patch.parameters.find((p: { in: string; name: string }) => p.in === "query" && p.name === "clips");
    expect([clips.required, clips.schema.enum]).toEqual([false, ["follow", "keep"]]);
    expect(clips.description).toMatch(/^What a new `time_expansion` does to the recording's clips/);
    expect(patch.description).toMatch(/feature values jobs computed of it and of its clips go/);
  });
});
