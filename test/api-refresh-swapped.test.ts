/**
 * Two registered files swapped (or one copied over another): each is only `changed` by its size,
 * and a refresh made the mix-up permanent — each recording took the other's audio under its own
 * date and time, its clips now over the wrong sounds. The scan names whose bytes a changed file
 * holds now, a refresh refuses it (409) naming both unless forced, and a refresh says where the
 * new file's GUANO/bext date, time, place or time expansion differ from the recording's.
 *
 * Every writer of a recording's content — a refresh, a PATCH path, an import's new recordings —
 * waits for the others writing the same bytes (MD5) before it checks what they hold, so that
 * writers at once end as they would one after the other. A PATCH path took no such lock and did
 * not look at whose bytes the file held: it gave a recording another's audio, even while a refresh
 * of that other took them; two PATCH path to one file passed the path check together; an import
 * registered a copy of bytes a refresh was taking and named no duplicate.
 */
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, rename, utimes } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { putFeatureValues } from "../src/store/features.js";
import { resolveRoots } from "../src/store/paths.js";
import { ensureAdmin } from "../src/store/users.js";
import { FIXTURES, freshDatabase, REAL_PG_URL, tempDir, type TestDatabase } from "./store-helpers.js";

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

const FIXTURE = {
  a: "batdetect2_20230322_172000_selec2.wav",
  b: "XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav",
  f: "batdetect2_contrib_jeff37_0166_20240531_223911.wav",
};

/** A dataset of directory `name` whose files `files` (name → fixture) are imported; its recordings by path. */
async function importedDataset(name: string, files: Record<string, string>): Promise<{ dir: string; id: string; recs: Rec[] }> {
  const dir = join(disk.path, name);
  await mkdir(dir);
  for (const [file, fixture] of Object.entries(files)) await copyFile(join(FIXTURES, "recordings", fixture), join(dir, file));
  const dataset = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name, audio_dir: dir }, headers: auth() })).json();
  expect((await app.inject({ method: "POST", url: `/v1/datasets/${dataset.id}/import`, headers: auth() })).json().registered).toHaveLength(Object.keys(files).length);
  return { dir, id: dataset.id, recs: await recordingsOf(dataset.id) };
}

const recordingsOf = async (datasetId: string) => (await app.inject({ url: `/v1/recordings?dataset_id=${datasetId}&sort=path` })).json().items as Rec[];
const md5Of = async (fixture: string) => createHash("md5").update(await readFile(join(FIXTURES, "recordings", fixture))).digest("hex");
const patchPath = (id: string, path: string, query = "") => app.inject({ method: "PATCH", url: `/v1/recordings/${id}${query}`, payload: { path }, headers: auth() });
const refresh = (id: string) => app.inject({ method: "POST", url: `/v1/recordings/${id}/refresh`, headers: auth() });

/** The advisory key (one bigint, apart from the store's two-int keys) a held write waits for. */
const HOLD_KEY = 4242;

/**
 * Holds every UPDATE giving a recording the MD5 `hash` (a trigger waiting for HOLD_KEY, which a
 * session of the test holds) until `release`: the writers get past their checks and wait there,
 * uncommitted, as two requests at once may. `waiters(n)` waits until n transactions of the test's
 * database wait for an advisory lock (the hold, or a writer's content lock).
 */
async function holdWritesOf(hash: string) {
  const session = await t.db.sql.reserve();
  await session`SELECT pg_advisory_lock(${HOLD_KEY})`;
  await t.db.sql.unsafe(`
    CREATE FUNCTION hold_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(${HOLD_KEY}); RETURN NEW; END $$;
    CREATE TRIGGER held BEFORE UPDATE OF hash ON recordings FOR EACH ROW WHEN (NEW.hash = '${hash}' AND OLD.hash <> NEW.hash) EXECUTE FUNCTION hold_write();`);
  const waiting = async () => (await t.db.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)[0].n;
  let released = false;
  return {
    async waiters(n: number, unless: () => boolean = () => false) {
      for (let i = 0; i < 800 && !unless(); i++) {
        if ((await waiting()) >= n) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      if (!unless()) throw new Error(`${n} writers never waited at once`);
    },
    async release() {
      if (released) return;
      released = true;
      await session`SELECT pg_advisory_unlock(${HOLD_KEY})`;
      session.release();
      await t.db.sql.unsafe(`DROP TRIGGER held ON recordings; DROP FUNCTION hold_write();`);
    },
  };
}

describe("PATCH path to a file holding another recording's bytes", () => {
  it("is refused naming that recording and the field (409), as a refresh is, unless forced; a file holding the recording's own bytes, which a duplicate holds too, is taken", async () => {
    const { dir, id, recs } = await importedDataset("copied", { "a.wav": FIXTURE.a, "b.wav": FIXTURE.b, "twin.wav": FIXTURE.a });
    const [a, b] = recs;
    await copyFile(join(FIXTURES, "recordings", FIXTURE.b), join(dir, "copy of b.wav"));
    const refused = await patchPath(a.id, "copy of b.wav");
    expect([refused.statusCode, refused.json().message, refused.json().fields?.[0]?.field]).toEqual([409, `path "copy of b.wav" holds the bytes of recording ${b.id} (b.wav, MD5 ${b.hash}): a copy of that recording's file? Pointed at it, this recording's clips, tags and notes would lie over that one's audio — if the file is this recording's content all the same, give it with force (PATCH /v1/recordings/${a.id}?force=true)`, "path"]);
    expect((await recordingsOf(id)).map((r) => [r.path, r.hash])).toEqual(recs.map((r) => [r.path, r.hash]));
    // a.wav moved with its bytes, which twin.wav holds too: its own, taken.
    await copyFile(join(dir, "a.wav"), join(dir, "a moved.wav"));
    const own = await patchPath(a.id, "a moved.wav");
    expect([own.statusCode, own.json().hash], own.body).toEqual([200, a.hash]);
    const forced = await patchPath(a.id, "copy of b.wav", "?force=true");
    expect([forced.statusCode, forced.json().path, forced.json().hash], forced.body).toEqual([200, "copy of b.wav", b.hash]);
  });
});

// Two writers must both be past their checks before either commits: a second connection holds
// them, and an embedded database runs one transaction at a time. PostgreSQL only.
describe.skipIf(!REAL_PG_URL)("writers of the same bytes at once", () => {
  it("a PATCH path to a file and a refresh of another recording whose file became a copy of it: one takes the bytes, the other is refused naming it (409) — both took them", async () => {
    const { dir, id, recs } = await importedDataset("raced", { "a.wav": FIXTURE.a, "b.wav": FIXTURE.b });
    const [a, b] = recs;
    await copyFile(join(FIXTURES, "recordings", FIXTURE.f), join(dir, "f.wav"));
    await copyFile(join(FIXTURES, "recordings", FIXTURE.f), join(dir, "b.wav"));
    const hash = await md5Of(FIXTURE.f);
    const hold = await holdWritesOf(hash);
    try {
      const answers = Promise.all([patchPath(a.id, "f.wav"), refresh(b.id)]);
      await hold.waiters(2);
      await hold.release();
      const [patched, refreshed] = await answers;
      expect([patched.statusCode, refreshed.statusCode].sort(), `${patched.body} ${refreshed.body}`).toEqual([200, 409]);
      expect(patched.statusCode === 409 ? patched.json().message : refreshed.json().message).toMatch(patched.statusCode === 409
        ? new RegExp(`^path "f\\.wav" holds the bytes of recording ${b.id} \\(b\\.wav, MD5 ${hash}\\)`)
        : new RegExp(`^the file of recording ${b.id} \\(b\\.wav\\) now holds the bytes of recording ${a.id} \\(f\\.wav, MD5 ${hash}\\)`));
      expect((await recordingsOf(id)).filter((r) => r.hash === hash)).toHaveLength(1);
    } finally {
      await hold.release();
    }
  });

  it("two PATCH path to one file: one takes it, the other is refused naming the recording that holds it (409, field path) — the database's unique path refused it, naming `dataset_id, path`", async () => {
    const { dir, id, recs } = await importedDataset("both", { "a.wav": FIXTURE.a, "b.wav": FIXTURE.b });
    await copyFile(join(FIXTURES, "recordings", FIXTURE.f), join(dir, "f.wav"));
    const hold = await holdWritesOf(await md5Of(FIXTURE.f));
    try {
      const answers = Promise.all(recs.map((r) => patchPath(r.id, "f.wav")));
      await hold.waiters(2);
      await hold.release();
      const res = await answers;
      expect(res.map((r) => r.statusCode).sort(), res.map((r) => r.body).join(" ")).toEqual([200, 409]);
      const took = recs[res.findIndex((r) => r.statusCode === 200)];
      const refused = res.find((r) => r.statusCode === 409)!.json();
      expect([refused.message, refused.fields?.[0]?.field]).toEqual([`path "f.wav" is recording ${took.id}'s: a file is registered once; delete that recording first to give its file to this one`, "path"]);
      expect((await recordingsOf(id)).map((r) => r.path)).toEqual(took === recs[0] ? ["b.wav", "f.wav"] : ["a.wav", "f.wav"]);
    } finally {
      await hold.release();
    }
  });

  it("an import registering a copy of the bytes a refresh is taking names the two as duplicates, as after the refresh — it named none", async () => {
    const { dir, id, recs } = await importedDataset("imported", { "b.wav": FIXTURE.b });
    const [b] = recs;
    await copyFile(join(FIXTURES, "recordings", FIXTURE.f), join(dir, "b.wav"));
    await copyFile(join(FIXTURES, "recordings", FIXTURE.f), join(dir, "c.wav"));
    const hash = await md5Of(FIXTURE.f);
    const hold = await holdWritesOf(hash);
    try {
      const refreshed = refresh(b.id);
      await hold.waiters(1); // checked, its write held
      let imported = false;
      const importing = app.inject({ method: "POST", url: `/v1/datasets/${id}/import`, headers: auth() }).finally(() => (imported = true));
      await hold.waiters(2, () => imported); // waits for the refresh's bytes — or, unlocked, ends
      await hold.release();
      expect((await refreshed).statusCode, (await refreshed).body).toBe(200);
      const result = (await importing).json();
      const c = result.registered.find((r: { path: string }) => r.path === "c.wav");
      expect(result.duplicates).toEqual([{ hash, recordings: [{ path: "b.wav", recording_id: b.id, state: "active" }, { path: "c.wav", recording_id: c.recording_id, state: "active" }] }]);
    } finally {
      await hold.release();
    }
  });
});
