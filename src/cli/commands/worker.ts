/**
 * `sonotile worker` — executes batch-job items (src/jobs/worker.ts) from the pg-boss queue of
 * the database (`DATABASE_URL`; run any number, on any machines sharing it and the audio
 * roots). SIGTERM / SIGINT: stop taking items, finish the ones in hand, exit 0 — or, when the
 * database is gone (refused, or no answer within 10 s), give them up, name them on stderr and
 * exit 1; a worker killed outright loses nothing either — its items return to the queue when their
 * heartbeat lapses.
 */
import { tolerateLostConnections } from "../../store/db.js";
import { storeConfig } from "../../store/config.js";
import { startWorker } from "../../jobs/worker.js";
import type { Command } from "../command.js";
import { openWhenReady } from "../database-wait.js";
import { exitAfterShutdown, stopSignal } from "../shutdown.js";
import { EXIT, UsageError } from "../errors.js";
import { numberOption, optionRows, readCommandLine, threadsOption, type OptionSpec } from "../flags.js";
import { replyLimitOption, STORE_OPTIONS } from "../store-options.js";
import { CACHE_OPTIONS, filterCacheOption } from "../cache-options.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "threads", short: "j", placeholder: "N", doc: "feature threads; default one per core" },
  { name: "poll", placeholder: "S", doc: "seconds between polls of an empty queue (>= 0.5); default 1" },
  ...STORE_OPTIONS.filter((o) => o.name === "data"),
  ...CACHE_OPTIONS.filter((o) => o.name === "filter-cache"),
];

const USAGE = `usage: sonotile worker [options]

Executes the items of batch jobs (submitted with 'sonotile jobs submit' or POST /v1/jobs).
The database is DATABASE_URL (a PostgreSQL any number of workers share); without it, the
embedded database of the data directory, which this worker then owns (no server beside it).
The database must exist ('sonotile serve' or 'sonotile dataset add' creates one).

${optionRows(OPTIONS)}`;

export const command: Command = {
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "worker", takesParams: false });
    if (!cl) return EXIT.ok;
    if (cl.positionals.length) throw new UsageError(`worker takes no arguments (see --help)`);
    const threads = threadsOption(cl.options.threads, "threads");
    const poll = numberOption(cl.options.poll, "poll", (v) => v >= 0.5 && v <= 3600, "a number in [0.5, 3600]");
    const filterCacheBytes = filterCacheOption(cl.options);
    const config = storeConfig({ data: cl.options.data as string | undefined });
    // The embedded database serves its connections as one session and interleaves their
    // protocol messages: a worker there is the database's only client, on one connection.
    // Workers that share a database across processes or machines use DATABASE_URL.
    // It executes jobs submitted to an existing database: a new one would have none, ever.
    tolerateLostConnections((message) => process.stderr.write(`sonotile worker: ${message}\n`));
    // A signal ends the wait for the database (openWhenReady) or, once running, the worker.
    const { signalled, stopped } = stopSignal((signal) => `sonotile worker: ${signal} again: stopped at once, the items in hand not finished; they go back to the queue once their heartbeat lapses, for another worker (or this one restarted) to compute`);
    // On DATABASE_URL it waits for PostgreSQL, the database and the first `serve`'s tables (workers
    // start beside them); a data directory without a database is refused at once.
    const database = await openWhenReady("worker", { url: config.databaseUrl, dataDir: config.dataDir, replyLimitS: replyLimitOption(), poolSize: 4, create: false }, stopped);
    if (!database) return EXIT.ok;
    let worker;
    try {
      worker = await startWorker({ sql: database.sql, threads, pollingIntervalSeconds: poll, filterCacheBytes });
    } catch (err) {
      await database.close();
      throw err;
    }
    process.stdout.write(`sonotile worker ${process.pid} ready (database: ${database.description})\n`);
    const signal = await signalled;
    process.stdout.write(`sonotile worker: ${signal}, finishing the items in hand\n`);
    const notRecorded = await worker.stop();
    await database.close();
    return exitAfterShutdown(notRecorded ? EXIT.input : EXIT.ok);
  },
};
