// `sonotile extract` end to end (SPEC §7–8): spawns the built CLI (`npm test` builds first), whose
// worker pool runs the compiled worker; the tables must hold exactly what the library computes.
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { command } from "../src/cli/commands/extract.js";
import { fileStamp } from "../src/cli/extract-resume.js";
import { extractFeatures, readResumeFile, writeResumeFile } from "./extract-helpers.js";
import { UsageError } from "../src/cli/errors.js";
import { encodeWav16 } from "../src/demo/wav.js";
import { ParamsError, parseParams } from "../src/engine/params.js";
import { VERSION } from "../src/engine/version.js";
import { type ExtractItem } from "../src/jobs/extract.js";
import { featureColumns, featureRow, featuresOfFile, FEATURE_NAMES, type FeatureValues } from "../src/features/features.js";
import { cliRun, runSonotile, type CliRun } from "./cli-helpers.js";
import { FIXTURES, ROOT } from "./golden.js";

const tmp = mkdtempSync(join(tmpdir(), "sonotile-extract-"));
const data = join(tmp, "data");
const A = join(data, "a_tone.wav");
const B = join(data, "sub", "b_sweep.wav");
const JUNK = join(data, "junk.wav");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sonotile = (args: string[]) => runSonotile(["extract", ...args], { cwd: tmp });
/** User nobody's uid (and gid): what root's tests run the CLI as to meet what another user may not do. */
const NOBODY = 65534;

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
    const sidecar = JSON.parse(readFileSync(join(tmp, "f.npy.json"), "utf8"));
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

  it("every table says what made it — sonotile's version, every SPEC §2 parameter with its defaults, the options — in the .csv's and .npy's .json sidecar and the Parquet's key-value metadata, the same for all three", async () => {
    const dir = join(tmp, "provenance");
    mkdirSync(dir);
    const options = ["--window-size", "0.01", "--no-pcen", "--features", "rms_dbfs,log_mel", "--clip-start", "0.25", "--clip-high-freq", "4000"];
    const made = {
      version: VERSION,
      params: parseParams({ window_size: 0.01, pcen: false }),
      features: ["rms_dbfs", "log_mel"],
      "clip-start": 0.25, "clip-end": null, "clip-low-freq": null, "clip-high-freq": 4000, "time-expansion": null, md5: false,
    };
    expect(Object.keys(made.params)).toHaveLength(22); // all of SPEC §2, those not given at their defaults
    for (const table of ["t.csv", "t.npy"]) {
      expect((await sonotile([A, "-o", join(dir, table), ...options])).code).toBe(0);
      const sidecar = JSON.parse(readFileSync(join(dir, `${table}.json`), "utf8"));
      expect(sidecar.sonotile, table).toEqual(made);
    }
    expect((await sonotile([A, "-o", join(dir, "t.parquet"), ...options])).code).toBe(0);
    const bytes = readFileSync(join(dir, "t.parquet"));
    const kv = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)).key_value_metadata ?? [];
    expect(JSON.parse(kv.find((e) => e.key === "sonotile")?.value ?? "null")).toEqual(made);
  });

  it("--md5: each row names its file's MD5 after its path, the same in the CSV, the .npy's sidecar and the Parquet; a rerun writes the same bytes; without it, no such column", async () => {
    const dir = join(tmp, "md5");
    mkdirSync(dir);
    const md5 = (path: string) => createHash("md5").update(readFileSync(path)).digest("hex");
    const options = ["--md5", "--features", "rms_dbfs", "--clip-start", "0.25", "--clip-end", "0.5"];
    const tables = ["t.csv", "t.npy", "t.parquet"].map((name) => join(dir, name));
    for (const out of tables) expect((await sonotile([B, A, "-o", out, ...options])).code).toBe(0);
    const { header, rows } = readCsv(tables[0]);
    expect(header).toEqual(["path", "md5", "start_time", "end_time", "rms_dbfs"]);
    expect(rows.map((row) => row.slice(0, 2))).toEqual([[B, md5(B)], [A, md5(A)]]);
    expect(JSON.parse(readFileSync(`${tables[1]}.json`, "utf8")).rows).toEqual([{ path: B, md5: md5(B), start_time: 0.25, end_time: 0.5 }, { path: A, md5: md5(A), start_time: 0.25, end_time: 0.5 }]);
    const bytes = readFileSync(tables[2]);
    const records = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
    expect(records.map((rec) => [rec.path, rec.md5])).toEqual([[B, md5(B)], [A, md5(A)]]);
    // Every table and sidecar says it was asked for, and a rerun writes each byte for byte.
    for (const out of tables) {
      const before = [readFileSync(out), existsSync(`${out}.json`) ? readFileSync(`${out}.json`) : null];
      expect((await sonotile([B, A, "-o", out, ...options])).code).toBe(0);
      expect([readFileSync(out), existsSync(`${out}.json`) ? readFileSync(`${out}.json`) : null], out).toEqual(before);
    }
    expect(JSON.parse(readFileSync(`${tables[0]}.json`, "utf8")).sonotile.md5).toBe(true);
    expect((await sonotile([A, "-o", join(dir, "plain.csv"), "--features", "rms_dbfs"])).code).toBe(0);
    expect(readCsv(join(dir, "plain.csv")).header).toEqual(["path", "rms_dbfs"]);
  });

  it("a file named twice — inside a directory named too, or spelled another way — is one target: one row, one skip line", async () => {
    const out = join(tmp, "twice.csv");
    // cwd is tmp: data/a_tone.wav is A; data/ is data.
    const r = await sonotile([data, B, "data/a_tone.wav", "data/", "-o", out, "--features", "rms_dbfs"]);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^sonotile extract: skipped ${JUNK}: `));
    expect(lines[1]).toMatch(/^sonotile extract: 2 targets .*; 1 skipped; wrote/);
    expect(readCsv(out).rows).toEqual([[A, String(library.get(A)!.rms_dbfs)], [B, String(library.get(B)!.rms_dbfs)]]);
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

  it("a --clip-end at or past the recording's end (clamped to it) writes the row no --clip-end writes: the frame centred on the end counts either way", async () => {
    // 2 s at 192 kHz, frames 12.5 ms apart: one is centred on the end. It read 28943.48 Hz of centroid with --clip-end 3, 28889.27 without.
    const bats = join(FIXTURES, "recordings/batdetect2_20230322_172000_selec2.wav");
    const rows = await Promise.all([[], ["--clip-end", "3"], ["--clip-end", "2"]].map(async (end, i) => {
      const out = join(tmp, `to-the-end-${i}.csv`);
      const r = await sonotile([bats, "-o", out, "--clip-start", "1.5", ...end, "--features", "spectral_centroid_hz"]);
      expect(r.code, r.stderr).toBe(0);
      return readCsv(out).rows;
    }));
    expect(rows[0]).toEqual([[bats, "1.5", "2", "28889.268983648035"]]);
    expect(rows.slice(1)).toEqual([rows[0], rows[0]]);
    // 1 s at 16 kHz, its last frame centred on the end: [0.9999, 1) holds it, with --clip-end 2 as without (that was refused).
    const short = join(FIXTURES, "formats/wav_pcm_16.wav");
    const clamped = await sonotile([short, "-o", join(tmp, "last-frame.csv"), "--clip-start", "0.9999", "--clip-end", "2", "--features", "duration_s"]);
    expect(clamped.code, clamped.stderr).toBe(0);
    expect(readCsv(join(tmp, "last-frame.csv")).rows).toEqual([[short, "0.9999", "1", String(1 - 0.9999)]]);
  });

  it("a parameter one file cannot take skips it naming the flag, as every command names it, not the schema field alone", async () => {
    // The fixture is stored at 16 kHz (Nyquist 8000 Hz), A at 22050 Hz: --high-freq 9000 fits A only.
    const narrow = join(FIXTURES, "formats/wav_pcm_16.wav");
    const out = join(tmp, "per-file-params.csv");
    const r = await sonotile([narrow, A, "-o", out, "--high-freq", "9000", "--features", "rms_dbfs"]);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe(`sonotile extract: skipped ${narrow}: high_freq (--high-freq): must be <= Nyquist (8000 Hz)`);
    expect(lines[1]).toMatch(/^sonotile extract: 1 target .*; 1 skipped; wrote/);
    expect(readCsv(out).rows.map((row) => row[0])).toEqual([A]);
    // --channel 3 of a mono file: no file takes it, the command line's fault (exit 2; cli-extract-refusals.test.ts).
    const channel = await sonotile([A, "-o", join(tmp, "channel.csv"), "--channel", "3"]);
    expect(channel.code).toBe(2);
    expect(channel.stderr).toBe(`sonotile extract: skipped ${A}: channel (--channel): must be < channels (1)\nsonotile extract: no target could be computed: --channel suits none of the recordings (${A}: channel (--channel): must be < channels (1)); nothing written\n`);
  });

  it("a clip past a time-expanded recording's real end says that times are real seconds, naming --time-expansion; at TE 1 nothing is added", async () => {
    // A lasts 1 s as stored, 0.1 s at time expansion 10: a researcher reading a player's 0.5 s meets this.
    const out = join(tmp, "te-clip.csv");
    const expanded = await sonotile([A, "-o", out, "--clip-start", "0.5", "--clip-end", "0.6", "--time-expansion", "10"]);
    expect(expanded.code).toBe(2); // no file took the clip: the options' fault (cli-extract-refusals.test.ts)
    expect(expanded.stderr.split("\n")[0]).toBe(
      `sonotile extract: skipped ${A}: start 0.5 s is past the end of the recording (0.1 s); times are real seconds: time expansion 10 (--time-expansion) makes the file's 1 s last 0.1 s`,
    );
    const plain = await sonotile([A, "-o", out, "--clip-start", "1.5", "--clip-end", "1.6"]);
    expect(plain.stderr.split("\n")[0]).toBe(`sonotile extract: skipped ${A}: start 1.5 s is past the end of the recording (1 s)`);
  });

  it("a name that is not valid UTF-8 is skipped saying why, not 'ENOENT' — and the directory's other recordings are read", async () => {
    const dir = join(tmp, "latin1");
    mkdirSync(dir);
    writeFileSync(join(dir, "ok.wav"), readFileSync(A));
    writeFileSync(Buffer.concat([Buffer.from(dir + "/"), Buffer.from("caf\xe9.wav", "latin1")]), readFileSync(A));
    const out = join(tmp, "latin1.csv");
    const r = await sonotile([dir, "-o", out, "--features", "duration_s"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`sonotile extract: skipped ${dir}/caf\\xe9.wav: its name is not valid UTF-8, so no path can name it (nor can the database store it): rename it, e.g. with \`convmv -f latin1 -t utf8\`\n`);
    expect(readCsv(out).rows).toEqual([[join(dir, "ok.wav"), "1"]]);
  });

  it("spectrogram parameters apply (window, hop, band filter); every target computed: exit 0 and a summary", async () => {
    const out = join(tmp, "params.csv");
    const r = await sonotile([A, "-o", out, "--window-size", "0.01", "--hop-size", "0.25", "--window", "blackman", "--high-freq", "5000"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^sonotile extract: 1 target \(1 s of audio\) in .+ s; [\d.]+× real time; wrote .*params\.csv\n$/);
    const want = await featuresOfFile(A, { window_size: 0.01, hop_size: 0.25, window: "blackman", high_freq: 5000 });
    expect(readCsv(out).rows[0].slice(1).map(Number)).toEqual(featureRow(want));
  });

  it("the summary states short audio in seconds and a speed below 1× with two digits (bat calls of a time-expanded detector are tenths of a second)", async () => {
    // It read "1 target (0.000 h of audio) in 0.3 s; 0× real time" for a 0.1 s clip.
    const out = join(tmp, "short.csv");
    const r = await sonotile([A, "-o", out, "--features", "duration_s", "--clip-start", "0.05", "--clip-end", "0.15"]);
    expect(r.code, r.stderr).toBe(0);
    const summary = /^sonotile extract: 1 target \(0\.1 s of audio\) in .+ s; (.+)× real time; wrote .*short\.csv\n$/.exec(r.stderr);
    expect(summary, r.stderr).not.toBeNull();
    const speed = summary![1];
    // Two significant digits below 10× (0.33×), whole above; never a 0× for work that was done.
    expect(speed).toMatch(/^([1-9]\d+|[1-9](\.\d)?|0\.[1-9]\d?|0\.0\d*[1-9]\d?)$/);
    expect(Number(speed)).toBeGreaterThan(0);
  });

  it("bad usage and parameters are refused before any work, naming the problem (exit 2 via main)", async () => {
    const cases: [string[], RegExp][] = [
      [[A], /-o\/--output FILE is required/],
      [[A, "-o", "x.xlsx"], /unknown output format '\.xlsx'/],
      [["-o", "x.csv"], /at least one audio file/],
      [[A, "-o", "x.csv", "--features", "rms_dbfs,loudness"], /--features: unknown feature 'loudness'/],
      [[A, "-o", "x.csv", "--window-size", "-1"], /window_size \(--window-size\): must be > 0/],
      [[A, "-o", "x.csv", "--clip-start", "2", "--clip-end", "1"], /--clip-end: must be a number > 2/],
      // Numbers are read as parameter values are: Number() would take hex as 16.
      [[A, "-o", "x.csv", "--clip-start", "0x10"], /^--clip-start: must be a number >= 0, got '0x10'$/],
      [[A, "-o", "x.csv", "--threads", "1.5"], /^--threads: must be an integer in \[1, 1024\], got '1.5'$/],
      [[A, "-o", "x.csv", "--threads", "0"], /--threads/],
      // A pool starts its threads at once: 5000 would try to.
      [[A, "-o", "x.csv", "--threads", "5000"], /^--threads: must be an integer in \[1, 1024\], got '5000'$/],
      [[A, "-o", "x.csv", "--bogus"], /unknown flag '--bogus'/],
      // A factor that gives the file no usable rate: each file used to be skipped with it (exit 1).
      [[A, "-o", "x.csv", "--time-expansion", "1e-300"], /^no target could be computed: --time-expansion suits none of the recordings \(.*: time_expansion \(--time-expansion\): must give a real samplerate/],
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

  it("a missing input, when there is nothing else: one line naming it (exit 1); beside others it is skipped with the same words", async () => {
    const gone = join(tmp, "no-such-input");
    expect(await sonotile([gone, "-o", "x.csv"])).toEqual({ code: 1, stdout: "", stderr: `sonotile extract: ${gone}: no such file or directory\n` });
    const empty = join(tmp, "no-audio");
    mkdirSync(empty);
    expect(await sonotile([empty, gone, "-o", "x.csv"])).toMatchObject({ code: 1, stderr: `sonotile extract: no audio file found in ${empty}; ${gone}: no such file or directory\n` });
    const beside = await sonotile([gone, A, "-o", join(tmp, "beside.csv")]);
    expect(beside.code).toBe(1);
    expect(beside.stderr).toMatch(new RegExp(`^sonotile extract: skipped ${gone}: no such file or directory\nsonotile extract: 1 target .*; 1 skipped; wrote`));
  });

  it("a symlinked recording whose target is missing (a DataLad/git-annex file not fetched) is skipped saying so, not dropped unsaid", async () => {
    const dir = join(tmp, "linked");
    mkdirSync(dir);
    symlinkSync(A, join(dir, "a_present.wav"));
    const missing = join(tmp, "not-fetched", "b.wav");
    symlinkSync(missing, join(dir, "b_dangling.wav"));
    const out = join(tmp, "linked.csv");
    const r = await sonotile([dir, "-o", out, "--features", "rms_dbfs"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^sonotile extract: skipped ${join(dir, "b_dangling.wav")}: broken symbolic link: its target ${missing} does not exist\nsonotile extract: 1 target .*; 1 skipped; wrote`));
    expect(readCsv(out).rows.map((row) => row[0])).toEqual([join(dir, "a_present.wav")]);
    // Alone, it is named in the one line of a run with nothing to compute.
    rmSync(join(dir, "a_present.wav"));
    expect(await sonotile([dir, "-o", out])).toEqual({ code: 1, stdout: "", stderr: `sonotile extract: no audio file found in ${dir}; ${join(dir, "b_dangling.wav")}: broken symbolic link: its target ${missing} does not exist\n` });
    // Named on the command line, the same words.
    const link = join(dir, "b_dangling.wav");
    expect(await sonotile([link, "-o", out])).toEqual({ code: 1, stdout: "", stderr: `sonotile extract: ${link}: broken symbolic link: its target ${missing} does not exist\n` });
  });

  it("a FIFO named as audio in a directory, or a link to one, is skipped naming what it is, never opened (it was left out unsaid; named on the command line it was 'is not a regular file')", async () => {
    const dir = join(tmp, "fifo");
    mkdirSync(dir);
    symlinkSync(A, join(dir, "a_present.wav"));
    expect(spawnSync("mkfifo", [join(dir, "pipe.wav")]).status).toBe(0);
    symlinkSync("pipe.wav", join(dir, "to-pipe.wav"));
    const out = join(tmp, "fifo.csv");
    const r = await sonotile([dir, "-o", out, "--features", "rms_dbfs"]);
    const fifo = "a FIFO (named pipe), not a regular file: it holds no recording";
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.split("\n");
    expect(lines.slice(0, 2)).toEqual([`sonotile extract: skipped ${join(dir, "pipe.wav")}: ${fifo}`, `sonotile extract: skipped ${join(dir, "to-pipe.wav")}: ${fifo}`]);
    expect(lines[2]).toMatch(/^sonotile extract: 1 target .*; 2 skipped; wrote/);
    expect(readCsv(out).rows.map((row) => row[0])).toEqual([join(dir, "a_present.wav")]);
    // Named on the command line, the same words (it was "<path> is not a regular file").
    const named = await sonotile([join(dir, "pipe.wav"), join(dir, "to-pipe.wav"), join(dir, "a_present.wav"), "-o", out, "--features", "rms_dbfs"]);
    expect(named.stderr.split("\n").slice(0, 2)).toEqual([`sonotile extract: skipped ${join(dir, "pipe.wav")}: ${fifo}`, `sonotile extract: skipped ${join(dir, "to-pipe.wav")}: ${fifo}`]);
    expect(named.code).toBe(1);
  });

  // Root lists every directory: the walk meets one it cannot list only as another user.
  it.skipIf(process.getuid?.() !== 0)("a directory that cannot be listed is skipped by its own name, and the recordings after it are kept (run as nobody)", async () => {
    const base = mkdtempSync(join(tmpdir(), "sonotile-extract-nobody-"));
    try {
      chmodSync(base, 0o777);
      mkdirSync(join(base, "locked"), { mode: 0o700 }); // root's, sorted between the two recordings
      mkdirSync(join(base, "site_b"));
      for (const path of [join(base, "a_first.wav"), join(base, "locked", "hidden.wav"), join(base, "site_b", "z.wav")]) writeFileSync(path, readFileSync(A));
      const run = await runSonotile(["extract", base, "-o", join(base, "t.csv"), "--features", "rms_dbfs"], { cwd: base, uid: NOBODY });
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`^sonotile extract: skipped ${join(base, "locked")}: permission denied\nsonotile extract: 2 targets .*; 1 skipped; wrote`));
      expect(readCsv(join(base, "t.csv")).rows.map((r) => r[0])).toEqual([join(base, "a_first.wav"), join(base, "site_b", "z.wav")]);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it("-o naming a directory (or an .npy whose .npy.json sidecar would be one) is refused before any work (exit 2)", async () => {
    const dir = join(tmp, "table.csv");
    mkdirSync(dir);
    // The garbage file is never looked at: no "skipped" line.
    expect(await sonotile([JUNK, A, "-o", dir])).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: -o ${dir}: is a directory\n` });
    mkdirSync(join(tmp, "table.npy.json"));
    expect(await sonotile([JUNK, A, "-o", join(tmp, "table.npy")])).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: -o ${join(tmp, "table.npy")}: its sidecar ${join(tmp, "table.npy.json")} is a directory\n` });
  });

  it("tables of one name in two formats keep their own sidecars: an .npy's columns survive a .csv run (and the other way round)", async () => {
    const dir = join(tmp, "one-stem");
    mkdirSync(dir);
    expect((await sonotile([A, "-o", join(dir, "t.npy"), "--features", "rms_dbfs"])).code).toBe(0);
    const npySidecar = readFileSync(join(dir, "t.npy.json"), "utf8");
    expect((await sonotile([A, "-o", join(dir, "t.csv")])).code).toBe(0);
    const csvSidecar = readFileSync(join(dir, "t.csv.json"), "utf8");
    expect(readFileSync(join(dir, "t.npy.json"), "utf8")).toBe(npySidecar);
    expect(JSON.parse(npySidecar).columns).toEqual(["rms_dbfs"]);
    expect(JSON.parse(csvSidecar).sonotile.features).toEqual([...FEATURE_NAMES]);
    expect(readdirSync(dir).sort()).toEqual(["t.csv", "t.csv.json", "t.npy", "t.npy.json"]);
  });

  it("a file at a sidecar's path that is not a sonotile sidecar is refused before any work (exit 2, naming it) and left as it was", async () => {
    const dir = join(tmp, "foreign");
    mkdirSync(dir);
    const notes = '{"columns": ["my own"], "comment": "a user\'s file"}';
    for (const table of ["x.csv", "x.npy"]) {
      const sidecar = join(dir, `${table}.json`);
      writeFileSync(sidecar, notes);
      // The garbage file is never looked at: no "skipped" line.
      expect(await sonotile([JUNK, A, "-o", join(dir, table)]), table).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: -o ${join(dir, table)}: its sidecar ${sidecar} exists and is not a sonotile sidecar (no "sonotile" key); move it or choose another -o\n` });
      expect(readFileSync(sidecar, "utf8")).toBe(notes);
    }
    // An interrupted run's partial table would write one too: checked as well.
    writeFileSync(join(dir, "y.partial.csv.json"), "not json");
    expect((await sonotile([A, "-o", join(dir, "y.csv")])).stderr).toMatch(/its sidecar \S+y\.partial\.csv\.json exists and is not a sonotile sidecar/);
    expect(readdirSync(dir).sort()).toEqual(["x.csv.json", "x.npy.json", "y.partial.csv.json"]);
  });

  it("-o where no file can be created is refused before any work (exit 1), naming the user's path and why", async () => {
    const file = join(tmp, "one.csv");
    writeFileSync(file, "a file where a directory would be");
    // The garbage file is never looked at: no "skipped" line, no summary.
    expect(await sonotile([JUNK, A, "-o", join(file, "x.csv")])).toEqual({ code: 1, stdout: "", stderr: `sonotile extract: cannot write ${join(file, "x.csv")}: not a directory (a file on its path)\n` });
    expect(await sonotile([JUNK, A, "-o", "/proc/x.csv"])).toEqual({ code: 1, stdout: "", stderr: "sonotile extract: cannot write /proc/x.csv: its directory takes no new files\n" });
    expect(await sonotile([JUNK, A, "-o", join(tmp, "no-such-dir", "x.csv")])).toEqual({ code: 1, stdout: "", stderr: `sonotile extract: cannot write ${join(tmp, "no-such-dir", "x.csv")}: no such directory\n` });
    expect(readdirSync(tmp).filter((f) => f.endsWith(".partial"))).toEqual([]);
  });

  it("a table that cannot be written in full leaves the previous one (and its sidecar) as it was, and no temporary file", async () => {
    const dir = join(tmp, "previous");
    mkdirSync(dir);
    // The sidecars are an earlier run's (a top-level "sonotile" key): replaceable, so the write is tried.
    const previous = (name: string) => (name.endsWith(".json") ? JSON.stringify({ sonotile: `previous ${name}` }) : `previous ${name}`);
    for (const name of ["t.csv", "t.npy", "t.csv.json", "t.npy.json"]) writeFileSync(join(dir, name), previous(name));
    // A file size limit of 512 bytes (sh's ulimit -f counts 512-byte blocks): both tables are larger.
    const limited = (args: string[]) => new Promise<CliRun>((done) => {
      execFile("sh", ["-c", 'ulimit -f 1 && exec "$@"', "sh", process.execPath, join(ROOT, "bin/sonotile.js"), "extract", ...args], (err, stdout, stderr) => done(cliRun(err, stdout, stderr)));
    });
    for (const table of ["t.csv", "t.npy"]) {
      const out = join(dir, table);
      // The resume file that would keep the rows is larger than the table: refused by the limit too, and said.
      expect(await limited([A, B, "-o", out]), table).toEqual({
        code: 1, stdout: "", stderr: `sonotile extract: cannot write ${out}: file too large; the 2 computed targets could not be kept for --resume either: cannot write ${out}.resume.json: file too large\n`,
      });
    }
    expect(readdirSync(dir).sort()).toEqual(["t.csv", "t.csv.json", "t.npy", "t.npy.json"]);
    for (const name of ["t.csv", "t.npy", "t.csv.json", "t.npy.json"]) expect(readFileSync(join(dir, name), "utf8")).toBe(previous(name));
    // A checkpoint after every target: the first (one row) is refused by the limit too, and said once — it was silent.
    const out = join(dir, "t.csv");
    expect(await limited([A, B, "-o", out, "--checkpoint-interval", "0"])).toEqual({
      code: 1, stdout: "",
      stderr: `sonotile extract: a checkpoint of 1 row could not be written to ${out}.resume.json (cannot write ${out}.resume.json: file too large); it holds no row of this run yet, and later checkpoints are tried as the run goes (said once)\n`
        + `sonotile extract: cannot write ${out}: file too large; the 2 computed targets could not be kept for --resume either: cannot write ${out}.resume.json: file too large\n`,
    });
  });

  it("a table and a resume file that cannot be written name the run's last checkpoint, which --resume finishes from — the line said the rows could not be kept, the checkpoint in the resume file", async () => {
    const dir = join(tmp, "checkpointed");
    mkdirSync(dir);
    const out = join(dir, "t.csv");
    const sidecar = join(dir, "t.csv.json");
    symlinkSync(join(dir, "missing", "t.csv.json"), sidecar); // the table's write fails at its end
    // 4,096 bytes (8 blocks of 512): a resume file of one row (2.6 kB) and the table (3.6 kB) fit, one of both rows (4.4 kB) does not.
    const failed = await new Promise<CliRun>((done) => {
      execFile("sh", ["-c", 'ulimit -f 8 && exec "$@"', "sh", process.execPath, join(ROOT, "bin/sonotile.js"), "extract", A, B, "-o", out, "-j", "1", "--checkpoint-interval", "0"], (err, stdout, stderr) => done(cliRun(err, stdout, stderr)));
    });
    expect([failed.code, failed.stdout]).toEqual([1, ""]);
    // The second checkpoint, both rows, is tried if the first was written before the second target ended (said then).
    const lines = failed.stderr.split("\n");
    if (lines.length === 3) expect(lines.shift()).toBe(`sonotile extract: a checkpoint of 2 rows could not be written to ${out}.resume.json (cannot write ${out}.resume.json: file too large); it keeps its checkpoint of 1 row, and later checkpoints are tried as the run goes (said once)`);
    expect(lines).toEqual([`sonotile extract: cannot write ${sidecar}: no such directory; the 2 computed targets could not all be kept for --resume either: cannot write ${out}.resume.json: file too large; 1 of them is, the run's last checkpoint, in ${out}.resume.json: make room (or mend the path) and run the same command with --resume to compute the other 1 and write ${out}`, ""]);
    rmSync(sidecar);
    const resumed = await sonotile([A, B, "-o", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`; 1 resumed from ${out.replace(/[.]/g, "\\.")}\\.resume\\.json; wrote `));
    expect(readdirSync(dir).sort()).toEqual(["t.csv", "t.csv.json"]);
  });

  it("a finished table that cannot be written keeps its rows for --resume, which writes it without computing them again — they were lost with the write (a full disk at the end of a run)", async () => {
    const dir = join(tmp, "unwritten");
    mkdirSync(dir);
    const out = join(dir, "t.csv");
    // The sidecar's path leads into a directory that does not exist: the table's write fails at its end, as on a disk
    // that filled meanwhile, while the resume file beside it can be written.
    const sidecar = join(dir, "t.csv.json");
    symlinkSync(join(dir, "missing", "t.csv.json"), sidecar);
    const failed = await sonotile([A, B, "-o", out]);
    expect(failed).toEqual({
      code: 1, stdout: "",
      stderr: `sonotile extract: cannot write ${sidecar}: no such directory; the 2 computed targets are kept in ${out}.resume.json: make room (or mend the path) and run the same command with --resume to write ${out} without computing them again\n`,
    });
    expect(readdirSync(dir).sort()).toEqual(["t.csv.json", "t.csv.resume.json"]); // the link, and the rows
    rmSync(sidecar);
    const resumed = await sonotile([A, B, "-o", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`^sonotile extract: 0 targets .*; 2 resumed from ${out.replace(/[.]/g, "\\.")}\\.resume\\.json; wrote `));
    const reference = join(tmp, "unwritten-reference.csv");
    expect((await sonotile([A, B, "-o", reference])).code).toBe(0);
    expect(readFileSync(out)).toEqual(readFileSync(reference));
    expect(readdirSync(dir).sort()).toEqual(["t.csv", "t.csv.json"]);
  });

  it("a --resume run whose table cannot be written keeps the rows it resumed and those it computed in the resume file; the partial table, which holds fewer, goes", async () => {
    const dir = join(tmp, "unwritten-resumed");
    mkdirSync(dir);
    const out = join(dir, "t.csv");
    // What an interruption of `extract A B -o t.csv` after A leaves: A's row in the resume file and the partial table.
    const settings = { version: VERSION, params: parseParams({}), features: [...FEATURE_NAMES], "clip-start": null, "clip-end": null, "clip-low-freq": null, "clip-high-freq": null, "time-expansion": null, md5: false };
    await writeResumeFile(out, settings, [{ path: A, values: library.get(A)!, file: await fileStamp(A) }]);
    writeFileSync(join(dir, "t.partial.csv"), "A's row");
    writeFileSync(join(dir, "t.partial.csv.json"), JSON.stringify({ sonotile: "A's row" }));
    const sidecar = join(dir, "t.csv.json");
    symlinkSync(join(dir, "missing", "t.csv.json"), sidecar);
    const failed = await sonotile([A, B, "-o", out, "--resume"]);
    expect([failed.code, failed.stderr]).toEqual([1, `sonotile extract: cannot write ${sidecar}: no such directory; the 2 computed targets are kept in ${out}.resume.json: make room (or mend the path) and run the same command with --resume to write ${out} without computing them again\n`]);
    expect(readdirSync(dir).sort()).toEqual(["t.csv.json", "t.csv.resume.json"]);
    expect([...(await readResumeFile(out, settings))!.rows.keys()]).toEqual([A, B]);
  });

  // Root writes any file: a resume file it may not write is met only as another user.
  it.skipIf(process.getuid?.() !== 0)("--resume with a resume file it cannot write, or in a directory that takes no changes or (sticky) lets only the file's owner remove it, is refused before any work naming the file and why (exit 2) — it was 'cannot read' a readable file, or the table written, then the run failing to remove the file (run as nobody)", async () => {
    const base = mkdtempSync(join(tmpdir(), "sonotile-extract-readonly-"));
    try {
      chmodSync(base, 0o755);
      // Recordings user nobody can read, and A's row kept by an interrupted run.
      const [a, b] = ["a.wav", "b.wav"].map((name) => join(base, name));
      copyFileSync(A, a);
      copyFileSync(B, b);
      const settings = { version: VERSION, params: parseParams({}), features: [...FEATURE_NAMES], "clip-start": null, "clip-end": null, "clip-low-freq": null, "clip-high-freq": null, "time-expansion": null, md5: false };
      const keptA = async (out: string) => writeResumeFile(out, settings, [{ path: a, values: library.get(A)!, file: await fileStamp(a) }]);
      const asNobody = (out: string) => runSonotile(["extract", a, b, "-o", out, "--resume"], { cwd: base, uid: NOBODY });

      // The resume file read-only (root's, 444), in a directory nobody may change.
      const writable = join(base, "writable");
      mkdirSync(writable);
      chmodSync(writable, 0o777);
      const out = join(writable, "t.csv");
      await keptA(out);
      chmodSync(`${out}.resume.json`, 0o444);
      const kept = readFileSync(`${out}.resume.json`);
      expect(await asNobody(out)).toEqual({
        code: 2, stdout: "",
        stderr: `sonotile extract: --resume: ${out}.resume.json cannot be opened to read and append to (permission denied): the run reads the rows kept there and appends those it computes as it goes; make it readable and writable by this user, then run again\n`,
      });
      expect(readdirSync(writable)).toEqual(["t.csv.resume.json"]);
      expect(readFileSync(`${out}.resume.json`)).toEqual(kept);

      // The resume file writable, in a directory that takes no changes (root's, 755): -o a link out
      // of it, to a directory that does (-o itself can be written). The table was written, then
      // the run failed removing the resume file ("EACCES: permission denied, unlink"), exit 1.
      const locked = join(base, "locked");
      mkdirSync(locked);
      const parquet = join(locked, "t.parquet");
      await keptA(parquet);
      chmodSync(`${parquet}.resume.json`, 0o666);
      symlinkSync(join(writable, "t.parquet"), parquet);
      expect(await asNobody(parquet)).toEqual({
        code: 2, stdout: "",
        stderr: `sonotile extract: --resume: ${locked}, the directory of ${parquet}.resume.json, takes no changes (permission denied): the run removes the file there once its table is written; make the directory writable by this user, then run again\n`,
      });
      expect(readdirSync(writable)).toEqual(["t.csv.resume.json"]); // no table

      // The resume file root's, writable (666), in a sticky directory (1777, as /tmp): nobody may
      // write there but not remove it. The table was written, then the unlink failed (EPERM), exit 1.
      const sticky = join(base, "sticky");
      mkdirSync(sticky);
      chmodSync(sticky, 0o1777);
      const shared = join(sticky, "t.csv");
      await keptA(shared);
      chmodSync(`${shared}.resume.json`, 0o666);
      expect(await asNobody(shared)).toEqual({
        code: 2, stdout: "",
        stderr: `sonotile extract: --resume: ${shared}.resume.json is another user's (uid 0) in ${sticky}, a sticky directory, where only its owner may remove it: the run removes the file there once its table is written; run as its owner, then run again\n`,
      });
      expect(readdirSync(sticky)).toEqual(["t.csv.resume.json"]); // no table

      // Both, and -o in that directory: -o cannot be written, said first (exit 1, as without --resume), before any work too.
      rmSync(parquet);
      chmodSync(`${parquet}.resume.json`, 0o444);
      expect(await asNobody(parquet)).toEqual({ code: 1, stdout: "", stderr: `sonotile extract: cannot write ${parquet}: permission denied\n` });
      expect(readdirSync(locked)).toEqual(["t.parquet.resume.json"]);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it("--help lists every feature, and says that -o x.npy writes x.npy.json beside it", async () => {
    const write = process.stdout.write;
    let text = "";
    process.stdout.write = ((chunk: string) => ((text += chunk), true)) as typeof process.stdout.write;
    try {
      expect(await command.run(["--help"])).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    for (const f of FEATURE_NAMES) expect(text).toContain(f);
    expect(text).toContain("-o notes.npy also writes notes.npy.json");
    expect(text).toContain("-o notes.csv also writes notes.csv.json; a file there that is not a sonotile sidecar is refused, exit 2");
    expect(text).toContain("--pcen*, --normalize, --scale, --clamp, --min-db, --max-db and --cmap change none");
    // Every option with its default (-o is required; --verbose is a switch).
    for (const flag of ["--features", "--clip-start", "--clip-end", "--clip-low-freq", "--clip-high-freq", "--time-expansion", "--threads"]) {
      expect(text.split("\n").find((line) => line.trimStart().startsWith(flag) || line.includes(`, ${flag} `)), flag).toMatch(/default/);
    }
  });

  it("computes the first targets while later headers are still being read; rows stay in input order, an entry with nothing to compute has none", async () => {
    // An instrumented header reader: the third file's header is read only once a target has been computed.
    let readThird!: (item: ExtractItem | null) => void;
    const third = new Promise<ExtractItem | null>((resolve) => (readThird = resolve));
    const unopened = Promise.resolve(null); // a file whose header did not read
    const order: string[] = [];
    const outcomes = await extractFeatures([{ path: A, target: {} }, unopened, third], {
      params: parseParams({}),
      threads: 1,
      onOutcome: (o) => {
        order.push(o.item.path);
        readThird({ path: B, target: {} });
      },
    });
    expect(order).toEqual([A, B]);
    expect(outcomes.map((o) => o && ("values" in o ? [o.item.path, o.values.rms_dbfs] : o.error))).toEqual([[A, library.get(A)!.rms_dbfs], undefined, [B, library.get(B)!.rms_dbfs]]);
  });

  it("a file written after its header was read gives an error, not values (nor an MD5) of no one content", async () => {
    const st = statSync(A);
    // As checked before a write that changed its size and time: the read that computes it finds it changed.
    const [outcome] = await extractFeatures([{ path: A, target: {}, checked: { size: st.size + 2, mtime: st.mtimeMs - 1000 } }], { params: parseParams({}), threads: 1, md5: true });
    expect(outcome).toEqual({ item: expect.anything(), error: expect.stringMatching(/^the file changed while it was read \(.+\): what was read may mix two contents$/) });
  });

  it("a file late in the batch whose rate --time-expansion cannot take is skipped naming the flag (exit 1); the others' rows are written", async () => {
    // 5 Hz × 0.1 is under 1 Hz, no rate; A's 22050 Hz × 0.1 is 2205 Hz.
    const slow = join(tmp, "te-slow.wav");
    writeFileSync(slow, encodeWav16(new Float32Array(50), 5));
    const out = join(tmp, "te.csv");
    const r = await sonotile([A, slow, "-o", out, "--time-expansion", "0.1"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^sonotile extract: skipped ${slow}: time_expansion \\(--time-expansion\\): must give a real samplerate .*\n`));
    expect(readCsv(out).rows.map((row) => row[0])).toEqual([A]);
    // No file can take it: the command line's fault, exit 2 naming the flag, nothing written.
    const none = await sonotile([data, "-o", join(tmp, "te-none.csv"), "--time-expansion", "1e-9"]);
    expect(none.code, none.stderr).toBe(2);
    expect(none.stderr).toContain(`sonotile extract: skipped ${A}: time_expansion (--time-expansion): must give a real samplerate`);
    expect(none.stderr).toMatch(/\nsonotile extract: no target could be computed: --time-expansion suits none of the recordings \([^\n]*: time_expansion \(--time-expansion\): must give a real samplerate [^\n]*\); nothing written\n$/);
    expect(existsSync(join(tmp, "te-none.csv"))).toBe(false);
    // One file refused for its rate, the other taking it but not its clip (past its end): both
    // flags named (it was exit 2 naming --time-expansion alone, then exit 1).
    const mixed = await sonotile([slow, A, "-o", join(tmp, "te-mixed.csv"), "--time-expansion", "0.1", "--clip-start", "100000"]);
    expect(mixed.code, mixed.stderr).toBe(2);
    expect(mixed.stderr).toMatch(/\nsonotile extract: no target could be computed: --(time-expansion, --clip-start|clip-start, --time-expansion) suit none of the recordings \([^\n]*\); nothing written\n$/);
  });

  it("not on a terminal (nohup, cron, a log file), a progress line every --progress-interval seconds — none for the last target, the summary follows; bad intervals refused", async () => {
    const out = join(tmp, "logged.csv");
    // Any interval has passed by a target's end: a line after the first of the two. Which finishes
    // first is not fixed (extractEach: the second's header may be read first), so the line counts
    // A's 1 s or B's 2 s of the 3 s.
    const r = await sonotile([A, B, "-o", out, "-j", "1", "--progress-interval", "1e-9"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^sonotile extract: 1\/2 files · [12] s\/3 s audio · [0-9.]+× real time · ETA \d\d:\d\d$/);
    expect(lines[1]).toMatch(/^sonotile extract: 2 targets .*; wrote .*logged\.csv$/);
    // 0: none.
    const quiet = await sonotile([A, B, "-o", out, "-j", "1", "--progress-interval", "0"]);
    expect([quiet.code, quiet.stderr.trimEnd().split("\n")]).toEqual([0, [expect.stringMatching(/^sonotile extract: 2 targets /)]]);
    for (const flag of ["progress-interval", "checkpoint-interval"]) {
      expect(await sonotile([A, "-o", out, `--${flag}`, "-1"])).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: --${flag}: must be a number of seconds >= 0, got '-1'\n` });
    }
  });

  it("what --help says: the display's parameters (PCEN, normalization, scale, clamp, colour map) change no feature", async () => {
    const plain = join(tmp, "plain.csv");
    const display = join(tmp, "display.csv");
    expect((await sonotile([A, "-o", plain])).code).toBe(0);
    expect((await sonotile([A, "-o", display, "--no-pcen", "--no-normalize", "--scale", "power", "--clamp", "--min-db", "-40", "--max-db", "-1", "--cmap", "viridis"])).code).toBe(0);
    expect(readFileSync(display, "utf8")).toBe(readFileSync(plain, "utf8"));
    expect(readCsv(plain).rows[0].slice(1).map(Number)).toEqual(featureRow(library.get(A)!));
  });
});

describe("sonotile extract, interrupted", () => {
  // Three targets, one thread, a fine hop: the first two last seconds each (a wide margin for the
  // Ctrl-C sent once the bar shows one done), the last a moment. Which of the first two finishes
  // first is not fixed: each starts once its file's header is read, two at a time on a thread
  // (src/jobs/extract.ts), and the second's is at times read first — the tests check the rows the
  // resume file holds, whichever they are. They are scratch copies: a test rewrites the
  // modification time of one whose row was kept.
  const FIXTURE_INPUTS = ["recordings/XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav", "recordings/batdetect2_20230322_172000_selec2.wav", "formats/wav_pcm_16.wav"];
  const INPUTS = FIXTURE_INPUTS.map((name) => join(tmp, `interrupted-${basename(name)}`));
  beforeAll(() => FIXTURE_INPUTS.forEach((name, i) => copyFileSync(join(FIXTURES, name), INPUTS[i])));
  const ARGS = [...INPUTS, "-j", "1", "--hop-size", "4e-4"];

  /** The paths of the rows `resumeFile` holds, in its order (its header line, then a row a line). */
  const resumeFilePaths = (resumeFile: string): string[] => readFileSync(resumeFile, "utf8").split("\n").slice(1, -1).map((line) => JSON.parse(line).path as string);

  /**
   * Runs extract in a terminal (`script` gives it one: the progress bar is drawn), presses Ctrl-C
   * there once the bar shows a finished target — the terminal sends SIGINT, as a user's does —
   * and returns what the terminal showed and the exit status (script -e passes the command's: 130).
   */
  function extractUntilCtrlC(args: string[], cwd: string): Promise<{ code: number | null; shown: string }> {
    const quoted = [process.execPath, join(ROOT, "bin/sonotile.js"), "extract", ...args].map((a) => `'${a}'`).join(" ");
    const child = spawn("script", ["-qefc", quoted, "/dev/null"], { cwd, stdio: ["pipe", "pipe", "inherit"] });
    let shown = "";
    let pressed = false;
    child.stdout.on("data", (chunk: Buffer) => {
      shown += chunk.toString();
      if (!pressed && /\b[1-9]\d*\/\d+ files/.test(shown)) {
        pressed = true;
        child.stdin.write("\x03");
      }
    });
    return new Promise((done) => child.on("close", (code) => done({ code, shown })));
  }

  it("Ctrl-C keeps the rows computed in a partial table, -o as it was; --resume finishes it, byte for byte the uninterrupted table; other options are refused", async () => {
    const dir = join(tmp, "interrupted");
    mkdirSync(dir);
    const out = join(dir, "features.csv");
    writeFileSync(out, "an earlier table");
    const run = await extractUntilCtrlC([...ARGS, "-o", out], dir);
    expect(run.code, run.shown).toBe(130);
    const said = /sonotile extract: interrupted: ([12]) of 3 targets computed, their rows are in (\S+); (\S+) left as it was; run the same command with --resume to compute the other ([12]) and write (\S+)\r?$/m.exec(run.shown);
    expect(said, run.shown).not.toBeNull();
    const [, done, partialPath, left, rest, then] = said!;
    expect([partialPath, left, then, Number(done) + Number(rest)]).toEqual([join(dir, "features.partial.csv"), out, out, 3]);
    expect(readFileSync(out, "utf8")).toBe("an earlier table");
    expect(readdirSync(dir).sort()).toEqual(["features.csv", "features.csv.resume.json", "features.partial.csv", "features.partial.csv.json"]); // no temporary file

    const reference = join(tmp, "uninterrupted.csv");
    expect((await sonotile([...ARGS, "-o", reference])).code).toBe(0);
    const whole = readCsv(reference);
    const partial = readCsv(join(dir, "features.partial.csv"));
    expect(partial.header).toEqual(whole.header);
    // The rows of the targets that finished, whichever they are, in the table's order, as computed without interruption.
    const kept = resumeFilePaths(`${out}.resume.json`);
    expect(kept, run.shown).toHaveLength(Number(done));
    expect(partial.rows).toEqual(whole.rows.filter((row) => kept.includes(row[0])));
    const [keptOne] = kept;

    // Without --resume, a run would replace those rows at its own interruption: refused.
    const forgot = await sonotile([...ARGS, "-o", out]);
    expect(forgot).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: an interrupted run left its rows in ${join(dir, "features.partial.csv")}: add --resume to finish it, or remove ${out}.resume.json to start over\n` });
    // Other options would mix two computations in one table.
    const other = await sonotile([...ARGS, "-o", out, "--resume", "--hop-size", "5e-4"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/^sonotile extract: --resume: the rows in \S+features\.partial\.csv were computed with --hop-size 0\.0004, this run has --hop-size 0\.0005; .*\n$/);
    const clipped = await sonotile([...ARGS, "-o", out, "--resume", "--clip-start", "0.5"]);
    expect(clipped.stderr).toMatch(/computed with no --clip-start, this run has --clip-start 0\.5;/);
    // Rows without their files' MD5 would leave the column empty: refused too.
    expect((await sonotile([...ARGS, "-o", out, "--resume", "--md5"])).stderr).toMatch(/computed with no --md5, this run has --md5;/);
    expect(readFileSync(out, "utf8")).toBe("an earlier table");

    // An input left out would have its kept rows dropped with the resume file: refused.
    const fewer = await sonotile([...ARGS.filter((arg) => arg !== keptOne), "-o", out, "--resume"]);
    expect(fewer).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: --resume: the rows in ${join(dir, "features.partial.csv")} include ${keptOne}, which this run does not name; run with the inputs they were computed with, or remove ${out}.resume.json to start over\n` });
    // A kept target's file changed since its row was kept (as a rewrite would): computed again, not resumed.
    utimesSync(keptOne, new Date("2020-01-01T00:00:00Z"), new Date("2020-01-01T00:00:00Z"));
    const resumed = await sonotile([...ARGS, "-o", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const changedSince = `; 1 changed since, computed again \\(${keptOne.replace(/[.]/g, "\\.")}\\)`;
    expect(resumed.stderr).toMatch(new RegExp(`^sonotile extract: ${Number(rest) + 1} targets .*; ${Number(done) - 1} resumed from \\S+features\\.partial\\.csv${changedSince}; wrote \\S+features\\.csv\\n$`));
    expect(readFileSync(out)).toEqual(readFileSync(reference));
    expect(readFileSync(join(dir, "features.csv.json"))).toEqual(readFileSync(join(tmp, "uninterrupted.csv.json")));
    expect(readdirSync(dir).sort()).toEqual(["features.csv", "features.csv.json"]);
  }, 300_000);

  it("an interrupted run keeps the targets that finished, not the first named: the partial table holds them in the table's order, and --resume computes each of the others once and writes every row in the inputs' order, byte for byte the uninterrupted table", async () => {
    const dir = join(tmp, "interrupted-out-of-order");
    mkdirSync(dir);
    const out = join(dir, "features.csv");
    const partial = join(dir, "features.partial.csv");
    // Seconds of work named first, a moment's second, on two threads: the second finishes first, and Ctrl-C comes then.
    const [long, short] = [INPUTS[1], INPUTS[2]];
    const args = [long, short, "-j", "2", "--hop-size", "4e-4"];
    const run = await extractUntilCtrlC([...args, "-o", out], dir);
    expect(run.code, run.shown).toBe(130);
    expect(run.shown).toContain(`sonotile extract: interrupted: 1 of 2 targets computed, their rows are in ${partial}; ${out} left as it was; run the same command with --resume to compute the other 1 and write ${out}`);
    expect(resumeFilePaths(`${out}.resume.json`)).toEqual([short]);
    const reference = join(tmp, "out-of-order-reference.csv");
    expect((await sonotile([...args, "-o", reference])).code).toBe(0);
    const whole = readCsv(reference);
    expect(whole.rows.map((row) => row[0])).toEqual([long, short]);
    expect(readCsv(partial)).toEqual({ header: whole.header, rows: [whole.rows[1]] });

    const resumed = await sonotile([...args, "-o", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    // The long target computed, the short one resumed: each once.
    expect(resumed.stderr).toMatch(new RegExp(`^sonotile extract: 1 target \\(2 s of audio\\) .*; 1 resumed from ${partial.replace(/[.]/g, "\\.")}; wrote ${out.replace(/[.]/g, "\\.")}\\n$`));
    expect(readFileSync(out)).toEqual(readFileSync(reference));
    expect(readFileSync(`${out}.json`)).toEqual(readFileSync(`${reference}.json`));
    expect(readdirSync(dir).sort()).toEqual(["features.csv", "features.csv.json"]);
  }, 300_000);

  it("a run killed with SIGKILL (no signal it can catch: the OOM killer, a reboot) keeps the rows of its last checkpoint; --resume finishes it, byte for byte the uninterrupted table", async () => {
    const dir = join(tmp, "killed");
    mkdirSync(dir);
    const out = join(dir, "features.csv");
    const resumeFile = `${out}.resume.json`;
    // Its complete lines but the header: a kill while a row is appended leaves it torn, and --resume leaves it out.
    const keptRows = (): number => (existsSync(resumeFile) ? readFileSync(resumeFile, "utf8").split("\n").length - 2 : 0);
    // A checkpoint after every target: the kill lands once the first is in the resume file (the second lasts seconds).
    const child = spawn(process.execPath, [join(ROOT, "bin/sonotile.js"), "extract", ...ARGS, "-o", out, "--checkpoint-interval", "0"], { cwd: dir, stdio: "ignore" });
    const ended = new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on("exit", (code, signal) => done([code, signal])));
    let exited = false;
    void ended.then(() => (exited = true));
    try {
      while (!exited && keptRows() === 0) await new Promise((r) => setTimeout(r, 20));
      child.kill("SIGKILL");
    } finally {
      child.kill("SIGKILL");
    }
    expect(await ended).toEqual([null, "SIGKILL"]);
    const kept = keptRows();
    expect(kept).toBeGreaterThanOrEqual(1);
    expect(kept).toBeLessThan(3);
    expect(existsSync(out)).toBe(false);

    // As after an interruption: a run without --resume would replace those rows, refused — once it
    // took over the lock the killed run left (cli-extract-lock.test.ts).
    expect(await sonotile([...ARGS, "-o", out])).toEqual({
      code: 2,
      stdout: "",
      stderr: expect.stringMatching(new RegExp(`^sonotile extract: took over ${out.replace(/[.]/g, "\\.")}\\.lock, left by pid ${child.pid} \\(no longer running on [^)]+\\) since \\S+\\nsonotile extract: an interrupted run left its rows in `)) as unknown as string,
    });
    expect((await sonotile([...ARGS, "-o", out])).stderr).toBe(`sonotile extract: an interrupted run left its rows in ${resumeFile}: add --resume to finish it, or remove ${resumeFile} to start over\n`);
    const resumed = await sonotile([...ARGS, "-o", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`^sonotile extract: ${3 - kept} targets? .*; ${kept} resumed from ${resumeFile.replace(/[.]/g, "\\.")}; wrote \\S+features\\.csv\\n$`));
    const reference = join(tmp, "unkilled.csv");
    expect((await sonotile([...ARGS, "-o", reference])).code).toBe(0);
    expect(readFileSync(out)).toEqual(readFileSync(reference));
    // Finished: the resume file goes (and with it any checkpoint a run without --resume wrote).
    expect(readdirSync(dir).filter((f) => !f.startsWith(".")).sort()).toEqual(["features.csv", "features.csv.json"]);
    const again = join(dir, "again.csv");
    expect((await sonotile([...ARGS, "-o", again, "--checkpoint-interval", "0"])).code).toBe(0);
    expect(readFileSync(again)).toEqual(readFileSync(reference));
    expect(existsSync(`${again}.resume.json`)).toBe(false);
  }, 300_000);

  /**
   * Runs extract in `dir` (-o features.csv) on three targets of seconds each, on one thread, with a
   * checkpoint after every target and a file size limit (as a full disk) of 3,072 bytes (6 blocks
   * of 512): the header and the first row (2.6 kB) fit, the second row (1.8 kB more) does not. The
   * first checkpoint (one row) is written as the first target ends, the second refused as the
   * second ends: `onRefused` is called then, while the third is computed — unless the 20-times rule
   * (a checkpoint no sooner than 20 times the last one's write took) skipped that checkpoint: under
   * heavy load the first one's fsync can take longer than a twentieth of the second target, and the
   * run then ends with its table refused. The run is made again then (runPastRefusedCheckpoint), at most 3 times.
   * @param name names the third target, a link to the first (another name: another target)
   */
  function runOncePastRefusedCheckpoint(dir: string, name: string, onRefused: (child: ChildProcess) => void) {
    const out = join(dir, "features.csv");
    const resumeFile = `${out}.resume.json`;
    const third = join(tmp, `${name}-third.wav`);
    symlinkSync(INPUTS[1], third);
    const args = [INPUTS[1], join(FIXTURES, "recordings/XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav"), third, "-j", "1", "--hop-size", "2e-3", "--progress-interval", "0"];
    const child = spawn("sh", ["-c", 'ulimit -f 6 && exec "$@"', "sh", process.execPath, join(ROOT, "bin/sonotile.js"), "extract", ...args, "-o", out, "--checkpoint-interval", "0"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on("close", (code, signal) => done([code, signal])));
    const refused = `sonotile extract: a checkpoint of 2 rows could not be written to ${resumeFile} (cannot write ${resumeFile}: file too large); it keeps its checkpoint of 1 row, and later checkpoints are tried as the run goes (said once)\n`;
    let stderr = "";
    let reached = false;
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr === refused) {
        reached = true;
        onRefused(child);
      }
    });
    const ended = closed.then((end) => ({ end, stderr, reached }));
    return { out, resumeFile, args, refused, ended, kill: () => child.kill("SIGKILL") };
  }

  /** runOncePastRefusedCheckpoint until its second checkpoint is refused while the run goes on (at most 3 runs), `dir` emptied between them. */
  async function runPastRefusedCheckpoint(dir: string, name: string, onRefused: (child: ChildProcess) => void) {
    for (let attempt = 1; ; attempt++) {
      const run = runOncePastRefusedCheckpoint(dir, `${name}-${attempt}`, onRefused);
      let ended;
      try {
        ended = await run.ended;
      } finally {
        run.kill(); // an expectation that fails never leaves the run going
      }
      if (ended.reached || attempt === 3) return { ...run, run: ended };
      rmSync(dir, { recursive: true });
      mkdirSync(dir);
    }
  }

  it("SIGTERM after a checkpoint, the rows since unwritable (a full disk): the line names the checkpoint and its rows, which the resume file holds as written (the failed append cut off); --resume finishes from it, byte for byte the uninterrupted table", async () => {
    const dir = join(tmp, "terminated");
    mkdirSync(dir);
    const { out, resumeFile, args, refused, run } = await runPastRefusedCheckpoint(dir, "terminated", (child) => child.kill("SIGTERM"));
    const stderr = run.stderr;
    expect(run.end, stderr).toEqual([null, "SIGTERM"]);
    expect(stderr).toBe(refused + `sonotile extract: interrupted: 2 of 3 targets were computed but could not all be kept: cannot write ${resumeFile}: file too large; 1 of them is, the run's last checkpoint, in ${resumeFile}; ${out} left as it was; run the same command with --resume to compute the other 2 and write ${out}\n`);
    // The header and the first row, complete: the second's append, cut short by the limit, was cut off.
    const [header, row, end] = readFileSync(resumeFile, "utf8").split("\n");
    expect([JSON.parse(header).kind, end]).toEqual(["sonotile extract --resume", ""]);
    expect(args.slice(0, 2)).toContain(JSON.parse(row).path);
    expect(readdirSync(dir)).toEqual(["features.csv.resume.json"]);

    const resumed = await sonotile([...args, "-o", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`^sonotile extract: 2 targets .*; 1 resumed from ${resumeFile.replace(/[.]/g, "\\.")}; wrote \\S+features\\.csv\\n$`));
    const reference = join(tmp, "unterminated.csv");
    expect((await sonotile([...args, "-o", reference])).code).toBe(0);
    expect(readFileSync(out)).toEqual(readFileSync(reference));
    expect(readdirSync(dir).sort()).toEqual(["features.csv", "features.csv.json"]);
  }, 300_000);

  it("a second signal as the first winds down says what it left — the resume file's rows, those lost since its last write, how to resume — and ends the run by it; --resume finishes from that file, byte for byte the uninterrupted table", async () => {
    const dir = join(tmp, "interrupted-twice");
    mkdirSync(dir);
    // Stopped, the run holds both signals, and takes the second before the first's wind-down ends.
    // Two of one signal would be held as one: the terminal's Ctrl-C and systemd's SIGTERM, then.
    const interruptTwice = (child: ChildProcess) => ["SIGSTOP", "SIGINT", "SIGTERM", "SIGCONT"].forEach((signal) => child.kill(signal as NodeJS.Signals));
    const { out, resumeFile, args, refused, run } = await runPastRefusedCheckpoint(dir, "interrupted-twice", interruptTwice);
    // The system hands the held signals over in either order; the second ends the run.
    const second = run.end[1];
    expect(["SIGINT", "SIGTERM"], run.stderr).toContain(second);
    expect(run.end[0]).toBeNull();
    // Only the first checkpoint was written: the second target's row, computed since, is lost; the third was being computed.
    expect(run.stderr).toBe(refused + `sonotile extract: interrupted again (${second}): stopped at once, no partial table written: 1 of 3 targets is kept in ${resumeFile}; the 1 computed since its last write is lost; ${out} left as it was; run the same command with --resume to compute the other 2 and write ${out}\n`);
    expect(readdirSync(dir)).toEqual(["features.csv.resume.json"]); // no temporary file

    const resumed = await sonotile([...args, "-o", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`^sonotile extract: 2 targets .*; 1 resumed from ${resumeFile.replace(/[.]/g, "\\.")}; wrote \\S+features\\.csv\\n$`));
    const reference = join(tmp, "interrupted-twice-reference.csv");
    expect((await sonotile([...args, "-o", reference])).code).toBe(0);
    expect(readFileSync(out)).toEqual(readFileSync(reference));
    expect(readdirSync(dir).sort()).toEqual(["features.csv", "features.csv.json"]);
  }, 300_000);

  it("an interrupted 0.15.0 run's resume file (one JSON document) is resumed: the table an uninterrupted run writes, byte for byte", async () => {
    const dir = join(tmp, "resume-0.15.0");
    mkdirSync(dir);
    const out = join(dir, "t.csv");
    const settings = { version: VERSION, params: parseParams({}), features: [...FEATURE_NAMES], "clip-start": null, "clip-end": null, "clip-low-freq": null, "clip-high-freq": null, "time-expansion": null, md5: false };
    // As 0.15.0's writeResumeFile wrote it after A: every row in one document, log_mel as an array, non-finite numbers as text.
    const rows = [{ path: A, file: await fileStamp(A), values: { ...library.get(A)!, log_mel: Array.from(library.get(A)!.log_mel) } }];
    writeFileSync(`${out}.resume.json`, JSON.stringify({ kind: "sonotile extract --resume", settings, rows }, (_key, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v)) + "\n");
    const resumed = await sonotile([A, B, "-o", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`^sonotile extract: 1 target .*; 1 resumed from ${out.replace(/[.]/g, "\\.")}\\.resume\\.json; wrote `));
    const reference = join(tmp, "resume-0.15.0-reference.csv");
    expect((await sonotile([A, B, "-o", reference])).code).toBe(0);
    expect(readFileSync(out)).toEqual(readFileSync(reference));
    expect(readdirSync(dir).sort()).toEqual(["t.csv", "t.csv.json"]);
  });

  it("keeps each kept row's MD5 (--md5) in the resume file, so that a resumed table has it", async () => {
    const dir = join(tmp, "resume-md5");
    mkdirSync(dir);
    const out = join(dir, "features.csv");
    const settings = { version: VERSION, params: parseParams({}), features: [...FEATURE_NAMES], "clip-start": null, "clip-end": null, "clip-low-freq": null, "clip-high-freq": null, "time-expansion": null, md5: true };
    const md5 = createHash("md5").update(readFileSync(A)).digest("hex");
    await writeResumeFile(out, settings, [{ path: A, values: library.get(A)!, file: await fileStamp(A), md5 }]);
    expect((await readResumeFile(out, settings))!.rows.get(A)).toMatchObject({ path: A, md5 });
  });

  it("a resume file that cannot be written leaves nothing of the run — a partial table stayed beside -o while the line said the rows could not be kept (1.2 MB of rows on a full disk)", async () => {
    const dir = join(tmp, "interrupted-unkept");
    mkdirSync(dir);
    const out = join(dir, "features.csv");
    // The resume file's path leads into a directory that does not exist: it cannot be written, as on a full disk, while the partial table can.
    symlinkSync(join(dir, "missing", "resume.json"), `${out}.resume.json`);
    const run = await extractUntilCtrlC([...ARGS, "-o", out], dir);
    expect(run.code, run.shown).toBe(130);
    expect(run.shown).toMatch(new RegExp(`sonotile extract: interrupted: [12] of 3 targets were computed but could not be kept: .+; ${out} left as it was\\r?$`, "m"));
    expect(readdirSync(dir)).toEqual(["features.csv.resume.json"]); // the link alone
  });

  it("a partial table that cannot be written: the next runs name the resume file, which holds the rows — they named features.partial.csv, which did not exist", async () => {
    const dir = join(tmp, "interrupted-no-table");
    mkdirSync(dir);
    const out = join(dir, "features.csv");
    const partial = join(dir, "features.partial.csv");
    // The partial table's path leads into a directory that does not exist: it cannot be written, as on a disk the resume file filled, while the resume file can.
    symlinkSync(join(dir, "missing", "partial.csv"), partial);
    const run = await extractUntilCtrlC([...ARGS, "-o", out], dir);
    expect(run.code, run.shown).toBe(130);
    const said = /sonotile extract: interrupted: ([12]) of 3 targets computed, kept for --resume in (\S+); their table (\S+) could not be written: .+; (\S+) left as it was; run the same command with --resume/m.exec(run.shown);
    expect(said, run.shown).not.toBeNull();
    const [, done, resumeFile, table] = said!;
    expect([resumeFile, table]).toEqual([`${out}.resume.json`, partial]);
    expect(readdirSync(dir)).toEqual(["features.csv.resume.json"]); // the partial table's link removed with it
    // Every row the line counts is in the resume file.
    const keptPaths = resumeFilePaths(resumeFile);
    expect([keptPaths.length, keptPaths.every((path) => INPUTS.includes(path))], run.shown).toEqual([Number(done), true]);
    const [leftOut] = keptPaths;

    const forgot = await sonotile([...ARGS, "-o", out]);
    expect(forgot).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: an interrupted run left its rows in ${out}.resume.json: add --resume to finish it, or remove ${out}.resume.json to start over\n` });
    const other = await sonotile([...ARGS, "-o", out, "--resume", "--hop-size", "5e-4"]);
    expect(other).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: --resume: the rows in ${out}.resume.json were computed with --hop-size 0.0004, this run has --hop-size 0.0005; run with the options they were computed with, or remove ${out}.resume.json to start over\n` });
    const fewer = await sonotile([...ARGS.filter((arg) => arg !== leftOut), "-o", out, "--resume"]);
    expect(fewer, run.shown).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: --resume: the rows in ${out}.resume.json include ${leftOut}, which this run does not name; run with the inputs they were computed with, or remove ${out}.resume.json to start over\n` });
    const resumed = await sonotile([...ARGS, "-o", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`; ${done} resumed from ${out}.resume.json; wrote ${out}\n`);
    expect(readdirSync(dir).sort()).toEqual(["features.csv", "features.csv.json"]);
  }, 300_000);

  it("--resume with no resume file computes everything; a resume file that is not one is refused, not taken for rows", async () => {
    const dir = join(tmp, "resume-files");
    mkdirSync(dir);
    const out = join(dir, "t.csv");
    expect((await sonotile([A, "-o", out, "--resume"])).code).toBe(0);
    expect(readCsv(out).rows.map((row) => row[0])).toEqual([A]);
    writeFileSync(`${out}.resume.json`, '{"rows": []}');
    expect(await sonotile([A, "-o", out, "--resume"])).toEqual({ code: 1, stdout: "", stderr: `sonotile extract: ${out}.resume.json is not the resume file of an interrupted sonotile extract; remove it to start over\n` });
  });

  it("a second signal ends the run at once, by that signal, its temporary file removed: a slow wind-down never swallows it", async () => {
    // The first signal goes to the command (extract winds down from it); this one's wind-down never ends.
    const script = `import { onFirstSignal, writeOutputFile } from ${JSON.stringify(join(ROOT, "dist/cli/output-file.js"))};
      import { writeFileSync } from "node:fs";
      onFirstSignal((signal) => process.stdout.write("first " + signal + "\\n"));
      setInterval(() => {}, 1000); // busy for ever
      await writeOutputFile(process.argv[1], (temp) => { writeFileSync(temp, "half"); process.stdout.write("writing\\n"); return new Promise(() => {}); });`;
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      const dir = join(tmp, `second-${signal}`);
      mkdirSync(dir);
      const child = spawn(process.execPath, ["--input-type=module", "-e", script, join(dir, "out.csv")], { stdio: ["ignore", "pipe", "inherit"] });
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on("exit", (code, sig) => done([code, sig])));
      let said = "";
      const saying = (text: string) => Promise.race([
        new Promise<void>((ready) => {
          const check = () => (said.includes(text) ? ready() : child.stdout.once("data", (chunk: Buffer) => ((said += chunk.toString()), check())));
          check();
        }),
        exited.then((end) => Promise.reject(new Error(`ended (${end}) before saying ${JSON.stringify(text)}`))),
      ]);
      try {
        await saying("writing\n");
        child.kill(signal);
        await saying(`first ${signal}\n`);
        expect(readdirSync(dir), signal).toHaveLength(1); // still writing its temporary file
        child.kill(signal);
        const still = new Promise((r) => setTimeout(() => r("still running"), 30_000).unref());
        expect(await Promise.race([exited, still]), signal).toEqual([null, signal]);
        expect(readdirSync(dir), signal).toEqual([]);
      } finally {
        child.kill("SIGKILL");
      }
    }
  }, 120_000);
});
