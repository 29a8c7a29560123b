/**
 * Demo data for `sonotile serve --demo` (and `npm start`): two synthetic recordings written on
 * first start, so a new user sees spectrograms without any audio of their own —
 * - bats-384k.wav: 5 s at 384 kHz, echolocation-like FM sweeps (90 → 35 kHz in 3 ms,
 *   exponential, with a weaker second harmonic) every 80 ms;
 * - birds-48k.wav: 10 s at 48 kHz, bird-like phrases of rising/falling chirps (2.5–7 kHz)
 *   with a slow frequency vibrato.
 * Both over faint noise, deterministic (a fixed-seed PRNG), registered in a dataset "demo".
 */
import { createHash } from "node:crypto";
import { access, mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Sql } from "../store/db.js";
import { addDataset, findDatasetByDir, findDatasetByName, importDataset, importNew, type ImportOutcome, type ImportResult } from "../store/datasets.js";
import { ConflictError } from "../store/errors.js";
import { encodeWav16 } from "./wav.js";

const DEMO_DATASET = "demo";

/** mulberry32: a small deterministic PRNG (uniform in [0, 1)), so the demo files are identical everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Faint uniform noise of peak amplitude `level`. */
function noise(n: number, level: number, seed: number): Float32Array {
  const rand = prng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = level * (2 * rand() - 1);
  return x;
}

/**
 * Adds a Hann-windowed sweep to `x` from sample `start`: instantaneous frequency
 * `freq(u)` for u ∈ [0, 1) across `length` samples, phase integrated sample by sample.
 */
function addSweep(x: Float32Array, fs: number, start: number, length: number, amplitude: number, freq: (u: number) => number): void {
  let phase = 0;
  for (let i = 0; i < length && start + i < x.length; i++) {
    const u = i / length;
    phase += (2 * Math.PI * freq(u)) / fs;
    x[start + i] += amplitude * 0.5 * (1 - Math.cos(2 * Math.PI * u)) * Math.sin(phase);
  }
}

/** Bat-like FM calls at 384 kHz. */
function batSignal(): { samples: Float32Array; samplerate: number } {
  const fs = 384_000;
  const x = noise(5 * fs, 0.002, 1);
  const call = Math.round(0.003 * fs);
  for (let t = 0.05; t < 4.95; t += 0.08) {
    const start = Math.round(t * fs);
    // Exponential FM sweep 90 → 35 kHz, and its second harmonic (below Nyquist: 180 → 70 kHz).
    addSweep(x, fs, start, call, 0.5, (u) => 90_000 * (35 / 90) ** u);
    addSweep(x, fs, start, call, 0.12, (u) => 180_000 * (35 / 90) ** u);
  }
  return { samples: x, samplerate: fs };
}

/** Bird-like chirp phrases at 48 kHz. */
function birdSignal(): { samples: Float32Array; samplerate: number } {
  const fs = 48_000;
  const x = noise(10 * fs, 0.002, 2);
  const rand = prng(3);
  for (let phrase = 0.3; phrase < 9.3; phrase += 1.8) {
    const syllables = 4 + Math.floor(rand() * 4);
    for (let s = 0; s < syllables; s++) {
      const start = Math.round((phrase + s * 0.12) * fs);
      const length = Math.round((0.06 + 0.04 * rand()) * fs);
      const [lo, hi] = [2500 + 1500 * rand(), 5000 + 2000 * rand()];
      const rising = s % 2 === 0;
      addSweep(x, fs, start, length, 0.4, (u) => (rising ? lo + (hi - lo) * u : hi - (hi - lo) * u) + 150 * Math.sin(2 * Math.PI * 30 * u));
    }
  }
  return { samples: x, samplerate: fs };
}

/** The demo files: name → generator. */
const DEMO_FILES: Record<string, () => { samples: Float32Array; samplerate: number }> = {
  "bats-384k.wav": batSignal,
  "birds-48k.wav": birdSignal,
};

/** Writes the demo recordings into `dir` unless already there (written aside, then renamed). */
export async function ensureDemoAudio(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, make] of Object.entries(DEMO_FILES)) {
    const path = join(dir, name);
    if (await access(path).then(() => true, () => false)) continue;
    const { samples, samplerate } = make();
    await writeFile(`${path}.tmp`, encodeWav16(samples, samplerate));
    await rename(`${path}.tmp`, path);
  }
}

/**
 * Makes sure the dataset "demo" exists for `dir` (a real path inside an audio root) and holds
 * every demo file; returns the import result when something was registered.
 */
export async function ensureDemoDataset(sql: Sql, dir: string, adminId: string | null): Promise<ImportResult | null> {
  const result = await importDemo(sql, dir, adminId);
  return result.run && result.registered.length ? { ...result, run: result.run } : null;
}

/**
 * Imports the demo directory: into the existing dataset (importNew), or as a new one (one import run
 * makes both); without a run when there is nothing to do. The new one is "demo", or — when a server with
 * another data directory shares the database and made "demo" of its own demo directory — "demo
 * (<dir>)": a second `serve --demo` on one DATABASE_URL stopped at "name already exists".
 */
async function importDemo(sql: Sql, dir: string, adminId: string | null): Promise<ImportOutcome> {
  const existing = await findDatasetByDir(sql, dir);
  if (existing) return importNew(sql, existing.id, adminId);
  const add = (name: string) => addDataset(sql, { name, description: "Synthetic bat calls (384 kHz) and bird chirps (48 kHz)", audio_dir: dir, created_by: adminId });
  const ownName = dir.length <= 240 ? `${DEMO_DATASET} (${dir})` : `${DEMO_DATASET} (${createHash("sha256").update(dir).digest("hex").slice(0, 16)})`;
  try {
    return await add((await findDatasetByName(sql, DEMO_DATASET)) ? ownName : DEMO_DATASET);
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    // Another server sharing the database created it first: of this directory (the same data
    // directory), or "demo" of its own, at the same moment.
    const created = await findDatasetByDir(sql, dir);
    return created ? importDataset(sql, created.id, adminId) : add(ownName);
  }
}
