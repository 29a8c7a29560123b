/**
 * The worker pool (Piscina): one thread per core by default, each with its own instance of
 * the DSP core compiled once here. Tasks are whole tiles or stats passes — milliseconds of
 * work each, so the 0.1–0.2 ms dispatch cost stays small — and results are transferred.
 */
import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import { wasmModule } from "../engine/wasm.js";
import { AudioFormatError } from "../audio/types.js";
import type { AudioFailure, StatsResult, WorkerTask } from "./worker.js";

export interface PoolOptions {
  /** Worker threads (default: one per core). */
  threads?: number;
  /** Tasks waiting beyond the running ones before new work is refused (default 64 per thread). */
  maxQueue?: number;
  /** A task running longer than this is aborted and its worker replaced (default 60 s). */
  taskTimeoutMs?: number;
  /**
   * The limit for a stats pass instead (default 1 h): it reads the whole recording once per
   * parameter set — about a minute for 10 hours at 48 kHz, more at bat rates.
   */
  statsTimeoutMs?: number;
}

/** The pool is full: the caller should answer 503 with Retry-After. */
export class PoolBusyError extends Error {
  override name = "PoolBusyError";
}

/** A task ran past its time limit and was stopped. */
export class TaskTimeoutError extends Error {
  override name = "TaskTimeoutError";
}

// Tests run this file from TypeScript sources; worker threads need compiled JavaScript, which
// `npm run build` puts in dist/ (the test command builds first).
const WORKER_URL = import.meta.url.endsWith(".ts") ? new URL("../../dist/tiles/worker.js", import.meta.url) : new URL("./worker.js", import.meta.url);

export class TilePool {
  private readonly piscina: Piscina;
  readonly threads: number;
  private readonly taskTimeoutMs: number;
  private readonly statsTimeoutMs: number;

  constructor(options: PoolOptions = {}) {
    this.threads = Math.max(1, options.threads ?? availableParallelism());
    this.taskTimeoutMs = options.taskTimeoutMs ?? 60_000;
    this.statsTimeoutMs = options.statsTimeoutMs ?? 3_600_000;
    this.piscina = new Piscina({
      filename: WORKER_URL.href,
      workerData: { wasmModule },
      minThreads: this.threads,
      maxThreads: this.threads,
      maxQueue: options.maxQueue ?? 64 * this.threads,
      idleTimeout: 60_000,
    });
    // A worker that dies fails its own task (rejected below); Piscina starts a new one.
    this.piscina.on("error", () => {});
  }

  /** Tasks queued, not yet running. */
  get queued(): number {
    return this.piscina.queueSize;
  }

  /**
   * Runs `task`; `signal` cancels it (queued: dropped; running: its worker is replaced), as does
   * running longer than `timeoutMs`.
   */
  async run<T>(task: WorkerTask, signal?: AbortSignal, timeoutMs = this.taskTimeoutMs): Promise<T> {
    if (this.piscina.queueSize >= this.piscina.options.maxQueue) throw new PoolBusyError("all workers are busy and the queue is full");
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      const result = await this.piscina.run(task, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      if (isAudioFailure(result)) throw new AudioFormatError(result.audioFailure);
      return result;
    } catch (err) {
      if (timeout.aborted) throw new TaskTimeoutError(`the computation took longer than ${timeoutMs / 1000} s and was stopped`);
      throw err;
    }
  }

  stats(task: Extract<WorkerTask, { kind: "stats" }>): Promise<StatsResult> {
    return this.run<StatsResult>(task, undefined, this.statsTimeoutMs);
  }

  /** Waits for running and queued tasks, then stops the workers. */
  async close(): Promise<void> {
    await this.piscina.close();
  }
}

function isAudioFailure(result: unknown): result is AudioFailure {
  return typeof result === "object" && result !== null && typeof (result as AudioFailure).audioFailure === "string";
}
