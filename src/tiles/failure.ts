/**
 * A tile, piece or stats task that failed because of its input: the recording cannot be decoded
 * (AudioFormatError), its samples cannot be analysed (SampleValuesError: NaN, ±Infinity, a power
 * overflow), or the parameters cannot be applied to it where only the engine finds out
 * (ParamsError: a hop of 0 samples, a band filter that cannot be computed, PCEN values beyond
 * float32), or the file changed while it was read (FileChangedError: the values may mix two
 * contents) — or, not the input's but no bug either, the thread's DSP core had no room left for it
 * (CoreMemoryError with memoryFull: the thread is retired for a fresh one, worker.ts taskHandler). A
 * worker returns it rather than throwing: an error's class does not survive the
 * thread boundary, and the HTTP layer answers these (422; 400 naming the field; 503) differently from
 * a failure of the server (500). (A features task reports its input failures in its own result,
 * `FeaturesTaskResult.failure`: a job records them per target instead of retrying.)
 */
import { FileChangedError } from "../audio/source.js";
import { AudioFormatError } from "../audio/types.js";
import { SampleValuesError } from "../engine/analysis.js";
import { ParamsError } from "../engine/params.js";
import { CoreMemoryError } from "../engine/wasm.js";

export interface TaskFailure {
  taskFailure: "audio" | "sample-values" | "params" | "changed" | "core-memory";
  message: string;
  /** The fields a ParamsError names. */
  issues?: ParamsError["issues"];
}

/**
 * Exit code of a worker thread retired after a task failed for another reason than its input
 * (worker.ts taskHandler), or one retired for its core's memory that took another task before the
 * pool could end it: the task that arrives is run again on a fresh thread.
 */
export const RETIRED_EXIT_CODE = 71;

/**
 * The answer of a task after which its thread retires, its core past the pool's coreMemoryLimit
 * (worker.ts taskHandler): the pool takes `retiringAnswer` as the task's answer and ends the thread
 * (TilePool#run). The thread cannot end itself once it has posted its answer: Piscina then blocks
 * it until the next task, and a thread that exits right after posting lost its answer to its exit
 * in a third of the tries (Piscina fails a dead thread's task if its exit is seen first).
 */
export interface RetiringAnswer {
  retiringAnswer: unknown;
}

/** Whether a task's result is a RetiringAnswer. */
export function isRetiringAnswer(result: unknown): result is RetiringAnswer {
  return typeof result === "object" && result !== null && "retiringAnswer" in result;
}

/** `err` as a TaskFailure, or null when it is not an input failure (a bug: rethrown as such). */
export function toTaskFailure(err: unknown): TaskFailure | null {
  // SampleValuesError first: it is an AudioFormatError too.
  if (err instanceof SampleValuesError) return { taskFailure: "sample-values", message: err.message };
  if (err instanceof AudioFormatError) return { taskFailure: "audio", message: err.message };
  if (err instanceof ParamsError) return { taskFailure: "params", message: err.message, issues: err.issues };
  if (err instanceof FileChangedError) return { taskFailure: "changed", message: err.message };
  if (err instanceof CoreMemoryError && err.memoryFull) return { taskFailure: "core-memory", message: err.message };
  return null;
}

/** The error a task's result stands for when it is a TaskFailure, else null. */
export function fromTaskFailure(result: unknown): Error | null {
  if (typeof result !== "object" || result === null || !("taskFailure" in result)) return null;
  const failure = result as TaskFailure;
  if (failure.taskFailure === "sample-values") return new SampleValuesError(failure.message);
  if (failure.taskFailure === "params") return new ParamsError(failure.issues ?? []);
  if (failure.taskFailure === "changed") return new FileChangedError(failure.message);
  if (failure.taskFailure === "core-memory") return new CoreMemoryError(failure.message, true);
  return new AudioFormatError(failure.message);
}
