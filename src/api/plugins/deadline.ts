/**
 * A deadline on every request's answer (SPEC §10: with the database unreachable, metadata routes
 * answer 503 and recover by themselves). A database that stops answering in the middle of a query
 * — a network partition, a frozen host: no error and no reply until TCP gives up, many minutes
 * later — would hold each request open that long, and postgres.js has no client-side query
 * timeout. So a request without a reply after its deadline gets a 503 that says so; the late
 * result of its handler is dropped. When the database answers again, so does every route.
 *
 * A route that legitimately takes longer sets `config: { deadline: ms }` above its own limits (the
 * tile routes: stats wait and task time limit), or `false` (an import hashing a whole dataset). A
 * reply that has begun — a stream — is never cut.
 */
import fp from "fastify-plugin";
import { sendError } from "./errors.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** This route's deadline in ms, or false for none (default: the plugin's `deadlineMs`). */
    deadline?: number | false;
  }
}

export const deadlinePlugin = fp<{ deadlineMs: number }>(async (app, options) => {
  app.addHook("onRequest", async (request, reply) => {
    const ms = request.routeOptions.config.deadline ?? options.deadlineMs;
    if (ms === false) return;
    const timer = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent) return;
      request.log.warn({ url: request.url, ms }, "request deadline passed");
      sendError(reply.header("Retry-After", "5"), 503, `no answer within ${ms / 1000} s: the database (or the computation) is not responding; the server recovers by itself — retry shortly`);
    }, ms);
    reply.raw.once("close", () => clearTimeout(timer));
    reply.raw.once("finish", () => clearTimeout(timer));
  });
});
