// Running the built CLI from tests (`npm test` builds first).
import { execFile } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./golden.js";

/** What one run of `sonotile` gave: its exit code and both streams. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `bin/sonotile.js args` in `cwd` (default the repository), `env` added to this process's
 * environment; killed after `timeout` ms if given (for a command that, wrongly started, would run on).
 */
export function runSonotile(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<CliRun> {
  return new Promise((done) => {
    execFile(process.execPath, [join(ROOT, "bin/sonotile.js"), ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, timeout: options.timeout }, (err, stdout, stderr) => {
      done({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}
