/**
 * The database of a long-running command (`serve`, `worker`) on DATABASE_URL, waited for: in a
 * compose file or a Kubernetes pod PostgreSQL starts beside them, and a command that found no
 * server yet exited at once (`serve`: `connect ECONNREFUSED 127.0.0.1:5433`, no word of the
 * database), leaving the stack without it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { isConnectionError, openDatabase, redact, type Database, type DatabaseOptions } from "../store/db.js";
import { NoDatabaseError } from "../store/errors.js";

/** How long a command on DATABASE_URL waits for its database (a server, the database, sonotile's tables). */
const DATABASE_WAIT_MS = 120_000;

/** Why a PostgreSQL is not ready yet — not there, not created, not migrated — or null. */
function notReady(err: unknown): string | null {
  // invalid_catalog_name, as postgres.js throws it or as openDatabase words it (NoDatabaseError, its cause).
  if ((err as { code?: unknown }).code === "3D000" || ((err as { cause?: { code?: unknown } }).cause?.code === "3D000")) return "does not exist yet";
  if (err instanceof NoDatabaseError) return "has no sonotile tables yet";
  if (isConnectionError(err)) return `cannot be reached yet (${(err as { code: string }).code})`;
  return null;
}

/**
 * openDatabase(`options`); a PostgreSQL (`options.url`) that is not ready yet (notReady) is asked
 * again every second for DATABASE_WAIT_MS, `command` saying so once on stderr, before it is
 * refused. An embedded database is opened once: no server makes one appear while a command waits
 * (a data directory without one is a mistyped --data). `stopped` ends the wait: null.
 */
export async function openWhenReady(command: string, options: DatabaseOptions, stopped: AbortSignal): Promise<Database | null> {
  const until = Date.now() + DATABASE_WAIT_MS;
  for (let said = false; ; said = true) {
    try {
      return await openDatabase(options);
    } catch (err) {
      const why = notReady(err);
      if (!options.url || !why || Date.now() >= until) throw err;
      const tables = options.create === false ? " (and for `sonotile serve` to create sonotile's tables)" : "";
      if (!said) process.stderr.write(`sonotile ${command}: ${redact(options.url)} ${why}: waiting up to ${DATABASE_WAIT_MS / 1000} s for it${tables}\n`);
      if (await sleep(1000, false, { signal: stopped }).catch(() => true)) return null;
    }
  }
}
