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
import { openDatabase, type Database } from "../src/store/db.js";
import { putMetric } from "../src/store/jobs.js";
import { createNote } from "../src/store/notes.js";
import { addRecordingTag, setRecordingFeature } from "../src/store/recordings.js";
import { createToken } from "../src/store/tokens.js";
import { createUser, ensureAdmin } from "../src/store/users.js";
import { REAL_PG_URL, freshDatabase, migratedTemplate, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

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
