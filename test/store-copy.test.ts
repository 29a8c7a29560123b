/**
 * Copying a whole database into an empty one (store/copy.ts, `sonotile database copy`): the move
 * from the embedded database to a real PostgreSQL. There was no way to make it: pg_dump older
 * than PGlite's PostgreSQL 18 refuses it (Debian 12's is 15), and sonotile had no export. The
 * source is an embedded database; the target a real PostgreSQL, the move's destination: the
 * test runs with DATABASE_URL (.ci/run's second pass). PGlite's socket server takes no COPY FROM
 * STDIN (the connection closes), so an embedded database is no target.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeFile, createArtifact } from "../src/store/artifacts.js";
import { createClip } from "../src/store/clips.js";
import { copyDatabase } from "../src/store/copy.js";
import { addDataset } from "../src/store/datasets.js";
import { openDatabase, type Database, type Sql } from "../src/store/db.js";
import { putMetric } from "../src/store/jobs.js";
import { createNote } from "../src/store/notes.js";
import { addRecordingTag, setRecordingFeature } from "../src/store/recordings.js";
import { createToken } from "../src/store/tokens.js";
import { createUser, ensureAdmin } from "../src/store/users.js";
import { REAL_PG_URL, freshDatabase, migratedTemplate, tcpProxy, tempDir, writeSineWav, type TcpProxy, type TestDatabase } from "./store-helpers.js";

let source: Database;
let target: TestDatabase;
let audio: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  source = await openDatabase({ initialData: await migratedTemplate(), poolSize: 1 });
  if (REAL_PG_URL) target = await freshDatabase();
  audio = await tempDir();
});

afterAll(async () => {
  await source?.close();
  await target?.cleanup();
  await audio?.remove();
});

/** Every row of every sonotile table as PostgreSQL's text, table by table, sorted (schema_migrations: each database's own). */
async function everyRow(db: Database): Promise<Record<string, string[]>> {
  const tables = await db.sql<{ name: string }[]>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations' ORDER BY 1`;
  const rows: Record<string, string[]> = {};
  for (const { name } of tables) rows[name] = (await db.sql.unsafe(`SELECT t::text AS row FROM "${name}" t ORDER BY 1`)).map((r) => r.row as string);
  return rows;
}

describe.skipIf(!REAL_PG_URL)("a database copied into an empty real PostgreSQL", () => {
  it("holds every row exactly — ids, microseconds, bytes, JSON, generated columns — and refuses a target with records or a pending job", async () => {
    const sql = source.sql;
    const admin = (await ensureAdmin(sql))!;
    const member = await createUser(sql, { username: "ana", created_by: admin.user.id });
    await createToken(sql, { user_id: member.id, name: "field laptop", created_by: admin.user.id });
    // The admin's row rewritten: stored after the member whose created_by points to it.
    await sql`UPDATE users SET name = 'Lab admin' WHERE id = ${admin.user.id}`;
    await writeSineWav(join(audio.path, "a.wav"), 16000, 0.5);
    const { dataset, registered } = await addDataset(sql, { name: "bats", audio_dir: audio.path, created_by: admin.user.id });
    const recording = registered[0].recording_id;
    await sql`UPDATE recordings SET time_expansion = 10, created_at = '2026-06-01 21:13:04.123456+00' WHERE id = ${recording}`;
    await addRecordingTag(sql, recording, { key: "species", value: "Myotis" , created_by: member.id });
    await setRecordingFeature(sql, recording, { name: "snr_db", value: 12.5, created_by: member.id });
    const clip = await createClip(sql, { recording_id: recording, start_time: 0.01, end_time: 0.02, created_by: member.id });
    await createNote(sql, { message: "noisy", clip_id: clip.id, created_by: member.id });
    const file = await storeFile(sql, new Uint8Array([0, 1, 2, 255, 254]), "text/csv");
    const [job] = await sql<{ id: string }[]>`INSERT INTO jobs (task, data, status, result, created_by) VALUES ('extract_features', ${sql.json({ targets: { dataset_id: dataset.id } })}, 'completed', 'success', ${member.id}) RETURNING id`;
    await sql`INSERT INTO jobs (task, status, result, retry_of) VALUES ('extract_features', 'completed', 'failure', ${job.id})`;
    await createArtifact(sql, { job_id: job.id, name: "features.csv", file_sha256: file.sha256, created_by: member.id });
    await putMetric(sql, job.id, { key: "items_done", value: 1 }); // job_metrics' id is an identity column

    const [pending] = await sql<{ id: string }[]>`INSERT INTO jobs (task) VALUES ('extract_features') RETURNING id`;
    await expect(copyDatabase(sql, target.db.sql)).rejects.toThrow("1 job is pending or running, and the batch-job queue is not copied: let it finish, or abort it (sonotile jobs abort <id>), then copy");
    await sql`UPDATE jobs SET status = 'aborted' WHERE id = ${pending.id}`;

    const copied = await copyDatabase(sql, target.db.sql);
    expect(copied.find((t) => t.table === "users")).toEqual({ table: "users", rows: 2 });
    expect(copied.findIndex((t) => t.table === "datasets")).toBeLessThan(copied.findIndex((t) => t.table === "recordings"));
    const [from, to] = [await everyRow(source), await everyRow(target.db)];
    expect(to).toEqual(from);
    expect(to.recordings).toHaveLength(1);
    expect(to.recordings[0]).toContain("2026-06-01 21:13:04.123456+00");
    // The generated columns are computed again by the target, as in the source: 16 kHz × 10.
    const [r] = await target.db.sql<{ samplerate: number }[]>`SELECT samplerate FROM recordings`;
    expect(r.samplerate).toBe(160000);

    // The target numbers new metrics after the copied ones: its identity sequence had stayed at 1 (duplicate key).
    await putMetric(target.db.sql, job.id, { key: "items_done", step: 1, value: 2 });
    expect((await target.db.sql`SELECT id::int FROM job_metrics ORDER BY id`).map((m) => m.id)).toEqual([1, 2]);

    await expect(copyDatabase(sql, target.db.sql)).rejects.toThrow(/^the target database holds sonotile records already \(users, api_tokens, .*\): copy into an empty database \(createdb\)$/);
  });

  it("copies a table of more than a COPY stream buffers (a file of 64 KiB) and every table after it (the source's connection stayed paused: the copy waited for ever)", async () => {
    const big = await openDatabase({ initialData: await migratedTemplate(), poolSize: 1 });
    const empty = await freshDatabase();
    try {
      const admin = (await ensureAdmin(big.sql))!;
      const bytes = Uint8Array.from({ length: 64 * 1024 }, (_, i) => (i * 7919) % 251);
      const file = await storeFile(big.sql, bytes, "text/csv");
      const [job] = await big.sql<{ id: string }[]>`INSERT INTO jobs (task, status, result, created_by) VALUES ('extract_features', 'completed', 'success', ${admin.user.id}) RETURNING id`;
      await createArtifact(big.sql, { job_id: job.id, name: "features.csv", file_sha256: file.sha256, created_by: admin.user.id });
      const copied = await copyDatabase(big.sql, empty.db.sql);
      expect(copied.find((t) => t.table === "artifacts")).toEqual({ table: "artifacts", rows: 1 });
      expect(await everyRow(empty.db)).toEqual(await everyRow(big));
    } finally {
      await big.close();
      await empty.cleanup();
    }
  });
});

/**
 * A copy that fails on either side — the target refusing a row, either connection lost — ends at
 * once with an error naming the table and the side, leaves the target empty, and leaves the source
 * answering. The source's COPY stream, destroyed when the target failed, kept its connection paused
 * in the COPY for good: the copy rejected with "You cannot execute queries during copy" and the
 * source never answered again; a COPY FROM STDIN refused after its last row went out waited for
 * ever (scripts/patch-postgres.mjs). The source is the embedded database (the command's), and a
 * real PostgreSQL in .ci/run's second pass; a target that refuses rows is a real PostgreSQL.
 */
const SOURCES = ["embedded", ...(REAL_PG_URL ? ["PostgreSQL"] : [])] as const;

describe.each(SOURCES)("a copy from the %s database that fails", (kind) => {
  /** A source of its own, with one connection: the one the copy used is the one asked afterwards. */
  async function sourceDatabase(): Promise<TestDatabase> {
    if (kind === "PostgreSQL") return freshDatabase({ poolSize: 1 });
    const db = await openDatabase({ initialData: await migratedTemplate(), poolSize: 1 });
    return { db, url: undefined, cleanup: () => db.close() };
  }

  /** 2000 users: a users table of some 250 KiB, over the 16 KiB at which a COPY stream pauses its connection. */
  async function manyUsers(sql: Sql): Promise<void> {
    await sql`INSERT INTO users (username, name) SELECT 'user' || i, repeat('x', 60) FROM generate_series(1, 2000) i`;
  }

  /** A pool of one connection to `t` through a proxy the test cuts: to the embedded database's socket, or the PostgreSQL's port. */
  async function proxied(t: TestDatabase, onStatement?: (statement: string) => void): Promise<{ db: Database; proxy: TcpProxy }> {
    const url = new URL(t.url ?? "postgres://postgres@127.0.0.1/postgres");
    const proxy = await tcpProxy(t.url ? { host: url.hostname, port: Number(url.port || 5432) } : { path: t.db.embedded!.socket });
    url.host = `127.0.0.1:${proxy.port}`;
    return { db: await openDatabase({ url: url.toString(), poolSize: 1, migrate: false, onStatement }), proxy };
  }

  /** How many rows the target's sonotile tables hold, all told. */
  async function rowsIn(db: Database): Promise<number> {
    const tables = await db.sql<{ name: string }[]>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'`;
    let n = 0;
    for (const { name } of tables) n += (await db.sql.unsafe(`SELECT count(*)::int AS n FROM "${name}"`))[0].n as number;
    return n;
  }

  const users = async (db: Database) => (await within(10, db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM users`))[0].n;
  const COPY_USERS_IN = /^COPY "users" .* FROM STDIN$/;

  it.runIf(REAL_PG_URL)("the target refuses a row in the middle of a table over 16 KiB: the source answers after, and a copy starts again", async () => {
    const source = await sourceDatabase();
    const target = await freshDatabase();
    try {
      await manyUsers(source.db.sql);
      await target.db.sql`ALTER TABLE users ADD CONSTRAINT not_user1000 CHECK (username <> 'user1000')`;
      await expect(within(20, copyDatabase(source.db.sql, target.db.sql))).rejects.toThrow(
        `table users was not copied: the target failed: new row for relation "users" violates check constraint "not_user1000"; nothing was copied (the target's transaction was rolled back), and a copy can start again`,
      );
      expect(await rowsIn(target.db)).toBe(0);
      expect(await users(source.db)).toBe(2000);
      await target.db.sql`ALTER TABLE users DROP CONSTRAINT not_user1000`;
      expect((await within(20, copyDatabase(source.db.sql, target.db.sql))).find((t) => t.table === "users")).toEqual({ table: "users", rows: 2000 });
    } finally {
      await source.cleanup();
      await target.cleanup();
    }
  }, 60_000);

  it.runIf(REAL_PG_URL)("the target refuses a small table's rows after their end went out: the copy fails, it waited for ever", async () => {
    const source = await sourceDatabase();
    const target = await freshDatabase();
    try {
      await createUser(source.db.sql, { username: "ana" });
      await target.db.sql`ALTER TABLE users ADD CONSTRAINT not_ana CHECK (username <> 'ana')`;
      await expect(within(20, copyDatabase(source.db.sql, target.db.sql))).rejects.toThrow(
        /^table users was not copied: the target failed: new row for relation "users" violates check constraint "not_ana"; nothing was copied/,
      );
      expect(await rowsIn(target.db)).toBe(0);
      expect(await users(source.db)).toBe(1);
      expect(await users(target.db)).toBe(0); // the target's connection answers too
    } finally {
      await source.cleanup();
      await target.cleanup();
    }
  }, 60_000);

  it("the target's connection is lost as a table over 16 KiB starts to go in: the source answers after, the target holds nothing", async () => {
    const source = await sourceDatabase();
    const target = await freshDatabase();
    let cut: TcpProxy | undefined;
    const into = await proxied(target, (statement) => COPY_USERS_IN.test(statement) && void cut?.stop());
    cut = into.proxy;
    try {
      await manyUsers(source.db.sql);
      await expect(within(20, copyDatabase(source.db.sql, into.db.sql))).rejects.toThrow(/^table users was not copied: the target failed: .+; nothing was copied/);
      expect(await users(source.db)).toBe(2000);
      expect(await rowsIn(target.db)).toBe(0);
    } finally {
      await within(10, into.db.close());
      await into.proxy.stop();
      await source.cleanup();
      await target.cleanup();
    }
  }, 60_000);

  it.runIf(REAL_PG_URL)("the source's connection is lost as a table over 16 KiB goes in: its pool closes, the target holds nothing", async () => {
    const source = await sourceDatabase();
    let cut: TcpProxy | undefined;
    const target = await freshDatabase({ onStatement: (statement) => COPY_USERS_IN.test(statement) && void cut?.stop() });
    const from = await proxied(source);
    cut = from.proxy;
    try {
      await manyUsers(source.db.sql);
      // The table named is users, or the next one where the socket's buffers held all of users' rows when the connection was cut.
      await expect(within(20, copyDatabase(from.db.sql, target.db.sql))).rejects.toThrow(/^table [a-z_]+ was not copied: the source failed: .+; nothing was copied/);
      await within(10, from.db.close());
      expect(await rowsIn(target.db)).toBe(0);
      expect(await users(source.db)).toBe(2000);
    } finally {
      await from.proxy.stop();
      await source.cleanup();
      await target.cleanup();
    }
  }, 60_000);

  it.runIf(REAL_PG_URL)("the source's connection is lost once the target has committed: the copy is whole and says so (it failed with a bare connection error, and a retry was refused as not empty)", async () => {
    const source = await sourceDatabase();
    let cut: TcpProxy | undefined;
    const target = await freshDatabase({ onStatement: (statement) => /^commit$/i.test(statement.trim()) && void cut?.stop() });
    const from = await proxied(source);
    cut = from.proxy;
    try {
      await manyUsers(source.db.sql);
      const copied = await within(20, copyDatabase(from.db.sql, target.db.sql));
      expect(copied.find((t) => t.table === "users")).toEqual({ table: "users", rows: 2000 });
      expect(await users(target.db)).toBe(2000);
    } finally {
      await within(10, from.db.close()).catch(() => undefined);
      await from.proxy.stop();
      await source.cleanup();
      await target.cleanup();
    }
  }, 60_000);
});

/** `promise`, or a rejection once `seconds` pass without it settling: a copy that waits for ever fails its test instead of hanging it. */
function within<T>(seconds: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still waiting after ${seconds} s`)), seconds * 1000)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
