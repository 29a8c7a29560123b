/**
 * /v1/artifacts: job outputs, content-addressed by SHA-256, with expiry and cleanup (admin);
 * their files download from any server instance (the bytes are in the database). Listings
 * leave expired artifacts out unless asked (`expiry`); archiving one keeps it from expiring.
 */
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { STATES } from "../../store/common.js";
import { CLEANUP_GRACE_SECONDS, EXPIRY_FILTERS, cleanupExpired, expiredArtifactMessage, fileContentsStored, getArtifact, listArtifacts, readFileContents, unstoredFileMessage } from "../../store/artifacts.js";
import { requestedRanges, sendRanges } from "../byte-range.js";
import { notModified } from "../conditional.js";
import { HttpError } from "../plugins/errors.js";
import { stateRoutes } from "../state-routes.js";
import { attachment } from "../attachment.js";
import { ACCEPT_RANGES_HEADER, bytesResponse, DISPOSITION_HEADER, errorBody, errorWithHeaders, ETAG_HEADER, HEAD_DOCUMENTED, id, idParams, notModifiedResponse, nullableTimestamp, oneOf, page, pageQuery, RANGE_NOT_SATISFIABLE, RANGES_DESCRIPTION, rangesResponse, stateQuery, timestamp, UNSATISFIED_RANGE_HEADER } from "../schemas.js";

export const artifactSchema = z.object({
  id: z.uuid(), job_id: z.uuid().nullable(), name: z.string(),
  description: z.string().nullable().describe("What the file holds: for a job's .npy matrices, their shape and dtype, which target each row is (that of features.csv's row of the same index) and the columns. Null for artifacts made before sonotile stored descriptions"),
  file_sha256: z.string(), size: z.number().int(), media_type: z.string(),
  expiration_delay: z.number().nullable().describe("Seconds after creation it expires"), expire_at: nullableTimestamp,
  expired: z.boolean().describe(`Past expire_at and not archived: its file answers 410, and cleanup deletes it ${CLEANUP_GRACE_SECONDS} s after expire_at. An archived artifact does not expire (archive one to keep it); restored, its expire_at counts again`),
  state: z.enum(STATES), state_changed_at: nullableTimestamp, created_at: timestamp, created_by: z.uuid().nullable(), run_id: z.uuid().nullable(),
});

const ARTIFACT_MEDIA_TYPES = ["text/csv", "application/octet-stream", "application/json"];
/** The headers of a file download, whole (200) or a range (206). */
const fileHeaders = { ...ETAG_HEADER, ...DISPOSITION_HEADER, ...ACCEPT_RANGES_HEADER };

export const artifactRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ["artifacts"];
  const sql = app.db.sql;
  app.get("/artifacts", {
    schema: { summary: "List artifacts", tags, querystring: z.strictObject({
        ...pageQuery, state: stateQuery, job_id: id.optional(),
        expiry: oneOf(EXPIRY_FILTERS).default("unexpired")
          .describe("unexpired (default): those whose file downloads; expired: those past expire_at (not archived), which cleanup deletes; all"),
      }), response: { 200: page(artifactSchema), 400: errorBody } },
  }, async (request) => listArtifacts(sql, request.query));
  app.get("/artifacts/:id", { schema: { summary: "Get an artifact", tags, params: idParams, response: { 200: artifactSchema, 404: errorBody } } }, async (request) => getArtifact(sql, request.params.id));
  app.get("/artifacts/:id/file", {
    config: HEAD_DOCUMENTED,
    schema: {
      summary: "Download an artifact's file", tags, params: idParams,
      description: `The bytes with their media type and length; ETag is the SHA-256 (304 on If-None-Match). Byte ranges read only the chunks they cover, so a download can be resumed: ${RANGES_DESCRIPTION} 410 once the artifact has expired — an archived one does not (a download already under way is not cut: cleanup deletes an artifact, and its file, only a grace period after it expired) —, 404 once cleanup removed it. A transfer that fails midway ends before Content-Length is reached.`,
      response: {
        200: bytesResponse("The file's bytes, as its media type (features.csv: text/csv; the .npy matrices, NumPy format 1.0: application/octet-stream; provenance.json, what made them: application/json)", ARTIFACT_MEDIA_TYPES, fileHeaders),
        206: rangesResponse(ARTIFACT_MEDIA_TYPES, fileHeaders),
        304: notModifiedResponse({ ...ETAG_HEADER, ...ACCEPT_RANGES_HEADER }), 404: errorBody, 410: errorBody,
        416: errorWithHeaders(RANGE_NOT_SATISFIABLE, { ...ETAG_HEADER, ...ACCEPT_RANGES_HEADER, ...UNSATISFIED_RANGE_HEADER }),
      },
    },
  }, async (request, reply) => {
    const artifact = await getArtifact(sql, request.params.id);
    if (artifact.expired) {
      throw new HttpError(410, expiredArtifactMessage(artifact));
    }
    const etag = `"${artifact.file_sha256}"`;
    reply.header("Accept-Ranges", "bytes").header("ETag", etag);
    if (notModified(request.headers["if-none-match"], etag)) return reply.code(304).header("ETag", etag).send(undefined);
    if (!(await fileContentsStored(sql, artifact.file_sha256, artifact.size))) {
      throw new HttpError(404, unstoredFileMessage(artifact));
    }
    const ranges = requestedRanges(request, reply, etag, artifact.size);
    reply.header("Content-Disposition", attachment(artifact.name));
    return sendRanges(reply, ranges, artifact.size, artifact.media_type,
      (start, end) => readFileContents(sql, artifact.file_sha256, artifact.size, start, end));
  });
  app.post("/artifacts/cleanup", {
    config: { role: "admin" },
    schema: { summary: "Delete expired artifacts and unreferenced files (admin)", description: `Only those expired, or unreferenced, for at least ${CLEANUP_GRACE_SECONDS} s, so downloads in progress finish; archived artifacts do not expire.`, tags, response: { 200: z.object({ artifacts: z.array(z.uuid()), files: z.array(z.string()) }) } },
  }, async () => cleanupExpired(sql));
  // An artifact is its job's creator's output: another member's restore had undone their archive
  // (which keeps it), and the next cleanup deleted it.
  await app.register(stateRoutes("artifacts", "artifacts", artifactSchema, (aid) => getArtifact(sql, aid), "creator or admin"));
};
