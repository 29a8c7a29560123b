/**
 * The worker pool (Piscina): one thread per core by default, each with its own instance of
 * the DSP core compiled once here. The serving tasks are whole tiles, pieces, stats passes or leases
 * over a range (frameRangeInto) — milliseconds of work each, so a task's round trip through this
 * thread (0.35–0.55 ms measured here) stays small; a batch task computes one target's features
 * (src/features/task.ts), a whole recording at most, under the time limit its caller sets. Results
 * are transferred.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Piscina, queueOptionsSymbol } from "piscina";
import { checkNumberOptions, checkOptions, checkOptionsObject, describeValue, timerRule, type NumberRule } from "../audio/signal.js";
import { sizeText } from "../audio/types.js";
import { wasmModule } from "../engine/wasm.js";
import { checkFramesPerStep, clampFrameRange } from "../engine/geometry.js";
import { checkParamTypes } from "../engine/params.js";
import { statsForRange } from "../engine/recording.js";
import { blockFrames as defaultBlockFrames } from "../engine/spectrogram.js";
import { FILTER_CACHE_BYTES } from "../engine/resample.js";
import { FairQueue, TaskClients } from "./fair-queue.js";
import { fromTaskFailure, isRetiringAnswer, RETIRED_EXIT_CODE } from "./failure.js";
import { MAX_THREADS } from "./limits.js";
import type { Source, StatsResult, StatsTask, WorkerTask } from "./worker.js";

export interface PoolOptions {
  /** Worker threads (default: one per core). */
  threads?: number;
  /** Tasks waiting for a thread, every client's together, before new work is refused (default 64 per thread). */
  maxQueue?: number;
  /**
   * Tasks one client (TaskClients) may have waiting for a thread before its next is refused
   * (default 16 per thread): a quarter of maxQueue, so that one client alone cannot fill the queue
   * and have the others' requests refused. The pool's own client (POOL_CLIENT: tasks run for no
   * client in particular) has maxQueue alone.
   */
  maxClientQueue?: number;
  /**
   * A task's time limit (default 60 s), for each of its two waits: one no worker took within this
   * long of being asked for is dropped (PoolBusyError: the server is busy, later it would run);
   * one that ran this long on its worker is stopped (TaskTimeoutError: it is too much work), and
   * its worker replaced.
   */
  taskTimeoutMs?: number;
  /**
   * The limit for a stats pass instead (default 1 h): it reads the whole recording once per
   * parameter set — about a minute for 10 hours at 48 kHz, more at bat rates.
   */
  statsTimeoutMs?: number;
  /**
   * How long one `frameRangeInto` task (a lease) claims blocks before it returns and the next
   * lease takes over (default 250 ms): long against a task's round trip, short against the task
   * time limit. 0 makes every lease take one block.
   */
  leaseMs?: number;
  /**
   * The worker module the threads run (default: WORKER_URL, the production worker), a file: URL.
   * For tests: a module whose default export is worker.ts's taskHandler around tasks of its own
   * (test/fault-worker.mjs adds tasks that crash, trap or hold their thread).
   */
  workerFile?: URL;
  /**
   * The size in bytes past which a thread's DSP core (its WebAssembly memory) retires the thread
   * after a task (default CORE_MEMORY_LIMIT): the core's memory never shrinks, so the pool ends
   * the thread as it takes that task's answer, and a fresh one (a fresh core) takes its place
   * (worker.ts taskHandler, TilePool#run).
   */
  coreMemoryLimit?: number;
  /**
   * Bytes of resampling filters each thread keeps designed (default FILTER_CACHE_BYTES, 64 MiB;
   * engine/resample.ts limitFilterCache): they lie in the thread's core, so the core grows by up
   * to this much (plus what the allocator rounds up to).
   */
  filterCacheBytes?: number;
}

/**
 * PoolOptions.coreMemoryLimit's default, 192 MiB: above what ordinary tasks grow a core to, below
 * what an exceptional one leaves behind for the thread's life. Measured on one thread (the core
 * starts at 64 KiB and grows by doublings of its heap): default tiles 2.5–13 MiB (at zoom 6 of 30
 * minutes), 1024-wide 5–13 MiB, 9600-point FFTs (1024 × 4801) 26.5 MiB, stats passes over 30
 * minutes at 48 kHz 5 MiB, features of a whole 30-minute recording 16 MiB (32.75 at 9600 points),
 * the resampler's filter cache full (its 64 MiB: 44100 → 96001… Hz) 124.75 MiB, and 9600-point
 * FFT tiles after it still 124.75 MiB; one PNG tile of 2^25 pixels (1024 × 32768, the limit) 325
 * MiB. Only such tasks retire a thread, which costs a thread start and its open recordings.
 */
export const CORE_MEMORY_LIMIT = 192 * 2 ** 20;

/**
 * Room a core needs beside a full filter cache: with 64 MiB of filters, cores measured 124.75 MiB
 * after the largest ordinary tasks (CORE_MEMORY_LIMIT), 60.75 MiB of it not filters.
 */
const CORE_BESIDE_FILTERS = 64 * 2 ** 20;

/**
 * Why a filter cache of `bytes` (PoolOptions.filterCacheBytes; the CLI's `--filter-cache`) is too
 * large for threads whose cores retire past `coreMemoryLimit`, or null when it is not: at most
 * `coreMemoryLimit` less CORE_BESIDE_FILTERS (128 MiB under the default), as a larger cache, full,
 * grows the core past the limit and the thread then retires after every task, its filters with it —
 * each next task designing them again. The one rule and its one wording: the pool and the CLI each
 * put the name it was given by before it.
 */
export function filterCacheProblem(bytes: number, coreMemoryLimit = CORE_MEMORY_LIMIT): string | null {
  const limit = Math.max(0, coreMemoryLimit - CORE_BESIDE_FILTERS);
  if (bytes <= limit) return null;
  return `must be at most ${sizeText(limit)} (each thread's DSP core holds its filters and ${sizeText(CORE_BESIDE_FILTERS)} beside them, and past ${sizeText(coreMemoryLimit)} retires its thread after every task, filters and all), got ${sizeText(bytes)}`;
}

/** The pool is full, or no worker was free for a task within its time limit: the caller should answer 503 with Retry-After. */
export class PoolBusyError extends Error {
  override name = "PoolBusyError";
  /**
   * @param retryAfterS seconds to wait before asking again, where known (a stats pass refused a
   *   place: when one should be free, TileService); undefined: shortly (Retry-After: 1)
   */
  constructor(message: string, readonly retryAfterS?: number) {
    super(message);
  }
}

/** A task ran on its worker for its whole time limit, `limitMs`, and was stopped. */
export class TaskTimeoutError extends Error {
  override name = "TaskTimeoutError";
  constructor(readonly limitMs: number) {
    super(`the computation ran past its time limit of ${limitMs / 1000} s on a worker and was stopped`);
  }
}

/**
 * What a task submitted to Piscina carries to the pool's load balancer, under
 * Piscina's queueOptionsSymbol (a symbol key: not cloned to the worker): called as a worker takes it.
 */
interface TaskStart {
  started(worker: PoolThread): void;
}

/** What the pool's load balancer sees of a thread (Piscina's PiscinaWorker). */
interface PoolThread {
  readonly id: number;
  readonly currentUsage: number;
}

// Tests run this file from TypeScript sources; worker threads need compiled JavaScript, which
// `npm run build` puts in dist/ (the test command builds first).
export const WORKER_URL = import.meta.url.endsWith(".ts") ? new URL("../../dist/tiles/worker.js", import.meta.url) : new URL("./worker.js", import.meta.url);

// Piscina loads a worker's handler with require() first and falls back to import(). On Node
// 20.19+ require() of this ES module graph (top-level await in engine/wasm.ts) instantiates it
// synchronously before refusing it, and a worker terminated inside that step (a pool closed, a
// task aborted while a replacement loads) aborts the whole process with a V8 fatal error
// ("IsGraphAsync must be used on an instantiated module"). Workers started without require(esm)
// refuse at once and load through import(), which handles termination.
export const WORKER_EXEC_ARGV = process.allowedNodeEnvironmentFlags.has("--no-experimental-require-module")
  ? [...process.execArgv, "--no-experimental-require-module"]
  : process.execArgv;

/** The client of the tasks run for no client in particular (TilePool#run's default): a job worker's, extract's, a library caller's. */
export const POOL_CLIENT = "pool";

export class TilePool {
  private readonly piscina: Piscina;
  /**
   * The tasks waiting for a thread, per client, taken round-robin (FairQueue): the pool hands
   * Piscina a task only when a thread is free for it, so Piscina's own queue (first come, first
   * served) holds none but a task moving to a thread (or one a retired thread passed on).
   */
  private readonly waiting: FairQueue;
  /** Tasks handed to Piscina and not yet answered: at most one per thread. */
  private handedOut = 0;
  /** Resolved once no task waits in the fair queue or holds a place (see close). */
  private readonly idleWaiters: (() => void)[] = [];
  readonly threads: number;
  private readonly taskTimeoutMs: number;
  private readonly leaseMs: number;
  private readonly statsTimeoutMs: number;
  /**
   * The threads endRetired is ending, by id, until they exit: Piscina counts one as free until
   * then, and a task it gave one failed with the thread's end ("worker exited with code: 1").
   */
  private readonly ending = new Set<number>();

  constructor(options: PoolOptions = {}) {
    checkPoolOptions(options);
    this.threads = options.threads ?? availableParallelism();
    this.taskTimeoutMs = options.taskTimeoutMs ?? 60_000;
    this.leaseMs = options.leaseMs ?? 250;
    this.statsTimeoutMs = options.statsTimeoutMs ?? 3_600_000;
    this.piscina = new Piscina({
      filename: workerFileOf(options).href,
      workerData: { wasmModule, coreMemoryLimit: options.coreMemoryLimit ?? CORE_MEMORY_LIMIT, filterCacheBytes: options.filterCacheBytes ?? FILTER_CACHE_BYTES },
      execArgv: WORKER_EXEC_ARGV,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 60_000,
      // Piscina's own choice (one task per worker: a free one), which also tells the task that it
      // runs from now: its time limit counts its run apart from its wait (run).
      loadBalancer: (task, workers) => {
        const free = workers.find((worker) => worker.currentUsage === 0 && !this.ending.has(worker.id)) ?? null;
        if (free) (task[queueOptionsSymbol] as TaskStart | null)?.started(free);
        return free;
      },
    });
    this.waiting = new FairQueue(options.maxClientQueue ?? 16 * this.threads, options.maxQueue ?? 64 * this.threads, POOL_CLIENT);
    // A worker that dies fails its own task (rejected below); Piscina starts a new one.
    this.piscina.on("error", () => {});
  }

  /** Tasks queued, not yet running. */
  get queued(): number {
    return this.waiting.size + this.piscina.queueSize;
  }

  /**
   * Runs `task`; `signal` cancels it (queued: dropped; running: its worker is replaced). So does
   * its time limit, `timeoutMs`, which counts its wait for a worker apart from its run: a task no
   * worker took within `timeoutMs` of this call fails with PoolBusyError (the server is busy:
   * asked again later, it would run), one that ran `timeoutMs` on its worker with
   * TaskTimeoutError (it is too much work: asked again, it would fail again). While every thread
   * is busy it waits in the queue of each of its `clients` (FairQueue: round-robin across clients),
   * refused with PoolBusyError when their backlog or the whole queue is full.
   *
   * @internal WorkerTask is the protocol between the pool, its worker and the tile service, not
   * the library's: the package's declarations leave `run` out (tsconfig.build.json
   * stripInternal); a library caller has `stats` and `frameRangeInto`.
   */
  async run<T>(task: WorkerTask, signal?: AbortSignal, timeoutMs = this.taskTimeoutMs, clients = new TaskClients(POOL_CLIENT)): Promise<T> {
    // A task goes to its worker as it is: parameters that are no object failed there, reading a
    // field of null, naming nothing; a value of the wrong type (text) was computed with.
    checkOptionsObject(task, "a WorkerTask", "task");
    if ("params" in task) {
      checkOptionsObject(task.params, "{ name: value }, as parseParams returns them", "params");
      checkParamTypes(task.params);
    }
    const limit = new AbortController();
    const asked = performance.now();
    const waitAtMost = (ms: number) => setTimeout(() => limit.abort(new PoolBusyError(`no worker was free for the computation within ${timeoutMs / 1000} s: every one was busy`)), ms);
    let timer = waitAtMost(timeoutMs);
    let running = false;
    /** The thread that took the task (the last one, after retired ones). */
    let taker: PoolThread | undefined;
    const start: TaskStart = {
      started: (worker) => {
        if (running) return;
        running = true;
        taker = worker;
        clearTimeout(timer);
        timer = setTimeout(() => limit.abort(new TaskTimeoutError(timeoutMs)), timeoutMs);
      },
    };
    const options = { signal: signal ? AbortSignal.any([signal, limit.signal]) : limit.signal };
    // A copy: the caller's task may be in flight elsewhere (frameRangeInto's leases share one).
    const submitted = { ...task, [queueOptionsSymbol]: start };
    let release: (() => void) | undefined;
    try {
      release = await this.turn(clients, options.signal);
      // A retired worker (worker.ts taskHandler: after a bug, or with its core past coreMemoryLimit
      // and given this task before endRetired could end it) exits as a task reaches it, before any
      // of the task ran: the task runs again on another thread. Each retirement follows another task's end, so the tries go on while the pool gets
      // work done, within the task's wait limit; a bound of one try per thread failed a task that
      // met, in turn, threads retired after large tiles (more than `threads` of them in a row).
      let result: unknown;
      for (;;) {
        try {
          result = await this.piscina.run(submitted, options);
          if (isRetiringAnswer(result)) {
            this.endRetired(taker!);
            result = result.retiringAnswer;
          }
          break;
        } catch (err) {
          if ((err as Error).message !== `worker exited with code: ${RETIRED_EXIT_CODE}`) throw err;
          // The retired worker ran none of it: it waits again, for what is left of its wait (its
          // run counted from then, its wait behind the queue a second time was a TaskTimeoutError).
          running = false;
          clearTimeout(timer);
          timer = waitAtMost(Math.max(0, timeoutMs - (performance.now() - asked)));
        }
      }
      const failure = fromTaskFailure(result);
      if (failure) throw failure;
      return result as T;
    } catch (err) {
      if (limit.signal.aborted) throw limit.signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
      release?.();
    }
  }

  /**
   * Waits for a thread to be free for a task of `clients` — at once when one is and nobody waits,
   * else its turn in the fair queue — and resolves with the release of its place (once answered).
   * `signal` takes it out of the queue, rejecting with its reason.
   * @throws PoolBusyError when the queue refuses it (FairQueue#refusal)
   */
  private turn(clients: TaskClients, signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.handedOut--;
      if (this.handedOut < this.threads) this.waiting.startNext();
      this.settleIdle();
    };
    if (this.handedOut < this.threads && this.waiting.size === 0) {
      this.handedOut++;
      return Promise.resolve(release);
    }
    const refusal = this.waiting.refusal(clients);
    if (refusal) throw new PoolBusyError(refusal);
    return new Promise((resolve, reject) => {
      const leave = () => {
        this.waiting.remove(queued);
        this.settleIdle();
        reject(signal.reason);
      };
      const queued = this.waiting.add(clients, () => {
        signal.removeEventListener("abort", leave);
        this.handedOut++;
        resolve(release);
      });
      signal.addEventListener("abort", leave, { once: true });
    });
  }

  /**
   * Ends `thread`, which answered its last task (a RetiringAnswer: its core is past
   * coreMemoryLimit), so that its memory goes back now; Piscina starts a fresh thread in its place
   * (minThreads). A thread already given another task is left to exit as that task reaches it
   * (RETIRED_EXIT_CODE): ended here, it would fail that task.
   */
  private endRetired(thread: PoolThread): void {
    const worker = this.piscina.threads.find((t) => t.threadId === thread.id);
    if (!worker || thread.currentUsage !== 0) return;
    this.ending.add(thread.id);
    worker.once("exit", () => this.ending.delete(thread.id));
    void worker.terminate();
  }

  /** One stats pass over `task`'s recording (`{ kind: "stats", ...source }`), under the stats time limit, for `clients` (run). */
  stats(task: StatsTask, signal?: AbortSignal, clients?: TaskClients): Promise<StatsResult> {
    return this.run<StatsResult>(task, signal, this.statsTimeoutMs, clients);
  }

  /**
   * Final values (SPEC §3 step 9) of frames [f0, f1) of `source`, clamped to the recording (f1
   * past its end is its last frame), into `output`, a Float32Array over a SharedArrayBuffer of at
   * least bins × (f1 − f0) values: its first bins × (f1 − f0) values become the [bins][f1 − f0]
   * matrix (row 0 = 0 Hz), as `RecordingSpectrogram#frameRange` lays it out, and the rest is left
   * as it was. Resolves to f1 − f0, the frames written. All threads work at once,
   * each worker writing straight into its columns of the shared memory: nothing is copied or
   * transferred back, and a caller that reuses one `output` (sized for its longest range) across
   * calls first-touches no memory (on these
   * machines that costs about as much as the STFT). The range is cut into blocks of at most
   * `blockFrames` (default: the most whole PCEN checkpoint intervals of `recording` that fit in one
   * engine block, ≈ 8 MB of values, milliseconds of work), the last ones shorter so that the
   * threads finish together (`rangeBlocks`); with PCEN every block but the first starts on a
   * checkpoint and replays nothing. One lease
   * per thread claims block after block from a shared counter, so a thread never waits on the
   * main thread between blocks (a task's round trip costs 0.35–0.55 ms here), and a slow thread
   * simply claims fewer; a lease returns after `leaseMs` (PoolOptions) and the next one takes over, which keeps
   * every task far inside the task time limit. `recording` is what `stats` returned for this
   * source. After a failure no more blocks are claimed; the running leases are waited for, then
   * the first failure is thrown.
   */
  async frameRangeInto(source: Source, recording: StatsResult, f0: number, f1: number, output: Float32Array, blockFrames = checkpointBlocks(recording)): Promise<number> {
    const { stats, geometry } = recording;
    [f0, f1] = clampFrameRange(f0, f1, stats.frames);
    if (!(output.buffer instanceof SharedArrayBuffer)) throw new RangeError("output: must be a Float32Array over a SharedArrayBuffer (the workers write into it)");
    const values = geometry.bins * (f1 - f0);
    if (output.length < values) throw new RangeError(`output: needs at least ${values} values ([${geometry.bins} bins][${f1 - f0} frames]), got ${output.length}`);
    checkFramesPerStep("blockFrames", blockFrames);
    // Shared, not cloned into each lease: a long range in short blocks has many.
    const cuts = rangeBlocks(f0, f1, blockFrames, stats.checkpointEvery, this.threads);
    const bounds = new Float64Array(new SharedArrayBuffer(8 * cuts.length));
    bounds.set(cuts);
    const blocks = bounds.length - 1;
    const next = new Int32Array(new SharedArrayBuffer(4));
    // The PCEN checkpoints of the whole range, shared by every lease rather than cloned into
    // each (10 hours of them are megabytes).
    const range = statsForRange(stats, f0, f1);
    const checkpoints = new Float32Array(new SharedArrayBuffer(range.checkpoints.byteLength));
    checkpoints.set(range.checkpoints);
    // The workers see the matrix only: a view of the first values (a view of shared memory crosses to a thread as a view).
    const task = { kind: "columns", ...source, stats: { ...range, checkpoints }, bounds, next, leaseMs: this.leaseMs, output: output.subarray(0, values) } as const;
    const failures: unknown[] = [];
    const lease = async () => {
      while (Atomics.load(next, 0) < blocks) {
        await this.run(task).catch((error: unknown) => {
          failures.push(error);
          Atomics.store(next, 0, blocks); // no more claims
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.threads, blocks) }, lease));
    if (failures.length > 0) throw failures[0];
    return f1 - f0;
  }

  /**
   * Waits for running and queued tasks, then stops the workers. The tasks in the fair queue are
   * not Piscina's yet: handed to it once it closes, Piscina aborted them.
   */
  async close(): Promise<void> {
    if (this.handedOut > 0 || this.waiting.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.piscina.close();
  }

  /** Resolves close's wait once no task waits or runs. */
  private settleIdle(): void {
    if (this.handedOut === 0 && this.waiting.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/** The fields of PoolOptions: a TilePool refuses any other key (checkOptions). */
export const POOL_OPTIONS = [
  "threads", "maxQueue", "maxClientQueue", "taskTimeoutMs", "statsTimeoutMs", "leaseMs", "workerFile", "coreMemoryLimit", "filterCacheBytes",
] as const satisfies readonly (keyof PoolOptions)[];

/**
 * PoolOptions' numbers, checked before a thread starts, naming the option: a NaN or fractional
 * `threads` went to Piscina as it was, 0 became 1 without a word, and a NaN or too long time limit
 * refused every task as busy at once.
 */
function checkPoolOptions(options: PoolOptions): void {
  checkOptions(options, POOL_OPTIONS, "PoolOptions");
  const timeLimit = timerRule();
  checkNumberOptions(options, {
    threads: [(v) => Number.isInteger(v) && v >= 1 && v <= MAX_THREADS, `an integer in [1, ${MAX_THREADS}]`],
    maxQueue: [(v) => Number.isInteger(v) && v >= 0, "an integer ≥ 0"],
    maxClientQueue: [(v) => Number.isInteger(v) && v >= 0, "an integer ≥ 0"],
    taskTimeoutMs: timeLimit,
    statsTimeoutMs: timeLimit,
    leaseMs: [(v) => v >= 0 && Number.isFinite(v), "a number of ms ≥ 0"],
    coreMemoryLimit: [(v) => v >= 0, "a number of bytes ≥ 0 (Infinity: no limit)"],
    filterCacheBytes: [(v) => v >= 0, "a number of bytes ≥ 0 (Infinity: no limit)"],
  } satisfies Partial<Record<keyof PoolOptions, NumberRule>>);
  const filterProblem = options.filterCacheBytes === undefined ? null : filterCacheProblem(options.filterCacheBytes, options.coreMemoryLimit);
  if (filterProblem) throw new RangeError(`filterCacheBytes: ${filterProblem}`);
}

/**
 * PoolOptions.workerFile, checked here: a worker that cannot load fails each task only as a
 * thread takes it, with an error that does not name the option.
 */
function workerFileOf({ workerFile = WORKER_URL }: PoolOptions): URL {
  if (!(workerFile instanceof URL) || workerFile.protocol !== "file:") throw new TypeError(`workerFile: must be a file: URL of a worker module, got ${workerFile instanceof URL ? workerFile.href : describeValue(workerFile)}`);
  if (!existsSync(workerFile)) throw new RangeError(`workerFile: no file at ${fileURLToPath(workerFile)}`);
  return workerFile;
}

/**
 * The blocks frameRangeInto cuts frames [f0, f1) into, as their bounds f0 = b₀ < b₁ < … < b_K = f1
 * (block k is [b_k, b_{k+1})). The first ends on the grid of `blockFrames` from frame 0, and the
 * blocks after it are `blockFrames` long while the threads have at least two each left to claim.
 * Then each is about a 2·`threads`-th of what remains, in whole `unit`s, down to one unit (guided
 * self-scheduling, C. Polychronopoulos and D. Kuck, IEEE Trans. Computers 36(12), 1987): the
 * threads claim blocks in order, so when one finds none left, the others are at most a unit from
 * their end, not up to a whole block (with blocks of 3584 frames, 5–6 ms of 50 here). `unit` is
 * the PCEN checkpoint spacing, so that every block but the first still starts on a checkpoint; a
 * `blockFrames` that is not a multiple of it, or one thread, keeps the plain grid.
 *
 * @param blockFrames the longest block (≥ 1).
 * @param unit the step the last blocks shrink by: the stats' checkpointEvery.
 * @param threads the threads that claim the blocks.
 */
export function rangeBlocks(f0: number, f1: number, blockFrames: number, unit: number, threads: number): number[] {
  const bounds = [f0];
  const guided = threads > 1 && unit < blockFrames && blockFrames % unit === 0;
  let a = f0;
  if (a < f1 && a % blockFrames !== 0) bounds.push((a = Math.min(f1, (Math.floor(a / blockFrames) + 1) * blockFrames)));
  while (a < f1) {
    const share = Math.ceil((f1 - a) / (2 * threads) / unit) * unit;
    bounds.push((a = Math.min(f1, a + (guided ? Math.max(unit, Math.min(blockFrames, share)) : blockFrames))));
  }
  return bounds;
}

/**
 * frameRangeInto's default block: as many whole PCEN checkpoint intervals as one engine block
 * holds, one at least. Blocks that did not start on a checkpoint replayed up to an interval of
 * PCEN each: a pass with PCEN took 26 % longer with the engine block's 4088 frames than with
 * 4096 (checkpoints every 1024 frames then; bench/PERFORMANCE.md).
 */
export function checkpointBlocks({ stats, geometry }: StatsResult): number {
  return stats.checkpointEvery * Math.max(1, Math.floor(defaultBlockFrames(geometry) / stats.checkpointEvery));
}
