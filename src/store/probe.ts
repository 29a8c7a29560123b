/** What registering a recording reads from its file: the header facts and the content hash. */
import { stat } from "node:fs/promises";
import { fileMd5, openAudio } from "../audio/index.js";

export interface FileFacts {
  /** MD5 of the file's bytes, lower-case hex (SPEC §5 `hash`). */
  hash: string;
  file_size: number;
  /** Sample rate as stored (before time expansion). */
  file_samplerate: number;
  frames: number;
  channels: number;
}

/** Reads the header (through the audio layer, which validates it) and hashes the file. */
export async function probeFile(path: string): Promise<FileFacts> {
  const reader = await openAudio(path);
  const { samplerate, frames, channels } = reader.info;
  await reader.close();
  const [hash, info] = await Promise.all([fileMd5(path), stat(path)]);
  return { hash, file_size: info.size, file_samplerate: samplerate, frames, channels };
}
