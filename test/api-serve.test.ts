/**
 * `sonotile serve` as a process: it prints its URL and (on an empty database) the admin token
 * once, answers on 127.0.0.1, and on SIGTERM finishes, closes the database and releases the
 * data directory's lock, exiting 0. A restart on the same data prints no new token.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openDatabase } from "../src/store/db.js";
import { readLock } from "../src/store/lock.js";
import { freshDatabase, migratedTemplate, tempDir, type TestDatabase } from "./store-helpers.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
let dir: { path: string; remove(): Promise<void> };
let real: TestDatabase | undefined;
const env: NodeJS.ProcessEnv = { ...process.env };

beforeAll(async () => {
  dir = await tempDir();
  if (process.env.DATABASE_URL) {
    real = await freshDatabase();
    env.DATABASE_URL = real.url;
  } else {
    // Seed the data directory from the migrated template (faster than initdb in the child).
    const seeded = await openDatabase({ dataDir: dir.path, initialData: await migratedTemplate() });
    await seeded.close();
  }
});

afterAll(async () => {
  await real?.cleanup();
  await dir?.remove();
});

/** Starts the server and resolves once it printed its URL (or rejects with its output if it exits). */
async function startServer(): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--port", "0", "--data", dir.path, "--audio-root", dir.path], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", () => {
      const m = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m && out.includes("\n", out.indexOf(m[0]))) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}:\n${out}`)));
  });
  return { child, url, output: () => out };
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const [code] = await exited;
  return code as number | null;
}

it("serves, prints the admin token once, and stops cleanly on SIGTERM", async () => {
  const first = await startServer();
  try {
    const health = await fetch(`${first.url}/health`);
    expect(health.status).toBe(200);
    // Let the rest of the banner arrive, then read the token from it.
    const key = await new Promise<string>((resolve) => {
      const look = () => { const m = /admin token \(shown once[^:]*: (st_\S+)/.exec(first.output()); if (m) resolve(m[1]); else setTimeout(look, 20); };
      look();
    });
    const me = await fetch(`${first.url}/v1/users/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(await me.json()).toMatchObject({ username: "admin", role: "admin" });
    if (!real) expect((await readLock(dir.path))?.pid).toBe(first.child.pid);
  } finally {
    expect(await stop(first.child)).toBe(0);
  }
  expect(first.output()).toContain("SIGTERM, shutting down");
  expect(await readLock(dir.path)).toBeNull();

  const second = await startServer();
  try {
    expect((await fetch(`${second.url}/health`)).status).toBe(200);
  } finally {
    expect(await stop(second.child)).toBe(0);
  }
  expect(second.output()).not.toContain("admin token");
});
