// Running the built CLI from tests (`npm test` builds first).
import { execFile, type ExecFileException } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./golden.js";

/** What one run of `sonotile` gave: its exit code and both streams. */
export interface CliRun {
  /** The exit code; −1 for a process that ended without one (`noExit`). */
  code: number;
  stdout: string;
  stderr: string;
  /** Why it ended without an exit code: the signal that killed it (e.g. at its timeout), or why it could not start. */
  noExit?: string;
}

/**
 * The CliRun of an `execFile` callback. A process killed at its timeout has no exit code
 * (`err.code` null): it is code −1, with the signal — Number(null) read it as 0, a success, so
 * a command that printed its refusal but was killed (under load) before it could exit 2 seemed
 * to have exited 0.
 */
export function cliRun(err: ExecFileException | null, stdout: string, stderr: string): CliRun {
  if (!err) return { code: 0, stdout, stderr };
  return typeof err.code === "number" ? { code: err.code, stdout, stderr } : { code: -1, stdout, stderr, noExit: err.signal ?? err.message };
}

/**
 * Runs `bin/sonotile.js args` in `cwd` (default the repository), `env` added to this process's
 * environment; killed after `timeout` ms if given (for a command that, wrongly started, would run on);
 * as user and group `uid` if given (root's tests of what another user may not do: nobody is 65534).
 */
export function runSonotile(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number; uid?: number } = {}): Promise<CliRun> {
  const user = options.uid === undefined ? {} : { uid: options.uid, gid: options.uid };
  return new Promise((done) => {
    execFile(process.execPath, [join(ROOT, "bin/sonotile.js"), ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, timeout: options.timeout, ...user }, (err, stdout, stderr) => done(cliRun(err, stdout, stderr)));
  });
}
