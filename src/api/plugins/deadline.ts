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
 * A route that legitimately takes longer sets `config: { deadline: ms }`, or `false` (an import
 * hashing a whole dataset) — or, when only part of its work does, keeps the deadline for its
 * database lookups and then gives the rest its own limit (`reply.extendDeadline(ms)`: the tile
 * routes, whose stats wait and task time limit outlast it). A reply once sent — a stream whose
 * first bytes are still coming — is never cut.
 */
import fp from "fastify-plugin";
import type { FastifyReply } from "fastify";
import { SAFE_METHODS } from "../methods.js";
import { sendError } from "./errors.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** This route's deadline in ms, or false for none (default: the plugin's `deadlineMs`). */
    deadline?: number | false;
  }
  interface FastifyReply {
    /**
     * Replaces this request's deadline with `ms` from now: for a route whose own work outlasts the
     * deadline (a computation with limits of its own), called once its database lookups are done,
     * so that a database that does not answer still gets its 503 within the deadline.
     */
    extendDeadline(ms: number): void;
  }
}

export const deadlinePlugin = fp<{ deadlineMs: number }>(async (app, options) => {
  /** The deadlines still running: their requests have neither an answer nor gone. */
  const timers = new WeakMap<FastifyReply, NodeJS.Timeout>();
  /** Answers `reply` with the deadline's 503 unless it is sent within `ms`. */
  const arm = (reply: FastifyReply, ms: number) => {
    clearTimeout(timers.get(reply));
    timers.set(reply, setTimeout(() => {
      timers.delete(reply);
      if (reply.sent || reply.raw.headersSent) return;
      const { request } = reply;
      request.log.warn({ url: request.url, ms }, "request deadline passed");
      const seconds = ms / 1000;
      if (SAFE_METHODS.has(request.method)) {
        sendError(reply.header("Retry-After", "5"), 503, `no answer within ${seconds} s: the database (or the computation) is not responding; the server recovers by itself — retry shortly`);
      } else {
        sendError(reply, 503, `no answer within ${seconds} s: the database is not responding, and this change may still be made when it answers — check before repeating it`);
      }
      dropLateSends(reply);
    }, ms));
  };
  const end = (reply: FastifyReply) => {
    clearTimeout(timers.get(reply));
    timers.delete(reply);
  };
  app.decorateReply("extendDeadline", function (this: FastifyReply, ms: number) {
    if (timers.has(this)) arm(this, ms);
  });
  app.addHook("onRequest", async (request, reply) => {
    const ms = request.routeOptions.config.deadline ?? options.deadlineMs;
    if (ms === false) return;
    arm(reply, ms);
    reply.raw.once("close", () => end(reply));
  });
  // The handler has answered (a stream's bytes may still be coming): the deadline is over.
  app.addHook("onSend", async (_request, reply) => end(reply));
});

/** After the deadline's answer, the handler's own `send` releases a stream payload instead of leaving it open. */
function dropLateSends(reply: FastifyReply): void {
  reply.send = (payload?: unknown) => {
    if (payload && typeof (payload as { destroy?: unknown }).destroy === "function") (payload as { destroy(): void }).destroy();
    return reply;
  };
}
