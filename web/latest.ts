/**
 * Requests the page keeps making as the user acts — a view's clips as it pans, a recording search
 * as it is typed — of which only the latest counts (LatestRequest).
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
