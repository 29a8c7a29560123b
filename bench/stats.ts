/**
 * The stats pass by format (`--only stats`): the pass over a whole recording that normalization,
 * PCEN and the overview's tiles wait for (TilePool#stats on one thread, as the server runs it;
 * Whombat's defaults: PCEN, 25 ms hann, hop 12.5 ms) over the same 16-bit samples stored as a PCM
 * WAV, a FLAC (Debian's `flac`, skipped with a note when missing) and an IMA ADPCM WAV (encoded
 * here). The PCM file's pass is the engine alone plus reading; what the others take beyond it is
 * their decoding. Method and figures: bench/README.md.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IMA_INDEX_ADJUST, IMA_STEP } from "../src/audio/adpcm.js";
import { parseParams } from "../src/engine/params.js";
import { TilePool } from "../src/tiles/pool.js";
import { loadAverage, median, rotate } from "./lib/measure.js";
import { synthesize } from "./lib/signal.js";

const RATE = 44100;

/** Frames of one IMA ADPCM block of the files written here: 2048 bytes, mono (libsndfile's choice). */
const IMA_BLOCK_BYTES = 2048;
const IMA_BLOCK_FRAMES = 2 * (IMA_BLOCK_BYTES - 4) + 1;

export interface StatsPassResult {
  seconds_of_audio: number;
  /** Median wall seconds of a pass, by format (null: not measured, `skipped` says why). */
  median_s: Record<string, number | null>;
  rounds_s: Record<string, number[]>;
  skipped: Record<string, string>;
  load: number[][];
}

/** A RIFF WAVE file: `fmt ` chunk body `fmt` (its format tag first), a `fact` chunk of `frames` when given, then `data`. */
function wav(fmt: Uint8Array, data: Uint8Array, frames?: number): Uint8Array {
  const fact = frames === undefined ? 0 : 12;
  const out = new Uint8Array(12 + 8 + fmt.length + fact + 8 + data.length);
  const v = new DataView(out.buffer);
  const tag = (at: number, s: string) => [...s].forEach((c, i) => (out[at + i] = c.charCodeAt(0)));
  tag(0, "RIFF");
  v.setUint32(4, out.length - 8, true);
  tag(8, "WAVE");
  tag(12, "fmt ");
  v.setUint32(16, fmt.length, true);
  out.set(fmt, 20);
  let at = 20 + fmt.length;
  if (frames !== undefined) {
    tag(at, "fact");
    v.setUint32(at + 4, 4, true);
    v.setUint32(at + 8, frames, true);
    at += 12;
  }
  tag(at, "data");
  v.setUint32(at + 4, data.length, true);
  out.set(data, at + 8);
  return out;
}

/** A `fmt ` chunk body: tag, mono, `RATE`, bytes a second, block align, bits, then `extra` (cbSize and what follows). */
function fmtChunk(tag: number, byteRate: number, blockAlign: number, bits: number, extra: number[] = []): Uint8Array {
  const b = new Uint8Array(16 + 2 * extra.length);
  const v = new DataView(b.buffer);
  [tag, 1].forEach((x, i) => v.setUint16(2 * i, x, true));
  v.setUint32(4, RATE, true);
  v.setUint32(8, byteRate, true);
  v.setUint16(12, blockAlign, true);
  v.setUint16(14, bits, true);
  extra.forEach((x, i) => v.setUint16(16 + 2 * i, x, true));
  return b;
}

/** 16-bit PCM, mono. */
function pcmWav(ints: Int16Array): Uint8Array {
  return wav(fmtChunk(1, 2 * RATE, 2, 16), new Uint8Array(ints.buffer, ints.byteOffset, ints.byteLength));
}

/**
 * IMA ADPCM, mono, in blocks of IMA_BLOCK_BYTES (the standard encoder: each sample's difference
 * from the prediction quantized to a nibble, the prediction then decoded from it). `ints` holds a
 * whole number of blocks.
 */
function imaWav(ints: Int16Array): Uint8Array {
  const blocks = ints.length / IMA_BLOCK_FRAMES;
  const data = new Uint8Array(blocks * IMA_BLOCK_BYTES);
  let index = 0;
  for (let b = 0; b < blocks; b++) {
    const base = b * IMA_BLOCK_BYTES;
    let predictor = ints[b * IMA_BLOCK_FRAMES];
    data.set([predictor & 0xff, (predictor >> 8) & 0xff, index, 0], base);
    for (let n = 1; n < IMA_BLOCK_FRAMES; n++) {
      const step = IMA_STEP[index];
      let diff = ints[b * IMA_BLOCK_FRAMES + n] - predictor;
      let nibble = diff < 0 ? 8 : 0;
      diff = Math.abs(diff);
      let delta = step >> 3;
      for (const [bit, size] of [[4, step], [2, step >> 1], [1, step >> 2]]) {
        if (diff >= size) {
          nibble |= bit;
          diff -= size;
          delta += size;
        }
      }
      predictor = Math.max(-32768, Math.min(32767, nibble & 8 ? predictor - delta : predictor + delta));
      index = Math.max(0, Math.min(88, index + IMA_INDEX_ADJUST[nibble]));
      data[base + 4 + ((n - 1) >> 1)] |= (n - 1) & 1 ? nibble << 4 : nibble;
    }
  }
  return wav(fmtChunk(0x11, Math.round((RATE * IMA_BLOCK_BYTES) / IMA_BLOCK_FRAMES), IMA_BLOCK_BYTES, 4, [2, IMA_BLOCK_FRAMES]), data, ints.length);
}

/**
 * `minutes` of the bench's synthetic signal at 44.1 kHz (a whole number of IMA blocks) in each
 * format; rounds of one pass per format, the order rotated, after an untimed pass of each (the
 * pool's thread has loaded its decoders).
 */
export async function runStatsPasses(quick: boolean, log: (line: string) => void): Promise<{ lines: string[]; result: StatsPassResult }> {
  const load = [loadAverage()];
  const minutes = quick ? 2 : 10;
  const rounds = quick ? 1 : 3;
  const frames = Math.floor((minutes * 60 * RATE) / IMA_BLOCK_FRAMES) * IMA_BLOCK_FRAMES;
  const ints = Int16Array.from(synthesize(frames / RATE, RATE).subarray(0, frames), (v) => Math.round(v * 32767));
  const dir = mkdtempSync(join(tmpdir(), "sonotile-bench-stats-"));
  const pool = new TilePool({ threads: 1 });
  try {
    const files: Record<string, string> = { "PCM WAV": join(dir, "pcm.wav"), FLAC: join(dir, "audio.flac"), "IMA ADPCM WAV": join(dir, "ima.wav") };
    writeFileSync(files["PCM WAV"], pcmWav(ints));
    writeFileSync(files["IMA ADPCM WAV"], imaWav(ints));
    const skipped: Record<string, string> = {};
    try {
      execFileSync("flac", ["--silent", "--force", "-o", files.FLAC, files["PCM WAV"]]);
    } catch (err) {
      skipped.FLAC = `not measured: flac could not encode (apt-get install -y flac): ${(err as Error).message.split("\n")[0]}`;
      delete files.FLAC;
    }
    const params = parseParams({});
    const pass = async (path: string) => {
      const t0 = performance.now();
      const { stats } = await pool.stats({ kind: "stats", path, timeExpansion: 1, params });
      return { seconds: (performance.now() - t0) / 1000, stats };
    };
    const names = Object.keys(files);
    // Untimed, and checked: every file gives the PCM's frames, the FLAC its very maximum (lossless).
    const first = Object.fromEntries(await Promise.all(names.map(async (n) => [n, (await pass(files[n])).stats] as const)));
    for (const name of names) {
      const { frames: got, peak } = first[name];
      if (got !== first["PCM WAV"].frames || (name === "FLAC" && peak !== first["PCM WAV"].peak)) throw new Error(`stats pass: the ${name} gave ${got} frames, maximum ${peak}; the PCM WAV ${first["PCM WAV"].frames}, ${first["PCM WAV"].peak}`);
    }
    const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < rounds; r++) {
      for (const name of rotate(names, r)) times[name].push((await pass(files[name])).seconds);
      log(`  stats pass round ${r + 1}/${rounds}: ${names.map((n) => `${n} ${times[n][r].toFixed(2)} s`).join(", ")} (load ${loadAverage()[0]})`);
    }
    const median_s = Object.fromEntries(["PCM WAV", "FLAC", "IMA ADPCM WAV"].map((n) => [n, times[n] ? median(times[n]) : null]));
    const result: StatsPassResult = { seconds_of_audio: frames / RATE, median_s, rounds_s: times, skipped, load: [...load, loadAverage()] };
    const pcm = median_s["PCM WAV"]!;
    const lines = [
      `Stats pass by format: ${(frames / RATE / 60).toFixed(1)} min of 44.1 kHz mono 16-bit audio (the bench signal), Whombat's defaults (PCEN, 25 ms hann, hop 12.5 ms), TilePool#stats on 1 thread; median of ${rounds} round(s)`,
      ...Object.entries(median_s).map(([name, s]) =>
        `  ${name.padEnd(14)} ${s === null ? skipped[name] : `${s.toFixed(2)} s  ${((frames / RATE) / s).toFixed(0)}× real time  ${(s / pcm).toFixed(2)}× the PCM WAV's`}`),
      `  load average at start ${load[0].join(" ")}, at end ${result.load[1].join(" ")}`,
    ];
    return { lines, result };
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
