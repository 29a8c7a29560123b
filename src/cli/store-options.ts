/** What the commands that open the store share: their options, the opening itself, and the clean-up before an import. */
import { delimiter } from "node:path";
import { decimalNumber } from "../audio/decimal.js";
import { storeConfig, type StoreConfig } from "../store/config.js";
import { openDatabase, type Database, type Sql } from "../store/db.js";
import { resolveRoots } from "../store/paths.js";
import { failInterruptedRuns } from "../store/runs.js";
import { UsageError } from "./errors.js";
import type { CommandLine, OptionSpec } from "./flags.js";

/** Options every command that opens the store accepts. */
export const STORE_OPTIONS: readonly OptionSpec[] = [
  { name: "data", placeholder: "DIR", doc: "data directory (embedded database, demo audio); env SONOTILE_DATA; default ./data" },
  // Repeatable: `--audio-root /old --audio-root /new` while a disk is moved kept only /new, and the
  // datasets under /old answered 403 (outside this server's audio roots) without a word at start.
  { name: "audio-root", placeholder: "DIR[:DIR]", repeatable: delimiter, doc: "directories datasets may live in (repeatable); env SONOTILE_AUDIO_ROOTS; default the current directory" },
];

/**
 * The real paths of the audio roots given (`--audio-root`, else SONOTILE_AUDIO_ROOTS, else the
 * current directory: storeConfig): one that does not exist is a bad parameter (exit 2), not input
 * the command could not read.
 */
export async function audioRootsOption(roots: readonly string[]): Promise<string[]> {
  return resolveRoots(roots).catch((err: Error) => {
    throw new UsageError(`--audio-root (or SONOTILE_AUDIO_ROOTS): ${err.message}`);
  });
}

/**
 * Seconds a TCP connection to PostgreSQL may leave a statement unanswered before it is closed as
 * lost (DatabaseOptions.replyLimitS), from SONOTILE_DB_REPLY_LIMIT; undefined (unset or empty):
 * the default. A deployment whose statements may run longer raises it; one behind a NAT that drops
 * connections may lower it.
 */
export function replyLimitOption(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env.SONOTILE_DB_REPLY_LIMIT;
  if (!text) return undefined;
  const seconds = decimalNumber(text);
  if (!(seconds > 0 && Number.isFinite(seconds))) throw new UsageError(`SONOTILE_DB_REPLY_LIMIT: must be a number of seconds > 0 (got '${text}')`);
  return seconds;
}

/** Prints a command's answer on stdout: `value` as one line of JSON under --json, else `text`. */
export type AnswerPrinter = (value: unknown, text: string) => void;

/**
 * The database a command that works on the store (user, token, dataset, jobs, clips) opens as
 * `config` names it, beside a running `serve` on the same embedded data directory (attach), with
 * SONOTILE_DB_REPLY_LIMIT's reply limit; and `out`, the printer of its answer (--json or text).
 * @param cl the command line: its `--json`, and its `--data` where `config` is not given
 * @param options.poolSize connections to open (1 where the embedded server interleaves concurrent ones)
 * @param options.create whether a database that does not exist is made: only by a command that
 *   brings one into use — for the others a wrong --data must not make a new one
 * @param options.config the store's configuration when the command has read it already (its audio
 *   roots too); default the one `--data` gives
 */
export async function openCommandStore(cl: CommandLine, options: { poolSize: number; create: boolean; config?: StoreConfig }): Promise<{ database: Database; out: AnswerPrinter }> {
  const config = options.config ?? storeConfig({ data: cl.options.data as string | undefined });
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, replyLimitS: replyLimitOption(), attach: true, poolSize: options.poolSize, create: options.create });
  const out: AnswerPrinter = (value, text) => process.stdout.write((cl.options.json ? JSON.stringify(value) : text) + "\n");
  return { database, out };
}

/**
 * Ends the runs left `running` by processes killed mid-import (failInterruptedRuns), each
 * reported on stderr after `prefix`: a command that starts imports does this first.
 */
export async function endInterruptedRuns(sql: Sql, prefix: string): Promise<void> {
  for (const run of await failInterruptedRuns(sql)) process.stderr.write(`${prefix}: run ${run.id} (${run.description}) ended as failed: the process carrying it out no longer exists\n`);
}
