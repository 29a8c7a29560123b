/**
 * The batch-extraction task a pool worker runs (src/tiles/worker.ts, kind "features"): one
 * target of one recording. The outcome separates what retrying cannot change — the input is
 * the problem: not audio, a clip outside the recording, parameters the recording cannot take —
 * returned as `failure`, from everything else (a crash, a timeout, an I/O fault), which is
 * thrown and may be retried. Error classes do not survive the trip between threads, hence the
 * explicit shape. The worker runs one task at a time, so it reads the file with blocking reads.
 */
import { fileMd5 } from "../audio/hash.js";
import { checkFileUnchanged, FileChangedError, type CheckedFile } from "../audio/source.js";
import { AudioFormatError } from "../audio/types.js";
import { ParamsError, type Params } from "../engine/params.js";
import { featuresOfFile, TargetError, type FeatureOptions, type FeatureTarget, type FeatureValues } from "./features.js";

export interface FeaturesTask {
  kind: "features";
  path: string;
  /** Time expansion factor; undefined: the file's own (GUANO `TE`), else 1. */
  timeExpansion?: number;
  /** Where `timeExpansion` came from, as the user knows it (FeatureOptions.timeExpansionName). */
  timeExpansionName?: string;
  /** How a refusal names window_size and hop_size (FeatureOptions.paramNames). */
  paramNames?: FeatureOptions["paramNames"];
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
   * The file's size and modification time when the caller checked that it holds the recording's
   * content (a job's worker: the registered MD5): checked again once the read has ended, here on the
   * thread that read it (checkFileUnchanged), and `changed` instead of the outcome when the file was
   * written meanwhile — values, or a failure, of no one content.
   */
  checked?: CheckedFile;
}

/** `issues`: the fields a ParamsError names, so that a command line can name its flags (withFlagNames); `part`: a TargetError's. */
export type FeaturesTaskResult = { values: FeatureValues; md5?: string } | { failure: string; issues?: ParamsError["issues"]; part?: TargetError["part"] } | { changed: string };

export async function runFeaturesTask(task: FeaturesTask): Promise<FeaturesTaskResult> {
  const outcome = await featuresOrFailure(task);
  if (task.checked) {
    try {
      await checkFileUnchanged(task.path, task.checked);
    } catch (err) {
      if (err instanceof FileChangedError) return { changed: err.message };
      throw err;
    }
  }
  return outcome;
}

/** The task's values, or the failure its input caused (the task's own description above). */
async function featuresOrFailure(task: FeaturesTask): Promise<FeaturesTaskResult> {
  try {
    const values = await featuresOfFile(task.path, task.params, task.target, { timeExpansion: task.timeExpansion, timeExpansionName: task.timeExpansionName, paramNames: task.paramNames, blockingReads: true, exactPath: task.exactPath });
    return { values, ...(task.md5 ? { md5: await fileMd5(task.path, { exactPath: task.exactPath }) } : {}) };
  } catch (err) {
    if (err instanceof ParamsError) return { failure: err.message, issues: err.issues };
    if (err instanceof TargetError) return { failure: err.message, part: err.part };
    if (err instanceof AudioFormatError) return { failure: err.message };
    throw err;
  }
}
