/**
 * `sonotile serve` — the HTTP API (SPEC §5) on the configured database: migrations applied,
 * the first admin token shown once on an empty database (printed on a terminal, else written to a
 * file of the data directory: admin-key.ts), optional demo data, listening on
 * 127.0.0.1 unless told otherwise (and then every route needs a token), and a job worker
 * executing submitted batch jobs on a pool of its own (unless --no-worker): with nothing else
 * running, a job submitted to the server — e.g. the viewer's features of a new clip — runs.
 * SIGTERM / SIGINT stop accepting, let in-flight requests and job items finish, and close the
 * database.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { buildApp } from "../../api/app.js";
import { isLoopbackName } from "../../api/plugins/auth.js";
import { allowedOrigins } from "../../api/plugins/cors.js";
import { ensureDemoAudio, ensureDemoDataset } from "../../demo/index.js";
import { storeConfig } from "../../store/config.js";
import { ConflictError } from "../../store/errors.js";
import { redact, tolerateLostConnections } from "../../store/db.js";
import { resolveRoots } from "../../store/paths.js";
import { ensureAdmin } from "../../store/users.js";
import { startWorker, type ExtractWorker } from "../../jobs/worker.js";
import type { Command } from "../command.js";
import { adminKeyLines, deliverAdminKey, type DeliveredAdminKey } from "../admin-key.js";
import { openWhenReady } from "../database-wait.js";
import { exitAfterShutdown, stopSignal } from "../shutdown.js";
import { audioRootsOption, endInterruptedRuns, replyLimitOption, STORE_OPTIONS } from "../store-options.js";
import { EXIT, UsageError } from "../errors.js";
import { numberOption, optionRows, readCommandLine, threadsOption, type OptionSpec } from "../flags.js";
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from "../../api/connection-limits.js";
import { CACHE_OPTIONS, cacheOptions, statsStoreLimitOption } from "../cache-options.js";
import { TileService } from "../../tiles/service.js";
import { tileStatsStore } from "../../api/tile-stats.js";
import { plural, sizeText } from "../../audio/types.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "host", placeholder: "ADDR", doc: "address to listen on; default 127.0.0.1 (beyond loopback, every route needs a token)" },
  { name: "port", placeholder: "N", doc: "TCP port; default 8000 (0: any free port)" },
  { name: "threads", short: "j", placeholder: "N", doc: "worker threads computing tiles, 1 to 1024; default one per core" },
  { name: "no-worker", boolean: true, doc: "execute no batch jobs here, leaving them to 'sonotile worker' processes (by default serve runs a job worker)" },
  { name: "worker-threads", placeholder: "N", doc: "threads of the job worker's own pool, 1 to 1024; default half the cores (at least 1)" },
  ...CACHE_OPTIONS,
  { name: "cors-origin", repeatable: ",", placeholder: "URL[,URL]", doc: "origins (scheme://host[:port]) whose web pages may call the API, e.g. a front end's dev server http://localhost:5173; '*' for any, only beyond loopback; env SONOTILE_CORS_ORIGINS; default none" },
  ...STORE_OPTIONS,
  { name: "header-timeout", placeholder: "S", doc: "seconds a client may take to send a request's headers (then 408, closed), 0.1 to 3600; default 20" },
  { name: "request-timeout", placeholder: "S", doc: "seconds a client may take to send a whole request, body included, at least --header-timeout, up to 3600; default 60" },
  { name: "keep-alive-timeout", placeholder: "S", doc: "seconds an idle connection stays open between requests, 0.1 to 3600 (above a load balancer's own idle timeout); default 5" },
  { name: "max-connections", placeholder: "N", doc: "connections open at once, 1 to 1000000; further ones are closed as they arrive; default 1024" },
  { name: "demo", boolean: true, doc: "generate the synthetic demo recordings on first start and register them in dataset 'demo'" },
];

const USAGE = `usage: sonotile serve [options]

Serves the HTTP API (docs at /docs) and the viewer (at /), and executes submitted batch jobs
on a job worker of its own unless --no-worker. The database is DATABASE_URL if set, else an
embedded PostgreSQL in the data directory. With --verbose it also logs every request as a JSON
line (method, URL, client address, status, time; never a header).

${optionRows(OPTIONS)}`;

/**
 * The banner's first lines: where the server listens and a URL that reaches it from this machine.
 * Fastify answers `listen` with one address; for a wildcard host that is a loopback URL, which
 * alone would read as "listening on loopback only" while every interface is open.
 */
function listeningLines(host: string, address: string): string[] {
  const urls = `(viewer: ${address}/, API docs: ${address}/docs)`;
  if (isLoopbackName(host)) return [`sonotile serving on ${address}  ${urls}`];
  const wildcard = host === "0.0.0.0" || host === "::";
  const where = wildcard ? `every interface (--host ${host}), port ${new URL(address).port}` : address;
  return [`sonotile serving on ${where}: every route needs a token`, `  from this machine: ${address}  ${urls}`];
}

function portOption(text: string | true | undefined): number {
  return numberOption(text, "port", (v) => Number.isInteger(v) && v >= 0 && v <= 65535, "an integer in [0, 65535]") ?? 8000;
}

/**
 * The origins whose web pages may call the API (CORS, api/plugins/cors.ts): `--cors-origin`
 * (comma-separated, or repeated), else SONOTILE_CORS_ORIGINS (comma-separated); none when neither
 * is given. Read as the app reads them (as browsers send them; `*` only where
 * `requireAuthForReads`); a problem is a usage error naming where the origins were given.
 */
function corsOriginsOption(flag: string | true | undefined, env: string | undefined, requireAuthForReads: boolean): string[] {
  const [where, text] = flag !== undefined ? ["--cors-origin", String(flag)] : ["SONOTILE_CORS_ORIGINS", env || undefined];
  if (text === undefined) return [];
  const given = text.split(",").map((o) => o.trim()).filter(Boolean);
  if (!given.length) throw new UsageError(`${where}: names no origin (scheme://host[:port], e.g. http://localhost:5173)`);
  const checked = allowedOrigins(given, requireAuthForReads);
  if ("problem" in checked) throw new UsageError(`${where}: ${checked.problem}`);
  return checked.origins;
}

/**
 * A line for the banner when glibc's malloc runs with its default arenas (up to 8 per core): the
 * threads' arenas held 250–350 MB more than with MALLOC_ARENA_MAX=2 under the same load (README,
 * "How much memory a server needs"). The server does not set it: glibc reads it once, at the
 * process's start, and a parent re-spawning the server with it would stand between the server and
 * its signals (a Ctrl-C reaches both, and a second SIGINT forwarded to the server would end it in
 * the middle of its shutdown: stopSignal listens once) and its pid (the data directory's lock,
 * systemd's main pid), for 44 MB of its own.
 */
function mallocArenaHint(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.MALLOC_ARENA_MAX || /glibc\.malloc\.arena_max/.test(env.GLIBC_TUNABLES ?? "")) return null;
  const { glibcVersionRuntime } = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header;
  if (!glibcVersionRuntime) return null; // another C library: the variable means nothing to it
  return "malloc: MALLOC_ARENA_MAX is unset — start the server with MALLOC_ARENA_MAX=2 to keep 250–350 MB less resident (README: How much memory a server needs)";
}

/**
 * The connection limits of the `--header-timeout`, `--request-timeout`, `--keep-alive-timeout` and
 * `--max-connections` flags given (buildApp's connectionLimitsOf takes the defaults for the others),
 * in whole ms, as Node takes them: `--header-timeout 1.1` was 1100.0000000000002 ms, which Node
 * refused once the database was open (exit 1). A request's time includes its headers', so it is
 * never shorter (Node refuses such a server).
 */
function connectionLimitsOptions(options: Record<string, string | true>): Partial<ConnectionLimits> {
  const ms = (flag: string) => {
    const seconds = numberOption(options[flag], flag, (v) => v >= 0.1 && v <= 3600, "a number of seconds from 0.1 to 3600");
    return seconds === undefined ? undefined : Math.round(seconds * 1000);
  };
  const headersTimeoutMs = ms("header-timeout");
  const requestTimeoutMs = ms("request-timeout");
  const headers = headersTimeoutMs ?? DEFAULT_CONNECTION_LIMITS.headersTimeoutMs;
  if (requestTimeoutMs !== undefined && requestTimeoutMs < headers) throw new UsageError(`--request-timeout: must be at least the header timeout (${headers / 1000} s): a request's time includes its headers', got '${options["request-timeout"]}'`);
  const keepAliveTimeoutMs = ms("keep-alive-timeout");
  const maxConnections = numberOption(options["max-connections"], "max-connections", (v) => Number.isInteger(v) && v >= 1 && v <= 1_000_000, "an integer in [1, 1000000]");
  return { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, maxConnections };
}

export const command: Command = {
  async run(args, { verbose } = { verbose: false }) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "serve", takesParams: false });
    if (!cl) return EXIT.ok;
    if (cl.positionals.length) throw new UsageError(`serve takes no arguments (see --help)`);
    const host = typeof cl.options.host === "string" ? cl.options.host : "127.0.0.1";
    const port = portOption(cl.options.port);
    const runWorker = !cl.options["no-worker"];
    const requireAuthForReads = !isLoopbackName(host);
    // Every option is checked before anything is made: the demo audio, the data directory, a new
    // database and the admin token it prints.
    const threads = threadsOption(cl.options.threads, "threads");
    const workerThreads = threadsOption(cl.options["worker-threads"], "worker-threads") ?? Math.max(1, Math.floor(availableParallelism() / 2));
    const corsOrigins = corsOriginsOption(cl.options["cors-origin"], process.env.SONOTILE_CORS_ORIGINS, requireAuthForReads);
    const caches = cacheOptions(cl.options);
    const statsStoreLimit = statsStoreLimitOption(cl.options);
    const connectionLimits = connectionLimitsOptions(cl.options);
    const config = storeConfig({ data: cl.options.data as string | undefined, audioRoot: cl.options["audio-root"] as string | undefined });
    const audioRoots = await audioRootsOption(config.audioRoots);
    const demoDir = join(config.dataDir, "demo-audio");
    if (cl.options.demo) {
      await ensureDemoAudio(demoDir);
      audioRoots.push(...(await resolveRoots([demoDir])));
    }

    tolerateLostConnections((message) => process.stderr.write(`sonotile: ${message}\n`));
    // A signal ends the wait for the database (openWhenReady) or, once serving, the server.
    const { signalled, stopped } = stopSignal((signal) => `sonotile serve: ${signal} again: stopped at once, requests in flight cut off${runWorker ? "; the job items in hand go back to the queue once their heartbeat lapses, for a worker (or this server restarted) to compute" : ""}`);
    // On DATABASE_URL it waits for PostgreSQL to accept connections (started beside it in a
    // compose file or a pod). (On the embedded database everything shares one connection: see openDatabase.)
    // Each step of the start on stderr as it begins: it took a minute on a loaded machine
    // (database, migrations, tile threads), with nothing printed, read as hung. Stdout keeps its
    // banner, which scripts read.
    const starting = (step: string) => process.stderr.write(`sonotile serve: ${step}\n`);
    if (config.databaseUrl) starting(`connecting to ${redact(config.databaseUrl)}`);
    const database = await openWhenReady("serve", { url: config.databaseUrl, dataDir: config.dataDir, replyLimitS: replyLimitOption(), onProgress: starting }, stopped);
    if (!database) return EXIT.ok;
    let app;
    let tiles: TileService | undefined;
    let worker: ExtractWorker | undefined;
    let admin: DeliveredAdminKey | null = null;
    let printed = false;
    try {
      const first = await ensureAdmin(database.sql);
      // At once: a start that fails later still leaves the key where it said.
      if (first) admin = await deliverAdminKey(first.key, config.dataDir);
      await endInterruptedRuns(database.sql, "sonotile");
      if (cl.options.demo) {
        await ensureDemoDataset(database.sql, audioRoots.at(-1)!, null).catch((err: unknown) => {
          // A dataset of the user's holds the demo's directory (the data directory inside a
          // dataset's): the demo files are that dataset's to register, and the server starts
          // without a dataset of its own for them rather than not at all.
          if (!(err instanceof ConflictError)) throw err;
          process.stderr.write(`sonotile serve: the demo recordings are not registered as dataset "demo": ${err.message}\n`);
        }); // the demo's root, added last
      }
      tiles = new TileService({ threads, statsStore: tileStatsStore(database.sql, { limitBytes: statsStoreLimit }), ...caches });
      starting(`starting ${plural(tiles.pool.threads, "tile thread")}`);
      starting("setting up the HTTP API");
      app = await buildApp({
        database,
        audioRoots,
        tiles,
        requireAuthForReads,
        corsOrigins,
        connectionLimits,
        // From main, which takes --verbose out of the arguments: cl.options never has it.
        logger: verbose ? true : { level: "warn" },
      });
      if (runWorker) {
        starting(`starting the job worker on ${plural(workerThreads, "thread")}`);
        // Its outages are said with the API's, once: each said them apart, in two lines more.
        worker = await startWorker({ sql: database.sql, threads: workerThreads, filterCacheBytes: caches.filterCacheBytes, outage: app.databaseOutage });
      }
      const address = await app.listen({ host, port });
      const lines = [
        ...listeningLines(host, address),
        `database: ${database.description}`,
        `audio roots: ${audioRoots.join(", ")}`,
        `batch jobs: ${runWorker ? `executed here on ${workerThreads} thread(s)` : "left to 'sonotile worker' processes (--no-worker)"}`,
        `caches: tiles ${sizeText(caches.cacheBytes)}, recording stats ${sizeText(caches.statsCacheBytes)}, resampling filters ${sizeText(caches.filterCacheBytes)} per thread`,
        `recording stats stored in the database: at most ${sizeText(statsStoreLimit)} (the least recently used removed first)`,
      ];
      const arenaHint = mallocArenaHint();
      if (arenaHint) lines.push(arenaHint);
      if (corsOrigins.length) lines.push(`web pages that may call the API (CORS): ${corsOrigins[0] === "*" ? "any origin's" : corsOrigins.join(", ")}`);
      if (admin) lines.push("", ...adminKeyLines(admin, address));
      process.stdout.write(lines.join("\n") + "\n");
      printed = true;
    } catch (err) {
      // The new database's admin token is shown now or never: a later start finds an admin.
      if (admin && !printed && !admin.to.print) process.stderr.write(`sonotile serve: the new database's admin token, created before the start failed, is in ${admin.to.path}\n`);
      else if (admin && !printed) process.stderr.write(`sonotile serve: the new database's admin token, created before the start failed (shown once — store it now): ${admin.key}\n`);
      await app?.close();
      await worker?.stop();
      await tiles?.close();
      await database.close();
      throw err;
    }

    // Stop on the first signal: finish in-flight requests (app.close), then the database.
    const running = app;
    process.stdout.write(`sonotile: ${await signalled}, shutting down\n`);
    // In-flight requests finish (app.close waits for them), then the job items in hand, then
    // the pool drains its tasks. Whatever fails on the way, the rest is still released: a close
    // that gave up left the pool's threads and the database's connections holding the process.
    let failed = false;
    // Job items the worker could not record (it named them) fail the shutdown too.
    const stopWorker = async () => {
      if (await worker?.stop()) failed = true;
    };
    for (const [what, step] of [["closing the server", () => running.close()], ["stopping the job worker", stopWorker], ["closing the tile pool", () => tiles!.close()], ["closing the database", () => database.close()]] as const) {
      await Promise.resolve(step()).catch((err: Error) => {
        failed = true;
        process.stderr.write(`sonotile: ${what} failed: ${err.message}\n`);
      });
    }
    return exitAfterShutdown(failed ? EXIT.input : EXIT.ok);
  },
};
