/**
 * Every enumerated query parameter of every route refuses a value outside its list in the API's
 * own words, `must be one of …` listing the values (the validation library's raw wording,
 * `Invalid option: expected one of "pending"|…`, answered GET /v1/jobs?status= and GET
 * /v1/runs?kind= and status=). Walked from the OpenAPI document, so a route added later is walked too.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { adminApp } from "./http-helpers.js";

/** An app on a fresh database, and its admin's Authorization header (beyond loopback, a token). */
const api = adminApp();

interface Parameter {
  name: string;
  in: string;
  schema?: { enum?: unknown[] };
}

/** Each route's enumerated query parameters: method, path (ids filled in), the parameter and its values. */
async function enumQueries(): Promise<{ method: string; url: string; name: string; values: string[] }[]> {
  const doc = (await api.app.inject({ url: "/openapi.json" })).json() as { paths: Record<string, Record<string, { parameters?: Parameter[] }>> };
  return Object.entries(doc.paths).flatMap(([path, operations]) => Object.entries(operations).flatMap(([method, op]) => (op.parameters ?? [])
    .filter((p) => p.in === "query" && Array.isArray(p.schema?.enum))
    .map((p) => ({ method: method.toUpperCase(), url: path.replace(/\{[^}]+\}/g, randomUUID()), name: p.name, values: p.schema!.enum!.filter((v) => v !== null).map(String) }))));
}

describe("enumerated query parameters", () => {
  it("refuse a value outside their list with `must be one of …` naming the parameter, on every route", async () => {
    const queries = await enumQueries();
    // The walk reaches the routes the reviewer found, and others.
    expect(queries.map((q) => `${q.method} ${q.url.replace(/[0-9a-f-]{36}/g, "ID")} ${q.name}`)).toEqual(expect.arrayContaining([
      "GET /v1/jobs status", "GET /v1/runs kind", "GET /v1/runs status", "GET /v1/jobs sort", "GET /v1/clips/export format", "POST /v1/clips/import times", "PATCH /v1/recordings/ID clips",
    ]));
    const answers = [];
    for (const q of queries) {
      // A route taking a body has it checked before the query: the import an empty table, a PATCH no change.
      const body = q.url === "/v1/clips/import" ? { payload: { table: "" } } : q.method === "PATCH" ? { payload: {} } : {};
      const res = await api.app.inject({ method: q.method as "GET", url: `${q.url}?${q.name}=bogus`, headers: api.admin, ...body });
      answers.push({ route: `${q.method} ${q.url} ${q.name}`, status: res.statusCode, fields: res.json().fields });
    }
    expect(answers).toEqual(queries.map((q) => ({
      route: `${q.method} ${q.url} ${q.name}`,
      status: 400,
      fields: [{ field: q.name, message: `must be one of ${q.values.join(", ")}` }],
    })));
  });
});
