/**
 * Connections lost under the application (SPEC §10: the database unreachable, then back): a
 * backend terminated inside a transaction or one of pg-boss's scripts
 * gives the caller a connection error and leaves the process and the pool working. postgres.js
 * 3.4.9 threw an uncaught TypeError from a setImmediate there (porsager/postgres#1208; mended at
 * install by scripts/patch-postgres.mjs), which ended `sonotile serve` within seconds of repeated
 * backend terminations. A test that lets such an exception escape fails the run.
 * Needs real PostgreSQL (DATABASE_URL): the embedded database has no backends to terminate.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bossDatabase } from "../src/jobs/queue.js";
import { isConnectionError, type Sql } from "../src/store/db.js";
import { REAL_PG_URL, freshDatabase, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase | undefined;
let killer: postgres.Sql | undefined;
let sql: Sql;

beforeAll(async () => {
  if (!REAL_PG_URL) return;
  t = await freshDatabase();
  sql = t.db.sql;
  killer = postgres(REAL_PG_URL, { max: 1, onnotice: () => {} });
});

afterAll(async () => {
  await killer?.end();
  await t?.cleanup();
});

const terminate = (pid: number) => killer!`SELECT pg_terminate_backend(${pid})`;
const pidOf = async (q: Sql | postgres.TransactionSql) => (await q<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0].pid;
const errorOf = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e);

describe.runIf(REAL_PG_URL)("a backend terminated under a connection in use", () => {
  it("a transaction: it rejects with a connection error (its ROLLBACK went to the dead connection), and the pool goes on", async () => {
    const err = await errorOf(sql.begin(async (tx) => {
      await terminate(await pidOf(tx));
      await tx`SELECT pg_sleep(0.2)`;
    }));
    expect(isConnectionError(err)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100)); // what a setImmediate would throw, thrown
    expect(await sql`SELECT 3 AS three`).toEqual([{ three: 3 }]);
  });

  it("a pg-boss script (BEGIN; …; COMMIT): it rejects with a connection error instead of waiting for ever, and the pool goes on", async () => {
    const running = errorOf(bossDatabase(sql).executeSql("\n    BEGIN;\n    SET LOCAL lock_timeout = 30000;\n    SELECT pg_sleep(2);\n    COMMIT;\n  "));
    // The script's backend: the one sleeping.
    let pid: number | undefined;
    for (let i = 0; i < 100 && pid === undefined; i++) {
      [{ pid } = { pid: undefined }] = await killer!<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE query LIKE '%SELECT pg_sleep(2)%' AND state = 'active' AND pid <> pg_backend_pid()`;
      if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await terminate(pid!);
    expect(isConnectionError(await running)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await sql`SELECT 4 AS four`).toEqual([{ four: 4 }]);
  });

  it("a pg-boss script runs its statements in one transaction and gives their rows", async () => {
    // SET LOCAL outside a transaction, or on another connection, would leave the default (0).
    const { rows } = await bossDatabase(sql).executeSql("\n    BEGIN;\n    SET LOCAL lock_timeout = 30000;\n    SELECT current_setting('lock_timeout') AS t;\n    COMMIT;\n  ");
    expect(rows).toEqual([{ t: "30s" }]);
  });
});

describe("tolerateLostConnections (serve and worker)", () => {
  const run = (reason: string) => spawnSync(process.execPath, ["--input-type=module", "-e", `
    import { tolerateLostConnections } from ${JSON.stringify(fileURLToPath(new URL("../dist/store/db.js", import.meta.url)))};
    tolerateLostConnections((m) => console.log("warned:", m));
    Promise.reject(${reason});
    setTimeout(() => console.log("alive"), 50);`], { encoding: "utf8" });

  it("keeps the process alive through a connection error no one handled (postgres.js discards one: porsager/postgres#1192)", () => {
    const r = run(`Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" })`);
    expect([r.status, r.stdout]).toEqual([0, "warned: database connection lost (57P01: terminating connection due to administrator command); reconnecting\nalive\n"]);
  });

  it("lets any other unhandled rejection end the process, as Node does", () => {
    const r = run(`new Error("a bug")`);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Error: a bug");
  });
});
