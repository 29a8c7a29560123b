/**
 * Local batch feature extraction: every target of a list on the worker pool (one task per target
 * — a recording or a clip, milliseconds to minutes of work, so dispatch cost is negligible),
 * results as they finish (the caller puts them in input order). A target that fails (unreadable
 * file, clip outside the recording) becomes an error entry; the others go on. Targets may still be
 * being found out (a file's header read) when the batch starts: each is taken, in order, and
 * started once it is known.
 */
import { availableParallelism } from "node:os";
import type { CheckedFile } from "../audio/source.js";
import type { Params, ParamsError } from "../engine/params.js";
import { CoreMemoryError } from "../engine/wasm.js";
import type { FeatureOptions, FeatureTarget, FeatureValues, TargetError } from "../features/features.js";
import { TilePool } from "../tiles/pool.js";
import type { FeaturesTask, FeaturesTaskResult } from "../features/task.js";

/** One target of a batch. */
export interface ExtractItem {
  path: string;
  target: FeatureTarget;
  /** Audio seconds the target covers, when known beforehand (for progress and ETA). */
  seconds?: number;
  /**
   * The file's size and modification time before anything of it was read: a file written while
   * its target is computed then gives an error, not values (or an --md5) of no one content (FeaturesTask.checked).
   */
  checked?: CheckedFile;
}

/**
 * An entry of a batch: its item, or the promise of it while it is still being read (a file's
 * header, for its duration), settling to null when there is nothing to compute for it (a file
 * that does not open, reported by whoever read it).
 */
export type PendingItem = ExtractItem | PromiseLike<ExtractItem | null>;

/**
 * `issues`: the fields of a parameter the file could not take (FeaturesTaskResult), to be named as
 * its caller names them; `part`: the part of the target it could not give (TargetError.part).
 * `md5`: the file's, with ExtractOptions.md5.
 */
export type ExtractOutcome = { item: ExtractItem; values: FeatureValues; md5?: string } | { item: ExtractItem; error: string; issues?: ParamsError["issues"]; part?: TargetError["part"] };

export interface ExtractOptions {
  params: Params;
  /** Time expansion factor of every recording (default: each file's GUANO TE, else 1). */
  timeExpansion?: number;
  /** Where `timeExpansion` came from, as the user knows it ("--time-expansion"; FeatureOptions.timeExpansionName). */
  timeExpansionName?: string;
  /** How a refusal names window_size and hop_size ("window_size (--window-size)"; FeatureOptions.paramNames). */
  paramNames?: FeatureOptions["paramNames"];
  /** Worker threads (default: one per core). */
  threads?: number;
  /** A pool to compute on instead of one of its own (the caller closes it); `threads` is then ignored. */
  pool?: TilePool;
  /** Also each file's MD5 (FeaturesTask.md5): a read of the whole file more per target. */
  md5?: boolean;
  /**
   * Stops the batch (an interrupted `extract`): no target starts after it, and those running are
   * cancelled (their workers replaced) and left without an outcome — nothing half-computed is
   * reported. The promise then resolves with what had finished.
   */
  stop?: AbortSignal;
}

/** Tasks in flight per thread: enough to keep every worker busy between completions. */
const IN_FLIGHT_PER_THREAD = 2;
/**
 * A task is one whole recording, which may last hours: the pool's per-task limit (meant for
 * tiles) is lifted to the longest timer Node allows.
 */
const TASK_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Runs `items` on a pool of its own, taken in order: an entry still pending is waited for when its
 * turn comes, so the first targets are computed while later headers are still read (`sonotile extract`
 * over 30,000 files waited 5–8 s for them all before its first target). Two entries a thread are
 * waited for at once, and each goes to the pool as it settles: an entry whose header is read before
 * its predecessor's starts first — on one thread too, where targets then finish out of input order.
 * Each outcome is handed to `onOutcome` (with its entry's index) as its target finishes, in completion order, and none is
 * kept: a batch of a season's targets holds no row of its own (`sonotile extract` keeps its rows
 * where it writes them: ResumeCheckpoint). An entry that settles to null has none, nor, after
 * `options.stop`, any entry that had not finished.
 */
export async function extractEach(items: readonly PendingItem[], options: ExtractOptions & { onOutcome: (outcome: ExtractOutcome, index: number) => void }): Promise<void> {
  const threads = options.pool?.threads ?? Math.max(1, Math.min(options.threads ?? availableParallelism(), items.length));
  const pool = options.pool ?? new TilePool({ threads, taskTimeoutMs: TASK_TIMEOUT_MS });
  const { stop } = options;
  let next = 0;
  const lane = async () => {
    while (next < items.length && !stop?.aborted) {
      const i = next++;
      const item = await items[i];
      if (item === null || stop?.aborted) continue;
      let outcome: ExtractOutcome;
      try {
        const result = await featuresOnFreshCore(pool, { kind: "features", path: item.path, timeExpansion: options.timeExpansion, timeExpansionName: options.timeExpansionName, paramNames: options.paramNames, params: options.params, target: item.target, md5: options.md5, checked: item.checked }, stop);
        outcome = "values" in result ? { item, values: result.values, md5: result.md5 } : "failure" in result ? { item, error: result.failure, issues: result.issues, part: result.part } : { item, error: result.changed };
      } catch (err) {
        if (stop?.aborted) return; // cancelled: not a failure of the target
        // A crashed worker or a timeout: on one machine there is no one else to retry it.
        outcome = { item, error: (err as Error).message };
      }
      options.onOutcome(outcome, i);
    }
  };
  try {
    await Promise.all(Array.from({ length: threads * IN_FLIGHT_PER_THREAD }, lane));
  } finally {
    if (!options.pool) await pool.close();
  }
}

/**
 * `task` run on `pool`, and once more when its thread's DSP core had no room for it (CoreMemoryError
 * with memoryFull: the core could not grow — at WebAssembly's 4 GiB, or refused by the host). That
 * is the thread's state, not the target's: the thread is replaced (tiles/worker.ts taskHandler), and
 * the second run takes a thread whose core holds at most the pool's coreMemoryLimit. It failed the
 * target at once, in the core's own words, as if its file were at fault.
 * @throws Error saying both runs found no room, when the second does too
 */
export async function featuresOnFreshCore(pool: TilePool, task: FeaturesTask, stop: AbortSignal | undefined): Promise<FeaturesTaskResult> {
  try {
    return await pool.run<FeaturesTaskResult>(task, stop);
  } catch (err) {
    if (!(err instanceof CoreMemoryError && err.memoryFull) || stop?.aborted) throw err;
  }
  try {
    return await pool.run<FeaturesTaskResult>(task, stop);
  } catch (err) {
    if (!(err instanceof CoreMemoryError && err.memoryFull)) throw err;
    throw new Error(`the DSP core had no room for its features, twice, on two threads — its memory could not grow (at WebAssembly's 4 GiB, or the host refused it more): ${err.message}`);
  }
}
