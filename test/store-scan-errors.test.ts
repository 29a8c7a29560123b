/**
 * A scan reads the header of every file not registered (unreadableFiles): an error reading one
 * file — an I/O error, a parser's throw on a hostile header — is that file's, not the scan's.
 * The audio layer is mocked to fail one file as a disk would; nothing else is changed.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { createDataset, importDataset, scanDataset } from "../src/store/datasets.js";
import { resolveAudioDir, resolveRoots } from "../src/store/paths.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

vi.mock("../src/audio/index.js", async (importOriginal) => {
  const audio = await importOriginal<typeof import("../src/audio/index.js")>();
  return {
    ...audio,
    headerProblem: (path: string, options?: { exactPath?: boolean }) =>
      path.endsWith("bad-sector.wav") ? Promise.reject(new Error("EIO: i/o error, read")) : audio.headerProblem(path, options),
  };
});

let t: TestDatabase;
let scratch: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  t = await freshDatabase();
  scratch = await tempDir();
});

afterAll(async () => {
  await t?.cleanup();
  await scratch?.remove();
});

it("a file whose header cannot be read (EIO) is that file's problem: the scan says it, the import registers the others — both failed as a whole", async () => {
  const dir = join(scratch.path, "season");
  await mkdir(dir);
  for (const name of ["a.wav", "bad-sector.wav", "c.wav"]) await writeSineWav(join(dir, name), 8000, 0.1);
  const roots = await resolveRoots([scratch.path]);
  const dataset = await createDataset(t.db.sql, { name: "season", audio_dir: await resolveAudioDir(roots, dir), created_by: null });
  const scan = await scanDataset(t.db.sql, dataset.id);
  expect(scan.files.map((f) => [f.path, f.status, f.unreadable])).toEqual([
    ["a.wav", "unregistered", null],
    ["bad-sector.wav", "unregistered", "EIO: i/o error, read"],
    ["c.wav", "unregistered", null],
  ]);
  const imported = await importDataset(t.db.sql, dataset.id, null);
  expect(imported.registered.map((r) => r.path)).toEqual(["a.wav", "c.wav"]);
  expect(imported.failed).toEqual([{ path: "bad-sector.wav", error: "EIO: i/o error, read" }]);
});
