/**
 * Opt-in CORS (plugins/cors.ts): an allowed origin's requests carry Access-Control-Allow-Origin and
 * the headers a front end reads; another origin's carry none; a preflight is answered without a
 * token (204 with the path's methods) for an allowed origin and refused (403) for another; the
 * host check, the token check, the 405 and the 404 keep working around it. Without origins,
 * nothing changes. And a page in a real Chromium, served from another origin, fetches a tile with
 * its token and reads the tile's geometry headers.
 */
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { allowedOrigins, CORS_EXPOSED_HEADERS, parseOrigin } from "../src/api/plugins/cors.js";
import { tileStatsStore } from "../src/api/tile-stats.js";
import { createDataset } from "../src/store/datasets.js";
import { resolveRoots } from "../src/store/paths.js";
import { probeFile } from "../src/store/probe.js";
import { insertRecording } from "../src/store/recordings.js";
import { ensureAdmin } from "../src/store/users.js";
import { TileService } from "../src/tiles/service.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

const FRONT_END = "http://localhost:5173";
const OTHER = "http://evil.example";

let t: TestDatabase;
let tiles: TileService;
let audio: { path: string; remove(): Promise<void> };
let root: string;
let adminKey: string;
let id: string;
/** On loopback (reads need no token), allowing FRONT_END. */
let app: App;
/** As beyond loopback (every route needs a token), allowing FRONT_END. */
let locked: App;
/** Without CORS origins: today's behaviour. */
let plain: App;
const auth = { authorization: "" };

beforeAll(async () => {
  t = await freshDatabase();
  const admin = await ensureAdmin(t.db.sql);
  adminKey = admin!.key;
  auth.authorization = `Bearer ${adminKey}`;
  audio = await tempDir();
  [root] = await resolveRoots([audio.path]);
  await writeSineWav(join(root, "tone.wav"), 8000, 2, 1000);
  const dataset = await createDataset(t.db.sql, { name: "cors", audio_dir: root, created_by: null });
  id = (await insertRecording(t.db.sql, { dataset_id: dataset.id, path: "tone.wav", ...(await probeFile(join(root, "tone.wav"))), created_by: null }))!.id;
  tiles = new TileService({ threads: 1, statsStore: tileStatsStore(t.db.sql) });
  app = await buildApp({ database: t.db, audioRoots: [root], tiles, corsOrigins: [FRONT_END] });
  locked = await buildApp({ database: t.db, audioRoots: [root], tiles, corsOrigins: [FRONT_END], requireAuthForReads: true });
  plain = await buildApp({ database: t.db, audioRoots: [root], tiles });
});

afterAll(async () => {
  await app?.close();
  await locked?.close();
  await plain?.close();
  await tiles?.close();
  await t?.cleanup();
  await audio?.remove();
});

/** A browser's preflight of `method` on `url` from `origin`: no token (browsers send none with it). */
const preflight = (target: App, url: string, origin: string, method = "GET") =>
  target.inject({ method: "OPTIONS", url, headers: { origin, "access-control-request-method": method, "access-control-request-headers": "authorization" } });

/** Response headers a page can read without their being exposed (Fetch: CORS-safelisted response-header names). */
const SAFELISTED = new Set(["cache-control", "content-language", "content-length", "content-type", "expires", "last-modified", "pragma"]);

describe("CORS for the origins given", () => {
  it("an allowed origin's answer names it and exposes the headers a front end reads; Vary: Origin", async () => {
    const res = await app.inject({ url: `/v1/recordings/${id}`, headers: { origin: FRONT_END } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBe(FRONT_END);
    expect(res.headers["access-control-allow-credentials"]).toBeUndefined(); // tokens are headers, not cookies
    expect(res.headers.vary).toBe("Origin");
    const exposed = String(res.headers["access-control-expose-headers"]).split(", ");
    for (const name of ["x-shape", "x-frame-range", "x-hop-seconds", "x-frequency-range", "x-value-range", "x-tile-range", "ETag", "Content-Range", "Accept-Ranges", "Retry-After", "Content-Disposition"]) expect(exposed).toContain(name);
    // Each once (x-frame-range, a tile's geometry and playback's frames, was listed twice).
    expect(exposed.filter((name, i) => exposed.findIndex((other) => other.toLowerCase() === name.toLowerCase()) !== i)).toEqual([]);
  });

  it("another origin's answer, or one without Origin, carries no CORS header (its browser keeps it from the page)", async () => {
    for (const headers of [{ origin: OTHER }, { origin: "http://localhost:5174" }, {}]) {
      const res = await app.inject({ url: `/v1/recordings/${id}`, headers });
      expect(res.statusCode).toBe(200);
      expect(res.headers["access-control-allow-origin"], JSON.stringify(headers)).toBeUndefined();
      expect(res.headers["access-control-expose-headers"]).toBeUndefined();
      expect(res.headers.vary).toBe("Origin"); // a cache must not serve it to FRONT_END
    }
  });

  it("every header the spectrogram, playback and download routes send is exposed or safelisted", async () => {
    const urls = [`tiles/0/0.f32?pcen=false`, `tiles/0/0.png?pcen=false`, `tiles/0/stream?start_time=0&end_time=1&pcen=false`, `spectrogram?start_time=0&end_time=1&format=npy&pcen=false`, `playback?start_time=0&end_time=1`, `audio`];
    const exposed = new Set(CORS_EXPOSED_HEADERS.map((h) => h.toLowerCase()));
    const sent = new Set<string>();
    for (const url of urls) {
      const res = await app.inject({ url: `/v1/recordings/${id}/${url}`, headers: { origin: FRONT_END, ...(url === "audio" ? { range: "bytes=0-99" } : {}) } });
      expect(res.statusCode, `${url}: ${res.body.slice(0, 200)}`).toBeLessThan(300);
      for (const name of Object.keys(res.headers)) sent.add(name);
    }
    const unreadable = [...sent].filter((h) => !SAFELISTED.has(h) && !exposed.has(h) && !h.startsWith("access-control-") && !["date", "connection", "keep-alive", "transfer-encoding", "vary"].includes(h));
    expect(unreadable).toEqual([]);
    // The geometry of a tile, the tiles of a stream, the frames of a playback WAV, a range.
    for (const h of ["x-shape", "x-tile-range", "x-frame-range", "content-range", "etag", "content-disposition"]) expect(sent).toContain(h);
  });

  it("a preflight from an allowed origin is a 204 without a token, naming the path's methods and the request headers the API takes", async () => {
    for (const target of [app, locked]) {
      const res = await preflight(target, "/v1/datasets", FRONT_END, "POST");
      expect(res.statusCode, res.body).toBe(204);
      expect(res.body).toBe("");
      expect(res.headers["access-control-allow-origin"]).toBe(FRONT_END);
      expect(res.headers["access-control-allow-methods"]).toBe("GET, HEAD, POST");
      expect(res.headers["access-control-allow-headers"]).toBe("Authorization, Content-Type, If-None-Match, If-Range, Range");
      expect(res.headers["access-control-max-age"]).toBe("600");
      expect(res.headers.vary).toBe("Origin");
      const tile = await preflight(target, `/v1/recordings/${id}/tiles/3/7.png?window_size=0.01`, FRONT_END);
      expect([tile.statusCode, tile.headers["access-control-allow-methods"]]).toEqual([204, "GET, HEAD"]);
      const one = await preflight(target, `/v1/datasets/${id}`, FRONT_END, "PATCH");
      expect([one.statusCode, one.headers["access-control-allow-methods"]]).toEqual([204, "DELETE, GET, HEAD, PATCH"]);
    }
  });

  it("a preflight from another origin is a 403 that says why, with no CORS header; one for no route is its 404; a bare OPTIONS its 405", async () => {
    const refused = await preflight(app, "/v1/datasets", OTHER);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().message).toBe("pages of http://evil.example may not call this API: the origins that may (CORS) are given to sonotile serve with --cors-origin");
    expect(refused.headers["access-control-allow-origin"]).toBeUndefined();
    expect(refused.headers["access-control-allow-methods"]).toBeUndefined();
    const nowhere = await preflight(app, "/v1/nope", FRONT_END);
    expect([nowhere.statusCode, nowhere.headers["access-control-allow-origin"], nowhere.headers["access-control-allow-methods"]]).toEqual([404, FRONT_END, undefined]);
    const bare = await app.inject({ method: "OPTIONS", url: "/v1/datasets", headers: { origin: FRONT_END } });
    expect([bare.statusCode, bare.headers.allow]).toEqual([405, "GET, HEAD, POST"]);
  });

  it("refusals carry the CORS headers, so the page reads their message: a wrong token, no token beyond loopback, a foreign Host", async () => {
    const wrong = await app.inject({ url: "/v1/datasets", headers: { origin: FRONT_END, authorization: "Bearer st_wrong" } });
    expect([wrong.statusCode, wrong.headers["access-control-allow-origin"], wrong.headers["www-authenticate"]]).toEqual([401, FRONT_END, 'Bearer realm="sonotile", error="invalid_token", error_description="the token is unknown"']);
    const none = await locked.inject({ url: "/v1/datasets", headers: { origin: FRONT_END } });
    expect([none.statusCode, none.headers["access-control-allow-origin"]]).toEqual([401, FRONT_END]);
    // The DNS-rebinding check stands: a loopback server answers no anonymous read named by another Host.
    const rebound = await app.inject({ url: "/v1/datasets", headers: { origin: FRONT_END, host: "attacker.example:8000" } });
    expect([rebound.statusCode, rebound.headers["access-control-allow-origin"]]).toEqual([403, FRONT_END]);
    const withToken = await locked.inject({ url: "/v1/datasets", headers: { origin: FRONT_END, ...auth } });
    expect([withToken.statusCode, withToken.headers["access-control-allow-origin"]]).toEqual([200, FRONT_END]);
  });

  it("'*' allows every origin where every route needs a token, and is refused on loopback", async () => {
    const open = await buildApp({ database: t.db, audioRoots: [root], corsOrigins: ["*"], requireAuthForReads: true });
    try {
      const res = await open.inject({ url: "/v1/datasets", headers: { origin: OTHER, ...auth } });
      expect([res.statusCode, res.headers["access-control-allow-origin"], res.headers.vary]).toEqual([200, "*", undefined]);
      expect((await preflight(open, "/v1/datasets", OTHER)).statusCode).toBe(204);
    } finally {
      await open.close();
    }
    await expect(buildApp({ database: t.db, audioRoots: [root], corsOrigins: ["*"] })).rejects.toThrow(/^corsOrigins: '\*' \(every origin\) is refused on loopback, where reads need no token/);
    await expect(buildApp({ database: t.db, audioRoots: [root], corsOrigins: ["http://localhost:5173/app"] })).rejects.toThrow("corsOrigins: 'http://localhost:5173/app' is not an origin");
  });

  it("without origins nothing changes: no CORS header, a preflight is the path's 405", async () => {
    const res = await plain.inject({ url: "/v1/datasets", headers: { origin: FRONT_END } });
    expect([res.statusCode, res.headers["access-control-allow-origin"], res.headers.vary]).toEqual([200, undefined, undefined]);
    const pre = await preflight(plain, "/v1/datasets", FRONT_END);
    expect([pre.statusCode, pre.headers.allow, pre.headers["access-control-allow-origin"]]).toEqual([405, "GET, HEAD, POST", undefined]);
  });
});

describe("an origin as given", () => {
  it("is read as the browser sends it: scheme and host in lower case, the default port left out", () => {
    expect(parseOrigin("http://localhost:5173")).toEqual({ origin: "http://localhost:5173" });
    expect(parseOrigin("HTTPS://Lab.Example.ORG:443")).toEqual({ origin: "https://lab.example.org" });
    expect(parseOrigin("http://[::1]:8080")).toEqual({ origin: "http://[::1]:8080" });
  });

  it("is refused with what is wrong when it is no origin: a path (even '/'), a query, a user, another scheme, no scheme", () => {
    const cases: [string, string][] = [
      ["http://localhost:5173/", "'http://localhost:5173/' is not an origin: scheme://host[:port], without a path, query or user (did you mean http://localhost:5173?)"],
      ["https://lab.example/annotate", "'https://lab.example/annotate' is not an origin: scheme://host[:port], without a path, query or user (did you mean https://lab.example?)"],
      ["http://localhost:5173?x=1", "'http://localhost:5173?x=1' is not an origin: scheme://host[:port], without a path, query or user (did you mean http://localhost:5173?)"],
      ["http://me@localhost:5173", "'http://me@localhost:5173' is not an origin: scheme://host[:port], without a path, query or user (did you mean http://localhost:5173?)"],
      ["ftp://files.example", "'ftp://files.example': the scheme must be http or https (scheme://host[:port], e.g. http://localhost:5173)"],
      ["localhost:5173", "'localhost:5173': the scheme must be http or https (scheme://host[:port], e.g. http://localhost:5173)"],
      ["lab.example", "'lab.example' is not a URL origin (scheme://host[:port], e.g. http://localhost:5173)"],
      ["null", "'null' is not a URL origin (scheme://host[:port], e.g. http://localhost:5173)"],
    ];
    for (const [text, problem] of cases) expect(parseOrigin(text), text).toEqual({ problem });
  });

  it("in a list, each as the browser sends it; '*' alone, and only where every route needs a token", () => {
    expect(allowedOrigins([FRONT_END, "HTTPS://Lab.Example:443"], false)).toEqual({ origins: [FRONT_END, "https://lab.example"] });
    expect(allowedOrigins([FRONT_END, "lab.example"], false)).toEqual({ problem: "'lab.example' is not a URL origin (scheme://host[:port], e.g. http://localhost:5173)" });
    expect(allowedOrigins(["*"], true)).toEqual({ origins: ["*"] });
    expect(allowedOrigins(["*", FRONT_END], true)).toEqual({ problem: "'*' (every origin) stands alone: give either '*' or a list of origins" });
    expect(allowedOrigins(["*"], false)).toEqual({ problem: expect.stringMatching(/^'\*' \(every origin\) is refused on loopback/) });
  });
});

const CHROMIUM = "/usr/bin/chromium";
const SKIP_BROWSER = process.env.SONOTILE_SKIP_BROWSER === "1";

describe.skipIf(SKIP_BROWSER)("a front end of another origin, in Chromium", () => {
  let browser: Browser;
  /** Serves the front end's (empty) page, on a port of its own: another origin than the API's. */
  let pages: Server;
  let stranger: Server;
  let api: App;
  let apiBase: string;
  let pageBase: string;
  let strangerBase: string;

  const listen = async (server: Server) => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const page = () => createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>front end</title>"));

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it (apt-get install -y chromium), or set SONOTILE_SKIP_BROWSER=1 to skip the browser tests`);
    pages = page();
    pageBase = await listen(pages);
    stranger = page();
    strangerBase = await listen(stranger);
    // As beyond loopback: the page must send its token, which needs the preflight.
    api = await buildApp({ database: t.db, audioRoots: [root], tiles, corsOrigins: [pageBase], requireAuthForReads: true });
    apiBase = await api.listen({ host: "127.0.0.1", port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await new Promise((resolve) => pages?.close(resolve));
    await new Promise((resolve) => stranger?.close(resolve));
  });

  /** What a page at `origin` gets when it fetches a tile from the API with the token. */
  async function fetchTile(origin: string) {
    const tab = await browser.newPage();
    try {
      await tab.goto(origin);
      return await tab.evaluate(async ([url, token]) => {
        try {
          const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
          const body = new Float32Array(await res.arrayBuffer());
          return { status: res.status, shape: res.headers.get("x-shape"), frames: res.headers.get("x-frame-range"), etag: res.headers.get("etag"), values: body.length, error: null };
        } catch (err) {
          return { error: String(err) };
        }
      }, [`${apiBase}/v1/recordings/${id}/tiles/0/0.f32?pcen=false&width=128`, adminKey] as const);
    } finally {
      await tab.close();
    }
  }

  it("the allowed origin's page fetches a tile with its token and reads its geometry headers", async () => {
    const got = await fetchTile(pageBase);
    // What the same request gets without a browser in between.
    const direct = await api.inject({ url: `/v1/recordings/${id}/tiles/0/0.f32?pcen=false&width=128`, headers: auth });
    const [rows, columns] = String(direct.headers["x-shape"]).split(",").map(Number);
    expect(columns).toBe(128);
    expect(got).toEqual({ status: 200, shape: direct.headers["x-shape"], frames: direct.headers["x-frame-range"], etag: direct.headers.etag, values: rows * columns, error: null });
  }, 60_000);

  it("another origin's page gets nothing: the browser refuses it at the preflight", async () => {
    const got = await fetchTile(strangerBase);
    expect(got).toEqual({ error: "TypeError: Failed to fetch" });
  }, 60_000);
});
