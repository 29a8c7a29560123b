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
 * a simple Query), and for a whole transaction; the others wait their turn. A message PGlite
 * throws on fails that message alone: the upstream queue stopped for good after one.
 */
import type { PGlite } from "@electric-sql/pglite";

/** Frontend messages that continue an extended-protocol batch: Parse, Bind, Describe, Execute, Close, Flush. */
const BATCH_MESSAGES = new Set([..."PBDECH"].map((c) => c.charCodeAt(0)));

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
        try {
          await this.db.runExclusive(() => this.db.execProtocolRawStream(item.message, { onRawData: (data) => { bytes += data.length; item.onData(data); } }));
        } catch (err) {
          this.owner = this.db.isInTransaction() ? item.handlerId : null;
          item.reject(err);
          continue;
        }
        this.owner = BATCH_MESSAGES.has(item.message[0]) || this.db.isInTransaction() ? item.handlerId : null;
        item.resolve(bytes);
      }
    } finally {
      this.processing = false;
    }
  }

  getQueueLength(): number {
    return this.queue.length;
  }

  /** A connection closed: its waiting messages fail; a batch it left open no longer holds the session. */
  clearQueueForHandler(handlerId: number): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i].handlerId === handlerId) this.queue.splice(i, 1)[0].reject(new Error("Handler disconnected"));
    }
    if (this.owner === handlerId && !this.db.isInTransaction()) this.owner = null;
    void this.process();
  }

  /** A connection closed inside its transaction: rolled back, so that the others go on. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return;
    if (this.db.isInTransaction()) await this.db.exec("ROLLBACK");
    this.owner = null;
    void this.process();
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
