/**
 * Every fixture decodes to what libsndfile gives (golden digests from scripts/golden_audio.py):
 * lossless formats sample-exact at the digest positions and in sum / sum of squares; lossy
 * formats by length and correlation (decoders differ in priming and rounding).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { IMA_INDEX_ADJUST, IMA_STEP } from "../src/audio/adpcm.js";
import { decode, openAudio } from "../src/audio/index.js";
import { concatBytes } from "./audio-helpers.js";
import { random } from "./random.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const FIXTURES = path.resolve(ROOT, "../shared/fixtures");
const GOLDEN = path.join(ROOT, "test/golden/audio");

interface Digest {
  samplerate: number;
  channels: number;
  frames: number;
  format: string;
  subtype: string;
  positions: number[];
  values: number[][];
  sum: number[];
  sumsq: number[];
  signal?: string;
}
const digests: Record<string, Digest> = JSON.parse(readFileSync(path.join(GOLDEN, "digests.json"), "utf8"));
const LOSSY = new Set(["MP3", "OGG"]);
const lossless = Object.entries(digests).filter(([, d]) => !LOSSY.has(d.format));
// Fixture files (keyed "formats/…", "recordings/…"); synthetic seek-test inputs are covered in audio-compressed.test.ts.
const lossy = Object.entries(digests).filter(([rel, d]) => LOSSY.has(d.format) && rel.includes("/"));

function sums(x: Float32Array): [number, number] {
  let s = 0;
  let q = 0;
  for (let i = 0; i < x.length; i++) {
    s += x[i];
    q += x[i] * x[i];
  }
  return [s, q];
}

describe("lossless fixtures decode exactly as libsndfile", () => {
  it.each(lossless)("%s", async (rel, d) => {
    const out = await decode(path.join(FIXTURES, rel));
    expect([out.samplerate, out.channels, out.frames]).toEqual([d.samplerate, d.channels, d.frames]);
    for (let c = 0; c < d.channels; c++) {
      const x = out.data[c];
      expect(x.length).toBe(d.frames);
      const got = d.positions.map((p) => x[p]);
      expect(got).toEqual(d.values[c].map(Math.fround));
      const [s, q] = sums(x);
      // numpy sums pairwise, we sum in order: equal up to float64 rounding.
      expect(Math.abs(s - d.sum[c])).toBeLessThan(1e-9 * d.frames);
      expect(Math.abs(q - d.sumsq[c])).toBeLessThan(1e-9 * d.frames);
    }
  });
});

describe("ranged reads agree with the whole decode", () => {
  it.each(lossless.filter(([rel]) => rel.startsWith("formats/")))("%s", async (rel, d) => {
    const reader = await openAudio(path.join(FIXTURES, rel));
    try {
      const whole = await reader.read(0, 0, d.frames);
      for (const [start, count] of [[0, 1], [1, 1000], [4095, 3333], [d.frames - 7, 100], [d.frames, 10]]) {
        const part = await reader.read(0, start, count);
        expect(part).toEqual(whole.subarray(start, Math.min(d.frames, start + count)));
      }
    } finally {
      await reader.close();
    }
  });
});

/** Pearson correlation of x and y over their common length. */
function correlation(x: Float32Array, y: Float32Array): number {
  const n = Math.min(x.length, y.length);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += x[i] * y[i];
    sxx += x[i] * x[i];
    syy += y[i] * y[i];
  }
  return sxy / Math.sqrt(sxx * syy);
}

describe("lossy fixtures match libsndfile by length and correlation", () => {
  it.each(lossy)("%s", async (rel, d) => {
    const out = await decode(path.join(FIXTURES, rel));
    expect([out.samplerate, out.channels]).toEqual([d.samplerate, d.channels]);
    // Decoders may differ by their priming / end padding: at most one codec frame (MP3: 1152).
    expect(Math.abs(out.frames - d.frames)).toBeLessThanOrEqual(1152);
    const raw = readFileSync(path.join(GOLDEN, d.signal!));
    const golden = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    expect(correlation(out.data[0], golden)).toBeGreaterThan(0.999);
  });
});

describe("RIFX (big-endian RIFF)", () => {
  it("reads the same samples as the little-endian original (wav_pcm_16.wav byte-swapped)", async () => {
    const wav = new Uint8Array(readFileSync(path.join(FIXTURES, "formats/wav_pcm_16.wav")));
    const le = new DataView(wav.buffer, wav.byteOffset, wav.byteLength);
    const rifx = wav.slice();
    const be = new DataView(rifx.buffer);
    rifx.set([0x52, 0x49, 0x46, 0x58], 0); // "RIFX"
    // 32-bit sizes at 4, 16, 40; fmt fields: tag, channels (16-bit), rate, byte rate (32-bit), block align, bits (16-bit).
    for (const at of [4, 16, 24, 28, 40]) be.setUint32(at, le.getUint32(at, true), false);
    for (const at of [20, 22, 32, 34]) be.setUint16(at, le.getUint16(at, true), false);
    for (let at = 44; at + 2 <= wav.length; at += 2) be.setInt16(at, le.getInt16(at, true), false);
    const d = digests["formats/wav_pcm_16.wav"];
    const out = await decode(rifx);
    expect([out.samplerate, out.frames]).toEqual([d.samplerate, d.frames]);
    expect(d.positions.map((p) => out.data[0][p])).toEqual(d.values[0].map(Math.fround));
  });
});

/** `patched`, a 16000-frame fixture with its size fields rewritten, decodes to the fixture's samples. */
async function expectSameAudio(patched: Uint8Array, fixture: Uint8Array): Promise<void> {
  const [got, whole] = await Promise.all([decode(patched), decode(fixture)]);
  expect(got.frames).toBe(16000);
  expect(got.data[0]).toEqual(whole.data[0]);
}

describe("AIFC little-endian 24- and 32-bit PCM ('42n1', '23ni': what libsndfile writes for endian='LITTLE')", () => {
  /**
   * The plain AIFF fixture `name` (COMM of 18 bytes at 12, SSND with offset 0 after it) as AIFC
   * with compression type `compression` and its samples byte-swapped to little-endian.
   */
  function littleEndianAifc(name: string, compression: string, bytesPerSample: number): Uint8Array {
    const aiff = new Uint8Array(readFileSync(path.join(FIXTURES, "formats", name)));
    const commFields = aiff.subarray(20, 38); // channels, frames, bits, 80-bit rate
    const samples = aiff.slice(38 + 16); // after the SSND header, its offset and block size
    for (let at = 0; at + bytesPerSample <= samples.length; at += bytesPerSample) samples.subarray(at, at + bytesPerSample).reverse();
    const commSize = 18 + 4 + 2; // + compression type + an empty Pascal string, padded to even
    const out = new Uint8Array(12 + 8 + commSize + 16 + samples.length);
    const v = new DataView(out.buffer);
    const text = (at: number, s: string) => out.set([...s].map((c) => c.charCodeAt(0)), at);
    text(0, "FORM");
    v.setUint32(4, out.length - 8, false);
    text(8, "AIFC");
    text(12, "COMM");
    v.setUint32(16, commSize, false);
    out.set(commFields, 20);
    text(38, compression);
    text(44, "SSND");
    v.setUint32(48, 8 + samples.length, false);
    out.set(samples, 60);
    return out;
  }

  it.each([
    ["aiff_pcm_24.aiff", "42n1", 3],
    ["aiff_pcm_32.aiff", "23ni", 4],
  ] as const)("%s as '%s' reads the same samples", async (name, compression, bytesPerSample) => {
    const d = digests[`formats/${name}`];
    const out = await decode(littleEndianAifc(name, compression, bytesPerSample));
    expect([out.samplerate, out.channels, out.frames]).toEqual([d.samplerate, d.channels, d.frames]);
    expect(d.positions.map((p) => out.data[0][p])).toEqual(d.values[0].map(Math.fround));
  });
});

describe("an AIFF sample rate that is not whole Hz", () => {
  it("reads as libsndfile's whole Hz, truncated: the classic Macintosh 22254.545… Hz is 22254 Hz", async () => {
    const fixture = new Uint8Array(readFileSync(path.join(FIXTURES, "formats/aiff_pcm_16.aiff")));
    const mac = fixture.slice();
    mac.set([0x40, 0x0d, 0xad, 0xdd, 0x17, 0x45, 0xd1, 0x74, 0x5d, 0x17], 28); // COMM's 80-bit rate: 22254.545454545456
    const [got, whole] = await Promise.all([decode(mac), decode(fixture)]);
    expect(got.samplerate).toBe(22254);
    expect(got.data[0]).toEqual(whole.data[0]);
  });
});

describe("RF64 data size: the ds64 chunk's, else the data chunk's 32-bit field, else the rest of the file", () => {
  // rf64_pcm_16.rf64: ds64 data size (64-bit) at byte 28, data chunk header at 96 (its 32-bit size
  // at 100, 0xFFFFFFFF), 32000 bytes of samples from 104 to the end of the file.
  const rf64 = new Uint8Array(readFileSync(path.join(FIXTURES, "formats/rf64_pcm_16.rf64")));
  /** rf64_pcm_16.rf64 with ds64's data size `ds64` and the data chunk's 32-bit size `field`, then `extra` bytes after the samples. */
  function sized(ds64: number, field: number, extra = 0): Uint8Array {
    const b = new Uint8Array(rf64.length + extra);
    b.set(rf64);
    const v = new DataView(b.buffer);
    expect([v.getUint32(28, true), Buffer.from(b.subarray(96, 100)).toString(), v.getUint32(100, true), rf64.length]).toEqual([32000, "data", 0xffffffff, 104 + 32000]);
    v.setBigUint64(28, BigInt(ds64), true);
    v.setUint32(100, field, true);
    return b;
  }

  it.each([
    ["ds64 32000, field 0 (a writer that streams)", 32000, 0],
    ["ds64 32000, field 1000", 32000, 1000],
  ])("%s: the 16000 frames libsndfile reads — it gave 0 and 500 frames where the field was not 0xFFFFFFFF", async (_, ds64, field) => {
    await expectSameAudio(sized(ds64, field), rf64);
  });

  // libsndfile reads each of these as 0 frames.
  it.each([
    ["ds64 0, field 32000: the field's", 0, 32000, 0],
    ["ds64 0, field 0xFFFFFFFF (never finalised): the rest of the file", 0, 0xffffffff, 0],
    ["ds64 0, field 0 (never finalised): the rest of the file", 0, 0, 0],
    ["ds64 0, field 0, a byte after the last whole frame: the rest of the file's whole frames", 0, 0, 1],
  ])("%s — it gave 0 frames without a word where the field was 0 or 0xFFFFFFFF", async (_, ds64, field, extra) => {
    await expectSameAudio(sized(ds64, field, extra), rf64);
  });

  it.each([
    ["ds64 0, field 0", 0],
    ["ds64 0, field 0xFFFFFFFF", 0xffffffff],
  ])("%s with a LIST chunk after the samples: the audio ends where the chunk begins, as in a WAV (it was read as 6 frames of audio)", async (_, field) => {
    const list = new Uint8Array([..."LISTxxxxINFO"].map((c) => c.charCodeAt(0)));
    new DataView(list.buffer).setUint32(4, 4, true);
    await expectSameAudio(concatBytes(sized(0, field), list), rf64);
  });

  it("a ds64 data size short of the file still counts (1000 bytes: 500 frames), as in libsndfile", async () => {
    const [got, whole] = await Promise.all([decode(sized(1000, 0xffffffff)), decode(rf64)]);
    expect(got.data[0]).toEqual(whole.data[0].subarray(0, 500));
  });
});

describe("WAV data size left unset by its writer: the rest of the file", () => {
  // wav_pcm_16.wav: the data chunk's header at byte 36 (its size at 40: 32000), the samples from 44 to the end.
  const wav = new Uint8Array(readFileSync(path.join(FIXTURES, "formats/wav_pcm_16.wav")));
  /** wav_pcm_16.wav with the data chunk's size field `field` (and the RIFF size `riff`), then `extra` bytes. */
  function sized(field: number, riff?: number, extra: Uint8Array = new Uint8Array(0)): Uint8Array {
    const b = new Uint8Array(wav.length + extra.length);
    b.set(wav);
    b.set(extra, wav.length);
    const v = new DataView(b.buffer);
    expect([Buffer.from(b.subarray(36, 40)).toString(), v.getUint32(40, true), wav.length]).toEqual(["data", 32000, 44 + 32000]);
    v.setUint32(40, field, true);
    if (riff !== undefined) v.setUint32(4, riff, true);
    return b;
  }

  it.each([
    ["0xFFFFFFFF, as a writer to a pipe leaves it (libsndfile: 16000 frames; this was refused as truncated)", 0xffffffff, undefined],
    ["0xFFFFFFFF, the RIFF size too", 0xffffffff, 0xffffffff],
    ["0, as a recorder stopped before finalising leaves it (libsndfile: 0 frames, as this was)", 0, 0],
  ])("%s", async (_, field, riff) => {
    await expectSameAudio(sized(field, riff), wav);
  });

  it("the rest of the file in whole frames: a byte after the last one is not read", async () => {
    const got = await decode(sized(0xffffffff, undefined, new Uint8Array([7])));
    expect(got.frames).toBe(16000);
  });

  it("an empty data chunk followed by another chunk stays empty", async () => {
    // The data chunk of 0 bytes, then a LIST chunk of 4 bytes ("INFO"), instead of the samples.
    const b = sized(0).subarray(0, 44 + 12);
    b.set([..."LIST"].map((c) => c.charCodeAt(0)), 44);
    new DataView(b.buffer).setUint32(48, 4, true);
    b.set([..."INFO"].map((c) => c.charCodeAt(0)), 52);
    expect((await openAudio(b)).info.frames).toBe(0);
  });

  /** A RIFF chunk: `id`, its size (little-endian) and `body`, padded to an even length. */
  function chunk(id: string, body: Uint8Array | string): Uint8Array {
    const bytes = typeof body === "string" ? new Uint8Array(Buffer.from(body, "latin1")) : body;
    const b = new Uint8Array(8 + bytes.length + (bytes.length & 1));
    b.set(Buffer.from(id, "latin1"));
    new DataView(b.buffer).setUint32(4, bytes.length, true);
    b.set(bytes, 8);
    return b;
  }
  // A LIST/INFO chunk (INAM "hello" with its NUL: 26 bytes), an ID3 tag's header, an empty cue list, an odd-sized iXML chunk.
  const listInfo = chunk("LIST", concatBytes(Buffer.from("INFO"), chunk("INAM", "hello\0")));
  const id3 = chunk("id3 ", concatBytes(Buffer.from("ID3"), new Uint8Array([4, 0, 0, 0, 0, 0, 0])));
  const cue = chunk("cue ", concatBytes(new Uint8Array(4), new Uint8Array(24)));
  const ixml = chunk("iXML", "<BWFXML/>");

  it.each([
    ["0 with a LIST/INFO chunk after the audio (read as 13 frames of audio)", 0, [listInfo]],
    ["0 with an odd-sized chunk whose pad byte the file lacks", 0, [listInfo, ixml.subarray(0, ixml.length - 1)]],
    ["0 with a chain of chunks after the audio: cue, id3, LIST", 0, [cue, id3, listInfo]],
    ["0xFFFFFFFF with a bext chunk after the audio (libsndfile reads it as audio)", 0xffffffff, [chunk("bext", new Uint8Array(602))]],
  ])("unset size %s: the audio ends where the chunks after it begin", async (_, field, tail) => {
    const b = sized(field, 0, concatBytes(...tail));
    await expectSameAudio(b, wav);
  });

  it("the LIST/INFO chunk after audio of unset size is read as the recording's metadata", async () => {
    const reader = await openAudio(sized(0, 0, listInfo));
    expect([reader.info.frames, reader.info.metadata.info]).toEqual([16000, { INAM: "hello" }]);
  });

  it.each([
    ["an unknown chunk id", concatBytes(chunk("abcd", new Uint8Array(40)))],
    ["a known id whose size ends before the end of the file", concatBytes(chunk("LIST", new Uint8Array(40)), new Uint8Array(10))],
    ["a known id whose size ends past the end of the file", chunk("LIST", new Uint8Array(40)).subarray(0, 30)],
  ])("bytes after audio of unset size that are no recognisable chunk (%s) stay audio", async (_, tail) => {
    const got = await decode(sized(0, 0, tail));
    expect(got.frames).toBe(16000 + Math.floor(tail.length / 2));
  });
});

describe("ADPCM data that ends inside a block", () => {
  /**
   * `name` with its data chunk (WAV `data`, AIFF `SSND`: the last chunk) cut `cut` bytes short,
   * sizes made to agree: a final block cut short.
   */
  function cutData(name: string, cut: number): Uint8Array {
    const b = new Uint8Array(readFileSync(path.join(FIXTURES, "formats", name)));
    const v = new DataView(b.buffer);
    const le = !name.endsWith(".aiff");
    const at = Buffer.from(b).indexOf(le ? "data" : "SSND");
    expect(at + 8 + v.getUint32(at + 4, le)).toBe(b.length); // the fixture ends with its data
    v.setUint32(at + 4, v.getUint32(at + 4, le) - cut, le);
    v.setUint32(4, b.length - cut - 8, le);
    return b.subarray(0, b.length - cut);
  }

  // wav_ima_adpcm.wav: mono, blocks of 512 bytes (1017 frames); wav_ms_adpcm.wav: mono, 512 bytes
  // (1012 frames); aiff_ima_adpcm.aiff: mono, packets of 34 bytes (64 frames, the header sample not
  // output). The cut block was dropped here — up to 1016 good frames lost without a word. libsndfile
  // counts a cut IMA block whole and decodes its missing bytes as whatever its buffer held (its own
  // seeking and sequential reads of one such file differ by up to 1.5), and drops a cut MS block.
  it.each([
    ["wav_ima_adpcm.wav", 1, 16272 - 2],
    ["wav_ima_adpcm.wav", 256, 16272 - 512],
    ["wav_ima_adpcm.wav", 508, 16272 - 1016], // only the block's header left: its first sample
    ["wav_ima_adpcm.wav", 512, 16272 - 1017],
    ["wav_ms_adpcm.wav", 1, 16192 - 2],
    ["wav_ms_adpcm.wav", 505, 16192 - 1010], // only the header: its two samples
    ["aiff_ima_adpcm.aiff", 1, 16000 - 2],
    ["aiff_ima_adpcm.aiff", 31, 16000 - 62], // the header and one byte: two frames
    ["aiff_ima_adpcm.aiff", 32, 16000 - 64], // only the header
  ])("%s cut %i bytes short: the frames it holds whole, as the intact file has them", async (name, cut, frames) => {
    const [short, whole] = await Promise.all([decode(cutData(name, cut)), decode(path.join(FIXTURES, "formats", name))]);
    expect(short.frames).toBe(frames);
    expect(short.data[0]).toEqual(whole.data[0].subarray(0, frames));
  });

  it("a stereo IMA block cut short holds the frames whose nibbles of both channels are there", async () => {
    const { imaWavCodec } = await import("../src/audio/adpcm.js");
    // Stereo, blocks of 72 bytes: per channel a 4-byte header, then 4-byte groups (8 nibbles) left, right in turn: 1 + 8·8 frames.
    const codec = imaWavCodec(2, 72, 65);
    // Frame 0 is whole with both headers; frame n ≥ 1 once the right channel's byte holding its nibble n − 1 is there (group ⌊(n−1)/8⌋·2 + 1, byte ((n−1) mod 8) >> 1).
    const lastByte = (n: number) => (n === 0 ? 7 : 8 + (Math.floor((n - 1) / 8) * 2 + 1) * 4 + (((n - 1) % 8) >> 1));
    const whole = (bytes: number) => {
      let n = 0;
      while (n < 65 && lastByte(n) < bytes) n++;
      return n;
    };
    for (let bytes = 0; bytes < 72; bytes++) expect(codec.framesInPartialBlock!(bytes), `${bytes} bytes`).toBe(whole(bytes));
  });

  it("a stereo AIFC ima4 block cut short holds the frames whose nibbles of both channels are there", async () => {
    const { imaAiffCodec } = await import("../src/audio/adpcm.js");
    // Stereo: the left packet (34 bytes: 2-byte header, 64 nibbles), then the right one; frame n once the right packet's byte 2 + ⌊n/2⌋ is there.
    const codec = imaAiffCodec(2);
    const whole = (bytes: number) => Array.from({ length: 64 }, (_, n) => 34 + 2 + (n >> 1)).filter((last) => last < bytes).length;
    for (let bytes = 0; bytes < 68; bytes++) expect(codec.framesInPartialBlock!(bytes), `${bytes} bytes`).toBe(whole(bytes));
  });
});

describe("IMA ADPCM decoding (a step table per step index and nibble)", () => {
  /**
   * IMA ADPCM as the IMA's recommended practice and libsndfile (ima_adpcm.c) decode it, one step at
   * a time: the nibbles of one channel from `predictor` and `index`, at libsndfile's scale. (The
   * tables themselves are checked by the fixtures' libsndfile digests.)
   */
  function imaReference(nibbles: number[], predictor: number, index: number): number[] {
    let i = Math.min(88, index);
    return nibbles.map((nibble) => {
      const step = IMA_STEP[i];
      let diff = step >> 3;
      if (nibble & 1) diff += step >> 2;
      if (nibble & 2) diff += step >> 1;
      if (nibble & 4) diff += step;
      predictor = Math.max(-32768, Math.min(32767, nibble & 8 ? predictor - diff : predictor + diff));
      i = Math.max(0, Math.min(88, i + IMA_INDEX_ADJUST[nibble]));
      return predictor / 32768;
    });
  }

  // Random bytes reach every step index and nibble, header indices past 88 and the predictor
  // clipped at both ends, which a recording's 16 000 samples (the fixtures) may not.
  it("IMA ADPCM blocks of random bytes decode as the IMA steps taken one at a time: WAV mono and stereo, AIFC ima4", async () => {
    const { imaAiffCodec, imaWavCodec } = await import("../src/audio/adpcm.js");
    const rng = random(11);
    const bytesOf = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rng() * 256));
    const nibblesOf = (b: Uint8Array) => Array.from(b).flatMap((x) => [x & 0x0f, x >> 4]);
    for (const channels of [1, 2]) {
      const blockAlign = 4 * channels * 65; // a 4-byte header and 64 groups of 4 bytes per channel: 513 frames
      const codec = imaWavCodec(channels, blockAlign, 513);
      const bytes = bytesOf(blockAlign * 40);
      for (let channel = 0; channel < channels; channel++) {
        const out = new Float32Array(40 * 513);
        codec.decode(bytes, 40, channel, out);
        const expected = Array.from({ length: 40 }, (_, b) => {
          const base = b * blockAlign;
          const predictor = (bytes[base + 4 * channel] | (bytes[base + 4 * channel + 1] << 8)) << 16 >> 16;
          const groups = Array.from({ length: 64 }, (_, g) => bytes.subarray(base + 4 * channels + (g * channels + channel) * 4, base + 4 * channels + (g * channels + channel) * 4 + 4));
          return [predictor / 32768, ...imaReference(groups.flatMap(nibblesOf), predictor, bytes[base + 4 * channel + 2])];
        }).flat();
        expect(Array.from(out), `${channels} channel(s), channel ${channel}`).toEqual(expected);
      }
    }
    for (const channels of [1, 2]) {
      const codec = imaAiffCodec(channels);
      const bytes = bytesOf(34 * channels * 40);
      for (let channel = 0; channel < channels; channel++) {
        const out = new Float32Array(40 * 64);
        codec.decode(bytes, 40, channel, out);
        const expected = Array.from({ length: 40 }, (_, b) => {
          const base = (b * channels + channel) * 34;
          const predictor = ((bytes[base] << 8) | (bytes[base + 1] & 0x80)) << 16 >> 16;
          return imaReference(nibblesOf(bytes.subarray(base + 2, base + 34)), predictor, bytes[base + 1] & 0x7f);
        }).flat();
        expect(Array.from(out), `ima4, ${channels} channel(s), channel ${channel}`).toEqual(expected);
      }
    }
  });
});

describe("bext origination date and time", () => {
  it("are shown in ISO 8601 whatever separators EBU Tech 3285 allows the recorder (2016:02:17, 19.45.16)", async () => {
    // XC821988 (Avisoft): bext's OriginationDate "2016-02-17" at body byte 320, OriginationTime "19:45:16" at 330.
    const b = new Uint8Array(readFileSync(path.join(FIXTURES, "recordings/XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav")));
    const body = Buffer.from(b).indexOf("bext") + 8;
    expect(Buffer.from(b.subarray(body + 320, body + 338)).toString("latin1")).toBe("2016-02-1719:45:16");
    b.set(Buffer.from("2016:02:1719.45.16", "latin1"), body + 320);
    const reader = await openAudio(b);
    await reader.close();
    expect(reader.info.timestamp).toBe("2016-02-17T19:45:16"); // was "2016:02:17T19.45.16"
  });
});
