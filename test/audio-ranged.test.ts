/**
 * Ranged reads on multi-GB files (sparse: written header + a few samples, then `truncate` to full
 * size, so they cost no disk): reading near the end fetches exactly the bytes of that range.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AudioFormatError, decode, openAudio } from "../src/audio/index.js";
import { floatWavHeader } from "../src/audio/wavwriter.js";
import { verbatimFlac } from "./audio-helpers.js";
import { random } from "./random.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "sonotile-ranged-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes a sparse float32 WAV/RF64 of `frames` × `channels` with `tail` written at frame `at`. */
async function sparseFloatWav(name: string, frames: number, channels: number, at: number, tail: Float32Array): Promise<string> {
  const file = path.join(dir, name);
  const header = floatWavHeader(frames, channels, 48000);
  const fh = await open(file, "w");
  try {
    await fh.write(header, 0, header.length, 0);
    await fh.write(new Uint8Array(tail.buffer), 0, tail.byteLength, header.length + at * channels * 4);
    await fh.truncate(header.length + frames * channels * 4);
  } finally {
    await fh.close();
  }
  return file;
}

describe("ranged reads touch only the requested bytes", () => {
  it("RF64 of 6 GB (1.5e9 float frames): last samples", async () => {
    const frames = 1_500_000_000;
    const tail = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i / 10));
    const file = await sparseFloatWav("big.rf64", frames, 1, frames - 1000, tail);
    const reader = await openAudio(file);
    try {
      expect(reader.info.container).toBe("rf64");
      expect(reader.info.frames).toBe(frames);
      const before = reader.bytesRead!;
      expect(before).toBeLessThan(200); // the header only
      const x = await reader.read(0, frames - 1000, 5000); // clipped at the end
      expect(x).toEqual(tail);
      expect(reader.bytesRead! - before).toBe(1000 * 4);
      const mid = await reader.read(0, 900_000_000, 48000);
      expect(mid.every((v) => v === 0)).toBe(true);
      expect(reader.bytesRead! - before).toBe((1000 + 48000) * 4);
      // Memory stays flat: the last quarter of the 6 GB file (1.5 GB), read a minute at a time,
      // never holds more than a few pieces at once (the garbage collector frees the rest).
      const buffersBefore = process.memoryUsage().arrayBuffers;
      let largest = 0;
      for (let at = (frames * 3) / 4; at < frames; at += 60 * 48000) {
        await reader.read(0, at, 60 * 48000);
        largest = Math.max(largest, process.memoryUsage().arrayBuffers - buffersBefore);
      }
      expect(reader.bytesRead! - before).toBe((1000 + 48000) * 4 + (frames / 4) * 4);
      expect(largest).toBeLessThan(256 << 20);
    } finally {
      await reader.close();
    }
  });

  it("stereo WAV just under 4 GiB: one channel of a range near the end", async () => {
    const frames = 536_000_000; // × 2 channels × 4 bytes = 4.288e9 bytes < 2^32 − header
    const tail = Float32Array.from({ length: 200 }, (_, i) => (i % 2 ? -1 : 1) * (i / 400)); // interleaved L/R
    const file = await sparseFloatWav("big.wav", frames, 2, frames - 100, tail);
    const reader = await openAudio(file);
    try {
      expect([reader.info.container, reader.info.channels, reader.info.frames]).toEqual(["wav", 2, frames]);
      const before = reader.bytesRead!;
      const right = await reader.read(1, frames - 100, 100);
      expect(right).toEqual(Float32Array.from({ length: 100 }, (_, i) => tail[2 * i + 1]));
      // Interleaved frames: a channel costs the whole frames of its range, nothing more.
      expect(reader.bytesRead! - before).toBe(100 * 2 * 4);
    } finally {
      await reader.close();
    }
  });
});

describe("one reader, many reads", () => {
  it("reads that overlap in time (each needing more than one batch) equal the same reads one after another", async () => {
    // Stereo float: 3 M frames × 8 bytes = 24 MB, several 4 MB batches per read; the reader
    // reuses its batch buffer between reads, so overlapping reads must each get their own.
    const frames = 3_000_000;
    const x = Float32Array.from({ length: 2 * frames }, (_, i) => Math.sin(i * 0.001) * (i % 2 ? 0.5 : 1));
    const file = path.join(dir, "stereo.wav");
    const fh = await open(file, "w");
    await fh.write(floatWavHeader(frames, 2, 48000));
    await fh.write(new Uint8Array(x.buffer));
    await fh.close();
    const reader = await openAudio(file);
    try {
      const ranges: [number, number, number][] = [[0, 0, frames], [1, 100_000, 2_000_000], [0, 2_500_000, 600_000], [1, 7, 1_234_567]];
      await reader.read(0, 0, frames); // leaves the reader a spare batch buffer
      const together = await Promise.all(ranges.map(([c, s, n]) => reader.read(c, s, n)));
      for (const [i, [c, s, n]] of ranges.entries()) {
        const alone = await reader.read(c, s, n);
        const expected = Float32Array.from({ length: Math.min(n, frames - s) }, (_, j) => x[2 * (s + j) + c]);
        // Compared as bytes: vitest's deep equality is far too slow for millions of elements.
        const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
        expect(bytes(together[i]).equals(bytes(expected)), `overlapping read ${i}`).toBe(true);
        expect(bytes(alone).equals(bytes(expected)), `read ${i} alone`).toBe(true);
      }
    } finally {
      await reader.close();
    }
  });
});

const formats = path.resolve(import.meta.dirname, "../../shared/fixtures/formats");

describe("reading into a caller's buffer", () => {
  it.each(["wav_float.wav", "wav_pcm_24.wav", "w64_ms_adpcm.w64", "flac_pcm_16.flac", "mp3_mpeg_layer_iii.mp3"])("%s: the samples land in the buffer given, equal to a plain read", async (name) => {
    const reader = await openAudio(path.join(formats, name));
    try {
      const into = new Float32Array(10_000).fill(7);
      for (const [start, count] of [[0, 5000], [3210, 10_000], [15_000, 5000]]) {
        const plain = await reader.read(0, start, count);
        const got = await reader.read(0, start, count, into);
        expect(got.buffer).toBe(into.buffer);
        expect(got).toEqual(plain);
      }
      // A buffer too short for the range is not used.
      const short = new Float32Array(10);
      expect((await reader.read(0, 0, 100, short)).buffer).not.toBe(short.buffer);
    } finally {
      await reader.close();
    }
  });
});

describe("blocking reads (openAudio's blockingReads, as pool workers open recordings)", () => {
  it.each(["wav_float.wav", "wav_pcm_24.wav", "w64_ms_adpcm.w64", "aiff_pcm_16.aiff", "flac_pcm_16.flac", "mp3_mpeg_layer_iii.mp3", "ogg_vorbis.ogg"])("%s: the same samples and the same bytes fetched as the default reads", async (name) => {
    // Opened once before, so that both find an MP3's frame index kept (a whole scan's): opened at
    // once, the one with blocking reads could keep it before the other looked for it.
    await (await openAudio(path.join(formats, name))).close();
    const [plain, blocking] = await Promise.all([openAudio(path.join(formats, name)), openAudio(path.join(formats, name), { blockingReads: true })]);
    try {
      expect(blocking.info).toEqual(plain.info);
      const { frames, channels } = plain.info;
      for (const [start, count] of [[0, frames], [3210, 10_000], [frames - 700, 5000]]) {
        for (let c = 0; c < channels; c++) {
          const [a, b] = [await plain.read(c, start, count), await blocking.read(c, start, count)];
          expect(a.length).toBe(Math.min(count, frames - start));
          expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength))).toBe(true);
        }
      }
      expect(blocking.bytesRead).toBe(plain.bytesRead);
    } finally {
      await Promise.all([plain.close(), blocking.close()]);
    }
  });
});

describe("a file that shrinks after it was opened", () => {
  // Mono float32 samples are fetched straight into the output (codec.storedAsFloat32); other
  // encodings go through the batch buffer and a conversion. Either way a short read is an error
  // naming where the data stops, never zeros or stale samples passed off as the recording.
  // Pool workers read with blocking reads (openAudio's blockingReads), everything else through
  // libuv's thread pool: both must see the short read.
  it.each([
    ["mono float32 (read straight into the output)", 1, false],
    ["stereo float32 (converted)", 2, false],
    ["mono float32, blocking reads", 1, true],
    ["stereo float32, blocking reads", 2, true],
  ])("%s: AudioFormatError", async (_, channels, blockingReads) => {
    const frames = 100_000;
    const file = path.join(dir, `shrinks-${channels}-${blockingReads}.wav`);
    const header = floatWavHeader(frames, channels, 48000);
    const fh = await open(file, "w");
    await fh.write(header);
    await fh.write(new Uint8Array(new Float32Array(frames * channels).fill(0.25).buffer));
    await fh.close();
    const reader = await openAudio(file, { blockingReads });
    try {
      expect((await reader.read(0, 0, 10)).every((v) => v === 0.25)).toBe(true);
      const cut = await open(file, "r+");
      await cut.truncate(header.length + 4 * channels * 50_000);
      await cut.close();
      expect((await reader.read(0, 49_000, 1000)).every((v) => v === 0.25)).toBe(true);
      const late = reader.read(0, 49_000, 2000);
      await expect(late).rejects.toThrow(AudioFormatError);
      await expect(late).rejects.toThrow(`file ended early: sample data stops at byte ${header.length + 4 * channels * 50_000}`);
      // A read wholly past the new end says where it looked: the data stops before that.
      const past = header.length + 4 * channels * 90_000;
      await expect(reader.read(0, 90_000, 10)).rejects.toThrow(`file ended early: no sample data at byte ${past} (the file is shorter than when it was opened)`);
    } finally {
      await reader.close();
    }
  });
});

describe("FLAC whose STREAMINFO block size is false (ranged reads seek by frame headers)", () => {
  // 60 000 samples of 16-bit noise in frames of 1152: 120 KB, more than the 64 KiB a seek scans
  // at once, so reads far from the start bisect the file by frame headers.
  const next = random(11);
  const samples = Int32Array.from({ length: 60_000 }, () => Math.floor(next() * 65536) - 32768);
  const want = Float32Array.from(samples, (v) => v / 32768);
  const ranges = [[50_000, 3000], [1_234, 700], [30_000, 5000], [58_900, 2000], [10_000, 1], [0, 1500]];

  it.each([
    ["1152 (true)", [1152, 1152]],
    ["4096", [4096, 4096]],
    ["576", [576, 576]],
    ["16 to 65535", [16, 65535]],
    ["1152 to 4608", [1152, 4608]],
  ] as [string, [number, number]][])("frames of 1152, STREAMINFO saying %s: every range equals the stream — seeks found no frame, or it was refused as cut short", async (_, stated) => {
    const flac = verbatimFlac([samples], 48000, 16, 1152, false, undefined, stated);
    expect((await decode(flac)).data[0]).toEqual(want); // decoded from the start (libsndfile reads the true file so too)
    const reader = await openAudio(flac, { blockFrames: 1000 });
    try {
      expect(reader.info.frames).toBe(samples.length);
      for (const [start, count] of ranges) expect(await reader.read(0, start, count), `${start}+${count}`).toEqual(want.subarray(start, start + count));
    } finally {
      await reader.close();
    }
  });

  it("flac_pcm_16.flac (frames of 4096) with STREAMINFO saying 1152 reads as the fixture does — it was refused as cut short", async () => {
    const fixture = new Uint8Array(readFileSync(path.join(formats, "flac_pcm_16.flac")));
    const whole = (await decode(fixture)).data[0];
    const lying = fixture.slice();
    new DataView(lying.buffer).setUint16(8, 1152); // STREAMINFO min block size
    new DataView(lying.buffer).setUint16(10, 1152); // and max
    const reader = await openAudio(lying, { blockFrames: 500 });
    try {
      expect(reader.info.frames).toBe(whole.length);
      for (const [start, count] of [[15_000, 2000], [9_000, 500], [4_100, 10], [12_288, 1000]]) expect(await reader.read(0, start, count), `${start}+${count}`).toEqual(whole.subarray(start, start + count));
    } finally {
      await reader.close();
    }
  });
});
