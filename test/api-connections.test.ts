/**
 * The server's bounds on connections (api/connection-limits.ts): a client sending its headers a
 * line at a time (Slowloris) is answered 408 and closed once its headers timeout has passed — it
 * was held about 120 s — an idle keep-alive connection is closed after its timeout, and
 * connections past the cap are closed as they arrive. Short configured values; the trickle is
 * bounded in lines, so a server that never closes fails the test instead of hanging it.
 */
import { connect, type Socket } from "node:net";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { ensureAdmin } from "../src/store/users.js";
import { freshDatabase, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
/** An admin's key: a write without a token is answered 401 before its body is read. */
let key: string;

beforeAll(async () => {
  t = await freshDatabase();
  key = (await ensureAdmin(t.db.sql))!.key;
});

afterAll(async () => {
  await t?.cleanup();
});

/** A server with `limits`, listening on loopback, for `use`; closed after. */
async function withServer(limits: Parameters<typeof buildApp>[0]["connectionLimits"], use: (port: number) => Promise<void>): Promise<void> {
  const app: App = await buildApp({ database: t.db, audioRoots: [], connectionLimits: limits });
  try {
    await app.listen({ host: "127.0.0.1", port: 0 });
    await use((app.server.address() as { port: number }).port);
  } finally {
    await app.close();
  }
}

/** A connection to `port` that records what the server sends and whether it has closed. */
async function open(port: number): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  let received = "";
  let closed = false;
  socket.on("data", (d) => (received += d));
  socket.on("error", () => {});
  socket.on("close", () => (closed = true));
  return { socket, received: () => received, closed: () => closed };
}

/** The status line and JSON body `port` answers to `request` (sent whole), once it has closed the connection. */
async function answerTo(port: number, request: string): Promise<[string, { statusCode: number; error: string; message: string }]> {
  const c = await open(port);
  c.socket.write(request);
  for (let i = 0; i < 100 && !c.closed(); i++) await sleep(50);
  const [head, body] = c.received().split("\r\n\r\n");
  return [head.split("\r\n")[0], JSON.parse(body)];
}

describe("a request Node refuses before it reaches a route", () => {
  it("is answered with the API's error body, saying what to do: headers over Node's limit (431), a timeout (408), malformed HTTP (400) — Fastify's own said 'Exceeded maximum allowed HTTP header size'", async () => {
    await withServer({ headersTimeoutMs: 500 }, async (port) => {
      const answer = (request: string) => answerTo(port, request);
      const headersOver = "the request's URL and headers are larger than the server's limit of 16384 bytes for them together: send a shorter URL, or fewer or shorter headers";
      expect(await answer(`GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`)).toEqual(["HTTP/1.1 431 Request Header Fields Too Large", { statusCode: 431, error: "Request Header Fields Too Large", message: headersOver }]);
      // A URL of 10,000 bytes is under the limit: it is its headers that take the request over.
      expect(await answer(`GET /v1/recordings?search=${"a".repeat(10_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"a".repeat(10_000)}\r\n\r\n`)).toEqual(["HTTP/1.1 431 Request Header Fields Too Large", { statusCode: 431, error: "Request Header Fields Too Large", message: headersOver }]);
      expect(await answer("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")).toEqual(["HTTP/1.1 408 Request Timeout", { statusCode: 408, error: "Request Timeout", message: "the request was not sent in time: its headers within 0.5 s, all of it within 60 s" }]);
      expect(await answer("NOT HTTP\r\n\r\n")).toEqual(["HTTP/1.1 400 Bad Request", { statusCode: 400, error: "Bad Request", message: "the request is not well-formed HTTP/1.1" }]);
    });
  });

  it("a URL over the limit on its own is 414 URI Too Long naming its length and the limit (a 100 kB query string was 431 'the request's headers are larger than the limit'); one of more bytes than Node reads at once, the bytes read", async () => {
    await withServer({}, async (port) => {
      const answer = (request: string) => answerTo(port, request);
      const url = `/v1/recordings?search=${"a".repeat(17_000)}`;
      expect(await answer(`GET ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)).toEqual(["HTTP/1.1 414 URI Too Long", { statusCode: 414, error: "URI Too Long", message: `the request's URL is ${url.length} bytes; the server's limit is 16384 bytes for a request's URL and headers together: send a shorter one` }]);
      // 100 kB: Node's parser stops within the first 64 KiB it reads, before the URL's end.
      const [status, body] = await answer(`GET /v1/recordings?search=${"a".repeat(100_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      expect([status, body.statusCode]).toEqual(["HTTP/1.1 414 URI Too Long", 414]);
      const atLeast = Number(/^the request's URL is at least (\d+) bytes; the server's limit is 16384 bytes for a request's URL and headers together: send a shorter one$/.exec(body.message)?.[1]);
      expect(atLeast).toBeGreaterThanOrEqual(16384);
      expect(atLeast).toBeLessThan(100_000);
      // A header value sent in a read of its own that reads like a request line ("AB " and no line
      // end) is no URL: the headers are over the limit (it was told its URL was 20003 bytes).
      const c = await open(port);
      c.socket.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: ");
      await sleep(100);
      c.socket.write(`AB ${"b".repeat(20_000)}`);
      await sleep(100);
      c.socket.write("\r\n\r\n");
      for (let i = 0; i < 100 && !c.closed(); i++) await sleep(50);
      expect(c.received().split("\r\n")[0]).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    });
  });
});

describe("a client sending its request slowly", () => {
  it("is answered 408 and closed once the headers timeout has passed, however steadily it trickles header lines", async () => {
    await withServer({ headersTimeoutMs: 1000 }, async (port) => {
      const c = await open(port);
      c.socket.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      // A header line every 100 ms, for up to 300 lines (30 s): the request never ends.
      let lines = 0;
      while (!c.closed() && lines < 300) {
        await sleep(100);
        if (!c.closed()) c.socket.write(`X-Trickle-${lines++}: a\r\n`);
      }
      expect(c.closed()).toBe(true);
      expect(c.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    });
  });

  it("is answered 408 and closed once the request timeout has passed, however steadily it trickles its body", async () => {
    await withServer({ headersTimeoutMs: 500, requestTimeoutMs: 1500 }, async (port) => {
      const c = await open(port);
      c.socket.write(`POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`);
      // A byte every 100 ms, for up to 300 (30 s) of the 1000 announced.
      for (let i = 0; i < 300 && !c.closed(); i++) {
        await sleep(100);
        if (!c.closed()) c.socket.write(" ");
      }
      expect(c.closed()).toBe(true);
      expect(c.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    });
  });

  it("closes a keep-alive connection left idle after its timeout, having answered its request", async () => {
    await withServer({ keepAliveTimeoutMs: 300 }, async (port) => {
      const c = await open(port);
      c.socket.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      // Up to 30 s for the close (a 300 ms timeout): a server keeping it for Fastify's 72 s fails here.
      for (let i = 0; i < 300 && !c.closed(); i++) await sleep(100);
      expect(c.closed()).toBe(true);
      expect(c.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    });
  });
});

describe("the cap on connections", () => {
  it("closes the connections past it as they arrive, and takes new ones once others have closed", async () => {
    await withServer({ maxConnections: 2 }, async (port) => {
      const [a, b] = [await open(port), await open(port)];
      const extra = await open(port);
      await once(extra.socket, "close");
      expect(extra.received()).toBe("");
      // The two within the cap are served.
      for (const c of [a, b]) c.socket.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
      await Promise.all([a, b].map((c) => once(c.socket, "close")));
      expect([a, b].map((c) => c.received().slice(0, 15))).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
      const later = await open(port);
      later.socket.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
      await once(later.socket, "close");
      expect(later.received().slice(0, 15)).toBe("HTTP/1.1 200 OK");
    });
  });
});
