/**
 * Batch feature extraction (SPEC §9 "batch", issue 6): audio hours per wall hour, per core, and
 * the scaling from 1 to 2 cores, for the two ways of running it —
 * - local: `sonotile extract <dir> -o features.csv -j N`, the whole command as a child process;
 * - distributed: an `extract_features` job over the same recordings, registered as a dataset,
 *   executed by N `sonotile worker -j 1` processes sharing one PostgreSQL.
 * Both spawn the built CLI (bin/sonotile.js → dist/), as a user runs it. And the case where jobs
 * pay most per audio second (runShortItems): many short files, where an item's database round
 * trips outweigh its computation — items/s and audio hours per wall hour per core, 1 and 2 workers.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { encodeWav16 } from "../src/demo/wav.js";
import { extractFeaturesData, openQueue, submitExtractJob } from "../src/jobs/queue.js";
import { addDataset } from "../src/store/datasets.js";
import { openDatabase, redact, type Database, type Sql } from "../src/store/db.js";
import { getJob, type Job } from "../src/store/jobs.js";
import { loadAverage, median, rotate } from "./lib/measure.js";
import { synthesize } from "./lib/signal.js";

const repo = fileURLToPath(new URL("../", import.meta.url));
const CLI = join(repo, "bin/sonotile.js");
/**
 * Where the distributed part runs without DATABASE_URL: the embedded database belongs to the
 * one process that opens its data directory (a worker on it owns it, src/cli/commands/worker.ts),
 * so two worker processes cannot share it.
 */
const LOCAL_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres";
/** Sample rates of the recordings, in turn: songbird-like 48 kHz and bat-detector 250/384 kHz. */
const SAMPLERATES = [48000, 48000, 250000, 384000] as const;
/** Cores compared: 1 → 2 (the machines these run on have 2). */
const CORES = [1, 2] as const;
type Cores = (typeof CORES)[number];

interface Dataset {
  files: number;
  secondsPerFile: number;
  audioSeconds: number;
  /** Files per sample rate. */
  samplerates: Record<number, number>;
  bytes: number;
}

/** `files` recordings of `seconds` each in a new directory `dir` (16-bit mono WAV, sample rates `rates` in turn, different noise in each). */
function writeDataset(dir: string, files: number, seconds: number, rates: readonly number[] = SAMPLERATES): Dataset {
  mkdirSync(dir);
  const samplerates: Record<number, number> = {};
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const rate = rates[i % rates.length];
    const wav = encodeWav16(synthesize(seconds, rate, 1 + i), rate);
    writeFileSync(join(dir, `rec-${String(i).padStart(Math.max(3, String(files - 1).length), "0")}-${rate / 1000}kHz.wav`), wav);
    samplerates[rate] = (samplerates[rate] ?? 0) + 1;
    bytes += wav.length;
  }
  return { files, secondsPerFile: seconds, audioSeconds: files * seconds, samplerates, bytes };
}

interface ChildRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The exit code, or the signal that ended it. */
  exit: Promise<number | NodeJS.Signals>;
}

/** `node …args` as a child process, its output collected. */
function startNode(args: string[], env: NodeJS.ProcessEnv = {}): ChildRun {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const exit = new Promise<number | NodeJS.Signals>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal!)));
  return { child, stdout: () => stdout, stderr: () => stderr.trim(), exit };
}

/** Stops `child` with SIGTERM (SIGKILL after `graceMs`) unless it has exited already. */
async function stopChild(child: ChildProcess, exit: Promise<unknown>, graceMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exit;
  clearTimeout(timer);
}

/** Wall seconds of the child processes `node …args` run side by side, from spawn to the last exit. */
async function timeProcesses(argsOfEach: string[][]): Promise<number> {
  const start = performance.now();
  const runs = argsOfEach.map((args) => startNode(args));
  try {
    for (const [i, run] of runs.entries()) {
      const code = await run.exit;
      if (code !== 0) throw new Error(`node ${argsOfEach[i].join(" ")} exited ${code}: ${run.stderr()}`);
    }
    return (performance.now() - start) / 1000;
  } finally {
    await Promise.all(runs.map(({ child, exit }) => stopChild(child, exit)));
  }
}

/**
 * The ceiling of the 1 → 2 scaling on this machine at this moment: a fixed amount of CPU-bound
 * work (a loop: no memory traffic, no I/O) in 1 process, then split over 2 side by side. On an
 * idle 2-core machine it scales 2×; other work on the cores (other benchmarks, test suites)
 * shows up here first.
 */
const CPU_LOOP_ITERATIONS = 8e8;
// The sum is kept to 16 bits: left to grow past 2³¹ it would turn V8's int32 arithmetic into
// doubles in the longer loop only, and the two halves would not be half the work.
const cpuLoop = (iterations: number) => `let x = 0; for (let i = 0; i < ${iterations}; i++) x = (x + i % 7) & 0xffff; if (x < 0) throw 0;`;
const timeCpuLoop = (processes: Cores) => timeProcesses(Array.from({ length: processes }, () => ["-e", cpuLoop(CPU_LOOP_ITERATIONS / processes)]));

/** Wall seconds of `sonotile extract <dir> -o out -j threads`, from spawn to exit. */
const timeExtract = (recordings: string, out: string, threads: Cores) =>
  timeProcesses([[CLI, "extract", recordings, "-o", out, "-j", String(threads)]]);

/** A database of its own on a real PostgreSQL, dropped by `drop()`. */
interface ScratchDatabase {
  db: Database;
  url: string;
  /** For the output: which server, and why that one. */
  description: string;
  drop(): Promise<void>;
}

/** Creates `sonotile_bench_<pid>` on DATABASE_URL's server, else on the local PostgreSQL; unavailable when that cannot be reached. */
async function scratchDatabase(): Promise<ScratchDatabase | { unavailable: string }> {
  const server = process.env.DATABASE_URL || LOCAL_POSTGRES_URL;
  const why = process.env.DATABASE_URL
    ? "from DATABASE_URL"
    : "DATABASE_URL unset; not the embedded database, which one process owns, so two worker processes cannot share it";
  const name = `sonotile_bench_${process.pid}`;
  const admin = postgres(server, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin`CREATE DATABASE ${admin(name)}`;
  } catch (err) {
    await admin.end();
    return { unavailable: `cannot create a database at ${redact(server)} (${(err as Error).message}); set DATABASE_URL to a PostgreSQL ≥ 14` };
  }
  const drop = async () => {
    await admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`;
    await admin.end();
  };
  const url = new URL(server);
  url.pathname = `/${name}`;
  try {
    const db = await openDatabase({ url: url.toString(), poolSize: 2 });
    const [{ version }] = await db.sql<{ version: string }[]>`SELECT split_part(current_setting('server_version'), ' ', 1) AS version`;
    return { db, url: url.toString(), description: `PostgreSQL ${version}, scratch database ${name} at ${url.host} (${why})`, drop };
  } catch (err) {
    await drop();
    throw err;
  }
}

/** A dataset of the `files` recordings in `dir` (its id); the import is checked, not timed. */
async function registerDataset(sql: Sql, dir: string, files: number): Promise<string> {
  const { dataset, registered, failed } = await addDataset(sql, { name: "bench", audio_dir: dir, created_by: null });
  if (registered.length !== files) throw new Error(`dataset import registered ${registered.length} of ${files} recordings: ${JSON.stringify(failed)}`);
  return dataset.id;
}

/**
 * Seconds from the creation to the completion (database clock) of a job over the dataset, executed by
 * `workers` `sonotile worker -j 1` processes started beforehand and idle (polling every 0.5 s).
 */
async function timeJob(scratch: ScratchDatabase, datasetId: string, workers: Cores): Promise<number> {
  const { sql } = scratch.db;
  const runs = Array.from({ length: workers }, () => startNode([CLI, "worker", "-j", "1", "--poll", "0.5"], { DATABASE_URL: scratch.url }));
  try {
    await Promise.all(runs.map(({ child, stdout, stderr, exit }) => new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", () => {
        if (/ ready /.test(stdout())) resolve();
      });
      void exit.then((code) => reject(new Error(`sonotile worker exited ${code} before it was ready: ${stderr()}`)));
    })));
    const boss = await openQueue(sql);
    let job: Job;
    try {
      job = await submitExtractJob(sql, boss, { data: extractFeaturesData.parse({ targets: { dataset_id: datasetId } }), created_by: null });
    } finally {
      await boss.stop({ graceful: false, close: false });
    }
    let died: string | undefined;
    for (const run of runs) void run.exit.then((code) => (died ??= `a sonotile worker exited ${code} mid-job: ${run.stderr()}`));
    while (job.status !== "completed" && job.status !== "aborted") {
      if (died) throw new Error(died);
      await new Promise((r) => setTimeout(r, 200));
      job = await getJob(sql, job.id);
    }
    if (job.result !== "success") throw new Error(`job ${job.id} ended ${job.status} ${job.result}: ${job.message}`);
    return (Date.parse(job.completed_at!) - Date.parse(job.created_at)) / 1000;
  } finally {
    await Promise.all(runs.map(({ child, exit }) => stopChild(child, exit)));
  }
}

/** Wall seconds per round at each core count, and the scaling they give. */
export interface Scaling {
  wall_s: Record<Cores, number[]>;
  /** Median over rounds of wall(1) / wall(2) within the round. */
  scaling: number;
  /** scaling / 2. */
  efficiency: number;
}

/** A scaling of feature extraction, with its throughput. */
export interface ExtractionScaling extends Scaling {
  /** Audio hours per wall hour (= seconds of audio per wall second), from the median wall time. */
  audio_h_per_wall_h: Record<Cores, number>;
  audio_h_per_wall_h_per_core: Record<Cores, number>;
}

export interface BatchResult {
  dataset: Dataset;
  rounds: number;
  cpu_loop: Scaling;
  local: ExtractionScaling;
  distributed: (ExtractionScaling & { database: string }) | { unavailable: string };
  load: number[][];
}

function scaling(wall: Record<Cores, number[]>): Scaling {
  const ratio = median(wall[1].map((w, r) => w / wall[2][r]));
  return { wall_s: wall, scaling: ratio, efficiency: ratio / 2 };
}

function extractionScaling(wall: Record<Cores, number[]>, audioSeconds: number): ExtractionScaling {
  const rate = (c: Cores) => audioSeconds / median(wall[c]);
  return { ...scaling(wall), audio_h_per_wall_h: { 1: rate(1), 2: rate(2) }, audio_h_per_wall_h_per_core: { 1: rate(1), 2: rate(2) / 2 } };
}

/** Table rows of a scaling: wall s, audio h/h, per core (— when not extraction), scaling, efficiency. */
function scalingLines(label: (c: Cores) => string, r: Scaling | ExtractionScaling): string[] {
  return CORES.map((c) => {
    const [rate, perCore] = "audio_h_per_wall_h" in r ? [r.audio_h_per_wall_h[c], r.audio_h_per_wall_h_per_core[c]].map((v) => v.toFixed(0)) : ["—", "—"];
    const [gain, efficiency] = c === 1 ? ["—", "—"] : [`${r.scaling.toFixed(2)}×`, `${(100 * r.efficiency).toFixed(0)} %`];
    return `  ${label(c).padEnd(48)} ${median(r.wall_s[c]).toFixed(1).padStart(7)} ${rate.padStart(10)} ${perCore.padStart(10)} ${gain.padStart(8)} ${efficiency.padStart(11)}`;
  });
}

export async function runBatch(quick: boolean, log: (line: string) => void): Promise<{ lines: string[]; result: BatchResult }> {
  if (!existsSync(join(repo, "dist/cli/main.js"))) throw new Error("bench batch spawns the built CLI: run `npm run build` first");
  const rounds = quick ? 1 : 3;
  const dir = mkdtempSync(join(tmpdir(), "sonotile-bench-batch-"));
  let scratch: ScratchDatabase | { unavailable: string } | undefined;
  try {
    log("batch: writing the recordings…");
    const recordings = join(dir, "recordings");
    const data = writeDataset(recordings, quick ? 8 : 24, quick ? 20 : 60);
    scratch = await scratchDatabase();
    let queue: { scratch: ScratchDatabase; datasetId: string } | undefined;
    if (!("unavailable" in scratch)) {
      log(`batch: registering the recordings in ${scratch.description}…`);
      queue = { scratch, datasetId: await registerDataset(scratch.db.sql, recordings, data.files) };
    }

    // Every round times each way at both core counts (order rotated per round), so the ratios
    // within a round come from runs seconds apart.
    const load = [loadAverage()];
    const perCores = (): Record<Cores, number[]> => ({ 1: [], 2: [] });
    const wall = { cpuLoop: perCores(), local: perCores(), distributed: perCores() };
    for (let r = 0; r < rounds; r++) {
      log(`batch: round ${r + 1}/${rounds}: CPU loop, sonotile extract, jobs on sonotile workers…`);
      for (const cores of rotate(CORES, r)) wall.cpuLoop[cores].push(await timeCpuLoop(cores));
      for (const cores of rotate(CORES, r)) wall.local[cores].push(await timeExtract(recordings, join(dir, `features-${cores}.csv`), cores));
      if (queue) for (const workers of rotate(CORES, r)) wall.distributed[workers].push(await timeJob(queue.scratch, queue.datasetId, workers));
    }
    load.push(loadAverage());
    // The same table whatever the thread count (rows in input order, values bit-identical).
    const [one, two] = CORES.map((c) => readFileSync(join(dir, `features-${c}.csv`), "utf8"));
    if (one !== two || one.trimEnd().split("\n").length !== data.files + 1) throw new Error("sonotile extract -j 1 and -j 2 wrote different tables");

    const distributed = "unavailable" in scratch ? scratch : { database: scratch.description, ...extractionScaling(wall.distributed, data.audioSeconds) };
    const result: BatchResult = { dataset: data, rounds, cpu_loop: scaling(wall.cpuLoop), local: extractionScaling(wall.local, data.audioSeconds), distributed, load };
    const mix = Object.entries(data.samplerates).map(([rate, n]) => `${n} at ${Number(rate) / 1000} kHz`).join(", ");
    const lines = [
      `Batch feature extraction: ${data.files} recordings × ${data.secondsPerFile} s (${mix}; 16-bit WAV, ${(data.bytes / 2 ** 20).toFixed(0)} MB), ` +
        `${(data.audioSeconds / 3600).toFixed(3)} h of audio; default parameters (25 ms hann, PCEN, dB), every feature — median of ${rounds} round${rounds > 1 ? "s" : ""}`,
      `  ${"".padEnd(48)} ${"wall s".padStart(7)} ${"audio h/h".padStart(10)} ${"per core".padStart(10)} ${"scaling".padStart(8)} ${"efficiency".padStart(11)}`,
      ...scalingLines((c) => `ceiling: ${c} × node -e <CPU-bound loop>`, result.cpu_loop),
      ...scalingLines((c) => `local: sonotile extract -j ${c}`, result.local),
      ...("unavailable" in distributed
        ? [`  distributed: not measured — ${distributed.unavailable}`]
        : [...scalingLines((c) => `distributed: ${c} × sonotile worker -j 1`, distributed), `  database: ${distributed.database}`]),
      "  audio h/h = audio hours per wall hour; per core = ÷ cores (extract threads, or worker processes of one thread); scaling = wall(1 core) ÷ wall(2 cores),",
      "  median over rounds of the ratio within a round; efficiency = scaling ÷ 2. Local wall: the whole command, spawn to exit (start-up, directory walk,",
      "  header probe, features, CSV). Distributed wall: job created → completed on the database clock, workers already running and idle (queue",
      "  latency, feature-value writes and the artifact included; the PostgreSQL server shares the same cores). Ceiling: the scaling of a pure",
      "  CPU loop in the same rounds — what other work on the machine left of the second core.",
      `  load average at start ${load[0].join(" ")}, at end ${load[1].join(" ")}`,
    ];
    return { lines, result };
  } finally {
    await removeScratch(scratch, dir);
  }
}

/** Drops a part's scratch database (when one was made) and removes its temporary directory. */
async function removeScratch(scratch: ScratchDatabase | { unavailable: string } | undefined, dir: string): Promise<void> {
  if (scratch && !("unavailable" in scratch)) {
    await scratch.db.close();
    await scratch.drop();
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Items per wall second and audio hours per wall hour (per core) of a run over `items` targets. */
export interface ItemsRate extends ExtractionScaling {
  items_per_s: Record<Cores, number>;
}

export interface ShortItemsResult {
  dataset: Dataset;
  rounds: number;
  local: ItemsRate;
  distributed: (ItemsRate & { database: string }) | { unavailable: string };
  load: number[][];
}

function itemsRate(wall: Record<Cores, number[]>, data: Dataset): ItemsRate {
  const perSecond = (c: Cores) => data.files / median(wall[c]);
  return { ...extractionScaling(wall, data.audioSeconds), items_per_s: { 1: perSecond(1), 2: perSecond(2) } };
}

/** Table rows of an ItemsRate: wall s, items/s, audio h/h, per core, scaling. */
function itemsLines(label: (c: Cores) => string, r: ItemsRate): string[] {
  return CORES.map((c) => `  ${label(c).padEnd(40)} ${median(r.wall_s[c]).toFixed(1).padStart(7)} ${r.items_per_s[c].toFixed(0).padStart(8)} ` +
    `${r.audio_h_per_wall_h[c].toFixed(0).padStart(10)} ${r.audio_h_per_wall_h_per_core[c].toFixed(0).padStart(9)} ${(c === 1 ? "—" : `${r.scaling.toFixed(2)}×`).padStart(8)}`);
}

/**
 * Short items: 2000 recordings of 0.5 s at 48 kHz (400 with `--quick`) as one job's targets, executed
 * by 1, then 2 `sonotile worker -j 1` processes on the same PostgreSQL as the distributed batch
 * (timeJob), beside `sonotile extract -j N` over the same files in the same rounds. Each item's
 * computation is a few milliseconds: what is measured is mostly the job machinery per item —
 * delivery, claim, settlement, progress.
 */
export async function runShortItems(quick: boolean, log: (line: string) => void): Promise<{ lines: string[]; result: ShortItemsResult }> {
  if (!existsSync(join(repo, "dist/cli/main.js"))) throw new Error("bench batch-short spawns the built CLI: run `npm run build` first");
  const rounds = quick ? 1 : 3;
  const dir = mkdtempSync(join(tmpdir(), "sonotile-bench-short-"));
  let scratch: ScratchDatabase | { unavailable: string } | undefined;
  try {
    log("batch-short: writing the recordings…");
    const recordings = join(dir, "recordings");
    const data = writeDataset(recordings, quick ? 400 : 2000, 0.5, [48000]);
    scratch = await scratchDatabase();
    let queue: { scratch: ScratchDatabase; datasetId: string } | undefined;
    if (!("unavailable" in scratch)) {
      log(`batch-short: registering the recordings in ${scratch.description}…`);
      queue = { scratch, datasetId: await registerDataset(scratch.db.sql, recordings, data.files) };
    }
    const load = [loadAverage()];
    const wall = { local: { 1: [], 2: [] } as Record<Cores, number[]>, distributed: { 1: [], 2: [] } as Record<Cores, number[]> };
    for (let r = 0; r < rounds; r++) {
      log(`batch-short: round ${r + 1}/${rounds}: sonotile extract, jobs on sonotile workers…`);
      for (const cores of rotate(CORES, r)) wall.local[cores].push(await timeExtract(recordings, join(dir, `features-${cores}.csv`), cores));
      if (queue) for (const workers of rotate(CORES, r)) wall.distributed[workers].push(await timeJob(queue.scratch, queue.datasetId, workers));
    }
    load.push(loadAverage());
    const distributed = "unavailable" in scratch ? scratch : { database: scratch.description, ...itemsRate(wall.distributed, data) };
    const result: ShortItemsResult = { dataset: data, rounds, local: itemsRate(wall.local, data), distributed, load };
    const lines = [
      `Short items: ${data.files} recordings × ${data.secondsPerFile} s at 48 kHz (16-bit WAV), ${(data.audioSeconds / 3600).toFixed(3)} h of audio; ` +
        `default parameters, every feature — median of ${rounds} round${rounds > 1 ? "s" : ""}`,
      `  ${"".padEnd(40)} ${"wall s".padStart(7)} ${"items/s".padStart(8)} ${"audio h/h".padStart(10)} ${"per core".padStart(9)} ${"scaling".padStart(8)}`,
      ...itemsLines((c) => `local: sonotile extract -j ${c}`, result.local),
      ...("unavailable" in distributed
        ? [`  distributed: not measured — ${distributed.unavailable}`]
        : [...itemsLines((c) => `distributed: ${c} × sonotile worker -j 1`, distributed), `  database: ${distributed.database}`]),
      "  Wall as in the batch part: local spawn to exit; distributed job created → completed on the database clock, workers already running and idle.",
      `  load average at start ${load[0].join(" ")}, at end ${load[1].join(" ")}`,
    ];
    return { lines, result };
  } finally {
    await removeScratch(scratch, dir);
  }
}
