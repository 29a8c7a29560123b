/** Content hash of a recording for the store (SPEC §5 recordings.hash): MD5 of the file bytes, streamed. */
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { openRegularFile } from "./source.js";
import { AudioFormatError } from "./types.js";

/**
 * Hex MD5 of the whole file at `path`, read in 1 MiB pieces (constant memory); `exactPath` as
 * openRegularFile's, `signal` as handleMd5's.
 */
export async function fileMd5(path: string, options: { exactPath?: boolean; signal?: AbortSignal } = {}): Promise<string> {
  const { handle } = await openRegularFile(path, options);
  try {
    return await handleMd5(handle, path, options.signal);
  } finally {
    await handle.close();
  }
}

/**
 * Hex MD5 of the whole open file `handle` (named `name` in errors), from its first byte; leaves it open.
 * @param signal stops the reading at the next 1 MiB piece (a hash no longer needed: a 3.4 GB file
 *   takes seconds to read); the promise then rejects with the signal's reason.
 */
export async function handleMd5(handle: FileHandle, name: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("md5");
  try {
    signal?.throwIfAborted();
    for await (const chunk of handle.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false })) {
      signal?.throwIfAborted(); // leaving the loop destroys the stream
      hash.update(chunk as Buffer);
    }
  } catch (err) {
    if (signal?.aborted && err === signal.reason) throw err;
    throw new AudioFormatError(`cannot read ${name}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return hash.digest("hex");
}
