/**
 * MP3 seeking (src/audio/mp3seek.ts): ranged reads decode from a few frames before the range and
 * give the samples of one decode from the start, bit for bit; a read near the end of a long file
 * decodes a bounded number of frames.
 *
 * Long streams are made at test time by repeating the audio frames of two small real encodings —
 * the MPEG-2 fixture (16 kHz mono) and test/golden/audio/seek_mp3.mp3 (MPEG-1 44.1 kHz stereo,
 * LAME's lowest VBR quality: main_data_begin up to ~510 bytes). Every frame keeps its own bit
 * reservoir references; at each join the first frame of a copy has main_data_begin 0, as encoders
 * start, so the repeated stream is as valid as the original. A Xing/Info frame (the seed's own,
 * frame count patched) can lead the stream to switch mpg123's gapless trimming on.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { MPEGDecoder } from "mpg123-decoder";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AudioFormatError, decode, openAudio } from "../src/audio/index.js";
import { StreamReader } from "../src/audio/stream-reader.js";
import { gaplessLength, gaplessOf, parseInfoTag, parseMpegHeader, type MpegHeader } from "../src/audio/mp3seek.js";
import { concatBytes } from "./audio-helpers.js";
import { random } from "./random.js";

const GOLDEN = path.resolve(import.meta.dirname, "golden/audio");
const FIXTURE = path.resolve(import.meta.dirname, "../../shared/fixtures/formats/mp3_mpeg_layer_iii.mp3");
const digests = JSON.parse(readFileSync(path.join(GOLDEN, "digests.json"), "utf8"));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "sonotile-mp3seek-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An MP3 file cut into its frames: the Xing/Info frame (if any) and the audio frames. */
interface Seed {
  header: MpegHeader;
  info: Uint8Array | null;
  frames: Uint8Array[];
}

function seed(file: string): Seed {
  const bytes = new Uint8Array(readFileSync(file));
  const frames: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const h = parseMpegHeader(bytes, at)!;
    frames.push(bytes.subarray(at, at + h.frameBytes));
    at += h.frameBytes;
  }
  const header = parseMpegHeader(frames[0], 0)!;
  const info = parseInfoTag(frames[0], 0, header) ? frames.shift()! : null;
  return { header, info, frames };
}

const MPEG2 = seed(FIXTURE);
const MPEG1 = seed(path.join(GOLDEN, "seek_mp3.mp3"));

/** Fields of a Xing/Info frame to overwrite (offsets after the side info: "Info", flags, frames, ..., LAME extension). */
interface InfoPatch {
  frames?: number;
  delay?: number;
  padding?: number;
  /** First 4 bytes of the LAME extension (the encoder name); 0 bytes remove the extension, as mpg123 sees it. */
  encoder?: string;
  /** Xing flags (bit 0: frame count present). */
  flags?: number;
}

function patchedInfo(s: Seed, p: InfoPatch): Uint8Array {
  const frame = s.info!.slice();
  const v = new DataView(frame.buffer);
  const tag = 4 + s.header.sideInfoBytes;
  const flags = v.getUint32(tag + 4);
  const ext = tag + 8 + (flags & 1 ? 4 : 0) + (flags & 2 ? 4 : 0) + (flags & 4 ? 100 : 0) + (flags & 8 ? 4 : 0);
  if (p.frames !== undefined) v.setUint32(tag + 8, p.frames);
  if (p.encoder !== undefined) frame.set(Uint8Array.from(p.encoder, (c) => c.charCodeAt(0)), ext);
  const delay = p.delay ?? (frame[ext + 21] << 4) | (frame[ext + 22] >> 4);
  const padding = p.padding ?? ((frame[ext + 22] & 0x0f) << 8) | frame[ext + 23];
  frame.set([delay >> 4, ((delay & 0x0f) << 4) | (padding >> 8), padding & 0xff], ext + 21);
  if (p.flags !== undefined) v.setUint32(tag + 4, p.flags);
  return frame;
}

/** The seed's audio frames `repeats` times, led by its Info frame with the frame count made right (and `patch` applied). */
function repeated(s: Seed, repeats: number, lead: "info" | "none", patch: InfoPatch = {}): Uint8Array {
  const audio = Array.from({ length: repeats }, () => s.frames).flat();
  const parts = lead === "info" ? [patchedInfo(s, { frames: audio.length, ...patch }), ...audio] : audio;
  const out = new Uint8Array(bytesOf(parts));
  parts.reduce((at, f) => (out.set(f, at), at + f.length), 0);
  return out;
}

function bytesOf(frames: Uint8Array[]): number {
  return frames.reduce((n, f) => n + f.length, 0);
}

async function file(name: string, bytes: Uint8Array): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, bytes);
  return p;
}

async function openStream(p: string, blockFrames?: number): Promise<StreamReader> {
  const reader = await openAudio(p, blockFrames ? { blockFrames } : {});
  expect(reader).toBeInstanceOf(StreamReader);
  return reader as StreamReader;
}

/** Bit for bit the same samples (a byte compare: toEqual over 16000 floats takes seconds). */
const sameSamples = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Runs `body` with the clock (Date) stopped at `ms` since the epoch: what mp3seek.ts takes for the time of a scan. */
async function atTime<T>(ms: number, body: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(ms);
  try {
    return await body();
  } finally {
    vi.useRealTimers();
  }
}

/**
 * Runs `body` with the clock (Date) a minute ahead: files the test has just written have then been
 * unchanged long enough (2 s: SETTLED_MS in mp3seek.ts) for a whole scan of their frames to be kept.
 */
const aMinuteLater = <T>(body: () => Promise<T>) => atTime(Date.now() + 60_000, body);

/** Block-sized reads far apart and out of order (each a seek) equal the same ranges of a decode from the start. */
async function expectSeeksExact(p: string, blockFrames: number): Promise<void> {
  const whole = await decode(p);
  const reader = await openStream(p, blockFrames);
  try {
    expect(reader.info.frames).toBe(whole.frames);
    const blocks = Math.ceil(whole.frames / blockFrames);
    // The end (padding), the start (encoder delay), then a spread in a scrambled order.
    const order = [blocks - 1, 0, 1, blocks - 2, 2, Math.floor(blocks / 2), 3, blocks - 3];
    for (let i = 1; i <= 40; i++) order.push((i * 7919) % blocks);
    for (const k of order) {
      for (let c = 0; c < whole.channels; c++) {
        const want = whole.data[c].subarray(k * blockFrames, (k + 1) * blockFrames);
        expect(await reader.read(c, k * blockFrames, blockFrames)).toEqual(want);
      }
    }
    // A read across many blocks, from the middle of a frame.
    const start = Math.floor(whole.frames / 3) + 17;
    expect(await reader.read(0, start, 5 * blockFrames)).toEqual(whole.data[0].subarray(start, start + 5 * blockFrames));
  } finally {
    await reader.close();
  }
}

describe("MP3 ranged reads equal one decode from the start, sample for sample", () => {
  // 1000-frame blocks do not align with MPEG frames (1152 or 576 samples), so block starts fall anywhere in a frame.
  it.each([
    ["MPEG-1 stereo VBR, Xing + LAME tag (gapless)", MPEG1, 120, "info"],
    ["MPEG-1 stereo VBR, no tag", MPEG1, 120, "none"],
    ["MPEG-2 mono, Info + LAME tag (gapless)", MPEG2, 60, "info"],
    ["MPEG-2 mono, no tag", MPEG2, 60, "none"],
  ] as const)("%s", async (name, s, repeats, lead) => {
    await expectSeeksExact(await file(`${name.replace(/\W+/g, "_")}.mp3`, repeated(s, repeats, lead)), 1000);
  });

  it("the fixture read in reverse, block by block, matches its libsndfile golden signal", async () => {
    const raw = readFileSync(path.join(GOLDEN, "mp3_mpeg_layer_iii.mp3.f32"));
    const golden = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const reader = await openStream(FIXTURE, 500);
    try {
      expect(reader.info.frames).toBe(golden.length);
      for (let k = Math.ceil(golden.length / 500) - 1; k >= 0; k--) {
        const got = await reader.read(0, k * 500, 500);
        const want = golden.subarray(k * 500, (k + 1) * 500);
        expect(got.length).toBe(want.length);
        // libsndfile's mpg123 build rounds differently (64-bit native vs WebAssembly): 2e-6 apart.
        got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5));
      }
    } finally {
      await reader.close();
    }
  });

  it("a Buffer (readFileSync's) read in reverse gives the fixture's golden signal and is left as it was", async () => {
    // Buffer's slice is a view: the copy of a warm-up frame whose side info a seek rewrites was written into the caller's Buffer.
    const raw = readFileSync(path.join(GOLDEN, "mp3_mpeg_layer_iii.mp3.f32"));
    const golden = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const bytes = readFileSync(FIXTURE);
    const original = Uint8Array.from(bytes);
    const reader = await openAudio(bytes, { blockFrames: 500 });
    try {
      for (let k = Math.ceil(golden.length / 500) - 1; k >= 0; k--) {
        const got = await reader.read(0, k * 500, 500);
        got.forEach((v, i) => expect(Math.abs(v - golden[k * 500 + i]), `sample ${k * 500 + i}`).toBeLessThan(1e-5));
      }
      expect(bytes.equals(original)).toBe(true);
    } finally {
      await reader.close();
    }
  });

  it("the MPEG-1 seed matches libsndfile (length and values)", async () => {
    const d = digests["seek_mp3.mp3"];
    const out = await decode(path.join(GOLDEN, "seek_mp3.mp3"));
    expect([out.samplerate, out.channels, out.frames]).toEqual([d.samplerate, d.channels, d.frames]);
    for (let c = 0; c < 2; c++) d.positions.forEach((p: number, i: number) => expect(Math.abs(out.data[c][p] - d.values[c][i])).toBeLessThan(1e-5));
  });
});

describe("mpg123's gapless trimming, mirrored", () => {
  // Each Info frame variant: the length mp3seek.ts predicts equals what mpg123-decoder outputs for
  // the fixture, and (honest frame counts) seeks equal the decode from the start across the trimmed ends.
  const variants: [string, InfoPatch][] = [
    ["LAME tag as written (delay 576, padding 704)", {}],
    ["padding below mpg123's 529-sample decoder delay", { padding: 300 }],
    ["a large delay: mpg123 skips the first frames undecoded", { delay: 2400 }],
    ["another encoder's name in the extension (Lavc)", { encoder: "Lavc" }],
    ["Xing frame count without the LAME extension", { encoder: "\0\0\0\0" }],
    ["no frame count: no trimming", { flags: 0 }],
    ["932067 frames: mpg123-decoder's largest trusted count", { frames: 932067 }],
  ];

  it.each(variants)("%s", async (_name, patch) => {
    const bytes = repeated(MPEG2, 1, "info", patch);
    const h = MPEG2.header;
    const dec = new MPEGDecoder();
    await dec.ready;
    const mpg123 = dec.decode(bytes).samplesDecoded;
    dec.free();
    const g = gaplessOf(parseInfoTag(bytes, 0, h), h.samplesPerFrame);
    expect(gaplessLength(g, MPEG2.frames.length, h.samplesPerFrame)).toBe(mpg123);
    if (patch.frames === undefined) await expectSeeksExact(await file("gapless.mp3", repeated(MPEG2, 20, "info", patch)), 700);
  });

  it("932068 frames: mpg123-decoder (32-bit) trims nothing, libsndfile's 64-bit mpg123 trims as at 932067, and so does the length", async () => {
    const outputOf = async (frames: number) => {
      const dec = new MPEGDecoder();
      await dec.ready;
      const out = dec.decode(repeated(MPEG2, 1, "info", { frames })).channelData[0].slice();
      dec.free();
      return out;
    };
    const [trimmed, untrimmed] = [await outputOf(932067), await outputOf(932068)];
    const h = MPEG2.header;
    const g = gaplessOf(parseInfoTag(repeated(MPEG2, 1, "info", { frames: 932068 }), 0, h), h.samplesPerFrame);
    expect([g.begin, g.decoderTrims]).toEqual([529 + 576, false]);
    expect(untrimmed.length).toBe(MPEG2.frames.length * h.samplesPerFrame);
    expect(gaplessLength(g, MPEG2.frames.length, h.samplesPerFrame)).toBe(trimmed.length);
    expect(untrimmed.subarray(g.begin, g.begin + trimmed.length)).toEqual(trimmed); // what the reader drops is all that differs
  });

  it("a large delay with frames mpg123 can start from: it decodes from frame 1 and the seeks follow its synthesis phase", async () => {
    // delay 2400: the first output sample is in frame (2400 + 529) / 576 = 5, mpg123 starts decoding
    // 4 "preframes" earlier, at frame 1. The fixture's first frame (main_data_begin 0) 6 times first
    // lets it start there with the whole reservoir, so the reader seeks rather than decoding from the start.
    const first = MPEG2.frames[0];
    const audio = [...Array.from({ length: 6 }, () => first), ...Array.from({ length: 20 }, () => MPEG2.frames).flat()];
    const bytes = Uint8Array.from([...patchedInfo(MPEG2, { frames: audio.length, delay: 2400 }), ...audio.flatMap((f) => [...f])]);
    const p = await file("large-delay.mp3", bytes);
    await expectSeeksExact(p, 700);
    const reader = await openStream(p, 700);
    try {
      await reader.read(0, reader.info.frames - 700, 700);
      expect(reader.framesDecoded).toBeLessThan(reader.info.frames / 4); // a seek, not a decode from the start
    } finally {
      await reader.close();
    }
  });
});

describe("a Xing frame count above 932,067 (the most a 32-bit mpg123 trims for): trimmed as libsndfile trims it", () => {
  // scripts/golden_mp3_long.py builds the same file and reads it with libsndfile (its SHA-256 says
  // so): the fixture's Xing frame (count patched), its audio frames twice at the start, at frame
  // 900000 (9 h in) and at the end, silent 36-byte frames between them — 940000 frames, 34 MB.
  // libsndfile (64-bit mpg123) trims the LAME tag's delay and padding at any count; mpg123-decoder
  // (32-bit) takes such a count for an "endless stream" and trims nothing: the recording was
  // 541440000 frames, not 541438720, and every sample 1105 later than libsndfile's.
  const golden = JSON.parse(readFileSync(path.join(GOLDEN, "mp3_long.json"), "utf8"));

  const recipe = golden.recipe as { total: number; copies: number; starts: number[] };

  /**
   * The recipe of scripts/golden_mp3_long.py: `total` audio frames, the fixture's audio frames
   * `recipe.copies` times from each of `starts`, silent frames elsewhere, led by the fixture's Xing
   * frame counting `total` (and `patch` applied).
   */
  function longFile(total = recipe.total, starts = recipe.starts, patch: InfoPatch = {}): Uint8Array {
    const silent = new Uint8Array(72 * 8000 / 16000);
    silent.set(MPEG2.frames[0].subarray(0, 4));
    silent[2] = (1 << 4) | (silent[2] & 0x0d); // bitrate index 1 (8 kbit/s), no padding; side info and main data zero
    const copy = Array.from({ length: recipe.copies }, () => MPEG2.frames).flat();
    const info = patchedInfo(MPEG2, { frames: total, ...patch });
    const out = new Uint8Array(info.length + (total - copy.length * starts.length) * silent.length + starts.length * bytesOf(copy));
    out.set(info);
    let at = info.length;
    let n = 0;
    for (const s of [...starts, total]) {
      for (; n < s; n++, at += silent.length) out.set(silent, at);
      if (s < total) for (const f of copy) (out.set(f, at), (at += f.length), n++);
    }
    expect([n, at]).toEqual([total, out.length]);
    return out;
  }

  it("length, and samples at the start, 9 h in (a seek) and at the end, as libsndfile reads them", async () => {
    const bytes = longFile();
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(golden.sha256);
    const p = await file("long.mp3", bytes);
    const reader = await openStream(p);
    try {
      expect(reader.info.frames).toBe(golden.frames);
      for (const name of ["deep", "end", "start"]) {
        const { at, values } = golden.windows[name] as { at: number; values: number[] };
        const got = await reader.read(0, at, values.length);
        // libsndfile's native mpg123 rounds differently from the WebAssembly one: ~1e-7 apart here.
        got.forEach((v, i) => expect(Math.abs(v - values[i]), `${name} window, sample ${at + i}`).toBeLessThan(1e-5));
      }
      expect(reader.framesDecoded).toBeLessThan(20 * 65536); // seeks, not a decode of 9 h
    } finally {
      await reader.close();
    }
  });

  it("opened again, its frame index kept (no scan): the same length and windows as libsndfile, bit for bit those of the first opening", async () => {
    const bytes = longFile();
    const p = await file("long-kept.mp3", bytes);
    await aMinuteLater(async () => {
      const [scanned, kept] = [await openStream(p), await openStream(p)];
      try {
        expect(scanned.bytesRead).toBeGreaterThan(bytes.length - 4096); // every frame header
        expect(kept.bytesRead).toBeLessThan(4096);
        expect(kept.info.frames).toBe(golden.frames);
        for (const name of ["deep", "end", "start"]) {
          const { at, values } = golden.windows[name] as { at: number; values: number[] };
          const got = await kept.read(0, at, values.length);
          got.forEach((v, i) => expect(Math.abs(v - values[i]), `${name} window, sample ${at + i}`).toBeLessThan(1e-5));
          expect(sameSamples(got, await scanned.read(0, at, values.length)), name).toBe(true);
        }
        expect(kept.framesDecoded).toBeLessThan(20 * 65536); // seeks from the offsets kept, not a decode of 9 h
      } finally {
        await Promise.all([scanned.close(), kept.close()]);
      }
    });
  });

  // The reader's trimming from the start, bit for bit that of mpg123-decoder below the limit (the
  // same frames, a count of 150): with the fixture's delay, and with delays whose first output
  // sample lies 5 and 6 frames in, where mpg123 starts decoding 4 frames before it (frames 1 and 2:
  // the first with main_data_begin 0, the second 204 bytes back into frames mpg123 never read).
  it.each([576, 2400, 3000])("from the start, delay %i: as mpg123-decoder trims the same frames under a count it trusts", async (delay) => {
    const short = await decode(longFile(150, [0], { delay }));
    const reader = await openStream(await file(`long-delay-${delay}.mp3`, longFile(recipe.total, [0], { delay })));
    try {
      expect(reader.info.frames).toBe(recipe.total * 576 - 704 - delay);
      const n = short.frames - 2000; // up to where the short file's padding is trimmed
      const got = await reader.read(0, 0, n);
      expect(Buffer.from(got.buffer, got.byteOffset, 4 * n).equals(Buffer.from(short.data[0].buffer, short.data[0].byteOffset, 4 * n))).toBe(true);
    } finally {
      await reader.close();
    }
  });
});

describe("streams the index cannot place are read by decoding from the start", () => {
  it.each([
    // mpg123 starts on a frame whose reservoir is missing: in MPEG-2 it may skip its synthesis.
    ["MPEG-2 cut mid-reservoir", () => repeated(MPEG2, 20, "none").subarray(bytesOf(MPEG2.frames.slice(0, 3)))],
    ["junk in the middle (mpg123 resyncs)", () => {
      const s = repeated(MPEG1, 40, "info");
      const at = MPEG1.info!.length + 20 * bytesOf(MPEG1.frames) + bytesOf(MPEG1.frames.slice(0, 5));
      return Uint8Array.from([...s.subarray(0, at), ...Array.from({ length: 999 }, (_, i) => (i * 37) % 256), ...s.subarray(at)]);
    }],
    ["an ID3v1 tag at the end, no Xing tag", () => Uint8Array.from([...repeated(MPEG1, 30, "none"), ...Array.from("TAG" + "x".repeat(125), (c) => c.charCodeAt(0))])],
    ["a truncated last frame", () => repeated(MPEG2, 20, "none").subarray(0, -50)],
  ] as const)("%s", async (name, make) => {
    await expectSeeksExact(await file(`${name.replace(/\W+/g, "_")}.mp3`, make()), 900);
  });
});

describe("bytes after the last frame that are no frame (zeros, 0xff, random bytes) are skipped", () => {
  // mpg123 fails on about 1 KB of them (1027 zero bytes, 2000 of 0xff, 1200 random ones): every
  // read of such a file failed, "mp3: corrupt stream: cannot decode the audio after frame 0".
  // libsndfile 1.2 (soundfile) reads the fixture followed by each of them as the fixture, its 16000
  // samples equal; they are not fed to the decoder now, as an ID3v1 tag is skipped.
  const randomBytes = (n: number, seed: number) => {
    const next = random(seed);
    return Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
  };
  it.each([
    ["1027 zero bytes", () => new Uint8Array(1027)],
    ["2000 bytes of 0xff", () => new Uint8Array(2000).fill(0xff)],
    ["1200 random bytes", () => randomBytes(1200, 3)],
    ["70 000 zero bytes", () => new Uint8Array(70_000)],
  ] as const)("%s after the fixture (a Xing frame count) and after 30 MPEG-1 frames (counted by the index): the original's length and samples, whole and near the end", async (name, trailer) => {
    for (const [label, original] of [["fixture", new Uint8Array(readFileSync(FIXTURE))], ["mpeg1", Uint8Array.from(repeated(MPEG1, 30, "none"))]] as const) {
      const good = await decode(original);
      const p = await file(`trailer-${label}-${name.replace(/\W+/g, "_")}.mp3`, Uint8Array.from([...original, ...trailer()]));
      const reader = await openAudio(p, { blockFrames: 1024 });
      try {
        expect(reader.info.frames, label).toBe(good.frames);
        expect(sameSamples(await reader.read(0, 0, good.frames), good.data[0]), label).toBe(true);
      } finally {
        await reader.close();
      }
      const fresh = await openAudio(p, { blockFrames: 1024 });
      try {
        expect(await fresh.read(0, good.frames - 100, 100), label).toEqual(good.data[0].subarray(good.frames - 100));
      } finally {
        await fresh.close();
      }
      const whole = await decode(p);
      expect(whole.data.length, label).toBe(good.data.length);
      expect(whole.data.every((c, i) => sameSamples(c, good.data[i])), label).toBe(true);
    }
  });
});

/**
 * The MPEG-2 mono seed's audio frames laid out again in frames of `frameBytes` bytes each, whose
 * headers carry `bitrateIndex`: each frame's main data (its part2_3_length bits, read from the side
 * information: 9 bytes, main_data_begin in the first 8 bits, part2_3_length in bits 9–20) gathered
 * from the bit reservoir and put at the start of its own frame (main_data_begin 0), the rest of the
 * frame zeros (ancillary data). The same bits reach the decoder, so the samples are the seed's.
 */
function relaidMpeg2(frameBytes: number, bitrateIndex: number): Uint8Array {
  const side = MPEG2.header.sideInfoBytes;
  expect([MPEG2.header.mpeg1, MPEG2.header.channels, side]).toEqual([false, 1, 9]);
  const reservoir = concatBytes(...MPEG2.frames.map((f) => f.subarray(4 + side)));
  const out = new Uint8Array(MPEG2.frames.length * frameBytes);
  let bodyAt = 0; // where the frame's body begins in the reservoir
  MPEG2.frames.forEach((f, k) => {
    const mainBytes = Math.ceil((((f[5] & 0x7f) << 5) | (f[6] >> 3)) / 8);
    const from = bodyAt - f[4];
    expect(4 + side + mainBytes, `frame ${k}'s main data fits in a frame of ${frameBytes} bytes`).toBeLessThanOrEqual(frameBytes);
    const at = k * frameBytes;
    out.set(f.subarray(0, 4 + side), at);
    out[at + 2] = (bitrateIndex << 4) | (f[2] & 0x0f);
    out[at + 4] = 0;
    out.set(reservoir.subarray(from, from + mainBytes), at + 4 + side);
    bodyAt += f.length - 4 - side;
  });
  return out;
}

describe("free format (bitrate index 0: each frame's length found from where the next one starts)", () => {
  it("is refused when opened, naming the file and saying so — it was `the audio after frame 0 decodes at 44100 Hz, the header says 16000 Hz`, the decoder library (mpg123 fed in pieces) finding no frames in it", async () => {
    // The stream relaid in frames of 360 bytes: as bitrate index 9 (80 kbit/s at 16 kHz, MPEG-2:
    // 72 · 80000 / 16000 = 360 bytes) it is an ordinary MP3 with the fixture's samples; as index 0 it
    // is the same frames in free format, which libsndfile reads as those samples too.
    const standard = await decode(relaidMpeg2(360, 9));
    const original = await decode(repeated(MPEG2, 1, "none"));
    expect([standard.frames, sameSamples(standard.data[0], original.data[0])]).toEqual([30 * 576, true]);
    for (const frameBytes of [360, 331]) {
      const p = await file(`free-format-${frameBytes}.mp3`, relaidMpeg2(frameBytes, 0));
      const message = `${p}: mp3: free-format MP3 (bitrate index 0) is not supported (the frame at byte 0, whose next frame begins at byte ${frameBytes})`;
      await expect(openAudio(p)).rejects.toThrow(new AudioFormatError(message));
      await expect(decode(p)).rejects.toThrow(new AudioFormatError(message));
    }
  });
});

describe("a stream whose rate is not its header's", () => {
  it("another stream appended at another rate (MPEG-1 stereo after MPEG-2 mono) is refused, naming where and both rates", async () => {
    const p = await file("appended.mp3", Uint8Array.from([...repeated(MPEG2, 20, "none"), ...repeated(MPEG1, 10, "none")]));
    // Its samples were taken as 16 kHz ones: 10 frames of 44.1 kHz audio at the wrong speed. (Without
    // a Xing frame count the stream is counted by decoding when it is opened, so that is where.)
    // Named where the change is, 20 × 30 frames of 576 in: it was 302400, where the decoder's input piece began.
    const message = /mp3: the audio after frame 345600 decodes at 44100 Hz, the header says 16000 Hz \(corrupt\?\)$/;
    await expect(decode(p)).rejects.toThrow(message);
    await expect(openAudio(p)).rejects.toThrow(message);
  });

  it("the seed appended to the fixture (its Info frame counting its own frames) is refused where the fixture ends, not 'after frame 0'", async () => {
    const p = await file("appended-to-fixture.mp3", Uint8Array.from([...readFileSync(FIXTURE), ...readFileSync(path.join(GOLDEN, "seek_mp3.mp3"))]));
    await expect(decode(p)).rejects.toThrow(/mp3: the audio after frame 16000 decodes at 44100 Hz, the header says 16000 Hz \(corrupt\?\)$/);
  });

  it("a first frame whose header says mono, before stereo frames, is refused when opened (it gave one channel of two)", async () => {
    const bytes = Uint8Array.from(repeated(MPEG1, 5, "none"));
    expect(parseMpegHeader(bytes, 0)!.channels).toBe(2);
    bytes[3] |= 0xc0; // channel mode 11: single channel
    await expect(openAudio(await file("mono-first.mp3", bytes))).rejects.toThrow(/mp3: the frame at byte 0 has 1 channel, the next one 2 \(corrupt\?\)/);
  });
});

describe("a read near the end of a long MP3 costs the same as one near the start", () => {
  it("10 minutes of MPEG-2 (16 kHz): 1 s at the end decodes a bounded number of frames", async () => {
    const p = await file("ten-minutes.mp3", repeated(MPEG2, 556, "info")); // 556 × 30 frames × 576 samples ≈ 10 min
    const reader = await openStream(p);
    try {
      const rate = reader.info.samplerate;
      expect(reader.info.duration).toBeGreaterThan(599);
      const end = reader.info.frames - 2 * rate;
      const decodedBefore = reader.framesDecoded;
      expect(decodedBefore).toBe(0); // the length comes from the Xing frame count
      await reader.read(0, end, rate);
      // One 65536-frame block, the 16 KiB input pieces around it and a few warm-up frames — not 9.6 M frames.
      const nearEnd = reader.framesDecoded - decodedBefore;
      expect(nearEnd).toBeLessThan(4 * 65536);
      // The first far read scanned the frame headers up to there (once); a second one reads a few KiB.
      const bytesBefore = reader.bytesRead;
      await reader.read(0, Math.floor(reader.info.frames / 2), rate);
      expect(reader.bytesRead - bytesBefore).toBeLessThan(200_000);
      expect(reader.framesDecoded - decodedBefore - nearEnd).toBeLessThan(4 * 65536);
      expect(reader.info.fileSize).toBeGreaterThan(2_500_000);
    } finally {
      await reader.close();
    }
  });

  it("an untagged stream's length comes from its frame headers, not from decoding it", async () => {
    const reader = await openStream(await file("untagged.mp3", repeated(MPEG1, 100, "none")));
    try {
      expect(reader.framesDecoded).toBe(0);
      expect(reader.info.frames).toBe(100 * MPEG1.frames.length * 1152);
    } finally {
      await reader.close();
    }
  });
});

describe("the frame index of a whole file is kept for its next opening while the file is unchanged", () => {
  const copies = 200; // of the MPEG-1 seed's 17 frames: 89 s, 680 KB
  const framesOf = (n: number) => n * MPEG1.frames.length * 1152;

  /** `reader` reads as `bytes` read from memory (no identity: never a kept index), bit for bit: at the end, in the middle (a seek) and at the start. */
  async function expectReadsAs(reader: StreamReader, bytes: Uint8Array): Promise<void> {
    const inMemory = await openAudio(bytes);
    try {
      expect(reader.info.frames).toBe(inMemory.info.frames);
      const { frames, channels } = inMemory.info;
      for (const at of [frames - 3000, Math.floor(frames / 2) + 17, 0]) {
        for (let c = 0; c < channels; c++) expect(sameSamples(await reader.read(c, at, 3000), await inMemory.read(c, at, 3000)), `channel ${c} at ${at}`).toBe(true);
      }
    } finally {
      await inMemory.close();
    }
  }

  it("a second opening reads the file's first frames, not every frame header, and the same samples", async () => {
    const bytes = repeated(MPEG1, copies, "none"); // no Xing frame: the length is the frames counted
    const p = await file("kept.mp3", bytes);
    await aMinuteLater(async () => {
      const [scanned, kept] = [await openStream(p), await openStream(p)];
      try {
        expect(scanned.bytesRead).toBeGreaterThanOrEqual(bytes.length);
        expect(kept.bytesRead).toBeLessThan(2000); // it read the whole 680 KB again
        expect(kept.info).toEqual(scanned.info);
        expect(kept.info.frames).toBe(framesOf(copies));
        await expectReadsAs(kept, bytes);
        await expectReadsAs(scanned, bytes);
      } finally {
        await Promise.all([scanned.close(), kept.close()]);
      }
    });
  });

  it("a file rewritten at its path (other frames, another size) is scanned again and read as it is now", async () => {
    const p = await file("rewritten.mp3", repeated(MPEG1, copies, "none"));
    await aMinuteLater(async () => {
      await (await openStream(p)).close();
      const now = repeated(MPEG1, copies - 50, "none");
      await writeFile(p, now);
      const reader = await openStream(p);
      try {
        expect(reader.bytesRead).toBeGreaterThanOrEqual(now.length);
        expect(reader.info.frames).toBe(framesOf(copies - 50));
        await expectReadsAs(reader, now);
      } finally {
        await reader.close();
      }
    });
  });

  it("a file rewritten with other frames of the same size, its modification time set back, is scanned again (its change time differs)", async () => {
    const was = repeated(MPEG1, copies, "none");
    // The last copy's frames replaced by zeros (bytes after the last frame that are no frame, skipped): a copy fewer, the same size.
    const now = was.slice();
    now.fill(0, was.length - bytesOf(MPEG1.frames));
    const p = await file("same-size.mp3", was);
    const modified = 1_700_000_000; // whole seconds: set exactly twice
    await utimes(p, modified, modified);
    await aMinuteLater(async () => {
      await (await openStream(p)).close();
      await new Promise((resolve) => setTimeout(resolve, 50)); // a later tick of the file system's clock (a jiffy on Linux)
      await writeFile(p, now);
      await utimes(p, modified, modified);
      const reader = await openStream(p);
      try {
        expect(reader.bytesRead).toBeGreaterThanOrEqual(now.length);
        expect(reader.info.frames).toBe(framesOf(copies - 1)); // the kept index counted `copies`
        await expectReadsAs(reader, now);
      } finally {
        await reader.close();
      }
    });
  });

  it("a file changed less than 2 s before its scan has it scanned at every opening (a write within its time's tick would keep its identity)", async () => {
    const bytes = repeated(MPEG1, copies, "none");
    const p = await file("just-written.mp3", bytes);
    // The clock pinned 1 ms short of 2 s after the file's last change (FileIdentity.changedMs, its
    // ctime in whole ms), however long the write and scans take on a loaded machine.
    const changedMs = Number((await stat(p, { bigint: true })).ctimeNs / 1_000_000n);
    await atTime(changedMs + 1999, async () => {
      for (let i = 0; i < 2; i++) {
        const reader = await openStream(p);
        await reader.close();
        expect(reader.bytesRead, `opening ${i + 1}`).toBeGreaterThanOrEqual(bytes.length);
      }
    });
  });

  it("the fixture, its index kept, reads as from memory (no index kept), bit for bit, and as libsndfile does", async () => {
    const raw = readFileSync(path.join(GOLDEN, "mp3_mpeg_layer_iii.mp3.f32"));
    const golden = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const [kept, inMemory] = await aMinuteLater(async () => {
      await (await openStream(FIXTURE)).close();
      return [await openStream(FIXTURE, 500), await openAudio(new Uint8Array(readFileSync(FIXTURE)), { blockFrames: 500 })];
    });
    try {
      expect(kept.bytesRead).toBeLessThan(1000); // of 4968
      expect(kept.info.frames).toBe(golden.length);
      for (let k = Math.ceil(golden.length / 500) - 1; k >= 0; k--) {
        const got = await kept.read(0, k * 500, 500);
        expect(sameSamples(got, await inMemory.read(0, k * 500, 500)), `block ${k}`).toBe(true);
        got.forEach((v, i) => expect(Math.abs(v - golden[k * 500 + i])).toBeLessThan(1e-5));
      }
    } finally {
      await Promise.all([kept.close(), inMemory.close()]);
    }
  });
});

describe("fuzz: mutated MP3 streams read in any order give samples or an AudioFormatError", () => {
  it("40 mutants of a 20-copy MPEG-1 stream, reads in a random order", async () => {
    const bytes = repeated(MPEG1, 20, "info");
    const p = path.join(dir, "mutant.mp3");
    const mutation = fc.record({ at: fc.nat({ max: bytes.length - 1 }), value: fc.nat({ max: 255 }) });
    await fc.assert(fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 8 }), fc.array(fc.nat({ max: 400_000 }), { minLength: 3, maxLength: 6 }), async (ms, starts) => {
      const b = bytes.slice();
      for (const m of ms) b[m.at] = m.value;
      await writeFile(p, b);
      try {
        const reader = await openAudio(p, { blockFrames: 2000 });
        try {
          for (const s of starts) await reader.read(0, Math.min(s, reader.info.frames), 3000);
        } finally {
          await reader.close();
        }
      } catch (err) {
        expect(err).toBeInstanceOf(AudioFormatError);
      }
    }), { numRuns: 40 });
  });
});
