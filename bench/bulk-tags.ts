/**
 * Bulk tagging at a season's scale, outside `npm run bench` (no audio, no timing asserted):
 * `npx tsx bench/bulk-tags.ts [RECORDINGS]` (default 30,000) registers RECORDINGS synthetic
 * recordings in one dataset (site<k>/night<n>/file<i>.wav: 10 sites of 30 nights) on a fresh
 * embedded database in a temporary directory — or on the PostgreSQL of DATABASE_URL, in a
 * database of its own, dropped after — then times store/recording-tags.ts as the API runs it:
 * the whole dataset, again (nothing new), one site's folder (search), 10,000 ids, and the untag.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { openDatabase, type Database } from "../src/store/db.js";
import { insertRecordings } from "../src/store/recordings.js";
import { tagRecordings, untagRecordings, type RecordingSelection } from "../src/store/recording-tags.js";

const [countArg = "30000"] = process.argv.slice(2);
const count = Number(countArg);
if (!Number.isInteger(count) || count < 1) throw new Error(`RECORDINGS: expected an integer >= 1, got ${countArg}`);

/** A database of the bench's own, and how to drop it. */
async function benchDatabase(): Promise<{ db: Database; drop(): Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const dir = mkdtempSync(join(tmpdir(), "sonotile-bulk-tags-"));
    const db = await openDatabase({ dataDir: dir });
    return { db, drop: async () => { await db.close(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const name = `sonotile_bench_${randomBytes(6).toString("hex")}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin`CREATE DATABASE ${admin(name)}`;
  const own = new URL(url);
  own.pathname = `/${name}`;
  const db = await openDatabase({ url: own.toString() });
  return { db, drop: async () => { await db.close(); await admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`; await admin.end(); } };
}

/** Milliseconds `run` takes, and what it answers. */
async function timed<T>(label: string, run: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await run();
  console.log(`${label}: ${(performance.now() - start).toFixed(0)} ms ${JSON.stringify(result)}`);
  return result;
}

const { db, drop } = await benchDatabase();
try {
  const sql = db.sql;
  const [{ id: dataset }] = await sql<{ id: string }[]>`INSERT INTO datasets (name, audio_dir) VALUES ('bench', '/nonexistent/bench') RETURNING id`;
  const registered: string[] = [];
  for (let from = 0; from < count; from += 2_000) {
    const rows = Array.from({ length: Math.min(2_000, count - from) }, (_, k) => {
      const i = from + k;
      return { dataset_id: dataset, path: `site${i % 10}/night${Math.floor(i / 10) % 30}/file${i}.wav`, hash: i.toString(16).padStart(32, "0"),
        file_size: 1_000_000, file_samplerate: 256_000, frames: 256_000, channels: 1, created_by: null };
    });
    registered.push(...(await insertRecordings(sql, rows)).map((r) => r.id));
  }
  await sql`ANALYZE`;
  console.log(`${registered.length} recordings, ${process.env.DATABASE_URL ? "PostgreSQL" : "embedded"}`);
  const tag = { key: "season", value: "2026", created_by: null };
  const whole: RecordingSelection = { state: "active", dataset_id: dataset };
  await timed("tag the dataset", () => tagRecordings(sql, whole, tag));
  await timed("tag it again", () => tagRecordings(sql, whole, tag));
  await timed("tag one site (search site3/)", () => tagRecordings(sql, { state: "active", dataset_id: dataset, search: "site3/" }, { ...tag, key: "site" }));
  await timed("tag 10,000 ids", () => tagRecordings(sql, { recording_ids: registered.slice(0, 10_000) }, { ...tag, key: "checked" }));
  await timed("untag the dataset", () => untagRecordings(sql, whole, tag));
} finally {
  await drop();
}
