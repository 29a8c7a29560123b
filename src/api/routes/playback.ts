/**
 * GET /v1/recordings/{id}/playback?start_time&end_time: the audio of an interval as a WAV file.
 * For players that cannot send a token with their requests — an <audio> element can't — the
 * viewer fetches it with its Authorization header and plays the Blob, so playback works on
 * servers that require a token for reads (SPEC §10). The whole-file download with range
 * requests stays at /audio.
 *
 * Samples i with i / samplerate in [start_time, end_time) (real seconds and rate, time
 * expansion applied; the convention of the features' clips), every channel, as 32-bit float at
 * the file's own rate: time-expanded audio plays slowed down, as recorded. Streamed piece by
 * piece, so memory stays bounded; a client that disconnects stops the reading. What an answer
 * holds at once counts against the server's bound on answers waiting for slow clients
 * (unsent-bytes.ts), so that many slow clients cannot exhaust the memory.
 */
import { Readable } from "node:stream";
import { z } from "zod";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { checkFileUnchanged, expandedSamplerate, FileChangedError, openAudio, realSecondsHint, RECORDING_TIME_EXPANSION, type CheckedFile, type OpenOptions } from "../../audio/index.js";
import { interleavedPieces } from "../../audio/interleave.js";
import { blocksSpanned } from "../../audio/reader.js";
import { AudioFormatError, type AudioFileReader } from "../../audio/types.js";
import { floatWavHeader } from "../../audio/wavwriter.js";
import { invalid } from "../../store/errors.js";
import { MAX_PLAYBACK_SAMPLES } from "../playback-limit.js";
import { HttpError } from "../plugins/errors.js";
import { fileChangedWhileRead, recordingFile, withoutAudioRoots } from "../recording-file.js";
import { bytesResponse, errorBody, errorWithHeaders, HEAD_DOCUMENTED, idParams, interval, RETRY_AFTER_HEADER } from "../schemas.js";

/**
 * Samples (frames × channels) of one piece of the WAV: 1 MiB of float32 whatever the channels.
 * (Pieces of 2^18 frames were 16 MiB each for 16 channels, and a paused client held about two.)
 */
const PIECE_SAMPLES = 2 ** 18;

/** Frames of one piece of a recording of `channels` channels (PIECE_SAMPLES samples, at least a frame). */
const pieceFrames = (channels: number) => Math.max(1, Math.floor(PIECE_SAMPLES / channels));

/** The longest decoded block of playback's readers, the readers' default: longer ones only make the first piece, which seeks to its block, decode more. */
const PLAYBACK_BLOCK_FRAMES = 65536;

/**
 * The reader options of playback, for a recording of `channels` channels: a compressed stream
 * keeps the blocks one piece spans, which interleavedPieces reads channel by channel (so each
 * block is decoded once), in blocks no longer than a piece. The default, 16 blocks of 65536 frames,
 * held 8.5 MiB for a paused stereo client and 68 MiB at 16 channels (34 MiB at 8), counted as
 * 2 MiB; with these, 2 MiB for stereo, 3 MiB for 8 or 16 channels.
 */
function readerOptions(channels: number): OpenOptions {
  const blockFrames = Math.min(PLAYBACK_BLOCK_FRAMES, pieceFrames(channels));
  return { blockFrames, cacheBlocks: blocksSpanned(pieceFrames(channels), blockFrames) };
}

/**
 * Bytes an answer of `frames` frames read by `reader` holds at most at once, counted against the
 * unsent-bytes bound until it closes: up to three pieces of float32 values (4 bytes a sample) —
 * the one its socket is taking, the next waiting in the body (Readable.from reads one ahead), the
 * one being decoded — and what the reader holds reading a piece one channel at a time (its
 * maxHeldBytes: a PCM file's bytes read for a piece, a compressed stream's decoded blocks).
 */
function heldBytes(frames: number, reader: AudioFileReader): number {
  const { channels } = reader.info;
  const piece = Math.min(frames, pieceFrames(channels));
  return 4 * Math.min(frames * channels, 3 * piece * channels) + reader.maxHeldBytes(piece);
}

/** The WAV: its header, the first piece of interleaved frames (decoded before the response started), then the rest. */
async function* wavBytes(header: Uint8Array, firstPiece: Float32Array | undefined, rest: AsyncIterator<Float32Array>): AsyncGenerator<Uint8Array> {
  const bytes = (x: Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  yield header;
  if (!firstPiece) return;
  yield bytes(firstPiece);
  for (let x = await rest.next(); !x.done; x = await rest.next()) yield bytes(x.value);
}

/**
 * Frames [first, end) of `reader` as interleavedPieces gives them, the first and the last piece
 * only once `check` has found the file unchanged since it was checked (it throws when it changed):
 * samples read from a file rewritten meanwhile, part one content and part another, go out as no
 * answer of the recording. The first piece is decoded before the 200, so a file written before it
 * was read — between its check and its opening too, which a reader that parses the new bytes did
 * not tell (checked at the last piece alone, an interval of several pieces was a 200, cut short) —
 * or while it was, is a 409; after it, the transfer is cut short. A read that fails is answered by
 * the change where there was one (a file cut short under the reader), as the tile workers' reads are.
 */
async function* piecesOfUnchangedFile(reader: AudioFileReader, first: number, end: number, check: () => Promise<void>): AsyncGenerator<Float32Array> {
  const { channels } = reader.info;
  const pieces = interleavedPieces(reader, first, end, pieceFrames(channels))[Symbol.asyncIterator]();
  const next = () => pieces.next().catch(async (err: unknown) => {
    await check();
    throw err;
  });
  for (let piece = await next(), at = first; !piece.done; piece = await next()) {
    const isFirst = at === first;
    at += piece.value.length / channels;
    if (isFirst || at === end) await check();
    yield piece.value;
  }
}

/** A decoding failure as the 422 it is (SPEC §10), naming files relative to the audio roots. */
const undecodable = (err: unknown, roots: readonly string[]) =>
  err instanceof AudioFormatError ? new HttpError(422, `the recording's audio cannot be decoded: ${withoutAudioRoots(err.message, roots)}`) : err;

/**
 * Readers of finished playbacks, kept for the next one of the same file: opening a reader can cost
 * a pass over the file — an MP3 without a Xing frame count has all its frame headers scanned, one
 * read far into any MP3 scans up to there — and a reader opened per request paid it at every
 * request: 2 s of a 10 h 48 kHz MP3 (576 MB) took 1.4–2.7 s anywhere without the frame count, and
 * 1.2–1.5 s at 9 h with it (0.01–0.09 s at 5 s). A reader is used by one request at a time (taken
 * out while it streams); at most `limit` are kept, the least recently used closed first, and each
 * is closed once unused for `idleMs`, so files nobody plays are not held open. A reader kept lets
 * go of its decoded blocks and buffers (releaseMemory), which no answer counts any longer: eight
 * 16-channel readers kept their 68 MiB caches each, uncounted. What makes a reader worth keeping
 * stays: an MP3's frame index, an Ogg file's links, the open file. A reader is kept with the size
 * and modification time its file was checked at (CheckedFile) and taken only while the file still
 * has them: one of a file written since is closed, not read again.
 */
export class IdleReaders {
  private readonly idle = new Map<string, { reader: AudioFileReader; checked: CheckedFile; timer: NodeJS.Timeout }>();
  /** Cleared (the server closes): a reader given back after that, by a body that finished late, is closed, not kept. */
  private closed = false;

  /**
   * @param limit  readers kept at most
   * @param idleMs how long a reader is kept unused
   * @param closing closes a reader dropped from the cache (its failure logged by the caller)
   */
  constructor(private readonly limit: number, private readonly idleMs: number, private readonly closing: (reader: AudioFileReader) => void) {}

  /**
   * The kept reader of `key`, for the caller alone until it gives it back; undefined if none, or if
   * the file it reads has been written since it was kept — its size or time not `checked`, the
   * caller's check of it: that one is closed (its frame index, its header, may be of the old bytes).
   * Without `checked`, whatever is kept (the server closes).
   */
  take(key: string, checked?: CheckedFile): AudioFileReader | undefined {
    const kept = this.idle.get(key);
    if (!kept) return undefined;
    this.idle.delete(key);
    clearTimeout(kept.timer);
    if (checked && (checked.size !== kept.checked.size || checked.mtime !== kept.checked.mtime)) {
      this.closing(kept.reader);
      return undefined;
    }
    return kept.reader;
  }

  /**
   * Keeps `reader`, whose file had size and time `checked` for all its reads so far, for the next
   * request of `key` (one of another request already kept: the older is closed).
   */
  give(key: string, reader: AudioFileReader, checked: CheckedFile): void {
    if (this.closed) return this.closing(reader); // kept, its file stayed open idleMs after the server closed
    const older = this.take(key);
    if (older) this.closing(older);
    reader.releaseMemory();
    const timer = setTimeout(() => {
      if (this.idle.get(key)?.reader === reader) this.idle.delete(key);
      this.closing(reader);
    }, this.idleMs).unref();
    this.idle.set(key, { reader, checked, timer });
    for (const oldest of this.idle.keys()) {
      if (this.idle.size <= this.limit) break;
      this.closing(this.take(oldest)!);
    }
  }

  /** Closes every kept reader, and those given back from now on (the server closes). */
  clear(): void {
    this.closed = true;
    for (const key of [...this.idle.keys()]) this.closing(this.take(key)!);
  }
}

/** Readers kept for playback (IdleReaders): a viewer's few recordings, and the next click on them within a minute. */
const IDLE_READERS = 8;
const IDLE_READER_MS = 60_000;

export const playbackRoutes: FastifyPluginAsyncZod<{ maxSamples?: number }> = async (app, options) => {
  const maxSamples = options.maxSamples ?? MAX_PLAYBACK_SAMPLES;
  const readers = new IdleReaders(IDLE_READERS, IDLE_READER_MS, (reader) => void reader.close().catch((err: Error) => app.log.warn({ err }, "closing a recording after playback")));
  app.addHook("onClose", async () => readers.clear());

  app.get("/recordings/:id/playback", {
    config: HEAD_DOCUMENTED,
    schema: {
      summary: "The audio of [start_time, end_time) as a 32-bit float WAV",
      description: `Samples i of every channel with i / samplerate in [start_time, end_time) (real seconds, time expansion applied; clipped to the recording), at the file's own rate, so time-expanded audio plays slowed down. At most ${maxSamples} samples (frames × channels) per request. For players that cannot send a token: fetch it, play the Blob.`,
      tags: ["recordings"],
      params: idParams,
      querystring: z.strictObject(interval),
      response: { 200: bytesResponse("32-bit float WAV of the interval's samples", ["audio/wav"], { "X-Frame-Range": "first,end (exclusive) sample frame of the recording the WAV holds" }), 400: errorBody, 403: errorBody, 404: errorBody, 409: errorBody, 422: errorBody,
        503: errorWithHeaders("Service Unavailable, with Retry-After: answers still being sent to slower clients hold the server's limit of such bytes, the database is unavailable, or no answer came within the deadline", RETRY_AFTER_HEADER) },
    },
  }, async (request, reply) => {
    const { start_time, end_time } = request.query;
    if (!(end_time > start_time)) throw invalid("end_time", `must be > start_time (${start_time})`);
    const { id } = request.params;
    const { file, file_samplerate, time_expansion, hash, channels: registeredChannels, size, mtime } = await recordingFile(app, id);
    // The file's size and time when its content was checked: the interval's reads end by finding
    // them still (piecesOfUnchangedFile), and a kept reader is taken only while the file has them.
    const checked = { size, mtime };
    const check = () => checkFileUnchanged(file, checked).catch((err: unknown) => {
      throw err instanceof FileChangedError ? fileChangedWhileRead(id, err) : err;
    });
    // The content the recording is registered with: a file replaced and refreshed is opened afresh.
    // Its registered channels (its header's when registered, as its hash is) size the reader's
    // cache (readerOptions), which the reader's own header cannot: it is read by the opening.
    const key = JSON.stringify([file, hash]);
    const reader = readers.take(key, checked) ?? (await openAudio(file, { exactPath: true, ...readerOptions(registeredChannels) }).catch(async (err: unknown): Promise<never> => {
      // A file written between its check and this opening may not parse: that is the answer, not "cannot be decoded".
      await check();
      throw undecodable(err, app.audioRoots);
    }));
    try {
      const { frames, channels } = reader.info;
      const samplerate = expandedSamplerate(file_samplerate, time_expansion);
      const first = Math.min(frames, Math.ceil(start_time * samplerate));
      const end = Math.min(frames, Math.ceil(end_time * samplerate));
      if (first >= frames) {
        const hint = realSecondsHint({ samplerate: file_samplerate, frames }, time_expansion, RECORDING_TIME_EXPANSION);
        throw invalid("start_time", `must be before the end of the recording (${frames / samplerate} s)${hint}`);
      }
      // An interval shorter than a sample period may fall between two samples ([1e-320, 2e-320) s).
      if (first >= end) throw invalid("end_time", `no sample lies in [${start_time}, ${end_time}) s (the samples are ${1 / samplerate} s apart)`);
      const samples = (end - first) * channels;
      if (samples > maxSamples) {
        throw invalid("end_time", `the interval holds ${samples} samples (frames × channels); the limit is ${maxSamples} per request: ask for a shorter interval`);
      }
      // Before any decoding: a 503 with Retry-After when answers to slower clients fill the bound.
      app.unsentBytes.reserve(reply.raw, heldBytes(end - first, reader));
      const header = floatWavHeader(end - first, channels, file_samplerate);
      // The first piece is decoded before the 200 is sent, so that a file that cannot be decoded
      // there is a 422, and one written before that piece was read a 409 (piecesOfUnchangedFile);
      // a failure further on can only cut the transfer short (the status is out), and the reader,
      // which may hold bytes of both contents, is closed.
      const pieces = piecesOfUnchangedFile(reader, first, end, check);
      const firstPiece = await pieces.next().catch((err) => Promise.reject(undecodable(err, app.audioRoots)));
      // The reader goes with the body: kept for the next request once the body was read to its
      // end; else — destroyed unread (a client gone before the first byte, a reply the deadline
      // answered: a generator never started has no `finally` to run), cut short, failed — closed,
      // as a read may still be under way in it.
      const body = Readable.from(wavBytes(header, firstPiece.done ? undefined : firstPiece.value, pieces));
      let ended = false;
      body.once("end", () => (ended = true));
      body.once("close", () => (ended ? readers.give(key, reader, checked) : void reader.close().catch((err: Error) => request.log.warn({ err }, "closing a recording after playback"))));
      return reply.type("audio/wav").header("Content-Length", header.length + samples * 4)
        .header("X-Frame-Range", `${first},${end}`)
        .send(body);
    } catch (err) {
      await reader.close();
      throw err;
    }
  });
};
