/**
 * How a worker hears of items queued since its last poll, so that it takes them at once rather
 * than at its next poll: pg-boss's workers fetch again only after `pollingIntervalSeconds` once a
 * fetch comes back short of a full batch (an idle queue, the last items of a job), unless they are
 * woken (`Worker.notify`) — a job's first items waited up to a polling interval for an idle worker,
 * and a job submitted while a worker computed the last items of another waited as long after them.
 *
 * Two ways, one per reach:
 * - across processes and machines, PostgreSQL's LISTEN/NOTIFY: pg-boss sends a NOTIFY with each
 *   insert into a queue created with `notify` and wakes its workers when one arrives on the
 *   connection its adapter's `listen` opens (listenForQueue). The embedded database (PGlite) does
 *   not deliver notifications to its socket clients: there, and when the listening connection is
 *   lost, workers poll as before;
 * - within a process (`sonotile serve` and its own worker, on any database), an event after each
 *   submission commits (announceItemsQueued, onItemsQueued).
 * Polling stays the floor: items returned by pg-boss itself (a retry, a dead worker's items) are
 * taken at the next poll, every `pollingIntervalSeconds`.
 */
import { EventEmitter } from "node:events";
import postgres from "postgres";
import type { Sql } from "../store/db.js";

const queued = new EventEmitter();

/** Tells this process's workers that items were queued (a submission committed). */
export function announceItemsQueued(): void {
  queued.emit("items");
}

/** Calls `wake` whenever this process queues items (announceItemsQueued); returns the function that stops it. */
export function onItemsQueued(wake: () => void): () => void {
  queued.on("items", wake);
  return () => queued.off("items", wake);
}

/** Whether `sql` reaches PGlite, whose socket clients get no notifications (LISTEN succeeds, nothing arrives). */
export async function deliversNotifications(sql: Sql): Promise<boolean> {
  const [{ pglite }] = await sql<{ pglite: boolean }[]>`SELECT version() LIKE '%PGlite%' AS pglite`;
  return !pglite;
}

/**
 * pg-boss's `listen` (IDatabase): LISTEN `channel` on a connection of its own to the server `sql`
 * reaches, `onNotification` called with each payload. `onReconnect` is called each time the
 * LISTEN is (re)established, for pg-boss to fetch what was queued meanwhile. A lost connection
 * (the server restarted, the backend terminated) is noticed as it closes and listened on again
 * every `retryMs` until it succeeds — postgres.js's own `sql.listen` tries once, and a failure
 * then leaves it deaf for good. Each attempt first asks the server through the pool, and issues
 * LISTEN only once that query is answered: a LISTEN issued during an outage waits in the listening
 * client's reconnect timer, which its `end()` does not cancel — after a SIGTERM that timer
 * re-opened the connection when the database came back, and (no idle timeout) it held
 * `sonotile worker` for ever.
 */
export async function listenForQueue(sql: Sql, channel: string, onNotification: (payload: string) => void, onReconnect: () => void, retryMs: number): Promise<{ close(): Promise<void> }> {
  let listening = false;
  // The pool's own settings (postgres.js's sql.listen does the same), on one connection kept open.
  const client = postgres({
    ...sql.options,
    max: 1, idle_timeout: null, max_lifetime: null, fetch_types: false,
    onnotify: (name: string, payload: string) => {
      if (name === channel) onNotification(payload);
    },
    onclose: () => {
      listening = false;
    },
  } as unknown as postgres.Options<Record<string, never>>);
  const listen = async () => {
    if (listening) return;
    listening = true; // before the statement: a close during it sets it back
    try {
      await sql`SELECT 1`;
      await client.unsafe(`LISTEN "${channel.replaceAll('"', '""')}"`);
      onReconnect();
    } catch {
      listening = false; // the next attempt is retryMs away
    }
  };
  await listen();
  const retry = setInterval(() => void listen(), retryMs);
  return {
    async close() {
      clearInterval(retry);
      await client.end({ timeout: 1 });
    },
  };
}
