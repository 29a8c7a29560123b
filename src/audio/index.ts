/**
 * sonotile's audio input: open any supported recording for ranged reads (`openAudio`), or
 * decode it whole (`decode`, SPEC §8b). Formats are recognised by their content, never by the
 * file name.
 */
import type { FileHandle } from "node:fs/promises";
import { constants as bufferConstants } from "node:buffer";
import { extname } from "node:path";
import { parseAiff, sniffAiff } from "./aiff.js";
import { openCompressed, probeCompressed, type CompressedHeader } from "./compressed.js";
import { checkBlockFrames, checkCacheBlocks, type StreamOptions } from "./stream-reader.js";
import { BlockReader } from "./reader.js";
import { parseRiff, sniffRiff } from "./riff.js";
import { recordingFacts } from "./metadata.js";
import { fileSource, memorySource, openFileSource, openRegularFile, readAhead, type ByteSource } from "./source.js";
import { handleMd5 } from "./hash.js";
import { applyTimeExpansion, timeExpansionOf } from "./expansion.js";
import { checkBooleanOptions, checkOptions, describeValue } from "./signal.js";
import { AudioFormatError, type AudioFileReader, type AudioInfo, type AudioReader } from "./types.js";

export { AudioFormatError } from "./types.js";
export type { AudioFileReader, AudioInfo, AudioReader } from "./types.js";
export { applyTimeExpansion, expandedSamplerate, realSecondsHint, RECORDING_TIME_EXPANSION, timeExpansionOf, timeExpansionProblem, type ExpandedInfo } from "./expansion.js";
export { fileMd5 } from "./hash.js";
export { checkFileUnchanged, fileChange, FileChangedError, openRegularFile, type CheckedFile } from "./source.js";
export { notRegularFile, readDirectory, specialKind, UNDECODABLE_NAME, type DirectoryEntry } from "./directory.js";

/** A whole recording decoded: one Float32Array of `frames` samples per channel (SPEC §8b). */
export interface DecodedAudio {
  /** Hz in real units (SPEC §3.2): the file's rate × `timeExpansion`. */
  samplerate: number;
  /** The rate the file declares, Hz. */
  fileSamplerate: number;
  /** The time expansion factor applied: the caller's, else the file's GUANO `TE`, else 1. */
  timeExpansion: number;
  channels: number;
  frames: number;
  /**
   * The samples, channel by channel. A non-empty tuple, since every container's header with no
   * channel is refused: `data[0]` is a Float32Array also under `noUncheckedIndexedAccess` (on in
   * `tsc --init`'s tsconfig), where `Float32Array[]` made the README's `spectrogram(data[0], …)`
   * fail to compile.
   */
  data: [Float32Array, ...Float32Array[]];
}

/** Opens a reader over an already-open byte source; closes the source if the header is bad. */
async function openSource(src: ByteSource, name: string, options: OpenOptions = {}): Promise<AudioFileReader> {
  const reader = await openFormat(src, name, options);
  Object.assign(reader.info, recordingFacts(reader.info.metadata, reader.info.samplerate));
  nameReadErrors(reader, name);
  return reader;
}

/**
 * Makes `reader`'s read errors name the file, as its open errors do (openFormat): a corrupt block
 * or a stream cut short is found only when read, and a batch or a CLI run over many files must
 * say which one it was. The reader keeps its class (tests and callers look inside a StreamReader).
 */
function nameReadErrors(reader: AudioReader, name: string): void {
  const read = reader.read.bind(reader);
  reader.read = async (channel, start, count, into) => {
    try {
      return await read(channel, start, count, into);
    } catch (err) {
      throw err instanceof AudioFormatError ? new AudioFormatError(`${name}: ${err.message}`) : err;
    }
  };
}

async function openFormat(src: ByteSource, name: string, options: OpenOptions): Promise<AudioFileReader> {
  try {
    const header = await readHeader(src);
    return header instanceof BlockReader ? header : await openCompressed(src, header, options);
  } catch (err) {
    await src.close();
    if (err instanceof AudioFormatError) throw new AudioFormatError(`${name}: ${err.message}`);
    throw err;
  }
}

/**
 * What the first bytes of `src` say it holds, its header read and checked: for PCM (WAV, RF64,
 * Wave64, AIFF) the reader itself — the chunk walk is all its opening reads —, for a compressed
 * stream its header (probeCompressed), which openCompressed opens further.
 * @throws AudioFormatError naming what is wrong: an empty file, no supported format, a header cut
 *   short or lying.
 */
async function readHeader(src: ByteSource): Promise<BlockReader | CompressedHeader> {
  const head = await src.read(0, 64);
  const riff = sniffRiff(head);
  // The header walks read through a window: files of thousands of small chunks open at once.
  if (riff) return new BlockReader(src, await parseRiff(readAhead(src), riff), src.size);
  if (sniffAiff(head)) return new BlockReader(src, await parseAiff(readAhead(src)), src.size);
  const compressed = await probeCompressed(src, head);
  if (compressed) return compressed;
  if (src.size === 0) throw new AudioFormatError("file is empty");
  throw new AudioFormatError("not a recognised audio format (expected WAV, RF64, Wave64, AIFF, FLAC, MP3 or Ogg)");
}

/** Tuning of `openAudio`; the defaults suit every thread. */
export interface OpenOptions extends StreamOptions {
  /**
   * Read the file with blocking reads on the calling thread (default false): for pool workers,
   * which run one task at a time; never on a thread that serves requests (see openFileSource).
   */
  blockingReads?: boolean;
  /**
   * Open only the file whose real path `input` is, reached without a symlink (default false): for
   * paths confined to the audio roots by their real path (see openRegularFile).
   */
  exactPath?: boolean;
}

/**
 * Opens a recording — a path, or the file's bytes already in memory — for random access. A
 * file stays open until `reader.close()`.
 * @param options.blockFrames compressed formats only: frames per decoded, cached block, an integer
 *   from 1 to 2^22 (MAX_BLOCK_FRAMES; default 65536)
 * @param options.cacheBlocks compressed formats only: decoded blocks kept, an integer ≥ 1 (default 16)
 * @param options.blockingReads read with `fs.readSync` (pool workers only; default false)
 * @param options.exactPath only the file whose real path `input` is (default false)
 * @throws AudioFormatError when the file is missing, unreadable or not a supported recording;
 *   RangeError naming blockFrames or cacheBlocks outside its range (whatever the format), TypeError naming input, options, or blockingReads or exactPath when no boolean.
 */
export async function openAudio(input: string | Uint8Array, options: OpenOptions = {}): Promise<AudioFileReader> {
  if (typeof input !== "string" && !(input instanceof Uint8Array)) {
    throw new TypeError(`input: must be a path (string) or the file's bytes (a Uint8Array or Buffer), got ${describeValue(input)}`);
  }
  checkOptions(options, ["blockFrames", "cacheBlocks", "blockingReads", "exactPath"] satisfies (keyof OpenOptions)[]);
  if (options.blockFrames !== undefined) checkBlockFrames(options.blockFrames);
  if (options.cacheBlocks !== undefined) checkCacheBlocks(options.cacheBlocks);
  checkBooleanOptions(options, ["blockingReads", "exactPath"]);
  if (typeof input !== "string") return openSource(memorySource(input), "<buffer>", options);
  return openSource(await openFileSource(input, { blocking: options.blockingReads, exactPath: options.exactPath }), input, options);
}

/** What reading a recording's header again reads from its file (see probeHeader). */
export interface HeaderProbe {
  info: AudioInfo;
  /** Bytes. */
  size: number;
  /** Last modification, ms since the epoch (fstat's mtimeMs). */
  mtimeMs: number;
}

/** What registering a recording reads from its file (see probeAudio). */
export interface AudioProbe extends HeaderProbe {
  /** MD5 of the file's bytes, lower-case hex; mtimeMs is taken before it. */
  md5: string;
}

/**
 * The header, size and modification time of the recording at `path`, `more` of the open file
 * after them, all through one opening of the file: all of one file, even when the path is swapped
 * for another file meanwhile (opened twice, the header could come from one file and the size from
 * the next).
 */
async function probeOpened<T>(path: string, options: { exactPath?: boolean }, more: (handle: FileHandle) => Promise<T>): Promise<HeaderProbe & T> {
  const { handle, size, mtimeMs } = await openRegularFile(path, options);
  const reader = await openSource(fileSource(handle, size), path);
  try {
    return { info: reader.info, size, mtimeMs, ...(await more(handle)) };
  } finally {
    await reader.close();
  }
}

/**
 * The header, size and modification time of the recording at `path`, through one opening of the
 * file (probeOpened), without decoding it — though an MP3 with a Xing/Info count has its frame
 * headers scanned to check the count (mp3seek.ts): for a file already known by its size and time.
 * @param options.exactPath only the file whose real path `path` is (see openRegularFile)
 * @throws AudioFormatError when the file is missing, unreadable or not a supported recording.
 */
export function probeHeader(path: string, options: { exactPath?: boolean } = {}): Promise<HeaderProbe> {
  return probeOpened(path, options, async () => ({}));
}

/**
 * The header, size, modification time and MD5 of the recording at `path`, all read through one
 * opening of the file (probeOpened).
 * @param options.exactPath only the file whose real path `path` is (see openRegularFile)
 * @throws AudioFormatError when the file is missing, unreadable or not a supported recording.
 */
export function probeAudio(path: string, options: { exactPath?: boolean } = {}): Promise<AudioProbe> {
  return probeOpened(path, options, async (handle) => ({ md5: await handleMd5(handle, path) }));
}

/**
 * Why the file at `path` cannot be opened as a recording, as far as its header tells — the
 * AudioFormatError opening it gives (openAudio's message, naming `path`: empty, no supported
 * format, a header cut short or lying; or that it cannot be opened, a MissingFileError where there
 * is no file) — or null when its header reads. Reads the header only
 * (readHeader), decodes nothing: for PCM that is all opening checks; a compressed stream whose
 * header reads may still fail when opened (its frames cut short or corrupt).
 * @param options.exactPath only the file whose real path `path` is (see openRegularFile)
 * @param options.headBytes read the file's first `headBytes` bytes at once and the header from
 *   them where it lies within (readAhead's `head`): for a scan of many files, one read each where
 *   the header walk made one per chunk; default 0, the header's own reads
 */
export async function headerError(path: string, options: { exactPath?: boolean; headBytes?: number } = {}): Promise<AudioFormatError | null> {
  let src: ByteSource | undefined;
  try {
    const { handle, size } = await openRegularFile(path, options);
    src = fileSource(handle, size);
    await readHeader(options.headBytes ? readAhead(src, { head: await src.read(0, options.headBytes) }) : src);
    return null;
  } catch (err) {
    if (!(err instanceof AudioFormatError)) throw err;
    return src ? new AudioFormatError(`${path}: ${err.message}`) : err; // as openFormat names it; openRegularFile's names the path already
  } finally {
    await src?.close();
  }
}

/**
 * Decodes a whole recording (a path or the file's bytes) to float32, channel by channel, as
 * `soundfile.read(path, dtype="float32")` does (its array transposed), with the samplerate in
 * real units as everything else sonotile reports (SPEC §3.2; `sonotile decode -o x.wav` writes
 * that rate): the file's rate × `options.timeExpansion`, else × the file's GUANO `TE`, else × 1.
 * So `spectrogram(data[0], samplerate, params)` is what `sonotile spectrogram` computes.
 * @throws AudioFormatError for input that is no supported recording, RangeError naming
 *   time_expansion for a factor that gives no real rate, RangeError naming the file for a channel
 *   longer than one Float32Array holds (checkWholeChannel), TypeError for input that is neither a path nor bytes.
 */
export async function decode(input: string | Uint8Array, options: { timeExpansion?: number } = {}): Promise<DecodedAudio> {
  checkOptions(options, ["timeExpansion"]);
  const reader = await openAudio(input);
  try {
    const { channels, frames } = reader.info;
    checkWholeChannel(typeof input === "string" ? input : "<buffer>", frames);
    const { samplerate, fileSamplerate, timeExpansion } = applyTimeExpansion(reader.info, timeExpansionOf(reader.info, options.timeExpansion));
    const data: DecodedAudio["data"] = [await reader.read(0, 0, frames)];
    for (let c = 1; c < channels; c++) data.push(await reader.read(c, 0, frames));
    return { samplerate, fileSamplerate, timeExpansion, channels, frames, data };
  } finally {
    await reader.close();
  }
}

/**
 * Refuses, before allocating, a recording whose channel decode() cannot return as one array: more
 * frames than a Float32Array holds (buffer.constants.MAX_LENGTH, V8's limit: 2^32 in Node 20 on
 * 64-bit — 74.6 h at 16 kHz). A 6 GB file had thrown a bare "Invalid typed array length" naming
 * neither the file nor what to do; the streaming API reads such a recording piece by piece.
 */
function checkWholeChannel(name: string, frames: number): void {
  if (frames > bufferConstants.MAX_LENGTH)
    throw new RangeError(`${name}: ${frames} frames a channel, more than one Float32Array holds (${bufferConstants.MAX_LENGTH}): decode() returns whole channels; read this recording piece by piece with openAudio(path).read(channel, start, count) (or wrap samples in samplesReader)`);
}

/** File name extensions taken as recordings when a directory is scanned (datasets, extract). */
export const AUDIO_EXTENSIONS: ReadonlySet<string> = new Set([".wav", ".wave", ".wavex", ".bwf", ".rf64", ".w64", ".aif", ".aiff", ".aifc", ".flac", ".mp3", ".ogg", ".oga", ".opus"]);

/** Whether a file of this name (or path) is taken as a recording when a directory is scanned: its extension, in any case. */
export function isAudioName(name: string): boolean {
  return AUDIO_EXTENSIONS.has(extname(name).toLowerCase());
}
