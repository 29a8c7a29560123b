/**
 * `sonotile recordings list` at a season's scale, outside `npm run bench` (no audio, no timing
 * asserted): `npx tsx bench/recordings-list.ts DIR [RECORDINGS]` registers RECORDINGS (default
 * 50,000) synthetic recordings in one dataset (site<k>/night<n>/file<i>.wav, every tenth without a
 * date) on a fresh embedded database in DIR, if it has none yet; then times the built CLI
 * (`bin/sonotile.js`, or SONOTILE=path/to/bin: another checkout's, to compare) listing them whole,
 * by path and by date, three times each, and checks that each listing printed every recording
 * once. A database made by a newer checkout (a later migration) is refused by an older one's CLI:
 * give each its own DIR, copied before.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../src/store/db.js";
import { insertRecordings } from "../src/store/recordings.js";

const [dir, countArg = "50000"] = process.argv.slice(2);
const count = Number(countArg);
if (!dir) throw new Error("usage: npx tsx bench/recordings-list.ts DIR [RECORDINGS]");
if (!Number.isInteger(count) || count < 1) throw new Error(`RECORDINGS: expected an integer >= 1, got ${countArg}`);
const bin = process.env.SONOTILE ?? join(import.meta.dirname, "..", "bin", "sonotile.js");

if (!existsSync(join(dir, "PG_VERSION")) && !existsSync(join(dir, "pgdata"))) {
  const db = await openDatabase({ dataDir: dir });
  try {
    const sql = db.sql;
    const [{ id: dataset }] = await sql<{ id: string }[]>`INSERT INTO datasets (name, audio_dir) VALUES ('bench', '/nonexistent/bench') RETURNING id`;
    for (let from = 0; from < count; from += 2_000) {
      const rows = Array.from({ length: Math.min(2_000, count - from) }, (_, k) => {
        const i = from + k;
        return { dataset_id: dataset, path: `site${i % 10}/night${Math.floor(i / 10) % 30}/file${i}.wav`, hash: i.toString(16).padStart(32, "0"),
          file_size: 1_000_000, file_samplerate: 256_000, frames: 256_000 + (i % 97), channels: 1, created_by: null,
          date: i % 10 === 0 ? null : `2026-05-${String(1 + (i % 30)).padStart(2, "0")}`, time: `${String(i % 24).padStart(2, "0")}:00:00` };
      });
      await insertRecordings(sql, rows);
    }
    await sql`ANALYZE`;
  } finally {
    await db.close();
  }
}

for (const sort of ["path", "date"]) {
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    const out = execFileSync(process.execPath, [bin, "recordings", "list", "--data", dir, "--sort", sort], { maxBuffer: 1 << 30, encoding: "utf8" });
    const ms = performance.now() - start;
    const ids = out.trim().split("\n").slice(1).map((line) => line.split("\t")[0]);
    console.log(`--sort ${sort}: ${ids.length} rows (${new Set(ids).size} distinct) in ${(ms / 1000).toFixed(2)} s`);
  }
}
