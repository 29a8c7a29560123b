/**
 * What the OpenAPI document tells a generated client, checked against what the server does —
 * the gaps an audit of all operations against the document found:
 * - the labels the server refuses when empty or blank (names, tag keys and values, note messages,
 *   metric keys) carried only their maxLength: a client validating with the document sent "" and " "
 *   and got a 400 the document did not foresee;
 * - the base64 pattern of a metric's `data` made Ajv (unicode regular expressions, its default)
 *   throw "Maximum call stack size exceeded" on values above ~5 M characters, under a maxLength of 10 M;
 * - every operation inherited the global bearer requirement, though on loopback the reads answer
 *   without a token.
 * Validated with Ajv, as generated clients and API gateways do.
 */
import { randomUUID } from "node:crypto";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { adminApp } from "./http-helpers.js";

/** An app on a fresh database, and its admin's Authorization header (beyond loopback, a token). */
const api = adminApp();

interface Schema { type?: string; minLength?: number; maxLength?: number; pattern?: string; format?: string; properties?: Record<string, Schema> }
interface Operation { operationId: string; security?: unknown[]; parameters?: { name: string; in: string; schema: Schema }[]; requestBody?: { content: Record<string, { schema: Schema }> } }
type Document = { paths: Record<string, Record<string, Operation>> };

/** The document `a` serves (beyond loopback, to a token). */
const documentOf = async (a: App) => (await a.inject({ url: "/openapi.json", headers: api.admin })).json() as Document;

/** The operation named `operationId` in `doc`, with its method and path. */
function operation(doc: Document, operationId: string): Operation & { method: string; path: string } {
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) if (op.operationId === operationId) return { ...op, method, path };
  }
  throw new Error(`no operation ${operationId}`);
}

/** The schema `doc` gives field `field` of `operationId`: a query parameter (`in` query) or a property of its JSON body. */
function fieldSchema(doc: Document, operationId: string, where: "query" | "body", field: string): Schema | undefined {
  const op = operation(doc, operationId);
  if (where === "query") return op.parameters?.find((p) => p.in === "query" && p.name === field)?.schema;
  return op.requestBody?.content["application/json"]?.schema.properties?.[field];
}

/** Ajv as clients use it: its defaults (unicode regular expressions), unknown formats not checked. */
const ajv = () => new Ajv({ strict: false, validateFormats: false });

/** The fields the server trims and refuses empty or blank (schemas.ts `label`): [operationId, where, field]. */
const LABELS: [string, "query" | "body", string][] = [
  ["postTokens", "body", "name"],
  ["postDatasets", "body", "name"],
  ["patchDatasetsById", "body", "name"],
  ["postRecordingsByIdFeatures", "body", "name"],
  ["postClipsByIdFeatures", "body", "name"],
  ["postFeatureNames", "body", "name"],
  ...["postTags", "postRecordingsByIdTags", "postClipsByIdTags", "postRecordingsTags", "deleteRecordingsTags"].flatMap((op) => [[op, "body", "key"], [op, "body", "value"]] as [string, "body", string][]),
  ...["deleteRecordingsByIdTags", "deleteClipsByIdTags"].flatMap((op) => [[op, "query", "key"], [op, "query", "value"]] as [string, "query", string][]),
  ["postNotes", "body", "message"],
  ["patchNotesById", "body", "message"],
  ["putJobsByIdMetrics", "body", "key"],
  ...["getRecordings", "getClips", "getClipsExport"].flatMap((op) => [[op, "query", "tag_key"], [op, "query", "tag_value"]] as [string, "query", string][]),
  ["getTags", "query", "key"],
  ["getJobsByIdMetrics", "query", "key"],
];

describe("the OpenAPI document, as a generated client reads it", () => {
  it("gives every label the server refuses empty or blank a minLength of 1 and a pattern needing a character that is not a space — Ajv on the document refuses \"\" and \" \", as the server does", async () => {
    const doc = await documentOf(api.app);
    const found: string[] = [];
    for (const [operationId, where, field] of LABELS) {
      const schema = fieldSchema(doc, operationId, where, field);
      const name = `${operationId} ${where} ${field}`;
      expect(schema, name).toBeDefined();
      expect([schema!.type, schema!.minLength, schema!.pattern], name).toEqual(["string", 1, "\\S"]);
      const valid = ajv().compile(schema!);
      expect([valid(""), valid(" "), valid("\t\n "), valid("v"), valid(" v ")], name).toEqual([false, false, false, true, true]);
      found.push(name);
    }
    expect(found).toHaveLength(LABELS.length);
    // SPEC §5: tags 1–255 characters, notes 1–1000.
    expect(fieldSchema(doc, "postTags", "body", "key")!.maxLength).toBe(255);
    expect(fieldSchema(doc, "postNotes", "body", "message")!.maxLength).toBe(1000);
    // And the server refuses them so, in its own words, naming the field.
    for (const [url, method, payload, field] of [
      ["/v1/tokens", "POST", { name: " " }, "name"],
      ["/v1/tags", "POST", { key: "", value: "v" }, "key"],
      ["/v1/feature_names", "POST", { name: "\t" }, "name"],
      [`/v1/recordings?tag_key=${encodeURIComponent(" ")}`, "GET", undefined, "tag_key"],
    ] as const) {
      const res = await api.app.inject({ method, url, headers: api.admin, ...(payload ? { payload } : {}) });
      expect([res.statusCode, res.json().fields], url).toEqual([400, [{ field, message: "must not be empty or blank" }]]);
    }
  });

  it("gives a metric's base64 data a pattern Ajv checks at the largest size allowed — the repeated group threw 'Maximum call stack size exceeded' — and the server still refuses data that is no base64, naming data", async () => {
    const doc = await documentOf(api.app);
    const data = fieldSchema(doc, "putJobsByIdMetrics", "body", "data")!;
    expect(data.maxLength).toBe(10_000_000);
    const valid = ajv().compile(data);
    const largest = "QUJD".repeat(2_499_999); // 9,999,996 characters
    expect(largest).toHaveLength(9_999_996);
    expect(valid(largest)).toBe(true);
    expect([valid("QUJD"), valid("QUI="), valid("QQ=="), valid(""), valid("QU JD"), valid("QUJD===")]).toEqual([true, true, true, true, false, false]);
    // The exact check (a multiple of 4 characters, padding at the end only) is the server's.
    const job = randomUUID();
    const put = (body: object) => api.app.inject({ method: "PUT", url: `/v1/jobs/${job}/metrics`, headers: api.admin, payload: body });
    for (const bad of ["QUJ", "QU=D", "Q===", "QUJD=", "QU JD", "QUJD\n"]) {
      const res = await put({ key: "k", data: bad });
      expect([res.statusCode, res.json().fields?.map((f: { field: string }) => f.field)], JSON.stringify(bad)).toEqual([400, ["data"]]);
      expect(res.json().message, JSON.stringify(bad)).toContain("data: must be base64");
    }
    // Valid data passes validation: the job, which does not exist, is what is refused.
    for (const good of ["QUJD", "QUI=", "QQ==", ""]) expect((await put({ key: "k", data: good })).statusCode, JSON.stringify(good)).toBe(404);
  });

  it("describes every response: what its status means for the operation — 275 of 788 were \"Default Response\"", async () => {
    const doc = await documentOf(api.app);
    type Responses = Record<string, { description?: string }>;
    const undescribed: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods as Record<string, Operation & { responses: Responses }>)) {
        for (const [status, response] of Object.entries(op.responses)) {
          if (!response.description || response.description === "Default Response") undescribed.push(`${method.toUpperCase()} ${path} ${status}`);
        }
      }
    }
    expect(undescribed).toEqual([]);
    const responses = (path: string, method: string) => (doc.paths[path][method] as unknown as { responses: Responses }).responses;
    const description = (path: string, method: string, status: number) => responses(path, method)[status].description;
    // A success says which operation's: its summary.
    expect(description("/v1/users", "get", 200)).toBe("OK — List users");
    expect(description("/v1/datasets", "post", 201)).toBe("Created — Create a dataset");
    // A 400 a route declares itself is the validation's, as the common one.
    expect(description("/v1/datasets", "post", 400)).toBe(description("/v1/clips/{id}", "get", 400));
    expect(description("/v1/datasets", "post", 400)).toMatch(/^Bad Request: a field is invalid/);
    // A 404 names what the path's id names.
    expect(description("/v1/recordings/{id}", "get", 404)).toMatch(/^Not Found: no recording has the path's id/);
    expect(description("/v1/jobs/{id}/metrics", "put", 404)).toMatch(/^Not Found: no job has the path's id/);
    expect(description("/v1/notes", "post", 404)).toMatch(/^Not Found: a record the request names/);
    expect(description("/v1/recordings/{id}/audio", "get", 409)).toMatch(/^Conflict: /);
    expect(description("/v1/recordings/{id}/audio", "get", 422)).toMatch(/^Unprocessable Content: the recording's file/);
    expect(description("/v1/artifacts/{id}/file", "get", 410)).toMatch(/^Gone: the artifact has expired/);
    // Descriptions a route gives are kept.
    expect(description("/v1/jobs/{id}/metrics", "put", 409)).toBe("Conflict: the job is archived or trashed (read-only)");
  });

  it("says where a token is optional: on loopback the reads that need none take bearer or nothing; beyond it (requireAuthForReads), every route but /health needs one — and the routes answer so", async () => {
    const locked = await buildApp({ database: api.t.db, audioRoots: [], requireAuthForReads: true });
    try {
      for (const [a, reads] of [[api.app, "optional"], [locked, "required"]] as const) {
        const doc = await documentOf(a);
        expect(doc.paths["/health"].get.security, reads).toEqual([]);
        const optional = [{ bearer: [] }, {}];
        if (reads === "optional") {
          expect(doc.paths["/v1/recordings"].get.security).toEqual(optional);
          expect(doc.paths["/v1/recordings/{id}"].get.security).toEqual(optional);
          // Reads that need a token on loopback too (a user's own tokens, the users) and every write keep the document's requirement.
          expect(doc.paths["/v1/tokens"].get.security).toBeUndefined();
          expect(doc.paths["/v1/users"].get.security).toBeUndefined();
          expect(doc.paths["/v1/clips"].post.security).toBeUndefined();
        } else {
          expect(doc.paths["/v1/recordings"].get.security).toBeUndefined();
        }
        // What each operation's security says is what it answers without a token: 401 where a token is required.
        const mismatches: string[] = [];
        let optionalCount = 0;
        for (const [path, methods] of Object.entries(doc.paths)) {
          for (const [method, op] of Object.entries(methods)) {
            const security = op.security ?? [{ bearer: [] }];
            // An empty list, or an empty requirement among them: no token needed.
            const needsToken = security.length > 0 && !security.some((s) => Object.keys(s as object).length === 0);
            if (!needsToken && path !== "/health") optionalCount++;
            const res = await a.inject({ method: method.toUpperCase() as "GET", url: path.replace(/\{[^}]+\}/g, randomUUID()) });
            if ((res.statusCode === 401) !== needsToken) mismatches.push(`${method.toUpperCase()} ${path}: security ${JSON.stringify(op.security)}, answered ${res.statusCode} without a token`);
          }
        }
        expect(mismatches, reads).toEqual([]);
        if (reads === "optional") expect(optionalCount).toBeGreaterThan(30);
        else expect(optionalCount).toBe(0);
      }
    } finally {
      await locked.close();
    }
  });
});
