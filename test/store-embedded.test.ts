/**
 * The embedded database in a data directory: data survives a restart, migrations are not
 * applied twice, a second server cannot open the same directory (lock) while admin
 * commands can attach to the running one, and a stale lock of a dead process is taken over.
 * Always runs on PGlite (it is about the embedded database), whatever DATABASE_URL says.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openDatabase } from "../src/store/db.js";
import { loadMigrations } from "../src/store/migrate.js";
import { LOCK_FILE, LockedError, acquireLock, readLock } from "../src/store/lock.js";
import { createUser, findUserByUsername } from "../src/store/users.js";
import { migratedTemplate, tempDir } from "./store-helpers.js";

let dir: { path: string; remove(): Promise<void> };
let template: Blob;

beforeAll(async () => {
  dir = await tempDir();
  template = await migratedTemplate();
});

afterAll(async () => {
  await dir?.remove();
});

it("keeps data across restarts, locks the directory, lets admin commands attach", async () => {
  const dataDir = join(dir.path, "data");
  const first = await openDatabase({ dataDir, initialData: template });
  try {
    expect(first.kind).toBe("embedded");
    await createUser(first.sql, { username: "persisted" });
    expect((await readLock(dataDir))?.pid).toBe(process.pid);
    expect((await readLock(dataDir))?.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);

    // A second server is refused; an admin command attaches to the running database.
    await expect(openDatabase({ dataDir })).rejects.toBeInstanceOf(LockedError);
    const attached = await openDatabase({ dataDir, attach: true });
    try {
      expect(attached.kind).toBe("attached");
      expect(await findUserByUsername(attached.sql, "persisted")).not.toBeNull();
    } finally {
      await attached.close();
    }
  } finally {
    await first.close();
  }
  expect(await readLock(dataDir)).toBeNull();

  const second = await openDatabase({ dataDir });
  try {
    expect(await findUserByUsername(second.sql, "persisted")).not.toBeNull();
    const rows = await second.sql`SELECT version FROM schema_migrations ORDER BY version`;
    expect(rows.map((r) => r.version)).toEqual((await loadMigrations()).map((m) => m.version));
  } finally {
    await second.close();
  }
});

it("takes over the lock of a process that no longer exists", async () => {
  const lockDir = join(dir.path, "stale");
  await mkdir(lockDir);
  // Pid 2^22 + 1 is above Linux's pid_max limit (2^22), so no process can have it.
  await writeFile(join(lockDir, LOCK_FILE), JSON.stringify({ pid: 4194305, host: hostname() }));
  const lock = await acquireLock(lockDir);
  expect((await readLock(lockDir))?.pid).toBe(process.pid);
  await expect(acquireLock(lockDir)).rejects.toBeInstanceOf(LockedError);
  await lock.release();
  expect(await readLock(lockDir)).toBeNull();
});
