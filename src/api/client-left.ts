/** A request's client leaving before its answer is complete, as a signal for the work done for it. */
import type { FastifyReply } from "fastify";
import type { Requester } from "../tiles/service.js";

/**
 * A signal that fires when the client goes away before its answer is complete: the work done for
 * it alone is then cancelled (TileService shares a computation until its last waiter leaves; a
 * dataset import waiting for another is not run when all its callers left: DatasetImports).
 */
export function clientLeft(reply: FastifyReply): AbortSignal {
  const left = new AbortController();
  // Gone already (while the request's recording was looked up): its close event has passed.
  if (reply.request.raw.socket?.destroyed) left.abort(new Error("the client disconnected"));
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) left.abort(new Error("the client disconnected"));
  });
  return left.signal;
}

/**
 * The tile service's Requester of a request: its client — the token's user, else (a read without a
 * token) the remote address — whose queue its computations wait in for a thread, taken round-robin
 * with the other clients' (TilePool), and its leaving (clientLeft). By user, not by connection: a
 * viewer opens several, and one user's tabs share one turn.
 */
export function requesterOf(reply: FastifyReply): Required<Requester> {
  const { user, ip } = reply.request;
  return { client: user ? `user ${user.id}` : `address ${ip}`, left: clientLeft(reply) };
}
