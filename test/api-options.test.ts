/**
 * buildApp's options (AppOptions), each checked when the app is built, as a TilePool checks its
 * PoolOptions: a bad value is refused naming the option, what it must be and what was given —
 * not a late 500 or odd behaviour (a NaN deadline answered every request 503 at once; a
 * fractional connection timeout was Node's ERR_OUT_OF_RANGE naming none of them; a misspelt key
 * was ignored). (tileLimits' own table is in api-tiles.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type AppOptions } from "../src/api/app.js";
import { TileService } from "../src/tiles/service.js";
import { DatasetImports } from "../src/store/datasets.js";
import { freshDatabase, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;

beforeAll(async () => {
  t = await freshDatabase();
});

afterAll(async () => {
  await t?.cleanup();
});

/** buildApp with the database, no audio root, and `options` over them. */
const build = (options: Record<string, unknown>) => buildApp({ database: t.db, audioRoots: [], ...options } as AppOptions);

const MAX_TIMER = 2 ** 31 - 1;
const MAX_STRING = 536_870_888; // buffer.constants.MAX_STRING_LENGTH on 64-bit Node

describe("buildApp's options", () => {
  it("out of range, or of the wrong kind, are refused when the app is built, naming the option, its rule and the value given", async () => {
    const cases: [Record<string, unknown>, Error][] = [
      // Numbers: each bad value of its rule, and a string of a good one.
      ...[0, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_STRING + 1].map((v): [Record<string, unknown>, Error] => [{ bodyLimit: v }, new RangeError(`bodyLimit: must be an integer number of bytes from 1 to ${MAX_STRING}, got ${v}`)]),
      [{ bodyLimit: "1048576" }, new TypeError(`bodyLimit: must be an integer number of bytes from 1 to ${MAX_STRING}, got string "1048576"`)],
      ...[0, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY].map((v): [Record<string, unknown>, Error] => [{ maxPlaybackSamples: v }, new RangeError(`maxPlaybackSamples: must be an integer ≥ 1, got ${v}`)]),
      [{ maxPlaybackSamples: "10" }, new TypeError('maxPlaybackSamples: must be an integer ≥ 1, got string "10"')],
      ...[0, -1, 2.5, Number.NaN].map((v): [Record<string, unknown>, Error] => [{ maxUnsentBytes: v }, new RangeError(`maxUnsentBytes: must be an integer number of bytes ≥ 1 (Infinity: no limit), got ${v}`)]),
      [{ maxUnsentBytes: null }, new TypeError("maxUnsentBytes: must be an integer number of bytes ≥ 1 (Infinity: no limit), got null")],
      ...[0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER + 1].map((v): [Record<string, unknown>, Error] => [{ stalledSendMs: v }, new RangeError(`stalledSendMs: must be a number of ms in (0, ${MAX_TIMER}], got ${v}`)]),
      // Closing waits for the drain up to the deadline under Fastify's timer of 10 s more.
      ...[0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER - 9_999].map((v): [Record<string, unknown>, Error] => [{ deadlineMs: v }, new RangeError(`deadlineMs: must be a number of ms in (0, ${MAX_TIMER - 10_000}], got ${v}`)]),
      [{ deadlineMs: "30000" }, new TypeError(`deadlineMs: must be a number of ms in (0, ${MAX_TIMER - 10_000}], got string "30000"`)],
      ...[0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER + 1].map((v): [Record<string, unknown>, Error] => [{ tileDeadlineMs: v }, new RangeError(`tileDeadlineMs: must be a number of ms in (0, ${MAX_TIMER}], got ${v}`)]),
      [{ tileDeadlineMs: "150000" }, new TypeError(`tileDeadlineMs: must be a number of ms in (0, ${MAX_TIMER}], got string "150000"`)],
      // Connection limits: Node takes its timeouts in whole ms.
      ...[0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER + 1].flatMap((v) => (["headersTimeoutMs", "requestTimeoutMs", "keepAliveTimeoutMs"] as const).map((name): [Record<string, unknown>, Error] => [{ connectionLimits: { [name]: v } }, new RangeError(`connectionLimits.${name}: must be an integer number of ms from 1 to ${MAX_TIMER}, got ${v}`)])),
      ...[0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY].map((v): [Record<string, unknown>, Error] => [{ connectionLimits: { maxConnections: v } }, new RangeError(`connectionLimits.maxConnections: must be an integer ≥ 1, got ${v}`)]),
      [{ connectionLimits: { maxConnections: "1024" } }, new TypeError('connectionLimits.maxConnections: must be an integer ≥ 1, got string "1024"')],
      [{ connectionLimits: { requestTimeoutMs: 10_000 } }, new RangeError("connectionLimits.requestTimeoutMs: must be at least headersTimeoutMs (20000): a request's time includes its headers', got 10000")],
      [{ connectionLimits: { headersTimeoutMs: 5_000, requestTimeoutMs: 4_000 } }, new RangeError("connectionLimits.requestTimeoutMs: must be at least headersTimeoutMs (5000): a request's time includes its headers', got 4000")],
      [{ connectionLimits: { maxConnection: 10 } }, new TypeError("connectionLimits: unknown option maxConnection; the known ones are headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, maxConnections")],
      [{ connectionLimits: 10 }, new TypeError("connectionLimits: must be an object ({ headersTimeoutMs?, requestTimeoutMs?, keepAliveTimeoutMs?, maxConnections? }), got number 10")],
      // The others.
      [{ database: undefined }, new TypeError("database: must be a Database (store/db.ts openDatabase), got undefined")],
      [{ database: t.db.sql`SELECT 1` }, new TypeError("database: must be a Database (store/db.ts openDatabase), got Query")],
      [{ audioRoots: "/data" }, new TypeError('audioRoots: must be an array of absolute paths (store/paths.ts resolveRoots), got string "/data"')],
      [{ audioRoots: ["/data", "audio"] }, new TypeError('audioRoots[1]: must be an absolute path, got string "audio"')],
      [{ requireAuthForReads: "yes" }, new TypeError('requireAuthForReads: must be a boolean, got string "yes"')],
      [{ logger: null }, new TypeError('logger: must be a boolean or Fastify\'s logger options (e.g. { level: "warn" }), got null')],
      [{ logger: "warn" }, new TypeError('logger: must be a boolean or Fastify\'s logger options (e.g. { level: "warn" }), got string "warn"')],
      [{ datasetImports: {} }, new TypeError("datasetImports: must be a DatasetImports, got Object")],
      [{ tiles: {} }, new TypeError("tiles: must be a TileService, got Object")],
      [{ corsOrigins: "http://localhost:5173" }, new TypeError('corsOrigins: must be an array of origins (scheme://host[:port]) or ["*"], got string "http://localhost:5173"')],
      [{ corsOrigins: ["http://localhost:5173/app"] }, new RangeError("corsOrigins: 'http://localhost:5173/app' is not an origin: scheme://host[:port], without a path, query or user (did you mean http://localhost:5173?)")],
      [{ corsOrigins: ["*"] }, new RangeError("corsOrigins: '*' (every origin) is refused on loopback, where reads need no token: every web page a user of this machine visits could read every recording; name the front end's origins, or listen beyond loopback (--host), where every route needs a token")],
      [{ tileLimits: { maxStreamTiles: 0 } }, new RangeError("tileLimits.maxStreamTiles: must be an integer ≥ 1, got 0")],
      // A misspelt key was ignored: the option it meant took its default.
      [{ deadlineMS: 5_000 }, new TypeError("buildApp options: unknown option deadlineMS; the known ones are database, audioRoots, requireAuthForReads, bodyLimit, logger, datasetImports, tiles, tileLimits, maxPlaybackSamples, maxUnsentBytes, stalledSendMs, deadlineMs, tileDeadlineMs, corsOrigins, connectionLimits")],
    ];
    for (const [options, error] of cases) await expect(build(options), JSON.stringify(options)).rejects.toThrow(error);
    await expect(buildApp(null as never)).rejects.toThrow(/^buildApp options: must be an object \(\{ database\?, audioRoots\?, .* connectionLimits\? \}\), got null$/);
  });

  it("build with their defaults, with every option given at its bounds, and with undefined for a default", async () => {
    const tiles = new TileService({ threads: 1 });
    try {
      const defaults = await build({});
      await defaults.close();
      const bounds = await build({
        audioRoots: ["/data"], requireAuthForReads: true, bodyLimit: MAX_STRING, logger: { level: "warn" }, datasetImports: new DatasetImports(), tiles, tileLimits: { maxStreamTiles: 1 },
        maxPlaybackSamples: 1, maxUnsentBytes: Number.POSITIVE_INFINITY, stalledSendMs: MAX_TIMER, deadlineMs: MAX_TIMER - 10_000, tileDeadlineMs: MAX_TIMER, corsOrigins: ["*"],
        connectionLimits: { headersTimeoutMs: 1, requestTimeoutMs: 1, keepAliveTimeoutMs: MAX_TIMER, maxConnections: 1 },
      });
      await bounds.close();
      // Fastify's pluginTimeout takes whole ms: a fractional deadline was refused naming no option.
      const fractional = await build({ deadlineMs: 1500.5 });
      await fractional.close();
      const undefinedOnes = await build({ bodyLimit: undefined, deadlineMs: undefined, connectionLimits: { keepAliveTimeoutMs: undefined } });
      expect(undefinedOnes.server.keepAliveTimeout).toBe(5_000);
      await undefinedOnes.close();
    } finally {
      await tiles.close();
    }
  });

  it("a headers timeout longer than the default request timeout takes the request's up with it, as serve does (Node refused the server)", async () => {
    const app = await build({ connectionLimits: { headersTimeoutMs: 90_000 } });
    try {
      expect([app.server.headersTimeout, app.server.requestTimeout]).toEqual([90_000, 90_000]);
    } finally {
      await app.close();
    }
  });
});
