/**
 * Requests the page keeps making as the user acts — a view's clips as it pans, a recording search
 * as it is typed — of which only the latest counts (LatestRequest), and those it makes as things
 * happen around it — the page shown again — no more often than a few seconds apart (Throttle).
 */
export class LatestRequest {
  readonly #restMs: number;
  #controller: AbortController | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** @param restMs milliseconds without a new call before `later` runs its task: a drag or a typed word asks once. */
  constructor(restMs: number) {
    this.#restMs = restMs;
  }

  /** Runs `task` once no other `later` (or `start`) has come for `restMs`. */
  later(task: () => void) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(task, this.#restMs);
  }

  /**
   * The signal of a new request, which aborts the one in flight and drops the task waiting in
   * `later`: an older answer, however late it comes, never replaces a newer one.
   */
  start(): AbortSignal {
    this.cancel();
    this.#controller = new AbortController();
    return this.#controller.signal;
  }

  /** Aborts the request in flight and drops the task waiting (another recording was opened). */
  cancel() {
    clearTimeout(this.#timer);
    this.#controller?.abort();
    this.#controller = null;
  }
}

/**
 * A task the page runs as often as something happens, but at most once every `intervalMs`: the
 * first call runs it at once, and calls within the interval after a run run it once, at the
 * interval's end (a return to the page sends `visibilitychange` and `focus` both, and a window
 * clicked in and out of sends a `focus` each time).
 */
export class Throttle {
  readonly #intervalMs: number;
  #lastRun = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Runs `task` now, or at the interval's end if it ran less than `intervalMs` ago (once, however many calls came meanwhile). */
  run(task: () => void) {
    if (this.#timer !== undefined) return; // the run waiting covers this call
    const due = () => {
      this.#timer = undefined;
      this.#lastRun = Date.now();
      task();
    };
    const wait = this.#lastRun + this.#intervalMs - Date.now();
    if (wait <= 0) due();
    else this.#timer = setTimeout(due, wait);
  }
}
