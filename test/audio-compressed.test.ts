/**
 * Compressed readers (block cache + forward cursor, FLAC seeking): any access order gives the same
 * samples as one sequential decode. Small blocks (500 frames, more than the 16-block cache holds)
 * force evictions, restarts and — for FLAC — seeks by frame-header bisection.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decode, openAudio } from "../src/audio/index.js";
import { parseFrameHeader } from "../src/audio/flacseek.js";

const FORMATS = path.resolve(import.meta.dirname, "../../shared/fixtures/formats");

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
