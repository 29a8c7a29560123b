/**
 * The kernels that allocate scratch of their own inside the DSP core (pcenColumns: the smoother's
 * rows; sampleSums: its crossing table), in a core that cannot grow: the failure is a
 * CoreMemoryError with memoryFull, as every other allocation's — which the API answers with a 503
 * and Retry-After — not the allocator's bare trap, which read as a bug (a 500).
 */
import { describe, expect, it } from "vitest";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { core, CoreMemoryError, WASM32_MEMORY_MAX } from "../src/engine/wasm.js";
import { parseParams } from "../src/engine/params.js";
import type { ExtractOutcome } from "../src/jobs/extract.js";
import { TilePool } from "../src/tiles/pool.js";
import { extractFeatures } from "./extract-helpers.js";
import { FAULT_WORKER_URL } from "./fault-tasks.js";
import { FIXTURES, tempDir } from "./store-helpers.js";

/**
 * Fills the core's memory (wasm32: 4 GiB at most) with blocks nobody touches, so no RAM is used,
 * until not even 4 KiB is left free; runs `use`, then frees the blocks again.
 */
function withCoreFull(use: () => void): void {
  const held: number[] = [];
  try {
    for (let block = 1 << 29; block >= 1 << 12; block >>= 2) {
      for (;;) {
        try {
          held.push(core.alloc(block));
        } catch (err) {
          expect(err).toEqual(expect.objectContaining({ name: "CoreMemoryError", memoryFull: true }));
          break;
        }
      }
    }
    expect(core.memory.buffer.byteLength).toBe(WASM32_MEMORY_MAX);
    use();
  } finally {
    for (const ptr of held) core.free(ptr);
  }
}

/** A block of `n` float32 values in the core, filled with `value`. */
function coreValues(n: number, value: number): { ptr: number; view: () => Float32Array } {
  const ptr = core.alloc(n * 4);
  const view = () => new Float32Array(core.memory.buffer, ptr, n);
  view().fill(value);
  return { ptr, view };
}

describe("a kernel's own scratch in a DSP core that cannot grow", () => {
  it("pcenColumns: a CoreMemoryError with memoryFull naming the scratch, nothing written; after room is made it runs", () => {
    // One bin over 2^16 frames: the smoother's rows take 2 MiB, far more than the full core has left.
    const frames = 1 << 16;
    const block = coreValues(frames, 4);
    const state = coreValues(1, 4);
    const pcen = () => core.pcenColumns(block.ptr, frames, 1, frames, state.ptr, 0.025, 0.98, 2, 0.5, 1e-6);
    withCoreFull(() => {
      expect(pcen).toThrow(CoreMemoryError);
      expect(pcen).toThrow(expect.objectContaining({ memoryFull: true, message: expect.stringMatching(/^out of WebAssembly memory: the scratch of PCEN over 65536 frames \(2097152 bytes\) did not fit /) }));
      expect(block.view().every((v) => v === 4)).toBe(true);
      expect(state.view()[0]).toBe(4);
    });
    // A constant S = M: P = √2·(√(1 + 4·(1e-6 + 4)^−0.98 / 2) − 1) in every frame.
    const expected = Math.SQRT2 * (Math.sqrt(1 + (4 * (1e-6 + 4) ** -0.98) / 2) - 1);
    expect(pcen()).toBeCloseTo(expected, 6);
    expect(block.view()[frames - 1]).toBeCloseTo(expected, 6);
    core.free(block.ptr);
    core.free(state.ptr);
  });

  it("sampleSums: a CoreMemoryError with memoryFull naming the crossing table, the sums untouched; after room is made it counts", () => {
    // A hop of 2^20 samples: its crossing table takes 4 MiB.
    const hop = 1 << 20;
    const samples = coreValues(8, 1);
    samples.view().set([1, -1, 1, -1, 1, -1, 1, -1]);
    const acc = core.alloc(24);
    const sums = () => new Float64Array(core.memory.buffer, acc, 3);
    sums().fill(0);
    const run = () => core.sampleSums(samples.ptr, 8, 0, 0, hop, 2 * hop, hop, 3, acc);
    withCoreFull(() => {
      expect(run).toThrow(CoreMemoryError);
      expect(run).toThrow(expect.objectContaining({ memoryFull: true, message: expect.stringMatching(/^out of WebAssembly memory: the zero-crossing table of a 1048576-sample hop \(4194304 bytes\) did not fit /) }));
      expect([...sums()]).toEqual([0, 0, 0]);
    });
    run();
    // Σ x² of eight ±1, max |x| 1, and seven crossings, each (at padded position 2^20 + i) in frames 0 and 1.
    expect([...sums()]).toEqual([8, 1, 14]);
    core.free(samples.ptr);
    core.free(acc);
  });

  it("sampleSums: the table a failed one let go of is not used again — the next call with that hop counts right", () => {
    // Eight samples ±1 well inside a long target (frame length 8, hop 4, 100 frames): every
    // crossing's weight comes from the table of hop 4 — 2 frames, 1 at a position that is a multiple of 4.
    const samples = coreValues(8, 1);
    samples.view().set([1, -1, 1, -1, 1, -1, 1, -1]);
    const acc = core.alloc(24);
    const sums = () => new Float64Array(core.memory.buffer, acc, 3);
    const crossings = () => {
      sums().fill(0);
      core.sampleSums(samples.ptr, 8, 20, 1, 4, 8, 4, 100, acc);
      return sums()[2];
    };
    expect(crossings()).toBe(13); // padded positions 25 … 31: 2 + 2 + 2 + 1 + 2 + 2 + 2
    withCoreFull(() => {
      // Another hop: the table of hop 4 is let go of, and the new one does not fit.
      expect(() => core.sampleSums(samples.ptr, 8, 20, 1, 1 << 20, 1 << 21, 1 << 20, 3, acc)).toThrow(expect.objectContaining({ memoryFull: true }));
      // Whatever takes that memory next writes over it.
      const taker = coreValues(4, -1e9);
      expect(crossings()).toBe(13);
      core.free(taker.ptr);
    });
    core.free(samples.ptr);
    core.free(acc);
  });
});

describe("a features target whose thread's DSP core is full (fault-worker.mjs: the core filled before it computes)", () => {
  const fixture = join(FIXTURES, "formats/wav_pcm_16.wav");
  const params = parseParams({ window_size: 0.01 });
  /** extract's outcome of one copy of the fixture whose core is filled `fills` times, on a pool of 2 threads. */
  async function extractFilled(fills: number): Promise<{ outcome: ExtractOutcome | undefined; marker: string }> {
    const dir = await tempDir();
    const pool = new TilePool({ threads: 2, workerFile: FAULT_WORKER_URL });
    try {
      const path = join(dir.path, "a.wav");
      copyFileSync(fixture, path);
      writeFileSync(`${path}.fill-core`, String(fills));
      const [outcome] = await extractFeatures([{ path, target: {} }], { params, pool });
      return { outcome, marker: readFileSync(`${path}.fill-core`, "utf8") };
    } finally {
      await pool.close();
      await dir.remove();
    }
  }

  it("extract: is computed again on another thread, and gives its values — it was an error entry in the core's words, as if its file were at fault", async () => {
    const { outcome, marker } = await extractFilled(1);
    expect(marker).toBe("0"); // the first run found the core full
    const expected = (await extractFeatures([{ path: fixture, target: {} }], { params, threads: 1 }))[0];
    expect(outcome).toMatchObject({ values: (expected as { values: unknown }).values });
  });

  it("extract: full on both threads, an error saying so — not a third run", async () => {
    const { outcome, marker } = await extractFilled(3);
    expect(marker).toBe("1");
    expect((outcome as { error: string }).error).toMatch(/^the DSP core had no room for its features, twice, on two threads — its memory could not grow \(at WebAssembly's 4 GiB, or the host refused it more\): out of WebAssembly memory: /);
  });
});
