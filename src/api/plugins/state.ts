/** What every route reaches through the Fastify instance: the database and the audio roots. */
import fp from "fastify-plugin";
import type { Database } from "../../store/db.js";

declare module "fastify" {
  interface FastifyInstance {
    /** The metadata database (postgres.js pool; embedded or real PostgreSQL). */
    db: Database;
    /** Real paths of the directories datasets may live in. */
    audioRoots: readonly string[];
  }
}

export const statePlugin = fp<{ db: Database; audioRoots: readonly string[] }>(async (app, options) => {
  app.decorate("db", options.db);
  app.decorate("audioRoots", options.audioRoots);
});
