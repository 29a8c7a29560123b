/**
 * The order in which the embedded database's socket connections reach PGlite's one session.
 *
 * pglite-socket (0.2.17) queues every frontend message of every connection in one queue and
 * keeps a connection's messages together only while a transaction is open. An extended-protocol
 * batch — Parse, Bind, Describe, Execute, then Sync — is no transaction, yet its unnamed
 * statement and portal live in the session until the Sync: another connection's Bind between
 * them replaced the portal, and one connection ran the other's query or failed with `portal ""
 * does not exist` (an admin command attached beside a busy server: 3 of 600 queries, and 500s
 * from the server). Reported upstream as electric-sql/pglite#1046 (fix proposed in #977).
 *
 * This queue gives the session to one connection from its batch's first message to its Sync (or
 * a simple Query), and for a whole transaction; the others wait their turn. A connection that
 * leaves in the middle of a batch — after an error, PostgreSQL skips every message until a Sync —
 * or of a transaction has its Sync sent and its transaction rolled back for it, so the session
 * is clean for the next. A message PGlite throws on fails that message alone: the upstream queue
 * stopped for good after one.
 */
import type { PGlite } from "@electric-sql/pglite";

/** Frontend messages that continue an extended-protocol batch: Parse, Bind, Describe, Execute, Close, Flush. */
const BATCH_MESSAGES = new Set([..."PBDECH"].map((c) => c.charCodeAt(0)));
/** The frontend Sync message: ends a batch (and the skipping of messages after an error in it). */
const SYNC = Uint8Array.of(0x53, 0, 0, 0, 4);

interface Queued {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (err: unknown) => void;
}

/** Drop-in for pglite-socket's QueryQueueManager (same public methods, used by its handlers). */
export class SessionQueue {
  private readonly queue: Queued[] = [];
  private processing = false;
  /** The connection whose batch or transaction holds the session, or null. */
  private owner: number | null = null;
  /** Whether the owner is inside an extended-protocol batch (it has not sent its Sync yet). */
  private inBatch = false;

  constructor(private readonly db: PGlite) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ handlerId, message, onData, resolve, reject });
      void this.process();
    });
  }

  private async process(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.queue.length) {
        const next = this.owner === null ? 0 : this.queue.findIndex((q) => q.handlerId === this.owner);
        if (next < 0) break; // the owner's next message has not arrived: the others wait for it
        const item = this.queue.splice(next, 1)[0];
        let bytes = 0;
        let failure: { err: unknown } | null = null;
        try {
          await this.db.runExclusive(() => this.db.execProtocolRawStream(item.message, { onRawData: (data) => { bytes += data.length; item.onData(data); } }));
        } catch (err) {
          failure = { err };
        }
        // Held through the batch and the transaction — also after a failure, until the
        // connection's Sync, or its leaving (clearTransactionIfNeeded) cleans up after it.
        this.inBatch = BATCH_MESSAGES.has(item.message[0]);
        this.owner = this.inBatch || this.db.isInTransaction() ? item.handlerId : null;
        if (failure) item.reject(failure.err);
        else item.resolve(bytes);
      }
    } finally {
      this.processing = false;
    }
  }

  getQueueLength(): number {
    return this.queue.length;
  }

  /** A connection closed: its waiting messages fail (the session is cleaned up after it by clearTransactionIfNeeded, which its handler calls next). */
  clearQueueForHandler(handlerId: number): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i].handlerId === handlerId) this.queue.splice(i, 1)[0].reject(new Error("Handler disconnected"));
    }
  }

  /**
   * A connection closed while it held the session: its batch is ended with a Sync (after an
   * error the session skipped every message until one — the next connection's queries with it, for
   * good) and its transaction rolled back, the answers going nowhere; then the others go on.
   */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return;
    try {
      if (this.inBatch) await this.db.runExclusive(() => this.db.execProtocolRawStream(SYNC, { onRawData: () => {} }));
      if (this.db.isInTransaction()) await this.db.exec("ROLLBACK"); // exec takes the lock itself
    } finally {
      this.owner = null;
      this.inBatch = false;
      void this.process();
    }
  }
}

/**
 * Puts a SessionQueue in place of `server`'s own queue, before it accepts a connection (each
 * connection's handler takes the server's queue when it is made). Refuses a pglite-socket whose
 * server no longer has that field: the package is pinned, and an upgrade must look here again.
 */
export function orderSessions(server: object, db: PGlite): void {
  if (!("queryQueue" in server)) throw new Error("pglite-socket's server has no queryQueue: see src/store/session-queue.ts before upgrading it");
  (server as { queryQueue: unknown }).queryQueue = new SessionQueue(db);
}
