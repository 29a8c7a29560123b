/**
 * The HTTP API end to end (Fastify inject) on a fresh database: auth (401/403), validation
 * errors naming fields, 404/409/413, datasets from the fixture recordings, recordings with
 * filters and pages, archive/trash, audio download with ranges, tokens shown once.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { buildApp, type App } from "../src/api/app.js";
import { MAX_RANGES } from "../src/api/byte-range.js";
import { openApiLicense } from "../src/api/openapi-license.js";
import { isLoopbackName } from "../src/api/plugins/auth.js";
import { errorsPlugin } from "../src/api/plugins/errors.js";
import { resolveRoots } from "../src/store/paths.js";
import { createToken, setTokenEnabled } from "../src/store/tokens.js";
import { createUser, ensureAdmin, updateUser } from "../src/store/users.js";
import { multipartParts } from "./http-helpers.js";
import { FIXTURES, freshDatabase, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let app: App;
let admin: string;
let member: string;
let viewer: string;
let memberId: string;

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  t = await freshDatabase();
  admin = (await ensureAdmin(t.db.sql))!.key;
  const m = await createUser(t.db.sql, { username: "member", role: "member" });
  memberId = m.id;
  member = (await createToken(t.db.sql, { user_id: m.id, name: "m", created_by: null })).key;
  const v = await createUser(t.db.sql, { username: "viewer", role: "viewer" });
  viewer = (await createToken(t.db.sql, { user_id: v.id, name: "v", created_by: null })).key;
  app = await buildApp({ database: t.db, audioRoots: await resolveRoots([FIXTURES]), bodyLimit: 64 * 1024 });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
});

describe("service routes", () => {
  it("reports health with the database state, and the version", async () => {
    const health = await app.inject({ url: "/health" });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ status: "ok", database: { status: "ok" }, version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    const version = await app.inject({ url: "/version" });
    expect(version.json()).toMatchObject({ api: "v1", version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  it("names a query parameter given twice instead of failing its type", async () => {
    const res = await app.inject({ url: "/v1/datasets?limit=1&limit=2&offset=0" });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: "limit: is given more than once", fields: [{ field: "limit", message: "is given more than once" }] });
  });

  it("answers a path that takes other methods with a JSON 405 naming them in Allow, not a 404", async () => {
    const res = await app.inject({ method: "PUT", url: "/v1/datasets/" });
    expect([res.statusCode, res.headers.allow, res.json().message]).toEqual([405, "GET, HEAD, POST", "PUT is not a method of /v1/datasets/; it takes GET, HEAD, POST"]);
    const one = await app.inject({ method: "POST", url: `/v1/recordings/00000000-0000-0000-0000-000000000000/audio` });
    expect([one.statusCode, one.headers.allow]).toEqual([405, "GET, HEAD"]);
    // Every segment must match: /v1/recordings/x/audio/0 is no path of any route.
    expect((await app.inject({ method: "DELETE", url: "/v1/recordings/x/audio/0" })).statusCode).toBe(404);
    // Paths as the router reads them: the documentation's routes, percent-encoding, an empty id.
    const allow = async (method: "POST" | "PUT", url: string) => (await app.inject({ method, url })).headers.allow;
    expect(await allow("POST", "/openapi.json")).toBe("GET, HEAD");
    expect(await allow("PUT", "/v1/data%73ets")).toBe("GET, HEAD, POST");
    expect(await allow("POST", "/v1/recordings//audio")).toBe("GET, HEAD");
    expect(await allow("PUT", "/v1/datasets//")).toBe("DELETE, GET, HEAD, PATCH");
  });

  it("answers a malformed percent-encoding in the path with a 400 naming the path parameter it falls in, on every route (it was Fastify's \"'/v1/…' is not a valid url component\", naming none)", async () => {
    const rule = "has a malformed percent-encoding: each % must be followed by two hex digits, the bytes they encode UTF-8 text (a % itself is sent as %25)";
    const refusal = async (method: "GET" | "PATCH" | "DELETE", url: string) => {
      const res = await app.inject({ method, url, headers: auth(admin) });
      return [res.statusCode, res.json()];
    };
    const uuid = "00000000-0000-0000-0000-000000000001";
    const named = (...fields: string[]) => [400, { statusCode: 400, error: "Bad Request", message: `invalid path: ${fields.map((f) => `${f}: ${rule}`).join("; ")}`, fields: fields.map((field) => ({ field, message: rule })) }];
    expect(await refusal("GET", `/v1/recordings/${uuid}/features/%ff`)).toEqual(named("name"));
    expect(await refusal("GET", `/v1/recordings/${uuid}/features/%zz?limit=1`)).toEqual(named("name"));
    expect(await refusal("GET", `/v1/recordings/%ff/features/%`)).toEqual(named("id", "name"));
    expect(await refusal("GET", `/v1/recordings/%c3%28/audio`)).toEqual(named("id"));
    expect(await refusal("PATCH", `/v1/datasets/%ff/`)).toEqual(named("id"));
    expect(await refusal("DELETE", `/v1/datasets/%e2%82`)).toEqual(named("id"));
    // In no parameter (a fixed segment, or no route's path): the path itself.
    const unnamed = [400, { statusCode: 400, error: "Bad Request", message: `the URL's path ${rule}`, fields: [{ field: "path", message: rule }] }];
    expect(await refusal("GET", "/v1/data%ffsets")).toEqual(unnamed);
    expect(await refusal("GET", "/v1/nope/%ff")).toEqual(unnamed);
  });

  it("answers unknown routes with a JSON 404, with or without a token", async () => {
    for (const req of [{ url: "/nope" }, { method: "POST" as const, url: "/v1/nope" }, { url: "/v1/datasets/x/y/z", headers: auth(member) }]) {
      const res = await app.inject(req);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ statusCode: 404, error: "Not Found", message: expect.stringContaining("no route") });
    }
  });

  it("publishes an OpenAPI document generated from the schemas, and the docs UI", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    expect(doc.openapi).toMatch(/^3\./);
    const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
    expect(doc.info).toMatchObject({ version: pkg.version, license: { name: pkg.license } });
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/datasets", "/v1/recordings/{id}", "/v1/tokens", "/health"]));
    const post = doc.paths["/v1/datasets"].post;
    expect(post.requestBody.content["application/json"].schema.required).toEqual(expect.arrayContaining(["name", "audio_dir"]));
    const ui = await app.inject({ url: "/docs/" });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers["content-type"]).toContain("text/html");
  });

  it("links the licence to its SPDX page only when package.json names one identifier: an expression or UNLICENSED is named without a dead link", () => {
    expect(openApiLicense("Apache-2.0")).toEqual({ name: "Apache-2.0", url: "https://spdx.org/licenses/Apache-2.0.html" });
    expect(openApiLicense("GPL-3.0-or-later")).toEqual({ name: "GPL-3.0-or-later", url: "https://spdx.org/licenses/GPL-3.0-or-later.html" });
    for (const license of ["MIT OR Apache-2.0", "(MIT AND BSD-2-Clause)", "UNLICENSED", "SEE LICENSE IN LICENSE.txt"]) {
      expect(openApiLicense(license)).toEqual({ name: license });
    }
  });

  /**
   * The app's modules loaded afresh, reading the package's package.json with `license` replaced
   * (undefined: removed); every other file as it is.
   */
  async function appModulesWithLicense(license: string | undefined): Promise<typeof import("../src/api/app.js")> {
    const readFileSync = (await import("node:fs")).readFileSync as (...args: unknown[]) => string | Buffer;
    const packageJson = fileURLToPath(new URL("../package.json", import.meta.url));
    const relicensed = (path: unknown, ...rest: unknown[]) => {
      const text = readFileSync(path, ...rest);
      const file = path instanceof URL ? fileURLToPath(path) : String(path);
      return file === packageJson ? JSON.stringify({ ...JSON.parse(String(text)), license }) : text;
    };
    vi.resetModules();
    vi.doMock("node:fs", async (original) => {
      const fs = await original<typeof import("node:fs")>();
      return { ...fs, default: { ...fs, readFileSync: relicensed }, readFileSync: relicensed };
    });
    try {
      return await import("../src/api/app.js");
    } finally {
      vi.doUnmock("node:fs");
      vi.resetModules();
    }
  }

  it("states the licence package.json gives, read from there: a package.json of another licence gives a document of that one (app.ts wrote MIT itself)", async () => {
    const { buildApp: build } = await appModulesWithLicense("Apache-2.0");
    const relicensedApp = await build({ database: t.db, audioRoots: [] });
    try {
      expect((await relicensedApp.inject({ url: "/openapi.json" })).json().info.license).toEqual({ name: "Apache-2.0", url: "https://spdx.org/licenses/Apache-2.0.html" });
    } finally {
      await relicensedApp.close();
    }
  });

  it("refuses to load without a licence in package.json, naming the field (a document naming `undefined` before)", async () => {
    await expect(appModulesWithLicense(undefined)).rejects.toThrow(/package\.json: "license" must be a non-empty string/);
  });
});

describe("authentication and roles", () => {
  const body = { name: "auth-check", audio_dir: "recordings" };

  it("needs a token to mutate: 401 without, 401 for a wrong or malformed one", async () => {
    for (const [headers, challenge] of [[{}, ""], [auth("st_wrong"), ', error="invalid_token", error_description="the token is unknown"'], [{ authorization: "Basic abc" }, ""]] as const) {
      const res = await app.inject({ method: "POST", url: "/v1/datasets", payload: body, headers });
      expect(res.statusCode).toBe(401);
      expect(res.headers["www-authenticate"]).toBe(`Bearer realm="sonotile"${challenge}`);
      expect(res.json().message).toMatch(/token|Authorization/);
    }
    // User details need a token even on loopback.
    expect((await app.inject({ url: "/v1/users" })).statusCode).toBe(401);
    expect((await app.inject({ url: "/v1/users", headers: auth(viewer) })).json().total).toBe(3);
    // A wrong token is refused even where none is needed.
    expect((await app.inject({ url: "/v1/datasets", headers: auth("st_wrong") })).statusCode).toBe(401);
    expect((await app.inject({ url: "/v1/datasets" })).statusCode).toBe(200);
  });

  it("refuses a viewer's writes and a member's admin actions with 403", async () => {
    const res = await app.inject({ method: "POST", url: "/v1/datasets", payload: body, headers: auth(viewer) });
    expect(res.statusCode).toBe(403);
    expect(res.json().message).toContain("member");
    const user = await app.inject({ method: "POST", url: "/v1/users", payload: { username: "eve" }, headers: auth(member) });
    expect(user.statusCode).toBe(403);
  });

  it("says in each refusal's WWW-Authenticate challenge what was wrong (RFC 6750 §3) — invalid_token and why for a token that does not authenticate, insufficient_scope for a role lacking, the challenge alone without a token — on a read, a write, an admin route and a download (the tile route: api-tiles.test.ts), their bodies unchanged", async () => {
    const leaver = await createUser(t.db.sql, { username: "challenged", role: "member" });
    const keyOf = async (expires_at: string | null = null) => (await createToken(t.db.sql, { user_id: leaver.id, name: "c", created_by: null, expires_at }));
    const [disabled, expired, ofDisabledUser] = [await keyOf(), (await keyOf("2026-01-01T00:00:00Z")).key, (await keyOf()).key];
    await setTokenEnabled(t.db.sql, disabled.token.id, false);
    const invalid = (description: string) => `Bearer realm="sonotile", error="invalid_token", error_description="${description}"`;
    const routes = [
      { method: "GET", url: "/v1/datasets" },
      { method: "POST", url: "/v1/datasets", payload: body },
      { method: "POST", url: "/v1/users", payload: { username: "nobody" } },
      { method: "GET", url: "/v1/recordings/00000000-0000-0000-0000-000000000000/audio" },
    ] as const;
    const challenge = async (headers: Record<string, string>) => {
      const answers = await Promise.all(routes.map((r) => app.inject({ ...r, headers })));
      return answers.map((res) => [res.statusCode, res.headers["www-authenticate"] ?? null]);
    };
    const everywhere = (status: number, header: string | null) => routes.map(() => [status, header]);
    expect(await challenge(auth("st_unknown"))).toEqual(everywhere(401, invalid("the token is unknown")));
    expect(await challenge({ authorization: "Bearer st_a st_b" })).toEqual(everywhere(401, invalid("the token is malformed")));
    expect(await challenge(auth(disabled.key))).toEqual(everywhere(401, invalid("the token is disabled")));
    expect(await challenge(auth(expired))).toEqual(everywhere(401, invalid("the token has expired")));
    // Disabled, then enabled again: the user's token says which of the two it is.
    await updateUser(t.db.sql, leaver.id, { enabled: false });
    expect(await challenge(auth(ofDisabledUser))).toEqual(everywhere(401, invalid("the token's user is disabled")));
    await updateUser(t.db.sql, leaver.id, { enabled: true });
    // No token (or one of another scheme): the challenge alone, where one is needed; a viewer's
    // and a member's refusals name the role that it takes.
    expect(await challenge({})).toEqual([[200, null], [401, 'Bearer realm="sonotile"'], [401, 'Bearer realm="sonotile"'], [404, null]]);
    const scope = (role: string) => `Bearer realm="sonotile", error="insufficient_scope", error_description="this needs the ${role} role"`;
    expect(await challenge(auth(viewer))).toEqual([[200, null], [403, scope("member")], [403, scope("admin")], [404, null]]);
    const memberRefused = await app.inject({ ...routes[2], headers: auth(member) });
    expect([memberRefused.statusCode, memberRefused.headers["www-authenticate"]]).toEqual([403, scope("admin")]);
    // A read without a token refused on loopback (its Host, a proxy): a token would be answered.
    for (const headers of [{ host: "attacker.example" }, { "x-forwarded-for": "192.0.2.1" }]) {
      const res = await app.inject({ url: "/v1/datasets", headers });
      expect([res.statusCode, res.headers["www-authenticate"]]).toEqual([403, 'Bearer realm="sonotile"']);
    }
    // The token routes' own refusals of what only admins do.
    const mine = (await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "own" }, headers: auth(member) })).json().token;
    const other = await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "theirs", user_id: leaver.id }, headers: auth(member) });
    expect([other.statusCode, other.headers["www-authenticate"]]).toEqual([403, `Bearer realm="sonotile", error="insufficient_scope", error_description="only admins manage other users' tokens"`]);
    await app.inject({ method: "PATCH", url: `/v1/tokens/${mine.id}`, payload: { enabled: false }, headers: auth(member) });
    const reenable = await app.inject({ method: "PATCH", url: `/v1/tokens/${mine.id}`, payload: { enabled: true }, headers: auth(member) });
    expect([reenable.statusCode, reenable.headers["www-authenticate"]]).toEqual([403, `Bearer realm="sonotile", error="insufficient_scope", error_description="only admins re-enable a disabled token"`]);
    // The bodies say what they said.
    const bodies = await Promise.all([auth("st_unknown"), auth(disabled.key), auth(expired)].map((headers) => app.inject({ url: "/v1/users/me", headers })));
    expect(bodies.map((res) => res.json().message)).toEqual([
      "the token is invalid or disabled, or its user is disabled",
      "the token is invalid or disabled, or its user is disabled",
      expect.stringMatching(/^the token st_\S+… \(c\) expired at 2026-01-01T00:00:00.000Z: create a new one/),
    ]);
  });

  it("disables a user: none of their tokens authenticates and none is made for them, until an admin enables them again — tokens had to be disabled one by one while the user made new ones", async () => {
    const { user_id, key } = await (async () => {
      const user = (await app.inject({ method: "POST", url: "/v1/users", payload: { username: "leaver" }, headers: auth(admin) })).json();
      const made = (await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "t", user_id: user.id }, headers: auth(admin) })).json();
      return { user_id: user.id, key: made.key };
    })();
    const leaver = (await app.inject({ url: "/v1/users/me", headers: auth(key) })).json();
    // A user carries who created them, as other records do (it had no created_by).
    const adminId = (await app.inject({ url: "/v1/users/me", headers: auth(admin) })).json().id;
    expect([leaver.enabled, leaver.created_by, (await app.inject({ url: `/v1/users/${user_id}`, headers: auth(admin) })).json().created_by]).toEqual([true, adminId, adminId]);
    const patch = (payload: object, as = admin) => app.inject({ method: "PATCH", url: `/v1/users/${user_id}`, payload, headers: auth(as) });
    expect((await patch({ enabled: false }, member)).statusCode).toBe(403);
    expect((await patch({ enabled: false })).json().enabled).toBe(false);
    const refused = await app.inject({ url: "/v1/users/me", headers: auth(key) });
    expect([refused.statusCode, refused.json().message]).toEqual([401, "the token is invalid or disabled, or its user is disabled"]);
    const minted = await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "new", user_id }, headers: auth(admin) });
    expect([minted.statusCode, minted.json().message]).toEqual([409, `user leaver is disabled: enable them first (PATCH /v1/users/${user_id})`]);
    expect((await app.inject({ url: `/v1/tokens?user_id=${user_id}`, headers: auth(admin) })).json().total).toBe(1);
    expect((await patch({ enabled: true })).json().enabled).toBe(true);
    expect((await app.inject({ url: "/v1/users/me", headers: auth(key) })).json().username).toBe("leaver");
    const me = (await app.inject({ url: "/v1/users/me", headers: auth(admin) })).json();
    const self = await app.inject({ method: "PATCH", url: `/v1/users/${me.id}`, payload: { enabled: false }, headers: auth(admin) });
    expect([self.statusCode, self.json().message]).toEqual([409, "user admin is the last enabled admin and stays one: make another user admin first"]);
  });

  it("keeps one admin: the last admin cannot give up the role (409), one of two can", async () => {
    const me = (await app.inject({ url: "/v1/users/me", headers: auth(admin) })).json();
    const demote = (id: string, role: string) => app.inject({ method: "PATCH", url: `/v1/users/${id}`, payload: { role }, headers: auth(admin) });
    const last = await demote(me.id, "member");
    expect(last.statusCode).toBe(409);
    expect(last.json().message).toMatch(/is the last enabled admin/);
    expect((await app.inject({ url: `/v1/users/${me.id}`, headers: auth(admin) })).json().role).toBe("admin");
    expect((await demote(me.id, "admin")).statusCode).toBe(200); // staying admin is no change
    expect((await demote(memberId, "admin")).json().role).toBe("admin");
    expect((await demote(memberId, "member")).json().role).toBe("member"); // another admin remained
    // Two admins demoting each other at once: exactly one change goes through (the other is refused,
    // 409 — or 403 if its author has just lost the role), and one admin remains.
    expect((await demote(memberId, "admin")).json().role).toBe("admin");
    const as = (key: string, id: string, role: string) => app.inject({ method: "PATCH", url: `/v1/users/${id}`, payload: { role }, headers: auth(key) });
    const both = await Promise.all([as(member, me.id, "member"), as(admin, memberId, "member")]);
    expect(both.filter((r) => r.statusCode === 200)).toHaveLength(1);
    const admins = (await app.inject({ url: "/v1/users?limit=100", headers: auth(viewer) })).json().items.filter((u: { role: string }) => u.role === "admin");
    expect(admins).toHaveLength(1);
    // Back as before: the original admin is admin, the member is a member.
    if (admins[0].id !== me.id) expect((await as(member, me.id, "admin")).statusCode).toBe(200);
    expect((await as(admin, memberId, "member")).json().role).toBe("member");
  });

  it("shows a token's key once, stores none of it, and honours disabling", async () => {
    const created = await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "ci" }, headers: auth(member) });
    expect(created.statusCode).toBe(201);
    const { token, key } = created.json();
    expect(token.user_id).toBe(memberId);
    const listed = await app.inject({ url: "/v1/tokens", headers: auth(key) });
    expect(listed.statusCode).toBe(200);
    expect(listed.body).not.toContain(key);
    expect(listed.json().items.every((x: { user_id: string }) => x.user_id === memberId)).toBe(true);
    const off = await app.inject({ method: "PATCH", url: `/v1/tokens/${token.id}`, payload: { enabled: false }, headers: auth(member) });
    expect(off.json().enabled).toBe(false);
    expect((await app.inject({ url: "/v1/users/me", headers: auth(key) })).statusCode).toBe(401);
    await app.inject({ method: "PATCH", url: `/v1/tokens/${token.id}`, payload: { enabled: true }, headers: auth(admin) });
    expect((await app.inject({ url: "/v1/users/me", headers: auth(key) })).json().username).toBe("member");
  });

  it("lets only an admin re-enable a disabled token — a member re-enabled the token an admin had disabled, with another of their tokens", async () => {
    const { token, key } = (await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "laptop" }, headers: auth(member) })).json();
    expect((await app.inject({ method: "PATCH", url: `/v1/tokens/${token.id}`, payload: { enabled: false }, headers: auth(admin) })).json().enabled).toBe(false);
    const again = await app.inject({ method: "PATCH", url: `/v1/tokens/${token.id}`, payload: { enabled: true }, headers: auth(member) });
    expect([again.statusCode, again.json().message]).toEqual([403, "only admins re-enable a disabled token (an admin may have disabled it); user member is member — create a new token instead"]);
    expect((await app.inject({ url: "/v1/users/me", headers: auth(key) })).statusCode).toBe(401);
    // Disabling stays the owner's to do, and enabling an enabled token changes nothing.
    const { token: other } = (await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "desk" }, headers: auth(member) })).json();
    expect((await app.inject({ method: "PATCH", url: `/v1/tokens/${other.id}`, payload: { enabled: true }, headers: auth(member) })).json().enabled).toBe(true);
    expect((await app.inject({ method: "PATCH", url: `/v1/tokens/${other.id}`, payload: { enabled: false }, headers: auth(member) })).json().enabled).toBe(false);
    expect((await app.inject({ method: "PATCH", url: `/v1/tokens/${token.id}`, payload: { enabled: true }, headers: auth(admin) })).json().enabled).toBe(true);
  });

  it("keeps users out of other users' tokens", async () => {
    const adminTokens = (await app.inject({ url: "/v1/tokens", headers: auth(admin) })).json().items;
    const foreign = adminTokens.find((x: { user_id: string }) => x.user_id !== memberId);
    // Another user's token is as missing as one that does not exist (a 403 told real ids apart).
    const missing = "00000000-0000-4000-8000-000000000000";
    for (const id of [foreign.id, missing]) {
      for (const res of [await app.inject({ url: `/v1/tokens/${id}`, headers: auth(member) }), await app.inject({ method: "PATCH", url: `/v1/tokens/${id}`, payload: { enabled: false }, headers: auth(member) })]) {
        expect([res.statusCode, res.json().message]).toEqual([404, `token ${id} not found`]);
      }
    }
    expect((await app.inject({ url: `/v1/tokens/${foreign.id}`, headers: auth(admin) })).json().enabled).toBe(true);
    // A token for a user that does not exist: a 404 the OpenAPI document now declares.
    const nobody = await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "x", user_id: missing }, headers: auth(admin) });
    expect([nobody.statusCode, nobody.json().message]).toEqual([404, `user ${missing} not found`]);
    expect(Object.keys((await app.inject({ url: "/openapi.json" })).json().paths["/v1/tokens"].post.responses)).toContain("404");
    const res = await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "x", user_id: foreign.user_id }, headers: auth(member) });
    expect(res.statusCode).toBe(403);
  });
});

describe("e-mail addresses", () => {
  it("are shown to admins and to the user themself only: a viewer's or member's token read every user's address", async () => {
    const users = (await app.inject({ url: "/v1/users?limit=100", headers: auth(admin) })).json().items as { id: string; username: string }[];
    const idOf = (username: string) => users.find((u) => u.username === username)!.id;
    for (const username of ["member", "viewer"]) {
      const patched = await app.inject({ method: "PATCH", url: `/v1/users/${idOf(username)}`, payload: { email: `${username}@lab.example` }, headers: auth(admin) });
      expect(patched.json().email).toBe(`${username}@lab.example`);
    }
    /** The e-mail each of member and viewer shows to `key`'s user, in the list and one by one ("absent": no field). */
    const seenBy = async (key: string) => {
      const listed = (await app.inject({ url: "/v1/users?limit=100", headers: auth(key) })).json().items as Record<string, unknown>[];
      const shown = (u: Record<string, unknown> | undefined) => (u && "email" in u ? u.email : "absent");
      const seen: Record<string, unknown> = {};
      for (const username of ["member", "viewer"]) {
        const one = (await app.inject({ url: `/v1/users/${idOf(username)}`, headers: auth(key) })).json();
        expect(one.username).toBe(username); // the name is there for everyone
        seen[username] = [shown(listed.find((u) => u.username === username)), shown(one)];
      }
      return seen;
    };
    expect(await seenBy(admin)).toEqual({ member: ["member@lab.example", "member@lab.example"], viewer: ["viewer@lab.example", "viewer@lab.example"] });
    expect(await seenBy(member)).toEqual({ member: ["member@lab.example", "member@lab.example"], viewer: ["absent", "absent"] });
    expect(await seenBy(viewer)).toEqual({ member: ["absent", "absent"], viewer: ["viewer@lab.example", "viewer@lab.example"] });
    expect((await app.inject({ url: "/v1/users/me", headers: auth(viewer) })).json().email).toBe("viewer@lab.example");
    // Without a token there is no user listing at all, on loopback too.
    expect((await app.inject({ url: `/v1/users/${idOf("member")}` })).statusCode).toBe(401);
  });
});

describe("token expiry", () => {
  it("makes a token that expires at the time given, listed with it; refuses a time past or not a date-time, naming expires_at", async () => {
    const at = new Date(Date.now() + 90 * 86_400_000).toISOString();
    const made = await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "90 days", expires_at: at }, headers: auth(member) });
    expect([made.statusCode, made.json().token.expires_at]).toEqual([201, at]);
    expect((await app.inject({ url: "/v1/users/me", headers: auth(made.json().key) })).json().username).toBe("member");
    const listed = (await app.inject({ url: "/v1/tokens?limit=100", headers: auth(member) })).json().items;
    expect(listed.find((x: { id: string }) => x.id === made.json().token.id).expires_at).toBe(at);
    expect((await app.inject({ url: `/v1/tokens/${made.json().token.id}`, headers: auth(member) })).json().expires_at).toBe(at);
    // Without one it never expires: null, as for every token made before expiry existed.
    const forever = await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "forever" }, headers: auth(member) });
    expect(forever.json().token.expires_at).toBeNull();
    for (const [expires_at, message] of [["2020-01-01T00:00:00Z", "must be in the future"], ["next week", "must be an ISO 8601 date-time with its offset, e.g. 2027-03-31T00:00:00Z"], ["2099-01-01T00:00:00", "must be an ISO 8601 date-time with its offset, e.g. 2027-03-31T00:00:00Z"]]) {
      const refused = await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: "x", expires_at }, headers: auth(member) });
      expect([refused.statusCode, refused.json().fields], expires_at).toEqual([400, [{ field: "expires_at", message }]]);
    }
  });

  it("refuses an expired token with a 401 that says it expired (not that it is invalid), on every route; tokens without expiry keep working", async () => {
    const m = (await app.inject({ url: "/v1/users/me", headers: auth(member) })).json();
    const { token, key } = await createToken(t.db.sql, { user_id: m.id, name: "old laptop", created_by: null, expires_at: "2026-01-01T00:00:00Z" });
    for (const [method, url] of [["GET", "/v1/users/me"], ["GET", "/v1/datasets"], ["POST", "/v1/tokens"]] as const) {
      const res = await app.inject({ method, url, headers: auth(key), ...(method === "POST" && { payload: { name: "renew" } }) });
      expect([res.statusCode, res.headers["www-authenticate"], res.json().message], url).toEqual([
        401, 'Bearer realm="sonotile", error="invalid_token", error_description="the token has expired"', `the token ${token.key_prefix}… (old laptop) expired at 2026-01-01T00:00:00.000Z: create a new one (POST /v1/tokens with another token, or sonotile token create)`,
      ]);
    }
    // A disabled token says what it said, expired or not.
    await app.inject({ method: "PATCH", url: `/v1/tokens/${token.id}`, payload: { enabled: false }, headers: auth(member) });
    expect((await app.inject({ url: "/v1/users/me", headers: auth(key) })).json().message).toBe("the token is invalid or disabled, or its user is disabled");
    expect((await app.inject({ url: "/v1/tokens?limit=100", headers: auth(admin) })).json().items.filter((x: { expires_at: string | null }) => x.expires_at === null).length).toBeGreaterThan(0);
    expect((await app.inject({ url: "/v1/users/me", headers: auth(admin) })).statusCode).toBe(200);
  });
});

describe("validation", () => {
  it("names every invalid field in a 400", async () => {
    const res = await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "", audio_dir: 5, extra: 1 }, headers: auth(member) });
    expect(res.statusCode).toBe(400);
    const fields = res.json().fields.map((f: { field: string }) => f.field);
    expect(fields).toEqual(expect.arrayContaining(["name", "audio_dir", "extra"]));
    expect(res.json().message).toMatch(/extra: is not a known field/);
  });

  it("names query parameters", async () => {
    for (const [query, field] of [["limit=0", "limit"], ["limit=5000", "limit"], ["offset=-1", "offset"], ["sort=bogus", "sort"], ["state=gone", "state"], ["dataset_id=1", "dataset_id"]]) {
      const res = await app.inject({ url: `/v1/recordings?${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json().fields.map((f: { field: string }) => f.field), query).toContain(field);
    }
  });

  it("refuses a query parameter a list does not know, naming it — a misspelt filter returned the whole table", async () => {
    const lists = ["/v1/datasets", "/v1/recordings", "/v1/clips", "/v1/notes", "/v1/tags", "/v1/feature_names", "/v1/runs", "/v1/jobs", "/v1/artifacts", "/v1/tokens", "/v1/users"];
    for (const list of lists) {
      const res = await app.inject({ url: `${list}?datset_id=1&limt=1`, headers: auth(admin) });
      expect(res.statusCode, list).toBe(400);
      expect(res.json().fields, list).toEqual([{ field: "datset_id", message: "is not a known field" }, { field: "limt", message: "is not a known field" }]);
    }
    const untag = await app.inject({ method: "DELETE", url: `/v1/recordings/00000000-0000-0000-0000-000000000000/tags?key=a&value=b&vlaue=c`, headers: auth(member) });
    expect([untag.statusCode, untag.json().fields]).toEqual([400, [{ field: "vlaue", message: "is not a known field" }]]);
  });

  it("reads the page's numbers as decimal integers: never hex, octal, binary, exponents, fractions or padded", async () => {
    // Number() — hence z.coerce — reads every one of these as 5.
    for (const text of ["0x5", "0b101", "0o5", "5e0", "5.0", "%205", "5%20", "+0x5"]) {
      const res = await app.inject({ url: `/v1/recordings?limit=${text}` });
      expect([res.statusCode, res.json().fields], text).toEqual([400, [{ field: "limit", message: "must be an integer" }]]);
      expect((await app.inject({ url: `/v1/datasets?offset=${text}` })).json().fields, text).toEqual([{ field: "offset", message: "must be an integer" }]);
    }
    expect((await app.inject({ url: "/v1/recordings?limit=5&offset=1" })).json()).toMatchObject({ limit: 5, offset: 1 });
    expect((await app.inject({ url: "/v1/recordings?limit=%2B005" })).json()).toMatchObject({ limit: 5, offset: 0 });
    expect((await app.inject({ url: "/v1/recordings?offset=-1" })).json().fields).toEqual([{ field: "offset", message: "must be >= 0" }]);
  });

  it("refuses malformed JSON and bodies over the limit", async () => {
    const bad = await app.inject({ method: "POST", url: "/v1/datasets", payload: "{", headers: { ...auth(member), "content-type": "application/json" } });
    expect(bad.statusCode).toBe(400);
    const big = await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "x".repeat(70 * 1024), audio_dir: "recordings" }, headers: auth(member) });
    expect(big.statusCode).toBe(413);
    expect(big.json().message).toMatch(/larger than the limit of 65536 bytes/);
  });

  it("lists the first 20 invalid fields of a 400 and counts the rest — 90,000 unknown keys were a 7 MB answer taking seconds of the main thread", async () => {
    const body = `{${Array.from({ length: 3000 }, (_, i) => `"k${i}":1`).join(",")}}`;
    const res = await app.inject({ method: "POST", url: "/v1/tokens", payload: body, headers: { ...auth(viewer), "content-type": "application/json" } });
    const listed = [{ field: "name", message: "is required" }, ...Array.from({ length: 19 }, (_, i) => ({ field: `k${i}`, message: "is not a known field" }))];
    expect([res.statusCode, res.json().fields]).toEqual([400, [...listed, { field: "body", message: "and 2981 more invalid fields, not listed" }]]);
    expect(res.json().message).toBe(`invalid body: ${listed.map((f) => `${f.field}: ${f.message}`).join("; ")}; … and 2981 more`);
    // The NUL check's own refusal too.
    const nul = await app.inject({ method: "POST", url: "/v1/tokens", payload: { name: Array(25).fill("\u0000") }, headers: auth(viewer) });
    expect([nul.statusCode, nul.json().fields.length, nul.json().fields[19], nul.json().fields[20]]).toEqual([400, 21, { field: "name.19", message: "must not contain a NUL character (U+0000)" }, { field: "request", message: "and 5 more invalid fields, not listed" }]);
    expect(nul.json().message).toMatch(/^name\.0: must not contain a NUL character \(U\+0000\); .*name\.19: must not contain a NUL character \(U\+0000\); … and 5 more$/);
  });

  it("words a bound a schema states without its own message as the API words the others — /v1/tags?search= of 256 characters said zod's 'Too big: expected string to have <=255 characters'", async () => {
    for (const url of ["/v1/tags", "/v1/feature_names", "/v1/datasets"]) {
      const res = await app.inject({ url: `${url}?search=${"a".repeat(256)}` });
      expect([res.statusCode, res.json().fields], url).toEqual([400, [{ field: "search", message: "must be at most 255 characters" }]]);
    }
    const res = await app.inject({ url: `/v1/recordings?search=${"a".repeat(1025)}` });
    expect(res.json().fields).toEqual([{ field: "search", message: "must be at most 1024 characters" }]);
  });

  it("keeps that wording to the app: zod parses elsewhere in the process say zod's own words (buildApp set zod's process-wide customError)", async () => {
    // The app above is built and ready: a parse of the embedding program's own is not the API's.
    expect(z.string().safeParse(1).error?.issues[0].message).toBe("Invalid input: expected string, received number");
    expect(z.string().max(2).safeParse("abc").error?.issues[0].message).toBe("Too big: expected string to have <=2 characters");
    // The app's own answers keep the API's words.
    const res = await app.inject({ url: `/v1/tags?search=${"a".repeat(256)}` });
    expect(res.json().fields).toEqual([{ field: "search", message: "must be at most 255 characters" }]);
  });

  it("refuses text with a NUL character, which PostgreSQL cannot store, naming the field", async () => {
    const cases = [
      { method: "POST", url: "/v1/datasets", payload: { name: "x\u0000", audio_dir: "recordings" }, field: "name" },
      { method: "POST", url: "/v1/tags", payload: { key: "a\u0000b", value: "b" }, field: "key" },
      { method: "POST", url: "/v1/jobs", payload: { task: "extract_features", data: { targets: { paths: ["a\u0000.wav"] } } }, field: "data.targets.paths.0" },
      { method: "GET", url: "/v1/recordings?search=a%00b", field: "search" },
      // In the path too (it was a 500: invalid byte sequence for encoding "UTF8": 0x00).
      { method: "GET", url: "/v1/recordings/00000000-0000-0000-0000-000000000000/features/a%00b", field: "name" },
      { method: "GET", url: "/v1/clips/00000000-0000-0000-0000-000000000000/features/a%00b", field: "name" },
      { method: "DELETE", url: "/v1/recordings/00000000-0000-0000-0000-000000000000/features/a%00b", field: "name" },
    ] as const;
    for (const c of cases) {
      const res = await app.inject({ method: c.method, url: c.url, ...("payload" in c ? { payload: c.payload } : {}), headers: auth(member) });
      expect(res.statusCode, c.url).toBe(400);
      expect(res.json().fields, c.url).toEqual([{ field: c.field, message: "must not contain a NUL character (U+0000)" }]);
    }
  });

  it("answers a small body nested thousands deep with a 400 naming the field — the NUL check's recursion overflowed the stack (a 500 for any token holder)", async () => {
    const nested = (depth: number) => `${"[".repeat(depth)}"x"${"]".repeat(depth)}`;
    for (const depth of [5000, 30_000]) {
      const res = await app.inject({ method: "POST", url: "/v1/tokens", payload: `{"name":${nested(depth)}}`, headers: { ...auth(viewer), "content-type": "application/json" } });
      expect(res.statusCode, `depth ${depth}`).toBe(400);
      expect(res.json().fields.map((f: { field: string }) => f.field), `depth ${depth}`).toEqual(["name"]);
    }
    const withNul = await app.inject({ method: "POST", url: "/v1/tokens", payload: `{"name":${nested(5000).replace('"x"', '"x\\u0000"')}}`, headers: { ...auth(viewer), "content-type": "application/json" } });
    expect(withNul.json().fields).toEqual([{ field: `name${".0".repeat(5000)}`, message: "must not contain a NUL character (U+0000)" }]);
  });

  it("answers a read without a token only when it is addressed by a loopback name — a rebound DNS name reached every recording", async () => {
    const read = (host: string, headers: Record<string, string> = {}) => app.inject({ url: "/v1/recordings", headers: { host, ...headers } });
    for (const host of ["localhost", "localhost:8080", "LocalHost.:80", "127.0.0.1:9000", "127.1.2.3", "[::1]:3000", "[::ffff:127.0.0.1]:80", "app.localhost:1"]) {
      expect((await read(host)).statusCode, host).toBe(200);
    }
    for (const host of ["attacker.example", "attacker.example:8080", "0.0.0.0:8080", "127.0.0.1.attacker.example", "localhost.attacker.example", "128.0.0.1", "[::1].attacker.example", "[::1]x", "[::1"]) {
      const res = await read(host);
      expect([res.statusCode, res.json().message], host).toEqual([403, `this server answers without a token only requests addressed to it by a loopback name (127.0.0.1, [::1], localhost), not '${host}': use one, or send a token`]);
    }
    expect((await read("attacker.example", auth(viewer))).statusCode).toBe(200); // a token says who is asking
    expect((await read("attacker.example")).statusCode).toBe(403);
    expect((await app.inject({ url: "/health", headers: { host: "attacker.example" } })).statusCode).toBe(200); // public
  });

  it("answers a read without a token through a proxy with a 403 — Apache's ProxyPass addresses the server as 127.0.0.1 and passed every recording to anyone", async () => {
    const read = (headers: Record<string, string>) => app.inject({ url: "/v1/recordings", headers: { host: "127.0.0.1:8000", ...headers } });
    const proxied = [
      ["x-forwarded-for", "203.0.113.5"], ["forwarded", "for=203.0.113.5"], ["x-forwarded-host", "lab.example"], ["x-real-ip", "203.0.113.5"],
      ["via", "1.1 squid"], ["x-client-ip", "203.0.113.5"], ["x-forwarded", "for=203.0.113.5"], ["forwarded-for", "203.0.113.5"],
      ["true-client-ip", "203.0.113.5"], ["cf-connecting-ip", "203.0.113.5"], ["x-cluster-client-ip", "203.0.113.5"],
    ];
    for (const [name, value] of proxied) {
      const res = await read({ [name]: value });
      expect([res.statusCode, res.json().message], name).toEqual([403, `this request came through a proxy (it carries ${name}), which serves clients beyond this machine: send a token`]);
      expect((await read({ [name]: value, ...auth(viewer) })).statusCode, name).toBe(200);
    }
    expect((await read({})).statusCode).toBe(200);
  });

  it("takes serve's bind addresses by the same rule: a bare IPv6 address has no port to strip", () => {
    for (const host of ["::1", "0:0:0:0:0:0:0:1", "127.0.0.1", "127.9.9.9", "::ffff:127.0.0.1", "localhost"]) expect(isLoopbackName(host), host).toBe(true);
    for (const host of ["::", "0.0.0.0", "::2", "192.168.1.10", "fe80::1", "example.org"]) expect(isLoopbackName(host), host).toBe(false);
  });

  it("names a __proto__ key as what is refused — it was 'Body is not valid JSON'", async () => {
    for (const payload of ['{"__proto__":{"admin":true},"name":"p"}', '{"name":"p","constructor":{"prototype":{"x":1}}}']) {
      const res = await app.inject({ method: "POST", url: "/v1/tokens", payload, headers: { ...auth(member), "content-type": "application/json" } });
      expect([res.statusCode, res.json().fields], payload).toEqual([400, [{ field: "body", message: "must not hold a key __proto__ or constructor.prototype (they would change the prototype of the objects read from it)" }]]);
    }
    const broken = await app.inject({ method: "POST", url: "/v1/tokens", payload: '{"__proto__":', headers: { ...auth(member), "content-type": "application/json" } });
    expect([broken.statusCode, broken.json().message]).toEqual([400, "Body is not valid JSON but content-type is set to 'application/json'"]);
  });

  it("refuses a compressed body with a 415 saying to send it uncompressed — a gzipped JSON body was 'Body is not valid JSON'", async () => {
    const body = gzipSync('{"name":"zipped"}');
    for (const coding of ["gzip", "deflate, gzip", "br"]) {
      const res = await app.inject({ method: "POST", url: "/v1/tokens", payload: body, headers: { ...auth(member), "content-type": "application/json", "content-encoding": coding } });
      expect([res.statusCode, res.json().message], coding).toEqual([415, `a body with Content-Encoding ${coding} is not accepted: send it uncompressed, without Content-Encoding`]);
    }
    const plain = await app.inject({ method: "POST", url: "/v1/tokens", payload: '{"name":"plain"}', headers: { ...auth(member), "content-type": "application/json", "content-encoding": "identity" } });
    expect(plain.statusCode, plain.body).toBe(201);
    // No body, nothing to decode: the header alone changes nothing.
    expect((await app.inject({ url: "/v1/tokens", headers: { ...auth(member), "content-encoding": "gzip" } })).statusCode).toBe(200);
  });

  it("takes an empty body sent as JSON as no body", async () => {
    const json = { ...auth(member), "content-type": "application/json" };
    // A route whose body is optional answers as without one …
    const created = (await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "empty body", audio_dir: "formats" }, headers: auth(member) })).json();
    const archived = await app.inject({ method: "POST", url: `/v1/datasets/${created.id}/archive`, payload: "", headers: json });
    expect(archived.statusCode, archived.body).toBe(200);
    expect(archived.json().state).toBe("archived");
    // … and one that needs a body says that it is missing.
    const missing = await app.inject({ method: "POST", url: "/v1/datasets", payload: "", headers: json });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().message).toMatch(/body/);
    expect((await app.inject({ method: "POST", url: `/v1/datasets/${created.id}/restore`, payload: "", headers: json })).json().state).toBe("active");
    expect((await app.inject({ method: "DELETE", url: `/v1/datasets/${created.id}`, payload: "", headers: { ...json, ...auth(admin) } })).statusCode).toBe(204);
  });

  it("refuses a body that is not sent as JSON with 415 saying what to send", async () => {
    const body = JSON.stringify({ name: "no type", audio_dir: "recordings" });
    // No Content-Type; curl -d's default; fetch's default for a string body.
    for (const type of [undefined, "application/x-www-form-urlencoded", "text/plain;charset=UTF-8"]) {
      const res = await app.inject({ method: "POST", url: "/v1/datasets", payload: body, headers: { ...auth(member), ...(type ? { "content-type": type } : {}) } });
      expect([type, res.statusCode]).toEqual([type, 415]);
      expect(res.json().message).toBe(`${type ? `a body of Content-Type ${type} is not accepted` : "the body has no Content-Type"}: send it as JSON with Content-Type: application/json`);
    }
  });

  it("refuses audio_dir outside the roots and recording paths escaping the dataset", async () => {
    for (const audio_dir of ["..", "/etc", "recordings/../..", "formats/../../.."]) {
      const res = await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: `bad ${audio_dir}`, audio_dir }, headers: auth(member) });
      expect(res.statusCode, audio_dir).toBe(400);
      expect(res.json().fields[0].field).toBe("audio_dir");
    }
  });
});

describe("datasets and recordings", () => {
  let datasetId: string;
  let recordingId: string;

  it("creates a dataset from the fixture folder and imports its recordings", async () => {
    const created = await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "Fixtures", audio_dir: "recordings", description: "bats" }, headers: auth(member) });
    expect(created.statusCode).toBe(201);
    const dataset = created.json();
    datasetId = dataset.id;
    expect(dataset).toMatchObject({ name: "Fixtures", audio_dir: join(FIXTURES, "recordings"), recording_count: 0, state: "active", created_by: memberId });
    const dup = await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "Fixtures", audio_dir: "formats" }, headers: auth(member) });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().message).toContain("name");

    const scan = (await app.inject({ url: `/v1/datasets/${datasetId}/scan` })).json();
    expect(scan.counts).toEqual({ registered: 0, missing: 0, unregistered: 6 });
    const imported = await app.inject({ method: "POST", url: `/v1/datasets/${datasetId}/import`, headers: auth(member) });
    expect(imported.statusCode).toBe(200);
    expect(imported.json().registered).toHaveLength(6);
    // What a curator needs beyond the new files: none moved, none missing, no copies among them.
    expect(imported.json()).toMatchObject({ moved: [], missing: [], duplicates: [], changed: [] });
    expect((await app.inject({ url: `/v1/datasets/${datasetId}` })).json().recording_count).toBe(6);
  });

  it("a server whose audio roots do not hold the dataset's directory neither scans, imports nor registers in it (403), as it serves no file of it", async () => {
    // Servers sharing a database may be given different roots: this one only formats/.
    const other = await buildApp({ database: t.db, audioRoots: await resolveRoots([join(FIXTURES, "formats")]) });
    try {
      const refused = await Promise.all([
        other.inject({ url: `/v1/datasets/${datasetId}/scan` }),
        other.inject({ method: "POST", url: `/v1/datasets/${datasetId}/import`, headers: auth(member) }),
        other.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: datasetId, path: "whombat_tests_bats.wav" }, headers: auth(member) }),
      ]);
      expect(refused.map((r) => [r.statusCode, r.json().message])).toEqual(Array(3).fill([403, `the dataset directory of dataset ${datasetId} is outside this server's audio roots; if its files moved to another disk, an admin points the dataset at them with PUT /v1/datasets/{id}/audio_dir`]));
    } finally {
      await other.close();
    }
  });

  it("lists recordings in pages with filters and sorting", async () => {
    const first = (await app.inject({ url: `/v1/recordings?dataset_id=${datasetId}&limit=4&sort=duration&order=desc` })).json();
    expect(first).toMatchObject({ limit: 4, offset: 0, total: 6 });
    expect(first.items).toHaveLength(4);
    const durations = first.items.map((r: { duration: number }) => r.duration);
    expect(durations).toEqual([...durations].sort((a, b) => b - a));
    expect(first.items[0]).toMatchObject({ path: "whombat_tests_bats.wav", samplerate: 44100, channels: 2, hash: "a27969b51d9cb8430137514a87e72a52" });
    expect(first.items[0].duration).toBeCloseTo(993472 / 44100, 12);
    const second = (await app.inject({ url: `/v1/recordings?dataset_id=${datasetId}&limit=4&offset=4&sort=duration&order=desc` })).json();
    expect(second.items).toHaveLength(2);
    const carollia = (await app.inject({ url: `/v1/recordings?search=carollia` })).json();
    expect(carollia.items.map((r: { samplerate: number }) => r.samplerate)).toEqual([384000]);
    recordingId = carollia.items[0].id;
  });

  it("pages recordings by cursor: next_cursor to the end, the same recordings as by offset; a bad cursor is a 400 naming it", async () => {
    const url = `/v1/recordings?dataset_id=${datasetId}&limit=4&sort=duration&order=desc`;
    const byOffset = [...(await app.inject({ url })).json().items, ...(await app.inject({ url: `${url}&offset=4` })).json().items].map((r: { id: string }) => r.id);
    const first = (await app.inject({ url })).json();
    expect(first).toMatchObject({ limit: 4, offset: 0, total: 6, next_cursor: expect.any(String) });
    const second = await app.inject({ url: `${url}&cursor=${first.next_cursor}` });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({ limit: 4, offset: null, total: null, next_cursor: null });
    expect([...first.items, ...second.json().items].map((r: { id: string }) => r.id)).toEqual(byOffset);
    const refusals = await Promise.all([
      app.inject({ url: `${url}&cursor=nonsense` }),
      app.inject({ url: `/v1/recordings?dataset_id=${datasetId}&limit=4&sort=path&cursor=${first.next_cursor}` }),
      app.inject({ url: `${url}&offset=4&cursor=${first.next_cursor}` }),
      app.inject({ url: `${url}&cursor=` }),
      app.inject({ url: `${url}&search=wav&cursor=${first.next_cursor}` }),
    ]);
    expect(refusals.map((r) => [r.statusCode, r.json().fields?.[0]?.field])).toEqual([[400, "cursor"], [400, "cursor"], [400, "offset"], [400, "cursor"], [400, "cursor"]]);
    expect(refusals[4].json().fields[0].message).toMatch(/^was made for other filters: /);
  });

  it("takes back the cursor of a path of 4096 control characters, which JSON writes 6 bytes each", async () => {
    const sql = t.db.sql;
    const [{ id: dataset }] = await sql<{ id: string }[]>`INSERT INTO datasets (name, audio_dir) VALUES ('control-paths', '/nonexistent/control-paths') RETURNING id`;
    try {
      const paths = ["\u0001".repeat(4096), "\u0002".repeat(4096)];
      await sql`INSERT INTO recordings (dataset_id, path, hash, file_size, file_samplerate, frames, channels, probed_by)
        SELECT ${dataset}, p, md5(p), 16044, 8000, 8000, 1, 'test' FROM unnest(${paths}::text[]) p`;
      const url = `/v1/recordings?dataset_id=${dataset}&limit=1&sort=path`;
      const first = (await app.inject({ url })).json();
      expect(first.items.map((r: { path: string }) => r.path)).toEqual([paths[0]]);
      expect(first.next_cursor.length).toBeGreaterThan(32_000);
      const second = await app.inject({ url: `${url}&cursor=${first.next_cursor}` });
      expect(second.statusCode, second.body.slice(0, 300)).toBe(200);
      expect(second.json()).toMatchObject({ offset: null, total: null, next_cursor: null });
      expect(second.json().items.map((r: { path: string }) => r.path)).toEqual([paths[1]]);
    } finally {
      await sql`DELETE FROM datasets WHERE id = ${dataset}`;
    }
  });

  it("validates and applies metadata changes", async () => {
    const bad = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { latitude: 91, longitude: 200, time_expansion: 0, date: "2024-13-01" }, headers: auth(member) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().fields.map((f: { field: string }) => f.field).sort()).toEqual(["date", "latitude", "longitude", "time_expansion"]);
    // Year 0000 fits ISO 8601's pattern but no PostgreSQL date: it was a 400 naming "value".
    const year0 = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { date: "0000-06-15" }, headers: auth(member) });
    expect([year0.statusCode, year0.json().fields]).toEqual([400, [{ field: "date", message: "must be a date from 0001-01-01 (there is no year 0)" }]]);
    const ok = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { time_expansion: 10, date: "2013-01-17", time: "21:30:00", latitude: 10.5, longitude: -84 }, headers: auth(member) });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ samplerate: 3840000, date: "2013-01-17", time: "21:30:00", latitude: 10.5, longitude: -84 });
    // The bounds themselves are places on Earth; a hair beyond them is not.
    for (const [latitude, longitude] of [[90, 180], [-90, -180]]) {
      const edge = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { latitude, longitude }, headers: auth(member) });
      expect([edge.statusCode, edge.json().latitude, edge.json().longitude]).toEqual([200, latitude, longitude]);
    }
    const beyond = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { latitude: 90.0001, longitude: -180.0001 }, headers: auth(member) });
    expect([beyond.statusCode, beyond.json().fields.map((f: { field: string }) => f.field).sort()]).toEqual([400, ["latitude", "longitude"]]);
    // A time may carry the UTC offset the recorder stated, as an import keeps it from GUANO.
    const offset = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { time: "21:30:00+01:00" }, headers: auth(member) });
    expect(offset.json()).toMatchObject({ time: "21:30:00+01:00" });
    const badTime = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { time: "21:30:00+25:00" }, headers: auth(member) });
    expect(badTime.statusCode).toBe(400);
    expect(badTime.json().fields).toEqual([{ field: "time", message: "must be a time HH:MM[:SS[.ffffff]], optionally with a UTC offset ±HH:MM" }]);
    const tagged = await app.inject({ method: "POST", url: `/v1/recordings/${recordingId}/tags`, payload: { key: "species", value: "Carollia castanea" }, headers: auth(member) });
    expect(tagged.json().tags).toEqual([{ key: "species", value: "Carollia castanea" }]);
    const byTag = (await app.inject({ url: `/v1/recordings?tag_key=species&tag_value=Carollia%20castanea` })).json();
    expect(byTag.items.map((r: { id: string }) => r.id)).toEqual([recordingId]);
    // A key alone: every recording carrying it, whatever its value (it was a 400, "tag_key and tag_value go together").
    const lasiurus = (await app.inject({ url: "/v1/recordings?search=lasiurus" })).json().items[0].id;
    await app.inject({ method: "POST", url: `/v1/recordings/${lasiurus}/tags`, payload: { key: "species", value: "Lasiurus blossevillii" }, headers: auth(member) });
    await app.inject({ method: "POST", url: `/v1/recordings/${lasiurus}/tags`, payload: { key: "site", value: "Carollia castanea" }, headers: auth(member) });
    const ids = async (query: string) => (await app.inject({ url: `/v1/recordings?${query}&sort=path` })).json().items.map((r: { id: string }) => r.id);
    expect(await ids("tag_key=species")).toEqual([lasiurus, recordingId]); // XC821988-Lasiurus… before XC824040-Carollia…
    expect(await ids("tag_key=species&tag_value=Carollia%20castanea")).toEqual([recordingId]);
    expect(await ids("tag_key=habitat")).toEqual([]);
    const valueAlone = await app.inject({ url: "/v1/recordings?tag_value=Carollia%20castanea" });
    expect([valueAlone.statusCode, valueAlone.json().fields]).toEqual([400, [{ field: "tag_value", message: "needs tag_key: a tag is a key and a value" }]]);
    const listing = (await app.inject({ url: "/openapi.json" })).json().paths["/v1/recordings"].get.parameters;
    expect(listing.find((p: { name: string }) => p.name === "tag_key").description).toBe("Only recordings carrying a tag of this key: of any value, or of tag_value when given");
  });

  it("serves the audio file with range requests", async () => {
    const bytes = await readFile(join(FIXTURES, "recordings", "XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav"));
    const whole = await app.inject({ url: `/v1/recordings/${recordingId}/audio` });
    expect(whole.statusCode).toBe(200);
    expect(whole.headers["accept-ranges"]).toBe("bytes");
    expect(whole.rawPayload.equals(bytes)).toBe(true);
    const part = await app.inject({ url: `/v1/recordings/${recordingId}/audio`, headers: { range: "bytes=40-99" } });
    expect(part.statusCode).toBe(206);
    expect(part.headers["content-range"]).toBe(`bytes 40-99/${bytes.length}`);
    expect(part.rawPayload.equals(bytes.subarray(40, 100))).toBe(true);
    const tail = await app.inject({ url: `/v1/recordings/${recordingId}/audio`, headers: { range: "bytes=-10" } });
    expect(tail.rawPayload.equals(bytes.subarray(bytes.length - 10))).toBe(true);
    const beyond = await app.inject({ url: `/v1/recordings/${recordingId}/audio`, headers: { range: `bytes=${bytes.length}-` } });
    expect(beyond.statusCode).toBe(416);
    expect(beyond.headers["content-range"]).toBe(`bytes */${bytes.length}`);
    const backwards = await app.inject({ url: `/v1/recordings/${recordingId}/audio`, headers: { range: "bytes=50-40" } }); // invalid: ignored
    expect(backwards.statusCode).toBe(200);
    expect(backwards.rawPayload.equals(bytes)).toBe(true);
    // Conditional (RFC 9110 §13): the ETag is the file's MD5; a stale If-Range gets the whole file, a matching one the range.
    const etag = whole.headers.etag as string;
    expect(etag).toBe(`"${createHash("md5").update(bytes).digest("hex")}"`);
    const stale = await app.inject({ url: `/v1/recordings/${recordingId}/audio`, headers: { range: "bytes=0-9", "if-range": '"wrong"' } });
    expect(stale.statusCode).toBe(200);
    expect(stale.rawPayload.equals(bytes)).toBe(true);
    const current = await app.inject({ url: `/v1/recordings/${recordingId}/audio`, headers: { range: "bytes=0-9", "if-range": etag } });
    expect([current.statusCode, current.rawPayload.length]).toEqual([206, 10]);
    const unchanged = await app.inject({ url: `/v1/recordings/${recordingId}/audio`, headers: { "if-none-match": etag } });
    expect([unchanged.statusCode, unchanged.rawPayload.length, unchanged.headers.etag]).toEqual([304, 0, etag]);
    // A cache updates its stored headers from a 304 (RFC 9111 §4.3.4): no JSON type on an audio file.
    expect(unchanged.headers["content-type"]).toBeUndefined();
  });

  describe("several ranges of the audio file", () => {
    // A walk-through found several ranges answered with 200 and the whole file: 3.4 GB of a 10 h
    // FLAC for a player asking two stretches of a few kB.
    let bytes: Buffer;
    const fetch = (range: string, extra: Record<string, string> = {}, method: "GET" | "HEAD" = "GET") =>
      app.inject({ method, url: `/v1/recordings/${recordingId}/audio`, headers: { range, ...extra } });
    /** [Content-Type, Content-Range] of each part of a multipart/byteranges answer, and whether its bytes are those of the file it names. */
    const partsOf = (res: { headers: Record<string, unknown>; rawPayload: Buffer }) => multipartParts(res.headers["content-type"] as string, res.rawPayload).map(({ headers, body }) => {
      const [, first, last] = /^bytes (\d+)-(\d+)\//.exec(headers["content-range"])!.map(Number);
      return [headers["content-type"], headers["content-range"], body.equals(bytes.subarray(first, last + 1))];
    });
    beforeAll(async () => {
      bytes = await readFile(join(FIXTURES, "recordings", "XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav"));
    });

    it("answers two ranges with a 206 multipart/byteranges body of exactly those bytes, in the order asked", async () => {
      const n = bytes.length;
      const res = await fetch("bytes=200-299, 0-99");
      expect([res.statusCode, res.headers["content-type"], res.headers["content-range"], res.headers["accept-ranges"]])
        .toEqual([206, expect.stringMatching(/^multipart\/byteranges; boundary=\S+$/), undefined, "bytes"]);
      expect(Number(res.headers["content-length"])).toBe(res.rawPayload.length);
      expect(partsOf(res)).toEqual([["audio/wav", `bytes 200-299/${n}`, true], ["audio/wav", `bytes 0-99/${n}`, true]]);
      // A suffix, an open end, a last byte past the end (cut to it) and an empty list element; a
      // range outside the file is left out, and the suffix and the ranges it overlaps are one part, where the suffix was asked.
      const mixed = await fetch(`bytes=-10,${n}-,40-49, ,${n - 30}-${n + 100},${n - 200}-`);
      expect(partsOf(mixed)).toEqual([["audio/wav", `bytes ${n - 200}-${n - 1}/${n}`, true], ["audio/wav", `bytes 40-49/${n}`, true]]);
      // If-Range: the ranges for the current ETag, the whole file for a stale one.
      expect(partsOf(await fetch("bytes=0-9,20-29", { "if-range": res.headers.etag as string }))).toHaveLength(2);
      const stale = await fetch("bytes=0-9,20-29", { "if-range": '"stale"' });
      expect([stale.statusCode, stale.rawPayload.equals(bytes)]).toEqual([200, true]);
    });

    it("merges overlapping and adjacent ranges, and answers ranges that merge into one as a single range", async () => {
      const n = bytes.length;
      const res = await fetch("bytes=500-599,0-99,50-149,150-199,550-700");
      expect(partsOf(res)).toEqual([["audio/wav", `bytes 500-700/${n}`, true], ["audio/wav", `bytes 0-199/${n}`, true]]);
      const one = await fetch("bytes=100-199,0-99,-" + n + "," + "10-20");
      expect([one.statusCode, one.headers["content-type"], one.headers["content-range"], one.rawPayload.equals(bytes)]).toEqual([206, "audio/wav", `bytes 0-${n - 1}/${n}`, true]);
      // The same range a thousand times is one range, not a thousand parts (nor a 416).
      const repeated = await fetch(`bytes=${Array(1000).fill("0-9").join(",")}`);
      expect([repeated.statusCode, repeated.headers["content-range"], repeated.rawPayload.equals(bytes.subarray(0, 10))]).toEqual([206, `bytes 0-9/${n}`, true]);
    });

    it(`answers up to ${MAX_RANGES} separate ranges; more is a 416 naming the limit, as is a set of ranges all outside the file`, async () => {
      const n = bytes.length;
      const spaced = (count: number) => `bytes=${Array.from({ length: count }, (_, i) => `${3 * i}-${3 * i + 1}`).join(",")}`;
      const most = await fetch(spaced(MAX_RANGES));
      expect([most.statusCode, partsOf(most).length, partsOf(most).every(([, , same]) => same)]).toEqual([206, MAX_RANGES, true]);
      const tooMany = await fetch(spaced(MAX_RANGES + 1));
      expect([tooMany.statusCode, tooMany.headers["content-range"], tooMany.json().message]).toEqual([416, `bytes */${n}`,
        `range asks for ${MAX_RANGES + 1} separate ranges (overlapping and adjacent ones merged); at most ${MAX_RANGES} are answered in one request: ask for them in several`]);
      const outside = await fetch(`bytes=${n}-,${n + 10}-${n + 20},-0`);
      expect([outside.statusCode, outside.headers["content-range"]]).toEqual([416, `bytes */${n}`]);
    });

    it("HEAD answers several ranges with the GET's status and headers, Content-Length that of the GET's body", async () => {
      const get = await fetch("bytes=200-299,0-99");
      const head = await fetch("bytes=200-299,0-99", {}, "HEAD");
      expect([head.statusCode, head.headers["content-type"], head.headers["content-length"], head.rawPayload.length])
        .toEqual([206, expect.stringMatching(/^multipart\/byteranges; boundary=/), String(get.rawPayload.length), 0]);
      const tooMany = await fetch(`bytes=${Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${3 * i}-${3 * i}`).join(",")}`, {}, "HEAD");
      expect([tooMany.statusCode, tooMany.headers["content-range"]]).toEqual([416, `bytes */${bytes.length}`]);
    });
  });

  it("sends the audio file as its format's media type", async () => {
    const dataset = await app.inject({ method: "POST", url: "/v1/datasets", payload: { name: "formats", audio_dir: "formats" }, headers: auth(member) });
    expect(dataset.statusCode, dataset.body).toBe(201);
    const expected: Record<string, string> = {
      "wav_pcm_16.wav": "audio/wav", "wavex_float.wavex": "audio/wav", "aiff_pcm_16.aiff": "audio/aiff", "flac_pcm_16.flac": "audio/flac",
      "ogg_vorbis.ogg": "audio/ogg", "mp3_mpeg_layer_iii.mp3": "audio/mpeg", "rf64_pcm_16.rf64": "application/octet-stream",
    };
    for (const [path, type] of Object.entries(expected)) {
      const rec = await app.inject({ method: "POST", url: "/v1/recordings", payload: { dataset_id: dataset.json().id, path }, headers: auth(member) });
      expect(rec.statusCode, rec.body).toBe(201);
      const whole = await app.inject({ url: `/v1/recordings/${rec.json().id}/audio` });
      const part = await app.inject({ url: `/v1/recordings/${rec.json().id}/audio`, headers: { range: "bytes=0-3" } });
      expect([path, whole.statusCode, whole.headers["content-type"], part.statusCode, part.headers["content-type"]]).toEqual([path, 200, type, 206, type]);
    }
    expect((await app.inject({ method: "DELETE", url: `/v1/datasets/${dataset.json().id}`, headers: auth(admin) })).statusCode).toBe(204);
  });

  it("archives (hidden, read-only), trashes and restores", async () => {
    const archived = await app.inject({ method: "POST", url: `/v1/recordings/${recordingId}/archive`, headers: auth(member) });
    expect(archived.json().state).toBe("archived");
    expect((await app.inject({ url: `/v1/recordings?dataset_id=${datasetId}` })).json().total).toBe(5);
    expect((await app.inject({ url: `/v1/recordings?dataset_id=${datasetId}&state=archived` })).json().total).toBe(1);
    const frozen = await app.inject({ method: "PATCH", url: `/v1/recordings/${recordingId}`, payload: { rights: "CC0" }, headers: auth(member) });
    expect(frozen.statusCode).toBe(409);
    expect(frozen.json().message).toMatch(/restore/);
    await app.inject({ method: "POST", url: `/v1/recordings/${recordingId}/restore`, headers: auth(member) });
    const trashed = await app.inject({ method: "POST", url: `/v1/datasets/${datasetId}/trash`, headers: auth(member) });
    expect(trashed.json().state).toBe("trashed");
    expect((await app.inject({ url: "/v1/datasets" })).json().items.map((d: { id: string }) => d.id)).not.toContain(datasetId);
    await app.inject({ method: "POST", url: `/v1/datasets/${datasetId}/restore`, headers: auth(member) });
    expect((await app.inject({ url: "/v1/datasets" })).json().items.map((d: { id: string }) => d.id)).toContain(datasetId);
  });

  it("answers 404 for a missing record and 400 for a malformed id", async () => {
    const missing = await app.inject({ url: "/v1/recordings/00000000-0000-4000-8000-000000000000" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().message).toContain("not found");
    const malformed = await app.inject({ url: "/v1/recordings/not-a-uuid" });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().fields[0].field).toBe("id");
  });

  it("stores SQL injection text verbatim", async () => {
    const name = "x'; DROP TABLE datasets; --";
    const res = await app.inject({ method: "PATCH", url: `/v1/datasets/${datasetId}`, payload: { description: name }, headers: auth(member) });
    expect(res.json().description).toBe(name);
    expect((await app.inject({ url: `/v1/datasets?search=${encodeURIComponent("'; DROP")}` })).json().total).toBe(0);
    expect((await app.inject({ url: "/v1/datasets" })).json().total).toBe(1);
  });
});

describe("beyond loopback", () => {
  it("requires a token for every route — the OpenAPI document, its UI and /version too — but /health, which probes call without one and which then leaves out the version", async () => {
    const locked = await buildApp({ database: t.db, audioRoots: [], requireAuthForReads: true });
    try {
      for (const url of ["/v1/datasets", "/version", "/openapi.json", "/docs/"]) {
        expect((await locked.inject({ url })).statusCode, url).toBe(401);
        expect((await locked.inject({ url, headers: auth(viewer) })).statusCode, url).toBe(200);
      }
      // Without the version, which /version tells token holders alone.
      const health = await locked.inject({ url: "/health" });
      expect([health.statusCode, health.json()]).toEqual([200, { status: "ok", database: { status: "ok", kind: t.db.kind } }]);
    } finally {
      await locked.close();
    }
  });
});

describe("the error handler's log", () => {
  it("logs a failure of the server at error level with its stack, also for a request with a body (Node has ended that request's stream by then)", async () => {
    const lines: { level: number; msg: string; err?: { stack?: string } }[] = [];
    const app = Fastify({ logger: { level: "info", stream: { write: (line: string) => void lines.push(JSON.parse(line)) } } });
    await app.register(errorsPlugin, { errorDetails: true });
    const bug = async () => {
      throw new TypeError("a bug");
    };
    app.get("/bug", bug);
    app.post("/bug", bug);
    const address = await app.listen({ port: 0, host: "127.0.0.1" }); // a real connection: inject has no socket
    for (const request of [{ method: "GET" }, { method: "POST", body: '{"a":1}', headers: { "content-type": "application/json" } }]) {
      lines.length = 0;
      const res = await fetch(`${address}/bug`, request);
      expect(res.status).toBe(500);
      expect(lines.filter((l) => l.level === 50).map((l) => [l.msg, l.err?.stack?.split("\n")[0]]), request.method).toEqual([["unhandled error", "TypeError: a bug"]]);
    }
    await app.close();
  });
});
