/**
 * Two registered files swapped (or one copied over another): each is only `changed` by its size,
 * and a refresh made the mix-up permanent — each recording took the other's audio under its own
 * date and time, its clips now over the wrong sounds. The scan names whose bytes a changed file
 * holds now, a refresh refuses it (409) naming both unless forced, and a refresh says where the
 * new file's GUANO/bext date, time, place or time expansion differ from the recording's.
 */
import { copyFile, mkdir, rename, utimes } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { putFeatureValues } from "../src/store/features.js";
import { resolveRoots } from "../src/store/paths.js";
import { ensureAdmin } from "../src/store/users.js";
import { FIXTURES, freshDatabase, tempDir, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let app: App;
let disk: { path: string; remove(): Promise<void> };
let admin: string;
const auth = () => ({ authorization: `Bearer ${admin}` });
const dir = () => join(disk.path, "midseason");

beforeAll(async () => {
  t = await freshDatabase();
  disk = await tempDir();
  admin = (await ensureAdmin(t.db.sql))!.key;
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([disk.path]) });
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  await disk?.remove();
});

interface Rec { id: string; path: string; hash: string; date: string | null; time: string | null; latitude: number | null; longitude: number | null; time_expansion: number }

describe("a registered file swapped with another", () => {
  it("is named by the scan as holding the other's bytes, refused by a refresh naming both (409) unless forced, and a forced refresh names the metadata that differs", async () => {
    await mkdir(dir());
    // bext.wav has a bext date and time; guano.wav GUANO's timestamp and place (different sizes).
    await copyFile(join(FIXTURES, "recordings", "XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav"), join(dir(), "bext.wav"));
    await copyFile(join(FIXTURES, "recordings", "batdetect2_contrib_jeff37_0166_20240531_223911.wav"), join(dir(), "guano.wav"));
    const dataset = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "midseason", audio_dir: dir() }, headers: auth() })).json();
    expect((await app.inject({ method: "POST", url: `/v1/datasets/${dataset.id}/import`, headers: auth() })).json().registered).toHaveLength(2);
    const recs = (await app.inject({ url: `/v1/recordings?dataset_id=${dataset.id}&sort=path` })).json().items as Rec[];
    const [bext, guano] = recs;
    expect([bext.path, guano.path]).toEqual(["bext.wav", "guano.wav"]);

    await rename(join(dir(), "bext.wav"), join(dir(), "tmp.wav"));
    await rename(join(dir(), "guano.wav"), join(dir(), "bext.wav"));
    await rename(join(dir(), "tmp.wav"), join(dir(), "guano.wav"));

    const scan = (await app.inject({ url: `/v1/datasets/${dataset.id}/scan` })).json();
    const changed = scan.items.filter((f: { changed: unknown }) => f.changed);
    expect(changed.map((f: { path: string; changed: { holds_bytes_of: unknown } }) => [f.path, f.changed.holds_bytes_of])).toEqual([
      ["bext.wav", { recording_id: guano.id, path: "guano.wav" }],
      ["guano.wav", { recording_id: bext.id, path: "bext.wav" }],
    ]);
    expect(changed[0].changed.message).toMatch(/ — its bytes \(MD5 [0-9a-f]{32}\) are now those of recording \S+ \(guano\.wav\): swapped or copied over\? Put the files back; a refresh refuses it$/);

    const refresh = (id: string, force = false) => app.inject({ method: "POST", url: `/v1/recordings/${id}/refresh${force ? "?force=true" : ""}`, headers: auth() });
    const refused = await refresh(bext.id);
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().message).toBe(`the file of recording ${bext.id} (bext.wav) now holds the bytes of recording ${guano.id} (guano.wav, MD5 ${guano.hash}): swapped or copied over? Refreshed, this recording's clips, tags and notes would lie over that one's audio — put the files back; if the file is this recording's content all the same, refresh with force (POST /v1/recordings/${bext.id}/refresh?force=true, sonotile dataset refresh --force)`);
    expect((await app.inject({ url: `/v1/recordings/${bext.id}` })).json().hash).toBe(bext.hash);

    // Two values a job computed from its bytes, one set by a person (no recording_hash): the first two are stale once refreshed.
    await putFeatureValues(t.db.sql, "recording", [
      { id: bext.id, name: "snr_db", value: 3, created_by: null, engine_version: "x", recording_hash: bext.hash },
      { id: bext.id, name: "peak_hz", value: 9000, created_by: null, engine_version: "x", recording_hash: bext.hash },
      { id: bext.id, name: "quality", value: 1, created_by: null },
    ]);
    const forced = await refresh(bext.id, true);
    expect(forced.statusCode, forced.body).toBe(200);
    expect(forced.json().recording.hash).toBe(guano.hash);
    // The file's metadata is named where it differs from the recording's, which keeps its own (a person's correction, maybe).
    const differs = [
      { field: "date", recording: "2016-02-17", file: "2024-05-31" }, { field: "time", recording: "19:45:16", file: "22:39:11" },
      { field: "latitude", recording: null, file: 49.093119 }, { field: "longitude", recording: null, file: 5.047867 },
    ];
    expect(forced.json().metadata_differs).toEqual(differs);
    expect(forced.json().stale_feature_values).toBe(2);
    expect(forced.json().recording).toMatchObject({ date: bext.date, time: bext.time });
  });

  it("is not what a touched file of a duplicated pair is: its bytes are still its own, which its duplicate holds too", async () => {
    const twins = join(disk.path, "twins");
    await mkdir(twins);
    for (const name of ["a.wav", "b.wav"]) await copyFile(join(FIXTURES, "recordings", "XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav"), join(twins, name));
    const dataset = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "twins", audio_dir: twins }, headers: auth() })).json();
    expect((await app.inject({ method: "POST", url: `/v1/datasets/${dataset.id}/import`, headers: auth() })).json().registered).toHaveLength(2);
    const [a] = (await app.inject({ url: `/v1/recordings?dataset_id=${dataset.id}&sort=path` })).json().items as Rec[];
    await utimes(join(twins, "a.wav"), new Date(), new Date(Date.now() + 60_000));
    const scan = (await app.inject({ url: `/v1/datasets/${dataset.id}/scan` })).json();
    const changed = scan.items.filter((f: { changed: unknown }) => f.changed);
    expect(changed.map((f: { path: string; changed: { holds_bytes_of?: unknown } }) => [f.path, f.changed.holds_bytes_of])).toEqual([["a.wav", undefined]]);
    const refreshed = await app.inject({ method: "POST", url: `/v1/recordings/${a.id}/refresh`, headers: auth() });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(refreshed.json().recording.hash).toBe(a.hash);
  });

  it("two files replaced by one new file and refreshed at once: one takes the bytes, the other is refused naming it (409), as refreshed one after the other", async () => {
    const pair = join(disk.path, "pair");
    await mkdir(pair);
    await copyFile(join(FIXTURES, "recordings", "batdetect2_20230322_172000_selec2.wav"), join(pair, "a.wav"));
    await copyFile(join(FIXTURES, "recordings", "XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav"), join(pair, "b.wav"));
    const dataset = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "pair", audio_dir: pair }, headers: auth() })).json();
    expect((await app.inject({ method: "POST", url: `/v1/datasets/${dataset.id}/import`, headers: auth() })).json().registered).toHaveLength(2);
    const [a, b] = (await app.inject({ url: `/v1/recordings?dataset_id=${dataset.id}&sort=path` })).json().items as Rec[];
    const replacement = join(FIXTURES, "recordings", "batdetect2_contrib_jeff37_0166_20240531_223911.wav");
    for (const name of ["a.wav", "b.wav"]) await copyFile(replacement, join(pair, name));
    const answers = await Promise.all([a, b].map((r) => app.inject({ method: "POST", url: `/v1/recordings/${r.id}/refresh`, headers: auth() })));
    // Each checked before the other wrote: both took the bytes.
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    const [took, refused] = answers[0].statusCode === 200 ? [a, b] : [b, a];
    const newHash = answers.find((r) => r.statusCode === 200)!.json().recording.hash;
    expect(answers.find((r) => r.statusCode === 409)!.json().message).toContain(`the file of recording ${refused.id} (${refused.path}) now holds the bytes of recording ${took.id} (${took.path}, MD5 ${newHash})`);
    const now = (await app.inject({ url: `/v1/recordings?dataset_id=${dataset.id}&sort=path` })).json().items as Rec[];
    expect(now.map((r) => r.hash)).toEqual([a, b].map((r) => (r === took ? newHash : r.hash)));
  });
});
