/**
 * `sonotile recordings list` at a season's scale, outside `npm run bench` (no audio, no timing
 * asserted): `npx tsx bench/recordings-list.ts DIR [RECORDINGS]` registers RECORDINGS (default
 * 50,000) synthetic recordings in one dataset (site<k>/night<n>/file<i>.wav, every tenth without a
 * date) on a fresh embedded database in DIR, if it has none yet; then times the built CLI
 * (`bin/sonotile.js`, or SONOTILE=path/to/bin: another checkout's, to compare) listing them whole,
 * by path and by date, three times each: each listing's wall time and CPU time (user + system of
 * the CLI's process, which runs the embedded database: steadier than the wall time on a loaded
 * machine; read from /proc, so Linux alone). It throws unless each listing printed every recording
 * of the database exactly once. A database made by a newer checkout (a later migration) is refused
 * by an older one's CLI: give each its own DIR, copied before.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../src/store/db.js";
import { insertRecordings } from "../src/store/recordings.js";

const [dir, countArg = "50000"] = process.argv.slice(2);
const count = Number(countArg);
if (!dir) throw new Error("usage: npx tsx bench/recordings-list.ts DIR [RECORDINGS]");
if (!Number.isInteger(count) || count < 1) throw new Error(`RECORDINGS: expected an integer >= 1, got ${countArg}`);
const bin = process.env.SONOTILE ?? join(import.meta.dirname, "..", "bin", "sonotile.js");

const fresh = !existsSync(join(dir, "PG_VERSION")) && !existsSync(join(dir, "pgdata"));
// An existing DIR is only counted, not migrated: upgraded, an older checkout's CLI would refuse it.
const db = await openDatabase({ dataDir: dir, migrate: fresh });
let registered: number;
try {
  const sql = db.sql;
  if (fresh) {
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
  }
  registered = Number((await sql`SELECT count(*) AS n FROM recordings`)[0].n);
} finally {
  await db.close();
}

const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));
/** CPU seconds (user + system) of this process's children waited for: /proc/self/stat's cutime and cstime. */
function childrenCpu(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
  return (Number(fields[13]) + Number(fields[14])) / ticksPerSecond;
}

for (const sort of ["path", "date"]) {
  for (let run = 0; run < 3; run++) {
    const [start, cpuStart] = [performance.now(), childrenCpu()];
    const out = execFileSync(process.execPath, [bin, "recordings", "list", "--data", dir, "--sort", sort], { maxBuffer: 1 << 30, encoding: "utf8" });
    const [wall, cpu] = [(performance.now() - start) / 1000, childrenCpu() - cpuStart];
    const ids = out.trim().split("\n").slice(1).map((line) => line.split("\t")[0]);
    const distinct = new Set(ids).size;
    if (ids.length !== registered || distinct !== registered) throw new Error(`--sort ${sort}: ${ids.length} rows (${distinct} distinct) listed of ${registered} recordings`);
    console.log(`--sort ${sort}: ${ids.length} rows, every recording once; wall ${wall.toFixed(2)} s, CPU ${cpu.toFixed(2)} s`);
  }
}
