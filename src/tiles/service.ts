/**
 * Tiles of recordings (SPEC §4) as the HTTP layer needs them: stats computed once per
 * recording and parameter set (in memory, persisted through a StatsStore, claimed so that
 * concurrent server instances do not compute them twice), tiles computed on the pool,
 * identified by strong ETags, kept in a bounded in-memory cache, and computed once however
 * many identical requests arrive together.
 */
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { ByteCache } from "../audio/byte-cache.js";
import { realSecondsHint, RECORDING_TIME_EXPANSION } from "../audio/expansion.js";
import { describeValue } from "../audio/signal.js";
import { checkFileUnchanged, type CheckedFile } from "../audio/source.js";
import { valueRange } from "../engine/analysis.js";
import { checkConditioning } from "../engine/condition.js";
import { frameCount, frameGeometry, frameTime, type FrameGeometry } from "../engine/geometry.js";
import { checkParamsForRecording, effectiveParams, ParamsError, realSamplerate, type Params } from "../engine/params.js";
import { rateRatio, resampledLength } from "../engine/rate-ratio.js";
import { needsRecordingStats, OVERVIEW_FACTOR, statsForOverview, statsForPiece, type PackedStats } from "../engine/recording.js";
import { VERSION } from "../engine/version.js";
import type { PngText } from "../render/png.js";
import { encodedBytesKnown, type TileFormat } from "./compute.js";
import { binsPerRow, framesOfInterval, pieceLayout, rowsFrequencyRange, tileLayout, TileRangeError, tilesInInterval, type BandOptions, type TileLayout, type TileOptions } from "./grid.js";
import { FairQueue, TaskClients, type Waiting } from "./fair-queue.js";
import { MAX_PASS_SAMPLES, passOverLimit } from "./limits.js";
import { POOL_CLIENT, POOL_OPTIONS, PoolBusyError, TaskTimeoutError, TilePool, type PoolOptions } from "./pool.js";
import type { Source, StatsResult, WorkerTask } from "./worker.js";

/**
 * Who a request's work is for: `client`, whose queue its computations wait in for a thread (the
 * pool takes clients' tasks round-robin: TilePool, FairQueue) — the API's is the token's user, else
 * the remote address —, and `left`, which fires when the request gives up (its client
 * disconnected): the work done for it alone is then cancelled. Without one, the work is the
 * pool's own client's (POOL_CLIENT) and runs to its end.
 */
export interface Requester {
  client: string;
  left?: AbortSignal;
}

/** What the tile service needs to know of a recording. */
export interface TileRecording {
  id: string;
  /** Absolute path of the audio file. */
  path: string;
  /** `path` is a real path confined to the audio roots (the API's): workers open only that file (openAudio's exactPath). */
  exactPath?: boolean;
  /** MD5 of the file content: tiles are immutable for a content + parameters. */
  hash: string;
  /** The file's size and modification time when it was checked to hold `hash` (Source.checked): a file written while a task reads it fails that task (FileChangedError) — no stats stored, no tile cached. */
  checked?: CheckedFile;
  timeExpansion: number;
  /** Sample rate as stored in the file, Hz. */
  samplerate: number;
  /** Sample frames per channel in the file. */
  frames: number;
  channels: number;
  /** How errors about the recording name it (the window's: checkParamsForRecording); `recording <id>` where not given. */
  name?: string;
}

/** What the frames of a recording's spectrograms depend on: its stored rate, time expansion and length. */
export type RecordingFrames = Pick<TileRecording, "samplerate" | "timeExpansion" | "frames">;

/** The frame geometry, conditioned samples and frame count of a pass over the whole recording. */
interface Pass { g: FrameGeometry; samples: number; frames: number }

/**
 * The pass these parameters make over the recording, from its registered frame count alone, for
 * the checks before any work: the frames the engine has (resampled as resample_poly counts, in
 * integers — `frames · (rate / fs)` in float64 gave 1 s at 44.1 kHz resampled to 48 kHz 48001
 * samples and 402 frames, the engine's 401).
 */
function passGeometry(params: Params, recording: RecordingFrames): Pass {
  const fs = realSamplerate(recording.samplerate, recording.timeExpansion);
  const rate = params.resample ? params.samplerate : fs;
  const g = frameGeometry(params.window_size, params.hop_size, rate);
  const samples = rate === fs ? recording.frames : resampledLength(recording.frames, rateRatio(fs, rate));
  return { g, samples, frames: frameCount(samples, g) };
}

/**
 * Refuses (ParamsError naming hop_size) parameters whose pass over the whole recording — which
 * every tile of it waits for — would transform more than `limit` (MAX_PASS_SAMPLES), before any work.
 */
function checkPassWork({ g, frames }: Pass, limit: number): void {
  const over = passOverLimit(frames, g, limit);
  if (over) throw new ParamsError([{ field: "hop_size", message: `a pass over this recording ${over.said}: use a longer hop_size or a shorter window_size` }]);
}

/**
 * Most samples one tile may transform, the frames it covers × FFT length (SPEC §10 limits): 2^32,
 * seconds of one core (2.5·10^8 samples/s measured on a 2-vCPU EPYC VM), well inside the pool's
 * time limit for a task. A tile at zoom z covers width·2^z frames, so a zoomed-out tile costs what
 * the pass over the same frames costs; one over the limit failed at the time limit on every retry.
 * Such tiles are pooled from the recording's overview instead (tileSource), which the stats pass
 * keeps when its own work is over this limit. TileServiceOptions.maxTileSamples' default.
 */
export const MAX_TILE_SAMPLES = 2 ** 32;

/**
 * Where the tiles of zoom z, width frames wide, come from. From the recording's overview
 * ("overview": the maximum of every OVERVIEW_FACTOR frames, per bin, which the stats pass keeps when
 * its own work is over `tileLimit`, MAX_TILE_SAMPLES) when it keeps one, that pass is within
 * `passLimit` (MAX_PASS_SAMPLES) and a column spans that many frames or more (2^z ≥ 512): 10 h at
 * 384 kHz is then seen whole, where every tile from zoom 10 up was refused — and every such tile of
 * it, not only those over the limit: a tile at zoom 10 of the viewer's default width 256 on 2 h at
 * 384 kHz transforms 2.5·10^9 samples, 23 s of a loaded core from its samples (three side by side
 * passed the request time limit), 0.03–0.3 s from the overview. Otherwise from their samples
 * ("samples") when one covering width·2^z frames (at most the whole pass) transforms at most
 * `tileLimit` — so dB without PCEN or normalization over the pass limit (25 h at 384 kHz), which
 * needs no pass, keeps its tiles within the tile limit; past it (an enormous FFT below zoom 9, or
 * any zoom of such a recording) refused (TileRangeError naming z) before the stats pass. From the
 * request and the recording alone, never from what happens to be cached: one ETag, one body.
 */
function tileSource(pass: Pass, z: number, width: number, tileLimit: number, passLimit: number): "samples" | "overview" {
  const { g, frames } = pass;
  if (2 ** z >= OVERVIEW_FACTOR && keepsOverview(pass, tileLimit) && frames * g.nperseg <= passLimit) return "overview";
  checkImageWork(Math.min(frames, width * 2 ** z), g, tileLimit, "z", `a tile at zoom ${z}`, "ask for a lower zoom, a narrower width, or a longer hop_size");
  return "samples";
}

/**
 * Refuses (LimitError naming `field`) an image computed from its samples — a tile, a one-shot
 * image — whose `frames` frames would transform more than `limit` samples, frames × FFT length
 * (MAX_TILE_SAMPLES), before any work: one over it held a worker until the request's time limit.
 * `image` names it in the message, `advice` says what brings it under.
 */
function checkImageWork(frames: number, g: FrameGeometry, limit: number, field: string, image: string, advice: string): void {
  const transformed = frames * g.nperseg;
  if (transformed <= limit) return;
  throw new LimitError(field, `${image} would transform ${transformed.toExponential(2)} samples (${frames} frames of ${g.nperseg}); the limit is ${limit.toExponential(2)}: ${advice}`);
}

/**
 * Whether the stats pass keeps the recording's overview (computeStats): when it transforms more
 * than `limit` (maxTileSamples), so that tiles zoomed out to 512 frames a column are pooled from it
 * (tileSource). Shorter recordings never need one.
 */
function keepsOverview({ g, frames }: Pass, limit: number): boolean {
  return frames * g.nperseg > limit;
}

/** A request over a limit (SPEC §10): a 400 naming the field as any TileRangeError, whatever the recording's length. */
class LimitError extends TileRangeError {}

/** Refuses (LimitError naming height) a tile of more than `maxPixels` values. */
function checkTilePixels(layout: TileLayout, maxPixels: number): void {
  const pixels = layout.rows * layout.columns;
  if (pixels <= maxPixels) return;
  throw new LimitError("height", `the tile would be ${layout.columns} × ${layout.rows} = ${pixels} pixels (columns × rows); the limit is ${maxPixels}: ask for fewer rows (height, fmin/fmax), a narrower width or a shorter window_size`);
}

/** What ends the refusal of an interval past `recording`'s end: that times are real seconds, at a time expansion other than 1 (realSecondsHint). */
function pastEndHint(recording: TileRecording): string {
  return realSecondsHint(recording, recording.timeExpansion, RECORDING_TIME_EXPANSION);
}

/** Fields whose range depends on the recording's frame count (which the file's header gives). */
const FRAME_FIELDS = new Set(["tile", "start_time", "end_time"]);

/** Persistence of recording stats (implemented by the store layer). */
export interface StatsStore {
  /** Stats ready for this recording content and key, or null. */
  load(recordingId: string, recordingHash: string, key: string): Promise<StatsResult | null>;
  /**
   * Claims the computation of `stats` for `leaseMs`; false while another live owner holds it.
   * `overview`: stats stored without an overview (before sonotile kept one, or by an instance that
   * keeps none for them) count as missing, and are claimed to be computed again with one.
   */
  claim(recordingId: string, recordingHash: string, stats: StatsIdentity, owner: string, leaseMs: number, overview?: boolean): Promise<boolean>;
  /** Extends `owner`'s lease by `leaseMs` from now; false when the claim is no longer `owner`'s. */
  renew(recordingId: string, key: string, owner: string, leaseMs: number): Promise<boolean>;
  /** Gives up `owner`'s claim after a failed computation, so that the next caller claims at once. */
  release(recordingId: string, key: string, owner: string): Promise<void>;
  /**
   * Stores `stats` computed under `owner`'s claim, resolving once they are stored. The store may
   * then remove other stored stats, least recently used first, to keep within its bound
   * (tileStatsStore), which the caller neither waits for nor fails with: those removed are
   * computed again when asked for, as stats never stored.
   */
  save(recordingId: string, recordingHash: string, stats: StatsIdentity, owner: string, result: StatsResult): Promise<void>;
  /**
   * Marks stats `key` of this content used: they were served from memory, which the store does not
   * see, and would count as unused since they were read. Called at most once a minute per stats
   * (STATS_TOUCH_MS), not waited for; its failures are the store's to report.
   */
  touch(recordingId: string, recordingHash: string, key: string): void;
  /** Ends the work the store does after answering (tileStatsStore's purge) before its database closes: TileService.close calls it. */
  close?(): Promise<void>;
}

/**
 * How often stats served from memory are marked used in the store (StatsStore.touch): once a
 * minute, as the store marks those it reads, well within the 5 minutes its purge spares stats used in.
 */
const STATS_TOUCH_MS = 60_000;

/**
 * How long a request past the registered frame count waits for a thread to read the file's header
 * (placeBeforePass) before its stats pass decides instead: the read takes milliseconds on a thread
 * already started (about 0.5 s on one starting, more on a loaded machine), but waits behind passes
 * when they hold every thread.
 */
const FRAMES_WAIT_MS = 3000;

/** A one-shot image's limits: frames, and pixels (columns × rows, after its band's crop). */
export interface PieceLimits { frames: number; pixels: number }

/** A stream's limits: tiles, and pixels per tile (columns × rows). */
export interface StreamLimits { tiles: number; pixels: number }

/** A streamed range, planned (`planStream`): its tiles [x0, x1) at its zoom, and the layout of the widest (its first: only the last tile of a recording is narrower). */
export interface StreamPlan { x0: number; x1: number; widest: TileLayout }

/** An encoded tile or piece and the headers that describe it. */
export interface TileBody {
  body: Uint8Array;
  etag: string;
  contentType: string;
  /** Geometry headers (SPEC §4: frame range, hop, bin spacing, shape, value scale). */
  headers: Record<string, string>;
}

/** A tile or piece checked and placed but not computed (`planTile`, `planPiece`; `render` computes it). */
export interface ImagePlan {
  /** Strong ETag, also the cache key: the same for every request of the same bytes. */
  etag: string;
  /** What the image covers: frames, columns, rows. */
  layout: TileLayout;
  /** The pool's work. */
  task: WorkerTask;
  /** Its encoded size when known before it is computed (encodedBytesKnown: f32, npy); null for PNG. */
  knownBytes: number | null;
  contentType: string;
  headers: Record<string, string>;
}

/** TileServiceOptions.cacheBytes' default, 256 MiB: full within 5 minutes of a mixed load (README). */
export const TILE_CACHE_BYTES = 256 * 2 ** 20;
/** TileServiceOptions.statsCacheBytes' default, 512 MiB (see there). */
export const STATS_CACHE_BYTES = 512 * 2 ** 20;

/** Frames-only stats (TileService#framesMemory) kept in memory, about 1 KB each. */
const FRAMES_CACHE_ENTRIES = 1024;

export interface TileServiceOptions extends PoolOptions {
  /** Bytes of encoded tiles kept in memory (default TILE_CACHE_BYTES, 256 MiB). */
  cacheBytes?: number;
  /**
   * Bytes of recording stats kept in memory (default STATS_CACHE_BYTES, 512 MiB): an entry is mostly its PCEN
   * checkpoints, up to 2^36 / 1024 floats (256 MiB, and a little) for a pass at the work limit, so
   * a bound by count (it was 1024 entries) held no bound on memory. The overview of a pass over
   * maxTileSamples counts too, as large as its checkpoints would be (10 h at 384 kHz, Whombat's
   * defaults: 108 MB, 216 MB with PCEN): an entry at the pass limit with PCEN is 512 MiB and a
   * little, over the default. The stats last used of those over the limit are kept whatever their
   * size, beside the others within it (ByteCache keepsOneOver): stats evicted are read again from
   * the store, or computed again — for an entry over the limit, by every tile, each reading hundreds
   * of MB. So the stats take at most this and one entry.
   */
  statsCacheBytes?: number;
  statsStore?: StatsStore;
  /**
   * How long a stats claim lasts unless renewed (default 30 s). The owner renews it every third
   * of that while it computes, so a long pass keeps its claim, and waiting instances take over
   * within this time when the owner dies.
   */
  statsLeaseMs?: number;
  /**
   * How long a request waits for stats still being computed before it is refused with
   * StatsPendingError (default 20 s); the computation goes on and later requests use it.
   */
  statsWaitMs?: number;
  /** Stats passes that may wait for a thread (default 4 per thread); more are refused with PoolBusyError. */
  maxStatsQueue?: number;
  /**
   * Stats passes one client (Requester) may have waiting for a thread, an integer ≥ 1 (default a
   * quarter of maxStatsQueue, at least 1: 1 per thread), so that one client alone cannot fill the
   * room and have every other client's new parameter sets refused. The pool's own client has
   * maxStatsQueue alone.
   */
  maxClientStatsQueue?: number;
  /** Most samples a tile may transform before it is pooled from the overview, or refused (default MAX_TILE_SAMPLES, 2^32: tileSource). */
  maxTileSamples?: number;
  /** Most samples a stats pass may transform (default MAX_PASS_SAMPLES, 2^36: checkPassWork). */
  maxPassSamples?: number;
}

/**
 * Least and most seconds a request told to wait for a pass is asked to wait before it asks again
 * (Retry-After): it asked every 10 s whatever the pass's time to go, and a retry of a pass of
 * minutes every few seconds holds a request for the statistics' wait (20 s) each time for nothing;
 * at most a minute, so that a pass ending sooner than it said keeps its tiles waiting little.
 */
const RETRY_AFTER_MIN_S = 10;
const RETRY_AFTER_MAX_S = 60;

/** The recording's stats are still being computed, or their pass waits for a slot: ask again later (HTTP 503 with Retry-After). */
export class StatsPendingError extends Error {
  override name = "StatsPendingError";
  /** @param retryAfterS Seconds to wait before asking again (Retry-After: retryAfterSeconds). */
  constructor(message: string, readonly retryAfterS: number = RETRY_AFTER_MIN_S) {
    super(message);
  }
}

/**
 * A stats pass this instance runs, as the requests that wait for it are told (StatsPendingError):
 * when it began on a worker (null while it waits for a thread, or another instance computes it)
 * and the frames it has scanned, element 0 of shared memory the worker writes.
 */
interface PassProgress {
  startedAt: number | null;
  framesDone: Float64Array;
  frames: number;
  /** When its worker returned it (null before): the whole recording read, what remains is storing the stats. */
  readAt: number | null;
}

/** A duration a person reads: "45 s", "3 min 20 s", "1 h 5 min". */
function spokenDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Retry-After for a pass `remainingS` seconds from its end (undefined: not known), within RETRY_AFTER_MIN_S and RETRY_AFTER_MAX_S. */
function retryAfterSeconds(remainingS: number | undefined): number {
  if (remainingS === undefined) return RETRY_AFTER_MIN_S;
  return Math.min(RETRY_AFTER_MAX_S, Math.max(RETRY_AFTER_MIN_S, Math.ceil(remainingS)));
}

/** How far a pass has come, as a person reads it, and the seconds the rest should take at its pace so far (undefined: not known) — undefined while it has not started here. */
function passAdvance(progress: PassProgress, now: number): { said: string; remainingS: number | undefined } | undefined {
  if (progress.startedAt === null) return undefined;
  if (progress.readAt !== null) return { said: `the whole recording read after ${spokenDuration((progress.readAt - progress.startedAt) / 1000)}, the statistics being stored`, remainingS: undefined };
  const elapsed = (now - progress.startedAt) / 1000;
  const done = progress.framesDone[0];
  // The frame count of a compressed stream is its header's estimate: a pass may go past it while it
  // runs, so a running pass short of its end is never said to be done (at most 99 %, and no time
  // left claimed). At the count exactly (an exact count's whole recording, as a PCM WAV's), what
  // remains is finishing the statistics, not reading more: it was said to go past an estimate.
  if (done > progress.frames) return { said: `more than the ${progress.frames} frames estimated done after ${spokenDuration(elapsed)}, the rest of the recording still being read`, remainingS: undefined };
  if (done === progress.frames) return { said: `all ${progress.frames} frames done after ${spokenDuration(elapsed)}, the statistics being finished`, remainingS: undefined };
  const share = `${Math.min(99, Math.floor((100 * done) / progress.frames))} % of its ${progress.frames} frames done after ${spokenDuration(elapsed)}`;
  if (done === 0) return { said: share, remainingS: undefined };
  const remainingS = (elapsed * (progress.frames - done)) / done;
  return { said: `${share}, about ${spokenDuration(remainingS)} to go`, remainingS };
}

/** The end of a pending pass's message, or of a pass refused a place (PoolBusyError#retryAfterS): when to ask again (`retryAfterS`, retryAfterSeconds). */
export function retryHint(retryAfterS: number): string {
  return retryAfterS <= RETRY_AFTER_MIN_S ? "retry in a few seconds" : `retry in about ${spokenDuration(retryAfterS)}`;
}

const PASS_SUBJECT = "the recording's statistics for these parameters (normalization maximum, PCEN state)";

/**
 * What a request that gave up waiting for a pass is told: that a pass is under way and, once it
 * runs here, how far it has come and how long the rest should take at its pace so far — a pass over
 * 10 h took 6.5 min (96 kHz FLAC, a loaded 2-vCPU machine), and "retry in a few seconds" alone read
 * as a server that hangs. Retry-After follows the time to go.
 */
function statsPending(progress: PassProgress | undefined, now: number): StatsPendingError {
  const base = `${PASS_SUBJECT} are being computed in one pass over the whole recording`;
  const advance = progress && passAdvance(progress, now);
  if (!advance) return new StatsPendingError(`${base}; ${retryHint(RETRY_AFTER_MIN_S)}`);
  const { said, remainingS } = advance;
  const retryAfterS = retryAfterSeconds(remainingS);
  return new StatsPendingError(`${base}: ${said}; ${retryHint(retryAfterS)}`, retryAfterS);
}

/**
 * What a request whose pass waits for a pass slot (TileService#statsSlots) is told: its place,
 * behind `ahead` passes, and how far the one of the `running` passes (this instance's, holding a
 * slot) nearest its end has come. It was told its pass was being computed, with "retry in a few
 * seconds", while it waited behind a pass of minutes. Retry-After follows `waitS`, the seconds
 * until its turn (expectedStarts): it followed the nearest pass's time to go whatever waited ahead
 * of it.
 */
function statsQueued(ahead: number, waitS: number, running: readonly PassProgress[], now: number): StatsPendingError {
  let nearest: ReturnType<typeof passAdvance>;
  for (const pass of running) {
    const advance = passAdvance(pass, now);
    if (advance && (nearest === undefined || (advance.remainingS ?? Infinity) < (nearest.remainingS ?? Infinity))) nearest = advance;
  }
  const place = `queued behind ${ahead} pass${ahead === 1 ? "" : "es"}`;
  const told = nearest === undefined ? place : `${place} (${ahead === 1 ? "" : "the one nearest its end: "}${nearest.said})`;
  const retryAfterS = retryAfterSeconds(waitS);
  return new StatsPendingError(`${PASS_SUBJECT} are to be computed in one pass over the whole recording, which waits for a free pass slot: ${told}; ${retryHint(retryAfterS)}`, retryAfterS);
}

/**
 * In how many seconds each pass of `line` — those waiting for one of `slots` pass slots, in the
 * order they take one (Slots#line) — should start: the slots free as the `running` passes end,
 * each at its time to go at its pace so far (passAdvance; one whose time is not known may end any
 * moment), and a waiting pass then holds its slot for its frames at the running passes' pace (the
 * seconds of all of them over the frames they have scanned; without one, no time). An estimate:
 * the passes' parameters and files differ, and so their cost a frame.
 */
function expectedStarts(line: readonly PassProgress[], running: readonly PassProgress[], slots: number, now: number): number[] {
  let seconds = 0;
  let scanned = 0;
  for (const pass of running) {
    if (pass.startedAt === null || pass.readAt !== null) continue;
    seconds += (now - pass.startedAt) / 1000;
    scanned += pass.framesDone[0];
  }
  const perFrame = scanned > 0 ? seconds / scanned : 0;
  const free = running.map((pass) => passAdvance(pass, now)?.remainingS ?? 0);
  while (free.length < slots) free.push(0);
  return line.map((pass) => {
    free.sort((a, b) => a - b);
    const start = free[0];
    free[0] = start + pass.frames * perFrame;
    return start;
  });
}

/** Longest pause between two looks at stats another instance is computing. */
const STATS_POLL_MAX_MS = 1000;

const CONTENT_TYPES: Record<TileFormat, string> = { png: "image/png", f32: "application/octet-stream", npy: "application/octet-stream" };

/** Parameters that change values but not the stats (normalization maximum, PCEN state). */
const RENDER_ONLY: (keyof Params)[] = ["scale", "clamp", "min_dB", "max_dB", "normalize", "cmap"];

/** Stable text of the parameters: same values, same key, whatever the order they came in. */
function canonical(value: object): string {
  return JSON.stringify(value, Object.keys(value).sort());
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** What a worker task reads: the recording's file, as its registered content (Source.content), with `params`. */
function source(recording: TileRecording, params: Params): Source {
  return { path: recording.path, exactPath: recording.exactPath, content: recording.hash, checked: recording.checked, timeExpansion: recording.timeExpansion, params };
}

/**
 * `params` as they act on `recording` (effectiveParams at its real rate): what keys and ETags
 * identify. `window_size` and `hop_size` act only through the frames they give (nperseg,
 * noverlap), so they are stated as that geometry's midpoints — a window of (nperseg + ½)/fs and
 * a hop of 1 − (noverlap + ½)/(nperseg + ½), which truncate back to it — and spellings that give
 * one geometry are one: 0.025, 0.02501 and a hop of 0.4999 at 8 kHz (200 and 100 samples) each
 * had an ETag, a cache entry and a pass over the whole recording of their own.
 */
function effective(recording: RecordingFrames, params: Params): Params {
  const e = effectiveParams(params, realSamplerate(recording.samplerate, recording.timeExpansion));
  const { nperseg, noverlap, samplerate } = passGeometry(e, recording).g;
  return { ...e, window_size: (nperseg + 0.5) / samplerate, hop_size: 1 - (noverlap + 0.5) / (nperseg + 0.5) };
}

/**
 * What stats are for, as their key hashes it: the analysis parameters — every one that changes the
 * spectrogram before normalization (all but RENDER_ONLY's), by the names a client sends them —, the
 * time expansion and the engine version.
 */
export type StatsFor = Partial<Params> & { time_expansion: number; engine: string };

/** Stats' key (the store's params_hash) and what it hashes. */
export interface StatsIdentity {
  key: string;
  for: StatsFor;
}

/**
 * The stats tiles of `recording` use for `params` (unchecked against it): keyed by the parameters
 * as they act on it (`effective`), so that every spelling of them names the same stats, and by
 * everything that changes the spectrogram before normalization — all parameters but RENDER_ONLY's,
 * the time expansion, the engine version.
 */
export function recordingStatsIdentity(recording: RecordingFrames, params: Params): StatsIdentity {
  const analysis = Object.fromEntries(Object.entries(effective(recording, params)).filter(([k]) => !RENDER_ONLY.includes(k as keyof Params)));
  const keyedBy: StatsFor = { ...analysis, time_expansion: recording.timeExpansion, engine: VERSION };
  return { key: sha256(canonical(keyedBy)).slice(0, 32), for: keyedBy };
}

/**
 * What an image is: a tile computed from its samples, a tile pooled from the recording's overview
 * (tileSource) — its values may differ from the samples' in their last bits, and an instance with
 * another maxTileSamples computes the same tile from its samples: one ETag must be one body —, or
 * a one-shot piece.
 */
type ImageKind = "tile" | "overview" | "piece";

/**
 * What a tile's or piece's bytes cover — its frames, their pooling, its rows (bins k0..k1 merged
 * into `rows`) — not how the request spelled it: `?fmin=0`, a `height` of every bin, `fmax` at
 * Nyquist, or interval ends that select the same frames give the same bytes, hence the same ETag
 * and cache entry. (The rows' bin edges follow from k0, k1 and rows: tileLayout.)
 */
function layoutIdentity(kind: ImageKind, layout: TileLayout): object {
  return { kind, f0: layout.f0, f1: layout.f1, factor: layout.factor, k0: layout.binEdges[0], k1: layout.binEdges[layout.rows], rows: layout.rows };
}

/** A computation TileService#once shares: `signal` fires once no caller waits for it; `clients` are its callers'. */
type Computation<T> = (signal: AbortSignal, clients: TaskClients) => Promise<T>;

/** A computation shared by concurrent callers (TileService#once). */
interface Flight {
  result: Promise<unknown>;
  /** Aborts the computation, once no caller waits for it. */
  controller: AbortController;
  /** Callers still waiting. */
  waiters: number;
  /** Runs to its end whoever leaves: a caller that cannot give up joined, or (stats) a request got its 503 and will ask again. */
  kept: boolean;
  /** The check of the file it reads that its starter made (Source.checked; undefined: none), which its reads end by finding still. */
  checked: CheckedFile | undefined;
  /** The clients of its callers, its starter's first: its pool tasks wait in each one's queue (TaskClients). */
  clients: TaskClients;
}

/** Whether two checks of a file (Source.checked; undefined: none) found it with the same size and modification time. */
const sameCheck = (a: CheckedFile | undefined, b: CheckedFile | undefined) => a === b || (a !== undefined && b !== undefined && a.size === b.size && a.mtime === b.mtime);

/**
 * At most `limit` holders at once; the others wait in a queue per client, taken round-robin across
 * clients (FairQueue, as the pool's tasks wait for a thread), at most `maxWaiting` in all and
 * `maxPerClient` of one client (TaskClients; the pool's own client has `maxWaiting` alone). They
 * waited in one line, first come first served: one viewer's nine new parameter sets held every
 * other user's new tiles for as long as nine passes take (up to minutes each), and the full line
 * refused everyone else. A waiter whose signal fires leaves the queue with the signal's reason.
 */
class Slots {
  /** Slots held: by those that took one, and by waiters a slot was passed on to. */
  private held = 0;
  private readonly queue: FairQueue;
  /** What each waiter waits for (line). */
  private readonly holders = new Map<Waiting, PassProgress>();

  constructor(readonly limit: number, maxWaiting: number, readonly maxPerClient: number) {
    this.queue = new FairQueue(maxPerClient, maxWaiting, POOL_CLIENT);
  }

  /** Which bound keeps a pass of `clients` from waiting (FairQueue#full), or null: a `take` now would not wait, or finds room. */
  full(clients: TaskClients): "queue" | "client" | null {
    return this.held < this.limit ? null : this.queue.full(clients);
  }

  /** The waiters' passes, each with its clients, in the order they take a slot (FairQueue#inTurn). */
  line(): { pass: PassProgress; clients: TaskClients }[] {
    return this.queue.inTurn().map((waiting) => ({ pass: this.holders.get(waiting)!, clients: waiting.clients }));
  }

  /** Slots held now: the waiter `i`-th in line takes one after these and the `i` waiters ahead of it. */
  get holding(): number {
    return this.held;
  }

  /**
   * Resolves with the release function once a slot is free. `holder`: what waits, for line;
   * `clients`, whose queues it waits in. The caller checks for room first (full).
   */
  async take(signal: AbortSignal, holder: PassProgress, clients: TaskClients): Promise<() => void> {
    signal.throwIfAborted();
    if (this.held >= this.limit) {
      await new Promise<void>((resolve, reject) => {
        const waiting = this.queue.add(clients, () => {
          this.holders.delete(waiting);
          signal.removeEventListener("abort", leave);
          resolve();
        });
        const leave = () => {
          this.queue.remove(waiting);
          this.holders.delete(waiting);
          reject(signal.reason);
        };
        this.holders.set(waiting, holder);
        signal.addEventListener("abort", leave, { once: true });
      });
    } else {
      this.held++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (!this.queue.startNext()) this.held--; // else the slot passes on, still held
    };
  }
}

export class TileService {
  readonly pool: TilePool;
  private readonly cache: ByteCache<TileBody>;
  private readonly statsStore?: StatsStore;
  private readonly statsLeaseMs: number;
  private readonly statsWaitMs: number;
  private readonly statsMemory: ByteCache<StatsResult>;
  /** When the store last marked each of statsMemory's entries used (Date.now()): as it was loaded or stored, then by touch. */
  private readonly statsMarked = new WeakMap<StatsResult, number>();
  /**
   * The frames and geometry of parameters that need no pass (framesOf), about 1 KB each, bounded by
   * count (FRAMES_CACHE_ENTRIES): in statsMemory, each one set evicted the stats last used when
   * those were over its limit alone, and a viewer switching zooms read hundreds of MB again.
   */
  private readonly framesMemory = new ByteCache<StatsResult>(FRAMES_CACHE_ENTRIES, () => 1);
  private readonly inFlight = new Map<string, Flight>();
  /** The stats passes of this instance's flights, by flight key (statsOf). */
  private readonly passes = new Map<string, PassProgress>();
  private readonly owner = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  /**
   * Stats passes running at once: every thread but one (one with one thread), so that a pass over
   * a long recording — minutes, at the pass limit — never holds every worker: tiles of recordings
   * whose stats are known keep one. A pass waiting for its slot counts as being computed; at most
   * `maxStatsQueue` wait (a handful of passes near the limit held every new parameter set of every
   * recording for minutes), `maxClientStatsQueue` of one client, taken round-robin across clients;
   * more are refused as the pool's full queue is (PoolBusyError, a 503 whose Retry-After is the
   * expected wait: checkPassRoom).
   */
  private readonly statsSlots: Slots;
  private readonly maxTileSamples: number;
  private readonly maxPassSamples: number;
  /** Computations started (tiles, pieces and stats), for tests and diagnostics. */
  computed = 0;
  /** Tiles and pieces computed to the end. */
  completed = 0;

  constructor(options: TileServiceOptions = {}) {
    // Refused before the pool starts its threads, naming the option: compared with NaN, every tile
    // would be over the limit and no pass would keep an overview.
    for (const name of ["maxTileSamples", "maxPassSamples"] as const) {
      const value = options[name];
      if (value === undefined) continue;
      if (typeof value !== "number") throw new TypeError(`${name}: must be a number of samples > 0, got ${describeValue(value)}`);
      if (!(value > 0)) throw new RangeError(`${name}: must be a number of samples > 0, got ${value}`);
    }
    // 0 refused every client's first waiting pass, saying it had 0 waiting already.
    const perClient = options.maxClientStatsQueue;
    if (perClient !== undefined && !(Number.isInteger(perClient) && perClient >= 1)) throw new RangeError(`maxClientStatsQueue: must be an integer >= 1, got ${describeValue(perClient)}`);
    // The service's own options are no pool's (TilePool refuses keys it does not know).
    this.pool = new TilePool(Object.fromEntries(POOL_OPTIONS.map((key) => [key, options[key]])));
    this.cache = new ByteCache<TileBody>(options.cacheBytes ?? TILE_CACHE_BYTES, (t) => t.body.byteLength);
    // An entry's checkpoints and overview, and a little for the rest of it.
    this.statsMemory = new ByteCache<StatsResult>(options.statsCacheBytes ?? STATS_CACHE_BYTES, (r) => r.stats.checkpoints.byteLength + (r.stats.overview?.byteLength ?? 0) + 1024, true);
    this.statsStore = options.statsStore;
    this.statsLeaseMs = options.statsLeaseMs ?? 30_000;
    this.statsWaitMs = options.statsWaitMs ?? 20_000;
    const maxStatsQueue = options.maxStatsQueue ?? 4 * this.pool.threads;
    this.statsSlots = new Slots(Math.max(1, this.pool.threads - 1), maxStatsQueue, options.maxClientStatsQueue ?? Math.max(1, Math.floor(maxStatsQueue / 4)));
    this.maxTileSamples = options.maxTileSamples ?? MAX_TILE_SAMPLES;
    this.maxPassSamples = options.maxPassSamples ?? MAX_PASS_SAMPLES;
  }

  /**
   * Runs `compute`, a computation that reads `file` (checked by the caller: Source.checked), once
   * for all concurrent callers with the same key and the same check of the file (joinOrStart): a
   * computation's reads end by finding the file with its starter's size and time, so a caller is
   * answered only by one started under its own check. A caller whose check differs from the running
   * computation's (the file's time moved between the two: touched, or copied over with the same
   * bytes, the registered MD5 found again by the later check) stats the file: if it has the
   * caller's check, the caller starts its own computation, in the running one's place for the
   * callers that come after — the running one, under a check the file no longer has, ends for its
   * own callers —; if not, the caller's check is out of date and it fails at once
   * (FileChangedError). It joined the running one before, and a caller made after a `touch` whose
   * retry joined a computation an out-of-date caller had started was answered 409. With no
   * computation running, one starts at once, unstatted: the tiles of a stream go to the pool in
   * their order (a stat first let a later tile take the only worker ahead of the first).
   */
  private once<T>(key: string, compute: Computation<T>, file: Pick<Source, "path" | "checked">, requester?: Requester): Promise<T> {
    const running = this.inFlight.get(key);
    if (!running || sameCheck(running.checked, file.checked)) return this.joinOrStart(key, compute, file.checked, requester);
    return (async () => {
      if (file.checked) await checkFileUnchanged(file.path, file.checked);
      // Meanwhile a caller with this check may have started it.
      const now = this.inFlight.get(key);
      if (now && !sameCheck(now.checked, file.checked)) this.inFlight.delete(key);
      return this.joinOrStart(key, compute, file.checked, requester);
    })();
  }

  /**
   * Runs `compute` once for all concurrent callers with the same key; one started here is marked
   * as started under the file's check `checked`. A caller's `signal` gives up its own wait (it
   * rejects with the signal's reason at once); the computation itself is cancelled only when every
   * caller waiting for it has given up — one client that disconnects must not fail the same tile
   * for the others. A caller without a signal keeps it running to the end. A caller's client joins
   * the computation's clients: its tasks wait in that client's queue too, and run at the first turn
   * of any of them (a tile another client's backlog had queued first is not held behind it).
   */
  private joinOrStart<T>(key: string, compute: Computation<T>, checked: CheckedFile | undefined, requester?: Requester): Promise<T> {
    const signal = requester?.left;
    signal?.throwIfAborted();
    const client = requester?.client ?? POOL_CLIENT;
    let flight = this.inFlight.get(key);
    if (!flight) {
      const controller = new AbortController();
      const started: Flight = { controller, waiters: 0, kept: false, checked, clients: new TaskClients(client), result: Promise.resolve() };
      started.result = compute(controller.signal, started.clients).finally(() => {
        if (this.inFlight.get(key) === started) this.inFlight.delete(key);
      });
      this.inFlight.set(key, (flight = started));
    }
    const joined = flight;
    joined.clients.join(client);
    const result = joined.result as Promise<T>;
    if (!signal) {
      joined.kept = true;
      return result;
    }
    joined.waiters++;
    return new Promise<T>((resolve, reject) => {
      const leave = () => {
        reject(signal.reason);
        if (--joined.waiters > 0 || joined.kept) return;
        if (this.inFlight.get(key) === joined) this.inFlight.delete(key); // the next caller starts afresh
        joined.controller.abort(signal.reason);
      };
      signal.addEventListener("abort", leave, { once: true });
      result.then(resolve, reject).finally(() => signal.removeEventListener("abort", leave));
    });
  }

  /**
   * The recording's stats for these parameters: memory, then the store, then computed — none for
   * parameters that need none (statsOf). Parameters that do not fit the recording are refused here
   * (ParamsError), before any work; what only the engine finds (a hop of 0 samples, a band filter
   * that cannot be computed) comes back from the worker as a ParamsError too (TaskFailure,
   * tiles/failure.ts).
   */
  stats(recording: TileRecording, params: Params): Promise<StatsResult> {
    return this.statsOf(recording, params, this.checkedPass(recording, params));
  }

  /**
   * `stats` for parameters already checked against the recording (checkedPass, `pass`). Parameters
   * that need no whole-recording statistic (needsRecordingStats: dB without PCEN or normalization)
   * get the frames and geometry a worker reads from the file's header (framesOf) — no claim, no
   * pass, no 503 while one runs: a pass over an hour of 384 kHz audio took 7–29 s, minutes for
   * longer ones, and found nothing their tiles use. `requester`: whose it is, and its leaving.
   * A pass every one of whose requests left before their answer — queued for a slot or running —
   * is cancelled, as a tile is; one a request got its 503 for (it will be asked again) or that a
   * caller without a signal wants goes on to the end. `overview`: a tile pooled from the overview
   * (tileSource) needs the pass, whatever its parameters. Stats of a recording that keeps an
   * overview (keepsOverview) are wanted with it, by every tile — one flight, one pass, whichever
   * zoom asks first —, and stats stored without one (before sonotile kept it) are computed again.
   */
  private statsOf(recording: TileRecording, params: Params, pass: Pass, requester?: Requester, overview = false): Promise<StatsResult> {
    const identity = recordingStatsIdentity(recording, params);
    if (!overview && !needsRecordingStats(params)) {
      // What the pass would have refused at its first read, before any tile (a stream's 200) is sent.
      checkConditioning(params, pass.g.samplerate, pass.samples);
      return this.framesOf(recording, params, identity.key, requester);
    }
    const memoryKey = `${recording.hash}:${identity.key}`;
    const keep = keepsOverview(pass, this.maxTileSamples);
    const known = this.statsMemory.get(memoryKey);
    if (known && (!keep || known.stats.overview)) {
      this.markUsed(recording, identity.key, known);
      return Promise.resolve(known);
    }
    const flightKey = `stats:${memoryKey}`;
    const pending = this.once(flightKey, async (closing, clients) => {
      const progress: PassProgress = { startedAt: null, framesDone: new Float64Array(new SharedArrayBuffer(8)), frames: pass.frames, readAt: null };
      this.passes.set(flightKey, progress);
      try {
        const result = await this.loadOrCompute(recording, params, identity, closing, clients, progress, keep);
        this.statsMemory.set(memoryKey, result);
        this.statsMarked.set(result, Date.now());
        return result;
      } finally {
        if (this.passes.get(flightKey) === progress) this.passes.delete(flightKey);
      }
    }, recording, requester);
    return this.waitBounded(pending, this.statsWaitMs, () => {
      // A pass that has read the whole recording is over but for storing its stats (a database
      // write): the request waits for them. Its 503 said "the rest of the recording still being
      // read", and the next request was answered at once.
      const progress = this.passes.get(flightKey);
      if (progress?.readAt != null) return undefined;
      // The request gets its 503 and will ask again: whoever leaves now, the pass goes on.
      const flight = this.inFlight.get(flightKey);
      if (flight) flight.kept = true;
      return this.statsPendingOf(progress);
    });
  }

  /** What a request that gave up waiting for the pass `progress` (undefined: none runs here) is told: its place when it waits for a slot (statsQueued), else how far it has come (statsPending). */
  private statsPendingOf(progress: PassProgress | undefined): StatsPendingError {
    const now = performance.now();
    const line = this.statsSlots.line().map((w) => w.pass);
    const at = progress ? line.indexOf(progress) : -1;
    if (at < 0) return statsPending(progress, now);
    const running = this.runningPasses();
    return statsQueued(this.statsSlots.holding + at, expectedStarts(line, running, this.statsSlots.limit, now)[at], running, now);
  }

  /**
   * This instance's passes holding a pass slot: started, not yet done reading. One whose worker is
   * done has given its slot back while its stats are stored: counted, it freed a slot at once in
   * expectedStarts, and a pass queued behind one of minutes was told to retry in 10 s.
   */
  private runningPasses(): PassProgress[] {
    return [...this.passes.values()].filter((pass) => pass.startedAt !== null && pass.readAt === null);
  }

  /**
   * Refuses a pass of `clients` that would have to wait for a pass slot when the room is full or
   * its clients' share of it is (PoolBusyError, before anything is written to the database for it),
   * with when to ask again: when the first pass waiting starts, or the first of its clients' — one
   * asked to retry in 1 s met the same refusal for minutes.
   */
  private checkPassRoom(clients: TaskClients): void {
    const full = this.statsSlots.full(clients);
    if (full === null) return;
    const line = this.statsSlots.line();
    const starts = expectedStarts(line.map((w) => w.pass), this.runningPasses(), this.statsSlots.limit, performance.now());
    if (full === "queue") throw new PoolBusyError(`${line.length} statistics passes are waiting for a thread already`, retryAfterSeconds(starts[0]));
    const first = line.findIndex((w) => w.clients.all.some((client) => clients.all.includes(client)));
    throw new PoolBusyError(`you have ${this.statsSlots.maxPerClient} statistics passes waiting for a thread already, the most one client may have (other clients' passes still get a place)`, retryAfterSeconds(starts[first]));
  }

  /** Marks `stats`, served from memory, used in the store once STATS_TOUCH_MS have passed since its last mark. */
  private markUsed(recording: TileRecording, key: string, stats: StatsResult): void {
    const now = Date.now();
    if (!this.statsStore || now - (this.statsMarked.get(stats) ?? -Infinity) < STATS_TOUCH_MS) return;
    this.statsMarked.set(stats, now);
    this.statsStore.touch(recording.id, recording.hash, key);
  }

  /**
   * The frames and geometry of parameters that need no pass (statsOf) — and of any request the
   * registered count places nothing for (placeBeforePass) —, as a worker's reader counts them: the count in the database is the reader's of the recording's import, and a reader since
   * taught to read more of a file (links of a chained Ogg, a WAV size its writer left unset) would
   * place tiles on a length the workers refuse. Milliseconds: the file's header, once per
   * recording and parameters.
   */
  private framesOf(recording: TileRecording, params: Params, key: string, requester?: Requester): Promise<StatsResult> {
    const memoryKey = `frames:${recording.hash}:${key}`;
    const known = this.framesMemory.get(memoryKey);
    if (known) return Promise.resolve(known);
    return this.once(memoryKey, async (closing, clients) => {
      const result = await this.pool.run<StatsResult>({ kind: "frames", ...source(recording, params) }, closing, undefined, clients);
      this.framesMemory.set(memoryKey, result);
      return result;
    }, recording, requester);
  }

  /**
   * Refuses parameters that do not fit the recording, or whose pass over it is over its limit
   * (checkPassWork) — parameters that need no pass (needsRecordingStats) are pooled from the
   * overview only when it is within its limit, else their tiles are the samples' (tileSource); the
   * geometry of that pass.
   */
  private checkedPass(recording: TileRecording, params: Params): Pass {
    checkParamsForRecording(params, { samplerate: realSamplerate(recording.samplerate, recording.timeExpansion), channels: recording.channels, name: recording.name ?? `recording ${recording.id}`, frames: recording.frames });
    const pass = passGeometry(params, recording);
    if (needsRecordingStats(params)) checkPassWork(pass, this.maxPassSamples);
    return pass;
  }

  /**
   * Runs `place` — a request's placement and its limits — before the stats pass, so that a request
   * the pass would not change the answer to is refused (400) before it: over a limit, or placing
   * nothing — a tile or an interval past the recording's end. The pass takes minutes on a long
   * recording, and each new parameter set would run one only to be refused; with passes queued for
   * every thread the request was refused as the queue's (PoolBusyError: 503, "retry shortly"),
   * and its 400 came only on a retry. On the frame count registered with the recording; where that
   * places nothing, on the count a worker reads from the file's header now (framesOf: the count the
   * pass makes), since one registered by an older reader may fall short of it (the links of a
   * chained Ogg, a WAV size its writer left unset). That read waits for a thread of the pool the
   * passes run on: with one thread (`serve -j 1`) behind a pass it would wait minutes, so after
   * FRAMES_WAIT_MS the pass decides, as before — the queue's 503 when it is full.
   */
  private async placeBeforePass(recording: TileRecording, params: Params, pass: Pass, place: (frames: number, g: FrameGeometry) => unknown, requester?: Requester): Promise<void> {
    try {
      place(pass.frames, pass.g);
      return;
    } catch (err) {
      // Over a limit (LimitError), or wrong whatever the count: no count changes the answer.
      if (!(err instanceof TileRangeError) || err instanceof LimitError || !FRAME_FIELDS.has(err.field)) throw err;
    }
    const reading = this.framesOf(recording, params, recordingStatsIdentity(recording, params).key, requester);
    let counted: StatsResult;
    try {
      counted = await this.waitBounded(reading, FRAMES_WAIT_MS, () => new StatsPendingError("no thread read the file's header in time"));
    } catch (err) {
      // No thread free: a 400 on the registered count could be wrong, so the pass decides.
      if (err instanceof StatsPendingError) return;
      throw err;
    }
    place(counted.stats.frames, counted.geometry);
  }

  /** Where the tiles of zoom z and `width` come from under this instance's limits (tileSource). */
  private tileSourceOf(pass: Pass, z: number, width: number): "samples" | "overview" {
    return tileSource(pass, z, width, this.maxTileSamples, this.maxPassSamples);
  }

  /**
   * `pending`, or the StatsPendingError `givingUp` returns after `limitMs` — a long recording's pass
   * outlasts a request; when it returns none, `pending` after all.
   */
  private waitBounded(pending: Promise<StatsResult>, limitMs: number, givingUp: () => StatsPendingError | undefined): Promise<StatsResult> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const refusal = givingUp();
        if (refusal) reject(refusal);
      }, limitMs);
    });
    return Promise.race([pending, late]).finally(() => clearTimeout(timer));
  }

  /**
   * `closing` fires when nobody waits for the pass any more: every request left before its answer,
   * or the service closes; `clients`, those of the requests waiting for it. `progress` is told when
   * the pass starts here and shared with its worker. `overview`: the pass keeps the overview
   * (keepsOverview), and stored stats without one are claimed and computed again.
   */
  private async loadOrCompute(recording: TileRecording, params: Params, identity: StatsIdentity, closing: AbortSignal, clients: TaskClients, progress: PassProgress, overview: boolean): Promise<StatsResult> {
    const store = this.statsStore;
    const compute = async () => {
      this.checkPassRoom(clients);
      const release = await this.statsSlots.take(closing, progress, clients);
      try {
        this.computed++;
        progress.startedAt = performance.now();
        const result = await this.pool.stats({ kind: "stats", ...source(recording, params), progress: progress.framesDone, overview }, closing, clients).catch((err: unknown) => {
          // Not the request's time limit (a 400: ask for less): the pass limit keeps a pass to minutes, so one over its hour met an overloaded machine.
          throw err instanceof TaskTimeoutError ? new PoolBusyError(`the statistics pass ran past its time limit of ${err.limitMs / 1000} s and was stopped: the server is overloaded`) : err;
        });
        progress.readAt = performance.now();
        return result;
      } finally {
        release();
      }
    };
    if (!store) return compute();
    for (let attempt = 0; ; attempt++) {
      closing.throwIfAborted();
      const stored = await store.load(recording.id, recording.hash, identity.key);
      if (stored && (!overview || stored.stats.overview)) return stored;
      // A pass the queue would refuse is refused before its claim: no claim, chunks or release
      // written to the database for it when the server is busiest.
      this.checkPassRoom(clients);
      if (await store.claim(recording.id, recording.hash, identity, this.owner, this.statsLeaseMs, overview)) return this.computeClaimed(store, recording, identity, compute);
      // Another instance is computing them: wait for its result, or — when it fails (and
      // releases its claim) or dies (and stops renewing its lease) — take over.
      await new Promise((resolve) => setTimeout(resolve, Math.min(STATS_POLL_MAX_MS, 50 * 2 ** attempt)));
    }
  }

  /**
   * Computes stats under this instance's claim, renewing its lease while the pass runs. A
   * failure releases the claim, so that the next request (here or on another instance) tries
   * again at once — failing fast with the same error if the cause remains — instead of waiting
   * for a lease nobody will fill.
   */
  private async computeClaimed(store: StatsStore, recording: TileRecording, identity: StatsIdentity, compute: () => Promise<StatsResult>): Promise<StatsResult> {
    const renew = () => void store.renew(recording.id, identity.key, this.owner, this.statsLeaseMs).catch(() => {});
    const heartbeat = setInterval(renew, this.statsLeaseMs / 3).unref();
    try {
      const result = await compute();
      await store.save(recording.id, recording.hash, identity, this.owner, result);
      return result;
    } catch (err) {
      // The computation's error is the one to report; if the release fails too, the lease lapses.
      await store.release(recording.id, identity.key, this.owner).catch(() => {});
      throw err;
    } finally {
      clearInterval(heartbeat);
    }
  }

  /**
   * ETag of a tile or piece (also its cache key): content hash, every parameter that can change
   * the bytes (effectiveParams; no colormap in numbers, no `clamp` in pictures — a picture clips to
   * [min_dB, max_dB] whether or not the values were clamped first, SPEC §3.10), what the bytes
   * cover (layoutIdentity), the format, the engine version.
   */
  private etag(recording: TileRecording, params: Params, kind: ImageKind, layout: TileLayout, format: TileFormat): string {
    const relevant = imageParams(recording, params, format);
    return `"${sha256(canonical({ hash: recording.hash, te: recording.timeExpansion, params: canonical(relevant), covers: canonical(layoutIdentity(kind, layout)), format, engine: VERSION })).slice(0, 40)}"`;
  }

  /**
   * Tile (z, x), planned: checked, placed and named (its ETag) without computing it — so that a
   * conditional request is answered 304 at once — and `render` computes it. Needs the stats (for
   * the tile's existence and frame count) when its parameters do, or when it is pooled from the
   * overview (statsOf; tileSource: a tile over maxTileSamples zoomed out to 512 frames a column or
   * more); a tile over a request limit — a zoom over maxTileSamples below that (tileSource), more
   * than `maxPixels` values — is refused before the stats pass.
   */
  async planTile(recording: TileRecording, params: Params, z: number, x: number, options: TileOptions, format: TileFormat, maxPixels = Infinity, requester?: Requester): Promise<ImagePlan> {
    const pass = this.checkedPass(recording, params);
    const fromOverview = this.tileSourceOf(pass, z, options.width) === "overview";
    const place = (frames: number, g: FrameGeometry) => {
      const layout = tileLayout(z, x, frames, g, options);
      checkTilePixels(layout, maxPixels);
      return layout;
    };
    await this.placeBeforePass(recording, params, pass, place, requester);
    const { geometry, stats } = await this.statsOf(recording, params, pass, requester, fromOverview);
    const layout = place(stats.frames, geometry);
    const headers = geometryHeaders(layout, geometry, params, stats);
    const text = pngText(recording, params, format, headers);
    return {
      etag: this.etag(recording, params, fromOverview ? "overview" : "tile", layout, format),
      layout,
      task: fromOverview
        ? { kind: "overview", ...source(recording, params), stats: statsForOverview(stats), layout, format, cmap: params.cmap, text }
        : { kind: "tile", ...source(recording, params), stats: statsForPiece(stats, layout.f0), layout, format, cmap: params.cmap, text },
      knownBytes: encodedBytesKnown(layout.rows, layout.columns, format),
      contentType: CONTENT_TYPES[format],
      headers,
    };
  }

  /**
   * The piece [start, end) seconds of SPEC §3 (the one-shot image route), its rows a tile's
   * (`options`: fmin, fmax, height), planned as `planTile` plans a tile — and computed as a tile of
   * one frame a column is; refused (TileRangeError) when it would hold more than `limits.frames`
   * frames or `limits.pixels` values (columns × rows, after the crop: fewer rows bring it under),
   * or transform more samples than a tile may (checkImageWork naming hop_size, as a tile names z).
   */
  async planPiece(recording: TileRecording, params: Params, start: number, end: number, options: BandOptions, format: TileFormat, limits: PieceLimits, requester?: Requester): Promise<ImagePlan> {
    const place = (frames: number, g: FrameGeometry): TileLayout => {
      const [f0, f1] = framesOfInterval(start, end, frames, g, pastEndHint(recording));
      const count = f1 - f0;
      if (count > limits.frames) throw new LimitError("end_time", `the interval holds ${count} frames; the limit is ${limits.frames} per image: ask for a shorter interval or use tiles`);
      checkImageWork(count, g, this.maxTileSamples, "hop_size", "the image", "ask for a longer hop_size, a shorter window_size or a shorter interval, or use tiles");
      const layout = pieceLayout(f0, f1, g, options);
      const pixels = count * layout.rows;
      if (pixels > limits.pixels) {
        throw new LimitError("end_time", `the image would be ${count} × ${layout.rows} = ${pixels} pixels (columns × rows); the limit is ${limits.pixels}: ask for fewer rows (height, fmin/fmax), a shorter interval, a longer hop_size or a shorter window_size, or use tiles`);
      }
      return layout;
    };
    const pass = this.checkedPass(recording, params);
    await this.placeBeforePass(recording, params, pass, place, requester);
    const { geometry, stats } = await this.statsOf(recording, params, pass, requester);
    const layout = place(stats.frames, geometry);
    const headers = geometryHeaders(layout, geometry, params, stats);
    return {
      etag: this.etag(recording, params, "piece", layout, format),
      layout,
      task: { kind: "tile", ...source(recording, params), stats: statsForPiece(stats, layout.f0), layout, format, cmap: params.cmap, text: pngText(recording, params, format, headers) },
      knownBytes: encodedBytesKnown(layout.rows, layout.columns, format),
      contentType: CONTENT_TYPES[format],
      headers,
    };
  }

  /**
   * Tiles [x0, x1) at zoom z that hold the frames centred in [start, end) seconds (the streamed
   * range), and the layout of the widest, whose size bounds each tile's; refused — before the
   * stats pass where the header tells — when a tile would be (tileSource, `limits.pixels`) or
   * when there are more than `limits.tiles` of them. Everything a tile of the stream could be refused for is checked
   * here, so that a stream's answer starts only when its tiles can all be made.
   */
  async planStream(recording: TileRecording, params: Params, z: number, start: number, end: number, options: TileOptions, limits: StreamLimits, requester?: Requester): Promise<StreamPlan> {
    const place = (frames: number, g: FrameGeometry): StreamPlan => {
      const [x0, x1] = tilesInInterval(z, start, end, frames, g, options.width, pastEndHint(recording));
      if (x1 - x0 > limits.tiles) {
        throw new ParamsError([{ field: "end_time", message: `the interval spans ${x1 - x0} tiles at zoom ${z}; the limit is ${limits.tiles} per stream (zoom out or ask for less)` }]);
      }
      const widest = tileLayout(z, x0, frames, g, options); // every tile has its rows
      checkTilePixels(widest, limits.pixels);
      return { x0, x1, widest };
    };
    const pass = this.checkedPass(recording, params);
    const fromOverview = this.tileSourceOf(pass, z, options.width) === "overview";
    await this.placeBeforePass(recording, params, pass, place, requester);
    const { geometry, stats } = await this.statsOf(recording, params, pass, requester, fromOverview);
    return place(stats.frames, geometry);
  }

  /**
   * Whether `render(plan)` would start a computation: its bytes are neither cached nor being
   * computed for another request under the same check of the file (once). A caller that may refuse
   * the answer for its size (plan.knownBytes) refuses it before rendering only then — else refusing
   * saves nothing.
   */
  wouldCompute(plan: ImagePlan): boolean {
    const running = this.inFlight.get(plan.etag);
    return !this.cache.has(plan.etag) && !(running && sameCheck(running.checked, plan.task.checked));
  }

  /**
   * The bytes of a planned tile or piece: from the cache, or computed on the pool once however
   * many requests ask together, in the queue of each one's client; `requester.left` cancels a request's interest (the work stops when no
   * request is left, if it is still queued or running).
   */
  async render(plan: ImagePlan, requester?: Requester): Promise<TileBody> {
    const cached = this.cache.get(plan.etag);
    if (cached) return cached;
    return this.once(plan.etag, async (shared, clients) => {
      this.computed++;
      const body = await this.pool.run<Uint8Array>(plan.task, shared, undefined, clients);
      this.completed++;
      const result: TileBody = { body, etag: plan.etag, contentType: plan.contentType, headers: plan.headers };
      this.cache.set(plan.etag, result);
      return result;
    }, plan.task, requester);
  }

  /** Tile (z, x) of the recording: `planTile`, then `render`. */
  async tile(recording: TileRecording, params: Params, z: number, x: number, options: TileOptions, format: TileFormat, requester?: Requester): Promise<TileBody> {
    return this.render(await this.planTile(recording, params, z, x, options, format, Infinity, requester), requester);
  }

  /**
   * Stops the service: computations still in flight — after a server's requests have drained,
   * only stats passes nobody waits for any more (a request gives up on one after statsWaitMs) —
   * are cancelled rather than run to their end, the pool closes, and the stats store's work after
   * answering ends (StatsStore.close): the caller closes the database after.
   */
  async close(): Promise<void> {
    for (const flight of this.inFlight.values()) flight.controller.abort(new Error("the tile service is closing"));
    // The store's purge stops at once, beside the pool's draining (a computation ending meanwhile
    // starts none); both end before close does, even when one fails, as the caller closes the database next.
    const closed = await Promise.allSettled([this.pool.close(), this.statsStore?.close?.()]);
    const failed = closed.find((outcome) => outcome.status === "rejected");
    if (failed) throw failed.reason;
  }
}

/**
 * The headers geometryHeaders sets, each with what it says: the API's OpenAPI document lists them
 * from here, so a header added below and not described fails the test that compares the two.
 */
export const GEOMETRY_HEADERS: Readonly<Record<string, string>> = {
  "x-shape": "rows,columns of the values or image",
  "x-frame-range": "first,end (exclusive) frame of the whole-recording spectrogram the columns cover",
  "x-frames-per-column": "frames merged (by their maximum) into each column: 2^z",
  "x-hop-seconds": "seconds between consecutive frames",
  "x-first-frame-seconds": "time of the first covered frame's centre, in seconds from the recording's start",
  "x-bin-hz": "Hz between consecutive FFT bins (samplerate / nperseg)",
  "x-bins-per-row": "FFT bins merged (by their maximum) into each row, on average: row r holds bins [k0 + floor(r·n/rows), k0 + floor((r+1)·n/rows)) of the n bins from the lowest, k0",
  "x-frequency-range": "lowest,highest bin frequency the rows cover, in Hz",
  "x-value-scale": "power, amplitude or dB: the values' scale",
  "x-value-range": "what the colormap spans: min_dB,max_dB for dB, 0,max for power and amplitude",
  "x-engine-version": "the sonotile version that computed the values (part of the ETag: a release whose values differ in any bit raises it)",
};

/**
 * The parameters a tile's or piece's bytes depend on — its ETag's, and a PNG's text: as they act on
 * the recording (`effective`), without the colormap in numbers or `clamp` in pictures (a picture
 * clips to [min_dB, max_dB] whether or not the values were clamped first, SPEC §3.10).
 */
function imageParams(recording: TileRecording, params: Params, format: TileFormat): Partial<Params> {
  const values = effective(recording, params);
  return format === "png" ? { ...values, clamp: false } : { ...values, cmap: undefined };
}

/**
 * A PNG tile's or one-shot image's text (iTXt), as `sonotile spectrogram` writes its own:
 * `Software` (sonotile and its version) and `sonotile`, JSON of what made it — `version`, `source`
 * (`md5`: the recording's `hash`, the content the pixels are of; `time_expansion`), `params` as the
 * ETag has them (imageParams) and `geometry`, the values of the geometry headers (`frame_range`,
 * `first_frame_seconds`, `hop_seconds`, `frequency_range`, `value_range`, …: where the pixels lie in
 * time and frequency). Nothing the ETag does not fix, so that one ETag is one body: not the
 * recording's id — two recordings of the same bytes share their tiles' ETags and cache entries, and
 * the URL names the recording. Undefined for numbers (f32, npy), whose headers say as much.
 */
function pngText(recording: TileRecording, params: Params, format: TileFormat, headers: Record<string, string>): PngText[] | undefined {
  if (format !== "png") return undefined;
  const geometry = Object.fromEntries(Object.entries(headers).filter(([name]) => name !== "x-engine-version").map(([name, value]) => [name.slice(2).replaceAll("-", "_"), value]));
  const made = { version: VERSION, source: { md5: recording.hash, time_expansion: recording.timeExpansion }, params: imageParams(recording, params, format), geometry };
  return [{ keyword: "Software", text: `sonotile ${VERSION}` }, { keyword: "sonotile", text: JSON.stringify(made) }];
}

/** Headers that place numeric values in time and frequency (SPEC §4): GEOMETRY_HEADERS. */
function geometryHeaders(layout: TileLayout, g: FrameGeometry, params: Params, stats: PackedStats): Record<string, string> {
  const binHz = g.samplerate / g.nperseg;
  return {
    "x-shape": `${layout.rows},${layout.columns}`,
    "x-frame-range": `${layout.f0},${layout.f1}`,
    "x-frames-per-column": String(layout.factor),
    "x-hop-seconds": String(g.hop / g.samplerate),
    "x-first-frame-seconds": String(frameTime(layout.f0, g)),
    "x-bin-hz": String(binHz),
    // Rounded to 6 decimals without trailing zeros: 4, not 4.000000; 2.5; 1.333333.
    "x-bins-per-row": String(Number(binsPerRow(layout).toFixed(6))),
    "x-frequency-range": rowsFrequencyRange(layout, g).join(","),
    "x-value-scale": params.scale,
    "x-value-range": valueRange(params, stats.peak).join(","),
    "x-engine-version": VERSION,
  };
}
