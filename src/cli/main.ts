/**
 * `sonotile` — the command-line entry point. Each subcommand lives in `commands/<name>.ts`
 * and exports `command: Command`; this file only dispatches and turns errors into the exit
 * codes and one-line messages of SPEC §8.
 */
import { ParamsError } from "../engine/params.js";
import { VERSION } from "../engine/version.js";
import { EXIT, UsageError } from "./errors.js";
import type { Command } from "./command.js";

/**
 * Each subcommand with its line of `sonotile --help`. The modules load on demand, so that
 * `sonotile info` does not pay for what `serve` imports; hence the summaries live here.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ command: Command }> }> = {
  dataset: { summary: "add a dataset (create + import a directory of recordings) or list datasets", load: () => import("./commands/dataset.js") },
  decode: { summary: "decode a recording to float32 samples (.npy or 32-bit float .wav)", load: () => import("./commands/decode.js") },
  extract: { summary: "acoustic features of recordings (or clips) on all cores, as CSV, .npy or Parquet", load: () => import("./commands/extract.js") },
  info: { summary: "describe a recording: format, rate, channels, duration, MD5, GUANO/bext metadata", load: () => import("./commands/info.js") },
  jobs: { summary: "submit, list, show or abort batch jobs", load: () => import("./commands/jobs.js") },
  serve: { summary: "serve the HTTP API (tiles, metadata) on the configured or embedded database", load: () => import("./commands/serve.js") },
  spectrogram: { summary: "spectrogram of a recording (or a piece of it) as PNG, .npy or .f32", load: () => import("./commands/spectrogram.js") },
  token: { summary: "create, list, disable or enable API tokens", load: () => import("./commands/token.js") },
  worker: { summary: "execute batch-job items from the database's queue", load: () => import("./commands/worker.js") },
};

/** The top-level help: every command with what it does. */
function usage(): string {
  const names = Object.keys(COMMANDS).sort();
  const width = Math.max(...names.map((n) => n.length));
  return [
    "usage: sonotile <command> [options]     (sonotile --version: the version)",
    "",
    "commands:",
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n].summary}`),
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
  if (name === "--version" || name === "-V") {
    process.stdout.write(`sonotile ${VERSION}\n`);
    return EXIT.ok;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`sonotile: unknown command '${name}'\n${usage()}\n`);
    return EXIT.usage;
  }
  try {
    const { command } = await entry.load();
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
