/**
 * The data directory's lock on a full disk: a write that creates its file and then fails, as one
 * short of space does (ENOSPC), played by a writeFile that does so for the lock's file aside.
 */
import { readdir } from "node:fs/promises";
import { expect, it, vi } from "vitest";
import { acquireLock } from "../src/store/lock.js";
import { tempDir } from "./store-helpers.js";

vi.mock("node:fs/promises", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs/promises")>();
  const writeFile = async (...args: Parameters<typeof fs.writeFile>) => {
    if (!String(args[0]).endsWith(".tmp")) return fs.writeFile(...args);
    await fs.writeFile(args[0], "");
    throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  };
  return { ...fs, writeFile, default: { ...fs, writeFile } };
});

it("a lock that cannot be written for want of space leaves nothing in the data directory — an empty sonotile.lock.<pid>.tmp was left at each start", async () => {
  const dir = await tempDir();
  try {
    await expect(acquireLock(dir.path)).rejects.toMatchObject({ code: "ENOSPC" });
    expect(await readdir(dir.path)).toEqual([]);
  } finally {
    await dir.remove();
  }
});
