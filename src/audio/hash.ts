/** Content hash of a recording for the store (SPEC §5 recordings.hash): MD5 of the file bytes, streamed. */
import { createHash } from "node:crypto";
import { openRegularFile } from "./source.js";
import { AudioFormatError } from "./types.js";

/** Hex MD5 of the whole file at `path`, read in 1 MiB pieces (constant memory); `exactPath` as openRegularFile's. */
export async function fileMd5(path: string, options: { exactPath?: boolean } = {}): Promise<string> {
  const hash = createHash("md5");
  const { handle } = await openRegularFile(path, options);
  try {
    for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch (err) {
    throw new AudioFormatError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return hash.digest("hex");
}
