/**
 * Fixtures of the batch-job tests: a dataset of small synthetic WAVs (a 1 kHz and a 3 kHz
 * tone) with many short clips, registered through the store.
 */
import { join } from "node:path";
import { createClip } from "../src/store/clips.js";
import { createDataset } from "../src/store/datasets.js";
import { probeFile } from "../src/store/probe.js";
import { insertRecording } from "../src/store/recordings.js";
import type { Sql } from "../src/store/db.js";
import { getJob, type Job } from "../src/store/jobs.js";
import { writeSineWav } from "./store-helpers.js";

export interface JobFixture {
  datasetId: string;
  /** Recording ids by file name. */
  recordings: Record<string, string>;
  clipIds: string[];
}

/** `tone1k.wav` (1 kHz, 2 s) and `tone3k.wav` (3 kHz, 1 s) at 8 kHz in `dir`, and `clips` 0.05 s clips of the first. */
export async function jobFixture(sql: Sql, dir: string, clips: number): Promise<JobFixture> {
  await writeSineWav(join(dir, "tone1k.wav"), 8000, 2, 1000);
  await writeSineWav(join(dir, "tone3k.wav"), 8000, 1, 3000);
  const dataset = await createDataset(sql, { name: `jobs-${Date.now()}`, audio_dir: dir, created_by: null });
  const recordings: Record<string, string> = {};
  for (const path of ["tone1k.wav", "tone3k.wav"]) {
    const rec = await insertRecording(sql, { dataset_id: dataset.id, path, ...(await probeFile(join(dir, path))), created_by: null });
    recordings[path] = rec!.id;
  }
  const clipIds: string[] = [];
  for (let i = 0; i < clips; i++) {
    const start = (i % 39) * 0.05;
    clipIds.push((await createClip(sql, { recording_id: recordings["tone1k.wav"], start_time: start, end_time: start + 0.05, created_by: null })).id);
  }
  return { datasetId: dataset.id, recordings, clipIds };
}

/** A recording of the fixture's dataset whose file `name` is not there (registered as tone3k.wav's twin): its items fail. */
export async function missingRecording(sql: Sql, fx: JobFixture, name: string): Promise<string> {
  const [{ id }] = await sql`
    INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels)
    SELECT dataset_id, ${name}, hash, file_size, file_samplerate, frames, channels FROM recordings WHERE id = ${fx.recordings["tone3k.wav"]}
    RETURNING id`;
  return id;
}

/** Polls the job until `done(job)` (every 100 ms, at most `timeoutMs`). */
export async function waitForJob(sql: Sql, id: string, done: (j: Job) => boolean, timeoutMs = 60_000): Promise<Job> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(sql, id);
    if (done(job)) return job;
    if (Date.now() > until) throw new Error(`job ${id} still ${job.status} (${job.progress_done}/${job.progress_total}) after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
