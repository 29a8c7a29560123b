/**
 * A tile worker reads each file through one reader, whatever the parameter sets it serves of it:
 * opening a reader can cost a pass over the file (an MP3 without a Xing frame count has all its
 * frame headers scanned, 576 MB for 10 h at 128 kbit/s), which a reader per parameter set paid
 * again at each new window, band or PCEN setting. The audio layer's openAudio is wrapped to count
 * opens and closes; nothing else is changed. The worker's `compute` runs on this thread.
 */
import { stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, expect, it, vi } from "vitest";
import { parseParams, type ParamsInput } from "../src/engine/params.js";
import { compute } from "../src/tiles/worker.js";
import { FIXTURES } from "./golden.js";
import { tempDir, writeSineWav } from "./store-helpers.js";

const opened: string[] = [];
const closed: string[] = [];

vi.mock("../src/audio/index.js", async (importOriginal) => {
  const audio = await importOriginal<typeof import("../src/audio/index.js")>();
  return {
    ...audio,
    openAudio: async (...args: Parameters<typeof audio.openAudio>) => {
      const reader = await audio.openAudio(...args);
      const path = String(args[0]);
      opened.push(path);
      const close = reader.close.bind(reader);
      return Object.assign(reader, { close: () => (closed.push(path), close()) });
    },
  };
});

const MP3 = join(FIXTURES, "formats/mp3_mpeg_layer_iii.mp3");
const FLAC = join(FIXTURES, "formats/flac_pcm_16.flac");

/** The geometry task (no pass, no tile) of `path` under `params`. */
function frames(path: string, params: ParamsInput) {
  return compute({ kind: "frames", path, content: "test", timeExpansion: 1, params: parseParams(params) });
}

beforeEach(() => {
  opened.length = 0;
  closed.length = 0;
});

it("serves every parameter set of a file through one reader (a reader each scanned an MP3 again at every new window)", async () => {
  for (const window_size of [0.01, 0.02, 0.03]) await frames(MP3, { window_size });
  await frames(MP3, { window_size: 0.02, pcen: false });
  expect(opened).toEqual([MP3]);
  expect(closed).toEqual([]);
});

it("closes a file once no open recording reads it, and opens it again when asked", async () => {
  // Four parameter sets of another file evict the MP3's recordings (four are kept open).
  for (const window_size of [0.011, 0.012, 0.013, 0.014]) await frames(FLAC, { window_size });
  expect(opened).toEqual([FLAC]);
  await vi.waitFor(() => expect(closed).toEqual([MP3]));
  await frames(MP3, { window_size: 0.01 });
  expect(opened).toEqual([FLAC, MP3]);
  // The last FLAC recording is still open: its reader is not closed with the three evicted ones.
  await frames(FLAC, { window_size: 0.014 });
  expect(opened).toEqual([FLAC, MP3]);
  expect(closed).toEqual([MP3]);
});

it("a pass whose read fails on a file cut short after its check is refused as the file changed (the 409), not as audio that cannot be decoded (a 422)", async () => {
  const dir = await tempDir();
  try {
    const path = join(dir.path, "cut.wav");
    await writeSineWav(path, 16000, 2);
    const { size, mtimeMs } = await stat(path);
    await truncate(path, Math.floor(size / 2)); // after the check, before the read: its header now lies
    const pass = compute({ kind: "stats", path, content: "test", checked: { size, mtime: mtimeMs }, timeExpansion: 1, params: parseParams({}) });
    await expect(pass).rejects.toMatchObject({ name: "FileChangedError", message: expect.stringContaining(`${size} bytes modified`) });
  } finally {
    await dir.remove();
  }
});
