/**
 * The remaining API resources: clips, notes, tags and feature names (get-or-create), runs,
 * jobs (validated task data, abort, metrics), artifacts cleanup (admin only).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { mkdir, readFile, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { expandedSamplerate } from "../src/audio/expansion.js";
import { createArtifact, storeFile } from "../src/store/artifacts.js";
import { CHUNK_BYTES } from "../src/store/common.js";
import { resolveRoots } from "../src/store/paths.js";
import { createToken } from "../src/store/tokens.js";
import { createUser, ensureAdmin } from "../src/store/users.js";
import { multipartParts } from "./http-helpers.js";
import { freshDatabase, JUNK_BYTES, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let app: App;
let scratch: { path: string; remove(): Promise<void> };
/** A second audio root, for datasets of their own: scratch is the "tones" dataset's directory, and no dataset may lie inside another's. */
let apart: { path: string; remove(): Promise<void> };
let member: string;
let viewer: string;
let admin: string;
let recordingId: string;

const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const fields = (body: { fields?: { field: string }[] }) => (body.fields ?? []).map((f) => f.field);

beforeAll(async () => {
  t = await freshDatabase();
  scratch = await tempDir();
  apart = await tempDir();
  await writeSineWav(join(scratch.path, "tone.wav"), 16000, 2);
  await writeFile(join(scratch.path, "junk.wav"), JUNK_BYTES);
  admin = (await ensureAdmin(t.db.sql))!.key;
  member = (await createToken(t.db.sql, { user_id: (await createUser(t.db.sql, { username: "m" })).id, name: "m", created_by: null })).key;
  viewer = (await createToken(t.db.sql, { user_id: (await createUser(t.db.sql, { username: "v", role: "viewer" })).id, name: "v", created_by: null })).key;
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([scratch.path, apart.path]) });
  const dataset = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "tones", audio_dir: scratch.path }, headers: auth(member) })).json();
  const rec = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: dataset.id, path: "tone.wav", time_expansion: 2 }, headers: auth(member) });
  expect(rec.statusCode).toBe(201);
  recordingId = rec.json().id;
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  await scratch?.remove();
  await apart?.remove();
});

describe("recordings registered one by one", () => {
  it("read the file's facts and apply time expansion", async () => {
    const rec = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json();
    expect(rec).toMatchObject({ path: "tone.wav", file_samplerate: 16000, samplerate: 32000, frames: 32000, duration: 1, channels: 1 });
  });

  it("are not registered in an archived dataset (409 naming it), and are once it is restored", async () => {
    await mkdir(join(apart.path, "frozen"));
    await writeSineWav(join(apart.path, "frozen", "tone.wav"), 16000, 0.1);
    const dataset = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "frozen", audio_dir: join(apart.path, "frozen") }, headers: auth(member) })).json();
    await app.inject({ method: "POST", url: `/v1/datasets/${dataset.id}/archive`, headers: auth(member) });
    const register = () => app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: dataset.id, path: "tone.wav" }, headers: auth(member) });
    const refused = await register();
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().message).toBe(`dataset ${dataset.id} is archived and read-only; restore it first`);
    await app.inject({ method: "POST", url: `/v1/datasets/${dataset.id}/restore`, headers: auth(member) });
    expect((await register()).statusCode).toBe(201);
  });

  it("a name or directory another dataset holds is refused as taken, naming the field (fields) and that dataset, and what frees it — 'name already exists in datasets' named none, for a name no listing showed", async () => {
    for (const dir of ["kept", "other", "third"]) await mkdir(join(apart.path, dir));
    const make = (name: string, dir: string) => app.inject({ method: "POST", url: "/v1/datasets", payload: { name, audio_dir: join(apart.path, dir) }, headers: auth(member) });
    /** A 409's status, message and fields, the message naming the field as a 400's does. */
    const taken = (field: string, message: string) => [409, `${field}: ${message}`, [{ field, message }]];
    const answer = (res: { statusCode: number; json(): { message: string; fields?: unknown } }) => [res.statusCode, res.json().message, res.json().fields];
    const kept = (await make("kept", "kept")).json();
    const other = (await make("other", "other")).json();
    await app.inject({ method: "POST", url: `/v1/datasets/${kept.id}/trash`, headers: auth(member) });
    const inTrash = `"kept" is taken by dataset ${kept.id} ("kept"), which is in the trash; choose another name, or purge it, or restore it and rename it`;
    expect(answer(await make("kept", "third"))).toEqual(taken("name", inTrash));
    const renamed = await app.inject({ method: "PATCH", url: `/v1/datasets/${other.id}`, payload: { name: " kept " }, headers: auth(member) });
    expect(answer(renamed)).toEqual(taken("name", inTrash));
    expect(answer(await make("new", "kept"))).toEqual(taken("audio_dir", `${JSON.stringify(kept.audio_dir)} is taken by dataset ${kept.id} ("kept"), which is in the trash; restore it and import into it, or purge it`));
    await app.inject({ method: "POST", url: `/v1/datasets/${kept.id}/restore`, headers: auth(member) });
    await app.inject({ method: "POST", url: `/v1/datasets/${other.id}/archive`, headers: auth(member) });
    expect(answer(await make("other", "third"))).toEqual(taken("name", `"other" is taken by dataset ${other.id} ("other"), which is archived; choose another name, or restore it, then rename or delete it`));
    expect(answer(await make("kept", "third"))).toEqual(taken("name", `"kept" is taken by dataset ${kept.id} ("kept"); choose another name`));
    expect(answer(await make("new", "kept"))).toEqual(taken("audio_dir", `${JSON.stringify(kept.audio_dir)} is taken by dataset ${kept.id} ("kept"); a directory is one dataset's: import into that one, or choose another directory`));
    await app.inject({ method: "POST", url: `/v1/datasets/${other.id}/restore`, headers: auth(member) });
    for (const id of [kept.id, other.id]) expect((await app.inject({ method: "DELETE", url: `/v1/datasets/${id}`, headers: auth(admin) })).statusCode).toBe(204);
  });

  it("a directory inside another dataset's is refused (409 naming that dataset and both directories): its files were registered twice", async () => {
    await mkdir(join(scratch.path, "site A"));
    onTestFinished(() => rm(join(scratch.path, "site A"), { recursive: true })); // the scans below list scratch's files
    const tones = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    const [root] = await resolveRoots([scratch.path]);
    const nested = await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "site A", audio_dir: join(scratch.path, "site A") }, headers: auth(member) });
    expect([nested.statusCode, nested.json().message]).toEqual([409, `audio_dir ${JSON.stringify(join(root, "site A"))} lies inside ${root}, the directory of dataset ${tones} ("tones"): a file below both would be registered in each, its work split between two recordings; import the files into that dataset instead`]);
  });

  it("report the samplerate the engine computes with, and sort by it", async () => {
    // 16000 Hz × 3.0318750000000003 is 48510.00000000001 in float64, within rounding of 48510 Hz:
    // the engine analyses the recording at 48510 Hz (expandedSamplerate), so the API says so.
    const dataset_id = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    const expansions = { "rate-a.wav": 3.0318750000000003, "rate-b.wav": 3.0319, "rate-c.wav": 3.031875, "rate-d.wav": 3.0318 };
    for (const [path, time_expansion] of Object.entries(expansions)) {
      await writeSineWav(join(scratch.path, path), 16000, 0.1);
      const res = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id, path, time_expansion }, headers: auth(member) });
      expect(res.json().samplerate, path).toBe(expandedSamplerate(16000, time_expansion));
    }
    const shown = async (order: string) =>
      (await app.inject({ url: `/v1/recordings?search=rate-&sort=samplerate&order=${order}` })).json().items.map((r: { path: string; samplerate: number }) => [r.path, r.samplerate]);
    const ascending = await shown("asc");
    expect(Object.fromEntries(ascending)).toEqual({ "rate-a.wav": 48510, "rate-b.wav": 48510.399999999994, "rate-c.wav": 48510, "rate-d.wav": 48508.8 });
    // In the order of the rates shown, the two of 48510 Hz by path (in the order asked): by their random ids, they swapped between databases.
    expect(ascending).toEqual([["rate-d.wav", 48508.8], ["rate-a.wav", 48510], ["rate-c.wav", 48510], ["rate-b.wav", 48510.399999999994]]);
    expect(await shown("desc")).toEqual([["rate-b.wav", 48510.399999999994], ["rate-c.wav", 48510], ["rate-a.wav", 48510], ["rate-d.wav", 48508.8]]);
  });

  it("sort=date orders a night's recordings by date, then time (each without one last, either way), then path — not by random id — in pages that neither repeat nor skip one; date_from / date_to filter, each date inclusive, naming the field at fault", async () => {
    await mkdir(join(apart.path, "night"));
    const dataset_id = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "night", audio_dir: join(apart.path, "night") }, headers: auth(member) })).json().id;
    onTestFinished(async () => {
      await app.inject({ method: "DELETE", url: `/v1/datasets/${dataset_id}`, headers: auth(admin) });
      await rm(join(apart.path, "night"), { recursive: true });
    });
    const recordings: [string, string | null, string | null][] = [
      ["e.wav", "2024-05-01", "23:10:00"], ["a.wav", "2024-05-02", "01:30:00"], ["d.wav", "2024-05-01", "21:00:00"], ["c.wav", "2024-05-02", "01:30:00"],
      ["b.wav", "2024-05-02", null], ["f.wav", null, "22:00:00"], ["g.wav", null, null],
    ];
    for (const [path, date, time] of recordings) {
      await writeSineWav(join(apart.path, "night", path), 8000, 0.1);
      const res = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id, path, date, time }, headers: auth(member) });
      expect(res.statusCode, res.body).toBe(201);
    }
    const paths = async (query: string) => {
      const res = await app.inject({ url: `/v1/recordings?dataset_id=${dataset_id}&${query}` });
      expect(res.statusCode, res.body).toBe(200);
      return res.json().items.map((r: { path: string }) => r.path);
    };
    expect(await paths("sort=date")).toEqual(["d.wav", "e.wav", "a.wav", "c.wav", "b.wav", "f.wav", "g.wav"]);
    expect(await paths("sort=date&order=desc")).toEqual(["c.wav", "a.wav", "b.wav", "e.wav", "d.wav", "f.wav", "g.wav"]);
    for (const order of ["asc", "desc"]) {
      const pages = [];
      for (let offset = 0; offset < 7; offset += 2) pages.push(...await paths(`sort=date&order=${order}&limit=2&offset=${offset}`));
      expect(pages).toEqual(await paths(`sort=date&order=${order}`));
    }
    expect(await paths("sort=date&date_from=2024-05-02")).toEqual(["a.wav", "c.wav", "b.wav"]);
    expect(await paths("sort=date&date_to=2024-05-01")).toEqual(["d.wav", "e.wav"]);
    expect(await paths("sort=path&date_from=2024-05-01&date_to=2024-05-01")).toEqual(["d.wav", "e.wav"]);
    const refused = async (query: string) => {
      const res = await app.inject({ url: `/v1/recordings?dataset_id=${dataset_id}&${query}` });
      return [res.statusCode, res.json().fields];
    };
    expect(await refused("date_from=2024-13-01")).toEqual([400, [{ field: "date_from", message: "must be a date YYYY-MM-DD" }]]);
    expect(await refused("date_to=0000-01-01")).toEqual([400, [{ field: "date_to", message: "must be a date from 0001-01-01 (there is no year 0)" }]]);
    expect(await refused("date_from=2024-05-03&date_to=2024-05-01")).toEqual([400, [{ field: "date_to", message: "must be on or after date_from (2024-05-03)" }]]);
  });

  it("report the duration the engine computes with, frames / samplerate, and let a clip end there", async () => {
    // 1600 frames at 16000 Hz × 3.0318750000000003: the column divided by 48510.00000000001 Hz
    // (0.03298289012574726 s) where the engine reads 1600 / 48510 Hz = 0.03298289012574727 s, so a
    // clip ending where the recording's frames and samplerate say it ends was refused (400).
    const dataset_id = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    await writeSineWav(join(scratch.path, "te-duration.wav"), 16000, 0.1);
    const created = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id, path: "te-duration.wav", time_expansion: 3.0318750000000003 }, headers: auth(member) });
    const recording = created.json();
    expect([recording.frames, recording.samplerate, recording.duration]).toEqual([1600, 48510, 1600 / 48510]);
    const clip = await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recording.id, start_time: 0, end_time: 1600 / 48510 }, headers: auth(member) });
    expect(clip.statusCode, clip.body).toBe(201);
    // A change of time expansion checks the clips against the same duration: 0.7 gives 11200 Hz and
    // 1600 / 11200 = 0.14285714285714285 s, which the clip, moved to end there, fits.
    const changed = await app.inject({ method: "PATCH", url: `/v1/recordings/${recording.id}?clips=keep`, payload: { time_expansion: 0.7 }, headers: auth(member) });
    expect([changed.statusCode, changed.json().samplerate, changed.json().duration]).toEqual([200, 11200, 1600 / 11200]);
    const moved = await app.inject({ method: "PATCH", url: `/v1/clips/${clip.json().id}`, payload: { end_time: 1600 / 11200 }, headers: auth(member) });
    expect(moved.statusCode, moved.body).toBe(200);
    expect((await app.inject({ method: "PATCH", url: `/v1/recordings/${recording.id}?clips=keep`, payload: { time_expansion: 3.0318750000000003 }, headers: auth(member) })).statusCode).toBe(409);
  });

  it("refuse a time expansion that gives no usable rate, naming it (400), when registered or changed", async () => {
    const dataset_id = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    await writeSineWav(join(scratch.path, "te-refused.wav"), 16000, 0.1);
    const rule = "must give a real samplerate (the file's 16000 Hz × time_expansion) from 1 to 100000000 Hz";
    // 5e-324: 7.9e-320 Hz, lasting Infinity s; 1e308: Infinity Hz. The database refused both as "value: has an invalid value".
    for (const [time_expansion, rate] of [[5e-324, "7.905e-320"], [1e308, "Infinity"], [1e-5, "0.16"]] as const) {
      const posted = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id, path: "te-refused.wav", time_expansion }, headers: auth(member) });
      const patched = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { time_expansion }, headers: auth(member) });
      for (const res of [posted, patched]) {
        expect(res.statusCode, String(time_expansion)).toBe(400);
        expect(res.json().fields).toEqual([{ field: "time_expansion", message: `${rule}; ${time_expansion} gives ${rate} Hz` }]);
      }
    }
    expect((await app.inject({ url: `/v1/recordings/${recordingId}` })).json()).toMatchObject({ time_expansion: 2, samplerate: 32000 });
    // 1e-4 gives 1.6 Hz, within the rule.
    const registered = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id, path: "te-refused.wav", time_expansion: 1e-4 }, headers: auth(member) });
    expect(registered.json()).toMatchObject({ samplerate: 1.6, duration: 1000 });
  });

  it("refuse paths escaping the dataset and duplicates", async () => {
    const datasetId = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    for (const path of ["../tone.wav", "/etc/passwd", "missing.wav"]) {
      const res = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path }, headers: auth(member) });
      expect(res.statusCode, path).toBe(400);
      expect(fields(res.json())).toEqual(["path"]);
    }
    // One file, one path: "./tone.wav", ".//tone.wav" and "tone.wav/" are the registered "tone.wav".
    for (const path of ["tone.wav", "./tone.wav", ".//tone.wav", "tone.wav/", "./tone.wav//"]) {
      const dup = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path }, headers: auth(member) });
      expect(dup.statusCode, path).toBe(409);
      expect(dup.json().message).toMatch(/already has a recording at tone\.wav$/);
    }
    const junk = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path: "junk.wav" }, headers: auth(member) });
    expect(junk.statusCode).toBe(400);
    expect(fields(junk.json())).toEqual(["path"]);
  });

  it("refuse the dataset's audio_dir itself as a recording's path, saying so (it was '. resolves outside the dataset's audio_dir')", async () => {
    const datasetId = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    await symlink(".", join(scratch.path, "here"));
    onTestFinished(() => rm(join(scratch.path, "here")));
    for (const [path, named] of [[".", "."], ["./", "."], [".//.", "."], ["here", "here"], ["here/", "here"]]) {
      const res = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path }, headers: auth(member) });
      expect([res.statusCode, res.json().message, fields(res.json())], path).toEqual([400, `path: "${named}" is the dataset's audio_dir itself, not a file in it`, ["path"]]);
    }
    const up = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path: "sub/.." }, headers: auth(member) });
    expect([up.statusCode, up.json().message]).toEqual([400, "path: must not contain '..'"]);
  });

  it("register a file by where it is: through a link to its directory, or a link to it, it is the same file, registered once", async () => {
    const datasetId = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    await mkdir(join(scratch.path, "sub"));
    await writeSineWav(join(scratch.path, "sub", "a.wav"), 8000, 1);
    await symlink("sub", join(scratch.path, "sublink"));
    await symlink("a.wav", join(scratch.path, "sub", "alias.wav"));
    onTestFinished(() => Promise.all(["sub", "sublink"].map((p) => rm(join(scratch.path, p), { recursive: true }))).then(() => {}));
    const post = (path: string) => app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path }, headers: auth(member) });
    const first = await post("sublink/a.wav");
    expect([first.statusCode, first.json().path]).toEqual([201, "sub/a.wav"]);
    // Both were registered (201) beside sub/a.wav, and a scan listed both as registered.
    for (const path of ["sub/a.wav", "sublink/alias.wav"]) {
      const dup = await post(path);
      expect([dup.statusCode, dup.json().message], path).toEqual([409, `dataset ${datasetId} already has a recording at sub/a.wav`]);
    }
    const scan = (await app.inject({ url: `/v1/datasets/${datasetId}/scan`, headers: auth(member) })).json();
    expect(scan.items.filter((f: { path: string }) => /(^|\/)(a|alias)\.wav$/.test(f.path))).toEqual([{ path: "sub/a.wav", status: "registered", recording_id: first.json().id, recording_state: "active", changed: null, possibly_moved_to: [], unreadable: null }]);
    await app.inject({ method: "DELETE", url: `/v1/recordings/${first.json().id}`, headers: auth(admin) });
  });

  it("never serve a file outside the roots through a link swapped in between the path check and the open — an audit got one in ~30 downloads", async () => {
    const datasetId = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    const outside = await tempDir();
    onTestFinished(() => Promise.all([outside.remove(), rm(join(scratch.path, "swap"), { recursive: true, force: true })]).then(() => {}));
    await mkdir(join(scratch.path, "swap"));
    const file = join(scratch.path, "swap", "a.wav");
    await writeSineWav(file, 8000, 1);
    const mine = await readFile(file);
    // The same size, so no size check tells them apart.
    await writeFile(join(outside.path, "secret.wav"), Buffer.alloc(mine.length, 0x5a));
    const id = (await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path: "swap/a.wav" }, headers: auth(member) })).json().id;
    // Another process swaps the file for a link out of the root and back as fast as it can.
    const swapper = spawn(process.execPath, ["-e", `
      const fs = require("node:fs");
      const [file, target] = process.argv.slice(1);
      fs.copyFileSync(file, file + ".real");
      for (;;) {
        fs.copyFileSync(file + ".real", file + ".tmp");
        fs.renameSync(file + ".tmp", file);
        fs.symlinkSync(target, file + ".tmp");
        fs.renameSync(file + ".tmp", file);
      }`, file, join(outside.path, "secret.wav")], { stdio: "ignore" });
    onTestFinished(() => void swapper.kill());
    const statuses = new Map<number, number>();
    for (let i = 0; i < 600; i++) {
      const res = await app.inject({ url: `/v1/recordings/${id}/audio`, headers: i % 2 ? { range: "bytes=0-99" } : {} });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode === 200 || res.statusCode === 206) expect(res.rawPayload.subarray(0, 100).equals(mine.subarray(0, 100)), `request ${i}`).toBe(true);
    }
    expect(statuses.get(200)! + statuses.get(206)!).toBeGreaterThan(0); // the file was there for some requests
  });
});

describe("clips and notes", () => {
  it("validate clip bounds and carry tags", async () => {
    const bad = await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time: 0.5, end_time: 0.2 }, headers: auth(member) });
    expect(bad.statusCode).toBe(400);
    expect(fields(bad.json())).toEqual(["end_time"]);
    const outside = await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time: 1.5, end_time: 2 }, headers: auth(member) });
    expect(fields(outside.json())).toEqual(["start_time", "end_time"]);
    // The recording lasts 1 s (2 s at 16 kHz, time expansion 2): no clip ends past it.
    const pastEnd = await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time: 0.5, end_time: 999 }, headers: auth(member) });
    expect(pastEnd.statusCode).toBe(400);
    // A researcher reading a player's times for the file as stored is told they are real seconds.
    expect(pastEnd.json().fields).toEqual([{ field: "end_time", message: "must be <= the recording's duration (1 s); times are real seconds: time expansion 2 (the recording's time_expansion) makes the file's 2 s last 1 s" }]);
    const clip = await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time: 0.25, end_time: 0.5 }, headers: auth(member) });
    expect(clip.statusCode).toBe(201);
    const tagged = await app.inject({ method: "POST", url: `/v1/clips/${clip.json().id}/tags`, payload: { key: "call", value: "tone" }, headers: auth(member) });
    expect(tagged.json().tags).toEqual([{ key: "call", value: "tone" }]);
    expect((await app.inject({ url: `/v1/clips?recording_id=${recordingId}` })).json().total).toBe(1);
  });

  it("validate note length", async () => {
    for (const message of ["", "x".repeat(1001)]) {
      const res = await app.inject({ method: "POST", url: "/v1/notes", payload: { message, recording_id: recordingId }, headers: auth(member) });
      expect(res.statusCode).toBe(400);
      expect(fields(res.json())).toEqual(["message"]);
    }
    const ok = await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "x".repeat(1000), is_issue: true, recording_id: recordingId }, headers: auth(member) });
    expect(ok.statusCode).toBe(201);
    expect((await app.inject({ url: "/v1/notes?is_issue=true" })).json().total).toBe(1);
    // The recording carries its active notes (SPEC §5), oldest first; an archived one it leaves to the notes listing.
    const second = (await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "faint second call", recording_id: recordingId }, headers: auth(member) })).json();
    const withNotes = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json();
    expect(withNotes.notes.slice(-2)).toEqual([
      { id: ok.json().id, message: "x".repeat(1000), is_issue: true, created_at: ok.json().created_at, created_by: ok.json().created_by, created_by_username: "m" },
      { id: second.id, message: "faint second call", is_issue: false, created_at: second.created_at, created_by: second.created_by, created_by_username: "m" },
    ]);
    await app.inject({ method: "POST", url: `/v1/notes/${second.id}/archive`, headers: auth(member) });
    expect((await app.inject({ url: `/v1/recordings/${recordingId}` })).json().notes.map((n: { id: string }) => n.id)).not.toContain(second.id);
    // A clip carries its own notes (it carried none); its recording does not carry them.
    const clip = (await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time: 0.1, end_time: 0.2 }, headers: auth(member) })).json();
    const onClip = (await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "a social call", clip_id: clip.id }, headers: auth(member) })).json();
    expect((await app.inject({ url: `/v1/clips/${clip.id}` })).json().notes).toEqual([{ id: onClip.id, message: "a social call", is_issue: false, created_at: onClip.created_at, created_by: onClip.created_by, created_by_username: "m" }]);
    // Its author's username, for every reader (GET /v1/users/{id} needs a token beyond loopback): as written, got and listed.
    expect([onClip.created_by_username, (await app.inject({ url: `/v1/notes/${onClip.id}` })).json().created_by_username]).toEqual(["m", "m"]);
    expect((await app.inject({ url: `/v1/notes?clip_id=${clip.id}` })).json().items.map((n: { created_by_username: string | null }) => n.created_by_username)).toEqual(["m"]);
    expect((await app.inject({ url: `/v1/recordings/${recordingId}` })).json().notes.map((n: { id: string }) => n.id)).not.toContain(onClip.id);
    expect((await app.inject({ url: `/v1/recordings?limit=1000` })).json().items.find((r: { id: string }) => r.id === recordingId).notes.at(-1).id).toBe(ok.json().id);
    expect((await app.inject({ url: "/v1/notes?is_issue=maybe" })).statusCode).toBe(400);
  });

  it("lists the notes one user wrote (created_by), in any state asked for: those a member may restore", async () => {
    const writer = await createUser(t.db.sql, { username: "note-writer" });
    const writerKey = (await createToken(t.db.sql, { user_id: writer.id, name: "w", created_by: null })).key;
    const clip = (await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time: 0.3, end_time: 0.4 }, headers: auth(member) })).json();
    const write = async (key: string, message: string) => (await app.inject({ method: "POST", url: "/v1/notes", payload: { message, clip_id: clip.id }, headers: auth(key) })).json();
    const theirs = await write(member, "theirs");
    const mine = [await write(writerKey, "mine 1"), await write(writerKey, "mine 2")];
    for (const [n, key] of [[theirs, member], [mine[0], writerKey], [mine[1], writerKey]] as const) await app.inject({ method: "POST", url: `/v1/notes/${n.id}/trash`, headers: auth(key) });
    const list = async (query: string) => (await app.inject({ url: `/v1/notes?clip_id=${clip.id}&state=trashed${query}` })).json();
    expect((await list("")).total).toBe(3);
    const written = await list(`&created_by=${writer.id}`);
    expect([written.total, written.items.map((n: { message: string }) => n.message)]).toEqual([2, ["mine 2", "mine 1"]]);
    expect((await list(`&created_by=${writer.id}&limit=1&offset=1`)).items.map((n: { message: string }) => n.message)).toEqual(["mine 1"]);
    const bad = await app.inject({ url: "/v1/notes?created_by=someone" });
    expect([bad.statusCode, fields(bad.json())]).toEqual([400, ["created_by"]]);
    // Gone with its clip: the trash purge below counts the notes trashed by then.
    expect((await app.inject({ method: "DELETE", url: `/v1/clips/${clip.id}`, headers: auth(member) })).statusCode).toBe(204);
  });

  it("let only a note's creator or an admin edit it — another member rewrote a note that still named its creator", async () => {
    const other = (await createToken(t.db.sql, { user_id: (await createUser(t.db.sql, { username: "note-editor" })).id, name: "o", created_by: null })).key;
    const note = (await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "a call at 3 s", recording_id: recordingId }, headers: auth(member) })).json();
    const edit = (key: string, message: string) => app.inject({ method: "PATCH", url: `/v1/notes/${note.id}`, payload: { message }, headers: auth(key) });
    const refused = await edit(other, "no call here");
    expect([refused.statusCode, refused.json().message]).toEqual([403, `only the note's creator or an admin may edit note ${note.id}; user note-editor is member (write a note of your own)`]);
    expect((await app.inject({ url: `/v1/notes/${note.id}` })).json().message).toBe("a call at 3 s");
    expect((await edit(member, "a call at 3.1 s")).json().message).toBe("a call at 3.1 s");
    expect((await edit(admin, "a call at 3.2 s")).json()).toMatchObject({ message: "a call at 3.2 s", created_by: note.created_by });
    expect((await edit(viewer, "x")).statusCode).toBe(403);
  });

  it("refuse a note attached to nothing, naming recording_id — one was written that no view showed", async () => {
    const before = (await app.inject({ url: "/v1/notes?state=all" })).json().total;
    const loose = await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "x" }, headers: auth(member) });
    expect([loose.statusCode, loose.json().message, loose.json().fields]).toEqual([400, "recording_id: a note belongs to a recording or a clip: give recording_id or clip_id", [{ field: "recording_id", message: "a note belongs to a recording or a clip: give recording_id or clip_id" }]]);
    expect((await app.inject({ url: "/v1/notes?state=all" })).json().total).toBe(before);
  });

  it("refuse an edit's bad fields as a new note's, each named with what it must be — a non-boolean is_issue was zod's 'Invalid input: expected boolean, received string'", async () => {
    const note = (await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "a call at 4 s", recording_id: recordingId }, headers: auth(member) })).json();
    const refusals: [object, { field: string; message: string }][] = [
      [{ is_issue: "yes" }, { field: "is_issue", message: "must be true or false" }],
      [{ message: " \n " }, { field: "message", message: "must not be empty or blank" }],
      [{ message: "x".repeat(1001) }, { field: "message", message: "must be at most 1000 characters" }],
    ];
    for (const [payload, refusal] of refusals) {
      const res = await app.inject({ method: "PATCH", url: `/v1/notes/${note.id}`, payload, headers: auth(member) });
      expect([res.statusCode, res.json().fields], JSON.stringify(payload)).toEqual([400, [refusal]]);
    }
    expect((await app.inject({ url: `/v1/notes/${note.id}` })).json()).toMatchObject({ message: "a call at 4 s", is_issue: false });
  });

  it("let only a clip's or a note's creator or an admin archive, trash or restore it — another member's trash hid one, and an admin's purge then deleted it for good", async () => {
    const stranger = (await createToken(t.db.sql, { user_id: (await createUser(t.db.sql, { username: "state-stranger" })).id, name: "s", created_by: null })).key;
    const clip = (await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time: 0.3, end_time: 0.4 }, headers: auth(member) })).json();
    // Deleting the clip deletes the note on it: the recording's notes and the trash stay as the other tests expect them.
    onTestFinished(async () => void (await app.inject({ method: "DELETE", url: `/v1/clips/${clip.id}`, headers: auth(member) })));
    const note = (await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "a feeding buzz", clip_id: clip.id }, headers: auth(member) })).json();
    for (const [kind, record] of [["clip", clip], ["note", note]] as const) {
      const change = (action: string, key: string) => app.inject({ method: "POST", url: `/v1/${kind}s/${record.id}/${action}`, headers: auth(key) });
      const state = async () => (await app.inject({ url: `/v1/${kind}s/${record.id}` })).json().state;
      const refuse = async (action: string, unchanged: string) => {
        const refused = await change(action, stranger);
        expect([refused.statusCode, refused.json().message], `${kind} ${action}`).toEqual([403, `only the ${kind}'s creator or an admin may ${action} ${kind} ${record.id}; user state-stranger is member`]);
        expect(await state(), `${kind} ${action}`).toBe(unchanged);
      };
      for (const action of ["archive", "trash"]) await refuse(action, "active");
      expect((await change("archive", member)).json().state).toBe("archived");
      await refuse("restore", "archived");
      expect((await change("restore", admin)).json().state).toBe("active");
      expect((await change("trash", admin)).json().state).toBe("trashed");
      await refuse("restore", "trashed");
      expect((await change("restore", member)).json().state).toBe("active");
      expect((await change("archive", viewer)).statusCode).toBe(403);
    }
  });

  it("let only a clip's creator or an admin move its bounds, as delete it — another member moved what its creator's annotation covers —; any member tags it, sets its features and notes on it", async () => {
    const stranger = (await createToken(t.db.sql, { user_id: (await createUser(t.db.sql, { username: "clip-mover" })).id, name: "c", created_by: null })).key;
    const clip = (await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time: 0.5, end_time: 0.6 }, headers: auth(member) })).json();
    onTestFinished(async () => void (await app.inject({ method: "DELETE", url: `/v1/clips/${clip.id}`, headers: auth(member) })));
    const move = (key: string, end_time: number) => app.inject({ method: "PATCH", url: `/v1/clips/${clip.id}`, payload: { end_time }, headers: auth(key) });
    // The hint names only what the refused member may do: a note on the clip (trash is its creator's too).
    const refusal = (action: string) => `only the clip's creator or an admin may ${action} clip ${clip.id}; user clip-mover is member (write a note on it for its creator)`;
    const refused = await move(stranger, 0.65);
    expect([refused.statusCode, refused.json().message]).toEqual([403, refusal("move")]);
    expect((await app.inject({ url: `/v1/clips/${clip.id}` })).json().end_time).toBe(0.6);
    expect((await move(member, 0.65)).json().end_time).toBe(0.65);
    expect((await move(admin, 0.7)).json().end_time).toBe(0.7);
    expect((await move(viewer, 0.75)).statusCode).toBe(403);
    const deleted = await app.inject({ method: "DELETE", url: `/v1/clips/${clip.id}`, headers: auth(stranger) });
    expect([deleted.statusCode, deleted.json().message]).toEqual([403, refusal("delete")]);
    expect((await app.inject({ method: "POST", url: `/v1/clips/${clip.id}/trash`, headers: auth(stranger) })).statusCode).toBe(403);
    // Labelling stays collaborative: another member's tags, features and notes on the clip.
    const as = (method: "POST" | "DELETE", url: string, payload?: object) => app.inject({ method, url, payload, headers: auth(stranger) });
    expect((await as("POST", `/v1/clips/${clip.id}/tags`, { key: "species", value: "Myotis" })).json().tags).toEqual([{ key: "species", value: "Myotis" }]);
    expect((await as("DELETE", `/v1/clips/${clip.id}/tags?key=species&value=Myotis`)).json().tags).toEqual([]);
    expect((await as("POST", `/v1/clips/${clip.id}/features`, { name: "snr_db", value: 12 })).json().features).toEqual([{ name: "snr_db", value: 12 }]);
    expect((await as("DELETE", `/v1/clips/${clip.id}/features/snr_db`)).json().features).toEqual([]);
    const note = await as("POST", "/v1/notes", { message: "ends at 0.62 s, I think", clip_id: clip.id });
    expect([note.statusCode, note.json().clip_id]).toEqual([201, clip.id]);
  });

  it("carry a clip's creator's username for every reader, as a note's author's: the viewer says whose a clip is, which only they or an admin may move or delete", async () => {
    const clip = (await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time: 0.5, end_time: 0.55 }, headers: auth(member) })).json();
    onTestFinished(async () => void (await app.inject({ method: "DELETE", url: `/v1/clips/${clip.id}`, headers: auth(member) })));
    const listed = (await app.inject({ url: `/v1/clips?recording_id=${recordingId}&start_before=0.55&end_after=0.5` })).json().items;
    // Without a token (a user record is read with one only), in the answer, the clip and the list.
    expect([clip.created_by_username, (await app.inject({ url: `/v1/clips/${clip.id}` })).json().created_by_username, listed.map((c: { created_by_username: string | null }) => c.created_by_username)]).toEqual(["m", "m", ["m"]]);
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    expect(doc.paths["/v1/clips/{id}"].get.responses["200"].content["application/json"].schema.properties.created_by_username).toMatchObject({ type: "string" });
  });

  it("let any member edit a recording, as they archive and trash it: a recording is the dataset's, not one annotator's", async () => {
    const stranger = (await createToken(t.db.sql, { user_id: (await createUser(t.db.sql, { username: "recording-editor" })).id, name: "r", created_by: null })).key;
    const before = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json();
    onTestFinished(async () => void (await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { rights: before.rights }, headers: auth(admin) })));
    const edited = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { rights: "CC BY 4.0" }, headers: auth(stranger) });
    expect([edited.statusCode, edited.json().rights]).toEqual([200, "CC BY 4.0"]);
  });

  it("list a recording's notes with those on its clips when asked (include_clips), the recording's own otherwise", async () => {
    const clip = (await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time: 0.6, end_time: 0.7 }, headers: auth(member) })).json();
    onTestFinished(async () => void (await app.inject({ method: "DELETE", url: `/v1/clips/${clip.id}`, headers: auth(member) })));
    const onRecording = (await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "rain from 0.5 s", recording_id: recordingId }, headers: auth(member) })).json();
    // Notes have no DELETE route; a trashed one would count in the purge tests below.
    onTestFinished(async () => void (await t.db.sql`DELETE FROM notes WHERE id = ${onRecording.id}`));
    const onClip = (await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "two calls overlap", clip_id: clip.id }, headers: auth(member) })).json();
    const list = async (query: string) => (await app.inject({ url: `/v1/notes?recording_id=${recordingId}&limit=1000${query}` })).json();
    const own = await list("");
    expect(own.items.map((n: { id: string }) => n.id)).toContain(onRecording.id);
    expect(own.items.map((n: { id: string }) => n.id)).not.toContain(onClip.id);
    const all = await list("&include_clips=true");
    expect(all.items.filter((n: { clip_id: string | null }) => n.clip_id === null)).toEqual(own.items);
    expect(all.items.find((n: { id: string }) => n.id === onClip.id)).toMatchObject({ clip_id: clip.id, recording_id: null, message: "two calls overlap" });
    expect(all.total).toBe(all.items.length);
    expect(await list("&include_clips=false")).toEqual(own);
    const alone = await app.inject({ url: "/v1/notes?include_clips=true" });
    expect([alone.statusCode, fields(alone.json())]).toEqual([400, ["include_clips"]]);
  });
});

describe("clip bounds under concurrent requests", () => {
  // A 3 s recording of its own (16 kHz, time expansion 1), so the bounds are easy to reason about.
  let raceId: string;
  beforeAll(async () => {
    await writeSineWav(join(scratch.path, "race.wav"), 16000, 3);
    const { dataset_id } = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json();
    const rec = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id, path: "race.wav" }, headers: auth(member) });
    expect(rec.json()).toMatchObject({ duration: 3 });
    raceId = rec.json().id;
  });

  it("two PATCHes of one clip never both succeed with one change lost", async () => {
    const clip = (await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: raceId, start_time: 1, end_time: 2 }, headers: auth(member) })).json();
    onTestFinished(async () => void (await app.inject({ method: "DELETE", url: `/v1/clips/${clip.id}`, headers: auth(member) })));
    for (let i = 0; i < 20; i++) {
      const reset = await app.inject({ method: "PATCH", url: `/v1/clips/${clip.id}`, payload: { start_time: 1, end_time: 2 }, headers: auth(member) });
      expect(reset.json()).toMatchObject({ start_time: 1, end_time: 2 });
      // In either order the second request must be refused: 1.5–1.2 is no clip.
      const [start, end] = await Promise.all([
        app.inject({ method: "PATCH", url: `/v1/clips/${clip.id}`, payload: { start_time: 1.5 }, headers: auth(member) }),
        app.inject({ method: "PATCH", url: `/v1/clips/${clip.id}`, payload: { end_time: 1.2 }, headers: auth(member) }),
      ]);
      const final = (await app.inject({ url: `/v1/clips/${clip.id}` })).json();
      expect([start.statusCode, end.statusCode].sort(), `try ${i}`).toEqual([200, 400]);
      if (start.statusCode === 200) {
        expect(final).toMatchObject({ start_time: 1.5, end_time: 2 });
        expect(end.json().fields).toEqual([{ field: "end_time", message: "must be > start_time (1.5)" }]);
      } else {
        expect(final).toMatchObject({ start_time: 1, end_time: 1.2 });
        expect(start.json().fields).toEqual([{ field: "start_time", message: "must be < end_time (1.2)" }]);
      }
    }
  });

  it("PATCHes of one dataset or note, and refreshes of one recording, at once all succeed — on PostgreSQL most answered 500, 'deadlock detected'", async () => {
    const { dataset_id } = (await app.inject({ url: `/v1/recordings/${raceId}` })).json();
    const note = (await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "n", recording_id: raceId }, headers: auth(member) })).json();
    const patch = (url: string, payload: object) => app.inject({ method: "PATCH", url, payload, headers: auth(member) });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => [
      patch(`/v1/datasets/${dataset_id}`, { description: `d${i}` }),
      patch(`/v1/notes/${note.id}`, { message: `m${i}` }),
      app.inject({ method: "POST", url: `/v1/recordings/${raceId}/refresh`, headers: auth(member) }),
    ]).flat());
    expect(answers.map((a) => a.statusCode), answers.find((a) => a.statusCode !== 200)?.body).toEqual(answers.map(() => 200));
    expect((await app.inject({ url: `/v1/notes/${note.id}` })).json().message).toMatch(/^m[0-7]$/);
  });

  it("deletes of a clip or a recording while others write to it answer 204 once, else 404, and every write 200/201 or 404 — on PostgreSQL most deletes answered 500, 'deadlock detected'", async () => {
    await writeSineWav(join(scratch.path, "doomed.wav"), 16000, 1);
    onTestFinished(() => rm(join(scratch.path, "doomed.wav"))); // unregistered, the import below would take it
    const { dataset_id } = (await app.inject({ url: `/v1/recordings/${raceId}` })).json();
    const recording = (await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id, path: "doomed.wav" }, headers: auth(member) })).json();
    const clip = (await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recording.id, start_time: 0.1, end_time: 0.5 }, headers: auth(member) })).json();
    const note = (await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "n", clip_id: clip.id }, headers: auth(member) })).json();
    const send = (method: "POST" | "PATCH" | "DELETE", url: string, payload?: object, key = member) => app.inject({ method, url, payload, headers: auth(key) });
    const eight = <T>(request: (i: number) => T) => Array.from({ length: 8 }, (_, i) => request(i));
    const deleting = [
      ...eight(() => send("DELETE", `/v1/clips/${clip.id}`)),
      ...eight(() => send("DELETE", `/v1/recordings/${recording.id}`, undefined, admin)),
    ];
    const writing = [
      ...eight((i) => send("POST", `/v1/clips/${clip.id}/tags`, { key: "call", value: `c${i}` })),
      ...eight((i) => send("POST", `/v1/clips/${clip.id}/features`, { name: "peak", value: i })),
      ...eight((i) => send("POST", "/v1/notes", { message: `on clip ${i}`, clip_id: clip.id })),
      ...eight((i) => send("PATCH", `/v1/notes/${note.id}`, { message: `m${i}` })),
      ...eight((i) => send("POST", `/v1/recordings/${recording.id}/tags`, { key: "call", value: `c${i}` })),
    ];
    const [deletes, writes] = [await Promise.all(deleting), await Promise.all(writing)];
    const codes = (answers: { statusCode: number }[]) => answers.map((a) => a.statusCode).sort();
    const unexpected = [...deletes, ...writes].find((a) => a.statusCode >= 500)?.body;
    // The recording's delete takes the clip with it: the clip's own deletes may then all find it gone.
    expect(codes(deletes.slice(0, 8)).slice(1), unexpected).toEqual(eight(() => 404).slice(1));
    expect([204, 404], unexpected).toContain(codes(deletes.slice(0, 8))[0]);
    expect(codes(deletes.slice(8)), unexpected).toEqual([204, ...eight(() => 404).slice(1)]);
    for (const a of writes) expect([200, 201, 404], a.body).toContain(a.statusCode);
    expect((await app.inject({ url: `/v1/clips/${clip.id}` })).statusCode).toBe(404);
    expect((await app.inject({ url: `/v1/recordings/${recording.id}` })).statusCode).toBe(404);
    expect(await t.db.sql`SELECT id FROM notes WHERE id = ${note.id} OR clip_id = ${clip.id}`).toEqual([]);
  });

  it("a clip created while the time expansion changes never ends past the recording", async () => {
    for (let i = 0; i < 20; i++) {
      expect((await app.inject({ method: "PATCH", url: `/v1/recordings/${raceId}?clips=keep`, payload: { time_expansion: 1 }, headers: auth(member) })).json().duration).toBe(3);
      // Created first, the clip makes the new time expansion (1.5 s) refused; set first, it refuses the clip.
      const [created, patched] = await Promise.all([
        app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: raceId, start_time: 2, end_time: 2.9 }, headers: auth(member) }),
        app.inject({ method: "PATCH", url: `/v1/recordings/${raceId}?clips=keep`, payload: { time_expansion: 2 }, headers: auth(member) }),
      ]);
      const recording = (await app.inject({ url: `/v1/recordings/${raceId}` })).json();
      const clips = (await app.inject({ url: `/v1/clips?recording_id=${raceId}&state=all` })).json().items as { id: string; end_time: number }[];
      for (const c of clips) expect(c.end_time, `try ${i}: clip ${c.id} in a ${recording.duration} s recording`).toBeLessThanOrEqual(recording.duration);
      // Exactly one succeeds: the clip (and the time expansion is refused) or the time expansion.
      const statuses = { created: created.statusCode, patched: patched.statusCode };
      expect(statuses, `try ${i}`).toEqual(created.statusCode === 201 ? { created: 201, patched: 409 } : { created: 400, patched: 200 });
      if (created.statusCode === 201) {
        expect(recording.time_expansion).toBe(1);
        expect(patched.json().message).toContain(`first: clip ${created.json().id}, 2–2.9 s`);
        expect(clips.map((c) => c.id)).toEqual([created.json().id]);
        expect((await app.inject({ method: "DELETE", url: `/v1/clips/${created.json().id}`, headers: auth(member) })).statusCode).toBe(204);
      } else {
        expect(recording).toMatchObject({ time_expansion: 2, duration: 1.5 });
        expect(fields(created.json())).toEqual(["start_time", "end_time"]);
        expect(clips).toEqual([]);
      }
    }
  });
});

describe("tags and feature names", () => {
  it("are get-or-create, one row under concurrent requests", async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => app.inject({ method: "POST", url: "/v1/tags", payload: { key: "site", value: "A" }, headers: auth(member) })));
    expect(new Set(results.map((r) => r.json().id)).size).toBe(1);
    expect((await app.inject({ url: "/v1/tags?key=site" })).json().total).toBe(1);
    const names = await Promise.all(Array.from({ length: 6 }, () => app.inject({ method: "POST", url: "/v1/feature_names", payload: { name: "rms_dbfs" }, headers: auth(member) })));
    expect(new Set(names.map((r) => r.json().id)).size).toBe(1);
    const me = (await app.inject({ url: "/v1/users/me", headers: auth(member) })).json();
    expect(names[0].json()).toMatchObject({ created_by: me.id, run_id: null });
    const tooLong = await app.inject({ method: "POST", url: "/v1/tags", payload: { key: "k".repeat(256), value: "" }, headers: auth(member) });
    expect(fields(tooLong.json()).sort()).toEqual(["key", "value"]);
    const longest = await app.inject({ method: "POST", url: "/v1/tags", payload: { key: "k".repeat(255), value: "v".repeat(255) }, headers: auth(member) });
    expect([longest.statusCode, longest.json().key.length, longest.json().value.length]).toEqual([200, 255, 255]);
  });

  it("are the same text however it is typed: trimmed and in NFC; blank, invisible or malformed text is refused, naming the field", async () => {
    const tag = async (key: string, value: string) => app.inject({ method: "POST", url: "/v1/tags", payload: { key, value }, headers: auth(member) });
    // "v " was a second tag beside "v"; "Cafe" + a combining acute accent a second "Café".
    const first = (await tag("place", "Café")).json();
    expect(first).toMatchObject({ key: "place", value: "Café" });
    for (const [key, value] of [["place ", "Café"], [" place", "Cafe\u0301"], ["place", " Café\t"]]) expect((await tag(key, value)).json().id).toBe(first.id);
    expect((await app.inject({ url: `/v1/tags?key=${encodeURIComponent("place ")}` })).json().total).toBe(1);
    const refusals: [string, string, string][] = [
      ["\u200b", "x", "key: must not be empty or blank"], // a zero-width space: nothing to see
      ["k", "   ", "value: must not be empty or blank"],
      ["k", "\u3164", "value: must not be empty or blank"], // the Hangul filler, drawn as nothing (was accepted)
      ["\ud800", "x", "key: must be well-formed Unicode text (it holds a lone UTF-16 surrogate)"], // was stored as U+FFFD
    ];
    for (const [key, value, message] of refusals) {
      const res = await tag(key, value);
      expect(res.statusCode, message).toBe(400);
      expect(res.json().message).toContain(message);
    }
    const blankNote = await app.inject({ method: "POST", url: "/v1/notes", payload: { message: " \n ", recording_id: recordingId }, headers: auth(member) });
    expect([blankNote.statusCode, fields(blankNote.json())]).toEqual([400, ["message"]]);
    const name = await app.inject({ method: "POST", url: "/v1/feature_names", payload: { name: "  snr_db " }, headers: auth(member) });
    expect(name.json().name).toBe("snr_db");
  });
});

describe("runs and jobs", () => {
  it("record no run for an import whose only new file cannot be read: it registers nothing (as `dataset add`)", async () => {
    expect((await app.inject({ url: "/v1/runs?kind=import" })).json().total).toBe(0); // registered by hand so far
    const datasetId = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    // The scan says why the file cannot be imported, in the words the import's `failed` uses: it
    // was `unregistered` as a file waiting for its import is, in every scan.
    const notAudio = "junk.wav: not a recognised audio format (expected WAV, RF64, Wave64, AIFF, FLAC, MP3 or Ogg)";
    const scanned = (await app.inject({ url: `/v1/datasets/${datasetId}/scan`, headers: auth(member) })).json();
    expect(scanned.items.filter((f: { status: string }) => f.status === "unregistered").map((f: { path: string; unreadable: string | null }) => [f.path, f.unreadable])).toEqual([["junk.wav", notAudio]]);
    const imported = (await app.inject({ method: "POST", url: `/v1/datasets/${datasetId}/import`, headers: auth(member) })).json();
    expect(imported.registered).toEqual([]);
    // A file that does not decode is reported, not fatal.
    expect(imported.failed.map((f: { path: string }) => f.path)).toEqual(["junk.wav"]);
    // Named as the record would name it, relative to the dataset's directory: no server path in the message.
    expect(imported.failed[0].error).toBe(notAudio);
    // So is registering it alone.
    const alone = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path: "junk.wav" }, headers: auth(member) });
    expect(alone.statusCode).toBe(400);
    expect(alone.json().message).toBe("path: junk.wav: not a recognised audio format (expected WAV, RF64, Wave64, AIFF, FLAC, MP3 or Ogg)");
    expect(imported.run).toBeNull();
    expect((await app.inject({ url: "/v1/runs?kind=import" })).json().total).toBe(0);
  });

  it("validate task data, abort, and keep metrics", async () => {
    const unknown = await app.inject({ method: "POST", url: "/v1/jobs", payload: { task: "mine_bitcoin", data: {} }, headers: auth(member) });
    expect(fields(unknown.json())).toEqual(["task"]);
    const badData = await app.inject({ method: "POST", url: "/v1/jobs", payload: { task: "extract_features", data: { targets: { recording_ids: [recordingId] }, params: { window: "square" } } }, headers: auth(member) });
    expect(badData.statusCode).toBe(400);
    expect(fields(badData.json())).toEqual(["data.params.window"]);
    // Numbers far out of range are told the bound they break (zod's raw "Too big" text, or "must be an integer" for 1e308, before).
    const huge = await app.inject({ method: "POST", url: "/v1/jobs", payload: { task: "extract_features", data: { targets: { recording_ids: [recordingId] }, expiration_delay: 1e308 }, priority: 1e308 }, headers: auth(member) });
    expect(huge.statusCode).toBe(400);
    expect(huge.json().fields).toEqual([
      { field: "data.expiration_delay", message: "must be <= 315360000 (10 years)" },
      { field: "priority", message: "must be <= 1000" },
    ]);
    const limit = await app.inject({ url: `/v1/recordings?limit=1${"0".repeat(308)}` });
    expect(limit.json().fields).toEqual([{ field: "limit", message: "must be <= 1000" }]);
    // An integer field takes digits only: an exponent is not one.
    expect((await app.inject({ url: "/v1/recordings?limit=1e308" })).json().fields).toEqual([{ field: "limit", message: "must be an integer" }]);
    const created = await app.inject({ method: "POST", url: "/v1/jobs", payload: { task: "extract_features", data: { targets: { recording_ids: [recordingId] }, params: { window_size: 0.01 } }, priority: 3 }, headers: auth(member) });
    expect(created.statusCode).toBe(201);
    const job = created.json();
    expect(job).toMatchObject({ status: "pending", priority: 3, task: "extract_features" });
    expect((await app.inject({ method: "POST", url: `/v1/jobs/${job.id}/abort`, headers: auth(viewer) })).statusCode).toBe(403);
    // Another member may neither stop it nor write its metrics; its creator and admins may.
    const other = (await createToken(t.db.sql, { user_id: (await createUser(t.db.sql, { username: "other" })).id, name: "o", created_by: null })).key;
    const foreign = await app.inject({ method: "POST", url: `/v1/jobs/${job.id}/abort`, payload: { message: "not mine" }, headers: auth(other) });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().message).toBe(`only the job's creator or an admin may abort job ${job.id}; user other is member`);
    expect((await app.inject({ method: "PUT", url: `/v1/jobs/${job.id}/metrics`, payload: { key: "items", value: 999 }, headers: auth(other) })).statusCode).toBe(403);
    expect((await app.inject({ url: `/v1/jobs/${job.id}` })).json().status).toBe("pending");
    const aborted = await app.inject({ method: "POST", url: `/v1/jobs/${job.id}/abort`, payload: { message: "changed my mind" }, headers: auth(member) });
    expect(aborted.json()).toMatchObject({ status: "aborted", message: "aborted: 0 of 1 items done, 1 skipped; why: changed my mind" });
    expect((await app.inject({ url: `/v1/jobs/${job.id}` })).json()).toMatchObject({ status: "aborted", result: null, message: "aborted: 0 of 1 items done, 1 skipped; why: changed my mind" });
    const again = await app.inject({ method: "POST", url: `/v1/jobs/${job.id}/abort`, headers: auth(member) });
    expect(again.statusCode, again.body).toBe(409);
    expect(again.json().message).toMatch(/it is aborted/);

    await app.inject({ method: "PUT", url: `/v1/jobs/${job.id}/metrics`, payload: { key: "items", value: 1 }, headers: auth(member) });
    const bin = await app.inject({ method: "PUT", url: `/v1/jobs/${job.id}/metrics`, payload: { key: "mel", data: Buffer.from([1, 2, 3]).toString("base64") }, headers: auth(member) });
    expect(bin.json().data).toBe("AQID");
    const both = await app.inject({ method: "PUT", url: `/v1/jobs/${job.id}/metrics`, payload: { key: "x", value: 1, data: "AQID" }, headers: auth(member) });
    expect(fields(both.json())).toEqual(["value"]);
    // The step column is 32 bits: 2^31 is refused naming step, not as "value: has an invalid value".
    const far = await app.inject({ method: "PUT", url: `/v1/jobs/${job.id}/metrics`, payload: { key: "x", step: 2 ** 31, value: 1 }, headers: auth(member) });
    expect(far.json().fields).toEqual([{ field: "step", message: "must be <= 2147483647" }]);
    // The workers' own metrics are theirs (the creator had set items_done to 999); keys are names
    // (trimmed, NFC); the rules are said as the other fields' are (zod's defaults had been shown).
    const forged = await app.inject({ method: "PUT", url: `/v1/jobs/${job.id}/metrics`, payload: { key: " items_done ", value: 999 }, headers: auth(member) });
    expect(forged.json().fields).toEqual([{ field: "key", message: "is recorded by the job's workers when it ends (audio_seconds_per_second, items_done, items_failed, items_errored); choose another key" }]);
    const spaced = await app.inject({ method: "PUT", url: `/v1/jobs/${job.id}/metrics`, payload: { key: " loss ", step: 3, value: 0.5 }, headers: auth(member) });
    expect(spaced.json()).toMatchObject({ key: "loss", step: 3, value: 0.5 });
    for (const [payload, field, message] of [
      [{ key: "x", step: -1, value: 1 }, "step", "must be >= 0"],
      [{ key: "x", step: 1.5, value: 1 }, "step", "must be an integer"],
      [{ key: "x", value: "1" }, "value", "must be a finite number"],
    ] as const) {
      expect((await app.inject({ method: "PUT", url: `/v1/jobs/${job.id}/metrics`, payload, headers: auth(member) })).json().fields, JSON.stringify(payload)).toEqual([{ field, message }]);
    }
    const metrics = (await app.inject({ url: `/v1/jobs/${job.id}/metrics` })).json();
    // Beside the ones put here, the abort's own: the job's metrics as a completed job stores them.
    expect(metrics.items.map((m: { key: string }) => m.key)).toEqual(["audio_seconds_per_second", "items", "items_done", "items_errored", "items_failed", "loss", "mel"]);
    expect(metrics.items.find((m: { key: string }) => m.key === "items_done").value).toBe(0);
  });
});

describe("artifacts", () => {
  it("cleanup is for admins", async () => {
    expect((await app.inject({ method: "POST", url: "/v1/artifacts/cleanup", headers: auth(member) })).statusCode).toBe(403);
    const res = await app.inject({ method: "POST", url: "/v1/artifacts/cleanup", headers: auth(admin) });
    expect(res.json()).toEqual({ artifacts: [], files: [] });
  });

  it("expired, leave the default listing and answer 410; archived, they are kept and download", async () => {
    const file = await storeFile(t.db.sql, Buffer.from("clip_id\n"), "text/csv");
    const { id } = await createArtifact(t.db.sql, { name: "old.csv", file_sha256: file.sha256, expiration_delay: 3600, created_by: null });
    await t.db.sql`UPDATE artifacts SET expire_at = now() - interval '1 hour' WHERE id = ${id}`;
    const listed = async (query: string) => (await app.inject({ url: `/v1/artifacts?limit=1000${query}`, headers: auth(member) })).json().items.filter((a: { id: string }) => a.id === id).map((a: { expired: boolean }) => a.expired);
    expect(await listed("")).toEqual([]); // it was listed, with no word that its file is gone (410)
    expect(await listed("&expiry=expired")).toEqual([true]);
    expect(await listed("&expiry=all")).toEqual([true]);
    const bogus = await app.inject({ url: "/v1/artifacts?expiry=old", headers: auth(member) });
    expect([bogus.statusCode, bogus.json().fields]).toEqual([400, [{ field: "expiry", message: "must be one of unexpired, expired, all" }]]);
    const gone = await app.inject({ url: `/v1/artifacts/${id}/file`, headers: auth(member) });
    expect([gone.statusCode, gone.json().message]).toEqual([410, expect.stringContaining(`unless it is archived first (POST /v1/artifacts/${id}/archive keeps it)`)]);
    // Archiving is its creator's or an admin's (made by no one here: an admin's); another member's restore had undone it.
    expect((await app.inject({ method: "POST", url: `/v1/artifacts/${id}/archive`, headers: auth(member) })).statusCode).toBe(403);
    const archived = await app.inject({ method: "POST", url: `/v1/artifacts/${id}/archive`, headers: auth(admin) });
    expect(archived.json()).toMatchObject({ state: "archived", expired: false });
    const kept = await app.inject({ url: `/v1/artifacts/${id}/file`, headers: auth(member) });
    expect([kept.statusCode, kept.body]).toEqual([200, "clip_id\n"]); // it was a 410
    expect(await listed("&state=archived")).toEqual([false]);
  });

  describe("files answer byte ranges as the audio download does", () => {
    // Three whole chunks and a short fourth: ranges inside one chunk, across boundaries, at the end.
    const bytes = randomBytes(3 * CHUNK_BYTES + 1000);
    const size = bytes.length;
    let artifactId: string;
    let etag: string;
    const download = (headers: Record<string, string>, method: "GET" | "HEAD" = "GET") =>
      app.inject({ method, url: `/v1/artifacts/${artifactId}/file`, headers: { ...auth(member), ...headers } });
    beforeAll(async () => {
      const file = await storeFile(t.db.sql, bytes);
      artifactId = (await createArtifact(t.db.sql, { name: "table.bin", file_sha256: file.sha256, created_by: null })).id;
      etag = `"${file.sha256}"`;
    });

    it.each([
      ["inside one chunk", "bytes=100-199", 100, 199],
      ["inside a later chunk", `bytes=${CHUNK_BYTES + 5}-${CHUNK_BYTES + 9}`, CHUNK_BYTES + 5, CHUNK_BYTES + 9],
      ["across one chunk boundary", `bytes=${CHUNK_BYTES - 10}-${CHUNK_BYTES + 9}`, CHUNK_BYTES - 10, CHUNK_BYTES + 9],
      ["across two boundaries", `bytes=${CHUNK_BYTES - 1}-${2 * CHUNK_BYTES}`, CHUNK_BYTES - 1, 2 * CHUNK_BYTES],
      ["a suffix (the last N bytes)", "bytes=-1500", size - 1500, size - 1],
      ["a suffix longer than the file (all of it)", `bytes=-${size + 10}`, 0, size - 1],
      ["open-ended", `bytes=${2 * CHUNK_BYTES + 7}-`, 2 * CHUNK_BYTES + 7, size - 1],
      ["a last byte beyond the end (cut to it)", `bytes=${size - 3}-${size + 100}`, size - 3, size - 1],
    ])("%s: 206 with Content-Range and those bytes only", async (_, range, first, last) => {
      const res = await download({ range });
      expect([res.statusCode, res.headers["content-range"], res.headers["content-length"], res.headers["accept-ranges"], res.headers.etag])
        .toEqual([206, `bytes ${first}-${last}/${size}`, String(last - first + 1), "bytes", etag]);
      expect(res.rawPayload.equals(bytes.subarray(first, last + 1))).toBe(true);
    });

    it("416 with Content-Range bytes */size for a range beyond the end; an invalid one or a stale If-Range get the whole file", async () => {
      const beyond = await download({ range: `bytes=${size}-` });
      expect([beyond.statusCode, beyond.headers["content-range"]]).toEqual([416, `bytes */${size}`]);
      for (const headers of [{ range: "bytes=0-9,20-29", "if-range": '"stale"' }, { range: "bytes=50-40" }, { range: "bytes=0-9", "if-range": '"stale"' }] as Record<string, string>[]) {
        const whole = await download(headers);
        expect([whole.statusCode, whole.headers["content-range"], whole.headers["accept-ranges"], whole.rawPayload.equals(bytes)], JSON.stringify(headers)).toEqual([200, undefined, "bytes", true]);
      }
      const current = await download({ range: "bytes=0-9", "if-range": etag });
      expect([current.statusCode, current.rawPayload.equals(bytes.subarray(0, 10))]).toEqual([206, true]);
    });

    it("several ranges: a 206 multipart/byteranges body, one part per range in the order asked, each with the file's type and its Content-Range — they got the whole file", async () => {
      const ranges = [[2 * CHUNK_BYTES + 5, 2 * CHUNK_BYTES + 14], [CHUNK_BYTES - 10, CHUNK_BYTES + 9], [0, 99]];
      const res = await download({ range: `bytes=${ranges.map(([a, b]) => `${a}-${b}`).join(",")}` });
      expect([res.statusCode, res.headers["content-type"], Number(res.headers["content-length"])])
        .toEqual([206, expect.stringMatching(/^multipart\/byteranges; boundary=/), res.rawPayload.length]);
      const parts = multipartParts(res.headers["content-type"] as string, res.rawPayload);
      expect(parts.map((p) => [p.headers["content-type"], p.headers["content-range"], p.body.toString("hex")]))
        .toEqual(ranges.map(([a, b]) => ["application/octet-stream", `bytes ${a}-${b}/${size}`, bytes.subarray(a, b + 1).toString("hex")]));
    });

    it("If-None-Match still answers 304 (with Accept-Ranges) and an expired artifact 410 before any range; HEAD the range's headers with no body", async () => {
      const unchanged = await download({ range: "bytes=0-9", "if-none-match": etag });
      expect([unchanged.statusCode, unchanged.rawPayload.length, unchanged.headers.etag, unchanged.headers["accept-ranges"]]).toEqual([304, 0, etag, "bytes"]);
      const file = await storeFile(t.db.sql, Buffer.from("expired range"));
      const { id } = await createArtifact(t.db.sql, { name: "gone.bin", file_sha256: file.sha256, expiration_delay: 3600, created_by: null });
      await t.db.sql`UPDATE artifacts SET expire_at = now() - interval '1 hour' WHERE id = ${id}`;
      const gone = await app.inject({ url: `/v1/artifacts/${id}/file`, headers: { ...auth(member), range: "bytes=0-3" } });
      expect([gone.statusCode, gone.headers["content-range"]]).toEqual([410, undefined]);
      const head = await download({ range: "bytes=10-19" }, "HEAD");
      expect([head.statusCode, head.headers["content-range"], head.headers["content-length"], head.rawPayload.length]).toEqual([206, `bytes 10-19/${size}`, "10", 0]);
    });

    it("a range reads only the chunks it covers", async () => {
      // A copy whose chunks 0 and 3 are renumbered out of reach (the byte count still matches, so
      // the file counts as stored): reading either fails the transfer (the missing-chunk test below).
      const copy = Buffer.concat([bytes, Buffer.from("copy")]);
      const file = await storeFile(t.db.sql, copy);
      const { id } = await createArtifact(t.db.sql, { name: "table-copy.bin", file_sha256: file.sha256, created_by: null });
      await t.db.sql`UPDATE file_chunks SET chunk = chunk + 10 WHERE sha256 = ${file.sha256} AND chunk IN (0, 3)`;
      const [first, last] = [CHUNK_BYTES, 3 * CHUNK_BYTES - 1]; // chunk 1's first byte to chunk 2's last
      const res = await app.inject({ url: `/v1/artifacts/${id}/file`, headers: { ...auth(member), range: `bytes=${first}-${last}` } });
      expect([res.statusCode, res.headers["content-range"]]).toEqual([206, `bytes ${first}-${last}/${copy.length}`]);
      expect(res.rawPayload.equals(copy.subarray(first, last + 1))).toBe(true);
    });

    it("declares 206, 304 and 416 and the headers they carry in the OpenAPI document — the headers the answers send (304's and 416's were not declared)", async () => {
      const { responses } = (await app.inject({ url: "/openapi.json" })).json().paths["/v1/artifacts/{id}/file"].get;
      expect(Object.keys(responses)).toEqual(expect.arrayContaining(["200", "206", "304", "410", "416"]));
      expect(Object.keys(responses[200].headers).sort()).toEqual(["Accept-Ranges", "Content-Disposition", "ETag"]);
      expect(Object.keys(responses[206].headers).sort()).toEqual(["Accept-Ranges", "Content-Disposition", "Content-Range", "ETag"]);
      const file = await storeFile(t.db.sql, randomBytes(100));
      const { id } = await createArtifact(t.db.sql, { name: "declared.bin", file_sha256: file.sha256, created_by: null });
      /** The headers an answer carries beyond those of every answer. */
      const sent = (res: { headers: Record<string, unknown> }) => Object.keys(res.headers).filter((h) => !["content-type", "content-length", "date", "connection"].includes(h)).sort();
      const declared = (status: number) => Object.keys(responses[status].headers ?? {}).map((h) => h.toLowerCase()).sort();
      const whole = await app.inject({ url: `/v1/artifacts/${id}/file`, headers: auth(member) });
      const unchanged = await app.inject({ url: `/v1/artifacts/${id}/file`, headers: { ...auth(member), "if-none-match": whole.headers.etag as string } });
      expect([unchanged.statusCode, declared(304)]).toEqual([304, sent(unchanged)]);
      const outside = await app.inject({ url: `/v1/artifacts/${id}/file`, headers: { ...auth(member), range: "bytes=100-" } });
      expect([outside.statusCode, outside.headers["content-range"], declared(416)]).toEqual([416, "bytes */100", sent(outside)]);
      expect(responses[416].content["application/json"].schema.required).toContain("message");
    });
  });

  it("a download whose chunk is missing midway ends as a failed transfer, short of its Content-Length", async () => {
    const bytes = randomBytes(3 * CHUNK_BYTES);
    const file = await storeFile(t.db.sql, bytes);
    const artifact = await createArtifact(t.db.sql, { name: "big.bin", file_sha256: file.sha256, created_by: null });
    // Chunk 2 renumbered: all bytes are still counted as stored, but the third read finds nothing.
    await t.db.sql`UPDATE file_chunks SET chunk = 7 WHERE sha256 = ${file.sha256} AND chunk = 2`;
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as { port: number };
    const socket = connect(port, "127.0.0.1");
    socket.write(`GET /v1/artifacts/${artifact.id}/file HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${member}\r\n\r\n`);
    const received: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const response = Buffer.concat(received);
    const headerEnd = response.indexOf("\r\n\r\n");
    const head = response.subarray(0, headerEnd).toString("latin1");
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toMatch(new RegExp(`\r\ncontent-length: ${bytes.length}\r\n`, "i"));
    // A kept-alive connection (no Connection: close) that the server closed: destroyed midway, the
    // client sees a body short of the third chunk (at most the two chunks read), never a complete-looking one.
    const body = response.subarray(headerEnd + 4);
    expect(body.length).toBeLessThanOrEqual(2 * CHUNK_BYTES);
    expect(body.equals(bytes.subarray(0, body.length))).toBe(true);
  });
});

describe("trash", () => {
  it("is purged for good by admins, leaving active and archived records", async () => {
    const note = (body: object) => app.inject({ method: "POST", url: "/v1/notes", payload: body, headers: auth(member) });
    const trashed = (await note({ message: "to purge", recording_id: recordingId })).json();
    const archived = (await note({ message: "archived", recording_id: recordingId })).json();
    await app.inject({ method: "POST", url: `/v1/notes/${trashed.id}/trash`, headers: auth(member) });
    await app.inject({ method: "POST", url: `/v1/notes/${archived.id}/archive`, headers: auth(member) });
    expect((await app.inject({ method: "POST", url: "/v1/trash/purge", payload: { older_than: 0 }, headers: auth(member) })).statusCode).toBe(403);
    // Trashed just now: a 1-hour threshold keeps it.
    expect((await app.inject({ method: "POST", url: "/v1/trash/purge", payload: { older_than: 3600 }, headers: auth(admin) })).json().notes).toBe(0);
    const purged = await app.inject({ method: "POST", url: "/v1/trash/purge", payload: { older_than: 0 }, headers: auth(admin) });
    expect(purged.json()).toMatchObject({ notes: 1, clips: 0, recordings: 0, datasets: 0 });
    expect((await app.inject({ url: `/v1/notes/${trashed.id}` })).statusCode).toBe(404);
    expect((await app.inject({ url: `/v1/notes/${archived.id}` })).json().state).toBe("archived");
  });

  it("takes no body, or an empty one: older_than defaults to 30 days", async () => {
    const note = (await app.inject({ method: "POST", url: "/v1/notes", payload: { message: "trashed 31 days ago", recording_id: recordingId }, headers: auth(member) })).json();
    await app.inject({ method: "POST", url: `/v1/notes/${note.id}/trash`, headers: auth(member) });
    const purge = (payload?: object) => app.inject({ method: "POST", url: "/v1/trash/purge", headers: auth(admin), ...(payload ? { payload } : {}) });
    for (const payload of [undefined, {}]) {
      const kept = await purge(payload);
      expect([kept.statusCode, kept.json().notes], JSON.stringify(payload)).toEqual([200, 0]);
    }
    await t.db.sql`UPDATE notes SET state_changed_at = now() - interval '31 days' WHERE id = ${note.id}`;
    expect((await purge()).json().notes).toBe(1);
  });

  it("refuses an older_than beyond 100 years with 400 naming it (1e308 overflowed the database's interval: a 500)", async () => {
    const res = await app.inject({ method: "POST", url: "/v1/trash/purge", payload: { older_than: 1e308 }, headers: auth(admin) });
    expect(res.statusCode).toBe(400);
    expect(res.json().fields).toEqual([{ field: "older_than", message: "must be <= 3153600000 (100 years)" }]);
    expect((await app.inject({ method: "POST", url: "/v1/trash/purge", payload: { older_than: 3153600000 }, headers: auth(admin) })).statusCode).toBe(200);
  });
});

describe("URLs and query strings as clients write them", () => {
  it("reads and removes a feature by any name the API stores — 255 characters, not ASCII — on recordings and clips alike", async () => {
    const clip = (await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: recordingId, start_time: 0.1, end_time: 0.2 }, headers: auth(member) })).json();
    const name = "é".repeat(255); // 510 bytes of UTF-8, 1530 characters in the path: Fastify's limit of 100 answered 414
    for (const [path, id] of [["recordings", recordingId], ["clips", clip.id]] as const) {
      expect((await app.inject({ method: "POST", url: `/v1/${path}/${id}/features`, payload: { name, value: 2.5 }, headers: auth(member) })).statusCode).toBe(200);
      const got = await app.inject({ url: `/v1/${path}/${id}/features/${encodeURIComponent(name)}` });
      // Written by a client, not computed: no engine version, no hash of what it was computed from.
      expect([got.statusCode, got.json().value, got.json().engine_version, got.json().recording_hash], path).toEqual([200, 2.5, null, null]);
      // The name as typed with a combining accent and a trailing space is the name stored (a 404 before).
      const typed = await app.inject({ url: `/v1/${path}/${id}/features/${encodeURIComponent("e\u0301".repeat(254) + "é ")}` });
      expect([typed.statusCode, typed.json().value], path).toEqual([200, 2.5]);
      const removed = await app.inject({ method: "DELETE", url: `/v1/${path}/${id}/features/${encodeURIComponent(name)}`, headers: auth(member) });
      expect([removed.statusCode, removed.json().features], path).toEqual([200, []]);
      expect((await app.inject({ url: `/v1/${path}/${id}/features/${encodeURIComponent(name)}` })).statusCode, path).toBe(404);
    }
  });

  it("answers a malformed path in the error body of every other refusal", async () => {
    const res = await app.inject({ url: "/v1/recordings/%E0%A4%A" });
    expect([res.statusCode, Object.keys(res.json()).sort()]).toEqual([400, ["error", "fields", "message", "statusCode"]]);
    // Naming the path parameter it falls in, as every other 400 of a path does.
    expect(res.json().message).toMatch(/^invalid path: id: has a malformed percent-encoding/);
    expect(res.json().fields.map((f: { field: string }) => f.field)).toEqual(["id"]);
  });

  it("takes a trailing slash as no slash", async () => {
    const list = await app.inject({ url: "/v1/datasets/" });
    expect([list.statusCode, list.json().items.length > 0]).toEqual([200, true]);
    expect((await app.inject({ url: `/v1/recordings/${recordingId}/` })).json().id).toBe(recordingId);
  });

  it("refuses a query parameter a route does not take, naming it — a scan asked for ?limit=1 answered every file, before scans were paged", async () => {
    const datasetId = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    for (const url of [`/v1/datasets/${datasetId}/scan?page=2`, `/v1/recordings/${recordingId}?foo=1`, `/v1/recordings/${recordingId}/audio?foo=1`, "/version?foo=1"]) {
      const res = await app.inject({ url });
      expect([res.statusCode, fields(res.json())], url).toEqual([400, [url.split("?")[1].split("=")[0]]]);
    }
    expect((await app.inject({ url: "/health?probe=lb" })).statusCode).toBe(200); // a probe may tag its requests
  });

  it("reads yes/no query values as the spectrogram parameters do", async () => {
    for (const [value, status] of [["1", 200], ["yes", 200], ["false", 200], ["maybe", 400]] as const) {
      const res = await app.inject({ url: `/v1/notes?is_issue=${value}` });
      expect(res.statusCode, value).toBe(status);
      if (status === 400) expect(res.json().fields).toEqual([{ field: "is_issue", message: "must be true or false (as text — a query string or a flag — also 1/0, yes/no, on/off)" }]);
    }
  });

  it("names a download in UTF-8 (filename*), with an ASCII stand-in", async () => {
    const datasetId = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    await writeSineWav(join(scratch.path, 'chœur "1";(b)%41.wav'), 8000, 0.1);
    const rec = (await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path: 'chœur "1";(b)%41.wav' }, headers: auth(member) })).json();
    const res = await app.inject({ url: `/v1/recordings/${rec.id}/audio` });
    // `%` too is replaced in the stand-in: some clients would percent-decode it (RFC 6266 appendix D).
    expect(res.headers["content-disposition"]).toBe(`attachment; filename="ch_ur _1_;(b)_41.wav"; filename*=UTF-8''ch%C5%93ur%20%221%22%3B%28b%29%2541.wav`);
  });

  it("answers HEAD of a download with its headers and reads none of the file — Fastify read the whole file to throw it away, past the client's leaving", async () => {
    const datasetId = (await app.inject({ url: `/v1/recordings/${recordingId}` })).json().dataset_id;
    // A 64 MiB WAV of silence (a sparse file: no disk needed).
    const bytes = 64 * 1024 * 1024;
    const header = Buffer.alloc(44);
    header.write("RIFF", 0);
    header.writeUInt32LE(bytes - 8, 4);
    header.write("WAVEfmt ", 8);
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20); // PCM
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(8000, 24);
    header.writeUInt32LE(16000, 28);
    header.writeUInt16LE(2, 32);
    header.writeUInt16LE(16, 34);
    header.write("data", 36);
    header.writeUInt32LE(bytes - 44, 40);
    const file = join(scratch.path, "long.wav");
    await writeFile(file, header);
    await truncate(file, bytes);
    onTestFinished(() => rm(file));
    const rec = (await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path: "long.wav" }, headers: auth(member) })).json();
    /** Bytes this process has read (Linux: /proc/self/io's rchar, every read(2) and pread(2)). */
    const bytesRead = async () => Number(/^rchar: (\d+)$/m.exec(await readFile("/proc/self/io", "utf8"))![1]);
    const before = await bytesRead();
    const head = await app.inject({ method: "HEAD", url: `/v1/recordings/${rec.id}/audio` });
    expect([head.statusCode, head.headers["content-length"], head.headers.etag, head.rawPayload.length]).toEqual([200, String(bytes), `"${rec.hash}"`, 0]);
    await new Promise((r) => setTimeout(r, 500)); // time enough to read it all, had it been read
    expect(await bytesRead() - before).toBeLessThan(1024 * 1024);
    await app.inject({ method: "DELETE", url: `/v1/recordings/${rec.id}`, headers: auth(admin) });
  });
});
