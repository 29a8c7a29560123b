/**
 * Reading again the header facts of the recordings an older engine's readers read (migration 013,
 * readByOlderEngine): a release that counts the frames of some files otherwise (0.5.0, 0.6.0)
 * would leave the duration of recordings registered before it as the old reader counted — in the
 * API's metadata and the viewer's time axis — until their files were next used. A server sweeps
 * them once at start (api/plugins/reprobe.ts); `sonotile dataset reprobe` does it on demand.
 */
import { AudioFormatError } from "../audio/index.js";
import type { Queryable } from "./db.js";
import { ConflictError, InvalidError } from "./errors.js";
import { isInside } from "./paths.js";
import { readByOlderEngine, reprobeRecording, staleRecordingLocations, type RecordingLocation, type Reprobed } from "./recordings.js";

/** Recordings fetched per query of the sweep. */
const BATCH = 100;

/** Files the sweep reads at once by default: a header is a few small reads, and the server keeps serving meanwhile. */
const REPROBE_CONCURRENCY = 3;

/** What reading one recording again came to. */
export type ReprobeOutcome =
  | { id: string; path: string; kind: "read"; result: Reprobed }
  /** Left as it is, for the next sweep: its file is missing, replaced, unreadable, or changed while read. */
  | { id: string; path: string; kind: "left"; reason: string };

export interface SweepOptions {
  /** Real paths of the audio roots: recordings of datasets outside them are left to the servers given those directories. */
  audioRoots: readonly string[];
  /** Files read at once, an integer ≥ 1 (default REPROBE_CONCURRENCY). */
  concurrency?: number;
  /** Stops the sweep: no recording is taken up once it is aborted (those being read finish). */
  signal?: AbortSignal;
  /** Told of each recording read again, or left and why. */
  onRecording?: (outcome: ReprobeOutcome) => void;
}

export interface SweepSummary {
  /** Recordings read again and stored by this sweep. */
  stored: number;
  /** Of those, the ones whose facts differ from the stored ones. */
  corrected: number;
  /** Recordings left for the next sweep (see ReprobeOutcome). */
  left: number;
  /** Whether the sweep went through every recording (false: stopped by its signal). */
  complete: boolean;
}

/**
 * Goes once through the recordings whose facts an older engine read, in id order, reading their
 * headers again (reprobeRecording), `concurrency` files at a time. A recording whose file cannot
 * be used now is reported (`onRecording`) and left; the next sweep tries it again. Safe beside
 * other servers sweeping the same database: each update holds only while the row is as read.
 * Database errors end the sweep (thrown).
 */
export async function sweepStaleRecordings(db: Queryable, options: SweepOptions): Promise<SweepSummary> {
  const concurrency = options.concurrency ?? REPROBE_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency: must be an integer ≥ 1, got ${concurrency}`);
  const summary: SweepSummary = { stored: 0, corrected: 0, left: 0, complete: false };
  const errors: unknown[] = [];
  const stopped = () => errors.length > 0 || (options.signal?.aborted ?? false);
  let after: string | null = null;
  while (!stopped()) {
    const batch = await staleRecordingLocations(db, after, BATCH);
    if (!batch.length) return { ...summary, complete: true };
    after = batch[batch.length - 1].id;
    const mine = batch.filter((loc) => readByOlderEngine(loc.probed_by) && options.audioRoots.some((root) => isInside(root, loc.audio_dir)));
    const next = () => mine.shift();
    // Every reader is awaited, also after one fails: none may query after the caller has gone on
    // (and closed the database).
    await Promise.all(Array.from({ length: Math.min(concurrency, mine.length) }, async () => {
      for (let loc = next(); loc && !stopped(); loc = next()) {
        const outcome = await reprobeOne(db, loc).catch((error: unknown) => {
          errors.push(error);
          return null;
        });
        if (!outcome) return;
        if (outcome.kind === "left") summary.left++;
        else if (outcome.result.stored) {
          summary.stored++;
          if (differ(outcome.result)) summary.corrected++;
        }
        options.onRecording?.(outcome);
      }
    }));
    if (errors.length) throw errors[0];
  }
  return summary;
}

/** Whether a read found facts other than those stored. */
export function differ({ before, facts }: Reprobed): boolean {
  return before.frames !== facts.frames || before.channels !== facts.channels || before.file_samplerate !== facts.file_samplerate;
}

/** One recording read again, or why it is left: its file missing, replaced, or unreadable by this engine (other errors are thrown). */
async function reprobeOne(db: Queryable, loc: RecordingLocation & { id: string }): Promise<ReprobeOutcome> {
  const { id, path } = loc;
  try {
    const result = await reprobeRecording(db, loc, id);
    return result ? { id, path, kind: "read", result } : { id, path, kind: "left", reason: "the file changed while its header was read" };
  } catch (err) {
    if (err instanceof InvalidError) return { id, path, kind: "left", reason: err.fields[0].message };
    if (err instanceof ConflictError || err instanceof AudioFormatError) return { id, path, kind: "left", reason: err.message };
    throw err;
  }
}
