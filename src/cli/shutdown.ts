/**
 * The start and the end of a long-running command's shutdown (`serve`, `worker`): the signal that
 * asks for it, and the exit once it has finished.
 */
import { endBySignal } from "./output-file.js";

/**
 * The first SIGTERM or SIGINT, listened for from the command's start: `stopped` aborts at once,
 * ending a wait for the database (openWhenReady), and `signalled` resolves with the signal for the
 * command to shut down once it is running. The same signal again (Ctrl-C twice) ends the process
 * at once, by that signal, as it did — after one line on stderr, `forcedStop`'s: the process died
 * without a word, what it cut short unsaid. (The other signal is listened for once too: SIGTERM
 * then Ctrl-C, the shutdown goes on.)
 * @param forcedStop the line said on a forced stop, without its newline: what was cut short, and what becomes of it
 */
export function stopSignal(forcedStop: (signal: NodeJS.Signals) => string): { signalled: Promise<NodeJS.Signals>; stopped: AbortSignal } {
  const stop = new AbortController();
  const signalled = new Promise<NodeJS.Signals>((resolveStop) => {
    const on = (signal: NodeJS.Signals) => {
      resolveStop(signal);
      stop.abort();
      process.once(signal, (again: NodeJS.Signals) => {
        process.stderr.write(`${forcedStop(again)}\n`);
        endBySignal(again);
      });
    };
    process.once("SIGTERM", on);
    process.once("SIGINT", on);
  });
  return { signalled, stopped: stop.signal };
}

/**
 * Milliseconds the process is given to exit by itself after its shutdown steps. A library can
 * leave a handle open past its own close: postgres.js re-opened a connection after `end()` when a
 * connection attempt was waiting out its pause at the time (its reconnect timer is not cancelled),
 * and with no idle timeout that connection held `sonotile worker` for ever once the database was
 * back — SIGTERM during an outage never ended it (an audit).
 */
const EXIT_GRACE_MS = 2000;

/**
 * Returns `code` for the command to exit with, and makes sure the process does exit with it: if
 * anything still holds the event loop EXIT_GRACE_MS later, the process exits then, once what it
 * wrote to stdout and stderr has been handed to the system (nothing cut). The timer is unref'd:
 * a process that is free to exit exits at once.
 */
export function exitAfterShutdown(code: number): number {
  setTimeout(() => {
    process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
  }, EXIT_GRACE_MS).unref();
  return code;
}
