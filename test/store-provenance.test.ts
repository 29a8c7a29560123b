/**
 * Migration 021: what a methods section or a reviewer needs of stored work. Runs made since name
 * the engine version that made them, runs made before keep NULL (not guessed); the job of a run
 * (GET /v1/jobs?run_id=) is found through an index. On the embedded database, and on real
 * PostgreSQL when DATABASE_URL is set.
 */
import { expect, it } from "vitest";
import { VERSION } from "../src/engine/version.js";
import { listJobs } from "../src/store/jobs.js";
import { loadMigrations, migrate } from "../src/store/migrate.js";
import { createRun, getRun, listRuns } from "../src/store/runs.js";
import { freshDatabase, planNodes, unmigratedDatabase } from "./store-helpers.js";

it("021 leaves the runs, feature values and job items made before it without an engine version or hash, and every run made since names its engine version", async () => {
  const t = await unmigratedDatabase();
  const sql = t.db.sql;
  try {
    const migrations = await loadMigrations();
    await migrate(sql, migrations.filter((m) => m.version < 21));
    const [old] = await sql`INSERT INTO runs (kind) VALUES ('job') RETURNING id`;
    const [dataset] = await sql`INSERT INTO datasets (name, audio_dir) VALUES ('d', '/audio') RETURNING id`;
    const [recording] = await sql`INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels)
                                  VALUES (${dataset.id}, 'a.wav', ${"0".repeat(32)}, 44, 1000, 1000, 1) RETURNING id`;
    const [name] = await sql`INSERT INTO feature_names (name) VALUES ('rms_dbfs') RETURNING id`;
    await sql`INSERT INTO recording_features (recording_id, feature_name_id, value, run_id) VALUES (${recording.id}, ${name.id}, -9, ${old.id})`;
    const [job] = await sql`INSERT INTO jobs (task, run_id) VALUES ('extract_features', ${old.id}) RETURNING id`;
    await sql`INSERT INTO job_items (job_id, item, target, status) VALUES (${job.id}, 0, '{}', 'done')`;
    expect(await migrate(sql, migrations)).toContain(21);
    expect((await getRun(sql, old.id)).engine_version).toBeNull();
    expect(await sql`SELECT engine_version, recording_hash FROM recording_features`).toEqual([{ engine_version: null, recording_hash: null }]);
    expect(await sql`SELECT engine_version, recording_hash FROM job_items`).toEqual([{ engine_version: null, recording_hash: null }]);
    const made = await createRun(sql, { kind: "import", created_by: null });
    expect(made.engine_version).toBe(VERSION);
    expect((await listRuns(sql, { limit: 10, offset: 0 })).items.map((r) => [r.id, r.engine_version])).toEqual([[made.id, VERSION], [old.id, null]]);
  } finally {
    await t.cleanup();
  }
});

it("finds the job of a run (listJobs by run_id) through an index, not a scan of every job", async () => {
  const heard: { statement: string; parameters: unknown[] }[] = [];
  const t = await freshDatabase({ onStatement: (statement, parameters) => heard.push({ statement, parameters }) });
  const sql = t.db.sql;
  try {
    // 20,000 jobs, each of a run of its own, as a long-running pipeline leaves them.
    await sql`
      WITH made AS (INSERT INTO runs (kind) SELECT 'job' FROM generate_series(1, 20000) RETURNING id)
      INSERT INTO jobs (task, run_id) SELECT 'extract_features', id FROM made`;
    await sql`ANALYZE jobs`;
    const [{ run_id: runId }] = await sql`SELECT run_id FROM jobs ORDER BY created_at, id LIMIT 1 OFFSET 12345`;
    heard.length = 0;
    const page = await listJobs(sql, { limit: 50, offset: 0, state: "all", run_id: runId, sort: "created_at", order: "desc" });
    expect(page.items.map((j) => j.run_id)).toEqual([runId]);
    const listing = heard.find((h) => /WITH page AS/.test(h.statement))!;
    const scans = (await planNodes(sql, listing)).filter((n) => n["Relation Name"] === "jobs").map((n) => n["Node Type"]);
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.filter((type) => type === "Seq Scan")).toEqual([]);
  } finally {
    await t.cleanup();
  }
}, 60_000);
