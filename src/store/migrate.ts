/**
 * Versioned SQL migrations (SPEC §6): `src/store/migrations/NNN_name.sql`, applied in order
 * at start, each in its own transaction together with its row in `schema_migrations`, so a
 * migration is either fully applied and recorded or not at all. A transaction-scoped
 * advisory lock serializes servers starting at the same time; starting again is a no-op.
 */
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Sql } from "./db.js";

/**
 * The SQL files are not compiled: from src/store/ and from dist/store/ alike, two levels up
 * is the package root, whose src/store/migrations ships with the package.
 */
const MIGRATIONS_DIR = fileURLToPath(new URL("../../src/store/migrations/", import.meta.url));

/** An arbitrary constant naming sonotile's migration lock among advisory locks. */
const MIGRATION_LOCK = 0x736f6e6f; // "sono"

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations on disk, ordered by version; a malformed name or duplicate version throws. */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const m = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) throw new Error(`migration file ${file} must be named NNN_name.sql`);
    const version = Number(m[1]);
    if (migrations.some((x) => x.version === version)) throw new Error(`two migrations have version ${m[1]}`);
    migrations.push({ version, name: m[2], sql: await readFile(`${dir}/${file}`, "utf8") });
  }
  return migrations;
}

/** Applies the pending migrations; returns the versions applied by this call. */
export async function migrate(sql: Sql, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  // A database a newer sonotile migrated (instances upgraded one by one share it): this one
  // would read and write tables it does not know the shape of.
  const known = Math.max(0, ...all.map((m) => m.version));
  const [{ newest }] = await sql`SELECT COALESCE(max(version), 0)::int AS newest FROM schema_migrations`.catch((err: { code?: string }) => {
    if (err.code === "42P01") return [{ newest: 0 }]; // undefined_table: a new database
    throw err;
  });
  if (newest > known) throw new Error(`the database's schema is at version ${newest}, newer than this sonotile knows (${known}): run the sonotile release that migrated it (or a newer one)`);
  const applied: number[] = [];
  for (const migration of all) {
    const done = await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
      // Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide.
      await tx`
        CREATE TABLE IF NOT EXISTS schema_migrations (
          version integer PRIMARY KEY,
          name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`;
      const [row] = await tx`SELECT 1 FROM schema_migrations WHERE version = ${migration.version}`;
      if (row) return false;
      // Several statements per file: the simple query protocol runs them as one script.
      await tx.unsafe(migration.sql).simple();
      await tx`INSERT INTO schema_migrations (version, name) VALUES (${migration.version}, ${migration.name})`;
      return true;
    });
    if (done) applied.push(migration.version);
  }
  return applied;
}
