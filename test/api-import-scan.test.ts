/**
 * Datasets of a season of recorder files through the API: an import sent again while one runs
 * (each file read and hashed once), and scans answered as pages. The audio layer is wrapped to
 * count the files hashed (probeAudio) and the headers a scan reads (headerProblem); nothing else
 * is changed.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { resolveRoots } from "../src/store/paths.js";
import { ensureAdmin } from "../src/store/users.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

/**
 * Files hashed and headers read, by the path opened; `hashing` holds each hash until it is
 * resolved; `onHeader` is told of each header read.
 */
const audio = vi.hoisted(() => ({ hashed: [] as string[], headers: [] as string[], hashing: Promise.resolve(), onHeader: () => {} }));

vi.mock("../src/audio/index.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../src/audio/index.js")>();
  return {
    ...real,
    probeAudio: async (path: string, options?: { exactPath?: boolean }) => {
      audio.hashed.push(path);
      await audio.hashing;
      return real.probeAudio(path, options);
    },
    headerProblem: (path: string, options?: Parameters<typeof real.headerProblem>[1]) => {
      audio.headers.push(path);
      audio.onHeader();
      return real.headerProblem(path, options);
    },
  };
});

let t: TestDatabase;
let app: App;
let scratch: { path: string; remove(): Promise<void> };
let admin: string;

const auth = () => ({ authorization: `Bearer ${admin}` });

beforeAll(async () => {
  t = await freshDatabase();
  scratch = await tempDir();
  admin = (await ensureAdmin(t.db.sql))!.key;
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([scratch.path]) });
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  await scratch?.remove();
});

/** A dataset of `names` (tones of their own, so no two hold the same bytes) in a folder of `name`. */
async function dataset(name: string, names: string[]): Promise<string> {
  await mkdir(join(scratch.path, name));
  for (const [i, file] of names.entries()) await writeSineWav(join(scratch.path, name, file), 8000, 0.1, 500 + 100 * i);
  const created = await app.inject({ method: "POST", url: "/v1/datasets", payload: { name, audio_dir: name }, headers: auth() });
  expect(created.statusCode, created.body).toBe(201);
  return created.json().id;
}

describe("an import sent again while one runs", () => {
  it("waits for the running one and registers only what is still new: each file is hashed once (it hashed every file twice)", async () => {
    const files = Array.from({ length: 12 }, (_, i) => `r${String(i).padStart(2, "0")}.wav`);
    const id = await dataset("season", files);
    audio.hashed.length = 0;
    audio.headers.length = 0;
    // The first import's hashing waits until the second import has scanned the files (its headers
    // read), as it did when both ran at once — or, when the second waits for the first, a while:
    // the hold only gives the second import the chance to scan; nothing here is timed.
    let release!: () => void;
    audio.hashing = new Promise<void>((resolve) => (release = resolve));
    audio.onHeader = () => {
      if (audio.headers.length >= 2 * files.length) release();
    };
    const hold = setTimeout(release, 1500);
    try {
      const [first, second] = await Promise.all([1, 2].map(() => app.inject({ method: "POST", url: `/v1/datasets/${id}/import`, headers: auth() })));
      expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
      expect(audio.hashed).toHaveLength(files.length);
      expect(new Set(audio.hashed).size).toBe(files.length);
      // One of them registered every file, the other (the second to start) none.
      const registered = [first, second].map((r) => r.json().registered.map((f: { path: string }) => f.path));
      expect(registered.sort((a, b) => b.length - a.length)).toEqual([files, []]);
      expect([first, second].map((r) => r.json().run.status)).toEqual(["completed", "completed"]);
    } finally {
      audio.onHeader = () => {};
      clearTimeout(hold);
      release();
    }
    // What the second was sent for is done: a third import finds nothing new to hash.
    const third = await app.inject({ method: "POST", url: `/v1/datasets/${id}/import`, headers: auth() });
    expect(third.json().registered).toEqual([]);
    expect(audio.hashed).toHaveLength(files.length);
  });
});

describe("a scan", () => {
  it("answers a page of its files, of one status if asked, with the counts of the whole scan (it listed every file: 5 MB at 30,000)", async () => {
    const files = ["a.wav", "b.wav", "c.wav", "d.wav", "e.wav"];
    const id = await dataset("paged", files);
    const first = await app.inject({ method: "POST", url: `/v1/datasets/${id}/import`, headers: auth() });
    expect(first.json().registered).toHaveLength(5);
    await writeSineWav(join(scratch.path, "paged", "f new.wav"), 8000, 0.1, 2000);
    await writeSineWav(join(scratch.path, "paged", "g new.wav"), 8000, 0.1, 2100);
    const scan = async (query: string) => {
      const res = await app.inject({ url: `/v1/datasets/${id}/scan?${query}`, headers: auth() });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    const counts = { registered: 5, missing: 0, unregistered: 2 };
    const page = await scan("limit=2&offset=1");
    expect(page).toMatchObject({ dataset_id: id, counts, skipped: [], limit: 2, offset: 1, total: 7 });
    expect(page.items.map((f: { path: string }) => f.path)).toEqual(["b.wav", "c.wav"]);
    expect(page.files).toBeUndefined();
    const fresh = await scan("status=unregistered");
    expect(fresh).toMatchObject({ counts, limit: 50, offset: 0, total: 2 });
    expect(fresh.items.map((f: { path: string; status: string }) => [f.path, f.status])).toEqual([["f new.wav", "unregistered"], ["g new.wav", "unregistered"]]);
    expect(await scan("status=registered&offset=4")).toMatchObject({ total: 5, items: [{ path: "e.wav", status: "registered" }] });
    expect(await scan("status=missing")).toMatchObject({ counts, total: 0, items: [] });
    // Bad paging is refused naming the parameter.
    for (const [query, field] of [["status=gone", "status"], ["limit=0", "limit"], ["limit=1001", "limit"], ["offset=-1", "offset"]]) {
      const res = await app.inject({ url: `/v1/datasets/${id}/scan?${query}`, headers: auth() });
      expect([res.statusCode, res.json().fields?.map((f: { field: string }) => f.field)], query).toEqual([400, [field]]);
    }
  });
});
