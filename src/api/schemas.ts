/**
 * zod schemas shared by the route files: pages, list queries, ids, timestamps and the error
 * body. The OpenAPI document is generated from these (fastify-type-provider-zod).
 */
import type { FastifySchemaCompiler, FastifySchemaValidationError } from "fastify";
import { z } from "zod";
import { booleanText, decimalText, integerText } from "../engine/params.js";
import { recordId, STATES } from "../store/common.js";
import { isBlank, wellFormed, WELL_FORMED } from "../store/labels.js";
import { MAX_RANGES } from "./byte-range.js";

/** A record id, lower-cased (store/common.ts recordId): the routes' `id` parameters and id fields. */
export const id = recordId;
export const idParams = z.object({ id });

/** Timestamps are ISO 8601 UTC text (the store returns them so; see store/db.ts). */
export const timestamp = z.string().describe("ISO 8601 date-time (UTC)");
export const nullableTimestamp = timestamp.nullable();

/** A note's author's or a clip's creator's username, for everyone to read (users themselves are read with a token only). */
export const authorUsername = z.string().nullable().describe("The username of its author (created_by), null without one");

/** The notes a recording or clip carries (store/notes.ts carriedNotes). */
export const carriedNotes = (on: "recording" | "clip") =>
  z.array(z.object({ id: z.uuid(), message: z.string(), is_issue: z.boolean(), created_at: timestamp, created_by: z.uuid().nullable(), created_by_username: authorUsername }))
    .describe(`Its active notes, oldest first (GET /v1/notes?${on}_id=…&state=all lists the archived ones too)`);

/** The maximum page size; larger `limit`s are refused rather than silently cut. */
export const MAX_LIMIT = 1000;

/**
 * Numbers in a query string or a path are read as the spectrogram parameters read theirs
 * (engine/params.ts decimalFromText): decimal, with an optional sign, fraction and exponent —
 * never the hex, octal or binary `Number()` (and z.coerce) would take, nor spaces around it.
 */
export { booleanText, decimalText, integerText };

/** An integer in [min, max] from a query string. */
const int = (min: number, max: number) => integerText(z.number({ error: "must be an integer" }).min(min, { error: `must be >= ${min}`, abort: true }).max(max, { error: `must be <= ${max}`, abort: true }).int("must be an integer"));

// Defaults of fields read from text are `prefault`s: zod's JSON Schema of a query (its input
// side) leaves out the `default` of a field whose input is transformed, not a prefault.
export const pageQuery = {
  limit: int(1, MAX_LIMIT).prefault(50).describe("Items per page"),
  offset: int(0, Number.MAX_SAFE_INTEGER).prefault(0).describe("Items to skip"),
};

/**
 * An enumerated input field (a query parameter, a body field): one of `values`, a value outside
 * them refused in the API's words, `must be one of a, b, c` — zod's own read `Invalid option:
 * expected one of "a"|"b"|"c"`.
 */
export function oneOf<const T extends readonly string[]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(", ")}` });
}

/** Which records a listing shows: active (default), archived, trashed, or all. */
export const stateQuery = oneOf([...STATES, "all"]).default("active");

/** `sort` names a column from `columns`; `order` is asc or desc. */
export function sortQuery<const T extends readonly [string, ...string[]]>(columns: T, defaultColumn: T[number]) {
  return {
    sort: oneOf(columns).default(defaultColumn as never),
    order: oneOf(["asc", "desc"]).default("asc"),
  };
}

/** The page envelope of every listing (SPEC §5). */
export function page<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), limit: z.number().int(), offset: z.number().int(), total: z.number().int() });
}

/**
 * The page of a listing that pages by cursor too (store/common.ts KeysetPage): SPEC §5's envelope,
 * with `next_cursor`, and `offset` and `total` null on a page after a cursor. `record` names the
 * listing's items in the descriptions ("recording"); `query`, what a cursor is bound to (cursorQuery).
 */
export function keysetPage<T extends z.ZodType>(item: T, record: string, query: string) {
  return page(item).extend({
    offset: z.number().int().nullable().describe("Null on a page after a cursor, which counts nothing"),
    total: z.number().int().nullable().describe(`Every ${record} the filters select; null on a page after a cursor, which counts nothing (the first page, without a cursor, has it)`),
    next_cursor: z.string().nullable().describe(`Where the next page begins (give it as cursor, with the same ${query}; limit may change); null when no ${record} follows this page`),
  });
}

/**
 * The `cursor` query parameter of a listing that pages by cursor (keysetPage): a page's
 * next_cursor, the base64url of a JSON text of at most `jsonBytes` — longer is none the store gave.
 * `query` names what the cursor is bound to: the listing's filters, state and, where it has them,
 * sort and order.
 */
export function cursorQuery(jsonBytes: number, query: string) {
  return {
    cursor: z.string().min(1).max(4 * Math.ceil(jsonBytes / 3)).optional()
      .describe(`A page's next_cursor, given with that page's ${query} unchanged (limit may change): the page after it, which rows created or deleted meanwhile do not shift — a row whose sort key is changed meanwhile may be listed twice or not at all (offset then 0, or left out; with other ${query} it is a 400 naming cursor)`),
  };
}

/**
 * The most JSON a cursor of a listing sorted by numbers and times holds (cursorQuery): its sort,
 * order and filters' digest, three keys — a timestamp's text is 35 characters at most, a float8's
 * 24 — the id and punctuation.
 */
export const NUMERIC_CURSOR_BYTES = 512;

/** A time interval in real seconds, as the spectrogram and playback routes take it. */
export const interval = {
  start_time: decimalText(z.number({ error: "must be a number of seconds" }).min(0, "must be >= 0")).describe("Start of the interval, s (real time)"),
  end_time: decimalText(z.number({ error: "must be a number of seconds" }).positive("must be > 0")).describe("End of the interval, s (real time)"),
};

/** Every error response. */
export const errorBody = z.object({
  statusCode: z.number().int(),
  error: z.string().describe("HTTP reason phrase"),
  message: z.string().describe("What went wrong and what to do about it"),
  fields: z.array(z.object({ field: z.string(), message: z.string() })).optional().describe("Invalid fields (400), or the field whose value another record holds (409: a name taken)"),
});

/** Strings of at most `max` characters, at least `min`. */
export const text = (min: number, max: number) =>
  z.string({ error: "must be a string" }).min(min, min === 1 ? "must not be empty" : `must be at least ${min} characters`).max(max, `must be at most ${max} characters`)
    .refine(wellFormed, WELL_FORMED);

/**
 * What a field must be, in the API's words, for a validation issue whose schema gave no message of
 * its own (the error map of every parse apiValidatorCompiler makes): `search` of 256 characters said
 * zod's "Too big: expected string to have <=255 characters" beside "must be at most 255 characters"
 * for a name. Undefined: zod's own words (an issue no other schema words).
 */
export function apiWording(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type": {
      const expected: Record<string, string> = { string: "a string", number: "a number", int: "an integer", boolean: "true or false", object: "an object", array: "an array" };
      return expected[issue.expected] ? `must be ${expected[issue.expected]}` : undefined;
    }
    case "too_big":
    case "too_small": {
      const most = issue.code === "too_big";
      const bound = issue.code === "too_big" ? issue.maximum : issue.minimum;
      const inclusive = issue.inclusive !== false;
      if (issue.origin === "string") return `must be at ${most ? "most" : "least"} ${bound} characters`;
      if (issue.origin === "array" || issue.origin === "set") return `must hold at ${most ? "most" : "least"} ${bound} items`;
      if (issue.origin === "number" || issue.origin === "int" || issue.origin === "bigint") return `must be ${most ? "<" : ">"}${inclusive ? "=" : ""} ${bound}`;
      return undefined;
    }
    case "invalid_value":
      return issue.values.length === 1 ? `must be ${String(issue.values[0])}` : `must be one of ${issue.values.map(String).join(", ")}`;
    case "invalid_format":
      return issue.format === "uuid" || issue.format === "guid" ? "must be a UUID" : issue.format === "email" ? "must be an e-mail address" : undefined;
    case "not_multiple_of":
      return `must be a multiple of ${issue.divisor}`;
    default:
      return undefined;
  }
}

/**
 * The app's validator compiler (Fastify's setValidatorCompiler): each route schema parsed with
 * apiWording as that parse's error map — per parse, so that nothing outside the app changes. zod's
 * process-wide `z.config({ customError })`, which buildApp set, gave every zod parse in the process
 * the API's words once one app was built: a program embedding buildApp and using zod for its own
 * ends got them too. Its issues are Fastify's validation errors (err.validation, plugins/errors.ts):
 * the zod issue's code as keyword, its path as instancePath ("/a/0/b"), and its other fields (an
 * unknown key's `keys`) as params.
 */
export const apiValidatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema }) => (data) => {
  const result = schema.safeParse(data, { error: apiWording });
  if (result.success) return { value: result.data };
  return {
    error: result.error.issues.map(({ code, path, message, ...params }): FastifySchemaValidationError => {
      const instancePath = `/${path.map(String).join("/")}`;
      return { keyword: code, instancePath, schemaPath: `#${instancePath}/${code}`, params, message };
    }),
  };
};

/**
 * What the OpenAPI document says of a label's emptiness: at least one character, one of them no
 * space (`\S`, unanchored). label's refinement says nothing a JSON Schema carries, so the
 * document gave a label its maxLength alone and a generated client sent "" or " " for a 400 it did
 * not foresee. The server's check stays stronger — a zero-width space alone is blank to it, not
 * to `\S` — but what the document refuses, the server refuses too: trim() removes exactly what
 * `\s` matches.
 */
const NOT_BLANK_IN_DOCUMENT = { minLength: 1, pattern: "\\S" } as const;

/**
 * Text that names or labels what people read and look up — names, tag keys and values, feature
 * names, note messages: trimmed and in Unicode NFC, so that "v " is the tag "v" and "Café" typed
 * with a combining accent is the "Café" typed without; refused when blank — nothing but spaces,
 * invisible format characters (a zero-width space) or other characters Unicode says to draw as
 * nothing (Default_Ignorable_Code_Point: the Hangul filler U+3164) — or not well-formed.
 */
export const label = (max: number) =>
  z.string({ error: "must be a string" }).trim().normalize("NFC").max(max, `must be at most ${max} characters`)
    .refine(wellFormed, WELL_FORMED).refine((v) => !isBlank(v), "must not be empty or blank")
    .meta(NOT_BLANK_IN_DOCUMENT);

/** A tag as a client names it (SPEC §5 tags: key and value, 1–255 characters): body or query. */
export const tagPair = z.strictObject({ key: label(255), value: label(255) });

/**
 * A listing's tag filter (recordings, clips): `tag_key` alone keeps the records carrying a tag of
 * that key, whatever its value; with `tag_value`, the one tag. `records` names what is listed, in
 * the descriptions.
 */
export const tagQuery = (records: string) => ({
  tag_key: label(255).optional().describe(`Only ${records} carrying a tag of this key: of any value, or of tag_value when given`),
  tag_value: label(255).optional().describe(`With tag_key: only ${records} carrying the tag tag_key = tag_value (exact, case-sensitive)`),
});

/** `query` (with tagQuery's fields) refusing a tag_value without its tag_key: a value alone names no tag (400 naming tag_value). */
export const withTagKeyForValue = <T extends z.ZodType<{ tag_key?: string; tag_value?: string }>>(query: T) =>
  query.refine((q) => q.tag_value === undefined || q.tag_key !== undefined, { message: "needs tag_key: a tag is a key and a value", path: ["tag_value"] });

/**
 * The clips' band filter from a query string (store/clips.ts ClipFilter), real Hz as the clips'
 * low_freq / high_freq: the band [min_freq, max_freq], a clip listed when its own overlaps it
 * (more than touching it), a missing bound of the clip's being 0 Hz or its recording's Nyquist
 * frequency. Either alone is one side's condition, as start_before / end_after are the window's.
 */
export const bandQuery = {
  min_freq: decimalText(z.number({ error: "must be a number of Hz" }).min(0, "must be >= 0")).optional()
    .describe("Only clips whose band reaches above this frequency: high_freq > min_freq, a clip without high_freq reaching to its recording's Nyquist frequency (Hz, real: after time expansion)"),
  max_freq: decimalText(z.number({ error: "must be a number of Hz" }).positive("must be > 0")).optional()
    .describe("Only clips whose band starts below this frequency: low_freq < max_freq, a clip without low_freq starting at 0 Hz (Hz, real), > min_freq"),
};

/** `query` (with bandQuery's fields) refusing a band that is none: max_freq at or below min_freq (400 naming max_freq). */
export const withBandInOrder = <T extends z.ZodType<{ min_freq?: number; max_freq?: number }>>(query: T) =>
  query.refine((q) => q.min_freq === undefined || q.max_freq === undefined || q.min_freq < q.max_freq, { message: "must be > min_freq: a band has a width", path: ["max_freq"] });

/** A query with tagQuery's fields as the store's listings take it: the pair as `tag` (undefined: no tag filter). */
export function withTagFilter<Q extends { tag_key?: string; tag_value?: string }>({ tag_key, tag_value, ...rest }: Q) {
  return { ...rest, tag: tag_key === undefined ? undefined : { key: tag_key, value: tag_value } };
}

/**
 * A response whose body is bytes, not JSON: declared in the OpenAPI document under the media
 * types the route sends (fastify-type-provider-zod's `content` form), with the headers that
 * describe it (`headers`: name → what it says; @fastify/swagger documents them as strings).
 */
export function bytesResponse(description: string, mediaTypes: readonly string[], headers: Readonly<Record<string, string>> = {}) {
  const bytes = z.any().meta({ type: "string", format: "binary" });
  return { description, content: Object.fromEntries(mediaTypes.map((type) => [type, { schema: bytes }])), headers: documentedHeaders(headers) };
}

/** Headers as a response declares them in the OpenAPI document (@fastify/swagger shows them as strings). `headers`: name → what it says. */
function documentedHeaders(headers: Readonly<Record<string, string>>): Record<string, { type: "string"; description: string }> {
  return Object.fromEntries(Object.entries(headers).map(([name, text]) => [name, { type: "string", description: text }]));
}

/**
 * An error answer that carries headers beside its body (the error body, unless `body`), declared
 * with them: a download's 416 states the file's size in Content-Range (`bytes *\/size`, RFC 9110
 * §15.5.17). `headers`: name → what it says.
 */
export function errorWithHeaders(description: string, headers: Readonly<Record<string, string>>, body: z.ZodType = errorBody) {
  return { description, content: { "application/json": { schema: body } }, headers: documentedHeaders(headers) };
}

/** The validator of a response that can be revalidated (If-None-Match → 304). */
export const ETAG_HEADER = { ETag: "the validator to send back as If-None-Match (304 when unchanged)" };
/** The file name a download is saved under (api/attachment.ts). */
export const DISPOSITION_HEADER = { "Content-Disposition": "attachment, with the file's name (filename* in UTF-8, filename an ASCII stand-in)" };

/** A download that answers Range requests (api/byte-range.ts). */
export const ACCEPT_RANGES_HEADER = { "Accept-Ranges": "bytes: Range requests are answered with 206" };
/** The part of the file a 206 holds. */
export const CONTENT_RANGE_HEADER = { "Content-Range": "bytes first-last/size, when one range is sent (a multipart/byteranges answer's parts carry their own)" };

/** How a download answers Range (api/byte-range.ts), for its route's description. */
export const RANGES_DESCRIPTION = `Range: bytes=first-last, bytes=first- or bytes=-suffix answers 206 with Content-Range; several ranges (bytes=0-99,200-299) a 206 multipart/byteranges body (RFC 9110 §14.6), one part per range in the order asked, each with its Content-Type and Content-Range — overlapping and adjacent ranges merged into one, and ranges that merge into one answered as a single range. 416 with Content-Range: bytes */size when no range starts inside the file, or when more than ${MAX_RANGES} separate ranges remain after merging (ask in several requests). If-Range honoured (a stale one gets the whole file, 200); so does a Range that is invalid (a last byte before the first) or in another unit. HEAD answers the same status and headers, Content-Length that of the GET's body.`;

/** A download's 206: one range of the file, or several as multipart/byteranges. `mediaTypes`: those of the file; `headers`: those of every download. */
export function rangesResponse(mediaTypes: readonly string[], headers: Readonly<Record<string, string>>) {
  return bytesResponse("The requested range of the file (Content-Range), or several in a multipart/byteranges body", [...mediaTypes, "multipart/byteranges"], { ...headers, ...CONTENT_RANGE_HEADER });
}

/** When to ask again, on a 503 (plugins/deadline.ts, drain.ts, errors.ts; a busy tile pool). */
export const RETRY_AFTER_HEADER = { "Retry-After": "seconds to wait before asking again: sent where repeating the request is safe (a read; any request while the server closes), absent when a write's outcome is unknown" };

/** A download's 416: a range outside the file, whose size Content-Range names. */
export const RANGE_NOT_SATISFIABLE = `Range Not Satisfiable: every range starts past the file's end, or more than ${MAX_RANGES} separate ranges were asked for (Content-Range: bytes */size)`;
/** What a 416 carries besides the download's other headers. */
export const UNSATISFIED_RANGE_HEADER = { "Content-Range": "bytes */size: the file's size, which the ranges asked for fall outside" };

/**
 * A 304: no body (documented without content, see app.ts), with the headers it repeats from the
 * 200 — the validator and caching a cache updates its stored copy with (RFC 9110 §15.4.5).
 * `headers`: name → what it says; app.ts reads them from the schema's metadata.
 */
export function notModifiedResponse(headers: Readonly<Record<string, string>>) {
  return z.null().meta({ description: "Not Modified: the copy If-None-Match names is current (no body)", headers: documentedHeaders(headers) });
}

/**
 * Route config that lists the route's HEAD in the OpenAPI document. Fastify answers HEAD for every
 * GET route (its handler, the body left out), but @fastify/swagger leaves HEAD out of the document
 * unless a route asks: the downloads and tiles do, for the clients that ask for their headers
 * alone — a file's length and Accept-Ranges before a ranged download, an ETag before fetching
 * again (SPEC §4). app.ts documents a HEAD's responses as the GET's, without bodies.
 */
export const HEAD_DOCUMENTED = { swagger: { exposeHeadRoute: true } };

// Year 0000 passes ISO 8601's pattern but no PostgreSQL date (there is no year 0 AD): refused here, naming the field.
export const calendarDate = z.iso.date({ error: "must be a date YYYY-MM-DD" }).refine((d) => !d.startsWith("0000"), "must be a date from 0001-01-01 (there is no year 0)");

/**
 * GET /v1/recordings' filters besides paging and sorting (store: RecordingFilter and the state);
 * a bulk tagging selects recordings by the same (routes/recording-tags.ts). Wrap an object holding them
 * in withTagKeyForValue and withDatesInOrder.
 */
export const recordingFilters = {
  state: stateQuery,
  dataset_id: id.optional(),
  search: z.string().max(1024).optional().describe("Substring of the path, case-insensitive, both compared in Unicode NFC"),
  hash: z.string().regex(/^[0-9a-f]{32}$/, "must be an MD5 in lower-case hex").optional(),
  date_from: calendarDate.optional().describe("Only recordings of this date (YYYY-MM-DD) or later; those without a date are left out"),
  date_to: calendarDate.optional().describe("Only recordings of this date (YYYY-MM-DD) or earlier, on or after date_from; those without a date are left out"),
  ...tagQuery("recordings"),
};

/** `query` refusing date_to before date_from, which no recording's date is between (400 naming date_to). */
export const withDatesInOrder = <T extends z.ZodType<{ date_from?: string; date_to?: string }>>(query: T) =>
  query.superRefine((q, ctx) => {
    // YYYY-MM-DD compare as their dates do.
    if (q.date_from !== undefined && q.date_to !== undefined && q.date_to < q.date_from) ctx.addIssue({ code: "custom", message: `must be on or after date_from (${q.date_from})`, path: ["date_to"] });
  });
