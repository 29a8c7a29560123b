/**
 * The batch-extraction task a pool worker runs (src/tiles/worker.ts, kind "features"): one
 * target of one recording. The outcome separates what retrying cannot change — the input is
 * the problem: not audio, a clip outside the recording, parameters the recording cannot take —
 * returned as `failure`, from everything else (a crash, a timeout, an I/O fault), which is
 * thrown and may be retried. Error classes do not survive the trip between threads, hence the
 * explicit shape. The worker runs one task at a time, so it reads the file with blocking reads.
 */
import { statSync } from "node:fs";
import { fileMd5 } from "../audio/hash.js";
import { AudioFormatError } from "../audio/types.js";
import { ParamsError, type Params } from "../engine/params.js";
import { featuresOfFile, TargetError, type FeatureTarget, type FeatureValues } from "./features.js";

export interface FeaturesTask {
  kind: "features";
  path: string;
  /** Time expansion factor; undefined: the file's own (GUANO `TE`), else 1. */
  timeExpansion?: number;
  /** Where `timeExpansion` came from, as the user knows it (FeatureOptions.timeExpansionName). */
  timeExpansionName?: string;
  params: Params;
  target: FeatureTarget;
  /** `path` is a real path confined to the audio roots (jobs): open only that file (openAudio's exactPath). */
  exactPath?: boolean;
  /**
   * Also the MD5 of the file (`sonotile extract --md5`), read once more right after the features,
   * on the same thread: a pass of its own, since a clip reads a part of the file and a whole
   * recording's reads follow the decoder, not the file's order.
   */
  md5?: boolean;
  /**
   * Also the file's size and modification time (ms) as stat gives them once the features are
   * computed (`statAfter`; null: gone): what a job's worker compares with its check before the
   * computation, to tell a file rewritten while it was read (src/jobs/worker.ts) — taken here, on
   * the thread that read it, so that the worker settles items that finish together together.
   */
  statAfter?: boolean;
}

/** `issues`: the fields a ParamsError names, so that a command line can name its flags (withFlagNames). */
export type FeaturesTaskResult = { values: FeatureValues; md5?: string; statAfter?: { size: number; mtime: number } | null } | { failure: string; issues?: ParamsError["issues"] };

/** The size and modification time (ms) of the file at `path` now, or null when it cannot be looked at. A blocking stat: the pool's worker thread has nothing else to do. */
function statNow(path: string): { size: number; mtime: number } | null {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? { size: st.size, mtime: st.mtimeMs } : null;
}

export async function runFeaturesTask(task: FeaturesTask): Promise<FeaturesTaskResult> {
  try {
    const values = await featuresOfFile(task.path, task.params, task.target, { timeExpansion: task.timeExpansion, timeExpansionName: task.timeExpansionName, blockingReads: true, exactPath: task.exactPath });
    return {
      values,
      ...(task.md5 ? { md5: await fileMd5(task.path, { exactPath: task.exactPath }) } : {}),
      ...(task.statAfter ? { statAfter: statNow(task.path) } : {}),
    };
  } catch (err) {
    if (err instanceof ParamsError) return { failure: err.message, issues: err.issues };
    if (err instanceof AudioFormatError || err instanceof TargetError) return { failure: err.message };
    throw err;
  }
}
