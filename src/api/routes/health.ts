/**
 * /health and /version: cheap, and prompt even when every core is busy (no work beyond one
 * bounded database round trip). /health is 200 when the database answers and 503 when it does
 * not, or when the server drains (plugins/drain.ts: the common error body — declared here too, it
 * was refused by this route's own 503 schema and became a 500, a stack logged for every probe); it needs no token anywhere (probes send none), so beyond loopback (`errorDetails` off) it
 * does not say why — the database's error names hosts and ports — nor which version this is: a
 * token holder asks /version, a read like any other (an attacker need not learn which known
 * flaws a server has without one).
 */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { VERSION } from "../../engine/version.js";
import { errorBody, errorWithHeaders, RETRY_AFTER_HEADER } from "../schemas.js";

/** Longest /health waits for the database before reporting it unavailable. */
const DB_CHECK_TIMEOUT_MS = 2000;

const healthBody = z.object({
  status: z.enum(["ok", "unavailable"]),
  database: z.object({ status: z.enum(["ok", "unavailable"]), kind: z.string(), error: z.string().optional() }),
  version: z.string().optional().describe("This server's version: on loopback only (beyond it, /version tells token holders)"),
});

export const healthRoutes: FastifyPluginAsyncZod<{ errorDetails: boolean }> = async (app, options) => {
  const version = options.errorDetails ? VERSION : undefined;
  app.get("/health", {
    config: { public: true },
    schema: { summary: "Liveness and database state", tags: ["health"], response: { 200: healthBody, 503: errorWithHeaders("The database unavailable (this route's own body), or the server shutting down (the error body every route answers while it drains, with Retry-After): a load balancer takes the instance out either way", RETRY_AFTER_HEADER, z.union([healthBody, errorBody])) } },
  }, async (_request, reply) => {
    const database = app.db;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        database.sql`SELECT 1`,
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${DB_CHECK_TIMEOUT_MS} ms`)), DB_CHECK_TIMEOUT_MS); }),
      ]);
      return { status: "ok" as const, database: { status: "ok" as const, kind: database.kind }, version };
    } catch (err) {
      const e = err as Error & { code?: string };
      const error = options.errorDetails ? (e.code ? `${e.code}: ${e.message}` : e.message) : undefined;
      return reply.code(503).send({ status: "unavailable", database: { status: "unavailable", kind: database.kind, error }, version });
    } finally {
      clearTimeout(timer);
    }
  });

  app.get("/version", {
    schema: { summary: "Server version", tags: ["health"], response: { 200: z.object({ version: z.string(), api: z.literal("v1") }) } },
  }, async () => ({ version: VERSION, api: "v1" as const }));
};
