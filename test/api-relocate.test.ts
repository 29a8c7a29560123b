/**
 * The audio moving to another disk: a dataset's audio_dir is stored as an absolute path, so the
 * operator points each dataset at its new directory (PUT /v1/datasets/{id}/audio_dir) and every
 * recording keeps its clips, tags, features and notes. Before, there was no way to change
 * audio_dir: the only remedy was a new dataset whose recordings had none of that work.
 */
import { cp, mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { resolveRoots } from "../src/store/paths.js";
import { createToken } from "../src/store/tokens.js";
import { createUser, ensureAdmin } from "../src/store/users.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let app: App;
let oldDisk: { path: string; remove(): Promise<void> };
let newDisk: { path: string; remove(): Promise<void> };
let admin: string;
let member: string;

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  t = await freshDatabase();
  oldDisk = await tempDir();
  newDisk = await tempDir();
  admin = (await ensureAdmin(t.db.sql))!.key;
  member = (await createToken(t.db.sql, { user_id: (await createUser(t.db.sql, { username: "m" })).id, name: "m", created_by: null })).key;
  // The server restarted with both disks as roots, as an operator would during the move.
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([oldDisk.path, newDisk.path]) });
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  await oldDisk?.remove();
  await newDisk?.remove();
});

describe("a dataset whose audio moved to another disk", () => {
  it("is pointed at its new directory by an admin, keeping its recordings' clips, tags, features and notes, their content and revision (tiles cached by it stay good)", async () => {
    await mkdir(join(oldDisk.path, "bats", "site A"), { recursive: true });
    await writeSineWav(join(oldDisk.path, "bats", "site A", "a.wav"), 16000, 0.5);
    await writeSineWav(join(oldDisk.path, "bats", "b.wav"), 16000, 0.25);
    const dataset = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "bats", audio_dir: join(oldDisk.path, "bats") }, headers: auth(member) })).json();
    expect((await app.inject({ method: "POST", url: `/v1/datasets/${dataset.id}/import`, headers: auth(member) })).json().registered).toHaveLength(2);
    const a = (await app.inject({ url: `/v1/recordings?dataset_id=${dataset.id}&sort=path` })).json().items.find((r: { path: string }) => r.path === "site A/a.wav");
    await app.inject({ method: "POST", url: `/v1/recordings/${a.id}/tags`, payload: { key: "species", value: "Myotis" }, headers: auth(member) });
    await app.inject({ method: "POST", url: `/v1/recordings/${a.id}/features`, payload: { name: "snr_db", value: 12.5 }, headers: auth(member) });
    const clip = (await app.inject({ method: "POST", url: "/v1/clips", payload: { recording_id: a.id, start_time: 0.1, end_time: 0.2 }, headers: auth(member) })).json();
    await app.inject({ method: "POST", url: `/v1/clips/${clip.id}/tags`, payload: { key: "call", value: "FM" }, headers: auth(member) });
    const note = (await app.inject({ method: "POST", url: "/v1/notes", payload: { recording_id: a.id, message: "noisy" }, headers: auth(member) })).json();

    // The move: copied (new modification times), then the old disk gone.
    await cp(join(oldDisk.path, "bats"), join(newDisk.path, "audio", "bats"), { recursive: true });
    await rm(join(oldDisk.path, "bats"), { recursive: true });
    // Until then its scan says what happened and what to do — a 404 in the words of its recordings' routes: it was a 400
    // naming audio_dir, a field the GET never sent. Its import too.
    const gone = `the dataset's directory ${join(oldDisk.path, "bats")} does not exist (files moved to another disk: PUT /v1/datasets/${dataset.id}/audio_dir points the dataset at them)`;
    for (const [method, url] of [["GET", `/v1/datasets/${dataset.id}/scan`], ["POST", `/v1/datasets/${dataset.id}/import`]] as const) {
      const lost = await app.inject({ method, url, headers: auth(member) });
      expect([lost.statusCode, lost.json().message, lost.json().fields], url).toEqual([404, `dataset bats cannot be read: ${gone}`, undefined]);
    }
    // Its audio (and a tile: the same recordingFile) says the same: it named only the file (`file site A/a.wav does not exist in the dataset's audio_dir`).
    const tile = await app.inject({ url: `/v1/recordings/${a.id}/audio` });
    expect([tile.statusCode, tile.json().message]).toEqual([404, `the file of recording ${a.id}: file site A/a.wav cannot be read: ${gone}`]);

    const put = (audio_dir: string, key = admin) => app.inject({ method: "PUT", url: `/v1/datasets/${dataset.id}/audio_dir`, payload: { audio_dir }, headers: auth(key) });
    expect((await put(join(newDisk.path, "audio", "bats"), member)).statusCode).toBe(403);
    // A mistyped directory (none of the files there) would turn every recording missing: refused.
    const wrong = await put(join(newDisk.path, "audio"));
    expect(wrong.statusCode, wrong.body).toBe(400);
    expect(wrong.json().fields).toEqual([{ field: "audio_dir", message: `none of dataset bats's 2 recordings' files is in ${join(newDisk.path, "audio")} with its registered size (e.g. b.wav, site A/a.wav): copy the files there first, keeping their paths relative to ${join(oldDisk.path, "bats")}` }]);
    expect((await put("/etc")).json().fields).toEqual([{ field: "audio_dir", message: "/etc is outside the configured audio roots" }]);

    const moved = await put(join(newDisk.path, "audio", "bats"));
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.json()).toMatchObject({ id: dataset.id, audio_dir: join(newDisk.path, "audio", "bats"), recording_count: 2 });
    expect((await app.inject({ url: `/v1/datasets/${dataset.id}/scan` })).json().counts).toEqual({ registered: 2, missing: 0, unregistered: 0 });
    const after = (await app.inject({ url: `/v1/recordings/${a.id}` })).json();
    expect(after).toMatchObject({ id: a.id, path: "site A/a.wav", hash: a.hash, revision: a.revision, tags: [{ key: "species", value: "Myotis" }], features: [{ name: "snr_db", value: 12.5 }] });
    expect((await app.inject({ url: `/v1/clips/${clip.id}` })).json().tags).toEqual([{ key: "call", value: "FM" }]);
    expect((await app.inject({ url: `/v1/notes/${note.id}` })).json().message).toBe("noisy");
    const download = await app.inject({ url: `/v1/recordings/${a.id}/audio` });
    expect(download.statusCode).toBe(200);
    expect(download.headers.etag).toBe(`"${a.hash}"`);

    // Another dataset's directory, or one holding it, is refused naming that dataset.
    await mkdir(join(newDisk.path, "elsewhere"));
    const other = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "other", audio_dir: join(newDisk.path, "elsewhere") }, headers: auth(member) })).json();
    const moveOther = (audio_dir: string) => app.inject({ method: "PUT", url: `/v1/datasets/${other.id}/audio_dir`, payload: { audio_dir }, headers: auth(admin) });
    const taken = await moveOther(join(newDisk.path, "audio", "bats"));
    expect(taken.statusCode, taken.body).toBe(409);
    expect([taken.json().message, taken.json().fields[0].field]).toEqual([`audio_dir: ${JSON.stringify(join(newDisk.path, "audio", "bats"))} is taken by dataset ${dataset.id} ("bats"); a directory is one dataset's: import into that one, or choose another directory`, "audio_dir"]);
    const holding = await moveOther(join(newDisk.path, "audio"));
    expect(holding.statusCode, holding.body).toBe(409);
    expect(holding.json().message).toContain(`holds ${join(newDisk.path, "audio", "bats")}, the directory of dataset ${dataset.id} ("bats")`);
    // Its own directory's subtree is no other's: the dataset moves within it.
    await cp(join(newDisk.path, "audio", "bats"), join(newDisk.path, "copy"), { recursive: true });
    await rename(join(newDisk.path, "copy"), join(newDisk.path, "audio", "bats", "2026"));
    expect((await put(join(newDisk.path, "audio", "bats", "2026"))).statusCode).toBe(200);
  });

  it("made a new dataset instead (the step to avoid): its import names the datasets holding the same bytes, as `dataset add --json` does — it said nothing of them", async () => {
    await mkdir(join(oldDisk.path, "birds"));
    for (const [i, name] of ["a.wav", "b.wav", "c.wav"].entries()) await writeSineWav(join(oldDisk.path, "birds", name), 16000, 0.25, 3000 + 500 * i);
    const birds = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "birds", audio_dir: join(oldDisk.path, "birds") }, headers: auth(member) })).json();
    const first = (await app.inject({ method: "POST", url: `/v1/datasets/${birds.id}/import`, headers: auth(member) })).json();
    expect([first.registered.length, first.datasets_holding_same_bytes]).toEqual([3, []]);
    // Two of its files copied to the new disk, and a new dataset made there.
    await mkdir(join(newDisk.path, "birds new"));
    for (const name of ["a.wav", "b.wav"]) await cp(join(oldDisk.path, "birds", name), join(newDisk.path, "birds new", name));
    const made = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "birds new", audio_dir: join(newDisk.path, "birds new") }, headers: auth(member) })).json();
    const imported = await app.inject({ method: "POST", url: `/v1/datasets/${made.id}/import`, headers: auth(member) });
    expect(imported.statusCode, imported.body).toBe(200);
    expect(imported.json().registered).toHaveLength(2);
    // 2 of its 3 recordings' files: not all of them (MOVED_HERE_SHARE), so no disk move is suggested.
    const files = [{ path: "a.wav", their_path: "a.wav" }, { path: "b.wav", their_path: "b.wav" }];
    expect(imported.json().datasets_holding_same_bytes).toEqual([{ id: birds.id, name: "birds", audio_dir: join(oldDisk.path, "birds"), recordings: 2, theirs_here: 2, their_recordings: 3, moved_here: false, files }]);
  });

  it("is not pointed at a directory holding fewer than half of its recordings' files — one file matching by size sufficed, leaving the rest missing", async () => {
    await mkdir(join(oldDisk.path, "frogs"));
    for (const [i, name] of ["a.wav", "b.wav", "c.wav"].entries()) await writeSineWav(join(oldDisk.path, "frogs", name), 16000, 0.25, 2000 + 500 * i);
    const frogs = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "frogs", audio_dir: join(oldDisk.path, "frogs") }, headers: auth(member) })).json();
    await app.inject({ method: "POST", url: `/v1/datasets/${frogs.id}/import`, headers: auth(member) });
    await mkdir(join(newDisk.path, "frogs"));
    await cp(join(oldDisk.path, "frogs", "b.wav"), join(newDisk.path, "frogs", "b.wav"));
    const put = () => app.inject({ method: "PUT", url: `/v1/datasets/${frogs.id}/audio_dir`, payload: { audio_dir: join(newDisk.path, "frogs") }, headers: auth(admin) });
    const few = await put();
    expect(few.statusCode, few.body).toBe(400);
    expect(few.json().fields).toEqual([{ field: "audio_dir", message: `only 1 of dataset frogs's 3 recordings' files is in ${join(newDisk.path, "frogs")} with its registered size (missing e.g. a.wav, c.wav); at least half must be: copy the files there first, keeping their paths relative to ${join(oldDisk.path, "frogs")}` }]);
    await cp(join(oldDisk.path, "frogs", "c.wav"), join(newDisk.path, "frogs", "c.wav"));
    expect((await put()).statusCode).toBe(200);
  });

  it("a relative audio_dir missing from the first of several roots is refused naming that root by its place and how to name another's — it said only `directory esc does not exist`, the directory being in the second", async () => {
    await mkdir(join(newDisk.path, "esc"));
    const made = await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "esc", audio_dir: "esc" }, headers: auth(member) });
    expect(made.statusCode, made.body).toBe(400);
    const message = "directory esc does not exist in the first of the 2 audio roots (a relative audio_dir is resolved against the first): a directory of another root is given by its absolute path";
    expect(made.json().fields).toEqual([{ field: "audio_dir", message }]);
    expect(made.body, "the roots' paths are not told").not.toContain(oldDisk.path);
    const dataset = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "esc", audio_dir: join(newDisk.path, "esc") }, headers: auth(member) })).json();
    const moved = await app.inject({ method: "PUT", url: `/v1/datasets/${dataset.id}/audio_dir`, payload: { audio_dir: "esc" }, headers: auth(admin) });
    expect([moved.statusCode, moved.json().fields]).toEqual([400, [{ field: "audio_dir", message }]]);
  });
});
