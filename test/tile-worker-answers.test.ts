/**
 * How a tile worker's answers reach the main thread. A stats pass's PCEN checkpoints are as large
 * as its overview (181 MB for 20 min at 384 kHz and a hop of 96 samples): cloned, they were copied
 * on the main thread as the answer arrived, which held every request, /health too (0.7–1.1 s for
 * 181 MB on a loaded 2-core machine, SPEC §10), so they are moved. The worker's `compute` runs on
 * this thread; Piscina moves what its answer names as transferable.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { transferableSymbol, valueSymbol } from "piscina";
import { expect, it } from "vitest";
import { parseParams } from "../src/engine/params.js";
import { compute, type StatsResult } from "../src/tiles/worker.js";
import { tempDir, writeSineWav } from "./store-helpers.js";

it("a stats pass moves its PCEN checkpoints to the main thread rather than having them cloned there", async () => {
  const dir = await tempDir();
  try {
    const path = join(dir.path, "sine.wav");
    await writeSineWav(path, 16000, 4);
    const { size, mtimeMs } = await stat(path);
    const answer = (await compute({ kind: "stats", path, content: "test", checked: { size, mtime: mtimeMs }, timeExpansion: 1, params: parseParams({ pcen: true, hop_size: 0.001 }) })) as Record<symbol, unknown>;
    const result = answer[valueSymbol] as StatsResult;
    expect(result.stats.checkpoints.length).toBeGreaterThan(0);
    expect(answer[transferableSymbol]).toBe(result.stats.checkpoints.buffer);
  } finally {
    await dir.remove();
  }
});
