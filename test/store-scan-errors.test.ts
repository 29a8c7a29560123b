/**
 * A scan reads the header of every file not registered (unreadableFiles): an error reading one
 * file — an I/O error, a parser's throw on a hostile header — is that file's, not the scan's.
 * The audio layer is mocked to fail one file as a disk would, and to let a test change the disk
 * just before a header is read (a file removed since the listing); nothing else is changed.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it, onTestFinished, vi } from "vitest";
import { createDataset, importDataset, scanDataset } from "../src/store/datasets.js";
import { resolveAudioDir, resolveRoots } from "../src/store/paths.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

/** Called before each header is read (headerError), with the file's path: what the disk does first. */
const before = vi.hoisted(() => ({ header: async (_path: string) => {} }));

vi.mock("../src/audio/index.js", async (importOriginal) => {
  const audio = await importOriginal<typeof import("../src/audio/index.js")>();
  return {
    ...audio,
    headerError: async (path: string, options?: { exactPath?: boolean }) => {
      await before.header(path);
      return path.endsWith("bad-sector.wav") ? Promise.reject(new Error("EIO: i/o error, read")) : audio.headerError(path, options);
    },
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

it("a file removed (or its folder replaced by a file) between the listing and its header's read is left to the import, which says it is gone — whatever its name holds", async () => {
  // Told by the error's words, `cannot open <path>: no such file or directory`, a name with a
  // control character (escaped in the words: \x01) was said unreadable, and so was a file whose
  // folder had become a file (ENOTDIR, "not a directory").
  const dir = join(scratch.path, "removed");
  await mkdir(join(dir, "night"), { recursive: true });
  const names = ["a.wav", "gone\x01.wav", "gone.wav", "night/b.wav"]; // in path order, as a scan lists them
  for (const name of names) await writeSineWav(join(dir, name), 8000, 0.1);
  const roots = await resolveRoots([scratch.path]);
  const dataset = await createDataset(t.db.sql, { name: "removed", audio_dir: await resolveAudioDir(roots, dir), created_by: null });
  before.header = async (path) => {
    if (path.endsWith("gone.wav") || path.endsWith("gone\x01.wav")) await rm(path);
    if (path.endsWith("night/b.wav")) {
      await rm(join(dir, "night"), { recursive: true });
      await writeFile(join(dir, "night"), "a file where the folder was");
    }
  };
  onTestFinished(() => {
    before.header = async () => {};
  });
  const scan = await scanDataset(t.db.sql, dataset.id);
  expect(scan.files.map((f) => [f.path, f.status, f.unreadable])).toEqual(names.map((name) => [name, "unregistered", null]));
  const imported = await importDataset(t.db.sql, dataset.id, null, undefined, scan);
  expect(imported.registered.map((r) => r.path)).toEqual(["a.wav"]);
  const gone = (path: string) => ({ path, error: `path: file ${path} does not exist in the dataset's audio_dir` });
  expect(imported.failed.sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual([gone("gone\x01.wav"), gone("gone.wav"), gone("night/b.wav")]);
});
