/**
 * A bound on how long a connection to PostgreSQL may leave what it sent unanswered.
 *
 * A TCP connection whose peer is gone without closing it — a network partition, a NAT or a
 * firewall that dropped its state, a database host that vanished, a proxy that keeps it open —
 * gives no error, only silence: a statement sent on it waits until the kernel gives up (with
 * Linux's defaults about 15 minutes of retransmissions when its bytes were never acknowledged,
 * about 12 minutes of keepalive probes when they were; never behind a proxy that acknowledges
 * them), however soon the database answers again through new connections. Node 20 sets no
 * TCP_USER_TIMEOUT and only the idle time of keepalive (`setKeepAlive`), so the kernel cannot be
 * told to give up sooner. The bound is kept here instead: a connection that has sent bytes and
 * read none since, for the limit, is destroyed with an error (ETIMEDOUT) — postgres.js rejects
 * what was waiting on it with that error and opens a new connection for the next query.
 *
 * What is watched is bytes, not statements: PostgreSQL sends nothing until a statement finishes,
 * so a statement that legitimately runs (or waits for a lock) longer than the limit is cut too —
 * the limit must exceed the longest statement the process sends. An idle connection (nothing sent
 * since its last reply) and one that only listens (LISTEN: notifications are bytes read) are never
 * cut. Not seen: a connection whose silence begins between the replies of statements pipelined on
 * it (sent before the first reply came: that reply clears the watch), and connections over TLS
 * (postgres.js hands the socket to TLS, which reads and writes it beneath the watch: it stops).
 */
import { Socket, connect } from "node:net";

/** The parts of postgres.js's parsed options, which its `socket` option is called with, that say where to connect. */
interface ConnectionTarget {
  /** Hosts of the URL (several for a multi-host URL), each with its port at the same index. */
  host: string[];
  port: number[];
  /**
   * The Unix socket to connect to instead, else false: postgres.js's host when it is a directory —
   * `postgres:///DB` with PGHOST=/var/run/postgresql (and PGPORT, PGUSER) — and the port's socket
   * in it. (A URL's `?host=/var/run/postgresql` is no host to postgres.js: it sends it to the
   * server as a setting, which refuses it — 42704, unrecognized configuration parameter "host".)
   */
  path: string | false;
}

/**
 * postgres.js's `socket` option: a TCP connection to the target's hosts in turn, each watched by
 * closeWhenUnanswered — or the Unix socket the target names, unwatched: the kernel closes a Unix
 * socket with its peer, so it is never half-open. postgres.js sends its startup message at once:
 * the socket holds it until it is connected, and a connection that fails emits `error` and `close`
 * as postgres.js's own sockets do.
 *
 * The connection attempt starts once postgres.js listens for the socket's errors (startOnceHeard):
 * started here, an attempt that the kernel refuses on the spot — ENETUNREACH when no route leads to
 * the host, as with a network link down — emitted its error before postgres.js had awaited this
 * function's socket and listened: an uncaught 'error' event, which ended `sonotile worker` 52 s into
 * a partition (measured: a worker in a network namespace whose link went down); within a test run,
 * postgres.js never heard of the failure, and the statement waited for ever.
 *
 * @param limitMs milliseconds a connection may leave what it sent unanswered
 */
export function unansweredBoundSocket(limitMs: number): (target: ConnectionTarget) => Socket {
  let attempt = 0;
  return ({ host, port, path }) => {
    if (path) return connect(path);
    const i = attempt++ % host.length;
    const socket = new Socket();
    // postgres.js names the server of a TLS connection by `socket.host`, as on its own sockets.
    Object.assign(socket, { host: host[i], port: port[i] });
    startOnceHeard(socket, () => socket.connect(port[i], host[i]));
    closeWhenUnanswered(socket, limitMs);
    return socket;
  };
}

/**
 * Calls `start` (which starts `socket`'s connection attempt) as soon as a listener for its errors
 * is added: the error of an attempt that fails at once is emitted on the next tick, and is then
 * heard — as are the `close` and other listeners added with it. What is written meanwhile is held,
 * from `start` on, until the socket is connected. An attempt that `start` cannot begin — it throws:
 * a port out of range in the URL, ERR_SOCKET_BAD_PORT — fails the socket with that error, emitted
 * as any other (destroy emits it on the next tick): thrown, it went up through postgres.js's call
 * adding the listener, outside its handling of connection errors — an unhandled rejection, which
 * ends `serve` or `sonotile worker`, and the statement never answered.
 */
function startOnceHeard(socket: Socket, start: () => void): void {
  const onListener = (event: string | symbol) => {
    if (event !== "error") return;
    socket.off("newListener", onListener);
    try {
      start();
    } catch (e) {
      socket.destroy(e as Error);
    }
  };
  socket.on("newListener", onListener);
}

/**
 * Closes `socket`, failing what waits on it with an ETIMEDOUT error, once it has sent bytes and
 * read none since for `limitMs` (looked at every tenth of it, so found within 1.1 × `limitMs`). The
 * watch ends with the socket, or when another takes its reading over (TLS: see the module's note).
 */
function closeWhenUnanswered(socket: Socket, limitMs: number): void {
  // Bytes written up to the last read: any beyond are unanswered, waiting since `unansweredSince`.
  let answeredUpTo = 0;
  let unansweredSince: number | undefined;
  const onData = () => {
    answeredUpTo = socket.bytesWritten;
    unansweredSince = undefined;
  };
  socket.on("data", onData);
  const look = setInterval(() => {
    if (socket.destroyed || !socket.listeners("data").includes(onData)) return clearInterval(look);
    if (socket.bytesWritten === answeredUpTo) return;
    unansweredSince ??= Date.now();
    if (Date.now() - unansweredSince < limitMs) return;
    clearInterval(look);
    const lost = Object.assign(new Error(`no reply from the database for ${limitMs / 1000} s to what was sent on this connection: closed as lost (its peer gone without closing it — a network partition, a NAT or firewall that dropped it — or a statement running longer than that)`), { code: "ETIMEDOUT" });
    // Said as the socket closes, just before postgres.js hears of the close: its error handler
    // rejects what waits on the connection with this error, and its close handler then takes the
    // connection out of the pool — nothing is sent to it in between. (Destroyed with the error,
    // the query issued as the first was rejected went to the closing connection, and postgres.js,
    // which rejects nothing more at a close that had an error, left it waiting for ever.)
    socket.prependOnceListener("close", () => socket.emit("error", lost));
    socket.destroy();
  }, limitMs / 10);
  look.unref();
}
