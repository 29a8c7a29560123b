/**
 * Tiles over HTTP (SPEC §4, §9; issue 5): the real server — `sonotile serve` from dist/ as a
 * child process, embedded database, loopback — measured from this process: cold, cached and
 * 304 tile latency, tiles/s under concurrent load (autocannon) with one thread per core and
 * with one thread, a tile 9 h into a 10 h recording against the first tile of a 10 s one, and
 * the server's resident memory while it streams every tile of a long recording.
 *
 * Every request that is meant to compute must ask for a tile the server has never made (a
 * cached tile is a copy, not a computation): see `distinctTiles`. Method and figures:
 * bench/README.md.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { DEFAULT_TILE_LIMITS } from "../src/api/routes/tiles.js";
import { floatWavHeader } from "../src/audio/wavwriter.js";
import { frameCount, frameGeometry, frameTime, type FrameGeometry } from "../src/engine/geometry.js";
import { COLORMAPS, parseParams } from "../src/engine/params.js";
import { CHECKPOINT_SPACING } from "../src/engine/recording.js";
import { tileCount } from "../src/tiles/grid.js";
import { loadAverage, median, percentile, rotate } from "./lib/measure.js";
import { processMemoryMb, registerRecordings, startServer, type BenchServer } from "./lib/server.js";
import { pairedRatio, type Target } from "./report.js";

const RATE = 48000;
/** The server's default tile width (SPEC §4). */
const WIDTH = 512;
/** Requests in flight during the load runs: enough to keep every thread busy with some queued. */
const LOAD_CONNECTIONS = 8;
/**
 * Tiles per streamed range: the route's limit (SPEC §10), the longest range a client can ask for.
 * The route computes 2·threads tiles ahead of the one it writes, so a range's length does not
 * reach the pool's queue.
 */
const TILES_PER_STREAM = DEFAULT_TILE_LIMITS.maxStreamTiles;

/** Sizes of one run; `--quick` shortens every recording and run. */
interface Plan {
  /** The recording of the latency and load runs (calls over noise). */
  shortSeconds: number;
  /** Distinct tiles timed one at a time for the cold / cached / 304 figures. */
  coldTiles: number;
  /** The recording streamed whole for the memory figure (calls over noise). */
  streamSeconds: number;
  /** The long silent recording of the position figure; its tile at 90 % of it is timed. */
  positionHours: number;
  /** Timed rounds of the position figure. */
  positionRounds: number;
  /** autocannon runs per server, each `loadSeconds` long. */
  loadRounds: number;
  loadSeconds: number;
}

const FULL: Plan = { shortSeconds: 180, coldTiles: 100, streamSeconds: 3 * 3600, positionHours: 10, positionRounds: 35, loadRounds: 3, loadSeconds: 10 };
const QUICK: Plan = { shortSeconds: 60, coldTiles: 30, streamSeconds: 600, positionHours: 1, positionRounds: 7, loadRounds: 1, loadSeconds: 4 };

/**
 * `seconds` of 48 kHz calls over noise (a 10 ms downward chirp every 250 ms over noise at
 * −60 dB) as a float WAV: the same 10 s block over and over, so that hours are quick to write
 * (the server computes every tile all the same).
 */
function writeCalls(path: string, seconds: number): void {
  const block = new Float32Array(RATE * 10);
  let seed = 1;
  for (let i = 0; i < block.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 1;
    const t = (i / RATE) % 0.25;
    block[i] = 0.001 * (seed / 2 ** 31 - 0.5) + (t < 0.01 ? 0.5 * Math.sin(2 * Math.PI * (20000 - 1e6 * t) * t) : 0);
  }
  const bytes = new Uint8Array(block.buffer);
  const file = openSync(path, "w");
  try {
    writeSync(file, floatWavHeader(RATE * seconds, 1, RATE));
    for (let left = RATE * seconds * 4; left > 0; left -= bytes.length) writeSync(file, bytes, 0, Math.min(left, bytes.length));
  } finally {
    closeSync(file);
  }
}

/** `seconds` of silence as a float WAV that takes no disk: a header, then a hole (truncate). */
function writeSilence(path: string, seconds: number): void {
  const header = floatWavHeader(RATE * seconds, 1, RATE);
  writeFileSync(path, header);
  truncateSync(path, header.length + RATE * seconds * 4);
}

/** Path of PNG tile x at zoom 0 (default width) with the spectrogram parameters in `query`. */
const tilePath = (recording: string, x: number, query: string) => `/v1/recordings/${recording}/tiles/0/${x}.png?${query}`;

/**
 * An endless sequence of distinct PNG tiles of one recording, every one a new computation for
 * the server but all of the same work: the recording's full-width tiles in turn, then again
 * with the next colormap, then again with the next `min_dB`. Both change the tile's ETag (so
 * no cache hit) and neither changes the recording's stats (no new stats pass); a new `min_dB`
 * makes each worker open the recording once more, once per `tiles × 9` requests.
 */
function distinctTiles(recording: string, tiles: number): () => string {
  let i = 0;
  return () => {
    const x = i % tiles;
    const cmap = COLORMAPS[Math.floor(i / tiles) % COLORMAPS.length];
    const salt = Math.floor(i / (tiles * COLORMAPS.length));
    i++;
    return tilePath(recording, x, `cmap=${cmap}&min_dB=${-100 - salt / 1000}`);
  };
}

/** A server, and the paths of tiles it has never made (from `distinctTiles`). */
interface TileClient { server: BenchServer; next: () => string }

/** GET `url` and read its body to the end; `ms` is the whole exchange as the client sees it. */
async function timedGet(url: string, headers: Record<string, string> = {}, expect = 200): Promise<{ ms: number; etag: string | null }> {
  const start = performance.now();
  const response = await fetch(url, { headers });
  const body = new Uint8Array(await response.arrayBuffer());
  const ms = performance.now() - start;
  if (response.status !== expect) throw new Error(`GET ${url}: ${response.status} (expected ${expect}): ${new TextDecoder().decode(body).slice(0, 300)}`);
  return { ms, etag: response.headers.get("etag") };
}

/** The longest wait for a recording's stats in an untimed warm-up (a pass over 10 h at 48 kHz: about a minute). */
const STATS_PATIENCE_MS = 15 * 60_000;

/**
 * GET `url` until it is 200, as a client does while the server computes the recording's stats
 * (503 with Retry-After: the pass goes on in the background), for at most STATS_PATIENCE_MS.
 */
async function getWhenReady(url: string): Promise<void> {
  const deadline = performance.now() + STATS_PATIENCE_MS;
  for (;;) {
    const response = await fetch(url);
    await response.arrayBuffer();
    if (response.status !== 503 || performance.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 1000 * Number(response.headers.get("retry-after") ?? 1)));
  }
  await timedGet(url);
}

/**
 * One tile per worker at once, before anything is timed: the recording's stats are computed
 * (once, however many requests wait for them) and every worker opens the recording.
 */
async function warmUp({ server, next }: TileClient): Promise<void> {
  await Promise.all(Array.from({ length: server.threads }, () => getWhenReady(server.url + next())));
}

interface Percentiles { p50: number; p99: number }
const percentiles = (values: number[]): Percentiles => ({ p50: percentile(values, 50), p99: percentile(values, 99) });

/** Cold (new tile), cached (same URL again) and 304 (If-None-Match) latency, one request at a time. */
async function latency({ server, next }: TileClient, count: number) {
  const cold: number[] = [];
  const cached: number[] = [];
  const notModified: number[] = [];
  for (let i = 0; i < count; i++) {
    const url = server.url + next();
    const first = await timedGet(url);
    cold.push(first.ms);
    cached.push((await timedGet(url)).ms);
    notModified.push((await timedGet(url, { "if-none-match": first.etag! }, 304)).ms);
  }
  return { coldMs: percentiles(cold), cachedMs: percentiles(cached), notModifiedMs: percentiles(notModified), tiles: count };
}

interface LoadRun { threads: number; tilesPerSecond: number; latencyMs: Percentiles; failed: number }

/** One autocannon run of `seconds` against `server`, every request a new tile from `next`. */
async function loadRun(server: BenchServer, next: () => string, seconds: number): Promise<LoadRun> {
  const result = await autocannon({
    url: server.url,
    connections: LOAD_CONNECTIONS,
    duration: seconds,
    requests: [{ setupRequest: (request) => ({ ...request, path: next() }) }],
  });
  return {
    threads: server.threads,
    tilesPerSecond: result["2xx"] / result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
    failed: result.non2xx + result.errors,
  };
}

const threadsText = (n: number) => `${n} thread${n === 1 ? "" : "s"}`;

/**
 * Tiles/s of two servers, run after run in alternation (order rotated per round), so that the
 * machine's load drifting between runs hits both alike; `scaling` is the first's speed-up
 * over the second.
 */
async function load(targets: [TileClient, TileClient], plan: Plan, log: (line: string) => void) {
  const runs: [LoadRun[], LoadRun[]] = [[], []];
  for (let r = 0; r < plan.loadRounds; r++) {
    for (const i of rotate([0, 1], r)) {
      log(`tiles: load round ${r + 1}/${plan.loadRounds}, ${threadsText(targets[i].server.threads)}…`);
      runs[i].push(await loadRun(targets[i].server, targets[i].next, plan.loadSeconds));
    }
  }
  const rates = (i: number) => runs[i].map((run) => run.tilesPerSecond);
  return {
    connections: LOAD_CONNECTIONS,
    seconds: plan.loadSeconds,
    runs,
    /** Median over rounds of (tiles/s of the first server) / (tiles/s of the second). */
    scaling: pairedRatio(rates(0), rates(1)),
    failed: runs.flat().reduce((sum, run) => sum + run.failed, 0),
  };
}

/**
 * Median time of the first tile of a 10 s recording and of the tile at 90 % of a long one
 * (and of the tile after it), both silent so that only the position differs, timed in
 * alternation. Every request is a new tile of identical work: the colormap changes every
 * round, and `min_dB` once the colormaps are used up — after which each worker opens the
 * recordings again, so one tile per worker is fetched untimed first, as at the start.
 */
async function position(server: BenchServer, tenSeconds: string, long: string, hours: number, g: FrameGeometry, rounds: number) {
  const atSeconds = 0.9 * hours * 3600;
  const x = Math.floor((atSeconds * RATE) / g.hop / WIDTH);
  const tiles = { first: (query: string) => tilePath(tenSeconds, 0, query), at: (query: string) => tilePath(long, x, query), next: (query: string) => tilePath(long, x + 1, query) };
  const names = Object.keys(tiles) as (keyof typeof tiles)[];
  const times: Record<keyof typeof tiles, number[]> = { first: [], at: [], next: [] };
  // One colormap per worker for the warm-up (on a machine of 9 cores or more, not every worker).
  const warmUpMaps = Math.min(server.threads, COLORMAPS.length - 1);
  for (let salt = 0; times.first.length < rounds; salt++) {
    const query = (cmap: string) => `cmap=${cmap}&min_dB=${-100 - salt / 1000}`;
    // As in `warmUp`; the very first requests also wait for the stats (a pass over the whole long recording).
    for (const name of names) await Promise.all(COLORMAPS.slice(0, warmUpMaps).map((cmap) => getWhenReady(server.url + tiles[name](query(cmap)))));
    for (const cmap of COLORMAPS.slice(warmUpMaps, warmUpMaps + rounds - times.first.length)) {
      for (const name of rotate(names, times.first.length)) times[name].push((await timedGet(server.url + tiles[name](query(cmap)))).ms);
    }
  }
  return {
    hours,
    atSeconds,
    tile: x,
    rounds,
    ms: { first: median(times.first), at: median(times.at), next: median(times.next) },
    /** Frames of PCEN each tile replays from the checkpoint before it (the first tile: none). */
    replayedFrames: { at: replayedFrames(x * WIDTH), next: replayedFrames((x + 1) * WIDTH) },
    /** Median over rounds of (tile at 90 %) / (first tile of the 10 s recording). */
    ratio: pairedRatio(times.at, times.first)!,
    nextRatio: pairedRatio(times.next, times.first)!,
  };
}

/**
 * Streams every tile of `recording` (`seconds` long) through the streamed-range route, in
 * ranges of TILES_PER_STREAM tiles, reading each multipart body to the end and checking that
 * it holds one PNG part per tile; `afterRange` is called after each range.
 */
async function streamAll(server: BenchServer, recording: string, seconds: number, g: FrameGeometry, afterRange: () => void) {
  const total = tileCount(frameCount(RATE * seconds, g), 0, WIDTH);
  let bytes = 0;
  let streams = 0;
  // The recording's stats first (a request waits 20 s for them, a long recording's pass takes longer).
  await getWhenReady(server.url + tilePath(recording, 0, ""));
  for (let a = 0; a < total; a += TILES_PER_STREAM) {
    const b = Math.min(total, a + TILES_PER_STREAM);
    // Frame a·W's centre to frame b·W − 1's: exactly tiles [a, b), whatever the float rounding.
    const url = `${server.url}/v1/recordings/${recording}/tiles/0/stream?start_time=${frameTime(a * WIDTH, g)}&end_time=${frameTime(b * WIDTH - 1, g)}`;
    const response = await fetch(url);
    const body = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}: ${body.toString("utf8", 0, 300)}`);
    const boundary = /boundary=(\S+)/.exec(response.headers.get("content-type") ?? "")?.[1];
    const parts = countOccurrences(body, `--${boundary}\r\nContent-Type: image/png\r\n`);
    if (parts !== b - a) throw new Error(`stream of tiles ${a}–${b - 1} (${response.headers.get("x-tile-range")}) held ${parts} PNG parts: ${body.toString("utf8", body.length - 300)}`);
    bytes += body.length;
    streams++;
    afterRange();
  }
  return { tiles: total, bytes, streams };
}

function countOccurrences(haystack: Buffer, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) count++;
  return count;
}

/**
 * The server's resident memory (MiB) while it streams every tile of a recording: before, after
 * each range, at the peak of samples taken every 50 ms, a second after, and its high-water mark.
 */
async function streamingMemory(server: BenchServer, recording: string, seconds: number, g: FrameGeometry) {
  const rss = () => processMemoryMb(server.pid).rss;
  const settle = () => new Promise((resolve) => setTimeout(resolve, 1000));
  await settle();
  const before = rss();
  let peak = before;
  const afterRange: number[] = [];
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 50);
  const start = performance.now();
  let streamed;
  try {
    streamed = await streamAll(server, recording, seconds, g, () => afterRange.push(rss()));
  } finally {
    clearInterval(sampler);
  }
  const elapsed = (performance.now() - start) / 1000;
  await settle();
  const after = processMemoryMb(server.pid);
  return { ...streamed, seconds: elapsed, rssMb: { before, afterRange, peak: Math.max(peak, after.rss), after: after.rss, highWater: after.highWater } };
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const mb = (v: number) => `${v.toFixed(0)} MB`;
const hoursText = (h: number) => `${Number.isInteger(h) ? h : h.toFixed(1)} h`;
const ratioText = (v: number | null) => (v === null ? "—" : `${v.toFixed(2)}×`);

/** Frames of PCEN a tile starting at frame f0 replays from the checkpoint before it (engine/recording.ts). */
function replayedFrames(f0: number): number {
  return f0 % CHECKPOINT_SPACING;
}

export async function runTiles(quick: boolean, log: (line: string) => void) {
  const plan = quick ? QUICK : FULL;
  const params = parseParams({});
  const g = frameGeometry(params.window_size, params.hop_size, RATE);
  const loadAtStart = loadAverage();
  const root = mkdtempSync(join(tmpdir(), "sonotile-bench-tiles-"));
  const servers: BenchServer[] = [];
  try {
    log(`tiles: writing recordings and registering them (hashing a ${plan.positionHours} h file takes a while)…`);
    const audio = join(root, "audio");
    for (const dir of ["short", "long"]) mkdirSync(join(audio, dir), { recursive: true });
    const shortName = `calls-${plan.shortSeconds}s.wav`;
    const files = { short: `short/${shortName}`, stream: `long/calls-${plan.streamSeconds}s.wav`, tenSeconds: "long/silence-10s.wav", long: `long/silence-${plan.positionHours}h.wav` };
    writeCalls(join(audio, files.short), plan.shortSeconds);
    writeCalls(join(audio, files.stream), plan.streamSeconds);
    writeSilence(join(audio, files.tenSeconds), 10);
    writeSilence(join(audio, files.long), plan.positionHours * 3600);
    // Two servers, each with its own embedded database: the default (one thread per core),
    // with every recording, and one thread, with the short one (for the load runs only).
    const everyCoreDirs = { data: join(root, "data-every-core"), audioRoot: audio };
    const oneThreadDirs = { data: join(root, "data-one-thread"), audioRoot: audio };
    const [ids, oneThreadIds] = await Promise.all([registerRecordings(everyCoreDirs, audio), registerRecordings(oneThreadDirs, join(audio, "short"))]);
    const id = (path: string) => ids.get(path)!;
    // One at a time, so that the `finally` stops the first if the second fails to start.
    const everyCore = await startServer(everyCoreDirs);
    servers.push(everyCore);
    const oneThread = await startServer(oneThreadDirs, 1);
    servers.push(oneThread);

    // First, while the server is fresh: its memory is then mostly its own start-up.
    log(`tiles: memory while streaming all tiles of a ${plan.streamSeconds / 60} min recording…`);
    const stream = await streamingMemory(everyCore, id(files.stream), plan.streamSeconds, g);

    log("tiles: cold, cached and 304 latency…");
    const shortTiles = Math.floor(frameCount(RATE * plan.shortSeconds, g) / WIDTH); // full-width tiles only: the same work each
    const onEveryCore = { server: everyCore, next: distinctTiles(id(files.short), shortTiles) };
    await warmUp(onEveryCore);
    const latencies = await latency(onEveryCore, plan.coldTiles);

    log(`tiles: a tile at ${hoursText(0.9 * plan.positionHours)} of ${hoursText(plan.positionHours)} vs the first of 10 s (the first request computes the long recording's stats)…`);
    const where = await position(everyCore, id(files.tenSeconds), id(files.long), plan.positionHours, g, plan.positionRounds)
      .catch((err: Error) => ({ unavailable: err.message }));

    const onOneThread = { server: oneThread, next: distinctTiles(oneThreadIds.get(shortName)!, shortTiles) };
    await warmUp(onOneThread);
    const throughput = await load([onEveryCore, onOneThread], plan, log);

    const result = {
      threads: everyCore.threads,
      spectrogram: `48 kHz recordings, Whombat defaults (${params.window_size * 1000} ms ${params.window}, hop ${(g.hop / RATE) * 1000} ms, PCEN, dB), z=0 PNG tiles of ${WIDTH} frames × ${g.bins} rows`,
      plan,
      ...latencies,
      load: throughput,
      position: where,
      stream,
      loadAverage: { start: loadAtStart, end: loadAverage() },
    };
    const lines = tilesTable(result);
    return { lines, result };
  } finally {
    for (const server of servers) await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

export type TilesResult = Awaited<ReturnType<typeof runTiles>>["result"];

function tilesTable(result: TilesResult): string[] {
  const { plan, load, position: where, stream } = result;
  const loadLine = (runs: LoadRun[]) =>
    `    ${threadsText(runs[0].threads).padEnd(9)}: ${median(runs.map((r) => r.tilesPerSecond)).toFixed(1)} tiles/s, latency under load p50 ${ms(median(runs.map((r) => r.latencyMs.p50)))}, p99 ${ms(median(runs.map((r) => r.latencyMs.p99)))}`;
  const rss = stream.rssMb;
  return [
    `Tiles over HTTP: sonotile serve (dist/, embedded database, ${threadsText(result.threads)} = one per core) on 127.0.0.1, driven from this process`,
    `  ${result.spectrogram}; every timed tile is one the server has not made`,
    `  cold tile (stats known)       p50 ${ms(result.coldMs.p50)}   p99 ${ms(result.coldMs.p99)}   (${result.tiles} distinct tiles, one request at a time)`,
    `  cached tile (same URL)        p50 ${ms(result.cachedMs.p50)}   p99 ${ms(result.cachedMs.p99)}`,
    `  304 (If-None-Match)           p50 ${ms(result.notModifiedMs.p50)}   p99 ${ms(result.notModifiedMs.p99)}`,
    `  under load (autocannon, ${load.connections} connections, ${plan.loadRounds} × ${load.seconds} s per server, alternating; medians):`,
    ...load.runs.map(loadLine),
    `    scaling 1 → ${threadsText(result.threads)} ${ratioText(load.scaling)} (target ≥ 1.8×)${load.failed ? `; ${load.failed} requests FAILED (non-2xx or errors)` : ""}`,
    ...("unavailable" in where
      ? [`  position: not measured — ${where.unavailable}`]
      : [
        `  position (silent recordings, ${where.rounds} alternating rounds, medians): tile ${where.tile} at ${hoursText(0.9 * where.hours)} of a ${hoursText(where.hours)} recording ${ms(where.ms.at)} (replays ${where.replayedFrames.at} frames of PCEN)`,
        `    vs the first tile of a 10 s recording ${ms(where.ms.first)} → ${ratioText(where.ratio)} (target ≤ 1.2×); the tile after it ${ms(where.ms.next)} (replays ${where.replayedFrames.next} frames) → ${ratioText(where.nextRatio)}`,
      ]),
    `  server RSS streaming all ${stream.tiles} tiles of a ${plan.streamSeconds / 60} min recording (${stream.streams} ranges of ≤ ${TILES_PER_STREAM} tiles, ${mb(stream.bytes / 2 ** 20)} received, its stats pass included, ${stream.seconds.toFixed(1)} s):`,
    `    ${mb(rss.before)} before, ${mb(rss.peak)} peak (sampled every 50 ms), ${mb(rss.after)} after; high-water mark since start ${mb(rss.highWater)}`,
    `    after each range: ${rss.afterRange.map((v) => v.toFixed(0)).join(" ")} MB`,
    `  load average at start ${result.loadAverage.start.join(" ")}, at end ${result.loadAverage.end.join(" ")}`,
  ];
}

/** The issue-7 / SPEC §9 targets of this part. */
export function tileTargets(result: TilesResult): Target[] {
  const { scaling } = result.load;
  const position = "unavailable" in result.position ? null : result.position;
  return [
    { name: `tile scaling 1 → ${result.threads} threads (HTTP, tiles/s)`, value: scaling, goal: "≥ 1.8×", ok: scaling === null ? null : scaling >= 1.8 },
    {
      name: position ? `tile at ${hoursText(0.9 * position.hours)} of ${hoursText(position.hours)} vs first of 10 s` : "tile 9 h into 10 h vs first of 10 s",
      value: position?.ratio ?? null,
      goal: "≤ 1.2×",
      ok: position ? position.ratio <= 1.2 : null,
    },
  ];
}
