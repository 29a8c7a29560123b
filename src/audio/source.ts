/**
 * Random access to the bytes of a recording — a file (read with positioned `FileHandle.read`, so
 * a range costs only its own bytes) or an in-memory buffer. Every container parser and reader goes
 * through this, so `bytesRead` is an honest count of what was fetched from disk.
 */
import { constants, readSync } from "node:fs";
import { lstat, open, readlink, stat, type FileHandle } from "node:fs/promises";
import { AudioFormatError } from "./types.js";

export interface ByteSource {
  /** Total size in bytes: the bound every untrusted header size is checked against. */
  readonly size: number;
  /** Bytes fetched so far (for tests and diagnostics). */
  readonly bytesRead: number;
  /**
   * Bytes [offset, offset + length), clipped to the end of the source (the result may be shorter).
   * The returned array is reused by no later read, so callers may keep it; they must not write
   * into it: over bytes in memory it is a view of the caller's own (openAudio(bytes), a Node
   * Buffer's included), which a write would change under them. A parser that patches bytes patches
   * a copy (mp3seek's rewrittenSideInfo, flacseek's withStatedCodes).
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * The identity of the file read now (FileIdentity), for what a reader learns of it by reading it
   * all (the MP3 frame index) to be kept for its next opening; absent for bytes in memory.
   */
  identity?(): Promise<FileIdentity>;
  /**
   * Bytes [offset, offset + target.length) into `target`, clipped to the end of the source;
   * returns how many were read. Lets a reader reuse one buffer for many reads.
   */
  readInto(offset: number, target: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

/**
 * What tells one content of a file from another without reading it: its device, inode, size and
 * modification and change times (nanoseconds), which any write changes — as far as the file
 * system's clock tells two moments apart (see `changedMs`).
 */
export interface FileIdentity {
  /** Device, inode, size, mtime and ctime, joined: equal for the same file unchanged. */
  key: string;
  size: number;
  /**
   * The file's last change (ctime), ms since the epoch: the time every write sets and no call sets
   * back (utimes sets mtime, and ctime to now). A write within the same tick of the file system's
   * timestamps (a jiffy on Linux, up to 2 s on FAT) leaves the identity as it was, so only a file
   * whose last change is older than that can be known by its identity alone.
   */
  changedMs: number;
}

class FileSource implements ByteSource {
  bytesRead = 0;
  constructor(private readonly fh: FileHandle, readonly size: number, private readonly blocking: boolean) {}

  async identity(): Promise<FileIdentity> {
    // bigint: an inode number or a time in ns is exact, where a double rounds both past 2^53.
    const st = await this.fh.stat({ bigint: true });
    return { key: [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(":"), size: Number(st.size), changedMs: Number(st.ctimeNs / 1_000_000n) };
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(Math.max(0, Math.min(length, this.size - offset)));
    const got = await this.readInto(offset, buf);
    return got === buf.length ? buf : buf.subarray(0, got);
  }

  async readInto(offset: number, target: Uint8Array): Promise<number> {
    const n = Math.max(0, Math.min(target.length, this.size - offset));
    let got = 0;
    // A positioned read may return fewer bytes than asked (e.g. near a file that shrank under us).
    while (got < n) {
      const bytesRead = this.blocking
        ? readSync(this.fh.fd, target, got, n - got, offset + got)
        : (await this.fh.read(target, got, n - got, offset + got)).bytesRead;
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.bytesRead += got;
    return got;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

class MemorySource implements ByteSource {
  bytesRead = 0;
  constructor(private readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(this.bytes.length, offset + Math.max(0, length));
    const out = this.bytes.subarray(Math.min(offset, end), end);
    this.bytesRead += out.length;
    return out;
  }
  async readInto(offset: number, target: Uint8Array): Promise<number> {
    const bytes = await this.read(offset, target.length);
    target.set(bytes);
    return bytes.length;
  }
  async close(): Promise<void> {}
}

/**
 * Opens `path` for positioned reads; a missing or unreadable file is an AudioFormatError.
 * @param options.blocking read with `fs.readSync` on the calling thread instead of through
 *   libuv's thread pool. Only for a thread that has nothing else to do while it waits — a pool
 *   worker running one task at a time — where it saves the hop to the pool and back: the pool's
 *   STFT pass over 115 MB of float samples 5–12 % faster on 1 and on 2 threads (bench/PERFORMANCE.md).
 *   Never on a thread that serves requests: the read blocks its event loop.
 * @param options.exactPath see openRegularFile
 */
export async function openFileSource(path: string, options: { blocking?: boolean; exactPath?: boolean } = {}): Promise<ByteSource> {
  const { handle, size } = await openRegularFile(path, options);
  return fileSource(handle, size, options.blocking ?? false);
}

/** A source over the open file `handle` of `size` bytes (see openFileSource for `blocking`); closing it closes the handle. */
export function fileSource(handle: FileHandle, size: number, blocking = false): ByteSource {
  return new FileSource(handle, size, blocking);
}

/** What a failed look at a file means to a person, by its error code (Node's message names the system call); else its message. */
export function fileFailure(err: unknown): string {
  return FILE_FAILURES[(err as NodeJS.ErrnoException).code ?? ""] ?? (err as Error).message;
}

/**
 * Error codes in words: `cannot open x.wav: ENOENT` left a researcher to know the code, where
 * `extract` said `no such file or directory` for the same file.
 */
const FILE_FAILURES: Record<string, string> = {
  ENOENT: "no such file or directory",
  ENOTDIR: "not a directory",
  EACCES: "permission denied",
  EPERM: "permission denied",
  ELOOP: "too many levels of symbolic links",
};

/** The system's codes for a path that names nothing: no such file, or a file where its path has a directory. */
const NOTHING_THERE = new Set(["ENOENT", "ENOTDIR"]);

/**
 * There is no file at the path openRegularFile was given (ENOENT, ENOTDIR): an AudioFormatError
 * like any file that cannot be opened, of a class of its own for a caller that leaves a missing
 * file to others (a scan, to the import) — its message's words escape control characters in the
 * path (AudioFormatError), so they could not be matched against the path.
 */
export class MissingFileError extends AudioFormatError {
  override name = "MissingFileError";
  /** The system's error code: ENOENT (no such file) or ENOTDIR (a file where the path has a directory). */
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Opens `path` for reading and returns the handle, the file's size and its modification time; anything but a regular
 * file, or a file that cannot be opened, is an AudioFormatError (MissingFileError where there is none).
 * @param options.exactPath only the file whose real path `path` is (see isOpenedAt): for a path
 *   confined to the audio roots by its real path (store/paths.ts), so that a symlink swapped into it
 *   between that check and this open cannot lead the server to a file elsewhere (SPEC §10).
 */
export async function openRegularFile(path: string, options: { exactPath?: boolean } = {}): Promise<{ handle: FileHandle; size: number; mtimeMs: number }> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, for ever; so
    // opened, it is refused below with anything else that is not a regular file. (No effect on
    // regular files, and checking before opening would leave a window to swap the path.)
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const failure = `cannot open ${path}: ${fileFailure(err)}`;
    const code = (err as NodeJS.ErrnoException).code ?? "";
    throw NOTHING_THERE.has(code) ? new MissingFileError(failure, code) : new AudioFormatError(failure);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new AudioFormatError(`${path} is not a regular file`);
    if (options.exactPath && !(await isOpenedAt(fh, path))) throw new AudioFormatError(`${path} changed while it was opened: a link in its path now leads elsewhere`);
    return { handle: fh, size: st.size, mtimeMs: st.mtimeMs };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Whether the open file `fh` is the file at the real path `path`, reached without a symlink. Linux
 * names an open file by its real path in /proc/self/fd; elsewhere the inode at `path` (a final
 * component that is a link does not count) is compared with the open file's.
 */
async function isOpenedAt(fh: FileHandle, path: string): Promise<boolean> {
  try {
    return (await readlink(`/proc/self/fd/${fh.fd}`)) === path;
  } catch {
    const [opened, there] = await Promise.all([fh.stat(), lstat(path).catch(() => null)]);
    return there !== null && opened.dev === there.dev && opened.ino === there.ino;
  }
}

/**
 * A file's size and modification time (stat's `size` and `mtimeMs`) when its caller checked its
 * content (the store's registered size and MD5), before reading it.
 */
export interface CheckedFile {
  size: number;
  mtime: number;
}

/**
 * The file was written, replaced or removed between the check of its content (CheckedFile) and the
 * end of a read of it: what was read may be part the checked content and part another, and must not
 * be taken for either. Its message names no path (callers name the recording).
 */
export class FileChangedError extends Error {
  override name = "FileChangedError";
}

/**
 * Throws FileChangedError when the file at `path` no longer has the size and modification time it
 * was checked with: called once a read of it has ended, so that values computed from a file
 * rewritten in place during the read (another take copied over it, a sync tool writing into it)
 * are refused rather than kept under the checked content's hash. A rewrite within the file
 * system's timestamp granularity, or one that sets the old time back, is not seen (as the store's
 * own check does not see it).
 */
export async function checkFileUnchanged(path: string, checked: CheckedFile): Promise<void> {
  const now = await stat(path).catch(() => null);
  const change = fileChange(checked, now && { size: now.size, mtime: now.mtimeMs });
  if (change) throw change;
}

/**
 * The FileChangedError of a file checked with `checked` and found with `now` (null: gone) once
 * read — or, for a caller that stats the file it opened, once opened —; null when it has the
 * size and modification time it was checked with.
 */
export function fileChange(checked: CheckedFile, now: CheckedFile | null): FileChangedError | null {
  if (now?.size === checked.size && now.mtime === checked.mtime) return null;
  const was = `${checked.size} bytes modified ${new Date(checked.mtime).toISOString()} when its content was checked`;
  const is = now ? `${now.size} bytes modified ${new Date(now.mtime).toISOString()} after` : "gone after";
  return new FileChangedError(`the file changed while it was read (${was}; ${is}): what was read may mix two contents`);
}

/**
 * A source over bytes in memory. A Buffer is read through a plain Uint8Array over its memory:
 * Buffer's `slice` is a view, not a copy, so the parsers' copies of what they read (an MP3 frame
 * whose side info a seek rewrites: rewrittenSideInfo) wrote into the caller's bytes — a Buffer
 * given to openAudio had 18 bytes zeroed by reads of the MP3 fixture in reverse, and its later
 * reads were off by up to 1.35.
 */
export function memorySource(bytes: Uint8Array): ByteSource {
  return new MemorySource(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/**
 * `src` read through a window, for the container parsers' walk over chunk headers: a file of many
 * small chunks (a WAV with 99,000 empty LIST chunks took 7 s to open, two positioned reads per
 * chunk) costs one read per window instead. The first `exactReads` reads go straight to `src` —
 * an ordinary header still costs its own bytes and no more — and from then on a window of 256
 * bytes, doubling with each refill up to `maxWindow`. Reads that do not fit go straight to `src`;
 * the returned arrays are copies, so callers may keep them.
 * @param options.exactReads reads that go straight to `src` before the window (default 16)
 * @param options.maxWindow the largest window, in bytes (default 8192)
 * @param options.head the file's first bytes, read already: the first window, reads within it
 *   answered from it from the first — for a header walk over many files (a dataset scan:
 *   headerError's `headBytes`), one read each where it made one per chunk, each a trip through
 *   libuv's thread pool
 */
export function readAhead(src: ByteSource, options: { exactReads?: number; maxWindow?: number; head?: Uint8Array } = {}): ByteSource {
  const { exactReads = 16, maxWindow = 8192 } = options;
  let reads = 0;
  let window = 128;
  let start = 0;
  let held: Uint8Array = options.head ?? new Uint8Array(0);
  return {
    get size() {
      return src.size;
    },
    get bytesRead() {
      return src.bytesRead;
    },
    async read(offset: number, length: number): Promise<Uint8Array> {
      const end = Math.min(src.size, offset + Math.max(0, length));
      const within = held.length > 0 && offset >= start && end <= start + held.length;
      if (!within && (++reads <= exactReads || end - offset > maxWindow)) return src.read(offset, length);
      if (!within) {
        window = Math.min(maxWindow, 2 * window);
        start = offset;
        held = await src.read(offset, Math.max(window, end - offset));
      }
      return held.slice(offset - start, end - start);
    },
    readInto: (offset, target) => src.readInto(offset, target),
    close: () => src.close(),
  };
}
