/**
 * SIGTERM drains in-flight work (SPEC §10): an answer already handed to Node — a large tile sent
 * as one Buffer to a client that reads slowly — reaches the client whole when the server closes
 * meanwhile (src/api/plugins/drain.ts), however long the drain takes; new requests are turned away.
 */
import { connect, type AddressInfo, type Socket } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { expect, it } from "vitest";
import { buildApp } from "../src/api/app.js";
import { CLOSING_MESSAGE, drainPlugin } from "../src/api/plugins/drain.js";
import { freshDatabase } from "./store-helpers.js";

const BODY_BYTES = 64 * 1024 * 1024;

it("a 64 MB answer still being read by a paused client arrives whole when the server closes", async () => {
  const app = Fastify();
  await app.register(drainPlugin, { drainMs: 30_000 });
  const body = Buffer.alloc(BODY_BYTES, 7);
  app.get("/big", async (_, reply) => reply.type("application/octet-stream").send(body));
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };

  const socket = connect(port, "127.0.0.1");
  socket.write("GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  let received = 0;
  let headers = "";
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const firstBytes = new Promise<void>((resolve) => socket.on("data", (chunk: Buffer) => {
    received += chunk.length;
    if (!headers) {
      headers = chunk.toString("latin1").split("\r\n\r\n")[0];
      socket.pause(); // a slow client: the rest waits in the server's socket buffer
      resolve();
    }
  }));
  await firstBytes;
  const closed = app.close();
  await new Promise((r) => setTimeout(r, 300));
  // Closing: a new request is turned away (503, the connection closed after it) while the old answer drains.
  const late = await new Promise<string>((resolve) => {
    const s = connect(port, "127.0.0.1", () => s.write("GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    let text = "";
    s.on("data", (c: Buffer) => (text += c.toString("latin1"))).once("close", () => resolve(text)).once("error", () => resolve("refused"));
  });
  expect(late).toMatch(/^HTTP\/1\.1 503 |^refused$/);
  socket.resume();
  await ended;
  await closed;
  expect(headers).toMatch(new RegExp(`content-length: ${BODY_BYTES}`, "i"));
  expect(received - headers.length - 4).toBe(BODY_BYTES);
}, 60_000);

it("the application's close waits as long as its drain may take, beyond Fastify's 10 s plugin timeout (it gave up after 10 s: the answer cut, serve left running)", async () => {
  const t = await freshDatabase();
  const app = await buildApp({ database: t.db, audioRoots: [], deadlineMs: 15_000 });
  try {
    const { socket, ended, received } = await pausedDownload(app);
    const closed = app.close().then(() => "closed", (err: Error) => `failed: ${err.message}`);
    await new Promise((r) => setTimeout(r, 11_000));
    socket.resume();
    await ended;
    expect(await closed).toBe("closed");
    expect(received()).toBeGreaterThan(BODY_BYTES);
  } finally {
    await t.cleanup();
  }
}, 60_000);

it("a request arriving while the server drains gets the API's 503 saying the server is shutting down, with Retry-After (Fastify's own said only 'Service Unavailable')", async () => {
  const t = await freshDatabase();
  const app = await buildApp({ database: t.db, audioRoots: [] });
  try {
    const { port, socket, ended } = await pausedDownload(app); // holds the drain open
    const closed = app.close();
    /** One request on a connection of its own, closed after the answer: the raw answer. */
    const ask = (path = "/version") => new Promise<string>((resolve) => {
      const s = connect(port, "127.0.0.1", () => s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
      let text = "";
      s.on("data", (c: Buffer) => (text += c.toString("latin1"))).once("close", () => resolve(text)).once("error", () => resolve("refused"));
    });
    // Until the close has begun, /version answers as usual.
    let late = await ask();
    while (/^HTTP\/1\.1 200 /.test(late)) late = await ask();
    const [head, json] = late.split("\r\n\r\n");
    expect(head).toMatch(/^HTTP\/1\.1 503 /);
    expect(head).toMatch(/\r\nretry-after: 5\r\n/i);
    expect(head).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(json)).toEqual({ statusCode: 503, error: "Service Unavailable", message: CLOSING_MESSAGE });
    // /health too, whose own 503 body is another: a load balancer's probe sees the instance go (it got a 500).
    const [healthHead, healthJson] = (await ask("/health")).split("\r\n\r\n");
    expect(healthHead).toMatch(/^HTTP\/1\.1 503 /);
    expect(healthHead).toMatch(/\r\nretry-after: 5\r\n/i);
    expect(JSON.parse(healthJson)).toEqual({ statusCode: 503, error: "Service Unavailable", message: CLOSING_MESSAGE });
    socket.resume();
    await ended;
    await closed;
  } finally {
    await t.cleanup();
  }
}, 60_000);

/**
 * `app` serving BODY_BYTES at /big on a port of its own, and a client that asks for them and stops
 * reading after the first bytes: what holds a drain open. `received` counts what it has read.
 */
async function pausedDownload(app: FastifyInstance): Promise<{ port: number; socket: Socket; ended: Promise<void>; received: () => number }> {
  const body = Buffer.alloc(BODY_BYTES, 7);
  app.get("/big", async (_, reply) => reply.type("application/octet-stream").send(body));
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const socket = connect(port, "127.0.0.1");
  socket.write("GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  let received = 0;
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  await new Promise<void>((resolve) => socket.on("data", (chunk: Buffer) => {
    if (received === 0) {
      socket.pause();
      resolve();
    }
    received += chunk.length;
  }));
  return { port, socket, ended, received: () => received };
}
