/**
 * The route that serves the viewer page (src/api/routes/web.ts): the built files with their
 * types, nothing outside the list found at start-up, and a plain answer when the page is not built.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { webRoutes } from "../src/api/routes/web.js";
import { tempDir } from "./store-helpers.js";

let dir: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  dir = await tempDir();
  await writeFile(join(dir.path, "index.html"), "<!doctype html><title>t</title>");
  await writeFile(join(dir.path, "main.js"), "export {};");
  await writeFile(join(dir.path, "notes.txt"), "not a page asset");
});

afterAll(async () => {
  await dir?.remove();
});

async function app(path: string) {
  const a = Fastify();
  await a.register(webRoutes, { dir: path });
  return a;
}

describe("web route", () => {
  it("serves the page and its assets with their types", async () => {
    const a = await app(dir.path);
    const page = await a.inject({ url: "/" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.body).toContain("<title>t</title>");
    // No other site may frame it (clickjacking: the page acts with its stored token).
    expect([page.headers["content-security-policy"], page.headers["x-frame-options"]]).toEqual(["frame-ancestors 'none'", "DENY"]);
    // The same page under its file name (it works there too: its asset paths are absolute).
    const samePage = await a.inject({ url: "/web/index.html" });
    expect(samePage.body).toContain("<title>t</title>");
    expect([samePage.headers["content-security-policy"], samePage.headers["x-frame-options"]]).toEqual(["frame-ancestors 'none'", "DENY"]);
    const js = await a.inject({ url: "/web/main.js" });
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.body).toBe("export {};");
  });

  it("serves nothing else: unknown types, other names and paths are 404", async () => {
    const a = await app(dir.path);
    for (const url of ["/web/notes.txt", "/web/missing.js", "/web/..%2Fpackage.json", "/web/%2e%2e/index.html"]) {
      const res = await a.inject({ url });
      expect(res.statusCode, url).toBe(404);
    }
  });

  it("says how to build the page when it is missing", async () => {
    const a = await app(join(dir.path, "nowhere"));
    const res = await a.inject({ url: "/" });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain("npm run build:web");
  });
});
