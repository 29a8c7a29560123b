/**
 * `sonotile` — the command-line entry point. Each subcommand lives in `commands/<name>.ts`
 * and exports `command: Command`; this file only dispatches and turns errors into the exit
 * codes and one-line messages of SPEC §8.
 */
import { ParamsError } from "../engine/params.js";
import { VERSION } from "../engine/version.js";
import { EXIT, UsageError } from "./errors.js";
import { inlineBoolean, refuseValueAfter } from "./flags.js";
import type { Command } from "./command.js";

/**
 * Each subcommand with its line of `sonotile --help`. The modules load on demand, so that
 * `sonotile info` does not pay for what `serve` imports; hence the summaries live here.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ command: Command }> }> = {
  clips: { summary: "import clips from a Raven selection table or Audacity labels, or export them as a Raven table or CSV", load: () => import("./commands/clips.js") },
  database: { summary: "copy the embedded database into an empty real PostgreSQL (the move to a shared server)", load: () => import("./commands/database.js") },
  dataset: { summary: "add a dataset (create + import a directory of recordings), scan or refresh one, list datasets, or read recordings' facts again", load: () => import("./commands/dataset.js") },
  decode: { summary: "decode a recording to float32 samples (.npy or 32-bit float .wav)", load: () => import("./commands/decode.js") },
  extract: { summary: "acoustic features of recordings (or clips) on all cores, as CSV, .npy or Parquet", load: () => import("./commands/extract.js") },
  info: { summary: "describe a recording: format, rate, channels, duration, MD5, GUANO/bext metadata", load: () => import("./commands/info.js") },
  jobs: { summary: "submit, list, show, abort or retry batch jobs, or download their artifacts", load: () => import("./commands/jobs.js") },
  recordings: { summary: "list recordings as TSV or JSON lines (the API's filters and sorts), or tag or untag every recording of a selection at once", load: () => import("./commands/recordings.js") },
  serve: { summary: "serve the HTTP API (tiles, metadata) on the configured or embedded database", load: () => import("./commands/serve.js") },
  spectrogram: { summary: "spectrogram of a recording (or a piece of it) as PNG, .npy or .f32", load: () => import("./commands/spectrogram.js") },
  token: { summary: "create, list, disable or enable API tokens", load: () => import("./commands/token.js") },
  user: { summary: "list users, or delete one (their tokens go, what they made stays)", load: () => import("./commands/user.js") },
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

/** The command closest to a mistyped `name` (at most two edits away), if any. */
function closestCommand(name: string): string | undefined {
  const distance = (a: string, b: string) => {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const next = [i];
      for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      row = next;
    }
    return row[b.length];
  };
  return Object.keys(COMMANDS).map((c) => ({ c, d: distance(name, c) })).filter((x) => x.d <= 2).sort((x, y) => x.d - y.d)[0]?.c;
}

/**
 * Standard output that cannot be written: a reader that went away (`| head`) ends the run quietly,
 * as in other command-line tools; any other failure (a full disk, /dev/full) is one line and exit 1.
 * Unhandled, the stream's 'error' event was a Node stack trace.
 */
function watchStdout(): void {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") process.stderr.write(`sonotile: cannot write to standard output: ${err.code ?? err.message}\n`);
    process.exit(err.code === "EPIPE" ? EXIT.ok : EXIT.input);
  });
}

/**
 * `--verbose` taken out of the arguments: an option wherever it stands before `--` (after it, a
 * file named --verbose), given as every boolean flag is — `--verbose`, or `--verbose=yes|no`, the
 * last one counting; yes/no text after it is refused as after any (flags.ts refuseValueAfter).
 */
function takeVerbose(argv: readonly string[]): { verbose: boolean; args: string[] } {
  const end = argv.includes("--") ? argv.indexOf("--") : argv.length;
  let verbose = false;
  const args: string[] = [];
  for (let i = 0; i < end; i++) {
    const arg = argv[i];
    if (arg === "--verbose") {
      refuseValueAfter(arg, argv[i + 1]);
      verbose = true;
    } else if (arg.startsWith("--verbose=")) verbose = inlineBoolean("--verbose", arg.slice("--verbose=".length));
    else args.push(arg);
  }
  return { verbose, args: [...args, ...argv.slice(end)] };
}

export async function main(argv: string[]): Promise<number> {
  watchStdout();
  let taken: ReturnType<typeof takeVerbose>;
  try {
    taken = takeVerbose(argv);
  } catch (err) {
    process.stderr.write(`sonotile: ${(err as Error).message}\n`);
    return EXIT.usage;
  }
  const { verbose, args } = taken;
  // `sonotile help spectrogram` is `sonotile spectrogram --help`; a word after the command's name
  // is refused rather than dropped (every command's help already covers its actions).
  if (args[0] === "help" && args.length > 2) {
    process.stderr.write(`sonotile help: expected one command, got '${args.slice(1).join(" ")}'; sonotile help <command> shows its options\n`);
    return EXIT.usage;
  }
  if (args[0] === "help" && args.length > 1) args.splice(0, 2, args[1], "--help");
  const name = args[0];
  if (!name) {
    // Nothing asked: a usage error, so the usage goes where errors go.
    process.stderr.write(usage() + "\n");
    return EXIT.usage;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage() + "\n");
    return EXIT.ok;
  }
  if (name === "--version" || name === "-V") {
    process.stdout.write(`sonotile ${VERSION}\n`);
    return EXIT.ok;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    const guess = closestCommand(name);
    process.stderr.write(`sonotile: unknown command '${name}'${guess ? ` (did you mean ${guess}?)` : ""}; sonotile --help lists the commands\n`);
    return EXIT.usage;
  }
  try {
    const { command } = await entry.load();
    return await command.run(args.slice(1), { verbose });
  } catch (err) {
    const e = err as Error & { exitCode?: number };
    const code = e instanceof UsageError || e instanceof ParamsError ? EXIT.usage : (e.exitCode ?? EXIT.input);
    process.stderr.write(`sonotile ${name}: ${e.message}\n`);
    if (verbose && e.stack) process.stderr.write(e.stack + "\n");
    return code;
  }
}

process.exitCode = await main(process.argv.slice(2));
