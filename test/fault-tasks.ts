/**
 * The tasks of the tests' fault worker (fault-worker.mjs): the production worker's, three
 * that fault, one that grows the core, and one that fills its filter cache. A pool or service built with
 * `{ workerFile: FAULT_WORKER_URL }` runs them.
 */
import type { WorkerTask } from "../src/tiles/worker.js";

export const FAULT_WORKER_URL = new URL("./fault-worker.mjs", import.meta.url);

export type FaultTask =
  | WorkerTask
  // a worker that dies; a core that traps (its thread retires); a computation that holds its thread for `ms`
  | { kind: "crash" }
  | { kind: "trap" }
  | { kind: "hold"; ms: number }
  // a task that grows the core's memory by `bytes`; it answers with its thread's id
  | { kind: "grow"; bytes: number }
  // resampling from 44100 Hz to each of `rates` in turn; it answers with the core's size in bytes
  | { kind: "filters"; rates: number[] };

/**
 * `task` as TilePool#run takes it: the pool's type knows the production worker's tasks only, and
 * a pool running the fault worker takes these as well.
 */
export function faultTask(task: FaultTask): WorkerTask {
  return task as WorkerTask;
}
