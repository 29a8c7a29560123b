/**
 * `sonotile decode` and `sonotile info` end to end (SPEC §8): outputs checked against libsndfile's
 * golden digests (scripts/golden_audio.py), exit codes 0/1/2 with one-line messages.
 * Runs the CLI from source through tsx, so it does not depend on a build.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decode } from "../src/audio/index.js";
import { durationText } from "../src/audio/types.js";
import { encodeWav16 } from "../src/demo/wav.js";
import { spectrogram } from "../src/engine/spectrogram.js";
import { featuresOfFile } from "../src/features/features.js";
import { probeFile } from "../src/store/probe.js";
import { cliRun, runSonotile, type CliRun } from "./cli-helpers.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const FIXTURES = path.resolve(ROOT, "../shared/fixtures");
const digests = JSON.parse(readFileSync(path.join(ROOT, "test/golden/audio/digests.json"), "utf8"));
const tmp = mkdtempSync(path.join(tmpdir(), "sonotile-decode-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sonotile = (...args: string[]) => runSonotile(args);

/** Parses a little-endian float32 .npy (format 1.0) into its shape and data. */
function readNpy(file: string): { shape: number[]; data: Float32Array } {
  const b = readFileSync(file);
  const headerLength = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + headerLength).toString("latin1");
  expect(header).toContain("'descr': '<f4'");
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1].split(",").filter((s) => s.trim()).map(Number);
  const body = b.subarray(10 + headerLength);
  return { shape, data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)) };
}

describe("sonotile decode", () => {
  it("stereo WAV → .npy [frames, channels] equal to soundfile.read", async () => {
    const rel = "recordings/whombat_tests_bats.wav";
    const out = path.join(tmp, "bats.npy");
    const run = await sonotile("decode", path.join(FIXTURES, rel), "-o", out);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const d = digests[rel];
    const { shape, data } = readNpy(out);
    expect(shape).toEqual([d.frames, 2]);
    for (let c = 0; c < 2; c++) expect(d.positions.map((p: number) => data[p * 2 + c])).toEqual(d.values[c].map(Math.fround));
  });

  it("IMA ADPCM → 32-bit float .wav that reads back as libsndfile's samples; --time-expansion sets the rate", async () => {
    const rel = "formats/wav_ima_adpcm.wav";
    const out = path.join(tmp, "ima.wav");
    expect((await sonotile("decode", path.join(FIXTURES, rel), "-o", out, "--time-expansion", "10")).code).toBe(0);
    const bytes = readFileSync(out);
    expect([bytes.readUInt16LE(20), bytes.readUInt16LE(34)]).toEqual([3, 32]); // WAVE_FORMAT_IEEE_FLOAT, 32 bits
    const back = await decode(out);
    const d = digests[rel];
    expect([back.samplerate, back.channels, back.frames]).toEqual([160000, 1, d.frames]);
    expect(d.positions.map((p: number) => back.data[0][p])).toEqual(d.values[0].map(Math.fround));
  });

  it("usage errors exit 2, unreadable input exits 1, each with one line", async () => {
    const junk = path.join(tmp, "junk.wav");
    writeFileSync(junk, Buffer.from("this is not audio, just text pretending to be a wav file"));
    const wav = path.join(FIXTURES, "formats/wav_pcm_16.wav");
    const [noOut, badExt, badTe, bad, missing, verbose] = await Promise.all([
      sonotile("decode", wav),
      sonotile("decode", wav, "-o", path.join(tmp, "x.mp3")),
      sonotile("decode", wav, "-o", path.join(tmp, "x.npy"), "--time-expansion", "0"),
      sonotile("decode", junk, "-o", path.join(tmp, "x.npy")),
      sonotile("info", path.join(tmp, "missing.wav")),
      sonotile("info", junk, "--verbose"),
    ]);
    expect(noOut).toMatchObject({ code: 2, stderr: "sonotile decode: missing -o/--output FILE (.npy or .wav)\n" });
    expect(badExt.code).toBe(2);
    expect(badExt.stderr).toMatch(/^sonotile decode: -o: output must end in \.npy or \.wav, got '.*x\.mp3'\n$/);
    expect(badTe).toMatchObject({ code: 2, stderr: "sonotile decode: --time-expansion: must be a number > 0, got '0'\n" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^sonotile decode: .*junk\.wav: not a recognised audio format \(expected WAV, RF64, Wave64, AIFF, FLAC, MP3 or Ogg\)\n$/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^sonotile info: cannot open .*missing\.wav: no such file or directory\n$/);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/AudioFormatError: .*\n\s+at /); // the stack only with --verbose
  });

  it("an error found only when the samples are read names the file too, as one found when it is opened does", async () => {
    // wav_ms_adpcm.wav: block 10's predictor index made 9 — the header is fine, the block is not.
    const bytes = readFileSync(path.join(FIXTURES, "formats/wav_ms_adpcm.wav"));
    bytes[90 + 10 * 512] = 9;
    const corrupt = path.join(tmp, "corrupt-block.wav");
    writeFileSync(corrupt, bytes);
    const problem = "wav: ms_adpcm block 10 (at byte 5210): predictor index 9 is out of range 0..6";
    const [decoded, spectrogram] = await Promise.all([
      sonotile("decode", corrupt, "-o", path.join(tmp, "corrupt-block.npy")),
      sonotile("spectrogram", corrupt, "-o", path.join(tmp, "corrupt-block.png")),
    ]);
    expect(decoded).toMatchObject({ code: 1, stderr: `sonotile decode: ${corrupt}: ${problem}\n` });
    expect(spectrogram).toMatchObject({ code: 1, stderr: `sonotile spectrogram: ${corrupt}: ${problem}\n` });
  });

  it("a time expansion that gives a fractional rate is refused for .wav (whole Hz in its header), not rounded; .npy has no rate", async () => {
    const wav = path.join(FIXTURES, "formats/wav_pcm_16.wav"); // 16000 Hz
    const out = path.join(tmp, "te3333.wav");
    const [refused, npy, whole] = await Promise.all([
      sonotile("decode", wav, "-o", out, "--time-expansion", "0.3333"),
      sonotile("decode", wav, "-o", path.join(tmp, "te3333.npy"), "--time-expansion", "0.3333"),
      sonotile("decode", wav, "-o", path.join(tmp, "te25.wav"), "--time-expansion", "0.25"),
    ]);
    expect(refused).toMatchObject({
      code: 2,
      stderr: "sonotile decode: time_expansion (--time-expansion): a .wav stores its rate in whole Hz; 16000 Hz × 0.3333 is 5332.8 Hz (write .npy, or give a factor that makes the rate whole)\n",
    });
    expect(existsSync(out)).toBe(false);
    expect(npy.code).toBe(0);
    expect(whole.code).toBe(0);
    expect((await decode(path.join(tmp, "te25.wav"))).samplerate).toBe(4000);
  });

  it("never costs the user a file: -o naming the input (or a link to it) exits 2 with the input intact; a failed run leaves an existing output as it was", async () => {
    const input = path.join(tmp, "own.wav");
    copyFileSync(path.join(FIXTURES, "formats/wav_pcm_16.wav"), input);
    const before = readFileSync(input);
    const link = path.join(tmp, "link.wav");
    symlinkSync(input, link);
    const junk = path.join(tmp, "junk-out.wav");
    writeFileSync(junk, Buffer.from("RIFF but no more"));
    const kept = path.join(tmp, "kept.npy");
    writeFileSync(kept, "the user's earlier output");
    mkdirSync(path.join(tmp, "dir.npy"));
    const [same, viaLink, failed, directory] = await Promise.all([
      sonotile("decode", input, "-o", input),
      sonotile("decode", link, "-o", input),
      sonotile("decode", junk, "-o", kept),
      sonotile("decode", input, "-o", path.join(tmp, "dir.npy")),
    ]);
    expect(same).toMatchObject({ code: 2, stderr: `sonotile decode: -o ${input}: is the input file; write the output somewhere else\n` });
    expect(viaLink.code).toBe(2);
    expect(readFileSync(input).equals(before)).toBe(true);
    expect(failed.code).toBe(1);
    expect(readFileSync(kept, "utf8")).toBe("the user's earlier output");
    expect(directory).toMatchObject({ code: 2, stderr: `sonotile decode: -o ${path.join(tmp, "dir.npy")}: is a directory\n` });
    expect(readdirSync(tmp).filter((f) => f.endsWith(".partial"))).toEqual([]); // no temporary file left
    // An -o that is a link is written through: the link stays, its target gets the samples.
    const target = path.join(tmp, "target.npy"), viaOutputLink = path.join(tmp, "out-link.npy");
    symlinkSync(target, viaOutputLink);
    expect((await sonotile("decode", input, "-o", viaOutputLink)).code).toBe(0);
    expect(lstatSync(viaOutputLink).isSymbolicLink()).toBe(true);
    expect(readNpy(target).shape).toEqual([16000, 1]);
  });

  it("a file size limit reached by the last write fails the run naming -o (exit 1), leaving the output as it was — the short write was taken for whole, exit 0", async () => {
    const dir = path.join(tmp, "limited");
    mkdirSync(dir);
    const out = path.join(dir, "out.npy");
    writeFileSync(out, "the user's earlier output");
    // 1 s at 16 kHz: 64,128 bytes in one write of the samples after the header, over a limit of 51,200 (100 blocks of 512).
    const limited = await new Promise<CliRun>((done) => {
      execFile("sh", ["-c", 'ulimit -f 100 && exec "$@"', "sh", process.execPath, path.join(ROOT, "bin/sonotile.js"), "decode", path.join(FIXTURES, "formats/wav_pcm_16.wav"), "-o", out], (err, stdout, stderr) => done(cliRun(err, stdout, stderr)));
    });
    expect(limited).toEqual({ code: 1, stdout: "", stderr: `sonotile decode: cannot write ${out}: file too large\n` });
    expect(readdirSync(dir)).toEqual(["out.npy"]);
    expect(readFileSync(out, "utf8")).toBe("the user's earlier output");
  });
});

/** wav_pcm_16.wav (1 s at 16 kHz) with a GUANO chunk of `fields` ("TE: 10\n") after its samples, written to tmp/`name`. */
function withGuano(name: string, fields: string): string {
  const wav = new Uint8Array(readFileSync(path.join(FIXTURES, "formats/wav_pcm_16.wav")));
  const text = new TextEncoder().encode(`GUANO|Version: 1.0\n${fields}`);
  const chunk = new Uint8Array(8 + text.length + (text.length & 1));
  chunk.set(new TextEncoder().encode("guan"));
  new DataView(chunk.buffer).setUint32(4, text.length, true);
  chunk.set(text, 8);
  const file = Buffer.concat([wav, chunk]);
  file.writeUInt32LE(file.length - 8, 4); // the RIFF size
  const out = path.join(tmp, name);
  writeFileSync(out, file);
  return out;
}

describe("sonotile info", () => {
  const rel = "recordings/batdetect2_contrib_jeff37_0166_20240531_223911.wav";
  const file = path.join(FIXTURES, rel);

  it("--json with time expansion: real-unit rate and duration, MD5 of the bytes, GUANO fields", async () => {
    const run = await sonotile("info", file, "--json", "--time-expansion", "10");
    expect(run.code).toBe(0);
    const info = JSON.parse(run.stdout);
    const d = digests[rel];
    expect(info).toMatchObject({
      container: "wav",
      encoding: "pcm_16",
      channels: 1,
      frames: d.frames,
      samplerate: d.samplerate * 10,
      fileSamplerate: d.samplerate,
      timeExpansion: 10,
      timestamp: "2024-05-31T22:39:11",
      location: { latitude: 49.093119, longitude: 5.047867 },
      md5: createHash("md5").update(readFileSync(file)).digest("hex"),
    });
    expect(info.duration).toBeCloseTo(d.frames / d.samplerate / 10, 12);
    expect(info.metadata.guano).toMatchObject({ Make: "BATLOGGER", Model: "S2", "Loc Position": "49.093119 5.047867" });
  });

  it("a decimal time expansion factor gives a whole rate (16000 · 2.01 is 32159.999999999996 in binary), which resampling accepts", async () => {
    const wav = path.join(FIXTURES, "formats/wav_pcm_16.wav");
    const [info, resampled] = await Promise.all([
      sonotile("info", wav, "--json", "--no-md5", "--time-expansion", "2.01"),
      sonotile("spectrogram", wav, "-o", path.join(tmp, "te.npy"), "--time-expansion", "2.01", "--resample", "--samplerate", "16000"),
    ]);
    expect(JSON.parse(info.stdout)).toMatchObject({ samplerate: 32160, fileSamplerate: 16000, timeExpansion: 2.01 });
    // The duration is frames / that rate, as the API's recording and the features say: 1 s / 2.01
    // is 0.49751243781094534 s, a digit off 16000 / 32160 Hz = 0.4975124378109453 s.
    expect(JSON.parse(info.stdout).duration).toBe(16000 / 32160);
    expect(resampled).toMatchObject({ code: 0, stderr: "" });
    // 16000 samples at 32160 Hz resampled by 100/201 to 7961; 25 ms at 16 kHz: 400-point frames, hop 200, 41 frames.
    expect(readNpy(path.join(tmp, "te.npy")).shape).toEqual([201, 41]);
  });

  it("a GUANO TE is the factor wherever none is given: info, spectrogram, features, registration; --time-expansion overrides it", async () => {
    // 1 s at 16 kHz with a GUANO chunk stating TE: 10 (a detector that slowed 160 kHz audio tenfold).
    const te10 = withGuano("te10.wav", "TE: 10\n");

    const [stated, overridden, npy] = await Promise.all([
      sonotile("info", te10, "--json", "--no-md5"),
      sonotile("info", te10, "--json", "--no-md5", "--time-expansion", "1"),
      sonotile("spectrogram", te10, "-o", path.join(tmp, "te10.npy"), "--window-size", "0.0025"),
    ]);
    expect(JSON.parse(stated.stdout)).toMatchObject({ samplerate: 160_000, fileSamplerate: 16_000, timeExpansion: 10, duration: 0.1 });
    expect(JSON.parse(overridden.stdout)).toMatchObject({ samplerate: 16_000, timeExpansion: 1 });
    expect(npy.code).toBe(0);
    expect(readNpy(path.join(tmp, "te10.npy")).shape[0]).toBe(201); // 2.5 ms at 160 kHz: 400-point frames
    expect((await featuresOfFile(te10)).duration_s).toBe(0.1);
    // The library's decode reports the same real rate (it said 16000 Hz, so spectrogram(data[0],
    // samplerate) drew 400-point frames where the command line drew 4000-point ones).
    const decoded = await decode(te10);
    expect(decoded).toMatchObject({ samplerate: 160_000, fileSamplerate: 16_000, timeExpansion: 10, frames: 16_000 });
    const drawn = spectrogram(decoded.data[0], decoded.samplerate, { window_size: 0.0025 });
    const cli = readNpy(path.join(tmp, "te10.npy"));
    expect([drawn.bins, drawn.frames]).toEqual(cli.shape);
    expect(Array.from(drawn.data)).toEqual(Array.from(cli.data));
    expect(await decode(te10, { timeExpansion: 1 })).toMatchObject({ samplerate: 16_000, fileSamplerate: 16_000, timeExpansion: 1 });
    expect(await probeFile(te10)).toMatchObject({ time_expansion: 10, file_samplerate: 16_000 });
    expect(await probeFile(path.join(FIXTURES, "formats/wav_pcm_16.wav"))).not.toHaveProperty("time_expansion");
  });

  it("a time expansion that gives no usable rate (1 Hz to 100 MHz) is a usage error naming time_expansion; such a GUANO TE is ignored", async () => {
    const wav = path.join(FIXTURES, "formats/wav_pcm_16.wav");
    const rule = "time_expansion (--time-expansion): must give a real samplerate (the file's 16000 Hz × time_expansion) from 1 to 100000000 Hz";
    const [denormal, huge, overflowingWav, guano] = await Promise.all([
      sonotile("info", wav, "--no-md5", "--time-expansion", "5e-324"),
      sonotile("info", wav, "--json", "--no-md5", "--time-expansion", "1e308"),
      // 4.8 GHz, whole, but past the 32 bits of a WAV header's rate: it wrote 505032704 Hz.
      sonotile("decode", wav, "-o", path.join(tmp, "overflow.wav"), "--time-expansion", "300000"),
      // A detector's TE of 1e-300 (1.6e-296 Hz, lasting 1e300 s) says nothing usable, as "0" or "NaN" would.
      sonotile("info", withGuano("te-tiny.wav", "TE: 1e-300\n"), "--json", "--no-md5"),
    ]);
    expect(denormal).toMatchObject({ code: 2, stdout: "", stderr: `sonotile info: ${rule}; 5e-324 gives 7.905e-320 Hz\n` });
    expect(huge).toMatchObject({ code: 2, stdout: "", stderr: `sonotile info: ${rule}; 1e+308 gives Infinity Hz\n` });
    expect(overflowingWav).toMatchObject({ code: 2, stderr: `sonotile decode: ${rule}; 300000 gives 4800000000 Hz\n` });
    expect(existsSync(path.join(tmp, "overflow.wav"))).toBe(false);
    expect(JSON.parse(guano.stdout)).toMatchObject({ samplerate: 16000, timeExpansion: 1, duration: 1 });
  });

  it("GUANO numbers are read as decimal, as the factor given on the command line is: a TE or Loc Position in hex is ignored", async () => {
    // Number("0x10") is 16: such a TE drew the file as 256 kHz audio lasting 62.5 ms, where
    // --time-expansion 0x10 is refused (exit 2) and the GUANO spec's TE is an integer.
    const [hex, decimal] = await Promise.all([
      sonotile("info", withGuano("te-hex.wav", "TE: 0x10\nLoc Position: 0x10 0x20\n"), "--json", "--no-md5"),
      sonotile("info", withGuano("te-decimal.wav", "TE: 1e1\nLoc Position: 49.5 -5.25\n"), "--json", "--no-md5"),
    ]);
    const hexInfo = JSON.parse(hex.stdout);
    expect(hexInfo).toMatchObject({ samplerate: 16000, timeExpansion: 1, duration: 1 });
    expect(hexInfo).not.toHaveProperty("location");
    expect(JSON.parse(decimal.stdout)).toMatchObject({ samplerate: 160_000, timeExpansion: 10, duration: 0.1, location: { latitude: 49.5, longitude: -5.25 } });
  });

  it("spectrogram times past a GUANO time-expanded recording's real end are said to be real seconds, naming the GUANO TE", async () => {
    // 0.5 s of the file as stored is past the 0.1 s it lasts at TE 10: "no frame is centred in [0.5, end) s" alone left the researcher guessing.
    const run = await sonotile("spectrogram", withGuano("te-10.wav", "TE: 10\n"), "-o", path.join(tmp, "te-10.npy"), "--start", "0.5");
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toMatch(/^sonotile spectrogram: --start: no frame is centred in \[0\.5, end\) s \(.*\); times are real seconds: time expansion 10 \(the file's GUANO TE\) makes the file's 1 s last 0\.1 s$/);
  });

  it("an extract clip past a GUANO time-expanded recording's real end is said to be in real seconds, naming the GUANO TE", async () => {
    const run = await sonotile("extract", withGuano("te-10-clip.wav", "TE: 10\n"), "-o", path.join(tmp, "te-10.csv"), "--clip-start", "0.5");
    expect(run.code).toBe(2); // the clip suits none of the files: bad parameters (SPEC §8), as a refused --channel
    expect(run.stderr.split("\n")[0]).toMatch(/^sonotile extract: skipped .*te-10-clip\.wav: start 0\.5 s is past the end of the recording \(0\.1 s\); times are real seconds: time expansion 10 \(the file's GUANO TE\) makes the file's 1 s last 0\.1 s$/);
  });

  it("human form names an MP3's or FLAC's format once (it said 'mp3, mp3', 'flac, flac, 24 bits'), its duration to the sample — h:mm:ss from a minute — its size in bytes; --json keeps the exact numbers", async () => {
    const formats = path.join(FIXTURES, "formats");
    const short = path.join(tmp, "short-44k.wav");
    writeFileSync(short, encodeWav16(new Float32Array(1486), 44_100)); // 1486 / 44100 = 0.033696145124716556 s
    const long = path.join(tmp, "long-1k.wav");
    writeFileSync(long, encodeWav16(new Float32Array(1000 * 3723 + 501), 1000)); // 3723.501 s
    const lines = async (file: string) => (await sonotile("info", file, "--no-md5")).stdout.split("\n").filter((l) => /^(format|duration|size):/.test(l));
    expect(await lines(path.join(formats, "mp3_mpeg_layer_iii.mp3"))).toEqual(["format:      mp3", "duration:    1.00000 s", "size:        4968 bytes"]);
    expect(await lines(path.join(formats, "flac_pcm_24.flac"))).toEqual(["format:      flac, 24 bits", "duration:    1.00000 s", "size:        47375 bytes"]);
    expect(await lines(path.join(formats, "ogg_opus.ogg"))).toEqual(["format:      ogg, opus", "duration:    1.00000 s", "size:        3901 bytes"]);
    expect(await lines(short)).toEqual(["format:      wav, pcm_16, 16 bits", "duration:    0.03370 s", "size:        3016 bytes"]);
    expect(await lines(long)).toEqual(["format:      wav, pcm_16, 16 bits", "duration:    1:02:03.501 (3723.501 s)", `size:        ${44 + 2 * (1000 * 3723 + 501)} bytes`]);
    const json = JSON.parse((await sonotile("info", short, "--json", "--no-md5")).stdout);
    expect([json.container, json.encoding, json.duration]).toEqual(["wav", "pcm_16", 1486 / 44_100]);
  });

  it("a duration goes on the clock once it shows a minute, as rounded (59.9996 s at 1 kHz was '60.000 s', 60 s '0:01:00.000')", () => {
    expect(durationText(59.9994, 1000)).toBe("59.999 s");
    expect(durationText(59.9996, 1000)).toBe("0:01:00.000 (60.000 s)");
    expect(durationText(60, 1000)).toBe("0:01:00.000 (60.000 s)");
    expect(durationText(3599.99999, 44_100)).toBe("0:59:59.99999 (3599.99999 s)");
    expect(durationText(0, 500_000)).toBe("0.000000 s");
  });

  it("human form lists format, rate, duration and bext metadata", async () => {
    const run = await sonotile("info", path.join(FIXTURES, "recordings/XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav"), "--no-md5");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("format:      wav, pcm_16, 16 bits\n");
    expect(run.stdout).toContain("samplerate:  500000 Hz\n");
    expect(run.stdout).toContain(`duration:    ${1260562 / 500000} s\n`);
    expect(run.stdout).toContain("recorded:    2016-02-17T19:45:16\n");
    expect(run.stdout).toContain("bext.originator: Avisoft-RECORDER USGH\n");
    expect(run.stdout).not.toContain("md5:");
  });
});
