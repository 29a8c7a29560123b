/**
 * Batch feature extraction (SPEC §9 "batch", issue 6): audio hours per wall hour, per core, and
 * the scaling from 1 to 2 cores, for the two ways of running it —
 * - local: `sonotile extract <dir> -o features.csv -j N`, the whole command as a child process;
 * - distributed: an `extract_features` job over the same recordings, registered as a dataset,
 *   executed by N `sonotile worker -j 1` processes sharing one PostgreSQL.
 * Both spawn the built CLI (bin/sonotile.js → dist/), as a user runs it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { encodeWav16 } from "../src/demo/wav.js";
import { extractFeaturesData, openQueue, submitExtractJob } from "../src/jobs/queue.js";
import { createDataset, importDataset } from "../src/store/datasets.js";
import { openDatabase, redact, type Database } from "../src/store/db.js";
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

/** `files` recordings of `seconds` each in a new directory `dir` (16-bit mono WAV, sample rates in turn, different noise in each). */
function writeDataset(dir: string, files: number, seconds: number): Dataset {
  mkdirSync(dir);
  const samplerates: Record<number, number> = {};
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const rate = SAMPLERATES[i % SAMPLERATES.length];
    const wav = encodeWav16(synthesize(seconds, rate, 1 + i), rate);
    writeFileSync(join(dir, `rec-${String(i).padStart(3, "0")}-${rate / 1000}kHz.wav`), wav);
    samplerates[rate] = (samplerates[rate] ?? 0) + 1;
    bytes += wav.length;
  }
  return { files, secondsPerFile: seconds, audioSeconds: files * seconds, samplerates, bytes };
}

interface CliRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The exit code, or the signal that ended it. */
  exit: Promise<number | NodeJS.Signals>;
}

/** `sonotile …args` as a child process, its output collected. */
function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
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

/** Wall seconds of `sonotile extract <dir> -o out -j threads`, from spawn to exit. */
async function timeExtract(recordings: string, out: string, threads: Cores): Promise<number> {
  const start = performance.now();
  const run = startCli(["extract", recordings, "-o", out, "-j", String(threads)]);
  try {
    const code = await run.exit;
    if (code !== 0) throw new Error(`sonotile extract -j ${threads} exited ${code}: ${run.stderr()}`);
    return (performance.now() - start) / 1000;
  } finally {
    await stopChild(run.child, run.exit);
  }
}

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

/**
 * Seconds from the creation to the completion (database clock) of a job over the dataset, executed by
 * `workers` `sonotile worker -j 1` processes started beforehand and idle (polling every 0.5 s).
 */
async function timeJob(scratch: ScratchDatabase, datasetId: string, artifactsDir: string, workers: Cores): Promise<number> {
  const { sql } = scratch.db;
  const runs = Array.from({ length: workers }, () =>
    startCli(["worker", "-j", "1", "--poll", "0.5", "--data", artifactsDir], { DATABASE_URL: scratch.url }));
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

/** Wall seconds per round at each core count, and what they give. */
export interface ScalingResult {
  wall_s: Record<Cores, number[]>;
  /** Audio hours per wall hour (= seconds of audio per wall second), from the median wall time. */
  audio_h_per_wall_h: Record<Cores, number>;
  audio_h_per_wall_h_per_core: Record<Cores, number>;
  /** Median over rounds of wall(1) / wall(2) within the round. */
  scaling: number;
  /** scaling / 2. */
  efficiency: number;
}

export interface BatchResult {
  dataset: Dataset;
  rounds: number;
  local: ScalingResult;
  distributed: (ScalingResult & { database: string }) | { unavailable: string };
  load: number[][];
}

function scalingResult(wall: Record<Cores, number[]>, audioSeconds: number): ScalingResult {
  const rate = (c: Cores) => audioSeconds / median(wall[c]);
  const scaling = median(wall[1].map((w, r) => w / wall[2][r]));
  return {
    wall_s: wall,
    audio_h_per_wall_h: { 1: rate(1), 2: rate(2) },
    audio_h_per_wall_h_per_core: { 1: rate(1), 2: rate(2) / 2 },
    scaling,
    efficiency: scaling / 2,
  };
}

function scalingLines(label: (c: Cores) => string, r: ScalingResult): string[] {
  return CORES.map((c) => {
    const gain = c === 1 ? `${"—".padStart(8)} ${"—".padStart(11)}` : `${`${r.scaling.toFixed(2)}×`.padStart(8)} ${`${(100 * r.efficiency).toFixed(0)} %`.padStart(11)}`;
    return `  ${label(c).padEnd(48)} ${median(r.wall_s[c]).toFixed(1).padStart(7)} ${`${r.audio_h_per_wall_h[c].toFixed(0)}`.padStart(10)} ${`${r.audio_h_per_wall_h_per_core[c].toFixed(0)}`.padStart(10)} ${gain}`;
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
    const load = [loadAverage()];

    const localWall: Record<Cores, number[]> = { 1: [], 2: [] };
    for (let r = 0; r < rounds; r++) {
      for (const cores of rotate(CORES, r)) {
        log(`batch: round ${r + 1}/${rounds}, sonotile extract -j ${cores}…`);
        localWall[cores].push(await timeExtract(recordings, join(dir, `features-${cores}.csv`), cores));
      }
    }
    // The same table whatever the thread count (rows in input order, values bit-identical).
    const [one, two] = CORES.map((c) => readFileSync(join(dir, `features-${c}.csv`), "utf8"));
    if (one !== two || one.trimEnd().split("\n").length !== data.files + 1) throw new Error("sonotile extract -j 1 and -j 2 wrote different tables");
    load.push(loadAverage());

    let distributed: BatchResult["distributed"];
    scratch = await scratchDatabase();
    if ("unavailable" in scratch) distributed = scratch;
    else {
      log(`batch: registering the recordings in ${scratch.description}…`);
      const dataset = await createDataset(scratch.db.sql, { name: "bench", audio_dir: recordings, created_by: null });
      const imported = await importDataset(scratch.db.sql, dataset.id, null);
      if (imported.registered.length !== data.files) throw new Error(`dataset import registered ${imported.registered.length} of ${data.files} recordings: ${JSON.stringify(imported.failed)}`);
      const jobWall: Record<Cores, number[]> = { 1: [], 2: [] };
      for (let r = 0; r < rounds; r++) {
        for (const workers of rotate(CORES, r)) {
          log(`batch: round ${r + 1}/${rounds}, a job on ${workers} sonotile worker process${workers > 1 ? "es" : ""}…`);
          jobWall[workers].push(await timeJob(scratch, dataset.id, join(dir, "data"), workers));
        }
      }
      distributed = { database: scratch.description, ...scalingResult(jobWall, data.audioSeconds) };
    }
    load.push(loadAverage());

    const result: BatchResult = { dataset: data, rounds, local: scalingResult(localWall, data.audioSeconds), distributed, load };
    const mix = Object.entries(data.samplerates).map(([rate, n]) => `${n} at ${Number(rate) / 1000} kHz`).join(", ");
    const lines = [
      `Batch feature extraction: ${data.files} recordings × ${data.secondsPerFile} s (${mix}; 16-bit WAV, ${(data.bytes / 2 ** 20).toFixed(0)} MB), ` +
        `${(data.audioSeconds / 3600).toFixed(3)} h of audio; default parameters (25 ms hann, PCEN, dB), every feature — median of ${rounds} round${rounds > 1 ? "s" : ""}`,
      `  ${"".padEnd(48)} ${"wall s".padStart(7)} ${"audio h/h".padStart(10)} ${"per core".padStart(10)} ${"scaling".padStart(8)} ${"efficiency".padStart(11)}`,
      ...scalingLines((c) => `local: sonotile extract -j ${c}`, result.local),
      ...("unavailable" in distributed
        ? [`  distributed: not measured — ${distributed.unavailable}`]
        : [...scalingLines((c) => `distributed: ${c} × sonotile worker -j 1`, distributed), `  database: ${distributed.database}`]),
      "  audio h/h = audio hours per wall hour; per core = ÷ cores (extract threads, or worker processes of one thread); scaling = wall(1 core) ÷ wall(2 cores),",
      "  median over rounds of the ratio within a round; efficiency = scaling ÷ 2. Local wall: the whole command, spawn to exit (start-up, directory walk,",
      "  header probe, features, CSV). Distributed wall: job created → completed on the database clock, workers already running and idle (queue",
      "  latency, feature-value writes and the artifact included; the PostgreSQL server shares the same cores).",
      `  load average at start ${load[0].join(" ")}, after local ${load[1].join(" ")}, at end ${load[2].join(" ")}`,
    ];
    return { lines, result };
  } finally {
    if (scratch && !("unavailable" in scratch)) {
      await scratch.db.close();
      await scratch.drop();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
