/** /v1/trash/purge: delete trashed records for good (admin). */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { purgeTrashed } from "../../store/common.js";
import { errorBody } from "../schemas.js";

const count = z.number().int();

/**
 * Longest older_than, 100 years, in seconds: everything ever trashed is younger, and PostgreSQL's
 * interval arithmetic overflows not far beyond (now() minus 3e11 s is before 4713 BC), which was a 500.
 */
const MAX_OLDER_THAN = 100 * 365 * 86400;
/** older_than when the body does not give it (or there is no body): 30 days. */
const DEFAULT_OLDER_THAN = 30 * 86400;

export const trashRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post("/trash/purge", {
    config: { role: "admin" },
    schema: {
      summary: "Delete records trashed at least older_than seconds ago (admin)", tags: ["trash"],
      description: "The counts are of records trashed themselves; what they hold (a trashed dataset's recordings, their clips and notes; a trashed job's items and metrics) goes with them, uncounted. A purged job's artifacts stay until their own expiry (their job_id becomes null), and the feature values it wrote and its run stay.",
      // Every field is optional, so the body is too (as for /artifacts/cleanup and /jobs/{id}/abort).
      body: z.strictObject({
        older_than: z.number({ error: "must be a number of seconds" }).min(0, "must be >= 0").max(MAX_OLDER_THAN, `must be <= ${MAX_OLDER_THAN} (100 years)`)
          .optional().describe("Seconds since trashing; default 30 days"),
      }).nullish(),
      response: { 200: z.object({ notes: count, clips: count, artifacts: count, recordings: count, datasets: count, jobs: count }), 400: errorBody, 403: errorBody },
    },
  }, async (request) => purgeTrashed(app.db.sql, request.body?.older_than ?? DEFAULT_OLDER_THAN));
};
