// `sonotile extract`'s claim on its -o (src/cli/output-lock.ts): one run at a time writes an
// output and its resume file — two runs on one -o (overlapping cron runs, two machines on one
// share) shared the resume file, the second taking over the first's live rows. Spawns the built CLI.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSonotile } from "./cli-helpers.js";
import { FIXTURES, ROOT } from "./golden.js";

const tmp = mkdtempSync(join(tmpdir(), "sonotile-extract-lock-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Three targets on one thread, a fine hop: the run lasts seconds, a checkpoint after each target.
const INPUTS = [
  join(FIXTURES, "recordings/XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav"),
  join(FIXTURES, "recordings/batdetect2_20230322_172000_selec2.wav"),
  join(FIXTURES, "formats/wav_pcm_16.wav"),
];
const ARGS = [...INPUTS, "-j", "1", "--hop-size", "4e-4", "--checkpoint-interval", "0", "--progress-interval", "0"];
const sonotile = (args: string[], cwd = tmp) => runSonotile(["extract", ...args], { cwd });

/** The table an uninterrupted, unshared run writes. */
const reference = join(tmp, "reference.csv");
beforeAll(async () => {
  const r = await sonotile([...ARGS, "-o", reference]);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

/** A directory of its own per test, and its -o. */
function output(name: string): string {
  mkdirSync(join(tmp, name));
  return join(tmp, name, "features.csv");
}

/**
 * Starts extract on `out` and resolves once `ready(out)` holds (the run is live: its lock made, or
 * its first checkpoint written); `ended` gives its exit code, signal and stderr.
 */
async function startRun(out: string, ready: (out: string) => boolean) {
  const child = spawn(process.execPath, [join(ROOT, "bin/sonotile.js"), "extract", ...ARGS, "-o", out], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((done) => child.on("close", (code, signal) => done({ code, signal, stderr })));
  let exited = false;
  void ended.then(() => (exited = true));
  while (!exited && !ready(out)) await new Promise((r) => setTimeout(r, 20));
  return { child, ended };
}

/** The complete row lines of the resume file of `out`. */
const keptRows = (out: string): number => (existsSync(`${out}.resume.json`) ? readFileSync(`${out}.resume.json`, "utf8").split("\n").length - 2 : 0);

/** The pid of a process that ran and ended: no process has it now (pids are not reused at once). */
function deadPid(): number {
  const ended = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(ended.stdout);
}

describe("sonotile extract: one run per -o", () => {
  it("a second run on the -o of a live one is refused before any work (exit 2), naming the pid, host and lock file, with or without --resume; the first completes with the uninterrupted table", async () => {
    const out = output("concurrent");
    const lock = `${out}.lock`;
    const first = await startRun(out, (o) => keptRows(o) >= 1);
    try {
      expect(existsSync(lock)).toBe(true);
      const holder = JSON.parse(readFileSync(lock, "utf8"));
      // Named as the data directory's lock names its owner: its start too (a pid given away since is not the run's).
      expect(holder).toMatchObject({ kind: "sonotile extract lock", pid: first.child.pid, host: hostname(), start: expect.stringMatching(/:\d+$/), started: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), command: `sonotile extract ${[...ARGS, "-o", out].join(" ")}` });
      const refusal = `sonotile extract: another run is writing ${out}: pid ${first.child.pid} on this host (${hostname()}), since ${holder.started} (${holder.command}); its lock is ${lock}. Wait for it to end (its --resume is refused too: its rows are still being written), or write to another -o\n`;
      for (const extra of [["--resume"], []]) {
        const second = await sonotile([...ARGS, "-o", out, ...extra]);
        expect(second, extra.join(" ")).toEqual({ code: 2, stdout: "", stderr: refusal });
      }
    } finally {
      const end = await first.ended;
      expect(end.code, end.stderr).toBe(0);
    }
    expect(readFileSync(out)).toEqual(readFileSync(reference));
    expect(readdirSync(join(tmp, "concurrent")).sort()).toEqual(["features.csv", "features.csv.json"]); // no lock, no resume file
  }, 120_000);

  it("a lock left by a run of this host that no longer runs is taken over, said on stderr; the table is written and the lock goes", async () => {
    const out = output("stale");
    const pid = deadPid();
    writeFileSync(`${out}.lock`, JSON.stringify({ kind: "sonotile extract lock", pid, host: hostname(), started: "2026-01-01T00:00:00.000Z", command: "sonotile extract old" }) + "\n");
    const r = await sonotile([...ARGS, "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split("\n")[0]).toBe(`sonotile extract: took over ${out}.lock, left by pid ${pid} (no longer running on ${hostname()}) since 2026-01-01T00:00:00.000Z`);
    expect(readFileSync(out)).toEqual(readFileSync(reference));
    expect(existsSync(`${out}.lock`)).toBe(false);
    // Its pid given since to another process (a reboot; this test's process stands for it): taken
    // over too, by its start — it was refused as live for as long as that process ran.
    writeFileSync(`${out}.lock`, JSON.stringify({ kind: "sonotile extract lock", pid: process.pid, host: hostname(), start: "another-boot:1", started: "2000-01-01T00:00:00.000Z", command: "sonotile extract old" }) + "\n");
    const reused = await sonotile([INPUTS[2], "-o", out, "--features", "rms_dbfs"]);
    expect(reused.code, reused.stderr).toBe(0);
    expect(reused.stderr.split("\n")[0]).toBe(`sonotile extract: took over ${out}.lock, left by pid ${process.pid} (no longer running on ${hostname()}) since 2000-01-01T00:00:00.000Z`);
    expect(existsSync(`${out}.lock`)).toBe(false);
  }, 120_000);

  it("another host's lock is refused (exit 2) saying how to go on; a file there that is not a lock too; both left as they were", async () => {
    const out = output("other-host");
    const lock = JSON.stringify({ kind: "sonotile extract lock", pid: process.pid, host: "cluster-node-7", started: "2026-01-01T00:00:00.000Z", command: "sonotile extract /data -o features.csv" }) + "\n";
    writeFileSync(`${out}.lock`, lock);
    const r = await sonotile([...ARGS, "-o", out]);
    expect(r).toEqual({
      code: 2,
      stdout: "",
      stderr: `sonotile extract: another run is writing ${out}: pid ${process.pid} on host cluster-node-7, since 2026-01-01T00:00:00.000Z (sonotile extract /data -o features.csv); its lock is ${out}.lock. Whether it still runs cannot be told from ${hostname()}: wait for it to end, or, if it no longer runs there, remove ${out}.lock and run again\n`,
    });
    expect(readFileSync(`${out}.lock`, "utf8")).toBe(lock);
    writeFileSync(`${out}.lock`, "my notes");
    const notLock = await sonotile([...ARGS, "-o", out]);
    expect(notLock).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: ${out}.lock is not a lock of sonotile extract (it claims ${out} for the run that made it); remove it if no run is writing ${out}, then run again\n` });
    expect(readFileSync(`${out}.lock`, "utf8")).toBe("my notes");
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it("SIGINT and SIGTERM remove the lock (the rows kept for --resume, which then runs); so do a failed run and a refused --resume", async () => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const out = output(`signal-${signal}`);
      const run = await startRun(out, (o) => keptRows(o) >= 1);
      run.child.kill(signal);
      const end = await run.ended;
      expect(end.signal, end.stderr).toBe(signal);
      expect(end.stderr).toMatch(/interrupted: [12] of 3 targets computed/);
      expect(readdirSync(join(tmp, `signal-${signal}`)).sort()).toEqual(["features.csv.resume.json", "features.partial.csv", "features.partial.csv.json"]);
      const resumed = await sonotile([...ARGS, "-o", out, "--resume"]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(readFileSync(out)).toEqual(readFileSync(reference));
      expect(existsSync(`${out}.lock`)).toBe(false);
    }
    // Nothing computed (a parameter no file takes): the run fails, its lock goes.
    const failed = output("failed");
    expect((await sonotile([INPUTS[2], "-o", failed, "--channel", "3"])).code).not.toBe(0);
    expect(existsSync(`${failed}.lock`)).toBe(false); // else the next run would take it over as stale, unseen below
    // A file at the resume file's path that is not one: --resume fails after the lock was made, the lock goes.
    writeFileSync(`${failed}.resume.json`, "not a resume file\n");
    const refused = await sonotile([...ARGS, "-o", failed, "--resume"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).not.toMatch(/took over/);
    expect(readdirSync(join(tmp, "failed"))).toEqual(["features.csv.resume.json"]);
  }, 240_000);

  it("a resume file another process wrote into during the run: the run fails saying its rows are not kept — it said they were kept there, and to make room on the disk", async () => {
    const out = output("changed");
    const run = await startRun(out, (o) => keptRows(o) >= 1);
    // Written over in place, as a second run on the same file without the lock did: the run's open file changed.
    const resumeFile = `${out}.resume.json`;
    writeFileSync(resumeFile, readFileSync(resumeFile, "utf8").replace(/"path":"[^"]*"/g, '"path":"elsewhere.wav"'));
    const end = await run.ended;
    expect(end.code, end.stderr).toBe(1);
    const last = end.stderr.trimEnd().split("\n").at(-1)!;
    expect(last).toMatch(new RegExp(`^sonotile extract: ${resumeFile.replace(/[.]/g, "\\.")}: bytes \\d+–\\d+ are not the row of .* \\(the file was changed during the run\\); the 3 computed targets cannot be read back from it and are not kept; ${out.replace(/[.]/g, "\\.")} left as it was; run the command again once no other process writes ${resumeFile.replace(/[.]/g, "\\.")}$`));
    expect(last).not.toMatch(/make room|are kept in/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.lock`)).toBe(false);
  }, 120_000);
});
