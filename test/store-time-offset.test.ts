/**
 * Migration 004: a recording's `time` holds the UTC offset its recorder stated. Times stored
 * before it keep their value; the column takes what the API takes, and refuses the rest naming
 * the field. Migration 005: job items queued before it get the recording fields of their target.
 * On the embedded database, and on real PostgreSQL when DATABASE_URL is set.
 */
import { expect, it } from "vitest";
import { InvalidError, translatePgError } from "../src/store/errors.js";
import { loadMigrations, migrate } from "../src/store/migrate.js";
import { unmigratedDatabase } from "./store-helpers.js";

it("004 keeps the times stored before it and takes a time with a UTC offset", async () => {
  const t = await unmigratedDatabase();
  const sql = t.db.sql;
  try {
    const migrations = await loadMigrations();
    const before = migrations.filter((m) => m.version < 4);
    await migrate(sql, before);
    const [dataset] = await sql`INSERT INTO datasets (name, audio_dir) VALUES ('d', 'x') RETURNING id`;
    // The statement's text names the migration state: one prepared before 004 types its time
    // parameter as time, which would drop the offset, as a server started before it would.
    const insert = (path: string, time: string, state: string) =>
      sql.unsafe(`INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels, time)
                  VALUES ($1, $2, $3, 44, 1000, 1000, 1, $4) -- ${state}`, [dataset.id, path, "0".repeat(32), time]);
    await insert("a.wav", "21:30:15.25", "before 004");
    await insert("b.wav", "06:00", "before 004");
    await insert("e.wav", "24:00:00", "before 004"); // PostgreSQL's end of day, which the ISO form has no place for
    expect((await migrate(sql, migrations)).filter((v) => v >= 4)).toContain(4);
    await insert("c.wav", "20:26:15+01:00", "after 004");
    const rows = await sql<{ path: string; time: string }[]>`SELECT path, time FROM recordings ORDER BY path`;
    expect(rows.map((r) => [r.path, r.time])).toEqual([["a.wav", "21:30:15.25"], ["b.wav", "06:00:00"], ["c.wav", "20:26:15+01:00"], ["e.wav", "00:00:00"]]);
    const refused = await insert("d.wav", "20:26:15+25:00", "after 004").then(() => null, (err: unknown) => translatePgError(err));
    expect(refused).toBeInstanceOf(InvalidError);
    expect((refused as InvalidError).fields).toEqual([{ field: "time", message: "violates the rule recordings_time_check" }]);
  } finally {
    await t.cleanup();
  }
});

it("005 gives job items queued before it their recording's id and API path", async () => {
  const t = await unmigratedDatabase();
  const sql = t.db.sql;
  try {
    const migrations = await loadMigrations();
    await migrate(sql, migrations.filter((m) => m.version < 5));
    const [dataset] = await sql`INSERT INTO datasets (name, audio_dir) VALUES ('d', '/audio') RETURNING id`;
    const [recording] = await sql`INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels)
                                  VALUES (${dataset.id}, 'night/a.wav', ${"0".repeat(32)}, 44, 1000, 1000, 1) RETURNING id`;
    const [clip] = await sql`INSERT INTO clips (recording_id, start_time, end_time) VALUES (${recording.id}, 0, 0.5) RETURNING id`;
    const [job] = await sql`INSERT INTO jobs (task) VALUES ('extract_features') RETURNING id`;
    // Targets as b866268's predecessors queued them: no recording_id, no recording_path.
    const old = [
      { kind: "recording", id: recording.id, path: "/audio/night/a.wav", time_expansion: 1 },
      { kind: "clip", id: clip.id, path: "/audio/night/a.wav", time_expansion: 1, start: 0, end: 0.5 },
    ];
    for (const [item, target] of old.entries()) await sql`INSERT INTO job_items (job_id, item, target) VALUES (${job.id}, ${item}, ${sql.json(target)})`;
    expect(await migrate(sql, migrations)).toContain(5);
    const targets = await sql<{ target: Record<string, unknown> }[]>`SELECT target FROM job_items ORDER BY item`;
    expect(targets.map((r) => r.target)).toEqual(old.map((o) => ({ ...o, recording_id: recording.id, recording_path: "night/a.wav" })));
  } finally {
    await t.cleanup();
  }
});
