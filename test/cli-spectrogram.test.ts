// `sonotile spectrogram` end to end (SPEC §8): spawns the built CLI (`npm test` builds first).
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import UPNG from "upng-js";
import { afterAll, describe, expect, it, vi } from "vitest";
import { openAudio } from "../src/audio/index.js";
import { spectrogramOfRecording } from "../src/engine/recording.js";
import { colormapPalette } from "../src/render/colormap.js";
import { command } from "../src/cli/commands/spectrogram.js";
import { UsageError } from "../src/cli/errors.js";
import { ParamsError, parseParams } from "../src/engine/params.js";
import { VERSION } from "../src/engine/version.js";
import { floatWavHeader } from "../src/audio/wavwriter.js";
import { cliRun, runSonotile, type CliRun as Run } from "./cli-helpers.js";
import { firstDifference, pngText } from "./golden.js";
import { fixOggCrc } from "./audio-helpers.js";

/**
 * The in-process runs' MD5s: the real one, unless `held` — then a hash that reads nothing and
 * settles only when its signal aborts, each call's signal kept in `signals` (the hash's reads are
 * the file's whole length: a run must stop the hash it no longer needs, not wait for it).
 */
const hashes = vi.hoisted(() => ({ held: false, signals: [] as (AbortSignal | undefined)[] }));
vi.mock("../src/audio/hash.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../src/audio/hash.js")>();
  return {
    ...real,
    fileMd5: (path: string, options: { signal?: AbortSignal } = {}) => {
      if (!hashes.held) return real.fileMd5(path, options);
      const { signal } = options;
      hashes.signals.push(signal);
      return new Promise<string>((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason), { once: true }));
    },
  };
});

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = resolve(ROOT, "../shared/fixtures");
/** 1 s, 16 kHz, mono: Nyquist 8000 Hz. */
const SHORT = join(FIXTURES, "formats/wav_pcm_16.wav");
/** 2 s of bat calls, 192 kHz, mono. */
const BATS = join(FIXTURES, "recordings/batdetect2_20230322_172000_selec2.wav");
const tmp = mkdtempSync(join(tmpdir(), "sonotile-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sonotile = runSonotile;
/** Runs every case, two processes at a time (the machine has two cores). */
async function sonotileAll(cases: string[][]): Promise<Run[]> {
  const out: Run[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      out[i] = await sonotile(cases[i]);
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}
/** A failure as SPEC §8 wants it: the exit code, one line on stderr, no stack trace, nothing on stdout. */
function expectOneLineError(r: Run, code: number, message: RegExp, what: string) {
  expect(r.code, `${what}: ${r.stderr}`).toBe(code);
  expect(r.stderr, what).toMatch(/^sonotile spectrogram: [^\n]+\n$/);
  expect(r.stderr, what).toMatch(message);
  expect(r.stdout, what).toBe("");
}

/** Runs the command in process: resolves to its exit code or rejects with what main() maps to one. */
const runInProcess = (args: string[]) => command.run(args);
/** What main() turns into exit 2 (usage or parameters). */
const isUsage = (e: unknown) => e instanceof UsageError || e instanceof ParamsError;

// [flags, field the message must name]; SHORT is 16 kHz mono, so Nyquist is 8000 Hz.
const BAD_PARAMETERS: [string[], string][] = [
  [["--resample=maybe"], "resample"],
  [["--samplerate", "0"], "samplerate"],
  [["--samplerate", "44100.5"], "samplerate"],
  [["--low-freq", "-1"], "low_freq"],
  [["--low-freq", "8000"], "low_freq"],
  [["--high-freq", "0"], "high_freq"],
  [["--high-freq", "8001"], "high_freq"],
  [["--resample", "--samplerate", "8000", "--high-freq", "5000"], "high_freq"],
  [["--low-freq", "3000", "--high-freq", "2000"], "high_freq"],
  [["--filter-order", "0"], "filter_order"],
  [["--filter-order", "17"], "filter_order"],
  [["--filter-order", "2.5"], "filter_order"],
  [["--window-size", "0"], "window_size"],
  [["--window-size", "abc"], "window_size"],
  [["--window-size", "0.0001"], "window_size"],
  [["--hop-size", "0"], "hop_size"],
  [["--hop-size", "1.5"], "hop_size"],
  [["--window", "hanning"], "window"],
  [["--kaiser-beta", "0"], "kaiser_beta"],
  [["--scale", "db"], "scale"],
  [["--clamp=2"], "clamp"],
  [["--min-db", "1"], "min_dB"],
  [["--min-db", "-10", "--max-db", "-20"], "min_dB"],
  [["--max-db", "3"], "max_dB"],
  [["--normalize=x"], "normalize"],
  [["--channel", "-1"], "channel"],
  [["--channel", "1"], "channel"],
  [["--cmap", "jet"], "cmap"],
  [["--pcen=x"], "pcen"],
  [["--pcen-smooth", "0"], "pcen_smooth"],
  [["--pcen-smooth", "1"], "pcen_smooth"],
  [["--pcen-gain", "-0.1"], "pcen_gain"],
  [["--pcen-bias", "0"], "pcen_bias"],
  [["--pcen-power", "0"], "pcen_power"],
  [["--pcen-eps", "0"], "pcen_eps"],
  [["--time-expansion", "0"], "--time-expansion"],
  [["--start", "-1"], "--start"],
  [["--start", "2", "--end", "1"], "--end"],
  // 16000 → 262147 Hz reduces to 262147/16000: a longer resample_poly filter than the limit allows.
  [["--resample", "--samplerate", "262147"], "samplerate"],
  // Tiny and huge values whose products leave float64 (16000 Hz × 5e-324 = 7.9e-320 Hz, which no
  // window_size could sample) are blamed on the field that caused them, not on the one that failed.
  [["--time-expansion", "5e-324"], "time_expansion"],
  [["--time-expansion", "1e308"], "time_expansion"],
  [["--window-size", "1e-320"], "window_size"],
  [["--window-size", "1e308"], "window_size"],
  [["--hop-size", "1e-320"], "hop_size"],
  // An edge so close to 0 Hz that the Butterworth filter's start-up state divides by zero: every
  // sample came out NaN, refused as the audio's fault (exit 1).
  [["--low-freq", "1e-320"], "low_freq"],
  [["--high-freq", "1e-320"], "high_freq"],
  [["--low-freq", "1e-5", "--high-freq", "4000"], "low_freq"],
  // PCEN constants outside float32's normal range (the core's arithmetic): every value came out
  // the same overflowed number (+385 dB for pcen_power 1e308, +1158 dB for pcen_bias 1e-320).
  [["--pcen-power", "1e308"], "pcen_power"],
  [["--pcen-bias", "1e-30", "--pcen-power", "2"], "pcen_power"],
  [["--pcen-bias", "1e-320"], "pcen_bias"],
  [["--pcen-bias", "1e39"], "pcen_bias"],
  [["--pcen-bias", "1", "--pcen-power", "1e308"], "pcen_power"],
  [["--pcen-gain", "1e39"], "pcen_gain"],
  // bias^power in range, but the PCEN values themselves leave float32 (found by the engine).
  [["--pcen-bias", "1.01", "--pcen-power", "1000"], "pcen_power"],
  [["--min-db", "-50", "--max-db", "-50"], "min_dB"],
];
/** The field at the start of an issue or in its flag spelling: "min_dB (--min-db): …", "--start: …". */
const namesField = (field: string) => new RegExp(`(^|[ (;])${field}[ :)]`);

describe("sonotile spectrogram: bad parameters (one per SPEC §2 constraint) are usage errors naming the field", () => {
  it.each(BAD_PARAMETERS)("%j → %s", async (flags, field) => {
    const out = join(tmp, "bad.npy");
    const err = await runInProcess([SHORT, "-o", out, ...flags]).then(() => null, (e: unknown) => e);
    expect(isUsage(err), String(err)).toBe(true);
    expect((err as Error).message).toMatch(namesField(field));
    expect(existsSync(out)).toBe(false);
  });

  it("exit 2 from the built CLI, one line naming the field (and its flag), no stack trace", async () => {
    const picks = [BAD_PARAMETERS[23], BAD_PARAMETERS[22], BAD_PARAMETERS[26]]; // schema, cross-field, recording
    const runs = await sonotileAll(picks.map(([flags]) => ["spectrogram", SHORT, "-o", join(tmp, "bad.npy"), ...flags]));
    runs.forEach((r, i) => expectOneLineError(r, 2, namesField(picks[i][1]), picks[i][0].join(" ")));
    expect(runs[0].stderr).toBe("sonotile spectrogram: max_dB (--max-db): must be <= 0\n");
  });
});

describe("sonotile spectrogram: usage and input errors", () => {
  const USAGE: [string[], RegExp][] = [
    [[SHORT, "-o", "u.png", "--windw", "hann"], /unknown flag '--windw'/],
    [[SHORT], /-o\/--output FILE is required/],
    [[SHORT, "-o", "x.jpg"], /unknown output format '\.jpg'/],
    [[SHORT, "-o", "x"], /unknown output format/],
    [["-o", "u.png"], /expects one audio file, got 0/],
    [[SHORT, SHORT, "-o", "u.png"], /expects one audio file, got 2/],
    // Read as parameter values are: Number() takes hex, octal and binary.
    [[SHORT, "-o", "u.npy", "--start", "0x1"], /^--start: must be a number >= 0, got '0x1'$/],
    [[SHORT, "-o", "u.npy", "--end", "0b1"], /^--end: must be a number > 0 \(the start; leave --end out to read to the recording's end\), got '0b1'$/],
    [[SHORT, "-o", "u.npy", "--start", "1", "--end", "Infinity"], /^--end: must be a number > 1 \(the start; leave --end out to read to the recording's end\), got 'Infinity'$/],
    [[SHORT, "-o", "u.npy", "--start", "5"], /^--start: no frame is centred in \[5, end\) s \(the recording has \d+ frames, [\d.]+ s apart, the last centred at [\d.]+ s\)$/],
    // Times typed as a player shows the file as stored: past a time-expanded recording's real end, said so.
    [[SHORT, "-o", "u.npy", "--time-expansion", "10", "--start", "1"], /^--start: no frame is centred in \[1, end\) s \(.*\); times are real seconds: time expansion 10 \(--time-expansion\) makes the file's 1 s last 0\.1 s$/],
  ];
  it.each(USAGE)("%j is a usage error: %s", async (args, message) => {
    const err = await runInProcess(args.map((a) => (a.includes(".") && a !== SHORT ? join(tmp, a) : a))).then(() => null, (e: unknown) => e);
    expect(isUsage(err), String(err)).toBe(true);
    expect((err as Error).message).toMatch(message);
  });

  it("exit 2 from the built CLI for an unknown flag and a missing -o", async () => {
    const picks = [USAGE[0], USAGE[1]];
    const runs = await sonotileAll(picks.map(([args]) => ["spectrogram", ...args.map((a) => (a.includes(".") && a !== SHORT ? join(tmp, a) : a))]));
    runs.forEach((r, i) => expectOneLineError(r, 2, picks[i][1], picks[i][0].join(" ")));
  });

  it("missing, garbage, empty, truncated or directory input: an input error (exit 1) with a one-line message", async () => {
    const garbage = join(tmp, "garbage.wav");
    writeFileSync(garbage, Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 255));
    const empty = join(tmp, "empty.wav");
    writeFileSync(empty, new Uint8Array(0));
    const truncated = join(tmp, "truncated.wav");
    writeFileSync(truncated, readFileSync(SHORT).subarray(0, 30));
    for (const input of [join(tmp, "missing.wav"), garbage, empty, truncated, tmp]) {
      const err = await runInProcess([input, "-o", join(tmp, "in.npy")]).then(() => null, (e: unknown) => e);
      expect(err, input).toBeInstanceOf(Error);
      expect(isUsage(err), input).toBe(false);
      expect((err as Error & { exitCode?: number }).exitCode ?? 1, input).toBe(1);
      expect((err as Error).message, input).toMatch(/^[^\n]+$/);
    }
    const runs = await sonotileAll([join(tmp, "missing.wav"), garbage].map((f) => ["spectrogram", f, "-o", join(tmp, "in.npy")]));
    runs.forEach((r) => expectOneLineError(r, 1, /\S/, r.stderr));
    expect(runs[0].stderr).toContain("missing.wav");
  });

  it("a recording that fails while its numbers are written: the reader's error (exit 1), not an output error, and no partial file", async () => {
    const cut = join(tmp, "cut.flac");
    writeFileSync(cut, readFileSync(join(FIXTURES, "formats/flac_pcm_16.flac")).subarray(0, 15000));
    const out = join(tmp, "cut.npy");
    const r = await sonotile(["spectrogram", cut, "-o", out, "--window-size", "0.01"]);
    expectOneLineError(r, 1, /flac: stream ends at frame 4096, the header says 16000/, "truncated FLAC");
    expect(r.stderr).not.toMatch(/cannot write/);
    expect(existsSync(out)).toBe(false);
    const unwritable = await sonotile(["spectrogram", SHORT, "-o", join(tmp, "no-such-dir", "x.npy")]);
    expectOneLineError(unwritable, 1, /cannot write .*no-such-dir.*: no such directory\n$/, "unwritable output");
    // Found before any work, as extract finds it — before the input is even opened (this one does
    // not exist): a file on the -o path, for both commands that write one.
    const onFile = join(SHORT, "x.npy");
    for (const cmd of ["spectrogram", "decode"]) {
      expect(await sonotile([cmd, join(tmp, "missing.wav"), "-o", onFile]), cmd).toEqual({ code: 1, stdout: "", stderr: `sonotile ${cmd}: cannot write ${onFile}: not a directory (a file on its path)\n` });
    }
  });

  it("a float recording holding a NaN: exit 1 with one line naming where, no output", async () => {
    const x = Float32Array.from({ length: 8000 }, (_, i) => 0.5 * Math.sin(i / 5));
    x[4000] = NaN;
    const nan = join(tmp, "nan.wav");
    writeFileSync(nan, Buffer.concat([floatWavHeader(x.length, 1, 8000), new Uint8Array(x.buffer)]));
    const out = join(tmp, "nan.png");
    const r = await sonotile(["spectrogram", nan, "-o", out]);
    expectOneLineError(r, 1, /the samples hold NaN \(first at 0\.5 s, sample 4000 of the signal analysed\)/, "NaN sample");
    expect(r.stderr).toContain(`${nan}: the samples hold NaN`); // which file, as the reader's own errors say
    expect(existsSync(out)).toBe(false);
  });

  it("a float recording holding a value whose power overflows float32: exit 1 with one line naming the file, the value and where, no output", async () => {
    // It said "sample values reach 1.00e+30: their power overflows float32", naming no position.
    const x = Float32Array.from({ length: 8000 }, (_, i) => 0.5 * Math.sin(i / 5));
    x[6000] = 1e30;
    const loud = join(tmp, "loud.wav");
    writeFileSync(loud, Buffer.concat([floatWavHeader(x.length, 1, 8000), new Uint8Array(x.buffer)]));
    const out = join(tmp, "loud.png");
    const r = await sonotile(["spectrogram", loud, "-o", out]);
    expectOneLineError(r, 1, /the samples hold 1\.00e\+30 \(first at 0\.75 s, sample 6000 of the signal analysed\): their power overflows float32/, "overflowing sample");
    expect(r.stderr).toContain(`${loud}: the samples hold 1.00e+30`);
    expect(existsSync(out)).toBe(false);
  });

  it("-o naming the input through a link: exit 2, the input intact; a late failure leaves an existing output as it was", async () => {
    const input = join(tmp, "aud.f32"); // a WAV whose name carries an output extension
    writeFileSync(input, readFileSync(SHORT));
    const link = join(tmp, "aud-link.wav");
    symlinkSync(input, link);
    const same = await sonotile(["spectrogram", link, "-o", input]);
    expectOneLineError(same, 2, /-o .*aud\.f32: is the input file/, "output onto its own input");
    expect(readFileSync(input).equals(readFileSync(SHORT))).toBe(true);
    const cut = join(tmp, "cut-late.flac");
    writeFileSync(cut, readFileSync(join(FIXTURES, "formats/flac_pcm_16.flac")).subarray(0, 15000));
    const kept = join(tmp, "kept.npy");
    writeFileSync(kept, "an earlier output");
    expectOneLineError(await sonotile(["spectrogram", cut, "-o", kept, "--window-size", "0.01"]), 1, /flac: stream ends/, "truncated FLAC over an existing output");
    expect(readFileSync(kept, "utf8")).toBe("an earlier output");
  });

  it("a recording without samples, and a corrupt Opus stream: exit 1 with one line (decoder chatter not passed through)", async () => {
    const silent = join(tmp, "no-samples.wav");
    writeFileSync(silent, floatWavHeader(0, 1, 48000));
    const corrupt = join(tmp, "corrupt.ogg");
    const opus = new Uint8Array(readFileSync(join(FIXTURES, "formats/ogg_opus.ogg")));
    // The packets of the audio page (the last, after the two header pages) made 0xff bytes — TOC
    // bytes announcing 63 frames — and its CRC made to match so that the decoder gets them: libopus
    // rejects the packets and prints a line per packet to the console.
    const page = Buffer.from(opus).lastIndexOf("OggS");
    opus.fill(0xff, page + 27 + opus[page + 26]);
    fixOggCrc(opus, page);
    writeFileSync(corrupt, opus);
    const [empty, bad] = await sonotileAll([silent, corrupt].map((f) => ["spectrogram", f, "-o", join(tmp, "none.npy")]));
    expectOneLineError(empty, 1, /no-samples\.wav: the recording holds no samples/, "no samples");
    expectOneLineError(bad, 1, new RegExp(`^sonotile spectrogram: ${corrupt}: opus: corrupt stream: cannot decode the audio after frame 0\\n$`), "corrupt opus");
  });

  it("a recording too short for the band filter: exit 2 naming the edge's field, as the other limits that depend on the recording", async () => {
    const short = join(tmp, "ten-samples.wav");
    writeFileSync(short, Buffer.concat([floatWavHeader(10, 1, 8000), new Uint8Array(new Float32Array(10).fill(0.25).buffer)]));
    const r = await sonotile(["spectrogram", short, "-o", join(tmp, "ten.npy"), "--low-freq", "100"]);
    expectOneLineError(r, 2, /^sonotile spectrogram: low_freq \(--low-freq\): recording of 10 samples is too short for this filter: it needs more than 18 \(sosfiltfilt's pad length\): use a lower filter_order, or no low_freq\n$/, "too short for the filter");
  });

  it("a file size limit reached by the last row's write fails the run naming -o (exit 1), leaving nothing — the short write was taken for whole, exit 0", async () => {
    const dir = join(tmp, "limited");
    mkdirSync(dir);
    const out = join(dir, "s.npy");
    // SHORT's numbers are 65,252 bytes written row by row; a limit of 65,024 (127 blocks of 512) falls in the last row.
    const limited = await new Promise<Run>((done) => {
      execFile("sh", ["-c", 'ulimit -f 127 && exec "$@"', "sh", process.execPath, join(ROOT, "bin/sonotile.js"), "spectrogram", SHORT, "-o", out], (err, stdout, stderr) => done(cliRun(err, stdout, stderr)));
    });
    expect(limited).toEqual({ code: 1, stdout: "", stderr: `sonotile spectrogram: cannot write ${out}: file too large\n` });
    expect(readdirSync(dir)).toEqual([]);
  });

  it("prints a stack trace only with --verbose", async () => {
    const r = await sonotile(["spectrogram", join(tmp, "missing.wav"), "-o", join(tmp, "v.npy"), "--verbose"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it("--help lists every flag and exits 0", async () => {
    const r = await sonotile(["spectrogram", "--help"]);
    expect(r.code).toBe(0);
    for (const flag of ["--output", "--start", "--end", "--fmin", "--fmax", "--height", "--time-expansion", "--window-size", "--min-db", "--no-pcen", "--pcen-eps", "--cmap"]) {
      expect(r.stdout).toContain(flag);
    }
  });
});

/** Reads a float32 .npy written by the CLI: shape from the header, data after it. */
function readNpy(bytes: Uint8Array): { shape: number[]; data: Float32Array } {
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
  expect(header).toMatch(/'descr': '<f4', 'fortran_order': False/);
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1].split(",").filter((s) => s.trim()).map(Number);
  const body = new Uint8Array(bytes.subarray(10 + headerLength)); // a copy: Buffers share a pool
  return { shape, data: new Float32Array(body.buffer) };
}

describe("sonotile spectrogram: outputs equal the engine's", () => {
  const flags = ["--window-size", "0.002", "--hop-size", "0.25", "--window", "kaiser", "--kaiser-beta", "8", "--min-db", "-90", "--clamp", "--cmap", "magma", "--start", "0.5", "--end", "1.25"];
  const params = { window_size: 0.002, hop_size: 0.25, window: "kaiser", kaiser_beta: 8, min_dB: -90, clamp: true, cmap: "magma" } as const;

  it("writes .npy, .f32 and .png of a piece with the engine's values and geometry", async () => {
    const [npy, f32, png] = ["npy", "f32", "png"].map((ext) => join(tmp, `bats.${ext}`));
    const runs = await sonotileAll([npy, png].map((o) => ["spectrogram", BATS, "-o", o, ...flags]));
    for (const r of runs) expect(r, r.stderr).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(await runInProcess([BATS, "-o", f32, ...flags])).toBe(0);

    const reader = await openAudio(BATS);
    const s = await spectrogramOfRecording(reader, params, { start: 0.5, end: 1.25 }).finally(() => reader.close());
    // nperseg = floor(0.002 · 192000) = 384 → 193 bins; hop 96 samples = 0.5 ms → 1500 frames in 0.75 s
    expect([s.bins, s.frames, s.hop, s.firstFrame]).toEqual([193, 1500, 96, 1000]);

    const n = readNpy(readFileSync(npy));
    expect(n.shape).toEqual([s.bins, s.frames]);
    expect(firstDifference(n.data, s.data)).toBe(-1);
    expect(firstDifference(new Float32Array(new Uint8Array(readFileSync(f32)).buffer), s.data)).toBe(-1);

    const img = UPNG.decode(new Uint8Array(readFileSync(png)).buffer);
    expect([img.width, img.height]).toEqual([s.frames, s.bins]);
    const rgba = new Uint8Array(UPNG.toRGBA8(img)[0]);
    const pal = colormapPalette("magma");
    const [lo, hi] = s.valueRange;
    expect([lo, hi]).toEqual([-90, 0]);
    let mismatches = 0;
    for (let row = 0; row < s.bins; row++) {
      const bin = s.bins - 1 - row; // top row = highest frequency
      for (let t = 0; t < s.frames; t++) {
        const x = s.data[bin * s.frames + t];
        const k = Math.min(Math.floor(Math.min(Math.max((x - lo) / (hi - lo), 0), 1) * 256), 255);
        const p = 4 * (row * s.frames + t);
        if (rgba[p] !== pal[3 * k] || rgba[p + 1] !== pal[3 * k + 1] || rgba[p + 2] !== pal[3 * k + 2] || rgba[p + 3] !== 255) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });
});


describe("sonotile spectrogram: a band (--fmin, --fmax, --height), as the one-shot image's rows", () => {
  // 384-point FFTs at 192 kHz: 193 bins 500 Hz apart; the frames centred in [0.5, 1) s are 500 … 999.
  const flags = ["--window-size", "0.002", "--start", "0.5", "--end", "1"];

  /** Rows [k0, k1) of a [bins][columns] matrix, merged into `rows` rows by their maximum (row r: bins k0 + floor(r·n/rows) …), as a tile's. */
  const rowsOf = (whole: Float32Array, columns: number, k0: number, k1: number, rows: number) => {
    const out = new Float32Array(rows * columns);
    const n = k1 - k0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < columns; c++) {
        let m = -Infinity;
        for (let k = k0 + Math.floor((r * n) / rows); k < k0 + Math.floor(((r + 1) * n) / rows); k++) m = Math.max(m, whole[k * columns + c]);
        out[r * columns + c] = m;
      }
    }
    return out;
  };

  it("writes the rows of the uncropped output within [fmin, fmax], merged (maximum) into --height rows: exactly, in .npy, .f32 and .png, their shape and sidecar saying so", async () => {
    const dir = join(tmp, "band");
    mkdirSync(dir);
    const whole = join(dir, "whole.npy");
    expect(await runInProcess([BATS, "-o", whole, ...flags])).toBe(0);
    const w = readNpy(readFileSync(whole));
    expect(w.shape).toEqual([193, 500]);
    // 19.9 kHz … 60.1 kHz: bins 40 (20 kHz) … 120 (60 kHz), 81 bins; in 25 rows, 3 or 4 bins each.
    const cases: [string[], number, number, number][] = [[["--fmin", "19900", "--fmax", "60100"], 40, 121, 81], [["--fmin", "19900", "--fmax", "60100", "--height", "25"], 40, 121, 25],
      [["--height", "7"], 0, 193, 7], [["--fmin", "0", "--fmax", "0"], 0, 1, 1], [["--fmax", "1e6"], 0, 193, 193]];
    for (const [band, k0, k1, rows] of cases) {
      const out = join(dir, "band.npy");
      expect(await runInProcess([BATS, "-o", out, ...flags, ...band])).toBe(0);
      const n = readNpy(readFileSync(out));
      expect(n.shape, band.join(" ")).toEqual([rows, 500]);
      expect(firstDifference(n.data, rowsOf(w.data, 500, k0, k1, rows)), band.join(" ")).toBe(-1);
    }
    const band = ["--fmin", "19900", "--fmax", "60100", "--height", "25"];
    const expected = rowsOf(w.data, 500, 40, 121, 25);
    const [f32, png] = [join(dir, "band.f32"), join(dir, "band.png")];
    expect(await runInProcess([BATS, "-o", f32, ...flags, ...band])).toBe(0);
    expect(firstDifference(new Float32Array(new Uint8Array(readFileSync(f32)).buffer), expected)).toBe(-1);
    // The sidecar says which rows were written: given band, rows, the bins they span, Hz of the lowest and highest bin.
    const sidecar = JSON.parse(readFileSync(`${f32}.json`, "utf8")).sonotile;
    expect([sidecar.fmin, sidecar.fmax, sidecar.height]).toEqual([19900, 60100, 25]);
    expect(sidecar.geometry).toMatchObject({ bins: 193, rows: 25, bins_per_row: 3.24, frequency_range: [20000, 60000], bin_hz: 500 });
    expect(JSON.parse(readFileSync(`${dir}/whole.npy.json`, "utf8")).sonotile).toMatchObject({ fmin: null, fmax: null, height: null, geometry: { rows: 193, bins_per_row: 1, frequency_range: [0, 96000] } });

    expect(await runInProcess([BATS, "-o", png, ...flags, ...band])).toBe(0);
    const img = UPNG.decode(new Uint8Array(readFileSync(png)).buffer);
    expect([img.width, img.height]).toEqual([500, 25]);
    const rgba = new Uint8Array(UPNG.toRGBA8(img)[0]);
    const pal = colormapPalette("gray");
    const [lo, hi] = JSON.parse(pngText(readFileSync(png)).sonotile).value_range;
    let mismatches = 0;
    for (let row = 0; row < 25; row++) {
      for (let t = 0; t < 500; t++) {
        const x = expected[(24 - row) * 500 + t]; // top row = highest frequency
        const k = Math.min(Math.floor(Math.min(Math.max((x - lo) / (hi - lo), 0), 1) * 256), 255);
        if (rgba[4 * (row * 500 + t)] !== pal[3 * k]) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });

  // [flags, message]: the one-shot image route's fields and words (test/api-tiles.test.ts), each with its flag. SHORT: 16 kHz, 201 bins 40 Hz apart.
  const BAD_BANDS: [string[], string][] = [
    [["--fmin", "abc"], "fmin (--fmin): must be a number"],
    [["--fmin", "-1"], "fmin (--fmin): must be >= 0"],
    [["--fmax", "0x10"], "fmax (--fmax): must be a number"],
    [["--height", "0"], "height (--height): must be > 0"],
    [["--height", "1.5"], "height (--height): must be an integer"],
    [["--height", "100000"], "height (--height): must be <= 201 (the bins in the band)"],
    [["--fmin", "3000", "--fmax", "2000"], "fmax (--fmax): must be >= fmin (3000 Hz)"],
    [["--fmin", "30000"], "fmin (--fmin): no frequency bin lies in [30000, 8000] Hz (bins are 40 Hz apart)"],
    [["--fmin", "10", "--fmax", "20"], "fmin (--fmin): no frequency bin lies in [10, 20] Hz (bins are 40 Hz apart)"],
    [["--fmin", "1000", "--fmax", "1100", "--height", "4"], "height (--height): must be <= 3 (the bins in the band)"],
  ];
  it.each(BAD_BANDS)("%j is a usage error: %s", async (band, message) => {
    for (const ext of ["npy", "png"]) {
      const out = join(tmp, `bad-band.${ext}`);
      const err = await runInProcess([SHORT, "-o", out, ...band]).then(() => null, (e: unknown) => e);
      expect(isUsage(err), String(err)).toBe(true);
      expect((err as Error).message).toBe(message);
      expect(existsSync(out)).toBe(false);
    }
  });

  it("exit 2 from the built CLI, one line naming the flag", async () => {
    const runs = await sonotileAll([BAD_BANDS[1], BAD_BANDS[5]].map(([band]) => ["spectrogram", SHORT, "-o", join(tmp, "bad-band.npy"), ...band]));
    expect(runs).toEqual([{ code: 2, stdout: "", stderr: `sonotile spectrogram: ${BAD_BANDS[1][1]}\n` }, { code: 2, stdout: "", stderr: `sonotile spectrogram: ${BAD_BANDS[5][1]}\n` }]);
  });
});

describe("sonotile spectrogram: what made it", () => {
  it("says so with the output — version, the file's MD5, every SPEC §2 parameter with its defaults, the piece's frames and axes — in the PNG's text and a .json beside .npy and .f32", async () => {
    const dir = join(tmp, "provenance");
    mkdirSync(dir);
    const flags = ["--window-size", "0.002", "--no-pcen", "--cmap", "viridis", "--start", "0.5", "--end", "1"];
    const outputs = ["png", "npy", "f32"].map((ext) => join(dir, `bats.${ext}`));
    for (const r of await sonotileAll(outputs.map((o) => ["spectrogram", BATS, "-o", o, ...flags]))) expect(r, r.stderr).toEqual({ code: 0, stdout: "", stderr: "" });
    // nperseg = floor(0.002 · 192000) = 384, hop 192 = 1 ms: the frames centred in [0.5, 1) s are 500 … 999.
    const made = {
      version: VERSION,
      source: { path: BATS, md5: createHash("md5").update(readFileSync(BATS)).digest("hex"), time_expansion: 1 },
      params: parseParams({ window_size: 0.002, pcen: false, cmap: "viridis" }),
      start: 0.5,
      end: 1,
      fmin: null,
      fmax: null,
      height: null,
      frames: [500, 1000],
      geometry: { samplerate: 192000, nperseg: 384, noverlap: 192, hop: 192, bins: 193, first_frame_seconds: 0.5, hop_seconds: 0.001, bin_hz: 500, rows: 193, bins_per_row: 1, frequency_range: [0, 96000] },
    };
    expect(Object.keys(made.params)).toHaveLength(22);
    const text = pngText(readFileSync(outputs[0]));
    expect(text.Software).toBe(`sonotile ${VERSION}`);
    expect(JSON.parse(text.sonotile)).toEqual({ ...made, value_range: [-100, 0] });
    // The .npy and the .f32 have a sidecar each (one stem, never one file), with the same content.
    for (const sidecar of ["bats.npy.json", "bats.f32.json"]) expect(JSON.parse(readFileSync(join(dir, sidecar), "utf8")), sidecar).toEqual({ sonotile: made });
    expect(readdirSync(dir).sort()).toEqual(["bats.f32", "bats.f32.json", "bats.npy", "bats.npy.json", "bats.png"]);
  });

  it("a file at the sidecar's path that is not a sonotile sidecar is refused before any work (exit 2, naming it) and left as it was", async () => {
    const dir = join(tmp, "foreign");
    mkdirSync(dir);
    const notes = '{"comment": "my own notes on rec.npy"}';
    for (const ext of ["npy", "f32"]) {
      const out = join(dir, `rec.${ext}`);
      writeFileSync(`${out}.json`, notes);
      expect(await sonotile(["spectrogram", SHORT, "-o", out]), ext).toEqual({ code: 2, stdout: "", stderr: `sonotile spectrogram: -o ${out}: its sidecar ${out}.json exists and is not a sonotile sidecar (no "sonotile" key); move it or choose another -o\n` });
      expect(readFileSync(`${out}.json`, "utf8")).toBe(notes);
    }
    expect(readdirSync(dir).sort()).toEqual(["rec.f32.json", "rec.npy.json"]);
  });

  it("a run refused after the file is opened (no frame in --start/--end) stops the MD5 it began, rather than waiting for the whole file to be read", async () => {
    hashes.held = true;
    hashes.signals.length = 0;
    try {
      const err = await runInProcess([BATS, "-o", join(tmp, "never.npy"), "--start", "5"]).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(/^--start: no frame is centred/);
    } finally {
      hashes.held = false;
    }
    expect(hashes.signals).toHaveLength(1);
    expect(hashes.signals[0]?.aborted).toBe(true);
    expect(existsSync(join(tmp, "never.npy.json"))).toBe(false);
  });
});

describe("sonotile spectrogram: long outputs", () => {
  /** 1 s at 384 kHz: the default 25 ms window gives nperseg 9600, 4801 bins. */
  const BAT_384K = join(FIXTURES, "recordings/XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav");

  it("streams numbers block by block into their places: .npy and .f32 equal the engine's whole piece", async () => {
    // hop 1 % of the window → 96 samples, 4029 frames × 4801 bins: more than one 64 MB block.
    const flags = ["--hop-size", "0.01", "--no-pcen", "--end", "1"];
    const [npy, f32] = ["npy", "f32"].map((ext) => join(tmp, `long.${ext}`));
    const runs = await sonotileAll([npy, f32].map((o) => ["spectrogram", BAT_384K, "-o", o, ...flags]));
    for (const r of runs) expect(r, r.stderr).toEqual({ code: 0, stdout: "", stderr: "" });
    const reader = await openAudio(BAT_384K);
    const s = await spectrogramOfRecording(reader, { hop_size: 0.01, pcen: false }, { end: 1 }).finally(() => reader.close());
    expect(s.bins * s.frames).toBeGreaterThan(1 << 24);
    const n = readNpy(readFileSync(npy));
    expect(n.shape).toEqual([s.bins, s.frames]);
    expect(firstDifference(n.data, s.data)).toBe(-1);
    expect(firstDifference(new Float32Array(new Uint8Array(readFileSync(f32)).buffer), s.data)).toBe(-1);
  });

  it("refuses an image over the pixel limit (exit 2, naming it) before computing anything, and writes no file", async () => {
    const png = join(tmp, "huge.png");
    // hop 1e-6 of the window → 1 sample: 386 673 frames × 4801 bins ≈ 1.9 G pixels.
    const r = await sonotile(["spectrogram", BAT_384K, "-o", png, "--hop-size", "1e-6"]);
    expectOneLineError(r, 2, /386673 × 4801 = 1856417073 pixels \(columns × rows\); the limit is 268435455: draw fewer rows \(--height, --fmin\/--fmax\)/, "huge image");
    expect(existsSync(png)).toBe(false);
    // The rows counted are those drawn, after the band's crop (a --height of 1000 still leaves it over the limit).
    const merged = await runInProcess([BAT_384K, "-o", png, "--hop-size", "1e-6", "--height", "1000"]).then(() => null, (e: unknown) => e);
    expect(merged).toBeInstanceOf(UsageError);
    expect((merged as Error).message).toMatch(/^the image would be 386673 × 1000 = 386673000 pixels \(columns × rows\)/);
    expect(existsSync(png)).toBe(false);
    // 2^28 pixels exactly: the colours' values, 4 bytes a pixel, are one block the DSP core's
    // allocator refuses (1 GiB less 4 bytes at most) — the image was computed for a minute, then
    // the command failed with the core's "1073741824 bytes is over the DSP core's largest block" (exit 1).
    const atTwo28 = await runInProcess([BAT_384K, "-o", png, "--hop-size", "1e-6", "--height", "1024", "--start", "0", "--end", "0.682666"]).then(() => null, (e: unknown) => e);
    expect(atTwo28).toBeInstanceOf(UsageError);
    expect((atTwo28 as Error).message).toMatch(/^the image would be 262144 × 1024 = 268435456 pixels \(columns × rows\); the limit is 268435455: /);
    expect(existsSync(png)).toBe(false);
  });

  it("a header claiming more audio than the stream holds, drawn as a PNG: the file's error (exit 1), not the image size's (exit 2)", async () => {
    // flac_pcm_16.flac with STREAMINFO's 36-bit total sample count (body bits 108–143; the body
    // starts at byte 8) set to 2^36 − 1: an image of that would be far over the pixel limit.
    const lying = readFileSync(join(FIXTURES, "formats/flac_pcm_16.flac"));
    lying[8 + 13] |= 0x0f;
    lying.fill(0xff, 8 + 14, 8 + 18);
    const input = join(tmp, "lying.flac");
    writeFileSync(input, lying);
    const err = await runInProcess([input, "-o", join(tmp, "lying.png")]).then(() => null, (e: unknown) => e);
    expect(isUsage(err)).toBe(false);
    expect((err as Error & { exitCode?: number }).exitCode ?? 1).toBe(1);
    expect((err as Error).message).toMatch(/^\S*lying\.flac: flac: stream ends at frame 16000, the header says 68719476735 \(truncated, or corrupt from there\?\)$/);
    expect(existsSync(join(tmp, "lying.png"))).toBe(false);
  });

  it("interrupted while writing (Ctrl-C, kill): the temporary file is removed, an existing output kept, and the process dies of the signal", async () => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const dir = join(tmp, `interrupted-${signal}`);
      mkdirSync(dir);
      const out = join(dir, "big.f32");
      writeFileSync(out, "an earlier output");
      // hop 1 sample: 386 673 frames × 4801 bins, 7.4 GB (sparse while its rows fill): minutes of work.
      const child = spawn(process.execPath, [join(ROOT, "bin/sonotile.js"), "spectrogram", BAT_384K, "-o", out, "--hop-size", "1e-6", "--no-pcen"], { stdio: "ignore" });
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on("exit", (code, sig) => done([code, sig])));
      try {
        const partial = `.big.f32.${child.pid}.partial`;
        for (let t = 0; !readdirSync(dir).includes(partial); t++) {
          if (t > 1500) throw new Error(`${partial} never appeared`);
          await new Promise((r) => setTimeout(r, 20));
        }
        child.kill(signal);
        // Killed by the signal itself, as without a handler: a shell reports 130 and 143.
        expect(await exited, signal).toEqual([null, signal]);
        expect(readdirSync(dir), signal).toEqual(["big.f32"]);
        expect(readFileSync(out, "utf8"), signal).toBe("an earlier output");
      } finally {
        child.kill("SIGKILL");
      }
    }
  }, 60_000);

  it("interrupted while checking that -o can be written: the probe file is removed too", async () => {
    // The check creates and removes the temporary file the output will be written to; a loop of
    // checks spends most of its time between the two. Before the probe was watched, a signal
    // there left `.out.f32.<pid>.partial` behind in most of these runs; before the handlers
    // stayed installed, a signal arriving as the last file was unwatched was lost.
    const script = `import { checkOutputWritable } from ${JSON.stringify(join(ROOT, "dist/cli/output-file.js"))};
      process.stdout.write("ready\\n");
      for (;;) await checkOutputWritable(process.argv[1]);`;
    for (let run = 0; run < 8; run++) {
      const dir = join(tmp, `probe-${run}`);
      mkdirSync(dir);
      const child = spawn(process.execPath, ["--input-type=module", "-e", script, join(dir, "out.f32")], { stdio: ["ignore", "pipe", "inherit"] });
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on("exit", (code, sig) => done([code, sig])));
      try {
        await new Promise((ready) => child.stdout.once("data", ready));
        await new Promise((r) => setTimeout(r, 20 + 7 * run));
        child.kill("SIGINT");
        // A signal caught while no file was watched was once swallowed: the loop ran on.
        const still = new Promise((r) => setTimeout(() => r("still running"), 10_000));
        expect(await Promise.race([exited, still]), `run ${run}`).toEqual([null, "SIGINT"]);
        expect(readdirSync(dir), `run ${run}`).toEqual([]);
      } finally {
        child.kill("SIGKILL");
      }
    }
  }, 60_000);
});
