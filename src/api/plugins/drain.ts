/**
 * SIGTERM drains in-flight work (SPEC §10), also the bytes of answers already given. Node's
 * `server.close()` (which Fastify's close calls) destroys every connection it counts as idle,
 * and a connection whose response has ended counts as idle even while that response's bytes
 * still wait in the socket's buffer for a slow client: a tile or one-shot image is sent as one
 * Buffer of up to tens of MB, and was cut short. So Fastify's close first waits (preClose: new
 * requests already get 503) until every socket has handed what it holds to the kernel — which
 * delivers it after the socket is closed — or `drainMs` has passed.
 *
 * A request arriving meanwhile gets the project's 503 (CLOSING_MESSAGE, Retry-After, the
 * connection closed after it), not Fastify's own `{"error":"Service Unavailable","message":"Service
 * Unavailable"}` without Retry-After, which told a person nothing to do (the app turns Fastify's off:
 * `return503OnClosing: false`).
 */
import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import fp from "fastify-plugin";
import { sendError } from "./errors.js";

/** The 503 of a request that arrives while the server closes. */
export const CLOSING_MESSAGE = "the server is shutting down; retry in a few seconds (another instance, or this one once restarted)";

export const drainPlugin = fp<{ drainMs: number }>(async (app, options) => {
  const sockets = new Set<Socket>();
  app.server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  let closing = false;
  app.addHook("onRequest", async (_request, reply) => {
    if (closing) return sendError(reply.header("Retry-After", "5"), 503, CLOSING_MESSAGE);
  });
  app.addHook("preClose", async () => {
    closing = true;
    const deadline = Date.now() + options.drainMs;
    const unsent = () => [...sockets].some((s) => !s.destroyed && s.writableLength > 0);
    while (unsent() && Date.now() < deadline) await sleep(20);
  });
});
