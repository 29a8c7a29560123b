/**
 * `sonotile jobs download <job-id> --chain` as a process (the built CLI in dist/), on the embedded
 * database (held by this process, the CLI attaching to it) or on DATABASE_URL: a job aborted
 * part-way, a retry of it aborted before it ran, and a retry of that retry run to the end — the
 * chain's features.csv, features.npy and log_mel.npy merged, whichever job is named, equal to the
 * parts concatenated (one line of column names; each target once); refused, writing nothing, while
 * a job of the chain is pending, when a part expired or does not continue the first's (other columns, no .npy, another column count).
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { abortExtractJob, extractFeaturesData, openQueue, retryExtractJob, submitExtractJob } from "../src/jobs/queue.js";
import { jobArtifacts } from "../src/jobs/results.js";
import { startWorker } from "../src/jobs/worker.js";
import { readFileContents } from "../src/store/artifacts.js";
import { setState } from "../src/store/common.js";
import { openDatabase, type Database } from "../src/store/db.js";
import { getJob, type Job } from "../src/store/jobs.js";
import { runSonotile } from "./cli-helpers.js";
import { jobFixture, waitForJob, type JobFixture } from "./jobs-helpers.js";
import { REAL_PG_URL, freshDatabase, migratedTemplate, tempDir, type TestDatabase } from "./store-helpers.js";

const UUID = "00000000-0000-4000-8000-000000000000";
const CLIPS = 30;
const FEATURES = ["rms_dbfs", "spectral_centroid_hz", "log_mel"] as const;

/** A .npy file read as numpy.load would: its dtype, shape and float32 values (the test's own reader, not the one under test). */
function readNpy(bytes: Buffer): { descr: string; shape: number[]; values: Float32Array } {
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]));
  const start = 10 + bytes.readUInt16LE(8);
  const dict = bytes.subarray(10, start).toString("latin1");
  const [, descr, dims] = /^\{'descr': '([^']+)', 'fortran_order': False, 'shape': \(([^)]*)\), \} *\n$/.exec(dict)!;
  const data = bytes.subarray(start);
  return { descr, shape: dims.split(",").filter((d) => d.trim()).map(Number), values: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

describe("sonotile jobs download --chain", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let real: TestDatabase | undefined;
  let db: Database;
  let fx: JobFixture;
  /** The chain: the first job (aborted part-way), its retry (aborted before it ran), that retry's retry (run to the end). */
  let jobs: Job[];
  const data = () => join(dir.path, "data");
  const sonotile = (args: string[]) => runSonotile([...args, "--data", data()], { env: { DATABASE_URL: real?.url ?? "" } });
  /** A job's stored file of `name`, whole. */
  async function part(jobId: string, name: string): Promise<Buffer> {
    const a = (await jobArtifacts(db.sql, jobId)).find((x) => x.name === name)!;
    const chunks = [];
    for await (const c of readFileContents(db.sql, a.file_sha256, a.size)) chunks.push(c);
    return Buffer.concat(chunks);
  }

  beforeAll(async () => {
    dir = await tempDir();
    real = REAL_PG_URL ? await freshDatabase() : undefined;
    db = real?.db ?? (await openDatabase({ dataDir: data(), initialData: await migratedTemplate() }));
    await mkdir(join(dir.path, "audio"));
    fx = await jobFixture(db.sql, join(dir.path, "audio"), CLIPS);
    const boss = await openQueue(db.sql);
    try {
      const first = await submitExtractJob(db.sql, boss, { data: extractFeaturesData.parse({ targets: { clip_ids: fx.clipIds }, features: FEATURES }), created_by: null });
      // Part-way: the worker stopped once it did an item (it finishes those in hand), the rest skipped by the abort.
      const worker = await startWorker({ sql: db.sql, threads: 1, pollingIntervalSeconds: 0.5 });
      try {
        await waitForJob(db.sql, first.id, (j) => j.progress_done >= 1);
      } finally {
        await worker.stop();
      }
      await abortExtractJob(db.sql, first.id);
      const second = (await retryExtractJob(db.sql, boss, first.id, { created_by: null })).job;
      // Named while its retry is pending, the chain is refused (tested below with that job's state put back).
      await abortExtractJob(db.sql, second.id);
      const third = (await retryExtractJob(db.sql, boss, second.id, { created_by: null })).job;
      const worker2 = await startWorker({ sql: db.sql, threads: 1, pollingIntervalSeconds: 0.5 });
      try {
        await waitForJob(db.sql, third.id, (j) => j.status === "completed");
      } finally {
        await worker2.stop();
      }
      jobs = [await getJob(db.sql, first.id), await getJob(db.sql, second.id), await getJob(db.sql, third.id)];
    } finally {
      await boss.stop({ graceful: false, close: false });
    }
  }, 120_000);
  afterAll(async () => {
    if (real) await real.cleanup();
    else await db?.close();
    await dir?.remove();
  });

  it("merges the chain, whichever job is named: one header, then the first job's rows and each retry's; .npy as numpy.concatenate; provenance names the parts", async () => {
    const [first, second, third] = jobs;
    expect(first).toMatchObject({ status: "aborted", progress_total: CLIPS });
    expect(first.progress_done).toBeGreaterThan(0);
    expect(first.progress_done).toBeLessThan(CLIPS); // part-way
    expect(second).toMatchObject({ status: "aborted", retry_of: first.id, progress_done: 0 });
    expect(third).toMatchObject({ status: "completed", retry_of: second.id, progress_done: CLIPS - first.progress_done });

    for (const named of [third, first]) {
      const out = join(dir.path, `merged-${named.id}`);
      const r = await sonotile(["jobs", "download", named.id, "--chain", "-o", out, "--json"]);
      expect(r, r.stderr).toMatchObject({ code: 0, stderr: "" });
      expect((await readdir(out)).sort()).toEqual(["features.csv", "features.npy", "log_mel.npy", "provenance.json"]);
      expect(JSON.parse(r.stdout)).toMatchObject({ job_id: named.id, job_ids: jobs.map((j) => j.id), rows: CLIPS, directory: out });

      const csv = await readFile(join(out, "features.csv"), "utf8");
      const parts = await Promise.all(jobs.map(async (j) => (await part(j.id, "features.csv")).toString("utf8")));
      const header = parts[0].slice(0, parts[0].indexOf("\n") + 1);
      expect(parts.every((p) => p.startsWith(header))).toBe(true);
      expect(csv).toBe(header + parts.map((p) => p.slice(header.length)).join(""));
      const lines = csv.trimEnd().split("\n");
      expect(lines.length).toBe(1 + CLIPS); // the first job's targets
      const clipColumn = lines[0].split(",").indexOf("clip_id");
      expect(lines.slice(1).map((l) => l.split(",")[clipColumn]).sort()).toEqual([...fx.clipIds].sort()); // each target once

      for (const [name, width] of [["features.npy", 2], ["log_mel.npy", 64]] as const) {
        const merged = readNpy(await readFile(join(out, name)));
        const pieces = await Promise.all(jobs.map(async (j) => readNpy(await part(j.id, name))));
        expect(pieces.map((p) => p.shape)).toEqual(jobs.map((j) => [j.progress_done, width]));
        expect(merged.descr).toBe("<f4");
        expect(merged.shape).toEqual([CLIPS, width]);
        expect(merged.values).toEqual(Float32Array.from(pieces.flatMap((p) => [...p.values])));
      }
      // Row i of the matrix is the target of the CSV's row i.
      const rms = lines[0].split(",").indexOf("rms_dbfs");
      const npy = readNpy(await readFile(join(out, "features.npy")));
      expect(lines.slice(1).map((l) => Math.fround(Number(l.split(",")[rms])))).toEqual([...npy.values].filter((_, i) => i % 2 === 0));

      const provenance = JSON.parse(await readFile(join(out, "provenance.json"), "utf8")).sonotile;
      expect(provenance.job_ids).toEqual(jobs.map((j) => j.id));
      for (const [i, j] of jobs.entries()) {
        const stored = await jobArtifacts(db.sql, j.id);
        expect(provenance.jobs[i]).toMatchObject({ job_id: j.id, retry_of: j.retry_of, status: j.status, rows: j.progress_done });
        expect(Object.fromEntries(Object.entries(provenance.jobs[i].files as Record<string, { sha256: string }>).map(([n, f]) => [n, f.sha256])))
          .toEqual(Object.fromEntries(stored.map((a) => [a.name, a.file_sha256])));
      }
    }
  }, 60_000);

  it("refuses, writing nothing: a job of the chain pending (exit 1), a part expired or, of a chain of one job, trashed (exit 1), parts that do not continue the first's (exit 1), an unknown job (exit 2), files in -o without --force (exit 2), --chain to another action", async () => {
    const [first, second, third] = jobs;
    const out = join(dir.path, "refused");
    await db.sql`UPDATE jobs SET status = 'pending' WHERE id = ${second.id}`;
    try {
      expect(await sonotile(["jobs", "download", third.id, "--chain", "-o", out])).toEqual({ code: 1, stdout: "",
        stderr: `sonotile jobs: the chain of job ${third.id} has not ended: job ${second.id} is pending; its tables are whole once every job of it ended — nothing written\n` });
    } finally {
      await db.sql`UPDATE jobs SET status = 'aborted' WHERE id = ${second.id}`;
    }

    const npy = (await jobArtifacts(db.sql, third.id)).find((a) => a.name === "features.npy")!;
    await db.sql`UPDATE artifacts SET expire_at = '2026-01-01T00:00:00Z' WHERE id = ${npy.id}`;
    try {
      expect(await sonotile(["jobs", "download", first.id, "--chain", "-o", out])).toEqual({ code: 1, stdout: "",
        stderr: `sonotile jobs: job ${third.id}: features.npy: artifact ${npy.id} expired at 2026-01-01T00:00:00.000Z; a cleanup deletes it 86400 s after that (downloads in progress finish meanwhile) unless it is archived first (POST /v1/artifacts/${npy.id}/archive keeps it) — nothing written\n` });
    } finally {
      await db.sql`UPDATE artifacts SET expire_at = ${npy.expire_at} WHERE id = ${npy.id}`;
    }

    // The retry's files made to hold others' bytes: its features.csv a provenance.json (other columns), its features.npy
    // a CSV (no .npy), its log_mel.npy its features.npy (2 columns, not the first job's 64) — each refusal named.
    const stored = new Map((await jobArtifacts(db.sql, third.id)).map((a) => [a.name, a]));
    const swaps = [["features.csv", "provenance.json"], ["features.npy", "features.csv"], ["log_mel.npy", "features.npy"]];
    for (const [name, holding] of swaps) await db.sql`UPDATE artifacts SET file_sha256 = ${stored.get(holding)!.file_sha256} WHERE id = ${stored.get(name)!.id}`;
    try {
      expect(await sonotile(["jobs", "download", first.id, "--chain", "-o", out])).toEqual({ code: 1, stdout: "", stderr: `sonotile jobs: job ${third.id}: features.csv: its columns are not those of job ${first.id}'s; `
        + `job ${third.id}: features.npy: not a .npy file (no \\x93NUMPY magic); `
        + `job ${third.id}: log_mel.npy: <f4 [${third.progress_done}, 2] does not continue job ${first.id}'s <f4 [${first.progress_done}, 64] (dtype and column count must be the same) — nothing written\n` });
    } finally {
      for (const [name] of swaps) await db.sql`UPDATE artifacts SET file_sha256 = ${stored.get(name)!.file_sha256} WHERE id = ${stored.get(name)!.id}`;
    }
    // A chain of one job (the first, its retry detached from it) lacking features.npy (in the trash) is
    // refused as a longer chain lacking it is: its other files were written, and it exited 0.
    const trashed = (await jobArtifacts(db.sql, first.id)).find((a) => a.name === "features.npy")!;
    await db.sql`UPDATE jobs SET retry_of = NULL WHERE id = ${second.id}`;
    await setState(db.sql, "artifacts", trashed.id, "trashed");
    try {
      expect(await sonotile(["jobs", "download", first.id, "--chain", "-o", out])).toEqual({ code: 1, stdout: "",
        stderr: `sonotile jobs: job ${first.id}: features.npy: it has none (a cleanup deleted it, expired, or it is in the trash) — nothing written\n` });
    } finally {
      await setState(db.sql, "artifacts", trashed.id, "active");
      await db.sql`UPDATE jobs SET retry_of = ${first.id} WHERE id = ${second.id}`;
    }
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);

    expect(await sonotile(["jobs", "download", UUID, "--chain", "-o", out])).toMatchObject({ code: 2, stderr: `sonotile jobs: job ${UUID} not found\n` });
    await mkdir(out);
    await writeFile(join(out, "features.csv"), "mine\n");
    expect(await sonotile(["jobs", "download", first.id, "--chain", "-o", out])).toMatchObject({ code: 2,
      stderr: `sonotile jobs: -o ${out}: ${join(out, "features.csv")} exists; give --force to replace it, or another -o — nothing written\n` });
    expect(await readdir(out)).toEqual(["features.csv"]);
    expect((await sonotile(["jobs", "download", first.id, "--chain", "-o", out, "--force"])).code).toBe(0);
    expect((await readFile(join(out, "features.csv"), "utf8")).split("\n").length).toBe(CLIPS + 2);
    expect(await sonotile(["jobs", "show", first.id, "--chain"])).toMatchObject({ code: 2, stderr: "sonotile jobs: show takes no --chain\n" });
  }, 60_000);
});
