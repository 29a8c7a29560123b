/**
 * Recording stats shared by server instances through the database (SPEC §6): a computation
 * that fails releases its claim (the next request, on any instance, fails fast with the same
 * error instead of waiting for the lease), a computation longer than the lease keeps its claim
 * by renewing it (no second instance repeats it), and the lease of an instance that died
 * lapses so a waiting one takes over. Stored stats over the store's limit are purged after the tile
 * that stored them is answered (a purge failing fails no tile), sparing those an instance serves
 * from its memory. Embedded database, or DATABASE_URL when set.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { tileStatsStore } from "../src/api/tile-stats.js";
import { parseParams } from "../src/engine/params.js";
import { createDataset } from "../src/store/datasets.js";
import type { Sql } from "../src/store/db.js";
import { probeFile } from "../src/store/probe.js";
import { insertRecording } from "../src/store/recordings.js";
import { claimStats, purgeStats, PURGE_BATCH_CHUNKS, STATS_PURGE_SPARE_SECONDS } from "../src/store/stats.js";
import { tileOptionsSchema } from "../src/tiles/grid.js";
import { TileService, recordingStatsIdentity, type TileRecording } from "../src/tiles/service.js";
import { freshDatabase, JUNK_BYTES, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

let t: TestDatabase;
let dir: Awaited<ReturnType<typeof tempDir>>;
let tone: TileRecording;
let junk: TileRecording;
const services: TileService[] = [];

/** A server instance of its own (its own owner id) on the shared database. */
function instance(statsLeaseMs?: number): TileService {
  const service = new TileService({ threads: 1, statsStore: tileStatsStore(t.db.sql), statsLeaseMs });
  services.push(service);
  return service;
}

/** Registers `file` (in the temp dir) and describes it as the tile service sees it. */
async function register(datasetId: string, file: string, facts: { hash: string; file_size: number; file_samplerate: number; frames: number; channels: number }): Promise<TileRecording> {
  const rec = await insertRecording(t.db.sql, { dataset_id: datasetId, path: file, ...facts, created_by: null });
  return { id: rec!.id, path: join(dir.path, file), hash: facts.hash, timeExpansion: 1, samplerate: facts.file_samplerate, frames: facts.frames, channels: facts.channels };
}

beforeAll(async () => {
  t = await freshDatabase();
  dir = await tempDir();
  await writeSineWav(join(dir.path, "tone.wav"), 8000, 2);
  // Registered while it was audio, unreadable since (the facts are given, as its import read them).
  await writeFile(join(dir.path, "junk.wav"), JUNK_BYTES);
  const dataset = await createDataset(t.db.sql, { name: "stats", audio_dir: dir.path, created_by: null });
  tone = await register(dataset.id, "tone.wav", await probeFile(join(dir.path, "tone.wav")));
  junk = await register(dataset.id, "junk.wav", { hash: "0".repeat(32), file_size: 4096, file_samplerate: 8000, frames: 2000, channels: 1 });
}, 60_000);

afterAll(async () => {
  for (const s of services) await s.close();
  await t?.cleanup();
  await dir?.remove();
});

/**
 * An instance (a server just started: nothing in memory) keeping no stored stats but those used in
 * the last 5 minutes, counting its passes; its store on `db` (default the test database), logging to `log`.
 */
function limited(options: { db?: Sql; log?: (message: string) => void } = {}) {
  const store = tileStatsStore(options.db ?? t.db.sql, { limitBytes: 0, log: options.log });
  const service = new TileService({ threads: 1, cacheBytes: 0, statsStore: store });
  services.push(service);
  const stats = service.pool.stats.bind(service.pool);
  const passes = { n: 0 };
  service.pool.stats = (...args) => (passes.n++, stats(...args));
  return { service, store, passes };
}

const rowsOf = (id: string) => t.db.sql`SELECT status, claimed_by FROM recording_stats WHERE recording_id = ${id}`;

describe("recording stats across instances", () => {
  it("a failed computation releases its claim: the next request, here or elsewhere, fails fast with the same error", async () => {
    const [a, b] = [instance(), instance()];
    const params = parseParams({});
    const first = await a.stats(junk, params).then(() => null, (e: Error) => e);
    expect(first?.message).toMatch(/not a recognised audio format/);
    expect(await rowsOf(junk.id)).toEqual([]);
    const started = Date.now();
    await expect(a.stats(junk, params)).rejects.toThrow(first!.message);
    await expect(b.stats(junk, params)).rejects.toThrow(first!.message);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 20_000);

  it("a computation longer than the lease keeps its claim by renewing it: another instance waits instead of repeating it", async () => {
    const [a, b] = [instance(300), instance(300)];
    // a's pass takes 1.5 s, five leases.
    const run = a.pool.stats.bind(a.pool);
    a.pool.stats = async (task) => {
      await new Promise((r) => setTimeout(r, 1500));
      return run(task);
    };
    const params = parseParams({ window_size: 0.01 });
    const computing = a.stats(tone, params);
    while (!(await rowsOf(tone.id)).some((r) => r.status === "computing")) await new Promise((r) => setTimeout(r, 20));
    const [mine, theirs] = await Promise.all([computing, b.stats(tone, params)]);
    expect(b.computed).toBe(0);
    expect(theirs.stats.peak).toBe(mine.stats.peak);
  }, 20_000);

  it("the lease of an instance that died lapses, and a waiting instance takes over", async () => {
    const params = parseParams({ window_size: 0.02 });
    // Claimed by an instance that died at once: it never renews its half-second lease.
    const claim = await claimStats(t.db.sql, { recording_id: tone.id, params_hash: recordingStatsIdentity(tone, params).key, recording_hash: tone.hash, owner: "gone:1:dead", leaseSeconds: 0.5 });
    expect(claim.status).toBe("claimed");
    const b = instance(500);
    const started = Date.now();
    await b.stats(tone, params);
    expect(b.computed).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
    // b took over the dead instance's claim (the key a tile uses), not a row beside it.
    expect((await rowsOf(tone.id)).filter((r) => r.claimed_by === "gone:1:dead")).toEqual([]);
  }, 20_000);

  it("stats purged to keep the database within its limit (least recently used first) are computed again by the next tile, which comes back the same", async () => {
    // PCEN over 2000 frames (3 checkpoints of 17 bins) and 1000 (one): the stats take bytes.
    const [first, second] = [parseParams({ window_size: 0.004, hop_size: 0.25 }), parseParams({ window_size: 0.004, hop_size: 0.5 })];
    const [firstKey, secondKey] = [recordingStatsIdentity(tone, first).key, recordingStatsIdentity(tone, second).key];
    const stored = async () => (await t.db.sql<{ params_hash: string; bytes: number }[]>`
      SELECT params_hash, pcen_checkpoint_bytes::float8 AS bytes FROM recording_stats WHERE recording_id = ${tone.id} AND params_hash IN (${firstKey}, ${secondKey}) AND status = 'ready'`)
      .map((r) => [r.params_hash === firstKey ? "first" : "second", r.bytes]);
    const options = tileOptionsSchema.parse({});
    const a = limited();
    const before = await a.service.tile(tone, first, 0, 0, options, "f32");
    await a.store.settled();
    expect([await stored(), a.passes.n]).toEqual([[["first", 3 * 4 * 17]], 1]);
    // An hour later the second parameter set's first tile: the first's stats, no longer in use, go (checkpoint chunks too) once it is answered.
    await t.db.sql`UPDATE recording_stats SET used_at = now() - interval '1 hour' WHERE recording_id = ${tone.id} AND params_hash = ${firstKey}`;
    await a.service.tile(tone, second, 0, 0, options, "f32");
    await a.store.settled();
    expect([await stored(), a.passes.n]).toEqual([[["second", 4 * 17]], 2]); // 1000 frames: one checkpoint
    expect((await t.db.sql`SELECT count(*)::int AS n FROM recording_stats_chunks WHERE params_hash = ${firstKey}`)[0].n).toBe(0);
    // Another instance asked for the first set's tile: no stats stored, so it runs their pass again — the same tile.
    const b = limited();
    const after = await b.service.tile(tone, first, 0, 0, options, "f32");
    await b.store.settled();
    expect([Buffer.from(after.body).equals(Buffer.from(before.body)), after.etag, after.headers, b.passes.n]).toEqual([true, before.etag, before.headers, 1]);
    // Stored again (the second's, used now, stays): read back by a third instance with no pass.
    const c = limited();
    expect(Buffer.from((await c.service.tile(tone, first, 0, 0, options, "f32")).body).equals(Buffer.from(before.body))).toBe(true);
    expect([(await stored()).sort(), c.passes.n]).toEqual([[["first", 3 * 4 * 17], ["second", 4 * 17]], 0]);
  }, 30_000);

  it("stored stats are purged after their tile is answered, one purge at a time: a purge that hangs or fails neither holds nor fails a tile, its failure is logged, and the sets stored during it share one purge after it", async () => {
    // Each purge's statements (those naming its mark, `purge:<uuid>`) wait for the gate, then fail as on a lost connection.
    const purges = new Set<string>();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const db = new Proxy(t.db.sql, {
      apply(target, self, args: unknown[]) {
        const purger = args.slice(1).find((v): v is string => typeof v === "string" && v.startsWith("purge:"));
        if (!purger) return Reflect.apply(target, self, args);
        purges.add(purger);
        return gate.then(() => Promise.reject(new Error("write CONNECTION_CLOSED")));
      },
    });
    const lines: string[] = [];
    const { service, store, passes } = limited({ db, log: (line) => lines.push(line) });
    const options = tileOptionsSchema.parse({});
    const sets = [0.375, 0.4375, 0.3125].map((hop) => parseParams({ window_size: 0.004, hop_size: hop }));
    const tileOf = (params: (typeof sets)[number]) => Promise.race([
      service.tile(tone, params, 0, 0, options, "f32").then(() => "answered"),
      new Promise((resolve) => setTimeout(() => resolve("waiting for the purge"), 5000)),
    ]);
    try {
      expect(await tileOf(sets[0])).toBe("answered");
      expect(purges.size).toBe(1); // under way, held
      // Two more sets stored while it runs: both answered, their purge due after it.
      expect([await tileOf(sets[1]), await tileOf(sets[2]), purges.size]).toEqual(["answered", "answered", 1]);
    } finally {
      open();
    }
    await store.settled();
    const failure = "removing the least recently used stored stats failed: write CONNECTION_CLOSED";
    expect([purges.size, lines]).toEqual([2, [failure, failure]]);
    // Stored and kept in memory: their tiles again need no pass, and all three are stored.
    for (const params of sets) await service.tile(tone, params, 0, 0, options, "f32");
    const keys = sets.map((params) => recordingStatsIdentity(tone, params).key);
    const ready = await t.db.sql`SELECT params_hash FROM recording_stats WHERE recording_id = ${tone.id} AND params_hash IN ${t.db.sql(keys)} AND status = 'ready'`;
    expect([passes.n, ready.length]).toEqual([3, 3]);
  }, 30_000);

  it("a purge under way when the server shuts down stops between two chunk deletions, logging nothing — it went on into the database closed after, a failure logged; a later purge removes the row it left", async () => {
    const options = tileOptionsSchema.parse({});
    const [old, fresh] = [0.15625, 0.1875].map((hop) => parseParams({ window_size: 0.004, hop_size: hop }));
    const [oldKey, freshKey] = [old, fresh].map((params) => recordingStatsIdentity(tone, params).key);
    // The old set stored, unused for a day (the first a purge takes), with three batches of chunks more.
    await instance().tile(tone, old, 0, 0, options, "f32");
    await t.db.sql`UPDATE recording_stats SET used_at = now() - interval '1 day' WHERE recording_id = ${tone.id} AND params_hash = ${oldKey}`;
    await t.db.sql`INSERT INTO recording_stats_chunks (recording_id, params_hash, recording_hash, chunk, data)
      SELECT ${tone.id}, ${oldKey}, ${tone.hash}, 1000 + n, '\\x00'::bytea FROM generate_series(1, ${2 * PURGE_BATCH_CHUNKS + 1}) n`;
    const chunksOf = async (key: string) => (await t.db.sql`SELECT count(*)::int AS n FROM recording_stats_chunks WHERE recording_id = ${tone.id} AND params_hash = ${key}`)[0].n as number;
    const chunks = await chunksOf(oldKey);
    // The server shuts down once the purge's first chunk deletion is done; its database is closed after (serve's order).
    let chunkDeletions = 0;
    let closing: Promise<void> | undefined;
    let databaseClosed = false;
    const lines: string[] = [];
    const store = tileStatsStore(new Proxy(t.db.sql, {
      apply(target, self, args: unknown[]) {
        const text = Array.isArray(args[0]) ? args[0].join("") : "";
        if (databaseClosed && text) return Promise.reject(new Error("write CONNECTION_ENDED"));
        if (!text.includes("WHERE ctid = ANY")) return Reflect.apply(target, self, args);
        // A deletion asked for once the shutdown began runs after it, on the database closed.
        if (++chunkDeletions > 1) return closing!.then(() => Promise.reject(new Error("write CONNECTION_ENDED")));
        return (Reflect.apply(target, self, args) as Promise<unknown>).then((result) => ((closing = service.close()), result));
      },
    }), { limitBytes: 0, log: (line) => lines.push(line) });
    const service = new TileService({ threads: 1, cacheBytes: 0, statsStore: store });
    await service.tile(tone, fresh, 0, 0, options, "f32");
    await vi.waitFor(() => expect(closing).toBeDefined(), { timeout: 10_000 });
    await closing;
    databaseClosed = true;
    await store.settled();
    expect([chunkDeletions, lines]).toEqual([1, []]);
    // Left marked, its lease lapsed (a tile computes it again), one batch of chunks gone.
    const [left] = await t.db.sql`SELECT status, claimed_by, lease_until < now() AS lapsed FROM recording_stats WHERE recording_id = ${tone.id} AND params_hash = ${oldKey}`;
    expect([left, await chunksOf(oldKey)]).toEqual([{ status: "computing", claimed_by: expect.stringMatching(/^purge:/), lapsed: true }, chunks - PURGE_BATCH_CHUNKS]);
    // Abandoned once its lease lapsed that long ago: the next purge removes it first, whatever the limit.
    await t.db.sql`UPDATE recording_stats SET lease_until = now() - make_interval(secs => ${STATS_PURGE_SPARE_SECONDS + 1}) WHERE recording_id = ${tone.id} AND params_hash = ${oldKey}`;
    await purgeStats(t.db.sql, { limitBytes: 2 ** 50, keep: { recording_id: tone.id, params_hash: freshKey } });
    expect([(await t.db.sql`SELECT 1 FROM recording_stats WHERE params_hash = ${oldKey}`).length, await chunksOf(oldKey)]).toEqual([0, 0]);
  }, 30_000);

  it("stats a server uses from its memory are marked used (at most once a minute): the least recently used removed are those it did not use", async () => {
    const { service, store } = limited();
    const options = tileOptionsSchema.parse({});
    const [used, unused, later] = [0.5625, 0.625, 0.6875].map((hop) => parseParams({ window_size: 0.004, hop_size: hop }));
    const [usedKey, unusedKey] = [recordingStatsIdentity(tone, used).key, recordingStatsIdentity(tone, unused).key];
    const usedAgo = async () => (await t.db.sql<{ s: number }[]>`
      SELECT extract(epoch FROM now() - used_at)::float8 AS s FROM recording_stats WHERE recording_id = ${tone.id} AND params_hash = ${usedKey}`)[0].s;
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      await service.tile(tone, used, 0, 0, options, "f32");
      await service.tile(tone, unused, 0, 0, options, "f32");
      await store.settled();
      // Both stored an hour ago; `used`'s tiles asked for since, from memory.
      await t.db.sql`UPDATE recording_stats SET used_at = now() - interval '1 hour' WHERE recording_id = ${tone.id} AND params_hash IN (${usedKey}, ${unusedKey})`;
      await service.tile(tone, used, 0, 0, options, "f32");
      await store.settled();
      expect(await usedAgo()).toBeGreaterThan(3500); // its last mark (its storing) was under a minute ago on this server's clock
      vi.setSystemTime(Date.now() + 61_000);
      await service.tile(tone, used, 0, 0, options, "f32");
      await store.settled();
      expect(await usedAgo()).toBeLessThan(60);
      // A third set stored: the purge (limit 0) removes `unused`, not `used`.
      await service.tile(tone, later, 0, 0, options, "f32");
      await store.settled();
      const left = await t.db.sql`SELECT params_hash FROM recording_stats WHERE recording_id = ${tone.id} AND params_hash IN (${usedKey}, ${unusedKey})`;
      expect(left.map((r) => r.params_hash)).toEqual([usedKey]);
    } finally {
      vi.useRealTimers();
    }
  }, 30_000);

  it("a pass the stats queue refuses is refused before its claim: nothing written for it to the database", async () => {
    const store = tileStatsStore(t.db.sql);
    // Claims asked for, and answered: a pass whose claim is answered takes its slot or its place in
    // the queue before any timer runs (the rest is no I/O).
    let claims = 0;
    let claimed = 0;
    const claim = store.claim.bind(store);
    store.claim = async (...args) => {
      claims++;
      const answer = await claim(...args);
      claimed++;
      return answer;
    };
    const service = new TileService({ threads: 2, maxStatsQueue: 1, statsStore: store, statsWaitMs: 60_000 });
    services.push(service);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const stats = service.pool.stats.bind(service.pool);
    service.pool.stats = (task, signal) => gate.then(() => stats(task, signal)); // passes held until the gate opens
    const params = (hop: number) => parseParams({ hop_size: hop, pcen: false });
    const running = service.stats(tone, params(0.31)); // takes the one stats thread
    const queued = service.stats(tone, params(0.32)); // waits for it
    // Both placed — a fixed 200 ms was not always time enough for their reads and claims on a
    // loaded database, and the third then took the queue's place and waited 60 s for the gate.
    await expect.poll(() => claimed, { timeout: 30_000, interval: 20 }).toBe(2);
    await expect(service.stats(tone, params(0.33))).rejects.toThrow(/^1 statistics passes are waiting for a thread already$/);
    expect(claims).toBe(2); // the third never claimed (nor released) a row
    open();
    await Promise.all([running, queued]);
  });
});
