/**
 * Compressed readers (block cache + forward cursor, FLAC seeking): any access order gives the same
 * samples as one sequential decode. Small blocks (500 frames, more than the 16-block cache holds)
 * force evictions, restarts and — for FLAC — seeks by frame-header bisection.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AudioFormatError, type AudioReader, decode, openAudio } from "../src/audio/index.js";
import { StreamReader } from "../src/audio/stream-reader.js";
import { rescaleFlacInto } from "../src/audio/decoders.js";
import { parseFrameHeader, withStatedCodes } from "../src/audio/flacseek.js";
import { MAX_LINKS } from "../src/audio/oggseek.js";
import { concatBytes, decodeError, fixOggCrc, flacFrameOffsets, oggFirstPages, oggPageOffsets, verbatimFlac, withCommentPacket, withFrameCodes, withGranuleOffset, withPacketsAcrossPages, withSerial } from "./audio-helpers.js";
import { maxAbsDiff } from "./golden.js";
import { random } from "./random.js";

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

describe("openAudio's blockFrames", () => {
  const range = "blockFrames: must be an integer from 1 to 4194304 (frames per decoded block)";

  it("is refused at the call outside [1, 2^22], naming it, whatever the format (1e12 opened, then failed allocating its first block)", async () => {
    for (const name of ["flac_pcm_16.flac", "ogg_opus.ogg", "wav_pcm_16.wav"]) {
      const file = path.join(FORMATS, name);
      for (const blockFrames of [1e12, 2 ** 22 + 1, 0, -4096, 1.5, NaN, Infinity]) {
        await expect(openAudio(file, { blockFrames }), `${name}, ${blockFrames}`).rejects.toThrow(new RangeError(`${range}, got ${blockFrames}`));
      }
      await expect(openAudio(file, { blockFrames: "4096" as unknown as number })).rejects.toThrow(new RangeError(`${range}, got string "4096"`));
    }
  });

  it("takes blocks of up to 2^22 frames: one block of 2^20 holds the whole file, as decoded", async () => {
    const file = path.join(FORMATS, "flac_pcm_16.flac");
    const whole = (await decode(file)).data[0];
    for (const blockFrames of [2 ** 20, 2 ** 22]) {
      const reader = await openAudio(file, { blockFrames });
      try {
        expect(await reader.read(0, 0, whole.length)).toEqual(whole);
        expect(await reader.read(0, 9_000, 10)).toEqual(whole.subarray(9_000, 9_010));
      } finally {
        await reader.close();
      }
    }
  });
});

describe("openAudio's cacheBlocks", () => {
  it("is refused at the call unless an integer ≥ 1, naming it, whatever the format", async () => {
    for (const name of ["flac_pcm_16.flac", "ogg_opus.ogg", "wav_pcm_16.wav"]) {
      const file = path.join(FORMATS, name);
      for (const cacheBlocks of [0, -1, 1.5, NaN, Infinity, 2 ** 53]) {
        await expect(openAudio(file, { cacheBlocks }), `${name}, ${cacheBlocks}`).rejects.toThrow(new RangeError(`cacheBlocks: must be an integer ≥ 1 (decoded blocks kept), got ${cacheBlocks}`));
      }
      await expect(openAudio(file, { cacheBlocks: "2" as unknown as number })).rejects.toThrow(new RangeError('cacheBlocks: must be an integer ≥ 1 (decoded blocks kept), got string "2"'));
    }
  });

  it("keeps that many decoded blocks (16 by default): the most a reader holds, as maxHeldBytes says, and none once it lets them go", async () => {
    // 8 channels of 32768 frames, stored verbatim: a decoder call's 16 KiB of input is 1024 frames, within a block.
    const samples = Array.from({ length: 8 }, (_, c) => Int32Array.from({ length: 32768 }, (_, i) => Math.round(9000 * Math.sin(i * 0.01 * (c + 1)))));
    const flac = verbatimFlac(samples, 48000, 16, 512, true);
    const held = async (cacheBlocks?: number) => {
      const reader = (await openAudio(flac, { blockFrames: 2048, cacheBlocks })) as StreamReader;
      let peak = 0;
      for (let start = 0; start < 32768; start += 1500) {
        for (let c = 0; c < 8; c++) expect(maxAbsDiff(await reader.read(c, start, 1500), Float32Array.from(samples[c].subarray(start, start + 1500), (v) => v / 32768))).toBe(0);
        peak = Math.max(peak, reader.decodedBytes);
      }
      expect(peak).toBe(reader.maxHeldBytes(1500));
      expect(reader.framesDecoded).toBe(32768); // each block once, though read channel by channel
      reader.releaseMemory();
      expect(reader.decodedBytes).toBe(0);
      expect(await reader.read(3, 9_000, 10)).toEqual(Float32Array.from(samples[3].subarray(9_000, 9_010), (v) => v / 32768));
      await reader.close();
      return peak;
    };
    // Blocks of 2048 frames × 8 channels × 4 bytes: two kept and the one being decoded; by default 16 — here all of them — and one more.
    expect(await held(2)).toBe(3 * 2048 * 8 * 4);
    expect(await held()).toBe(17 * 2048 * 8 * 4);
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
            // The Opus decoder state converges within the pre-roll (1 s; 80 ms left it off by up to 2e-2).
            expect(maxAbsDiff(got, want)).toBeLessThan(1e-6);
          }
        }
      }
    } finally {
      await reader.close();
    }
  });
});

describe("Ogg seeking in files written in one piece (6 s of 48 kHz stereo from scripts/golden_audio.py)", () => {
  it.each(["seek_long_vorbis.ogg", "seek_long_opus.ogg"])("%s: every block read by a fresh reader, which seeks to it, equals the same frames of the whole decode", async (name) => {
    const file = path.join(GOLDEN, name);
    const whole = await decode(file);
    expect([whole.frames, whole.channels]).toEqual([digests[name].frames, 2]);
    // Blocks of 4100 frames start at every distance from the page boundaries (pages of ~0.15 s
    // for Vorbis, 1 s for Opus): Vorbis seeks landed a page early; an Opus decoder started 80 ms
    // before its block was up to 1.6e-2 off there.
    const blockFrames = 4100;
    let worst = 0;
    for (let start = blockFrames; start < whole.frames; start += blockFrames) {
      const reader = await openAudio(file, { blockFrames });
      try {
        for (let c = 0; c < 2; c++) worst = Math.max(worst, maxAbsDiff(await reader.read(c, start, blockFrames), whole.data[c].subarray(start, start + blockFrames)));
      } finally {
        await reader.close();
      }
    }
    // Vorbis restarts bit-exactly after one packet; the Opus decoder's state converges within its pre-roll.
    expect(worst).toBeLessThan(name.includes("vorbis") ? 1e-9 : 1e-6);
  });
});

/** The largest difference between each block of `file` read by a fresh reader, which seeks to it, and the same frames of `whole`. */
async function worstFreshBlock(file: Uint8Array, whole: Float32Array[], frames: number): Promise<number> {
  const blockFrames = 4100;
  let worst = 0;
  for (let start = blockFrames; start < frames; start += blockFrames) {
    const reader = await openAudio(file, { blockFrames });
    try {
      for (let c = 0; c < 2; c++) worst = Math.max(worst, maxAbsDiff(await reader.read(c, start, blockFrames), whole[c].subarray(start, start + blockFrames)));
    } finally {
      await reader.close();
    }
  }
  return worst;
}

describe("Ogg pages that begin with a packet continued from the page before (RFC 3533 header type 0x01)", () => {
  // seek_long_*.ogg (libsndfile, which never splits a packet) re-paged so that 20 of its 23 Vorbis
  // pages and 8 of its 11 Opus pages begin with the rest of a packet (test/audio-helpers.ts). A seek
  // that started decoding on such a page fed the decoder a packet without its start: 27 of 70 Vorbis
  // and 47 of 70 Opus block reads failed as corrupt streams (other files read up to 0.41 off).
  const acrossPages = (codec: string) => withPacketsAcrossPages(new Uint8Array(readFileSync(path.join(GOLDEN, `seek_long_${codec}.ogg`))));

  it.each(["vorbis", "opus"])("%s: the same packets, so the same samples as the file written in one piece, from a whole decode and from a fresh reader at every block (bit for bit)", async (codec) => {
    const file = acrossPages(codec);
    expect(oggPageOffsets(file).filter((at) => file[at + 5] & 0x01).length).toBe(codec === "vorbis" ? 20 : 8);
    const whole = await decode(file);
    const original = await decode(path.join(GOLDEN, `seek_long_${codec}.ogg`));
    expect(whole.frames).toBe(original.frames);
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(original.data[c]);
    expect(await worstFreshBlock(file, whole.data, whole.frames)).toBe(0);
  });

  it.each(["vorbis", "opus"])("%s: a chained file of two such links reads the same at every block from a fresh reader as its whole decode (bit for bit)", async (codec) => {
    const link = acrossPages(codec);
    const chain = concatBytes(link, withSerial(link, 5));
    const whole = await decode(chain);
    const one = await decode(link);
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(concatFloats([one.data[c], one.data[c]]));
    expect(await worstFreshBlock(chain, whole.data, whole.frames)).toBe(0);
  });
});

describe("an Ogg page falsely flagged as continuing a packet (RFC 3533 header type 0x01 with no packet pending)", () => {
  /** `b` with the page at `at` flagged as continued, its CRC fixed. */
  const flagged = (b: Uint8Array, at: number) => {
    const out = b.slice();
    out[at + 5] |= 0x01;
    fixOggCrc(out, at);
    return out;
  };

  it("ogg_opus.ogg with its only audio page so flagged is refused at open (it decoded to 15736 frames of 16000, exit 0; soundfile refuses)", async () => {
    const b = flagged(fixture("ogg_opus.ogg"), 871);
    await expect(openAudio(b)).rejects.toThrow(new AudioFormatError("<buffer>: opus: the first audio page (at byte 871) is flagged as continuing a packet, but the header pages before it end theirs (RFC 7845 §3, Vorbis I spec §A.2: audio begins on a fresh page; a packet lost?)"));
  });

  it.each(["vorbis", "opus"])("seek_long_%s.ogg with a later page so flagged: refused where decoding reaches it, naming the page", async (codec) => {
    const original = new Uint8Array(readFileSync(path.join(GOLDEN, `seek_long_${codec}.ogg`)));
    const pages = oggPageOffsets(original);
    // A page from the middle whose page before ends its packets (libsndfile never splits one).
    const at = pages[Math.floor(pages.length / 2)];
    const before = pages[Math.floor(pages.length / 2) - 1];
    expect(original[before + 27 + original[before + 26] - 1]).toBeLessThan(255);
    expect(await decodeError(flagged(original, at))).toBe(`<buffer>: ogg: corrupt stream: the page at byte ${at} is flagged as continuing a packet from the page before, which ended its packets (RFC 3533 §6: a packet lost?)`);
  });
});

describe("Ogg comment headers that span pages (cover art in METADATA_BLOCK_PICTURE)", () => {
  /**
   * A comment header (RFC 7845 §5.2; Vorbis I spec §5.2.1: packet type 3, "vorbis", framing bit)
   * of `bytes` bytes: a vendor string and one comment, cover art as METADATA_BLOCK_PICTURE stores it
   * (base64 text).
   */
  function commentPacket(codec: string, bytes: number): Uint8Array {
    const magic = codec === "opus" ? Buffer.from("OpusTags") : Buffer.from("\x03vorbis", "latin1");
    const vendor = Buffer.from("sonotile test");
    const fixed = magic.length + 4 + vendor.length + 4 + 4 + (codec === "opus" ? 0 : 1);
    const text = Buffer.from(`METADATA_BLOCK_PICTURE=${Buffer.from(Array.from({ length: bytes }, (_, i) => (i * 7919) % 251)).toString("base64")}`.slice(0, bytes - fixed));
    const b = Buffer.alloc(bytes);
    b.set(magic);
    let at = b.writeUInt32LE(vendor.length, magic.length);
    at += vendor.copy(b, at);
    at = b.writeUInt32LE(1, at);
    at = b.writeUInt32LE(text.length, at);
    at += text.copy(b, at);
    if (codec !== "opus") b[at] = 1; // framing bit
    return new Uint8Array(b);
  }

  // A comment of two pages' worth less 1000 bytes (a page holds up to 255 × 255): it spans two
  // pages, and the Vorbis setup header after it (~4 kB) begins in the last 3 lacing values of the
  // second and goes on to a third. libsndfile 1.2 reads both files as the originals.
  const original = (codec: string) => new Uint8Array(readFileSync(path.join(GOLDEN, `seek_long_${codec}.ogg`)));
  const withCoverArt = (codec: string) => withCommentPacket(original(codec), commentPacket(codec, 2 * 255 * 255 - 1000), codec === "opus" ? 2 : 3);

  it.each(["vorbis", "opus"])("%s: the same samples as the file with small tags, from a whole decode and from a fresh reader at every block (bit for bit), which seeks", async (codec) => {
    const file = withCoverArt(codec);
    const headerPages = oggPageOffsets(file).filter((at) => new DataView(file.buffer).getBigInt64(at + 6, true) <= 0n);
    expect(headerPages.length).toBe(codec === "opus" ? 3 : 4); // identification, then the comment's two pages (and setup's third)
    const whole = await decode(file);
    const small = await decode(original(codec));
    expect(whole.frames).toBe(small.frames);
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(small.data[c]);
    expect(await worstFreshBlock(file, whole.data, whole.frames)).toBe(0);
    // The last block is reached by the same seek as in the original, not by decoding from the start.
    const lastBlockCost = async (bytes: Uint8Array) => {
      const reader = await openAudio(bytes, { blockFrames: 4100 });
      try {
        expect(reader).toBeInstanceOf(StreamReader);
        await reader.read(0, whole.frames - 4100, 4100);
        return (reader as StreamReader).framesDecoded;
      } finally {
        await reader.close();
      }
    };
    const cost = await lastBlockCost(file);
    expect(cost).toBe(await lastBlockCost(original(codec)));
    expect(cost).toBeLessThan(whole.frames);
  });

  it.each(["vorbis", "opus"])("%s: a chained file of two such links reads as the two originals, from a whole decode and a fresh reader at every block", async (codec) => {
    const link = withCoverArt(codec);
    const chain = concatBytes(link, withSerial(link, 5));
    const whole = await decode(chain);
    const small = await decode(original(codec));
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(concatFloats([small.data[c], small.data[c]]));
    expect(await worstFreshBlock(chain, whole.data, whole.frames)).toBe(0);
  });
});

describe("Ogg streams whose granule positions start at an offset (a capture begun mid-broadcast)", () => {
  // seek_long_*.ogg with every audio page's granule 10^9 + 12 345 more: the first audio page states
  // far more samples than its packets hold. libvorbisfile and libopusfile (RFC 7845 §4.5) take the
  // audio to begin at that page's granule less its packets' samples; libsndfile 1.2 reads both
  // files as the originals (288000 frames, the same samples).
  const OFFSET = 1_000_012_345;
  const original = (codec: string) => new Uint8Array(readFileSync(path.join(GOLDEN, `seek_long_${codec}.ogg`)));

  /** Frames decoded by a fresh reader to read the last block of 4100 frames of `bytes` (`frames` long). */
  async function lastBlockCost(bytes: Uint8Array, frames: number): Promise<number> {
    const reader = await openAudio(bytes, { blockFrames: 4100 });
    try {
      expect(reader).toBeInstanceOf(StreamReader);
      await reader.read(0, frames - 4100, 4100);
      return (reader as StreamReader).framesDecoded;
    } finally {
      await reader.close();
    }
  }

  it.each(["vorbis", "opus"])("%s: the length, a whole decode and a fresh reader at every block (which seeks, as in the original) give the original's samples", async (codec) => {
    const file = withGranuleOffset(original(codec), OFFSET);
    const small = await decode(original(codec));
    const whole = await decode(file);
    expect(whole.frames).toBe(small.frames);
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(small.data[c]);
    expect(await worstFreshBlock(file, whole.data, whole.frames)).toBe(0);
    expect(await lastBlockCost(file, whole.frames)).toBe(await lastBlockCost(original(codec), small.frames));
  });

  it.each(["vorbis", "opus"])("%s: a chained file of links with offsets of their own reads as the originals one after another", async (codec) => {
    const chain = concatBytes(withGranuleOffset(original(codec), OFFSET), withSerial(withGranuleOffset(original(codec), 7_777), 5));
    const small = await decode(original(codec));
    const whole = await decode(chain);
    expect(whole.frames).toBe(2 * small.frames);
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(concatFloats([small.data[c], small.data[c]]));
    expect(await worstFreshBlock(chain, whole.data, whole.frames)).toBe(0);
  });
});

describe("Ogg streams whose first audio page's granule is less than its packets' samples (a negative start)", () => {
  // seek_long_*.ogg with every audio page's granule 500 or 3000 less (the first audio page: Vorbis
  // 12992, Opus 47040, its packets' samples). Vorbis I spec A.2: the samples before granule 0 are
  // discarded (libvorbis trims them). A whole decode kept them, so it was the original's first
  // N − 500 samples, while a seek, placed by granule, trimmed them: every read at an offset was 500
  // frames off the whole decode. RFC 7845 §4.5 makes such an Opus stream invalid (libopusfile and
  // libsndfile refuse it); two reads of one file disagreed. Where that page ends the stream, both
  // trim its end instead (RFC 7845 §4.4, libvorbis).
  const original = (codec: string) => new Uint8Array(readFileSync(path.join(GOLDEN, `seek_long_${codec}.ogg`)));

  it.each([500, 3000])("vorbis, granules %i less: the length, a whole decode and a fresh reader at every block give the original's samples from there on", async (less) => {
    const file = withGranuleOffset(original("vorbis"), -less);
    const small = await decode(original("vorbis"));
    const whole = await decode(file);
    expect(whole.frames).toBe(small.frames - less);
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(small.data[c].subarray(less));
    expect(await worstFreshBlock(file, whole.data, whole.frames)).toBe(0);
  });

  it("vorbis: a chained file of links so trimmed reads as their trimmed originals one after another, decoded whole or from a fresh reader at every block", async () => {
    const chain = concatBytes(withGranuleOffset(original("vorbis"), -500), withSerial(withGranuleOffset(original("vorbis"), -3000), 5));
    const small = await decode(original("vorbis"));
    const whole = await decode(chain);
    expect(whole.frames).toBe(2 * small.frames - 3500);
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(concatFloats([small.data[c].subarray(500), small.data[c].subarray(3000)]));
    expect(await worstFreshBlock(chain, whole.data, whole.frames)).toBe(0);
  });

  it("opus: refused at open, naming the page, alone and as a chained file's second link", async () => {
    const message = (at: number) => `opus: the first audio page (at byte ${at}) states granule position 46540, less than the 47040 samples its packets decode to: RFC 7845 §4.5 makes such a stream invalid (Opus trims its start by the pre-skip, not by the granule)`;
    const bad = withGranuleOffset(original("opus"), -500);
    expect(await decodeError(bad)).toBe(`<buffer>: ${message(871)}`);
    const first = withSerial(original("opus"), 5);
    expect(await decodeError(concatBytes(first, bad))).toBe(`<buffer>: ${message(first.length + 871)}`);
  });

  it.each(["vorbis", "opus"])("%s: where that page ends the stream, its end is trimmed, not its start", async (codec) => {
    const small = await decode(original(codec));
    const one = oggFirstPages(original(codec), 3); // the header pages and the first audio page, flagged the last
    const granule = Number(new DataView(one.buffer).getBigInt64(oggPageOffsets(one)[2] + 6, true));
    const kept = granule - 500 - (codec === "opus" ? 312 : 0); // Opus: less its pre-skip (48 kHz, as it is decoded)
    const whole = await decode(withGranuleOffset(one, -500));
    expect(whole.frames).toBe(kept);
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(small.data[c].subarray(0, kept));
  });

  it("opus: a stream of one page whose granule is less than its pre-skip is refused (RFC 7845 §4.5: more samples to skip than it holds)", async () => {
    const one = oggFirstPages(original("opus"), 3);
    const at = oggPageOffsets(one)[2];
    new DataView(one.buffer).setBigInt64(at + 6, 100n, true);
    fixOggCrc(one, at);
    expect(await decodeError(one)).toBe(`<buffer>: opus: the only audio page (at byte ${at}) states granule position 100, less than the pre-skip of 312 samples: RFC 7845 §4.5 makes such a stream invalid (more samples to skip than it holds)`);
  });
});

describe("an Ogg end-of-stream page whose granule is less than the page before's (end trimming into earlier pages)", () => {
  // seek_long_*.ogg with the last page's granule set `less` below the page before's. It was refused
  // at open (`granule positions never decrease`). libsndfile 1.2 reads such a stream to the last
  // granule — the decode's first samples, the end trimmed back into the pages before (RFC 7845 §4.5
  // end trimming; Vorbis I spec A.2) — and so does sonotile now (SPEC: decode as soundfile.read).
  // libopusfile drops the last page's audio instead (the page before's granule), libvorbisfile
  // trims no more than the last block holds (128 frames of seek_vorbis.ogg, whatever the granule).
  const original = (name: string) => new Uint8Array(readFileSync(path.join(GOLDEN, `${name}.ogg`)));
  /** `b` with its last page's granule `less` below the page before's; returns it and that granule. */
  function lastGranuleBelowBefore(b: Uint8Array, less: number): [Uint8Array, number] {
    const out = b.slice();
    const [before, last] = oggPageOffsets(out).slice(-2);
    const view = new DataView(out.buffer);
    const granule = Number(view.getBigInt64(before + 6, true)) - less;
    view.setBigInt64(last + 6, BigInt(granule), true);
    fixOggCrc(out, last);
    return [out, granule];
  }
  /** Frames up to `granule`: Opus less its pre-skip (312) and at the rate it is decoded at (the granules count 48 kHz), Vorbis at its own. */
  const framesTo = (name: string, granule: number, rate: number) => (name.includes("opus") ? Math.floor(((granule - 312) * rate) / 48000) : granule);

  it.each([["seek_long_vorbis", 5000], ["seek_long_opus", 1]] as const)("%s, %i less: the length is the last granule's, and a whole decode and a fresh reader at every block give the original's first samples", async (name, less) => {
    const [file, granule] = lastGranuleBelowBefore(original(name), less);
    const small = await decode(original(name));
    const whole = await decode(file);
    expect(whole.frames).toBe(framesTo(name, granule, small.samplerate));
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(small.data[c].subarray(0, whole.frames));
    expect(await worstFreshBlock(file, whole.data, whole.frames)).toBe(0);
  });

  it.each(["seek_vorbis", "seek_opus"])("%s (8 kHz): as a chained file's first link, trimmed so, the second link follows it", async (name) => {
    const [first, granule] = lastGranuleBelowBefore(original(name), 3000);
    const chain = concatBytes(first, withSerial(original(name), 5));
    const small = await decode(original(name));
    const kept = framesTo(name, granule, small.samplerate);
    const whole = await decode(chain);
    expect(whole.frames).toBe(kept + small.frames);
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(concatFloats([small.data[c].subarray(0, kept), small.data[c]]));
    expect(await worstFreshBlock(chain, whole.data, whole.frames)).toBe(0);
  });

  // An Opus last granule past the start but within the pre-skip leaves nothing to read, and so does
  // a last granule at the start (0) below pages that stated granules past it — end trimming of all
  // the stream's audio: it was called `no audio frame could be decoded (the stream is truncated or
  // corrupt after its headers)`, of a file whose every page is there, and as a chained file's first
  // link it was read as a link of no frames (the file opened as its second link alone, 288000
  // frames of 576000).
  const skipped = "is not past granule 0, where its audio begins, plus its pre-skip of 312 samples";
  it.each([["opus", 311, skipped], ["opus", 312, skipped], ["opus", 0, skipped], ["vorbis", 0, "is not past granule 0, where its audio begins"]] as const)("%s whose last granule is %i: refused, saying it holds no audio — alone and as a chained file's first link", async (codec, granule, why) => {
    const file = original(`seek_long_${codec}`).slice();
    const last = oggPageOffsets(file).at(-1)!;
    new DataView(file.buffer).setBigInt64(last + 6, BigInt(granule), true);
    fixOggCrc(file, last);
    await expect(decode(file)).rejects.toThrow(`<buffer>: ${codec}: the stream's last granule position, ${granule}, ${why}: it holds no audio (a corrupt granule position?)`);
    await expect(decode(concatBytes(file, withSerial(original(`seek_long_${codec}`), 5)))).rejects.toThrow(`<buffer>: ${codec}: the chained stream (link) at byte 0's last granule position, ${granule}, ${why}: it holds no audio (a corrupt granule position?)`);
  });
});

describe("an Ogg last granule that the file's bytes cannot hold", () => {
  /** `b` with its last page's granule position `granule`, its CRC fixed. */
  const withLastGranule = (b: Uint8Array, granule: bigint) => {
    const out = b.slice();
    const last = oggPageOffsets(out).at(-1)!;
    new DataView(out.buffer).setBigInt64(last + 6, granule, true);
    fixOggCrc(out, last);
    return out;
  };
  /** blocksize_1 of a Vorbis file's identification header (byte 28 of the first packet). */
  const blocksize1 = (b: Uint8Array) => 2 ** (b[27 + b[26] + 28] >> 4);

  it.each([
    ["ogg_vorbis.ogg", 2n ** 32n],
    ["ogg_vorbis.ogg", 2n ** 52n],
  ])("%s with last granule %i is refused at open naming the granule and the bound (it opened as 74.6 h, and every read failed)", async (name, granule) => {
    const b = withLastGranule(fixture(name), granule);
    const bound = b.length * (blocksize1(b) / 2);
    expect(bound).toBeLessThan(10_000_000); // 1 s of audio in 8614 bytes
    await expect(openAudio(b)).rejects.toThrow(new AudioFormatError(`<buffer>: vorbis: the stream's last granule position, ${granule}, is more than its ${b.length} bytes can hold: at most ${bound} (a packet of at least 1 byte decodes to at most ${blocksize1(b) / 2} frames (blocksize_1 / 2); a corrupt granule position?)`));
  });

  it("an Opus stream of many pages, alone and as a chained file's second link: refused naming the granule and the bound", async () => {
    const one = new Uint8Array(readFileSync(path.join(GOLDEN, "seek_long_opus.ogg")));
    const bad = withLastGranule(one, 2n ** 40n);
    await expect(openAudio(bad)).rejects.toThrow(new AudioFormatError(`<buffer>: opus: the stream's last granule position, ${2 ** 40}, is more than its ${one.length} bytes can hold: at most ${one.length * 5760} (a packet of at least 1 byte decodes to at most 5760 samples at 48 kHz (120 ms); a corrupt granule position?)`));
    await expect(openAudio(concatBytes(one, withSerial(bad, 5)))).rejects.toThrow(new AudioFormatError(`<buffer>: opus: the chained stream (link) at byte ${one.length}'s last granule position, ${2 ** 40}, is more than its ${one.length} bytes can hold: at most ${one.length * 5760} (a packet of at least 1 byte decodes to at most 5760 samples at 48 kHz (120 ms); a corrupt granule position?)`));
  });

  // ogg_opus.ogg: one audio page (at byte 871) of packets decoding to 48480 samples, granule 48312
  // (end trimming of 168). soundfile: 48481, 48500, 48792 and 2^32 refused ("file is malformed").
  it.each([2n ** 32n, 48792n, 48481n])("ogg_opus.ogg, whose only audio page states %i (its packets decode to 48480 samples), is refused as libsndfile refuses it (2^32 read as 16056 frames, its end trim lost)", async (granule) => {
    const b = withLastGranule(fixture("ogg_opus.ogg"), granule);
    await expect(openAudio(b)).rejects.toThrow(new AudioFormatError(`<buffer>: opus: the only audio page (at byte 871) states granule position ${granule}, more than the 48480 samples its packets decode to: a stream of one page begins at granule 0, so its granule can only trim its end (RFC 7845 §4.5; a corrupt granule position?)`));
  });

  it.each([[48312n, 16000], [48480n, 16056], [48479n, 16055], [48312n - 960n, 15680]])("ogg_opus.ogg with its only page's granule %i (end trimming, or none) opens at libsndfile's length %i", async (granule, frames) => {
    expect((await decode(withLastGranule(fixture("ogg_opus.ogg"), granule))).frames).toBe(frames);
  });
});

describe("junk that looks like an Ogg page at the end of a file", () => {
  // seek_long_*.ogg, then 1000 bytes of junk, then a copy of its last page (a valid CRC) with its
  // granule 10^9 more, or with another serial number. The search of the last 64 KiB for the last
  // page took that copy: the length became 10^9 frames more, or the file was taken for a chain
  // whose second link begins in the junk and refused at open.
  const original = (codec: string) => new Uint8Array(readFileSync(path.join(GOLDEN, `seek_long_${codec}.ogg`)));
  function withJunkPage(b: Uint8Array, edit: (page: Uint8Array) => Uint8Array): Uint8Array {
    const page = b.slice(oggPageOffsets(b).at(-1)!);
    return concatBytes(b, new Uint8Array(1000).fill(0x5a), edit(page));
  }
  const laterGranule = (page: Uint8Array) => {
    const v = new DataView(page.buffer);
    v.setBigInt64(6, v.getBigInt64(6, true) + 1_000_000_000n, true);
    fixOggCrc(page, 0);
    return page;
  };

  it.each([
    ["vorbis", "a later granule", laterGranule],
    ["opus", "a later granule", laterGranule],
    ["vorbis", "another serial number", (page: Uint8Array) => withSerial(page, 5)],
    ["opus", "another serial number", (page: Uint8Array) => withSerial(page, 5)],
  ])("%s, the copy with %s: opened with the file's length and samples, up to its last frame", async (codec, _label, edit) => {
    const file = withJunkPage(original(codec), edit);
    const small = await decode(original(codec));
    const reader = await openAudio(file, { blockFrames: 4100 });
    try {
      expect(reader.info.frames).toBe(small.frames);
      for (const [start, count] of [[200_000, 8200], [0, 4100], [small.frames - 100, 100]]) expect(await reader.read(1, start, count)).toEqual(small.data[1].subarray(start, start + count));
    } finally {
      await reader.close();
    }
    expect((await decode(file)).data).toEqual(small.data);
  });

  // The junk is not fed to the decoder (OggTail.dataEnd): it failed the last block ("no page starts
  // at byte …"), so the last frames of a file that opened with them could not be read, from a
  // fresh reader or in a whole decode. What begins as a page does is fed, and reported there.
  const randomBytes = (n: number, seed: number) => {
    const next = random(seed);
    return Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
  };
  it.each([
    ["vorbis", "1000 random bytes", (b: Uint8Array) => concatBytes(b, randomBytes(1000, 5)), null],
    ["opus", "1000 random bytes", (b: Uint8Array) => concatBytes(b, randomBytes(1000, 5)), null],
    ["opus", "60 000 zero bytes", (b: Uint8Array) => concatBytes(b, new Uint8Array(60_000)), null],
    ["vorbis", "10 zero bytes and a page that begins another stream", (b: Uint8Array) => concatBytes(b, new Uint8Array(10), withSerial(b.slice(0, oggPageOffsets(b)[1]), 5)), null],
    ["vorbis", "a page header of no valid page", (b: Uint8Array) => concatBytes(b, new TextEncoder().encode("OggS"), new Uint8Array(30)), (b: Uint8Array) => `ogg: corrupt stream: the page at byte ${b.length} fails its checksum`],
    ["opus", "the capture pattern cut by the end of the file", (b: Uint8Array) => concatBytes(b, new TextEncoder().encode("Og")), (b: Uint8Array) => `ogg: the file ends inside the page at byte ${b.length} (truncated)`],
  ] as const)("%s followed by %s: a fresh reader reads its last frames, a whole decode gives the original's", async (codec, _label, spoil, error) => {
    const file = spoil(original(codec));
    const small = await decode(original(codec));
    const reader = await openAudio(file, { blockFrames: 4096 });
    try {
      expect(reader.info.frames).toBe(small.frames);
      const last = reader.read(0, small.frames - 100, 100);
      if (error) await expect(last).rejects.toThrow(`<buffer>: ${error(original(codec))}`);
      else expect(await last).toEqual(small.data[0].subarray(small.frames - 100));
    } finally {
      await reader.close();
    }
    if (error) expect(await decodeError(file)).toBe(`<buffer>: ${error(original(codec))}`);
    else expect((await decode(file)).data).toEqual(small.data);
  });
});

describe("junk of 64 KiB or more after the last page of an Ogg file", () => {
  // The last page was looked for in the file's last 64 KiB only: with more junk than that none was
  // found (the file was refused, "no page starts at byte 8614 where the one before ends"), and a page
  // with a valid CRC in the junk (a copy of the last page with its granule 10^9 more) decided the
  // length. libsndfile 1.2.0 reports such a file's length as unknown (SF_COUNT_MAX), and the copy's 10^9.
  const randomBytes = (n: number, seed: number) => {
    const next = random(seed);
    return Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
  };
  const laterCopy = (b: Uint8Array) => {
    const page = b.slice(oggPageOffsets(b).at(-1)!);
    const v = new DataView(page.buffer);
    v.setBigInt64(6, v.getBigInt64(6, true) + 1_000_000_000n, true);
    fixOggCrc(page, 0);
    return page;
  };
  const KiB = 1024;
  it.each([
    ["64 KiB − 1 random bytes", (b: Uint8Array) => concatBytes(b, randomBytes(64 * KiB - 1, 7))],
    ["64 KiB of zeros", (b: Uint8Array) => concatBytes(b, new Uint8Array(64 * KiB))],
    ["1 MiB of random bytes", (b: Uint8Array) => concatBytes(b, randomBytes(1024 * KiB, 8))],
    ["100 KiB of random bytes, then a copy of its last page with a later granule", (b: Uint8Array) => concatBytes(b, randomBytes(100 * KiB, 9), laterCopy(b))],
    ["1 MiB of random bytes, that copy, 70 KiB of random bytes", (b: Uint8Array) => concatBytes(b, randomBytes(1024 * KiB, 10), laterCopy(b), randomBytes(70 * KiB, 11))],
  ])("ogg_vorbis.ogg, ogg_opus.ogg and seek_long_vorbis.ogg (94 KB) followed by %s: opened with the file's length, its samples read whole and from a fresh reader near the end, the file read about once", async (_label, spoil) => {
    for (const name of [path.join(FORMATS, "ogg_vorbis.ogg"), path.join(FORMATS, "ogg_opus.ogg"), path.join(GOLDEN, "seek_long_vorbis.ogg")]) {
      const good = await decode(name);
      const file = spoil(new Uint8Array(readFileSync(name)));
      const reader = await openAudio(file, { blockFrames: 4096 });
      try {
        expect(reader.info.frames, name).toBe(good.frames);
        expect(reader.bytesRead, name).toBeLessThan(2 * file.length + 300 * KiB); // windows growing backwards through the junk, each read once with a page's length around it
        expect(await reader.read(0, good.frames - 100, 100), name).toEqual(good.data[0].subarray(good.frames - 100));
      } finally {
        await reader.close();
      }
      expect((await decode(file)).data, name).toEqual(good.data);
    }
  });
});

describe("an Ogg page with a wrong segment count (its length wrong, its CRC failing)", () => {
  // The open walks the pages at the file's end by their lengths: at such a page the walk broke, and
  // the pages after it were taken for junk after the last page — the length came from the page
  // before it (seek_long_opus.ogg: 34 688 frames short), and reads past it returned nothing without
  // an error. The walk now goes on at the next page of the stream (same serial number, a later page
  // number), and decoding reports the damaged page where it gets there.
  const withSegmentCount = (b: Uint8Array, at: number) => {
    const out = b.slice();
    out[at + 26] = out[at + 26] === 180 ? 181 : 180;
    return out;
  };
  const KiB = 1024;
  it.each([
    ["seek_long_opus.ogg", "a page in its last 64 KiB", path.join(GOLDEN, "seek_long_opus.ogg"), (pages: number[], size: number) => pages.filter((p) => p > size - 64 * KiB).at(-4)!],
    ["seek_long_vorbis.ogg", "a page in its last 64 KiB", path.join(GOLDEN, "seek_long_vorbis.ogg"), (pages: number[], size: number) => pages.filter((p) => p > size - 64 * KiB).at(-4)!],
    ["seek_long_opus.ogg", "the page across 64 KiB from its end", path.join(GOLDEN, "seek_long_opus.ogg"), (pages: number[], size: number) => pages.filter((p) => p < size - 64 * KiB).at(-1)!],
    ["seek_opus.ogg", "its page at byte 16250 (the length it states runs past the file's end: the file seemed cut there)", path.join(GOLDEN, "seek_opus.ogg"), (pages: number[]) => pages[5]],
  ])("%s, %s: opened with the file's length, a whole read reports the page", async (_name, _label, name, pick) => {
    const good = await decode(name);
    const original = new Uint8Array(readFileSync(name));
    const at = pick(oggPageOffsets(original), original.length);
    const file = withSegmentCount(original, at);
    const error = `<buffer>: ogg: corrupt stream: the page at byte ${at} fails its checksum`;
    const reader = await openAudio(file, { blockFrames: 4096 });
    try {
      expect(reader.info.frames).toBe(good.frames);
      expect(await reader.read(0, 0, 100)).toEqual(good.data[0].subarray(0, 100));
      await expect(reader.read(0, 0, good.frames)).rejects.toThrow(error);
    } finally {
      await reader.close();
    }
    expect(await decodeError(file)).toBe(error);
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

// ---------------------------------------------------------------------------------------------
// Header fields that lie (SPEC §10), each file built here from a fixture: a clear error naming the
// field, its value and what the format allows — never the decoder library's own text, never a
// silently wrong decode.

const fixture = (name: string) => new Uint8Array(readFileSync(path.join(FORMATS, name)));
const scratch = mkdtempSync(path.join(tmpdir(), "sonotile-compressed-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `bytes` written to a file of the scratch directory, for reads through a path. */
function onDisk(name: string, bytes: Uint8Array): string {
  const file = path.join(scratch, name);
  writeFileSync(file, bytes);
  return file;
}

/** The AudioFormatError message of opening `file` and reading its first second. */
async function readError(file: string): Promise<string> {
  try {
    const reader = await openAudio(file, { blockFrames: 1024 });
    try {
      await reader.read(0, 0, reader.info.samplerate);
    } finally {
      await reader.close();
    }
  } catch (err) {
    expect(err).toBeInstanceOf(AudioFormatError);
    return (err as Error).message;
  }
  throw new Error("read without error");
}

/**
 * A copy of a FLAC file with `nbits` bits at bit `bitOff` of the STREAMINFO body (after "fLaC"
 * and the 4-byte block header, i.e. from byte 8) set to `value`, most significant first.
 */
function streaminfoSet(bytes: Uint8Array, bitOff: number, nbits: number, value: number): Uint8Array {
  const b = bytes.slice();
  for (let i = 0; i < nbits; i++) {
    const bit = (value >> (nbits - 1 - i)) & 1;
    const p = 8 * 8 + bitOff + i;
    b[p >> 3] = (b[p >> 3] & ~(1 << (7 - (p & 7)))) | (bit << (7 - (p & 7)));
  }
  return b;
}

/** A copy of an Ogg file with its first packet (the codec's identification header, alone on page 0) edited, the page CRC recomputed. */
function firstPacketEdited(name: string, edit: (b: Uint8Array, at: number) => void): Uint8Array {
  const b = fixture(name);
  edit(b, 27 + b[26]);
  fixOggCrc(b, 0);
  return b;
}

/** A copy of an Ogg file whose page 0 holds `packet` instead of its identification header (one segment, < 255 bytes). */
function firstPacketReplaced(name: string, packet: Uint8Array): Uint8Array {
  const src = fixture(name);
  const end = 27 + src[26] + src.subarray(27, 27 + src[26]).reduce((a, x) => a + x, 0);
  const b = new Uint8Array(28 + packet.length + src.length - end);
  b.set(src.subarray(0, 27));
  b[26] = 1;
  b[27] = packet.length;
  b.set(packet, 28);
  b.set(src.subarray(end), 28 + packet.length);
  fixOggCrc(b, 0);
  return b;
}

describe("FLAC STREAMINFO that the frames contradict", () => {
  // bits per sample − 1: 5 bits at bit 103 of STREAMINFO; channels − 1: 3 bits at bit 100.
  it.each([
    ["flac_pcm_16.flac", 3, 16],
    ["flac_pcm_16.flac", 7, 16],
    ["flac_pcm_16.flac", 31, 16],
    ["flac_pcm_24.flac", 3, 24],
    ["flac_pcm_24.flac", 7, 24],
  ])("%s with STREAMINFO bits per sample − 1 = %i decodes by the frames' depth (%i bits), as libsndfile does", async (name, field, depth) => {
    const good = await decode(path.join(FORMATS, name));
    const lying = streaminfoSet(fixture(name), 103, 5, field);
    const got = await decode(lying);
    expect(got.frames).toBe(good.frames);
    expect(got.data[0]).toEqual(good.data[0]); // not re-quantized to STREAMINFO's depth
    const reader = await openAudio(onDisk(`bits-${field}-${name}`, lying), { blockFrames: 1000 });
    try {
      expect(reader.info.bitsPerSample).toBe(depth);
      expect(await reader.read(0, 12_345, 2000)).toEqual(good.data[0].subarray(12_345, 14_345)); // after a seek
    } finally {
      await reader.close();
    }
  });

  it.each([[1, 2], [7, 8]])("a mono file whose STREAMINFO says channels − 1 = %i is refused: the frames have 1 channel, STREAMINFO says %i", async (field, channels) => {
    const lying = streaminfoSet(fixture("flac_pcm_16.flac"), 100, 3, field);
    expect(await decodeError(lying)).toBe(`<buffer>: flac: the frames have 1 channel, STREAMINFO says ${channels}`);
    const file = onDisk(`channels-${field}.flac`, lying);
    expect(await readError(file)).toBe(`${file}: flac: the frames have 1 channel, STREAMINFO says ${channels}`);
  });
});

describe("FLAC frames that take the sample rate or depth from STREAMINFO (codes 0, RFC 9639 §9.1.2, §9.1.4)", () => {
  // libFLAC 1.4.2 (not in subset mode) writes sample rate code 0 for 768000, 1000000 and 100001 Hz,
  // rates no other code states; the decoder found such frames unparseable ("corrupt stream").
  const rateFromStreaminfo = (c: Uint8Array) => (c[0] &= 0xf0);
  const depthFromStreaminfo = (c: Uint8Array) => (c[1] &= 0xf1);
  it.each([
    ["flac_pcm_16.flac", "sample rate", rateFromStreaminfo, 16000],
    ["flac_pcm_24.flac", "sample rate", rateFromStreaminfo, 16000],
    ["flac_pcm_s8.flac", "sample size", depthFromStreaminfo, 16000],
    ["flac_pcm_24.flac", "sample size", depthFromStreaminfo, 16000],
    ["flac_pcm_16.flac", "sample rate and size", (c: Uint8Array) => (rateFromStreaminfo(c), depthFromStreaminfo(c)), 16000],
    ["flac_pcm_16.flac", "sample rate (STREAMINFO saying 768000 Hz)", rateFromStreaminfo, 768000],
  ] as const)("%s with every frame's %s code 0 reads the original samples, from the start and from a fresh reader at each range", async (name, _, edit, rate) => {
    const good = await decode(path.join(FORMATS, name));
    const coded = withFrameCodes(streaminfoSet(fixture(name), 80, 20, rate), edit); // sample rate: 20 bits at bit 80
    const whole = await decode(coded);
    expect([whole.samplerate, whole.frames]).toEqual([rate, good.frames]);
    expect(whole.data[0]).toEqual(good.data[0]);
    for (const [start, count] of [[12_345, 2000], [15_000, 1000], [4_095, 2], [0, 700], [8_192, 1]]) {
      const reader = await openAudio(coded, { blockFrames: 500 });
      try {
        expect([reader.info.frames, reader.info.bitsPerSample]).toEqual([good.frames, Number(name.match(/\d+/)![0])]);
        expect(await reader.read(0, start, count), `${start}+${count}`).toEqual(good.data[0].subarray(start, start + count));
      } finally {
        await reader.close();
      }
    }
  });

  it("a file whose STREAMINFO states a fixed block size not the frames' own reads whole (libFLAC, given STREAMINFO, numbers the frames by it)", async () => {
    const good = await decode(path.join(FORMATS, "flac_pcm_16.flac"));
    const lying = streaminfoSet(streaminfoSet(fixture("flac_pcm_16.flac"), 0, 16, 8192), 16, 16, 8192); // frames of 4096
    expect((await decode(lying)).data[0]).toEqual(good.data[0]);
  });
});

/** A FLAC that Debian's flac (apt-get install -y flac; .ci/run installs it) encodes from `input` with `options`. */
function flacEncoded(name: string, input: string, options: string[]): Uint8Array {
  const flac = path.join(scratch, name);
  try {
    execFileSync("flac", ["--silent", "--force", ...options, "-o", flac, input]);
  } catch (err) {
    throw new Error(`this test encodes with Debian's flac (apt-get install -y flac; .ci/run installs it): ${(err as Error).message}`);
  }
  return new Uint8Array(readFileSync(flac));
}

describe("FLAC samples at libsndfile's scale (rescaleFlacInto)", () => {
  // The decoder library gives i / (2^(bits−1) − 1) in float32; libsndfile i / 2^(bits−1).
  it.each([8, 16, 24])("every %i-bit integer the decoder gives becomes i / 2^(bits − 1), as Math.round recovers i", (bits) => {
    const full = 2 ** (bits - 1);
    const decoded = new Float32Array(2 * full);
    for (let i = -full; i < full; i++) decoded[i + full] = (i | 0) / (full - 1); // | 0: 0, not −0
    const target = new Float32Array(decoded.length + 3);
    rescaleFlacInto(decoded, target, 3, bits);
    let wrong = 0;
    for (let k = 0; k < decoded.length; k++) if (!Object.is(target[3 + k], Math.fround((k - full) / full))) wrong++;
    expect(wrong).toBe(0);
    expect(Array.from(target.subarray(0, 3))).toEqual([0, 0, 0]); // nothing written before `at`
  });
});

describe("FLAC sample depths the decoder library does not scale (all but 8, 16 and 24 bits)", () => {
  /**
   * A mono 48 kHz WAVE_FORMAT_EXTENSIBLE file of 4000 samples of a sine at `bits` valid bits in
   * containers of `width` bytes (left-justified, as the format stores them), which flac encodes
   * at `bits`.
   */
  const wavex = (bits: number, width: number): string => {
    const n = 4000;
    const b = new Uint8Array(68 + n * width);
    const v = new DataView(b.buffer);
    b.set([...Buffer.from("RIFF")], 0);
    v.setUint32(4, b.length - 8, true);
    b.set([...Buffer.from("WAVEfmt ")], 8);
    v.setUint32(16, 40, true);
    v.setUint16(20, 0xfffe, true); // WAVE_FORMAT_EXTENSIBLE
    v.setUint16(22, 1, true);
    v.setUint32(24, 48000, true);
    v.setUint32(28, 48000 * width, true);
    v.setUint16(32, width, true);
    v.setUint16(34, 8 * width, true);
    v.setUint16(36, 22, true);
    v.setUint16(38, bits, true); // valid bits
    v.setUint32(40, 4, true); // front centre
    b.set([1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71], 44); // KSDATAFORMAT_SUBTYPE_PCM
    b.set([...Buffer.from("data")], 60);
    v.setUint32(64, n * width, true);
    for (let i = 0; i < n; i++) {
      const x = Math.round(Math.sin(i / 7) * (2 ** (bits - 1) - 1)) * 2 ** (8 * width - bits);
      for (let k = 0; k < width; k++) b[68 + i * width + k] = Number(BigInt.asUintN(8 * width, BigInt(x)) >> BigInt(8 * k)) & 0xff;
    }
    const file = path.join(scratch, `depth-${bits}.wav`);
    writeFileSync(file, b);
    return file;
  };

  it.each([[10, 2], [12, 2], [20, 3], [23, 3]])("%i-bit FLAC (flac of a WAVE_FORMAT_EXTENSIBLE file) is refused at open, naming the depth — it decoded to ±Infinity and NaN without an error", async (bits, width) => {
    const flac = flacEncoded(`depth-${bits}.flac`, wavex(bits, width), ["--lax"]); // 10 and 23 bits are outside the streamable subset
    expect(await decodeError(flac)).toBe(`<buffer>: flac: ${bits}-bit samples are not supported (the decoder reads 8, 16, 24-bit FLAC; libsndfile refuses ${bits}-bit FLAC too)`);
  });

  it("32-bit FLAC (flac of raw samples) is refused at open — it opened, and every read failed as a cut file (`stream ends at frame 0`)", async () => {
    const raw = path.join(scratch, "depth-32.raw");
    writeFileSync(raw, new Uint8Array(Int32Array.from({ length: 4000 }, (_, i) => Math.round(Math.sin(i / 7) * 2 ** 30)).buffer));
    const flac = flacEncoded("depth-32.flac", raw, ["--force-raw-format", "--endian=little", "--sign=signed", "--channels=1", "--bps=32", "--sample-rate=48000"]);
    expect(await decodeError(flac)).toBe("<buffer>: flac: 32-bit samples are not supported (the decoder reads 8, 16, 24-bit FLAC; libsndfile refuses 32-bit FLAC too)");
  });
});

describe("variable-blocksize FLAC (frames numbered by their first sample, RFC 9639 §9.1.5), written in the test", () => {
  // No FLAC file here had variable block sizes (flac 1.4.2 writes none). libFLAC 1.4.2 (flac -d)
  // and libsndfile 1.2 read the variable ones as written (checked by hand on the same layouts); a
  // stream whose blocking strategy changes (RFC 9639 §9.1 forbids it) they read wrongly from the
  // change on (every sample after it), where sonotile places each frame by its own header.
  const total = 40_000;
  let seed = 11;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  /** Random block sizes of 16 to 4015 samples (the last one what is left) for `frames` samples. */
  const randomSizes = (frames: number) => {
    const sizes: number[] = [];
    for (let left = frames; left > 0; left -= sizes.at(-1)!) sizes.push(Math.min(left, 16 + Math.floor(next() * 4000)));
    return sizes;
  };
  const sizes = randomSizes(total);
  const afterTen = [...new Array(10).fill(1024), ...randomSizes(total - 10 * 1024)];
  const layouts = [
    ["16-bit stereo at 44.1 kHz", 16, 2, 44_100],
    ["8-bit mono at 384 kHz", 8, 1, 384_000],
    ["24-bit mono at 96 kHz", 24, 1, 96_000],
  ] as const;

  it.each(layouts)("%s: a whole decode and fresh readers at 30 random places give the samples — with STREAMINFO's total, without it (0), and with the blocking strategy changing after 10 frames", async (_, bits, channels, rate) => {
    const samples = Array.from({ length: channels }, (_, c) => new Int32Array(total).map((_, i) => Math.round(Math.sin(i * 0.01 * (c + 1)) * (2 ** (bits - 1) - 1) * 0.9)));
    const expected = samples.map((x) => Float32Array.from(x, (v) => v / 2 ** (bits - 1)));
    const unknownLength = (b: Uint8Array) => {
      const out = b.slice();
      out[21] &= 0xf0; // STREAMINFO's total samples (36 bits from byte 21's low nibble): 0, not known
      out.fill(0, 22, 26);
      return out;
    };
    const variable = verbatimFlac(samples, rate, bits, Math.max(...sizes), false, { sizes, from: 0 });
    const changing = verbatimFlac(samples, rate, bits, 4096, false, { sizes: afterTen, from: 10 });
    for (const [name, flac] of [["variable", variable], ["total 0", unknownLength(variable)], ["strategy changes", changing]] as const) {
      const got = await decode(flac);
      expect(got.frames, name).toBe(total);
      got.data.forEach((x, c) => expect(x, `${name}, channel ${c}`).toEqual(expected[c]));
      for (let k = 0; k < 30; k++) {
        const start = Math.floor(next() * total);
        const count = 1 + Math.floor(next() * 3000);
        const reader = await openAudio(flac, { blockFrames: 1000 });
        try {
          expect(await reader.read(k % channels, start, count), `${name}, [${start}, +${count})`).toEqual(expected[k % channels].subarray(start, start + count));
        } finally {
          await reader.close();
        }
      }
    }
  });
});

describe("FLAC of 192-sample frames (flac -b 192: valid, in the streamable subset)", () => {
  const wav = path.resolve(FORMATS, "../recordings/whombat_tests_bats.wav"); // 44.1 kHz stereo, 22.5 s
  /** whombat_tests_bats.wav encoded by Debian's flac in frames of 192 samples. */
  const encoded = () => flacEncoded("blocks-192.flac", wav, ["--blocksize=192"]);

  it("reads the encoded WAV's samples from a fresh reader every 19 200 frames — the decoder library, given STREAMINFO, trapped on 27 of 52 (`memory access out of bounds`), and the reader's close failed after it", async () => {
    const flac = encoded();
    const good = await decode(wav);
    for (let start = 0; start < good.frames; start += 19_200) {
      const reader = await openAudio(flac);
      try {
        for (const channel of [0, 1]) expect(await reader.read(channel, start, 1024), `channel ${channel} at ${start}`).toEqual(good.data[channel].subarray(start, start + 1024));
      } finally {
        await reader.close();
      }
    }
  });

  it("with every frame's rate code 0 (from STREAMINFO) reads the samples from a fresh reader every 19 200 frames — the decoder library, given STREAMINFO for such frames, trapped on 27 of 52", async () => {
    const flac = withFrameCodes(encoded(), (c) => (c[0] &= 0xf0));
    const good = await decode(wav);
    for (let start = 0; start < good.frames; start += 19_200) {
      const reader = await openAudio(flac);
      try {
        expect(await reader.read(0, start, 1024), `at ${start}`).toEqual(good.data[0].subarray(start, start + 1024));
      } finally {
        await reader.close();
      }
    }
  });
  it("withStatedCodes states a code-0 rate in each frame it is given and recomputes the checksums, and leaves the bytes from a frame whose CRC-16 is wrong as they are (for libFLAC to report, not to decode)", () => {
    const explicit = encoded();
    const code0 = withFrameCodes(explicit, (c) => (c[0] &= 0xf0));
    const standIn = withFrameCodes(explicit, (c) => (c[0] = (c[0] & 0xf0) | 1)); // rate code 0b0001, checksums recomputed
    const at = flacFrameOffsets(code0).slice(500, 503);
    const streaminfo = code0.subarray(0, 42);
    expect(withStatedCodes(code0.slice(at[0], at[1]), streaminfo)).toEqual(standIn.subarray(at[0], at[1]));
    // Two frames at once, as the library's frame parser hands over what it holds at its flush.
    expect(withStatedCodes(code0.slice(at[0], at[2]), streaminfo)).toEqual(standIn.subarray(at[0], at[2]));
    const damaged = code0.slice(at[0], at[2]);
    damaged[damaged.length - 1] ^= 0x5a; // the second frame's CRC-16
    expect(withStatedCodes(damaged, streaminfo)).toEqual(concatBytes(standIn.subarray(at[0], at[1]), damaged.subarray(at[1] - at[0])));
  });
});

describe("FLAC that libFLAC writes with rate code 0 (rates no other code states, RFC 9639 §9.1.2)", () => {
  /** `seconds` of a chirp and noise as `channels` × `bits`-bit integers, interleaved, encoded by flac at `rate` Hz in frames of `blocksize`; and the samples as libsndfile scales them. */
  function encodedAt(rate: number, channels: number, bits: number, blocksize: number, seconds: number): { flac: Uint8Array; samples: Float32Array[] } {
    const frames = Math.round(rate * seconds);
    const full = 2 ** (bits - 1);
    const rng = random(rate + bits);
    const samples = Array.from({ length: channels }, (_, c) => Float32Array.from({ length: frames }, (_, i) => (Math.round((0.5 * Math.sin(i * (0.01 + (c + 1) * i * 1e-7)) + 0.1 * (rng() - 0.5)) * full) | 0) / full)); // | 0: 0, not −0
    const bytes = bits / 8;
    const raw = new Uint8Array(frames * channels * bytes);
    for (let i = 0; i < frames; i++)
      for (let c = 0; c < channels; c++) {
        const v = samples[c][i] * full;
        for (let k = 0; k < bytes; k++) raw[(i * channels + c) * bytes + k] = (v >> (8 * k)) & 0xff;
      }
    const input = path.join(scratch, `code0-${rate}.raw`);
    writeFileSync(input, raw);
    const flac = flacEncoded(`code0-${rate}.flac`, input, ["--force-raw-format", "--endian=little", "--sign=signed", `--channels=${channels}`, `--bps=${bits}`, `--sample-rate=${rate}`, `--blocksize=${blocksize}`, "--lax"]);
    return { flac, samples };
  }

  // The first: every read within the first 65 536 frames failed inside the decoder library
  // (`memory access out of bounds`) when its libFLAC was given STREAMINFO, as such frames need.
  it.each([
    [768_000, 2, 16, 192, undefined, 1],
    [1_000_000, 2, 24, 1152, 1000, 0.4],
  ])("%i Hz, %i channel(s) of %i bits in frames of %i, blocks of %s frames: every read from a fresh reader gives the samples", async (rate, channels, bits, blocksize, blockFrames, seconds) => {
    const { flac, samples } = encodedAt(rate, channels, bits, blocksize, seconds);
    expect(parseFrameHeader(flac, flacFrameOffsets(flac)[0], blocksize)).not.toBeNull();
    expect(flac[flacFrameOffsets(flac)[1] + 2] & 0x0f).toBe(0); // the encoder wrote rate code 0
    for (let start = 0; start < samples[0].length; start += 7_919) {
      const reader = await openAudio(flac, { blockFrames });
      try {
        expect(reader.info.samplerate).toBe(rate);
        for (let c = 0; c < channels; c++) expect(await reader.read(c, start, 2000), `channel ${c} at ${start}`).toEqual(samples[c].subarray(start, start + 2000));
      } finally {
        await reader.close();
      }
    }
  });
});

describe("FLAC frame headers with a reserved code, or a sample rate not STREAMINFO's", () => {
  // flac_pcm_16.flac: 4 frames, at bytes 86, 8085, 16088 and 24100; 16 kHz (rate code 5).
  it("the fixture's frames are where these tests say", () => {
    expect(flacFrameOffsets(fixture("flac_pcm_16.flac"))).toEqual([86, 8085, 16088, 24100]);
  });

  const rateCode = (code: number) => (c: Uint8Array) => (c[0] = (c[0] & 0xf0) | code);
  const sizeCode = (code: number) => (c: Uint8Array) => (c[1] = (c[1] & 0xf1) | (code << 1));
  it.each([
    ["sample rate code 0b1111", 0, rateCode(15), "flac: the frame at byte 86 has sample rate code 0b1111 (RFC 9639 §9.1.2), a reserved value"],
    ["sample rate code 0b1111", 2, rateCode(15), "flac: the frame at byte 16088 has sample rate code 0b1111 (RFC 9639 §9.1.2), a reserved value"],
    ["sample size code 0b011", 0, sizeCode(3), "flac: the frame at byte 86 has sample size code 0b011 (RFC 9639 §9.1.4), a reserved value"],
    ["sample size code 0b011", 3, sizeCode(3), "flac: the frame at byte 24100 has sample size code 0b011 (RFC 9639 §9.1.4), a reserved value"],
    ["sample rate code 0b1001 (44.1 kHz)", 0, rateCode(9), "flac: the frame at byte 86 states a sample rate of 44100 Hz, STREAMINFO says 16000 Hz"],
  ] as const)("%s in frame %i is refused, naming the frame's byte — the frame was skipped, and read as the next one's samples or as a corrupt stream", async (_, frame, edit, message) => {
    const bad = withFrameCodes(fixture("flac_pcm_16.flac"), (c, k) => k === frame && edit(c));
    expect(await decodeError(bad)).toBe(`<buffer>: ${message}`);
    const file = onDisk(`code-${frame}-${message.length}.flac`, bad);
    // From a fresh reader, a seek into that frame (of 4096 samples): the same error.
    const reader = await openAudio(file, { blockFrames: 500 }).catch((err: Error) => err);
    if (reader instanceof Error) return expect(reader.message).toBe(`${file}: ${message}`);
    try {
      await expect(reader.read(0, frame * 4096 + 500, 1000)).rejects.toThrow(`${file}: ${message}`);
    } finally {
      await reader.close();
    }
  });
});

describe("a reader after a read that failed on a corrupt FLAC frame", () => {
  // flac_pcm_16.flac: frames of 4096 samples (the fourth, the last, of 3712), the third (samples
  // 8192–12287) spoilt — its header given a reserved sample rate code (libFLAC skips the frame), or
  // a byte of its audio data changed (its CRC-16 fails). The reader that failed kept its cursor,
  // whose decoder had dropped that frame, and returned the frames after it for the ones asked
  // (off by up to 0.98 in a longer file); a fresh reader that seeks to the spoilt frame fed it to
  // a fresh decoder first, which libFLAC drops without a word, and read the next frame as its own.
  const third = 16088; // its byte (see the describe above)
  const spoilt: [string, () => Uint8Array][] = [
    ["sample rate code 0b1111 in its header", () => withFrameCodes(fixture("flac_pcm_16.flac"), (c, k) => k === 2 && (c[0] = (c[0] & 0xf0) | 15))],
    ["a byte of its audio data changed", () => {
      const b = fixture("flac_pcm_16.flac");
      b[third + 4000] ^= 0x5a;
      return b;
    }],
  ];
  /** Reads ahead of, past, then back into the spoilt frame (8192–12287), with blocks of 500 or 4096 frames. */
  const READS = [[7000, 2000], [9000, 100], [12_500, 3000], [12_000, 100], [8192, 100], [14_000, 2000]];

  /** The samples `read(0, start, count)` gives, or its error's message. */
  const outcome = (reader: AudioReader, start: number, count: number) => reader.read(0, start, count).catch((err: Error) => err.message);

  it.each(spoilt)("%s: each read on the reader that failed gives what it gives from a fresh reader — an error where it touches the frame, the file's samples past it", async (_label, bad) => {
    const good = (await decode(fixture("flac_pcm_16.flac"))).data[0];
    for (const blockFrames of [500, 4096]) {
      const reader = await openAudio(bad(), { blockFrames });
      try {
        for (const [start, count] of READS) {
          const fresh = await openAudio(bad(), { blockFrames });
          const expected = await outcome(fresh, start, count);
          await fresh.close();
          const got = await outcome(reader, start, count);
          const what = `read(0, ${start}, ${count}), blocks of ${blockFrames}`;
          if (start + count <= 8192 || start >= (blockFrames === 500 ? 12_500 : 12_288)) {
            expect(expected, what).toEqual(good.subarray(start, start + count));
            expect(got, what).toEqual(expected);
          } else {
            expect(expected, what).toMatch(/^<buffer>: flac: .*(byte 16088|frame 8192)/); // naming the spoilt frame: its byte, or its first sample
            expect(got, what).toEqual(expected);
          }
        }
      } finally {
        await reader.close();
      }
    }
  });
});

/** `bad` is refused with `message` when opened: as bytes, and as the file `name` (made safe) on disk. */
async function expectRefusedAtOpen(bad: Uint8Array, name: string, message: string): Promise<void> {
  expect(await decodeError(bad)).toBe(`<buffer>: ${message}`);
  const file = onDisk(name.replace(/[^\w.]+/g, "-"), bad);
  expect(await readError(file)).toBe(`${file}: ${message}`);
}

describe("Ogg Opus identification header (OpusHead, RFC 7845 §5.1) that lies", () => {
  // OpusHead: "OpusHead" (8), version (8), channels (9), pre-skip (10), input rate (12), gain (16),
  // mapping family (18), then for families other than 0: stream count, coupled count, one byte per channel.
  it.each([
    ["channels 3 with mapping family 0", (b: Uint8Array, at: number) => (b[at + 9] = 3), "opus: OpusHead declares 3 channels with channel mapping family 0, which allows only 1 or 2 (RFC 7845 §5.1.1.1)"],
    ["channels 8 with mapping family 0", (b: Uint8Array, at: number) => (b[at + 9] = 8), "opus: OpusHead declares 8 channels with channel mapping family 0, which allows only 1 or 2 (RFC 7845 §5.1.1.1)"],
    ["channels 255 with mapping family 0", (b: Uint8Array, at: number) => (b[at + 9] = 255), "opus: OpusHead declares 255 channels with channel mapping family 0, which allows only 1 or 2 (RFC 7845 §5.1.1.1)"],
    ["version 255", (b: Uint8Array, at: number) => (b[at + 8] = 255), "opus: OpusHead version 255 (major version 15) is not supported: RFC 7845 §5.1 defines major version 0"],
    ["version 2", (b: Uint8Array, at: number) => (b[at + 8] = 2), "opus: OpusHead version 2 is not supported: RFC 7845 §5.1 defines version 1, the only one the decoder reads"],
    ["mapping family 1 without a mapping table", (b: Uint8Array, at: number) => (b[at + 18] = 1), "opus: OpusHead declares channel mapping family 1 but has no channel mapping table (the header is 19 bytes; 1 channel needs 22, RFC 7845 §5.1.1)"],
    ["mapping family 2 without a mapping table", (b: Uint8Array, at: number) => (b[at + 18] = 2), "opus: OpusHead declares channel mapping family 2 but has no channel mapping table (the header is 19 bytes; 1 channel needs 22, RFC 7845 §5.1.1)"],
    ["mapping family 255 without a mapping table", (b: Uint8Array, at: number) => (b[at + 18] = 255), "opus: OpusHead declares channel mapping family 255 but has no channel mapping table (the header is 19 bytes; 1 channel needs 22, RFC 7845 §5.1.1)"],
  ])("%s is refused at open, naming the field", async (label, edit, message) => {
    await expectRefusedAtOpen(firstPacketEdited("ogg_opus.ogg", edit), `opushead-${label}.ogg`, message);
  });

  it.each([
    [22050, 24000],
    [11025, 12000],
    [0, 8000],
    [44100, 48000],
    [16000, 16000],
  ])("original rate %i Hz is decoded at %i Hz, libsndfile's choice: the lowest libopus rate at or above it", async (input, rate) => {
    // ogg_opus.ogg: 1 s. libsndfile 1.2 gives 24000 frames at 24000 Hz for 22050, 12000 Hz for
    // 11025 and 8000 Hz for 0; sonotile decoded everything but the five libopus rates at 48 kHz.
    const d = await decode(firstPacketEdited("ogg_opus.ogg", (b, at) => new DataView(b.buffer).setUint32(at + 12, input, true)));
    expect([d.samplerate, d.frames]).toEqual([rate, rate]);
  });

  /** OpusHead of ogg_opus.ogg (mono) with mapping family `family` and the table `table` after it. */
  const withTable = (family: number, channels: number, table: number[]) => {
    const src = fixture("ogg_opus.ogg");
    const head = src.slice(28, 28 + 19);
    head[9] = channels;
    head[18] = family;
    return firstPacketReplaced("ogg_opus.ogg", Uint8Array.from([...head, ...table]));
  };

  it("a mono stream described with mapping family 1 and its table (1 stream, 0 coupled, channel 0 → 0) decodes as the original", async () => {
    const good = await decode(path.join(FORMATS, "ogg_opus.ogg"));
    const got = await decode(withTable(1, 1, [1, 0, 0]));
    expect([got.channels, got.frames]).toEqual([1, good.frames]);
    expect(maxAbsDiff(got.data[0], good.data[0])).toBeLessThan(1e-6);
  });

  it.each([
    ["family 1 with 9 channels", withTable(1, 9, [9, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]), "opus: OpusHead declares 9 channels with channel mapping family 1, which allows 1 to 8 (RFC 7845 §5.1.1.2)"],
    ["stream count 0", withTable(1, 1, [0, 0, 0]), "opus: OpusHead declares stream count 0 (RFC 7845 §5.1.1: at least 1)"],
    ["more coupled streams than streams", withTable(1, 1, [1, 2, 0]), "opus: OpusHead declares 2 coupled streams of 1 (RFC 7845 §5.1.1: at most the stream count)"],
    ["a mapping entry past the decoded channels", withTable(1, 2, [1, 0, 0, 7]), "opus: OpusHead maps output channel 1 to decoded channel 7, but 1 stream(s) with 0 coupled decode 1 (RFC 7845 §5.1.1)"],
  ])("a mapping table with %s is refused at open", async (_label, bad, message) => {
    expect(await decodeError(bad)).toBe(`<buffer>: ${message}`);
  });
});

describe("Opus Output Gain (OpusHead bytes 16–17, Q7.8 dB, RFC 7845 §5.1)", () => {
  const gains = JSON.parse(readFileSync(path.join(GOLDEN, "opus_gain.json"), "utf8"));
  /** `b`'s OpusHead (the first packet of its first page) with Output Gain `gain`, its CRC fixed. */
  const withGain = (b: Uint8Array, gain: number) => {
    const out = b.slice();
    new DataView(out.buffer).setInt16(27 + out[26] + 16, gain, true);
    fixOggCrc(out, 0);
    return out;
  };

  it.each([1536, -1536, -7680])("gain %i is applied to the decoded samples as libsndfile applies it (10^(g/5120)), whole and from a fresh reader", async (gain) => {
    // Was ignored: +6 dB decoded at peak 1.0 where libsndfile gives 1.995.
    const g = gains[String(gain)];
    const plain = await decode(path.join(FORMATS, "ogg_opus.ogg"));
    const bytes = withGain(fixture("ogg_opus.ogg"), gain);
    const got = await decode(bytes);
    expect(got.frames).toBe(g.frames);
    const factor = 10 ** (gain / 5120);
    // Lossy: libsndfile's libopus and this WebAssembly build agree to rounding (2e-3 at unit gain).
    expect(Math.abs(Math.max(...got.data[0].map(Math.abs)) - g.peak)).toBeLessThan(2e-3 * factor);
    g.positions.forEach((p: number, i: number) => expect(Math.abs(got.data[0][p] - g.values[i]), `frame ${p}`).toBeLessThan(2e-3 * factor));
    // Exactly the ungained decode times the gain, in float32.
    expect(maxAbsDiff(got.data[0], plain.data[0].map((v) => v * factor))).toBeLessThan(1e-6 * factor);
    const reader = await openAudio(bytes, { blockFrames: 1000 });
    try {
      expect(maxAbsDiff(await reader.read(0, 12_000, 3000), got.data[0].subarray(12_000, 15_000))).toBeLessThan(1e-6 * factor);
    } finally {
      await reader.close();
    }
  });

  it("in a chained file each link's own gain applies to its samples, also from a fresh reader that seeks into the second link", async () => {
    const one = new Uint8Array(readFileSync(path.join(GOLDEN, "seek_long_opus.ogg")));
    const plain = await decode(one);
    const chain = concatBytes(one, withSerial(withGain(one, -1536), 9));
    const whole = await decode(chain);
    const factor = 10 ** (-1536 / 5120);
    expect(whole.frames).toBe(2 * plain.frames);
    for (let c = 0; c < 2; c++) {
      expect(whole.data[c].subarray(0, plain.frames)).toEqual(plain.data[c]);
      expect(maxAbsDiff(whole.data[c].subarray(plain.frames), plain.data[c].map((v) => v * factor))).toBeLessThan(1e-6);
    }
    const start = plain.frames + 150_000;
    const reader = await openAudio(chain, { blockFrames: 4096 });
    try {
      expect(maxAbsDiff(await reader.read(1, start, 5000), whole.data[1].subarray(start, start + 5000))).toBeLessThan(1e-6);
    } finally {
      await reader.close();
    }
  });
});

describe("Ogg Vorbis identification header (Vorbis I spec §4.2.2) that lies", () => {
  // After "\x01vorbis" (7): vorbis_version (u32 7), audio_channels (11), audio_sample_rate (u32 12),
  // three bitrates (16..27), blocksize_0 / blocksize_1 as exponents in one byte (28), framing flag (29).
  it.each([
    ["vorbis_version 1", (b: Uint8Array, at: number) => (b[at + 7] = 1), "vorbis: identification header declares vorbis_version 1; the Vorbis I spec (§4.2.2) allows only 0"],
    ["audio_channels 0", (b: Uint8Array, at: number) => (b[at + 11] = 0), "vorbis: identification header declares audio_channels 0; the Vorbis I spec (§4.2.2) requires at least 1"],
    ["audio_sample_rate 0", (b: Uint8Array, at: number) => b.fill(0, at + 12, at + 16), "vorbis: identification header declares audio_sample_rate 0; the Vorbis I spec (§4.2.2) requires more than 0"],
    ["blocksizes 1 and 1", (b: Uint8Array, at: number) => (b[at + 28] = 0x00), "vorbis: identification header declares blocksize_0 1 and blocksize_1 1; the Vorbis I spec (§4.2.2) allows powers of two from 64 to 8192, blocksize_0 ≤ blocksize_1"],
    ["blocksizes 32768 and 32768", (b: Uint8Array, at: number) => (b[at + 28] = 0xff), "vorbis: identification header declares blocksize_0 32768 and blocksize_1 32768; the Vorbis I spec (§4.2.2) allows powers of two from 64 to 8192, blocksize_0 ≤ blocksize_1"],
    ["blocksize_0 above blocksize_1", (b: Uint8Array, at: number) => (b[at + 28] = 0x68), "vorbis: identification header declares blocksize_0 256 and blocksize_1 64; the Vorbis I spec (§4.2.2) allows powers of two from 64 to 8192, blocksize_0 ≤ blocksize_1"],
    ["framing bit 0", (b: Uint8Array, at: number) => (b[at + 29] = 0), "vorbis: identification header's framing bit is 0; the Vorbis I spec (§4.2.2) requires 1"],
  ])("%s is refused at open, naming the field", async (label, edit, message) => {
    await expectRefusedAtOpen(firstPacketEdited("ogg_vorbis.ogg", edit), `vorbis-${label}.ogg`, message);
  });

  it("an identification header cut short is refused with its length", async () => {
    const src = fixture("ogg_vorbis.ogg");
    const bad = firstPacketReplaced("ogg_vorbis.ogg", src.slice(28, 28 + 20));
    expect(await decodeError(bad)).toBe("<buffer>: vorbis: identification header is 20 bytes; the Vorbis I spec (§4.2.2) requires 30 (truncated?)");
  });
});

describe("an exception from inside a decoder library", () => {
  it("says where the stream is corrupt, the library's text only as a detail", async () => {
    // ogg_vorbis.ogg with the last byte of its identification header 0x03: the framing bit (bit 0)
    // is set, all the Vorbis I spec and libvorbis read of that byte (libsndfile decodes the file),
    // so the probe lets it pass; the decoder's parser (codec-parser) wants the whole byte to be 1
    // and throws a ReferenceError. (This test used a chained file whose second link had a bad
    // vorbis_version; every link's header is now checked at open.)
    const bad = firstPacketEdited("ogg_vorbis.ogg", (b, at) => (b[at + 29] = 0x03));
    const message = "vorbis: corrupt stream: cannot decode the audio after frame 0, at 0 s (decoder error: logError is not defined)";
    expect(await decodeError(bad)).toBe(`<buffer>: ${message}`);
    const file = onDisk("framing-byte-3.ogg", bad);
    expect(await readError(file)).toBe(`${file}: ${message}`);
  });
});

// ---------------------------------------------------------------------------------------------
// Chained Ogg files (RFC 3533 §4: whole logical streams, "links", one after another, as `cat a.ogg
// b.ogg` makes), built here from the golden files' bytes. libsndfile 1.2 reads only the first link
// of such a file; sonotile reads links of one codec, rate and channel count as one recording, each
// link decoded as the file it was, and refuses the rest at open, naming the byte where the link
// that differs begins.

describe("chained Ogg files", () => {
  const golden = (name: string) => new Uint8Array(readFileSync(path.join(GOLDEN, name)));

  it.each(["vorbis", "opus"])("%s: links of one format are one recording: their lengths summed, their own decodes in order, and the same samples from a fresh reader at every block", async (codec) => {
    // 6 s of 48 kHz stereo, and its first pages (Vorbis: 8 pages of ~0.3 s; Opus: 2 pages of 1 s)
    // as a shorter stream of its own serial number: short, long, short (was: the length of the
    // last link, the audio after it cut, and seeks only in the first link's pages).
    const one = golden(`seek_long_${codec}.ogg`);
    const short = oggFirstPages(one, codec === "vorbis" ? 10 : 4);
    const links = [withSerial(short, 7), one, withSerial(short, 9)];
    const chain = concatBytes(...links);
    const parts = await Promise.all(links.map((l) => decode(l)));
    const whole = await decode(chain);
    expect(whole.frames).toBe(parts.reduce((n, p) => n + p.frames, 0));
    expect(whole.frames).toBeGreaterThan(parts[1].frames + 2 * 90_000);
    expect([whole.samplerate, whole.channels]).toEqual([48000, 2]);
    for (let c = 0; c < 2; c++) expect(whole.data[c]).toEqual(concatFloats(parts.map((p) => p.data[c]))); // bit for bit
    // A fresh reader per block, as tiles read (blocks of 4100 frames start everywhere, some across
    // a link's end): each seeks within the link that holds its block, or decodes from that link's start.
    const blockFrames = 4100;
    let worst = 0;
    for (let start = 0; start < whole.frames; start += blockFrames) {
      const reader = await openAudio(chain, { blockFrames });
      try {
        expect(reader.info.frames).toBe(whole.frames);
        for (let c = 0; c < 2; c++) worst = Math.max(worst, maxAbsDiff(await reader.read(c, start, blockFrames), whole.data[c].subarray(start, start + blockFrames)));
      } finally {
        await reader.close();
      }
    }
    expect(worst).toBeLessThan(codec === "vorbis" ? 1e-9 : 1e-6); // as for a file of one stream (see "Ogg seeking" above)
    // One reader, in any order: across both link ends, backwards, at the very end.
    const reader = await openAudio(chain, { blockFrames: 3000 });
    try {
      const [first, second] = [parts[0].frames, parts[0].frames + parts[1].frames];
      for (const [start, count] of [[second - 5000, 10_000], [first - 1, 2], [100, 50_000], [whole.frames - 10, 100], [first + 150_000, 7000], [0, whole.frames]]) {
        const got = await reader.read(1, start, count);
        expect(maxAbsDiff(got, whole.data[1].subarray(start, start + count))).toBeLessThan(codec === "vorbis" ? 1e-9 : 1e-6);
        expect(got.length).toBe(Math.min(count, whole.frames - start));
      }
    } finally {
      await reader.close();
    }
  });

  it("a chained file opens with O(log) reads: its links are found by bisection over serial numbers, and an ordinary file's open reads no more than before", async () => {
    // Two 100-fold longer streams (seek_long_vorbis.ogg's audio pages repeated, renumbered), 9 MB each.
    const a = repeatedAudio(golden("seek_long_vorbis.ogg"), 100);
    const b = withSerial(a, 7);
    const single = await openAudio(a);
    try {
      expect(single.info.frames).toBe(100 * 288_000);
      expect(single.bytesRead).toBeLessThan(300_000); // the header pages and the last 64 KiB, as before
    } finally {
      await single.close();
    }
    const chained = await openAudio(concatBytes(a, b));
    try {
      expect(chained.info.frames).toBe(200 * 288_000);
      expect(chained.bytesRead).toBeLessThan(2_000_000); // of 18.7 MB
    } finally {
      await chained.close();
    }
  });

  const vorbis = () => fixture("ogg_vorbis.ogg"); // 16 kHz mono, 8614 bytes
  const opus = () => fixture("ogg_opus.ogg"); // 16 kHz mono, 3901 bytes
  const LINKS_DIFFER = "links that differ in codec, sample rate or channel count are not read as one recording";
  it.each([
    ["Vorbis links of other rates and channel counts", () => concatBytes(vorbis(), golden("seek_vorbis.ogg")), `ogg: the chained stream (link) at byte 8614 is Vorbis at 8000 Hz with 2 channels, the first one Vorbis at 16000 Hz with 1 channel: ${LINKS_DIFFER} (split the file at byte 8614)`],
    ["Opus links of other rates and channel counts", () => concatBytes(opus(), golden("seek_opus.ogg")), `ogg: the chained stream (link) at byte 3901 is Opus at 8000 Hz with 2 channels, the first one Opus at 16000 Hz with 1 channel: ${LINKS_DIFFER} (split the file at byte 3901)`],
    ["a Vorbis link, then an Opus one", () => concatBytes(vorbis(), opus()), `ogg: the chained stream (link) at byte 8614 is Opus at 16000 Hz with 1 channel, the first one Vorbis at 16000 Hz with 1 channel: ${LINKS_DIFFER} (split the file at byte 8614)`],
    ["a third link of another rate", () => concatBytes(golden("seek_vorbis.ogg"), withSerial(golden("seek_vorbis.ogg"), 5), vorbis()), `ogg: the chained stream (link) at byte 21386 is Vorbis at 16000 Hz with 1 channel, the first one Vorbis at 8000 Hz with 2 channels: ${LINKS_DIFFER} (split the file at byte 21386)`],
    ["a second link whose identification header lies", () => {
      const two = concatBytes(vorbis(), withSerial(vorbis(), 5));
      two[8614 + 27 + two[8614 + 26] + 7] = 1; // vorbis_version
      fixOggCrc(two, 8614);
      return two;
    }, "the chained stream (link) at byte 8614: vorbis: identification header declares vorbis_version 1; the Vorbis I spec (§4.2.2) allows only 0"],
    ["a second stream that does not begin (no BOS flag)", () => {
      const two = concatBytes(vorbis(), withSerial(vorbis(), 5));
      two[8614 + 5] &= ~0x02;
      fixOggCrc(two, 8614);
      return two;
    }, "ogg: the page at byte 8614 (serial number 5) neither continues the stream before it nor begins a new one (multiplexed streams, or a damaged file)"],
    ["two streams multiplexed (grouped), not chained", () => {
      // Both first pages, then the rest of each: what RFC 3533 calls grouping (an audio and a video stream, say).
      const [a, b] = [vorbis(), withSerial(vorbis(), 5)];
      return concatBytes(a.subarray(0, 58), b.subarray(0, 58), a.subarray(58), b.subarray(58));
    }, 'ogg: the stream at byte 58 begins alongside the one at byte 0 (multiplexed, "grouped" streams, RFC 3533 §4): not supported, only one audio stream or a chain of them'],
  ])("%s: refused at open, naming where", async (label, bytes, message) => {
    await expectRefusedAtOpen(bytes(), `chained-${label}.ogg`, message);
  });

  it("a link shorter than its last granule says is refused where it ends: the links after it would be misplaced", async () => {
    const first = vorbis();
    const last = oggPageOffsets(first).at(-1)!;
    new DataView(first.buffer).setUint32(last + 6, 20_000, true); // granule 16000 → 20000
    fixOggCrc(first, last);
    const chain = concatBytes(first, withSerial(vorbis(), 5));
    const reader = await openAudio(chain);
    expect(reader.info.frames).toBe(36_000);
    await reader.close();
    // 16128: the last packet's frames, no longer trimmed to the granule (16000) of a true last page.
    expect(await decodeError(chain)).toBe("<buffer>: vorbis: the chained stream (link) that begins at byte 0 ends at its frame 16128, its last page says 20000 (truncated, or corrupt from there?)");
  });

  const SHARED = (at: number, serial: number) =>
    `ogg: a new stream (serial number ${serial}) begins at byte ${at}: a chained file whose links share serial numbers (as \`cat a.ogg a.ogg\` makes) is not supported — RFC 3533 gives each link its own, without which the links can be told apart only by reading the whole file; split the file at byte ${at}, or give each link its own serial number`;

  it.each([["ogg_vorbis.ogg", 8614, 435683732], ["ogg_opus.ogg", 3901, 1995745764]])("%s twice (`cat a.ogg a.ogg`, one serial number): refused at open, its second link beginning in the last 64 KiB", async (name, at, serial) => {
    await expectRefusedAtOpen(concatBytes(fixture(name), fixture(name)), `twice-${name}`, SHARED(at, serial));
  });

  it.each([["seek_long_vorbis.ogg", 93493, 589615084], ["seek_long_opus.ogg", 92206, 1544240700]])("%s twice (one serial number, the second link beginning before the last 64 KiB): refused by a decode through it and by a seek whose pages are out of order", async (name, at, serial) => {
    // Where the links begin cannot be found at open without reading every page: the open gives the
    // last link's length, but every pass over the whole file (decode, statistics, features) stops at the second link.
    const chain = concatBytes(golden(name), golden(name));
    expect(await decodeError(chain)).toBe(`<buffer>: ${SHARED(at, serial)}`);
    const reader = await openAudio(chain, { blockFrames: 4096 });
    try {
      await expect(reader.read(0, 200_000, 4096)).rejects.toThrow(/^<buffer>: ogg: the page at byte \d+ is page \d+ of the stream with serial number \d+, the page at byte \d+ page \d+: links of a chained file that share a serial number/);
    } finally {
      await reader.close();
    }
  });

  it("a chained file of links of many empty header pages opens reading about its size, and more links than MAX_LINKS are refused", async () => {
    // Each link: seek_vorbis.ogg's two header pages, then 1000 empty pages of granule 0, the last
    // flagged EOS. Each link's search for its first audio page read up to 64 KiB per page: 20 such
    // links (0.6 MB) read 282 MB at open (1000 such links, 32 MB: 14 GB in 20.7 s).
    const headers = golden("seek_vorbis.ogg").subarray(0, oggPageOffsets(golden("seek_vorbis.ogg"))[2]);
    const padded = (serial: number) =>
      concatBytes(withSerial(headers, serial), ...Array.from({ length: 1000 }, (_, k) => emptyPage(serial, 2 + k, k === 999 ? 0x04 : 0)));
    const chain = concatBytes(...Array.from({ length: 20 }, (_, i) => padded(100 + i)), golden("seek_vorbis.ogg"));
    const reader = await openAudio(chain);
    try {
      expect(reader.info.frames).toBe((await decode(golden("seek_vorbis.ogg"))).frames);
      expect(reader.bytesRead).toBeLessThan(3 * chain.length);
    } finally {
      await reader.close();
    }
    // Links of two pages each (OpusHead, OpusTags), one past the limit: refused where it begins (was opened, up to 65536).
    const tiny = oggFirstPages(golden("seek_opus.ogg"), 2);
    const many = concatBytes(...Array.from({ length: MAX_LINKS + 1 }, (_, i) => withSerial(tiny, 1000 + i)));
    const message = `ogg: more than ${MAX_LINKS} chained streams (links), the link at byte ${MAX_LINKS * tiny.length} the first past them: not supported`;
    expect(await decodeError(many)).toBe(`<buffer>: ${message}`);
  });

  it.each([
    ["cut inside its last page", (b: Uint8Array) => b.subarray(0, b.length - 100), (offsets: number[]) => `ogg: the file ends inside the page at byte ${offsets.at(-1)} (truncated)`],
    ["followed by junk", (b: Uint8Array) => concatBytes(b, new Uint8Array(1000)), null],
  ] as [string, (b: Uint8Array) => Uint8Array, ((offsets: number[]) => string) | null][])("a chained file %s opens and reads up to there, as a file of one stream does (was refused at open)", async (_label, spoil, where) => {
    const one = golden("seek_long_vorbis.ogg");
    const first = withSerial(one, 7);
    const single = spoil(one);
    const chain = spoil(concatBytes(first, one));
    const cut = await openAudio(single);
    const length = cut.info.frames; // the granule of its last whole page
    const fromCut = await cut.read(1, 0, 100_000);
    await cut.close();
    const reader = await openAudio(chain, { blockFrames: 4096 });
    try {
      expect(reader.info.frames).toBe(288_000 + length);
      expect(await reader.read(1, 288_000, 100_000)).toEqual(fromCut); // a seek into the last link
    } finally {
      await reader.close();
    }
    if (!where) {
      // Junk after the last page is not fed to the decoder (it failed the last block).
      const original = await decode(one);
      expect((await decode(single)).data).toEqual(original.data);
      expect((await decode(chain)).data[1]).toEqual(concatFloats([original.data[1], original.data[1]]));
      return;
    }
    expect(await decodeError(single)).toBe(`<buffer>: ${where(oggPageOffsets(one))}`);
    expect(await decodeError(chain)).toBe(`<buffer>: ${where(oggPageOffsets(one).map((o) => o + first.length))}`);
  });

  it.each([["inside its second header page", 1], ["right after its first page", 0]])("a chained file cut within its last link's headers (%s) is refused at open, as a file of one stream so cut is (link 1's last block failed to read)", async (_label, page) => {
    const one = golden("seek_long_vorbis.ogg");
    const first = withSerial(one, 7);
    const offsets = oggPageOffsets(one);
    const cut = page === 0 ? offsets[1] : offsets[1] + 30;
    const message = `ogg: the chained stream (link) at byte ${first.length} has no audio page: the file ends within its headers (truncated?)`;
    expect(await decodeError(concatBytes(first, one.subarray(0, cut)))).toBe(`<buffer>: ${message}`);
    await expect(openAudio(one.subarray(0, cut))).rejects.toThrow(AudioFormatError);
  });

  const ELSEWHERE = (at: number, serial: number) => `ogg: the page at byte ${at} begins a stream (serial number ${serial}) where no link begins (multiplexed streams, or a damaged file)`;

  it("two streams multiplexed (grouped) whose last page is the first's: refused at open, not as links sharing a serial number", async () => {
    const [a, b] = [vorbis(), withSerial(vorbis(), 5)];
    await expectRefusedAtOpen(concatBytes(a.subarray(0, 58), b.subarray(0, 58), b.subarray(58), a.subarray(58)), "grouped-first-last.ogg", ELSEWHERE(58, 5));
  });

  it.each([[5, "decoding"], [-2, "the open (in the last 64 KiB)"]])("a page in the middle of a stream flagged as beginning one (page %i) is a damaged file, not links sharing a serial number: refused by %s", async (index) => {
    const b = golden("seek_long_vorbis.ogg");
    const at = oggPageOffsets(b).at(index)!;
    b[at + 5] |= 0x02;
    fixOggCrc(b, at);
    expect(await decodeError(b)).toBe(`<buffer>: ${ELSEWHERE(at, 589615084)}`);
  });
});

/** An Ogg page of no packets (granule 0): page `sequence` of the stream `serial`, with header flags `flags`. */
function emptyPage(serial: number, sequence: number, flags: number): Uint8Array {
  const page = new Uint8Array(28); // 27-byte header, one lacing value: 0
  page.set([0x4f, 0x67, 0x67, 0x53, 0, flags]);
  const v = new DataView(page.buffer);
  v.setUint32(14, serial, true);
  v.setUint32(18, sequence, true);
  page[26] = 1;
  fixOggCrc(page, 0);
  return page;
}

/** The arrays one after another. */
function concatFloats(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/**
 * A Vorbis file of one stream `times` longer than `b`: its header pages (the first three), then its
 * audio pages `times` over, renumbered and their granules moved on (the audio is not what an
 * encoder would write, but the pages are a valid stream to open).
 */
function repeatedAudio(b: Uint8Array, times: number): Uint8Array {
  const offsets = oggPageOffsets(b);
  const audio = b.subarray(offsets[3]);
  const length = new DataView(b.buffer, b.byteOffset).getUint32(offsets.at(-1)! + 6, true);
  const out = new Uint8Array(offsets[3] + times * audio.length);
  out.set(b.subarray(0, offsets[3]));
  const v = new DataView(out.buffer);
  let sequence = 3;
  for (let k = 0; k < times; k++) {
    const base = offsets[3] + k * audio.length;
    out.set(audio, base);
    for (const o of offsets.slice(3)) {
      const at = base + o - offsets[3];
      v.setUint32(at + 6, v.getUint32(at + 6, true) + k * length, true); // < 2^32 here
      v.setUint32(at + 18, sequence++, true);
      if (k < times - 1) out[at + 5] &= ~0x04; // EOS only on the last page
      fixOggCrc(out, at);
    }
  }
  return out;
}

describe("ID3v2 tags before the audio (FLAC, MP3)", () => {
  /** An ID3v2.4 tag of `size` bytes after its header (syncsafe size), with a footer when `footer`. */
  const id3v2 = (size: number, footer = false): Uint8Array => {
    const tag = new Uint8Array(10 + size + (footer ? 10 : 0));
    tag.set([0x49, 0x44, 0x33, 4, 0, footer ? 0x10 : 0, (size >> 21) & 0x7f, (size >> 14) & 0x7f, (size >> 7) & 0x7f, size & 0x7f]);
    if (footer) tag.set([0x33, 0x44, 0x49, 4, 0, 0x10, ...tag.subarray(6, 10)], 10 + size);
    return tag;
  };

  it.each(["flac_pcm_16.flac", "mp3_mpeg_layer_iii.mp3"])("%s behind one, two or three tags reads as without them, as libsndfile reads it — behind two it was 'not a recognised audio format'", async (name) => {
    const plain = await decode(fixture(name));
    for (const tags of [[id3v2(100)], [id3v2(100), id3v2(50)], [id3v2(20, true), id3v2(30), id3v2(40)]]) {
      const tagged = concatBytes(...tags, fixture(name));
      const whole = await decode(tagged);
      expect([whole.samplerate, whole.frames], `${tags.length} tags`).toEqual([plain.samplerate, plain.frames]);
      expect(whole.data[0], `${tags.length} tags`).toEqual(plain.data[0]);
      const reader = await openAudio(tagged);
      try {
        expect(await reader.read(0, 9000, 500)).toEqual(plain.data[0].subarray(9000, 9500));
      } finally {
        await reader.close();
      }
    }
  });

  it("a tag that runs past the end, or more than 16 in a row, is refused saying so", async () => {
    const flac = fixture("flac_pcm_16.flac");
    const tagged = concatBytes(id3v2(100), id3v2(flac.length + 1).subarray(0, 10), flac); // a header that claims one byte more than the file holds
    expect(await decodeError(tagged)).toBe(`<buffer>: the ID3v2 tag at byte 110 declares ${flac.length + 11} bytes, past the end of the file (${tagged.length} bytes)`);
    expect(await decodeError(concatBytes(...Array.from({ length: 17 }, () => id3v2(4)), flac))).toBe("<buffer>: more than 16 ID3v2 tags in a row at byte 224");
  });
});
