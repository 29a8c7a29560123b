/**
 * Migration 004: a recording's `time` holds the UTC offset its recorder stated. Times stored
 * before it keep their value; the column takes what the API takes, and refuses the rest naming
 * the field. On the embedded database, and on real PostgreSQL when DATABASE_URL is set.
 */
import { expect, it } from "vitest";
import { openDatabase } from "../src/store/db.js";
import { InvalidError, translatePgError } from "../src/store/errors.js";
import { loadMigrations, migrate } from "../src/store/migrate.js";
import { freshDatabase, REAL_PG_URL } from "./store-helpers.js";

it("004 keeps the times stored before it and takes a time with a UTC offset", async () => {
  const t = REAL_PG_URL ? await freshDatabase({ migrate: false }) : await openDatabase({ migrate: false }).then((db) => ({ db, cleanup: () => db.close() }));
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
    expect((await migrate(sql, migrations)).filter((v) => v >= 4)).toContain(4);
    await insert("c.wav", "20:26:15+01:00", "after 004");
    const rows = await sql<{ path: string; time: string }[]>`SELECT path, time FROM recordings ORDER BY path`;
    expect(rows.map((r) => [r.path, r.time])).toEqual([["a.wav", "21:30:15.25"], ["b.wav", "06:00:00"], ["c.wav", "20:26:15+01:00"]]);
    const refused = await insert("d.wav", "20:26:15+25:00", "after 004").then(() => null, (err: unknown) => translatePgError(err));
    expect(refused).toBeInstanceOf(InvalidError);
    expect((refused as InvalidError).fields).toEqual([{ field: "time", message: "violates the rule recordings_time_check" }]);
  } finally {
    await t.cleanup();
  }
});
