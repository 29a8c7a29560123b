/**
 * `sonotile extract`'s resume file at a season's scale, outside `npm run bench` (no audio, no
 * timing asserted): `npx tsx bench/resume-file.ts [ROWS]` (default 400,000) writes ROWS synthetic
 * rows through ResumeCheckpoint, a checkpoint every 10,000 rows, and reads them back with
 * indexResumeFile (what --resume reads it with), in a child process of its own (its peak memory
 * apart). Each row names an empty file of its own (made first, in a temporary directory), so that
 * the reader's check of every file's size and time is paid as in a real resume. Prints the times, the file's size and each
 * process's peak resident memory.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fileStamp, indexResumeFile, ResumeCheckpoint, resumeFilePath, type ComputedTarget } from "../src/cli/extract-resume.js";
import { CHECKPOINT_ROWS, peakMiB, seconds, settings, syntheticValues } from "./synthetic-rows.js";

/** Files per directory of the made targets. */
const PER_DIRECTORY = 1000;

const targetPath = (dir: string, i: number): string => join(dir, String(Math.floor(i / PER_DIRECTORY)), `${i}.wav`);

async function write(dir: string, rows: number): Promise<void> {
  let start = performance.now();
  for (let i = 0; i < rows; i++) {
    if (i % PER_DIRECTORY === 0) mkdirSync(join(dir, String(i / PER_DIRECTORY)));
    closeSync(openSync(targetPath(dir, i), "w"));
  }
  console.log(`made ${rows} empty target files in ${seconds(start)} s`);
  const output = join(dir, "features.csv");
  // An interval no checkpoint waits for: keep() writes every CHECKPOINT_ROWS rows.
  const checkpoint = new ResumeCheckpoint(output, settings, { rows: new Map(), changed: [], appendAt: null, file: null }, Infinity, () => Promise.resolve(), (line) => console.log(line));
  const times: number[] = [];
  let computing = 0;
  start = performance.now();
  for (let i = 0; i < rows; i++) {
    const t = performance.now();
    const path = targetPath(dir, i);
    const target: ComputedTarget = { path, values: syntheticValues(i), file: await fileStamp(path) };
    computing += performance.now() - t;
    checkpoint.add(target);
    if ((i + 1) % CHECKPOINT_ROWS === 0 || i + 1 === rows) {
      const w = performance.now();
      await checkpoint.keep();
      times.push(performance.now() - w);
    }
  }
  const total = times.reduce((a, b) => a + b, 0);
  console.log(`wrote ${checkpoint.rows} rows in ${times.length} checkpoints: ${(total / 1000).toFixed(1)} s of writes (first ${times[0].toFixed(0)} ms, last ${times.at(-1)!.toFixed(0)} ms, slowest ${Math.max(...times).toFixed(0)} ms); ${(computing / 1000).toFixed(1)} s making the rows; ${seconds(start)} s in all`);
  console.log(`resume file ${(statSync(resumeFilePath(output)).size / 1e6).toFixed(0)} MB; writer's peak resident memory ${peakMiB()} MiB`);
}

async function read(dir: string): Promise<void> {
  const start = performance.now();
  const resumed = await indexResumeFile(join(dir, "features.csv"), settings);
  console.log(`read ${resumed!.rows.size} rows (${resumed!.changed.length} changed) in ${seconds(start)} s; reader's peak resident memory ${peakMiB()} MiB`);
}

const [mode, dir] = process.argv.slice(2);
if (mode === "--read") await read(dir);
else {
  const rows = Number(mode ?? 400_000);
  if (!Number.isInteger(rows) || rows < 1) throw new Error(`ROWS: expected an integer >= 1, got ${mode}`);
  const scratch = mkdtempSync(join(tmpdir(), "sonotile-resume-file-"));
  try {
    await write(scratch, rows);
    const reader = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--read", scratch], { stdio: "inherit" });
    if (reader.status !== 0) throw new Error(`the reader ended with ${reader.status ?? reader.signal}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
