/**
 * The pool's worker (Piscina): computes recording stats, tiles, pieces, leases of columns over a
 * range and one target's features off the main thread. Each worker instantiates the DSP core from
 * the module the main thread compiled (workerData.wasmModule, see engine/wasm.ts) and keeps a few
 * open recordings with their plans, since consecutive tiles mostly come from the same recording
 * and parameters — the parameter sets of one file reading it through one reader. The handler Piscina calls (the default export) is `compute` under the rule that
 * retires a thread after a failure that is not its input's, or with its core grown past the
 * pool's limit (taskHandler); a worker module of another kind of task builds its handler the same
 * way (test/fault-worker.mjs, for the tests of the pool's recovery and time limit:
 * PoolOptions.workerFile).
 */
import { workerData } from "node:worker_threads";
import { move, transferableSymbol, valueSymbol } from "piscina";
import { checkFileUnchanged, FileChangedError, openAudio, type CheckedFile } from "../audio/index.js";
import type { AudioReader } from "../audio/types.js";
import type { FrameGeometry } from "../engine/geometry.js";
import type { ColormapName, Params } from "../engine/params.js";
import { namingFile } from "../engine/analysis.js";
import { core } from "../engine/wasm.js";
import { limitFilterCache } from "../engine/resample.js";
import { packStats, RecordingSpectrogram, statsWithoutPass, unpackStats, type PackedStats } from "../engine/recording.js";
import { runFeaturesTask, type FeaturesTask } from "../features/task.js";
import type { PngText } from "../render/png.js";
import { RETIRED_EXIT_CODE, toTaskFailure, type RetiringAnswer } from "./failure.js";
import { encodeImage, overviewTileValues, tileValues, ValuesScratch, type TileFormat } from "./compute.js";
import type { TileLayout } from "./grid.js";

/** The recording and parameters a task works on. */
export interface Source {
  path: string;
  /** Open only the file whose real path `path` is (openAudio's exactPath): paths the API confined to the audio roots. */
  exactPath?: boolean;
  /**
   * The content the caller knows the file as (TileRecording.hash), part of the key of the readers
   * a worker keeps open: a file replaced and then made its recording's content (POST
   * /v1/recordings/{id}/refresh) is opened afresh — an open reader of the old file gave tiles of
   * the old content under the new ETag, or failed for good ("file ended early").
   */
  content?: string;
  /**
   * The file's size and modification time when the caller checked that it holds `content`: a task
   * ends by checking that it still has them (checkedUnchanged), so a file rewritten in place while
   * it was read fails the task (FileChangedError) instead of giving values — stored stats, cached
   * tiles — that mix two contents under `content`'s hash. Undefined: not checked (the CLI).
   */
  checked?: CheckedFile;
  timeExpansion: number;
  params: Params;
}

/**
 * A stats pass over `Source` (TilePool#stats). `progress`: shared memory whose element 0 the pass
 * sets to the frames it has scanned (the service's 503 to requests waiting for a long pass says
 * how far it has come). `overview`: keep the recording's overview too (computeStats), which tiles
 * over the service's tile work limit are pooled from.
 */
export type StatsTask = { kind: "stats"; progress?: Float64Array; overview?: boolean } & Source;

export type WorkerTask =
  | StatsTask
  // the frame count and geometry alone, for parameters that need no pass (needsRecordingStats)
  | ({ kind: "frames" } & Source)
  // a tile, or a one-shot image (a piece: a tile of one frame a column over any frames, TileService#planPiece);
  // `text`: a PNG's iTXt entries (what made it: TileService's pngText)
  | ({ kind: "tile"; stats: PackedStats; layout: TileLayout; format: TileFormat; cmap: ColormapName; text?: readonly PngText[] } & Source)
  // a tile pooled from `stats.overview` (statsForOverview: shared memory, a view crosses, not a
  // copy) rather than from the samples: no file is read
  | ({ kind: "overview"; stats: PackedStats; layout: TileLayout; format: TileFormat; cmap: ColormapName; text?: readonly PngText[] } & Source)
  // blocks of frames claimed from `next` (see TilePool#frameRangeInto) — block k is frames
  // [bounds[k], bounds[k + 1]) of the range [bounds[0], bounds.at(-1)) — each written into its
  // columns of `output`, a [bins][frames of the range] matrix in shared memory
  | ({ kind: "columns"; stats: PackedStats; bounds: Float64Array; next: Int32Array; leaseMs: number; output: Float32Array } & Source)
  | FeaturesTask; // batch feature extraction (src/features/task.ts)

export interface StatsResult {
  stats: PackedStats;
  geometry: FrameGeometry;
}

interface Open {
  reader: AudioReader;
  recording: RecordingSpectrogram;
}

/**
 * The values of this worker's PNG tiles and pieces: up to 2^22 (16 MB), more than a 4096 × 1025
 * tile, are kept between tasks.
 */
const scratch = new ValuesScratch(1 << 22);

/**
 * An open file and how many of the open recordings read it. One reader serves every parameter set
 * of a file: opening one can cost a pass over the file's bytes (an MP3 without a Xing frame count
 * has its frame headers scanned from start to end, 576 MB for 10 h at 128 kbit/s; an MP3 read far
 * into it scans up to there), which a reader per parameter set paid again at each new window,
 * band or PCEN setting — 0.8–3.4 s for the first tile of each, 0.05–0.4 s for the next.
 */
interface OpenFile {
  reader: Promise<AudioReader>;
  users: number;
}

/** Open files by fileKey. */
const files = new Map<string, OpenFile>();

/** Open recordings by sourceKey, least recently used first, with the fileKey of the file each holds one use of. */
const open = new Map<string, { file: string; recording: Promise<Open> }>();
const OPEN_LIMIT = 4;

/** The file a source reads, as its reader is keyed: path, confinement and the content it is known as. */
function fileKey(s: Source): string {
  return JSON.stringify([s.path, s.exactPath ?? false, s.content ?? null]);
}

function sourceKey(s: Source): string {
  const { cmap: _cmap, ...analysis } = s.params; // the colormap changes pixels, not values
  return JSON.stringify([fileKey(s), s.timeExpansion, analysis]);
}

/** The reader of `s`'s file (its fileKey `key`), opened if no open recording reads it; one more use of it (give it back with releaseFile). */
function useFile(s: Source, key: string): Promise<AudioReader> {
  let file = files.get(key);
  if (!file) {
    // One task at a time per worker: nothing else waits while a read blocks this thread, and
    // blocking reads skip the round trip through libuv's thread pool (openFileSource).
    const reader = openAudio(s.path, { blockingReads: true, exactPath: s.exactPath });
    file = { reader, users: 0 };
    files.set(key, file);
    const opened = file;
    reader.catch(() => {
      if (files.get(key) === opened) files.delete(key);
    });
  }
  file.users++;
  return file.reader;
}

/** Gives back one use of the file of fileKey `key` (useFile): the last closes its reader. */
async function releaseFile(key: string): Promise<void> {
  const file = files.get(key);
  if (!file || --file.users > 0) return;
  files.delete(key);
  await (await file.reader).close();
}

/** Disposes of an open recording taken out of `open`, giving back its use of its file (releaseFile). */
function closeRecording(entry: { file: string; recording: Promise<Open> }): Promise<void> {
  return entry.recording.then(({ recording }) => { recording.dispose(); return releaseFile(entry.file); }).catch(() => {});
}

async function openSource(s: Source): Promise<Open> {
  const key = sourceKey(s);
  let entry = open.get(key);
  if (entry) {
    open.delete(key);
  } else {
    const file = fileKey(s);
    const recording = (async () => {
      const reader = await useFile(s, file);
      try {
        return { reader, recording: new RecordingSpectrogram(reader, s.params, { timeExpansion: s.timeExpansion }) };
      } catch (err) {
        await releaseFile(file);
        throw err;
      }
    })();
    // A recording that failed to open holds no use of its file (useFile's failure or the catch above).
    recording.catch(() => open.delete(key));
    entry = { file, recording };
  }
  open.set(key, entry);
  while (open.size > OPEN_LIMIT) {
    const [oldest, evicted] = open.entries().next().value!;
    open.delete(oldest);
    void closeRecording(evicted);
  }
  return entry.recording;
}

/**
 * The handler Piscina calls with each task: `compute(task)`, whose result it returns, with the
 * rule for a failure that is not the input's. `compute` throws an input failure (tiles/failure.ts)
 * to have it returned as a value; anything else it throws is a bug, and retires the thread.
 *
 * @param compute the thread's work on one task (the production worker's: `compute` below).
 */
export function taskHandler<Task>(compute: (task: Task) => Promise<unknown>): (task: Task) => Promise<unknown> {
  /** Set when a task failed for another reason than its input, or left the core past its limit. */
  let retired = false;
  return async (task) => {
    // A retired thread takes no task: its exit fails this one before anything of it ran, and the
    // pool runs it again on a fresh thread (TilePool#run).
    if (retired) process.exit(RETIRED_EXIT_CODE);
    let answer: unknown;
    try {
      answer = await compute(task);
    } catch (err) {
      // An input failure is returned as a value (tiles/failure.ts); anything else is a bug — and a
      // trap of the core (WebAssembly.RuntimeError: an access out of bounds, asc's abort) may leave
      // its heap, and the plans this thread keeps open, half-updated. The error goes to its caller,
      // and the thread is retired: it cannot exit after its answer is posted (Piscina then blocks
      // it in Atomics.wait until the next task arrives), so it exits when that task arrives.
      const failure = toTaskFailure(err);
      if (!failure) {
        retired = true;
        throw err;
      }
      answer = failure;
      // A core that could not grow (its memory at wasm32's limit, or the host refusing pages) is no
      // bug, and the request gets a 503; but an allocation that fails part way through a plan
      // (assembly/stft.ts) leaves what it had allocated unreachable: the thread is retired as a core
      // past coreMemoryLimit is (below), and its memory goes with it.
      if (failure.taskFailure === "core-memory") {
        retired = true;
        return retiringAnswer(answer);
      }
    }
    // WebAssembly memory cannot shrink, and the core's allocator keeps what it grew to: a core
    // past the pool's limit (PoolOptions.coreMemoryLimit — one 2^25-pixel PNG tile grows one to
    // 325 MiB) would hold it for the thread's life. The answer says so, and the pool ends the
    // thread as it takes the answer (TilePool#run): its memory goes back then, not when the next
    // task reaches it, which on an idle server may be never.
    if (core.memory.buffer.byteLength <= coreMemoryLimit) return answer;
    retired = true;
    return retiringAnswer(answer);
  };
}

/**
 * `answer` marked as its thread's last (RetiringAnswer), moved as it was: a tile's buffer is
 * still transferred, not copied.
 */
function retiringAnswer(answer: unknown): unknown {
  if (typeof answer !== "object" || answer === null || !(transferableSymbol in answer)) return { retiringAnswer: answer } satisfies RetiringAnswer;
  const moved = answer as { [transferableSymbol]: object; [valueSymbol]: object };
  const marked: RetiringAnswer = { retiringAnswer: moved[valueSymbol] };
  return move({ [transferableSymbol]: moved[transferableSymbol], [valueSymbol]: marked });
}

/** PoolOptions.coreMemoryLimit, as the pool hands it to its threads; no limit outside a pool. */
const coreMemoryLimit: number = workerData?.coreMemoryLimit ?? Infinity;

// PoolOptions.filterCacheBytes, as the pool hands it to its threads (outside a pool: the default).
if (workerData?.filterCacheBytes !== undefined) limitFilterCache(workerData.filterCacheBytes);

export default taskHandler(compute);

/** The result of `task`: a value to clone, or one whose buffer is moved to the caller (tiles, pieces, a stats pass's checkpoints). */
export async function compute(task: WorkerTask): Promise<unknown> {
  if (task.kind === "features") return runFeaturesTask(task);
  // A stats pass reads the whole recording — minutes for hours of audio — and ends by checking the
  // file (below): one whose file has changed since its check already could only fail there, after
  // the whole read (a request whose check went stale while it waited for a stats pass or a hash).
  if (task.kind === "stats") await checkedUnchanged(task);
  let result: unknown;
  try {
    result = await computeSpectrogram(task);
  } catch (err) {
    // A read that failed on a file written meanwhile (cut short, other bytes) failed on no one
    // content: the change is the answer (FileChangedError, the API's 409), not "cannot be decoded".
    await checkedUnchanged(task);
    // Samples the STFT refuses are named with their file, as the reader names it in its own errors:
    // the API's 422 and a stream's error part name it (relative to the audio roots: routes/tiles.ts).
    throw namingFile(err, task.path);
  }
  await checkedUnchanged(task);
  return result;
}

/**
 * Throws FileChangedError when `s` was checked (Source.checked) and its file has changed since —
 * the task just read it — after closing every open recording of that file: their readers and plans
 * hold what was read, and the next task (a refresh's new content, or the old one put back) opens
 * the file afresh.
 */
async function checkedUnchanged(s: Source): Promise<void> {
  if (!s.checked) return;
  try {
    await checkFileUnchanged(s.path, s.checked);
  } catch (err) {
    if (err instanceof FileChangedError) await closeFile(fileKey(s));
    throw err;
  }
}

/** Closes the open recordings of the file of fileKey `key` (and so its reader, releaseFile). */
async function closeFile(key: string): Promise<void> {
  for (const [k, entry] of [...open]) {
    if (entry.file !== key) continue;
    open.delete(k);
    await closeRecording(entry);
  }
}

/** compute's spectrogram tasks: stats, frames, columns, tiles (from the samples or the overview) and pieces of one recording. */
async function computeSpectrogram(task: Exclude<WorkerTask, FeaturesTask>): Promise<unknown> {
  if (task.kind === "overview") {
    const { layout, stats } = task;
    const render = { params: task.params, peak: stats.peak, cmap: task.cmap, text: task.text };
    return move(await encodeImage(layout.rows, layout.columns, task.format, render, scratch, (values) => overviewTileValues(stats, task.params, layout, values)));
  }
  const { recording } = await openSource(task);
  if (task.kind === "stats") {
    // The checkpoints moved, not cloned: a clone is copied on the main thread as the answer
    // arrives, which serves no request meanwhile — /health neither (SPEC §10) —, and a long pass's
    // are as large as its overview (181 MB for 20 min at 384 kHz, hop 96: 0.7–1.1 s held). The
    // overview lies in shared memory, which the answer shares.
    const { progress } = task;
    const stats = await recording.computeStats(undefined, progress && ((framesDone) => void (progress[0] = framesDone)), task.overview);
    const result: StatsResult = { stats: packStats(stats), geometry: recording.geometry };
    return move({ [transferableSymbol]: result.stats.checkpoints.buffer, [valueSymbol]: result });
  }
  if (task.kind === "frames") {
    const result: StatsResult = { stats: statsWithoutPass(recording.frames), geometry: recording.geometry };
    return result;
  }
  recording.setStats(unpackStats(task.stats, task.params.pcen));
  if (task.kind === "columns") {
    // Block after block from the shared counter, with no round trip through the main thread in
    // between, until none is left or the lease is up. The values go straight into the caller's
    // shared memory: nothing to return or transfer.
    const until = performance.now() + task.leaseMs;
    const { bounds } = task;
    do {
      const k = Atomics.add(task.next, 0, 1);
      if (k >= bounds.length - 1) break;
      await recording.writeFrameRange(bounds[k], bounds[k + 1], task.output, bounds[k] - bounds[0]);
    } while (performance.now() < until);
    return null;
  }
  const render = { params: task.params, peak: task.stats.peak, cmap: task.cmap, text: task.text };
  const { layout } = task;
  return move(await encodeImage(layout.rows, layout.columns, task.format, render, scratch, (values) => tileValues(recording, layout, values)));
}
