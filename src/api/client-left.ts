/** A request's client leaving before its answer is complete, as a signal for the work done for it. */
import type { FastifyReply } from "fastify";

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
