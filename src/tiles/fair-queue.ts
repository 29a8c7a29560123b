/**
 * The tasks waiting for a worker thread (TilePool), queued per client and taken round-robin across
 * clients, so that a client's wait depends on how many clients wait, not on how much the others
 * asked for: one thread, one client's 80 tiles queued ahead, another client's one tile waited 37 s
 * behind them in a single first-come queue; now it runs after at most one task of every other
 * client that waits.
 */
/**
 * The clients one task runs for, the first its starter: a computation shared by identical
 * concurrent requests (TileService) is joined by the clients of the later ones. A queued task sits
 * in the queue of each of them and runs at the first of their turns, so a client whose tile another
 * client had asked for first does not wait behind that client's backlog. A client whose request
 * leaves stays among them (its turn may still run the task for the others).
 */
export class TaskClients {
  private readonly names: string[];
  /** Told of each client that joins while the task waits in a FairQueue. */
  private readonly joinListeners = new Set<(client: string) => void>();

  constructor(first: string) {
    this.names = [first];
  }

  get all(): readonly string[] {
    return this.names;
  }

  join(client: string): void {
    if (this.names.includes(client)) return;
    this.names.push(client);
    for (const listener of this.joinListeners) listener(client);
  }

  /** @internal FairQueue's: follows the clients that join while its task waits; returns the unsubscribe. */
  onJoin(listener: (client: string) => void): () => void {
    this.joinListeners.add(listener);
    return () => this.joinListeners.delete(listener);
  }
}

/** A task waiting in a FairQueue: `start` is called when its turn comes. */
export interface Waiting {
  readonly clients: TaskClients;
  readonly start: () => void;
}

interface Entry extends Waiting {
  stopFollowing: () => void;
}

export class FairQueue {
  /**
   * Each waiting client's tasks in their order; the Map's order is the round: the client at its
   * head is served next and goes to its end (a client that starts waiting joins the round last).
   */
  private readonly byClient = new Map<string, Entry[]>();
  private readonly entries = new Set<Entry>();

  /**
   * @param maxPerClient tasks one client may have waiting: past it its next is refused
   * @param maxTotal tasks that may wait in all
   * @param uncapped the client only maxTotal bounds: the pool's own (POOL_CLIENT), whose callers —
   *   a job worker, a library caller — are this process, not one of a server's clients
   */
  constructor(private readonly maxPerClient: number, private readonly maxTotal: number, private readonly uncapped: string) {}

  /** Tasks waiting. */
  get size(): number {
    return this.entries.size;
  }

  /** Tasks waiting for `client` (its own and those it joined). */
  backlog(client: string): number {
    return this.byClient.get(client)?.length ?? 0;
  }

  /**
   * Which bound keeps a task for `clients` from waiting, or null: "queue" when maxTotal tasks wait,
   * "client" when every one of its clients has maxPerClient waiting — its own backlog, not the
   * others', refuses a client's request. Its callers word it (TilePool: refusal; TileService's pass slots).
   */
  full(clients: TaskClients): "queue" | "client" | null {
    if (this.entries.size >= this.maxTotal) return "queue";
    if (clients.all.every((client) => client !== this.uncapped && this.backlog(client) >= this.maxPerClient)) return "client";
    return null;
  }

  /** Why a task for `clients` may not wait (the caller refuses it: TilePool's PoolBusyError), or null (full). */
  refusal(clients: TaskClients): string | null {
    switch (this.full(clients)) {
      case "queue": return `all workers are busy and the queue is full (${this.entries.size} computations waiting)`;
      case "client": return `all workers are busy and ${this.maxPerClient} computations of this client are waiting for one already`;
      default: return null;
    }
  }

  /**
   * The tasks waiting, in the order startNext would take them if no other came: round-robin across
   * the clients, a task in several clients' queues at the first of their turns. What a waiting
   * task is told of its place and wait (TileService's pass slots) follows this order, not arrival.
   */
  inTurn(): Waiting[] {
    const round = [...this.byClient].map(([, queue]) => [...queue]);
    const taken = new Set<Entry>();
    const order: Entry[] = [];
    while (round.length > 0) {
      const queue = round.shift()!;
      // Tasks another client's turn took are no longer in this one's queue (remove).
      while (queue.length > 0 && taken.has(queue[0])) queue.shift();
      const entry = queue.shift();
      if (entry === undefined) continue;
      taken.add(entry);
      order.push(entry);
      if (queue.length > 0) round.push(queue);
    }
    return order;
  }

  /** Queues a task for `clients` (in each of their queues, unchecked: see refusal); `start` is called when it is taken. */
  add(clients: TaskClients, start: () => void): Waiting {
    const entry: Entry = { clients, start, stopFollowing: () => false };
    entry.stopFollowing = clients.onJoin((client) => this.enqueue(client, entry));
    this.entries.add(entry);
    for (const client of clients.all) this.enqueue(client, entry);
    return entry;
  }

  /** Takes `waiting` out of the queue (its request left, or its wait ran out) without starting it. */
  remove(waiting: Waiting): void {
    const entry = waiting as Entry;
    if (!this.entries.delete(entry)) return;
    entry.stopFollowing();
    for (const client of entry.clients.all) {
      const queue = this.byClient.get(client);
      if (!queue) continue;
      const at = queue.indexOf(entry);
      if (at >= 0) queue.splice(at, 1);
      if (queue.length === 0) this.byClient.delete(client);
    }
  }

  /** Starts the next task: the first of the client whose turn it is, which then goes to the end of the round. False when none waits. */
  startNext(): boolean {
    const turn = this.byClient.entries().next();
    if (turn.done) return false;
    const [client, queue] = turn.value;
    const entry = queue[0];
    this.remove(entry);
    // Its turn taken, the client goes last (remove dropped it if nothing else of its waits).
    const rest = this.byClient.get(client);
    if (rest) {
      this.byClient.delete(client);
      this.byClient.set(client, rest);
    }
    entry.start();
    return true;
  }

  private enqueue(client: string, entry: Entry): void {
    const queue = this.byClient.get(client);
    if (queue) queue.push(entry);
    else this.byClient.set(client, [entry]);
  }
}
