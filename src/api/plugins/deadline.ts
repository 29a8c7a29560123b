/**
 * A deadline on every request's answer (SPEC §10: with the database unreachable, metadata routes
 * answer 503 and recover by themselves). A database that stops answering in the middle of a query
 * — a network partition, a frozen host: no error and no reply until TCP gives up, many minutes
 * later — would hold each request open that long, and postgres.js has no client-side query
 * timeout. So a request without a reply after its deadline gets a 503 that says so. When the
 * database answers again, so does every route.
 *
 * The handler itself runs on: nothing can cancel its queries. So a read is worth retrying, but a
 * write may still commit — its 503 says the outcome is unknown and carries no Retry-After. What
 * the handler sends late is dropped; a stream (a file, a decoder) is destroyed, so that its file
 * descriptors and memory are released rather than left to a reply nobody reads.
 *
 * A route that legitimately takes longer sets `config: { deadline: ms }` above its own limits (the
 * tile routes: stats wait and task time limit), or `false` (an import hashing a whole dataset).
 * A reply once sent — a stream whose first bytes are still coming — is never cut.
 */
import fp from "fastify-plugin";
import type { FastifyReply } from "fastify";
import { SAFE_METHODS } from "./auth.js";
import { sendError } from "./errors.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** This route's deadline in ms, or false for none (default: the plugin's `deadlineMs`). */
    deadline?: number | false;
  }
}

export const deadlinePlugin = fp<{ deadlineMs: number }>(async (app, options) => {
  const timers = new WeakMap<FastifyReply, NodeJS.Timeout>();
  app.addHook("onRequest", async (request, reply) => {
    const ms = request.routeOptions.config.deadline ?? options.deadlineMs;
    if (ms === false) return;
    const timer = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent) return;
      request.log.warn({ url: request.url, ms }, "request deadline passed");
      const seconds = ms / 1000;
      if (SAFE_METHODS.has(request.method)) {
        sendError(reply.header("Retry-After", "5"), 503, `no answer within ${seconds} s: the database (or the computation) is not responding; the server recovers by itself — retry shortly`);
      } else {
        sendError(reply, 503, `no answer within ${seconds} s: the database is not responding, and this change may still be made when it answers — check before repeating it`);
      }
      dropLateSends(reply);
    }, ms);
    timers.set(reply, timer);
    reply.raw.once("close", () => clearTimeout(timer));
  });
  // The handler has answered (a stream's bytes may still be coming): the deadline is over.
  app.addHook("onSend", async (_request, reply) => {
    clearTimeout(timers.get(reply));
  });
});

/** After the deadline's answer, the handler's own `send` releases a stream payload instead of leaving it open. */
function dropLateSends(reply: FastifyReply): void {
  reply.send = (payload?: unknown) => {
    if (payload && typeof (payload as { destroy?: unknown }).destroy === "function") (payload as { destroy(): void }).destroy();
    return reply;
  };
}
