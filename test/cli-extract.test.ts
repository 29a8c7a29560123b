// `sonotile extract` end to end (SPEC §7–8): spawns the built CLI (`npm test` builds first), whose
// worker pool runs the compiled worker; the tables must hold exactly what the library computes.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetReadObjects } from "hyparquet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { command } from "../src/cli/commands/extract.js";
import { UsageError } from "../src/cli/errors.js";
import { encodeWav16 } from "../src/demo/wav.js";
import { ParamsError } from "../src/engine/params.js";
import { featureColumns, featureRow, featuresOfFile, FEATURE_NAMES, type FeatureValues } from "../src/features/features.js";
import { runSonotile } from "./cli-helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "sonotile-extract-"));
const data = join(tmp, "data");
const A = join(data, "a_tone.wav");
const B = join(data, "sub", "b_sweep.wav");
const JUNK = join(data, "junk.wav");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sonotile = (args: string[]) => runSonotile(["extract", ...args], { cwd: tmp });

/** CSV lines split on commas (the generated paths hold no comma or quote). */
function readCsv(path: string): { header: string[]; rows: string[][] } {
  const [header, ...rows] = readFileSync(path, "utf8").trimEnd().split("\n").map((l) => l.split(","));
  return { header, rows };
}

const library = new Map<string, FeatureValues>();

beforeAll(async () => {
  mkdirSync(join(data, "sub"), { recursive: true });
  const fs = 22050;
  const tone = Float32Array.from({ length: fs }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 2000 * i) / fs));
  const sweep = Float32Array.from({ length: 2 * fs }, (_, i) => 0.5 * Math.sin(2 * Math.PI * (300 + (2000 * i) / (2 * fs)) * (i / fs)));
  writeFileSync(A, encodeWav16(tone, fs));
  writeFileSync(B, encodeWav16(sweep, fs));
  writeFileSync(JUNK, Uint8Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251));
  writeFileSync(join(data, "notes.txt"), "not audio, not an audio extension: the directory walk ignores it");
  writeFileSync(join(data, "._a_tone.wav"), "a macOS resource fork: hidden, so not taken for a recording");
  for (const path of [A, B]) library.set(path, await featuresOfFile(path));
});

describe("sonotile extract", () => {
  it("CSV: one row per readable recording, the garbage file reported and skipped (exit 1), values equal the library's", async () => {
    const out = join(tmp, "f.csv");
    const r = await sonotile([data, "-o", out, "-j", "2"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(2); // not a terminal: no bar, one line per skipped file and a summary
    expect(lines[0]).toMatch(new RegExp(`^sonotile extract: skipped ${JUNK}: .+`));
    expect(lines[1]).toMatch(/^sonotile extract: 2 targets .* 1 skipped; wrote .*f\.csv$/);
    const { header, rows } = readCsv(out);
    expect(header).toEqual(["path", ...featureColumns()]);
    expect(header).toHaveLength(1 + 13 + 64);
    expect(rows.map((row) => row[0])).toEqual([A, B]); // directory order, recursively
    for (const row of rows) {
      const want = featureRow(library.get(row[0])!);
      expect(row.slice(1).map(Number)).toEqual(want);
    }
  });

  it(".npy: float32 [targets, columns] with a JSON sidecar of columns and paths", async () => {
    const out = join(tmp, "f.npy");
    const r = await sonotile([A, B, "-o", out, "--features", "log_mel,spectral_centroid_hz"]);
    expect(r.code, r.stderr).toBe(0);
    const sidecar = JSON.parse(readFileSync(join(tmp, "f.json"), "utf8"));
    const columns = featureColumns(["spectral_centroid_hz", "log_mel"]);
    expect(sidecar.columns).toEqual(columns);
    expect(sidecar.rows).toEqual([{ path: A }, { path: B }]);
    expect(sidecar.shape).toEqual([2, 65]);
    const bytes = readFileSync(out);
    const headerLength = bytes.readUInt16LE(8);
    expect(bytes.subarray(10, 10 + headerLength).toString()).toMatch(/'descr': '<f4', 'fortran_order': False, 'shape': \(2, 65\)/);
    const body = bytes.subarray(10 + headerLength);
    const matrix = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    expect(Array.from(matrix)).toEqual([A, B].flatMap((p) => featureRow(library.get(p)!, ["spectral_centroid_hz", "log_mel"]).map(Math.fround)));
  });

  it(".parquet: read back with hyparquet, the same values", async () => {
    const out = join(tmp, "f.parquet");
    const r = await sonotile([data, "-o", out]);
    expect(r.code).toBe(1);
    const bytes = readFileSync(out);
    const records = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
    expect(records.map((rec) => rec.path)).toEqual([A, B]);
    for (const rec of records) {
      const want = featureRow(library.get(rec.path as string)!);
      expect(featureColumns().map((c) => rec[c])).toEqual(want);
    }
  });

  it("a clip and band of every recording: start_time/end_time columns; a clip outside a recording skips it", async () => {
    const out = join(tmp, "clip.csv");
    const r = await sonotile([A, B, "-o", out, "--clip-start", "1.2", "--clip-end", "1.8", "--clip-low-freq", "500", "--features", "peak_frequency_hz,duration_s"]);
    // A lasts 1 s: its clip starts past the end.
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`skipped ${A}: start 1.2 s is past the end`));
    const { header, rows } = readCsv(out);
    expect(header).toEqual(["path", "start_time", "end_time", "duration_s", "peak_frequency_hz"]);
    const want = await featuresOfFile(B, {}, { start: 1.2, end: 1.8, lowFreq: 500 });
    expect(rows).toEqual([[B, "1.2", String(1.2 + want.duration_s), String(want.duration_s), String(want.peak_frequency_hz)]]);
  });

  it("spectrogram parameters apply (window, hop, band filter); every target computed: exit 0 and a summary", async () => {
    const out = join(tmp, "params.csv");
    const r = await sonotile([A, "-o", out, "--window-size", "0.01", "--hop-size", "0.25", "--window", "blackman", "--high-freq", "5000"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^sonotile extract: 1 target \(.+ h of audio\) in .+ s; \d+× real time; wrote .*params\.csv\n$/);
    const want = await featuresOfFile(A, { window_size: 0.01, hop_size: 0.25, window: "blackman", high_freq: 5000 });
    expect(readCsv(out).rows[0].slice(1).map(Number)).toEqual(featureRow(want));
  });

  it("bad usage and parameters are refused before any work, naming the problem (exit 2 via main)", async () => {
    const cases: [string[], RegExp][] = [
      [[A], /-o\/--output FILE is required/],
      [[A, "-o", "x.xlsx"], /unknown output format '\.xlsx'/],
      [["-o", "x.csv"], /at least one audio file/],
      [[A, "-o", "x.csv", "--features", "rms_dbfs,loudness"], /--features: unknown feature 'loudness'/],
      [[A, "-o", "x.csv", "--window-size", "-1"], /window_size \(--window-size\): must be > 0/],
      [[A, "-o", "x.csv", "--clip-start", "2", "--clip-end", "1"], /--clip-end: must be a number > 2/],
      [[A, "-o", "x.csv", "--threads", "0"], /--threads/],
      [[A, "-o", "x.csv", "--bogus"], /unknown flag '--bogus'/],
      // A factor that gives the file no usable rate: each file used to be skipped with it (exit 1).
      [[A, "-o", "x.csv", "--time-expansion", "1e-300"], /^time_expansion \(--time-expansion\): must give a real samplerate/],
    ];
    await expect(command.run([A, "-o", join(tmp, "no/such/dir/f.csv")])).rejects.toThrow(/cannot write .*f\.csv: no such directory/);
    for (const [args, message] of cases) {
      const err = await command.run(args).then(() => null, (e: Error) => e);
      expect(err, args.join(" ")).toBeInstanceOf(Error);
      expect(err instanceof UsageError || err instanceof ParamsError, args.join(" ")).toBe(true);
      expect(err!.message, args.join(" ")).toMatch(message);
    }
  });

  it("exit codes and one-line messages from the CLI: 2 for usage, 1 when nothing is readable", async () => {
    const usage = await sonotile([A, "-o", "x.csv", "--features", "loudness"]);
    expect(usage.code, usage.stderr).toBe(2);
    expect(usage.stderr).toMatch(/^sonotile extract: --features: unknown feature 'loudness'.*\n$/);
    const missing = await sonotile([join(tmp, "missing.wav"), JUNK, "-o", "x.csv"]);
    expect(missing.code, missing.stderr).toBe(1);
    const lines = missing.stderr.trimEnd().split("\n");
    expect(lines, missing.stderr).toHaveLength(3);
    expect(lines[0]).toMatch(/^sonotile extract: skipped .*missing\.wav: /);
    expect(lines[1]).toMatch(new RegExp(`^sonotile extract: skipped ${JUNK}: not a recognised audio format`));
    expect(lines[2]).toBe("sonotile extract: no target could be computed; nothing written");
  });

  it("--help lists every feature", async () => {
    const write = process.stdout.write;
    let text = "";
    process.stdout.write = ((chunk: string) => ((text += chunk), true)) as typeof process.stdout.write;
    try {
      expect(await command.run(["--help"])).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    for (const f of FEATURE_NAMES) expect(text).toContain(f);
  });
});
