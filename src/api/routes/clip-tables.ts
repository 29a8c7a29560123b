/**
 * /v1/clips/import and /v1/clips/export: clips in and out as annotation tables — Raven Pro
 * selection tables, CSV, Audacity label tracks (store/clip-tables.ts says what a row becomes).
 * A plugin of its own: the import reads text bodies, which every other route refuses (app.ts).
 */
import { Readable } from "node:stream";
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { exportClipTable, featureColumns, importClipTable, MAX_EXPORT_ROWS, MAX_FEATURE_COLUMNS, TABLE_TIMES, type TableTarget } from "../../store/clip-tables.js";
import { invalid } from "../../store/errors.js";
import { decodeTable, MAX_TABLE_ROWS, TABLE_FORMATS } from "../../store/selection-table.js";
import { attachment } from "../attachment.js";
import { IMPORT_BODY_LIMIT } from "../import-limit.js";
import { runSchema } from "./runs.js";
import { bandQuery, bytesResponse, decimalText, DISPOSITION_HEADER, errorBody, id, label, oneOf, stateQuery, tagQuery, withBandInOrder, withTagFilter, withTagKeyForValue } from "../schemas.js";

/**
 * The deadline of the import and the export (ms), past the server's 30 s: MAX_TABLE_ROWS rows took
 * 9.7 s to import on the embedded database of a loaded machine (MAX_TABLE_ROWS). The export's
 * deadline ends with its first byte (its refusals and the clips' order: 4–10 s for MAX_EXPORT_ROWS
 * clips on a loaded machine); the rows stream after it.
 */
const TABLE_DEADLINE_MS = 120_000;

/** The media types a table is sent as, besides JSON ({"table": "…"}). */
const TABLE_MEDIA_TYPES = ["text/plain", "text/tab-separated-values", "text/csv"];

/** The recording or dataset a table is of: exactly one (400 naming both otherwise). */
const target = {
  recording_id: id.optional().describe("The recording the table is of (give this or dataset_id)"),
  dataset_id: id.optional().describe("The dataset whose recordings the table's rows name by Begin Path or Begin File (give this or recording_id)"),
};
function targetOf(q: { recording_id?: string; dataset_id?: string }): TableTarget {
  if ((q.recording_id === undefined) === (q.dataset_id === undefined)) throw invalid("recording_id", "give exactly one of recording_id and dataset_id");
  return q.recording_id !== undefined ? { recording_id: q.recording_id } : { dataset_id: q.dataset_id! };
}

const times = oneOf(TABLE_TIMES).default("real")
  .describe("The table's units: real (the API's: seconds and Hz after time expansion, SPEC §3.2) or file (the file as stored, as Raven and Audacity show a time-expanded recording: seconds ×TE, Hz ÷TE). The same for a recording without time expansion");

/** A comma-separated list from a query string, items trimmed, empty ones dropped. */
const list = (what: string) => z.string().transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean)).describe(what);

const importResult = z.object({
  run: runSchema.describe("The import's run: the clips, tags and feature values it created point to it"),
  format: z.enum(TABLE_FORMATS),
  created: z.number().int().describe("Clips created"),
  existing: z.number().int().describe("Rows whose clip existed already (same recording and channel, begin and end each within half a microsecond): none created"),
  tags_added: z.number().int().describe("Tags the existing clips gained"),
  tag_columns: z.array(z.string()).describe("The columns whose cells became tags"),
  ignored_columns: z.array(z.string()).describe("Columns the import does not use, in the header's order: Raven's measurements (Raven Pro's list), exported feature values (feature:…), End Path, Clip ID (a row's clip is found by its times, band and channel, not by it), cells under a header without a name (column N (no name))"),
  rows: z.array(z.object({
    line: z.number().int().describe("The line of the table the row starts on (the header is line 1)"),
    selection: z.string().nullable().describe("Its Selection number"),
    clip_id: z.uuid(),
    recording_id: z.uuid(),
    status: z.enum(["created", "existing"]),
  })),
  skipped: z.array(z.object({ line: z.number().int(), reason: z.string() })).describe("Rows that became no clip, each with why: an Audacity point label (start = end) marks an instant"),
  warnings: z.array(z.object({
    line: z.number().int().describe("The row's line (the header is line 1)"),
    column: z.string().describe("The column the warning is about (Clip ID)"),
    message: z.string(),
  })).describe("What a row did that its table may not have meant: a row that is not the clip its Clip ID names (its times, band or channel differ) made a clip beside that one, or is another existing clip — an import never moves a clip by its Clip ID"),
});

/** This route's 415: it takes text as well as JSON (the shared one says JSON only). */
/** An export's count of clips past their recording's end, which a table (Raven's format has no comment line) cannot say. */
const CLIPS_PAST_END_HEADER = { "X-Clips-Past-End": "How many of the clips end past their recording's end (its file refreshed shorter): a re-import keeps them as they are; a new or moved clip there is refused" };

const unsupportedMediaType = errorBody.describe(`Unsupported Media Type: the body is sent neither as application/json nor as ${TABLE_MEDIA_TYPES.join(", ")}`);

export const clipTableRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ["clips"];
  const sql = app.db.sql;
  // A table is text; here only (this plugin's scope), the other routes take JSON alone.
  // Read as bytes: a UTF-16 table (Excel's "Unicode Text") is decoded by its byte-order mark.
  app.addContentTypeParser(TABLE_MEDIA_TYPES, { parseAs: "buffer", bodyLimit: IMPORT_BODY_LIMIT }, (_request, body, done) => {
    try {
      done(null, decodeTable(body as Buffer));
    } catch (err) {
      done(err as Error);
    }
  });

  app.post("/clips/import", {
    bodyLimit: IMPORT_BODY_LIMIT,
    config: { deadline: TABLE_DEADLINE_MS },
    schema: {
      summary: "Import clips from a Raven selection table, CSV or Audacity label track", tags,
      description: `The table is the body: text (Content-Type text/plain, text/tab-separated-values or text/csv) or JSON {"table": "…"}; the options are query parameters. One transaction: every row becomes a clip, or none does (400 naming each faulty row by line and column). A row's clip is [begin, end) of its recording (a dataset's: the recording its Begin Path ends, else its Begin File names); its annotation columns become tags (column → cell, empty cells none), a channel other than 1 the tag Channel, Low/High Freq the clip's frequency bounds low_freq / high_freq (real Hz; an empty cell is no bound on that side). A row whose clip exists (same recording and channel, begin and end each within half a microsecond, frequency bounds each absent from both or within a millihertz) creates none: that clip gains the row's tags it lacks — so importing a table again creates nothing. Rows of one Selection and Channel (Raven writes one per View) are one clip. At most ${MAX_TABLE_ROWS} rows and ${IMPORT_BODY_LIMIT} bytes (413) per import.`,
      consumes: ["application/json", ...TABLE_MEDIA_TYPES],
      querystring: z.strictObject({
        ...target,
        format: oneOf(TABLE_FORMATS).optional().describe("raven (tab-separated), csv (Raven's columns, comma-separated) or audacity (label track); default: recognised from the first line"),
        times,
        tag_columns: list("Raven/CSV: the columns that become tags, comma-separated; default every column that neither places the selection nor is a measurement (a header ending in a unit: (s), (Hz), (dB)…) or an exported feature value (feature:…)").optional(),
        label_key: label(255).optional().describe("Audacity: the tag key of a label (default label)"),
        name: z.string().max(200, "must be at most 200 characters").optional().describe("The table's file name, for the run's description"),
      }),
      body: z.union([z.string().describe("The table as text"), z.strictObject({ table: z.string({ error: "must be the table's text" }) })], { error: `must be the table as text (Content-Type ${TABLE_MEDIA_TYPES.join(", ")}) or JSON {"table": "…"}` }),
      response: { 200: importResult, 404: errorBody, 409: errorBody, 415: unsupportedMediaType },
    },
  }, async (request) => {
    const q = request.query;
    return importClipTable(app.db, {
      target: targetOf(q),
      text: typeof request.body === "string" ? request.body : request.body.table,
      format: q.format, times: q.times, tag_columns: q.tag_columns, label_key: q.label_key, source: q.name,
      created_by: request.user?.id ?? null,
    });
  });

  app.get("/clips/export", {
    config: { deadline: TABLE_DEADLINE_MS },
    schema: {
      summary: "Export clips as a Raven selection table or CSV", tags,
      description: `The clips of a recording or dataset (the clips list's filters apply, the band's min_freq / max_freq too) as a Raven selection table (tab-separated; Raven opens it beside the recording) or CSV, a row per clip by recording path and time: Selection, View, Channel, Begin Time (s), End Time (s), Low Freq (Hz), High Freq (Hz) as Raven writes them, Begin Path (the recording's path in its dataset), File Offset (s), Begin File, Clip ID, a column per tag key (several values of one key joined by "; "; a ";" or "\\" inside a value written "\\;" or "\\\\", which the import reads as one value) and, when asked, feature values as feature:NAME columns. Low/High Freq are the clip's frequency bounds (low_freq / high_freq), each empty where it has none. Importing the table again creates nothing — a clip past its recording's end too (its file refreshed shorter; counted in X-Clips-Past-End), which stays as it is. At most ${MAX_EXPORT_ROWS} clips (400 above). Streamed: the refusals come first, then the rows a page at a time as they are read.`,
      querystring: withBandInOrder(withTagKeyForValue(z.strictObject({
        ...target,
        format: oneOf(["raven", "csv"]).default("raven"),
        times,
        features: z.string().default("none").describe(`Feature values as columns: none, all (every feature a clip has a number of), or names, comma-separated; at most ${MAX_FEATURE_COLUMNS} (400 naming features above)`),
        state: stateQuery,
        start_before: decimalText(z.number({ error: "must be a finite number of seconds" })).optional().describe("Only clips that start before this time (s, real time)"),
        end_after: decimalText(z.number({ error: "must be a finite number of seconds" })).optional().describe("Only clips that end after this time (s, real time)"),
        ...bandQuery,
        ...tagQuery("clips"),
      }))),
      response: {
        200: bytesResponse("The table", ["text/plain", "text/csv"], { ...DISPOSITION_HEADER, ...CLIPS_PAST_END_HEADER }),
        404: errorBody,
        409: errorBody,
      },
    },
  }, async (request, reply) => {
    const { features, format, ...q } = withTagFilter(request.query);
    const table = await exportClipTable(sql, { ...q, target: targetOf(q), format, features: featureColumns(features) });
    reply.type(format === "raven" ? "text/plain; charset=utf-8" : "text/csv; charset=utf-8");
    reply.header("Content-Disposition", attachment(table.filename)).header("X-Clips-Past-End", String(table.clipsPastEnd));
    // Sent as it is read (its refusals came before): a database failure past here cuts it short.
    return reply.send(Readable.from(table.text));
  });
};
