/**
 * A request without a field it requires is told the field `is required` — not the format a value
 * of it must have: POST /v1/clips without recording_id answered `recording_id: must be an RFC 9562
 * UUID…`, POST /v1/notes {} `message: must be a string`, POST /v1/users {} zod's own `Invalid input:
 * expected string, received undefined`. Walked from the OpenAPI document — every operation's
 * required body properties and required query parameters — so a route added later is walked too.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { UUID_RULE } from "../src/store/common.js";
import { adminApp } from "./http-helpers.js";

/** An app on a fresh database, and its admin's Authorization header (beyond loopback, a token). */
const api = adminApp();

/** The part of a JSON Schema (OpenAPI 3.0) the walk reads. */
interface Schema {
  type?: string;
  format?: string;
  enum?: unknown[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
}

interface Operation {
  parameters?: { name: string; in: string; required?: boolean; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
}

/** A value of `schema` as a client would send it: the first of an enum or of alternatives, an object with its required properties. */
function example(schema: Schema): unknown {
  if (schema.enum) return schema.enum[0];
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) return example(alternatives[0]);
  switch (schema.type) {
    case "object": return Object.fromEntries((schema.required ?? []).map((name) => [name, example(schema.properties![name])]));
    case "array": return [example(schema.items!)];
    case "number": case "integer": return 1;
    case "boolean": return true;
    default: return schema.format === "uuid" ? randomUUID() : schema.format === "date-time" ? "2999-01-01T00:00:00Z" : schema.format === "base64" ? "" : "x";
  }
}

/**
 * The paths of `schema`'s required properties, and of theirs when an object's (a body's one
 * alternative, POST /v1/jobs, is walked as that object). The properties of alternatives among
 * several are not: which one a value is decides what it requires (a union's own message names them).
 */
function requiredPaths(schema: Schema): string[][] {
  if (schema.oneOf?.length === 1) return requiredPaths(schema.oneOf[0]);
  if (schema.type !== "object") return [];
  return (schema.required ?? []).flatMap((name) => [[name], ...requiredPaths(schema.properties![name]).map((path) => [name, ...path])]);
}

/** `value` without the property at `path`. */
function without(value: object, path: string[]): object {
  const [name, ...rest] = path;
  const { [name]: inner, ...others } = value as Record<string, unknown>;
  return rest.length ? { ...others, [name]: without(inner as object, rest) } : others;
}

interface Omission {
  route: string;
  field: string;
  request: { method: string; url: string; payload?: object };
}

/** Every operation's requests each leaving out one required body property or query parameter, the rest given. */
async function omissions(): Promise<Omission[]> {
  const doc = (await api.app.inject({ url: "/openapi.json" })).json() as { paths: Record<string, Record<string, Operation>> };
  // A HEAD is walked as its GET: its 400 has no body to name the field.
  return Object.entries(doc.paths).flatMap(([path, operations]) => Object.entries(operations).filter(([lower]) => lower !== "head").flatMap(([lower, op]) => {
    const method = lower.toUpperCase();
    const url = path.replace(/\{[^}]+\}/g, randomUUID());
    const route = `${method} ${path}`;
    const bodySchema = op.requestBody?.content["application/json"]?.schema;
    const body = bodySchema && (example(bodySchema) as object);
    const queries = (op.parameters ?? []).filter((p) => p.in === "query" && p.required);
    const query = (left: string | undefined) => new URLSearchParams(queries.filter((p) => p.name !== left).map((p) => [p.name, String(example(p.schema))])).toString();
    const fromBody = bodySchema ? requiredPaths(bodySchema).map((field) => ({ route, field: field.join("."), request: { method, url: `${url}?${query(undefined)}`, payload: without(body!, field) } })) : [];
    const fromQuery = queries.map((p) => ({ route, field: p.name, request: { method, url: `${url}?${query(p.name)}`, ...(bodySchema ? { payload: body } : {}) } }));
    return [...fromBody, ...fromQuery];
  }));
}

/** The fields a request's 400 names, each with its message (the status when it is no 400). */
async function refusal(request: Omission["request"]): Promise<{ field: string; message: string }[] | number> {
  const res = await api.app.inject({ ...request, method: request.method as "POST", headers: api.admin });
  return res.statusCode === 400 ? res.json().fields : res.statusCode;
}

describe("a missing required field", () => {
  it("is refused as `is required`, naming it, on every route's body and query", async () => {
    const walked = await omissions();
    // The walk reaches the routes the persona walk found, the nested fields of a job's data, and the required query parameters.
    expect(walked.map((o) => `${o.route} ${o.field}`)).toEqual(expect.arrayContaining([
      "POST /v1/clips recording_id", "POST /v1/notes message", "POST /v1/datasets name", "POST /v1/tags key", "POST /v1/users username",
      "POST /v1/jobs task", "POST /v1/jobs data", "POST /v1/jobs data.targets",
      "DELETE /v1/recordings/{id}/tags key", "DELETE /v1/clips/{id}/tags value", "GET /v1/recordings/{id}/playback start_time",
    ]));
    const answers = [];
    for (const o of walked) answers.push({ route: o.route, field: o.field, refused: await refusal(o.request) });
    // Only the field left out is refused: the walk's values for the others pass validation.
    expect(answers).toEqual(walked.map((o) => ({ route: o.route, field: o.field, refused: [{ field: o.field, message: "is required" }] })));
  });

  it("is said so in the message, as the persona walk's requests show", async () => {
    const post = (url: string, payload: object) => api.app.inject({ method: "POST", url, headers: api.admin, payload });
    const clip = await post("/v1/clips", { start_time: 1, end_time: 2 });
    expect([clip.statusCode, clip.json()]).toEqual([400, {
      statusCode: 400, error: "Bad Request", message: "invalid body: recording_id: is required", fields: [{ field: "recording_id", message: "is required" }],
    }]);
    expect((await post("/v1/notes", {})).json().message).toBe("invalid body: message: is required");
    expect((await post("/v1/datasets", { audio_dir: "/x" })).json().message).toBe("invalid body: name: is required");
    expect((await post("/v1/tags", { value: "v" })).json().message).toBe("invalid body: key: is required");
    const untag = await api.app.inject({ method: "DELETE", url: `/v1/recordings/${randomUUID()}/tags`, headers: api.admin });
    expect([untag.statusCode, untag.json().message]).toEqual([400, "invalid query: key: is required; value: is required"]);
  });

  it("is told apart from a value sent of the wrong form, null included, which keeps its field's rule", async () => {
    const post = (url: string, payload: object) => refusal({ method: "POST", url, payload });
    expect(await post("/v1/clips", { recording_id: "nope", start_time: 1, end_time: 2 })).toEqual([{ field: "recording_id", message: UUID_RULE }]);
    expect(await post("/v1/clips", { recording_id: null, start_time: 1, end_time: 2 })).toEqual([{ field: "recording_id", message: UUID_RULE }]);
    expect(await post("/v1/notes", { message: 5 })).toEqual([{ field: "message", message: "must be a string" }]);
    expect(await post("/v1/notes", { message: null })).toEqual([{ field: "message", message: "must be a string" }]);
    // Sent empty is sent: a query parameter without a value is blank, not missing.
    expect(await refusal({ method: "DELETE", url: `/v1/clips/${randomUUID()}/tags?key=&value=v` })).toEqual([{ field: "key", message: "must not be empty or blank" }]);
    // A job's data that is no object still says what data holds.
    expect(await post("/v1/jobs", { task: "extract_features", data: "targets" })).toEqual([{ field: "data", message: "must be the task's data, an object {targets, features?, params?, band?, expiration_delay?}" }]);
    // A field a rule asks for beside another keeps the rule's words (a tag's value alone names no tag).
    expect(await refusal({ method: "GET", url: "/v1/recordings?tag_value=v" })).toEqual([{ field: "tag_value", message: "needs tag_key: a tag is a key and a value" }]);
  });
});
