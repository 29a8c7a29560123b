/**
 * The shutdown of `serve` and `worker` (src/cli/shutdown.ts): the first SIGTERM or SIGINT starts
 * it; the same signal again ends the process at once, by that signal, saying so in one line.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "./golden.js";

it("the same signal again during the shutdown ends the process at once, by it, with the command's line on stderr — it died without a word", async () => {
  // A shutdown that never ends (a drain waiting on a client), after the line the commands print as they begin it.
  const script = `import { stopSignal } from ${JSON.stringify(join(ROOT, "dist/cli/shutdown.js"))};
    const { signalled } = stopSignal((signal) => "sonotile test: " + signal + " again: stopped at once");
    setInterval(() => {}, 1000);
    process.stdout.write("listening\\n");
    process.stdout.write((await signalled) + ", shutting down\\n");`;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on("close", (code, sig) => done([code, sig])));
    const saying = (text: string) => new Promise<void>((said) => {
      const look = () => (stdout.includes(text) ? said() : child.stdout.once("data", () => setImmediate(look)));
      look();
    });
    try {
      await saying("listening\n");
      child.kill(signal);
      await saying(`${signal}, shutting down\n`);
      child.kill(signal);
      expect(await exited, signal).toEqual([null, signal]);
      expect(stderr).toBe(`sonotile test: ${signal} again: stopped at once\n`);
    } finally {
      child.kill("SIGKILL");
    }
  }
}, 60_000);
