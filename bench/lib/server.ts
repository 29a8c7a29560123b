/**
 * The real server for the benchmarks: `sonotile serve` from dist/ (what `npm start` and users
 * run) as a child process on an embedded database in its own data directory, listening on a
 * free loopback port; recordings registered with `sonotile dataset add`; the child's resident
 * memory read from /proc.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";

const SONOTILE = fileURLToPath(new URL("../../bin/sonotile.js", import.meta.url));
/** Startup includes the embedded database's first boot (initdb and migrations): seconds. */
const START_TIMEOUT_MS = 120_000;
/** SIGTERM lets in-flight requests finish; after this the server is killed. */
const STOP_TIMEOUT_MS = 15_000;

/**
 * The child's environment: without DATABASE_URL, so that the server uses the embedded
 * database in its data directory and not whatever PostgreSQL the caller's shell points at.
 */
function childEnv(): NodeJS.ProcessEnv {
  const { DATABASE_URL: _ignored, ...env } = process.env;
  return env;
}

/** Where a server keeps its database and where its recordings may live. */
export interface ServerDirs {
  data: string;
  audioRoot: string;
}

/** `sonotile <args>` to completion: its stdout, or an error with its output. */
async function runSonotile(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [SONOTILE, ...args], { env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`sonotile ${args.join(" ")} exited with ${code}:\n${stderr || stdout}`);
  return stdout;
}

/**
 * Registers the audio files below `dir` (inside `dirs.audioRoot`) as one dataset of the
 * server's database, through `sonotile dataset add` (which hashes every file: seconds per GB).
 * Returns the recording ids by path relative to `dir`.
 */
export async function registerRecordings(dirs: ServerDirs, dir: string): Promise<Map<string, string>> {
  const stdout = await runSonotile(["dataset", "add", dir, "--json", "--data", dirs.data, "--audio-root", dirs.audioRoot]);
  // On a new database the admin token is printed first; the JSON is the last line.
  const result = JSON.parse(stdout.trim().split("\n").pop()!) as { registered: { path: string; recording_id: string }[]; failed: { path: string; error: string }[] };
  if (result.failed.length) throw new Error(`sonotile dataset add ${dir}: ${result.failed.map((f) => `${f.path}: ${f.error}`).join("; ")}`);
  return new Map(result.registered.map((r) => [r.path, r.recording_id]));
}

/** Resident memory of a process, MiB: VmRSS (now) and VmHWM (the most it ever had). */
export function processMemoryMb(pid: number): { rss: number; highWater: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, highWater: kb("VmHWM") / 1024 };
}

export interface BenchServer {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  pid: number;
  /** Worker threads computing tiles. */
  threads: number;
  /** Stops the server (SIGTERM, then SIGKILL if it does not exit in time); safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts `sonotile serve` on `dirs` on a free port with `threads` worker threads (without: the
 * server's default, one per core), and resolves once it listens. Always `stop()` it (finally).
 */
export async function startServer(dirs: ServerDirs, threads?: number): Promise<BenchServer> {
  const args = [SONOTILE, "serve", "--port", "0", ...(threads ? ["--threads", String(threads)] : []), "--data", dirs.data, "--audio-root", dirs.audioRoot];
  const child = spawn(process.execPath, args, { env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
  const stop = () => stopChild(child);
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sonotile serve did not listen within ${START_TIMEOUT_MS / 1000} s:\n${output}`)), START_TIMEOUT_MS);
      child.stdout.on("data", () => {
        const m = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`sonotile serve exited with ${code}:\n${output}`));
      });
    });
    return { url, pid: child.pid!, threads: threads ?? availableParallelism(), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
