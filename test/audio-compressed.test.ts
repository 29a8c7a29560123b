/**
 * Compressed readers (block cache + forward cursor, FLAC seeking): any access order gives the same
 * samples as one sequential decode. Small blocks (500 frames, more than the 16-block cache holds)
 * force evictions, restarts and — for FLAC — seeks by frame-header bisection.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decode, openAudio } from "../src/audio/index.js";
import { parseFrameHeader } from "../src/audio/flacseek.js";
import { maxAbsDiff } from "./golden.js";

const FORMATS = path.resolve(import.meta.dirname, "../../shared/fixtures/formats");
const GOLDEN = path.resolve(import.meta.dirname, "golden/audio");
const digests = JSON.parse(readFileSync(path.join(GOLDEN, "digests.json"), "utf8"));

describe("random access equals sequential decoding", () => {
  it.each(["flac_pcm_16.flac", "flac_pcm_24.flac", "flac_pcm_s8.flac", "mp3_mpeg_layer_iii.mp3", "ogg_vorbis.ogg", "ogg_opus.ogg"])("%s", async (name) => {
    const file = path.join(FORMATS, name);
    const whole = (await decode(file)).data[0];
    const reader = await openAudio(file, { blockFrames: 500 });
    try {
      expect(reader.info.frames).toBe(whole.length);
      // End first (a seek or a full pass), then backwards, then a read spanning many blocks.
      for (const [start, count] of [[15_000, 2000], [12_345, 10], [0, 700], [7_777, 3_333], [499, 2], [3_000, 13_000], [15_999, 1]]) {
        expect(await reader.read(0, start, count)).toEqual(whole.subarray(start, Math.min(whole.length, start + count)));
      }
    } finally {
      await reader.close();
    }
  });
});

describe("Ogg seeking (6 s stereo synthetic files from scripts/golden_audio.py)", () => {
  it.each(["seek_vorbis.ogg", "seek_opus.ogg"])("%s: granule-bisection seeks equal sequential decoding and match libsndfile", async (name) => {
    const file = path.join(GOLDEN, name);
    const d = digests[name];
    const whole = await decode(file);
    expect([whole.samplerate, whole.channels, whole.frames]).toEqual([d.samplerate, d.channels, d.frames]);
    for (let c = 0; c < 2; c++) {
      // Lossy: libsndfile's libvorbis/libopus vs these WebAssembly builds agree to rounding.
      const got = d.positions.map((p: number) => whole.data[c][p]);
      got.forEach((v: number, i: number) => expect(Math.abs(v - d.values[c][i])).toBeLessThan(2e-3));
    }
    // 2048-frame blocks: reads far from the cursor seek by page granule (bisection over the file).
    const reader = await openAudio(file, { blockFrames: 2048 });
    try {
      for (const [start, count] of [[40_000, 5000], [30_001, 700], [47_000, 2000], [20_000, 100], [12_000, 9000], [2_000, 10]]) {
        for (let c = 0; c < 2; c++) {
          const got = await reader.read(c, start, count);
          const want = whole.data[c].subarray(start, Math.min(whole.frames, start + count));
          if (name.includes("vorbis")) expect(got).toEqual(want); // Vorbis restarts bit-exactly after one packet
          else {
            // Opus decoder state converges within the 80 ms pre-roll but not always to the last bit.
            expect(maxAbsDiff(got, want)).toBeLessThan(1e-6);
          }
        }
      }
    } finally {
      await reader.close();
    }
  });
});

describe("FLAC frame headers", () => {
  it("parses a fixed-blocksize header and checks its CRC-8", () => {
    // Frame 3 of a fixed 4096-sample stream: sync, bs code 12 (4096), rate from STREAMINFO,
    // mono, 16-bit, frame number 3, CRC-8 computed by hand below.
    const header = [0xff, 0xf8, 0xc0, 0x08, 0x03];
    let crc = 0;
    for (const byte of header) {
      crc ^= byte;
      for (let k = 0; k < 8; k++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
    }
    const b = Uint8Array.from([...header, crc, 0, 0]);
    expect(parseFrameHeader(b, 0, 4096)).toEqual({ sample: 3 * 4096, blocksize: 4096, headerBytes: 6 });
    b[5] ^= 1;
    expect(parseFrameHeader(b, 0, 4096)).toBeNull();
  });
});
