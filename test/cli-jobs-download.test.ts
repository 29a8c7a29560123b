/**
 * `sonotile jobs download <job-id> [-o DIR] [--force]` as a process (the built CLI in dist/), on
 * the embedded database (held by this process, the CLI attaching to it) or on DATABASE_URL: a
 * job's artifacts written as files, byte for byte, over several 1 MiB chunks; nothing written —
 * and nothing replaced — when a file of an artifact's name exists (without --force), an artifact
 * expired, or a chunk does not hold the bytes stored; usage errors naming the argument.
 */
import { execFile, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { intoDownloadDirectory } from "../src/cli/artifact-files.js";
import { createArtifact, storeFile } from "../src/store/artifacts.js";
import { CHUNK_BYTES } from "../src/store/common.js";
import { openDatabase, type Database } from "../src/store/db.js";
import { completeJob, createJob, startJob } from "../src/store/jobs.js";
import { cliRun, runSonotile, type CliRun } from "./cli-helpers.js";
import { ROOT } from "./golden.js";
import { REAL_PG_URL, freshDatabase, migratedTemplate, tempDir, type TestDatabase } from "./store-helpers.js";
import { UUID_RULE } from "../src/store/common.js";

const UUID = "00000000-0000-4000-8000-000000000000";
/** Whether this machine lets a test mount a file system in a mount namespace of its own (root in a container that allows it). */
const CAN_UNSHARE = spawnSync("unshare", ["-m", "sh", "-c", "mount -t tmpfs -o ro none /mnt"]).status === 0;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("sonotile jobs download: usage", () => {
  it("exits 2 naming the argument or flag, before any database is opened", async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, "a-file"), "x");
      const cases: [string[], string][] = [
        [["jobs", "download"], "sonotile jobs: download: wrong number of arguments (see --help)\n"],
        [["jobs", "download", "nope"], `sonotile jobs: job-id: ${UUID_RULE}, got 'nope'\n`],
        [["jobs", "download", UUID, "--status", "failed"], "sonotile jobs: download takes no --status\n"],
        [["jobs", "download", UUID, "--window-size", "0.01"], "sonotile jobs: download takes no spectrogram parameters\n"],
        [["jobs", "show", UUID, "--force"], "sonotile jobs: show takes no --force\n"],
        [["jobs", "list", "-o", dir.path], "sonotile jobs: list takes no --output\n"],
        [["jobs", "download", UUID, "-o", join(dir.path, "a-file")], `sonotile jobs: -o ${join(dir.path, "a-file")}: is not a directory\n`],
        [["jobs", "frob"], "sonotile jobs: expected submit, list, show, abort, retry or download (see --help)\n"],
      ];
      const results = await Promise.all(cases.map(([args]) => runSonotile([...args, "--data", join(dir.path, "no-data")], { env: { DATABASE_URL: "" } })));
      results.forEach((r, i) => expect(r, cases[i][0].join(" ")).toMatchObject({ code: 2, stderr: cases[i][1] }));
    } finally {
      await dir.remove();
    }
  }, 30_000);
});

describe("sonotile jobs download on a database", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let real: TestDatabase | undefined;
  let db: Database;
  let jobId: string;
  /** The artifacts' bytes by name: a table over 2 chunks and a half, and two small files. */
  const bytes: Record<string, Buffer> = {
    "features.csv": Buffer.from("path,recording_id,rms_dbfs\na.wav,x,-3.5\n"),
    "features.npy": randomBytes(2 * CHUNK_BYTES + CHUNK_BYTES / 2),
    "provenance.json": Buffer.from('{"sonotile": {}}\n'),
  };
  const data = () => join(dir.path, "data");
  const sonotile = (args: string[], cwd?: string) => runSonotile([...args, "--data", data()], { cwd, env: { DATABASE_URL: real?.url ?? "" } });

  beforeAll(async () => {
    dir = await tempDir();
    real = REAL_PG_URL ? await freshDatabase() : undefined;
    db = real?.db ?? (await openDatabase({ dataDir: data(), initialData: await migratedTemplate() }));
    const job = await startJob(db.sql, (await createJob(db.sql, { task: "extract_features", data: {}, created_by: null })).id);
    jobId = job.id;
    for (const [name, content] of Object.entries(bytes)) {
      const file = await storeFile(db.sql, content);
      await createArtifact(db.sql, { job_id: jobId, name, file_sha256: file.sha256, expiration_delay: 3600, created_by: null });
    }
    await completeJob(db.sql, jobId, "success");
  }, 60_000);
  afterAll(async () => {
    if (real) await real.cleanup();
    else await db?.close();
    await dir?.remove();
  });

  /** The files in `path`, each with the SHA-256 of its bytes (vitest compares megabytes of Buffers for tens of seconds). */
  async function filesIn(path: string): Promise<Record<string, string>> {
    const names = await readdir(path);
    return Object.fromEntries(await Promise.all(names.map(async (n) => [n, sha(await readFile(join(path, n)))] as const)));
  }
  /** What filesIn gives for `files`. */
  const digests = (files: Record<string, Buffer>) => Object.fromEntries(Object.entries(files).map(([n, b]) => [n, sha(b)]));

  it("writes every artifact into -o DIR (made), byte for byte; --json lists them", async () => {
    const out = join(dir.path, "out", "job");
    const r = await sonotile(["jobs", "download", jobId, "-o", out]);
    expect(r, r.stderr).toMatchObject({ code: 0, stderr: "" });
    expect(await filesIn(out)).toEqual(digests(bytes)); // and no temporary file left beside them
    expect(r.stdout.split("\n").sort()).toEqual([
      "",
      `job ${jobId}: 3 artifacts written to ${out}`,
      ...Object.entries(bytes).map(([name, b]) => `wrote ${join(out, name)}  ${b.length} bytes  sha256 ${sha(b)}`),
    ].sort());
    const json = await sonotile(["jobs", "download", jobId, "-o", join(dir.path, "json"), "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const answer = JSON.parse(json.stdout);
    expect(answer).toMatchObject({ job_id: jobId, directory: join(dir.path, "json") });
    expect(answer.files.map((f: { name: string; path: string; size: number; sha256: string }) => [f.name, f.path, f.size, f.sha256]).sort())
      .toEqual(Object.entries(bytes).map(([name, b]) => [name, join(dir.path, "json", name), b.length, sha(b)]).sort());
  }, 60_000);

  it("writes into ./<job-id> by default", async () => {
    const cwd = join(dir.path, "cwd");
    await mkdir(cwd);
    const r = await sonotile(["jobs", "download", jobId.toUpperCase()], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(await filesIn(join(cwd, jobId))).toEqual(digests(bytes));
  }, 60_000);

  it("replaces no existing file without --force (exit 2, naming them, nothing written); with it, replaces them", async () => {
    const out = join(dir.path, "existing");
    await mkdir(out);
    await writeFile(join(out, "features.csv"), "mine\n");
    await writeFile(join(out, "provenance.json"), "mine too\n");
    const refused = await sonotile(["jobs", "download", jobId, "-o", out]);
    expect(refused).toMatchObject({ code: 2, stdout: "", stderr: `sonotile jobs: -o ${out}: ${join(out, "features.csv")}, ${join(out, "provenance.json")} exist; give --force to replace them, or another -o — nothing written\n` });
    expect(await filesIn(out)).toEqual(digests({ "features.csv": Buffer.from("mine\n"), "provenance.json": Buffer.from("mine too\n") }));
    const forced = await sonotile(["jobs", "download", jobId, "-o", out, "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await filesIn(out)).toEqual(digests(bytes));
  }, 60_000);

  it("a file size limit reached mid-chunk fails the download naming the file (exit 1), leaving nothing of it — a short write was renamed into place as whole — nor the directories it made", async () => {
    // One artifact of a single 300 KiB chunk, under a limit of 100 KiB (sh's ulimit -f counts 512-byte blocks):
    // the first write of the chunk takes 102,400 bytes and resolves without error.
    const job = await startJob(db.sql, (await createJob(db.sql, { task: "extract_features", data: {}, created_by: null })).id);
    const file = await storeFile(db.sql, randomBytes(300 * 1024));
    await createArtifact(db.sql, { job_id: job.id, name: "features.npy", file_sha256: file.sha256, expiration_delay: 3600, created_by: null });
    await completeJob(db.sql, job.id, "success");
    const out = join(dir.path, "limited", "job");
    const download = (to: string) => new Promise<CliRun>((done) => {
      execFile("sh", ["-c", 'ulimit -f 200 && exec "$@"', "sh", process.execPath, join(ROOT, "bin/sonotile.js"), "jobs", "download", job.id, "-o", to, "--data", data()],
        { env: { ...process.env, DATABASE_URL: real?.url ?? "" } }, (err, stdout, stderr) => done(cliRun(err, stdout, stderr)));
    });
    const limited = await download(out);
    expect(limited).toEqual({ code: 1, stdout: "", stderr: `sonotile jobs: cannot write ${join(out, "features.npy")}: file too large\n` });
    // Neither the truncated file nor its temporary file, nor the two directories made for them (left behind empty before).
    await expect(stat(join(dir.path, "limited"))).rejects.toMatchObject({ code: "ENOENT" });
    // A directory that was there stays, emptied of what the download began.
    await mkdir(join(dir.path, "there"));
    const there = await download(join(dir.path, "there", "job"));
    expect(there.code).toBe(1);
    expect(await readdir(join(dir.path, "there"))).toEqual([]);
    // Through "..", as a caller may give it (the CLI resolves -o first): the walk up compared the
    // path as given with mkdir's answer, went past the first directory made (x), and removed
    // "kept", the caller's own empty directory.
    await mkdir(join(dir.path, "kept"));
    const refused = new Error("disk full");
    await expect(intoDownloadDirectory(`${dir.path}/x/../kept/job`, ["features.npy"], false, () => Promise.reject(refused))).rejects.toBe(refused);
    expect((await readdir(dir.path)).filter((name) => name === "kept" || name === "x")).toEqual(["kept"]);
    expect(await readdir(join(dir.path, "kept"))).toEqual([]);
  }, 60_000);

  it.skipIf(!CAN_UNSHARE)("-o on a read-only file system says so (Node's recursive mkdir says ENOENT: 'no such directory')", async () => {
    // A read-only tmpfs mounted over an empty directory, in a mount namespace of the CLI's own.
    const readOnly = join(dir.path, "read-only");
    await mkdir(readOnly);
    const out = join(readOnly, "new", "job");
    const r = await new Promise<CliRun>((done) => {
      execFile("unshare", ["-m", "sh", "-c", 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"', readOnly, process.execPath, join(ROOT, "bin/sonotile.js"), "jobs", "download", jobId, "-o", out, "--data", data()],
        { env: { ...process.env, DATABASE_URL: real?.url ?? "" } }, (err, stdout, stderr) => done(cliRun(err, stdout, stderr)));
    });
    expect(r).toEqual({ code: 1, stdout: "", stderr: `sonotile jobs: cannot write ${out}: read-only file system\n` });
    expect(await readdir(readOnly)).toEqual([]); // the mount was the CLI's alone
  }, 60_000);

  it("refuses a job without artifacts (pending), an unknown job, an expired artifact and bytes that are not the file's — writing nothing", async () => {
    const pending = await createJob(db.sql, { task: "extract_features", data: {}, created_by: null });
    const out = join(dir.path, "refused");
    expect(await sonotile(["jobs", "download", pending.id, "-o", out])).toMatchObject({ code: 1, stderr: `sonotile jobs: job ${pending.id} is pending: its artifacts are stored when it ends\n` });
    expect(await sonotile(["jobs", "download", UUID, "-o", out])).toMatchObject({ code: 2, stderr: `sonotile jobs: job ${UUID} not found\n` });

    // A chunk of the table whose bytes are not the file's: the run fails at that file's end, leaving nothing of it.
    const [npy] = await db.sql<{ id: string; file_sha256: string }[]>`SELECT id, file_sha256 FROM artifacts WHERE job_id = ${jobId} AND name = 'features.npy'`;
    await db.sql`UPDATE file_chunks SET data = ${Buffer.alloc(CHUNK_BYTES)} WHERE sha256 = ${npy.file_sha256} AND chunk = 1`;
    try {
      const corrupt = await sonotile(["jobs", "download", jobId, "-o", out]);
      expect(corrupt).toMatchObject({ code: 1, stderr: expect.stringMatching(new RegExp(`^sonotile jobs: artifact ${npy.id} \\(features\\.npy\\): the database gave ${bytes["features.npy"].length} bytes of SHA-256 [0-9a-f]{64}, not the ${bytes["features.npy"].length} bytes of ${npy.file_sha256} stored; nothing was written for it\\n$`)) });
      expect(Object.keys(await filesIn(out))).not.toContain("features.npy");
      expect((await readdir(out)).filter((n) => n.includes("partial"))).toEqual([]);
    } finally {
      await db.sql`UPDATE file_chunks SET data = ${bytes["features.npy"].subarray(CHUNK_BYTES, 2 * CHUNK_BYTES)} WHERE sha256 = ${npy.file_sha256} AND chunk = 1`;
    }

    await db.sql`UPDATE artifacts SET expire_at = '2026-01-01T00:00:00Z' WHERE id = ${npy.id}`;
    const fresh = join(dir.path, "expired");
    const expired = await sonotile(["jobs", "download", jobId, "-o", fresh]);
    expect(expired).toMatchObject({ code: 1, stdout: "", stderr: `sonotile jobs: features.npy: artifact ${npy.id} expired at 2026-01-01T00:00:00.000Z; a cleanup deletes it 86400 s after that (downloads in progress finish meanwhile) unless it is archived first (POST /v1/artifacts/${npy.id}/archive keeps it) — nothing written\n` });
    await expect(readdir(fresh)).rejects.toThrow(/ENOENT/);
    // Archived, it is kept whatever its expire_at, and downloads.
    await db.sql`UPDATE artifacts SET state = 'archived' WHERE id = ${npy.id}`;
    expect((await sonotile(["jobs", "download", jobId, "-o", fresh])).code).toBe(0);
    expect(await filesIn(fresh)).toEqual(digests(bytes));
  }, 60_000);
});
