/**
 * `sonotile jobs download <job-id> --chain`: the tables of a job's chain of retries merged into
 * one — the first job's rows, then each retry's in order of creation (a retry's tables hold its own
 * items only, and no target is done by two jobs of a chain) —, so that a researcher need not
 * concatenate them by hand. Each part is streamed from the database and checked as `jobs download`
 * checks it (artifact-files.ts); only the headers are rewritten: features.csv keeps the first
 * part's line of column names, a .npy matrix gets one header of the summed shape.
 */
import { createHash } from "node:crypto";
import { extname, join } from "node:path";
import { plural } from "../audio/types.js";
import { VERSION } from "../engine/version.js";
import { chainJobIds, extractFeaturesData, jobFeatures } from "../jobs/queue.js";
import { jobArtifacts, jobOutputNames } from "../jobs/results.js";
import { npyHeader, parseNpyHeader, type NpyLayout } from "../render/npy.js";
import { readFileContents, type Artifact } from "../store/artifacts.js";
import { CHUNK_BYTES } from "../store/common.js";
import type { Sql } from "../store/db.js";
import { getJob, type Job } from "../store/jobs.js";
import { checkedContents, intoDownloadDirectory, undownloadable } from "./artifact-files.js";
import { writeOutputBytes } from "./output-file.js";
import type { AnswerPrinter } from "./store-options.js";

/** The artifact that says what made a job's tables: listed for each job, not merged. */
const PROVENANCE = "provenance.json";

/** A job's file of one name, and the bytes at its start that the merged file does not repeat. */
interface Part {
  job: Job;
  artifact: Artifact;
  /** Bytes before its rows: the CSV's line of column names, the .npy header. */
  headerBytes: number;
  /** Of a .npy file, its header. */
  npy?: NpyLayout;
}

/** The first chunk of an artifact's file (≤ 1 MiB): enough to hold its header. */
async function firstChunk(sql: Sql, a: Artifact): Promise<Buffer> {
  for await (const chunk of readFileContents(sql, a.file_sha256, a.size, 0, Math.min(a.size, CHUNK_BYTES) - 1)) return chunk;
  return Buffer.alloc(0); // an empty file: no chunk
}

/**
 * Where a part's rows start, read from its header, or why it cannot join `first` (the first job's
 * part of that name): a features.csv of other columns, a .npy matrix of another dtype, column
 * count or layout.
 */
async function readPart(sql: Sql, job: Job, artifact: Artifact, first: Part | undefined, firstHeader: Buffer | undefined): Promise<{ part: Part; header: Buffer } | string> {
  const head = await firstChunk(sql, artifact);
  const name = `job ${job.id}: ${artifact.name}`;
  if (extname(artifact.name) === ".npy") {
    let npy;
    try {
      npy = parseNpyHeader(head);
    } catch (err) {
      return `${name}: ${(err as Error).message}`;
    }
    const matrix = (l: NpyLayout) => `${l.descr} [${l.shape.join(", ")}]${l.fortranOrder ? " in Fortran order" : ""}`;
    if (npy.shape.length !== 2 || npy.fortranOrder) return `${name}: ${matrix(npy)} is no C-order matrix`;
    if (first?.npy && (npy.descr !== first.npy.descr || npy.shape[1] !== first.npy.shape[1])) {
      return `${name}: ${matrix(npy)} does not continue job ${first.job.id}'s ${matrix(first.npy)} (dtype and column count must be the same)`;
    }
    return { part: { job, artifact, headerBytes: npy.dataOffset, npy }, header: head.subarray(0, npy.dataOffset) };
  }
  const lineEnd = head.indexOf(0x0a);
  if (lineEnd < 0) return `${name}: holds no line of column names`;
  const header = head.subarray(0, lineEnd + 1);
  if (firstHeader && !header.equals(firstHeader)) return `${name}: its columns are not those of job ${first!.job.id}'s`;
  return { part: { job, artifact, headerBytes: header.length }, header };
}

/** The bytes of `lead`, then of each of `parts` past its header (the first's from its start), each checked as it passes (checkedContents). */
async function* concatenated(sql: Sql, lead: Uint8Array | null, parts: readonly Part[]): AsyncGenerator<Uint8Array> {
  if (lead) yield lead;
  for (const [i, part] of parts.entries()) {
    const skip = lead === null && i === 0 ? 0 : part.headerBytes;
    let at = 0;
    for await (const chunk of checkedContents(sql, part.artifact)) {
      const from = Math.max(0, skip - at);
      at += chunk.length;
      if (from < chunk.length) yield chunk.subarray(from);
    }
  }
}

/** `bytes` written to `path` (writeOutputBytes), with the size and SHA-256 of what was written. */
async function writeCounted(path: string, bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  await writeOutputBytes(path, (async function* () {
    for await (const b of bytes) {
      hash.update(b);
      size += b.length;
      yield b;
    }
  })());
  return { size, sha256: hash.digest("hex") };
}

/**
 * `jobs download <job-id> --chain`: the chain of retries of job `jobId` (chainJobIds: whichever of
 * its jobs is named) merged into `dir` — features.csv, features.npy and log_mel.npy (those its jobs
 * have), and a provenance.json naming each job and the SHA-256 of each of its files. Everything is
 * checked before a byte is written: a job of the chain still pending or running (what it will add
 * is not known yet), a job lacking one of the chain's files or whose file expired or is not
 * stored (each job is checked for the files its features make: jobOutputNames), headers that do
 * not match, a file of those names in `dir` without `force`.
 */
export async function downloadChain(sql: Sql, jobId: string, dir: string, force: boolean, out: AnswerPrinter): Promise<void> {
  const named = await getJob(sql, jobId); // an unknown id: NotFoundError
  const jobs: Job[] = [];
  for (const id of await chainJobIds(sql, named.id)) jobs.push(await getJob(sql, id));
  const unfinished = jobs.filter((j) => j.status === "pending" || j.status === "running");
  if (unfinished.length) {
    throw new Error(`the chain of job ${named.id} has not ended: ${unfinished.map((j) => `job ${j.id} is ${j.status}`).join(", ")}; its tables are whole once every job of it ended — nothing written`);
  }
  const artifacts = await Promise.all(jobs.map(async (j) => new Map((await jobArtifacts(sql, j.id)).map((a) => [a.name, a]))));
  // The files its jobs made, not those still there: a chain of one job whose features.npy was in
  // the trash got the other files written, and exit 0, where a longer chain was refused.
  const names = [...new Set(jobs.flatMap((j) => jobOutputNames(jobFeatures(extractFeaturesData.parse(j.data)))))].sort();
  const refusals: string[] = [];
  for (const [i, job] of jobs.entries()) {
    for (const name of names) {
      const a = artifacts[i].get(name);
      const why = a ? await undownloadable(sql, a) : `${name}: it has none (a cleanup deleted it, expired, or it is in the trash)`;
      if (why) refusals.push(`job ${job.id}: ${why}`);
    }
  }
  if (refusals.length) throw new Error(`${refusals.join("; ")} — nothing written`);

  const tables = names.filter((n) => n !== PROVENANCE);
  const parts = new Map<string, Part[]>();
  for (const name of tables) {
    const read: Part[] = [];
    let firstHeader: Buffer | undefined;
    for (const [i, job] of jobs.entries()) {
      const part = await readPart(sql, job, artifacts[i].get(name)!, read[0], firstHeader);
      if (typeof part === "string") refusals.push(part);
      else {
        read.push(part.part);
        firstHeader ??= part.header;
      }
    }
    parts.set(name, read);
  }
  if (refusals.length) throw new Error(`${refusals.join("; ")} — nothing written`);

  // Rows per job, as its first matrix counts them (a job's features, never empty, give it one; null were none merged).
  const matrix = tables.find((n) => extname(n) === ".npy");
  const rows = jobs.map((_, i) => (matrix ? parts.get(matrix)![i].npy!.shape[0] : null));
  const provenance = {
    sonotile: {
      version: VERSION,
      chain: `the tables of every job of the chain of retries of job ${jobs[0].id}, its first, then its retries in order of creation: the rows of job i follow those of job i - 1 in each file; each job's own ${PROVENANCE} (listed) says what made its rows`,
      job_ids: jobs.map((j) => j.id),
      jobs: jobs.map((j, i) => ({
        job_id: j.id, retry_of: j.retry_of, status: j.status, created_at: j.created_at, rows: rows[i],
        files: Object.fromEntries(names.map((n) => {
          const a = artifacts[i].get(n)!;
          return [n, { artifact_id: a.id, size: a.size, sha256: a.file_sha256 }];
        })),
      })),
    },
  };
  const files = await intoDownloadDirectory(dir, [...tables, PROVENANCE], force, async () => {
    const written = [];
    for (const name of tables) {
      const path = join(dir, name);
      const tableParts = parts.get(name)!;
      const first = tableParts[0].npy;
      const lead = first ? npyHeader([tableParts.reduce((n, p) => n + p.npy!.shape[0], 0), first.shape[1]], first.descr) : null;
      written.push({ name, path, ...(await writeCounted(path, concatenated(sql, lead, tableParts))) });
    }
    const provenancePath = join(dir, PROVENANCE);
    written.push({ name: PROVENANCE, path: provenancePath, ...(await writeCounted(provenancePath, [Buffer.from(JSON.stringify(provenance, null, 1) + "\n")])) });
    return written;
  });
  const total = rows.every((r) => r !== null) ? rows.reduce((n, r) => n + r!, 0) : null;
  out({ job_id: named.id, job_ids: jobs.map((j) => j.id), rows: total, directory: dir, files }, [
    ...files.map((f) => `wrote ${f.path}  ${plural(f.size, "byte")}  sha256 ${f.sha256}`),
    `the chain of job ${named.id} (${plural(jobs.length, "job")}${total === null ? "" : `, ${plural(total, "row")}`}): ${plural(files.length, "file")} written to ${dir}`,
  ].join("\n"));
}
