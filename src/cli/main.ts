/**
 * `sonotile` — the command-line entry point. Each subcommand lives in `commands/<name>.ts`
 * and exports `command: Command`; this file only dispatches and turns errors into the exit
 * codes and one-line messages of SPEC §8.
 */
import { ParamsError } from "../engine/params.js";
import { EXIT, UsageError } from "./errors.js";
import type { Command } from "./command.js";

// Loaded on demand so that `sonotile info` does not pay for what `serve` imports.
const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  dataset: () => import("./commands/dataset.js"),
  decode: () => import("./commands/decode.js"),
  extract: () => import("./commands/extract.js"),
  info: () => import("./commands/info.js"),
  jobs: () => import("./commands/jobs.js"),
  serve: () => import("./commands/serve.js"),
  spectrogram: () => import("./commands/spectrogram.js"),
  token: () => import("./commands/token.js"),
  worker: () => import("./commands/worker.js"),
};

function usage(): string {
  const names = Object.keys(COMMANDS).sort();
  return [
    "usage: sonotile <command> [options]",
    "",
    "commands:",
    ...names.map((n) => `  ${n}`),
    "",
    "Run `sonotile <command> --help` for a command's options; add --verbose for stack traces.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes("--verbose");
  const args = argv.filter((a) => a !== "--verbose");
  const name = args[0];
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage() + "\n");
    return name ? EXIT.ok : EXIT.usage;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`sonotile: unknown command '${name}'\n${usage()}\n`);
    return EXIT.usage;
  }
  try {
    const { command } = await load();
    return await command.run(args.slice(1));
  } catch (err) {
    const e = err as Error & { exitCode?: number };
    const code = e instanceof UsageError || e instanceof ParamsError ? EXIT.usage : (e.exitCode ?? EXIT.input);
    process.stderr.write(`sonotile ${name}: ${e.message}\n`);
    if (verbose && e.stack) process.stderr.write(e.stack + "\n");
    return code;
  }
}

process.exitCode = await main(process.argv.slice(2));
