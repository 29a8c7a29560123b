/**
 * A server-wide bound on the memory held by answers waiting for their clients (SPEC §9: server
 * memory stays bounded). A tile or one-shot image is computed whole and sent as one Buffer, which
 * Node keeps until the client's socket has taken its last byte: a client that reads slowly, or not
 * at all, held its answer as long as it liked — ten paused clients of distinct 134 MB f32 tiles
 * held 1.4 GB, a couple of hundred would exhaust the machine's memory. So such an answer is
 * counted from its send until its response closes (its bytes all handed to the kernel, or its
 * client gone), and one that would take the total past the limit is refused (a 503 with
 * Retry-After) while slower clients drain — before it is computed, where its size is known
 * beforehand (checkRoom). When nothing is held any answer goes, so that every tile the request
 * limits allow can be served however low the limit is set. An answer streamed piece by piece
 * (playback, the streamed tile range) counts the most its pieces hold at once (reserve): each slow
 * client holds little, or a few tiles, but without a count nothing bounded how many did.
 *
 * A client that takes no byte of its answer for `stalledMs` (60 s, nginx's send_timeout) while
 * bytes wait for it loses its connection, and the answer its share: otherwise eight clients that
 * never read the largest tiles would hold the limit, and refuse every large answer, for as long as
 * they stayed connected. A client that reads, however slowly, keeps it (Node's socket timeout
 * counts a write's progress).
 *
 * A Buffer sent to several clients — a cached tile: the routes send a view of the cache's bytes,
 * not a copy — is counted once, while any of its answers holds it: many readers of one tile cost
 * no more memory than one.
 */
import type { ServerResponse } from "node:http";

/** Default limit: eight of the largest tiles (2^25 pixels of f32) beside the tile cache's 256 MiB. */
export const DEFAULT_MAX_UNSENT_BYTES = 1024 * 1024 * 1024;

/** Default of how long an answer may wait for its client to take any byte before the connection is closed. */
export const DEFAULT_STALLED_SEND_MS = 60_000;

/** An answer refused because answers still waiting for other clients fill the limit (HTTP 503 with Retry-After). */
export class UnsentBytesFullError extends Error {
  override name = "UnsentBytesFullError";
}

/** What of a response the bound needs: whether it has closed, its close, its stall timeout, and the bytes still waiting for its client. */
type HeldResponse = Pick<ServerResponse, "closed" | "once" | "setTimeout" | "destroy" | "writableLength">;

const mb = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

/**
 * The memory a body is: its ArrayBuffer and where in it. Views of one ArrayBuffer may be other
 * bytes — Node allocates small Buffers out of shared 8 KiB slabs — so the ArrayBuffer alone would
 * count two answers' bodies as one, and release the second's length for the first's.
 */
const regionOf = (body: Uint8Array) => `${body.byteOffset}+${body.byteLength}`;

export class UnsentBytes {
  /** Each region of memory held (by ArrayBuffer, then regionOf), with the number of answers holding it. */
  private readonly held = new Map<ArrayBufferLike, Map<string, number>>();
  private total = 0;

  /**
   * @param limit bytes that answers not yet taken by their clients' sockets may hold at once
   * @param stalledMs how long an answer may go without its client taking a byte before its connection is closed
   */
  constructor(readonly limit: number, private readonly stalledMs: number) {}

  /** Bytes held now: each distinct Buffer once. */
  get bytes(): number {
    return this.total;
  }

  /**
   * Refuses now an answer of `bytes` that would take the total past the limit — what `hold` and
   * `reserve` refuse — so that an answer whose size is known beforehand (a tile's or image's
   * geometry gives it) is refused before it is computed, not after. When nothing is held any
   * answer goes.
   * @param instead what the client can ask for that is smaller, for the message (none: retrying is all it can do)
   * @throws UnsentBytesFullError
   */
  checkRoom(bytes: number, instead?: string): void {
    if (this.total > 0 && this.total + bytes > this.limit) {
      throw new UnsentBytesFullError(`answers still being sent to slower clients hold ${mb(this.total)}, and this one's ${mb(bytes)} would take them past the server's limit of ${mb(this.limit)}; retry in a few seconds${instead ? `, or ${instead}` : ""}`);
    }
  }

  /**
   * Counts `body` as held by `response` until it closes, and closes its connection should the
   * client stop taking bytes for `stalledMs`.
   * @param instead as checkRoom's
   * @throws UnsentBytesFullError when that would take the total past the limit (checkRoom)
   */
  hold(response: HeldResponse, body: Uint8Array, instead?: string): void {
    const regions = this.held.get(body.buffer) ?? new Map<string, number>();
    const holders = regions.get(regionOf(body)) ?? 0;
    if (holders === 0) {
      this.checkRoom(body.byteLength, instead);
      this.total += body.byteLength;
    }
    this.held.set(body.buffer, regions.set(regionOf(body), holders + 1));
    this.untilClosed(response, () => this.release(body));
  }

  /**
   * Counts `bytes` as held by `response` until it closes, as `hold` counts a body: for an answer
   * streamed piece by piece (playback, the streamed tile range), the most its pieces hold at once.
   * @param instead as checkRoom's
   * @throws UnsentBytesFullError when that would take the total past the limit (checkRoom)
   */
  reserve(response: HeldResponse, bytes: number, instead?: string): void {
    this.checkRoom(bytes, instead);
    this.total += bytes;
    this.untilClosed(response, () => {
      this.total -= bytes;
    });
  }

  /**
   * Runs `release` when `response` closes, and closes its connection should the client take no
   * byte for `stalledMs` while bytes wait for it. A socket that has taken everything it was given
   * is the server's wait, not the client's — a stream's next tile may take two minutes to come
   * on a busy pool (its wait for a worker, its run), and cutting the connection then would lose
   * the tile, or its error part —: the socket's next write counts the time afresh.
   */
  private untilClosed(response: HeldResponse, release: () => void): void {
    // A response closed already — its client left while the answer was planned or decoded, or the
    // request deadline answered it — emits no more "close": what it would hold goes now.
    if (response.closed) return release();
    response.once("close", release);
    // Replaced by the keep-alive timeout once the answer is out (Node's server does that).
    response.setTimeout(this.stalledMs, () => {
      if (response.writableLength > 0) response.destroy();
    });
  }

  private release(body: Uint8Array): void {
    const regions = this.held.get(body.buffer)!;
    const holders = regions.get(regionOf(body))! - 1;
    if (holders > 0) return void regions.set(regionOf(body), holders);
    regions.delete(regionOf(body));
    if (!regions.size) this.held.delete(body.buffer);
    this.total -= body.byteLength;
  }
}
