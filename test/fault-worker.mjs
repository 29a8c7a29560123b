/**
 * A pool worker for the tests of the pool's recovery and time limit (PoolOptions.workerFile): the
 * production worker's tasks, three that fault — `crash` (the thread dies), `trap` (the core
 * traps) and `hold` (a computation that holds the thread for `ms`) — `grow`, which grows the
 * core's memory by `bytes` (as a large tile does) and answers with the thread's id, and `filters`,
 * which resamples from 44100 Hz to each of `rates` in turn and answers with the core's size
 * (the filters its cache keeps lie there). A `features` task whose file has a `<path>.fill-core`
 * beside it holding a count above 0 takes one from it and fills the core before it computes (as a
 * core grown to WebAssembly's 4 GiB by earlier tasks: fillCore). Its handler is the
 * production one (taskHandler of src/tiles/worker.ts) around these, so a trap retires the thread
 * as a bug in a kernel would. Plain JavaScript over dist/, which `npm test` builds first: a worker
 * thread cannot load the TypeScript sources. The tasks' type is FaultTask (fault-tasks.ts).
 */
import { compute, taskHandler } from "../dist/tiles/worker.js";
import { core } from "../dist/engine/wasm.js";
import { createResampler } from "../dist/engine/resample.js";
import { threadId } from "node:worker_threads";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

/** Exit code of a thread that a `crash` task ended: any but RETIRED_EXIT_CODE, which the pool retries. */
const CRASH_EXIT_CODE = 70;

/** The unit WebAssembly memory grows by. */
const WASM_PAGE_BYTES = 65536;

/**
 * Fills the core's memory (wasm32: 4 GiB at most) with blocks nobody touches — no RAM used — until
 * not even 4 KiB is left: the next allocation of any size fails (CoreMemoryError with memoryFull).
 * The blocks are never freed: the thread retires after such a failure (taskHandler).
 */
function fillCore() {
  for (let block = 1 << 29; block >= 1 << 12; block >>= 2) {
    for (;;) {
      try {
        core.alloc(block);
      } catch {
        break;
      }
    }
  }
}

/** Whether `task` is a features task whose file's `.fill-core` count is above 0, taking one from it. */
function takeFillCore(task) {
  const marker = `${task.path}.fill-core`;
  if (task.kind !== "features" || !existsSync(marker)) return false;
  const left = Number(readFileSync(marker, "utf8"));
  if (!(left > 0)) return false;
  writeFileSync(marker, String(left - 1));
  return true;
}

/** @param {import("./fault-tasks.js").FaultTask} task */
async function computeOrFault(task) {
  if (takeFillCore(task)) fillCore();
  if (task.kind === "crash") process.exit(CRASH_EXIT_CODE);
  if (task.kind === "trap") {
    // A load far beyond the core's memory: WebAssembly.RuntimeError, as a bug in a kernel would raise.
    core.pcenInitState(0xfffffff0, 4, 1, 0);
    throw new Error("the core did not trap");
  }
  if (task.kind === "hold") {
    // Blocks the thread as a computation does: only the pool's time limit (a terminated worker) ends it sooner.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, task.ms);
    return null;
  }
  if (task.kind === "filters") {
    const x = new Float32Array(4000);
    for (const rate of task.rates) createResampler(44100, rate).apply(x);
    return core.memory.buffer.byteLength;
  }
  if (task.kind === "grow") {
    core.memory.grow(Math.ceil(task.bytes / WASM_PAGE_BYTES));
    return threadId;
  }
  return compute(task);
}

export default taskHandler(computeOrFault);
