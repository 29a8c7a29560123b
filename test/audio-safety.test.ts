/**
 * SPEC §10: bad audio gets an AudioFormatError that names the problem — never a crash, a hang or
 * an allocation sized by an untrusted header. Hand-made malformed files for each named problem,
 * then a fast-check fuzz over mutated headers of real fixtures and random bytes.
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AudioFormatError, decode, fileMd5, openAudio, probeAudio } from "../src/audio/index.js";
import { parseRiff } from "../src/audio/riff.js";
import { parseMpegHeader } from "../src/audio/mp3seek.js";
import { concatBytes, decodeError, fixOggCrc, flacFrameOffsets, flacOfFrames, verbatimFlac, withSerial } from "./audio-helpers.js";
import { memorySource, readAhead, type ByteSource } from "../src/audio/source.js";
import { RecordingSpectrogram } from "../src/engine/recording.js";
import { runSonotile } from "./cli-helpers.js";

const FORMATS = path.resolve(import.meta.dirname, "../../shared/fixtures/formats");
const fixture = (name: string) => new Uint8Array(readFileSync(path.join(FORMATS, name)));

/** A copy of `bytes` with `edit` applied through a DataView. */
function patched(bytes: Uint8Array, edit: (v: DataView, b: Uint8Array) => void): Uint8Array {
  const b = bytes.slice();
  edit(new DataView(b.buffer), b);
  return b;
}

/**
 * A copy of an Ogg file with the packets of its last page (audio) overwritten by 0xff bytes —
 * for Opus a TOC byte announcing 63 frames, which libopus refuses (OPUS_INVALID_PACKET) — and the
 * page's CRC made to match, so that the decoder sees them. A page is "OggS", 22 header bytes, its
 * segment count at 26, then the segment table and the packets.
 */
function corruptLastOggPage(bytes: Uint8Array): Uint8Array {
  const b = bytes.slice();
  const last = Buffer.from(b).lastIndexOf("OggS");
  b.fill(0xff, last + 27 + b[last + 26]);
  fixOggCrc(b, last);
  return b;
}

/** A copy of `bytes` with the byte at `at` inverted. */
function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const b = bytes.slice();
  b[at] ^= 0xff;
  return b;
}

/** The offsets of an Ogg file's pages ("OggS" capture patterns). */
function oggPages(b: Uint8Array): number[] {
  const at: number[] = [];
  for (let i = Buffer.from(b).indexOf("OggS"); i >= 0; i = Buffer.from(b).indexOf("OggS", i + 1)) at.push(i);
  return at;
}

// wav_pcm_16.wav: RIFF(12) fmt (8+16, fields at 20..35) data header at 36, samples from 44.
const WAV = fixture("wav_pcm_16.wav");

/** wav_pcm_16.wav with a 40-byte WAVE_FORMAT_EXTENSIBLE fmt chunk whose SubFormat is `guid` (as stored). */
function extensibleWav(guid: Uint8Array): Uint8Array {
  const b = new Uint8Array(WAV.length + 24);
  b.set(WAV.subarray(0, 20));
  const v = new DataView(b.buffer);
  v.setUint32(4, b.length - 8, true);
  v.setUint32(16, 40, true);
  b.set(WAV.subarray(20, 36), 20);
  v.setUint16(20, 0xfffe, true);
  v.setUint16(36, 22, true); // cbSize
  v.setUint16(38, 16, true); // valid bits
  v.setUint32(40, 4, true); // channel mask: front centre
  b.set(guid, 44);
  b.set(WAV.subarray(36), 60);
  return b;
}


describe("ADPCM headers whose samples per block is not what a block holds (libsndfile refuses them)", () => {
  // fmt chunk fields: block align u16 and samples per block u16 at bytes 12 and 18 of its body —
  // WAV: bytes 32 and 38; Wave64 (fmt body at 64): bytes 76 and 82. The fixtures: mono, blocks of
  // 512 bytes holding 1017 (IMA: (512/1 − 4)·2 + 1) or 1012 (MS: (512 − 7)·2/1 + 2) samples, 8192
  // bytes of sample data. Each decoded before to a few frames per block (16 or 32 in all), exit 0.
  const edited = (name: string, at: number, value: number) => patched(fixture(name), (v) => v.setUint16(at, value, true));
  it.each([
    ["wav_ima_adpcm.wav", 38, 1, "wav: IMA ADPCM samples per block 1 does not match block align 512, whose blocks hold 1017 ((512/1 − 4)·2 + 1; corrupt header?)"],
    ["wav_ima_adpcm.wav", 38, 1009, "wav: IMA ADPCM samples per block 1009 does not match block align 512, whose blocks hold 1017 ((512/1 − 4)·2 + 1; corrupt header?)"],
    ["wav_ima_adpcm.wav", 32, 1024, "wav: IMA ADPCM samples per block 1017 does not match block align 1024, whose blocks hold 2041 ((1024/1 − 4)·2 + 1; corrupt header?)"],
    ["wav_ms_adpcm.wav", 38, 2, "wav: MS ADPCM samples per block 2 does not match block align 512, whose blocks hold 1012 ((512 − 7·1)·2/1 + 2; corrupt header?)"],
    ["wav_ms_adpcm.wav", 32, 65535, "wav: MS ADPCM samples per block 1012 does not match block align 65535, whose blocks hold 131058 ((65535 − 7·1)·2/1 + 2; corrupt header?)"],
    ["w64_ima_adpcm.w64", 82, 1, "w64: IMA ADPCM samples per block 1 does not match block align 512, whose blocks hold 1017 ((512/1 − 4)·2 + 1; corrupt header?)"],
    ["w64_ms_adpcm.w64", 82, 2, "w64: MS ADPCM samples per block 2 does not match block align 512, whose blocks hold 1012 ((512 − 7·1)·2/1 + 2; corrupt header?)"],
  ])("%s with the u16 at byte %i set to %i is refused at open", async (name, at, value, message) => {
    await expect(openAudio(edited(name, at, value))).rejects.toThrow(new AudioFormatError(`<buffer>: ${message}`));
  });

  it.each([
    ["wav_ima_adpcm.wav", 32, 38, 16384, 32761, "IMA"],
    ["wav_ms_adpcm.wav", 32, 38, 16384, 32756, "MS"],
    ["w64_ima_adpcm.w64", 76, 82, 8196, 16385, "IMA"],
  ])("%s with blocks larger than all its sample data (block align at byte %i, samples per block at %i: %i, %i) is refused naming both", async (name, alignAt, spbAt, align, spb, codec) => {
    // libsndfile reads 32761 frames from the IMA file (a block's worth past its data) and 0 from the MS one.
    const b = patched(fixture(name), (v) => {
      v.setUint16(alignAt, align, true);
      v.setUint16(spbAt, spb, true);
    });
    await expect(openAudio(b)).rejects.toThrow(new AudioFormatError(`<buffer>: ${name.slice(0, 3)}: ${codec} ADPCM block align ${align} is more than all the sample data, 8192 bytes: not one whole block (corrupt header?)`));
  });

  it("the fixtures as they are still decode at their lengths", async () => {
    for (const [name, frames] of [["wav_ima_adpcm.wav", 16272], ["wav_ms_adpcm.wav", 16192], ["w64_ima_adpcm.w64", 16272], ["w64_ms_adpcm.w64", 16192]] as const) expect((await decode(fixture(name))).frames, name).toBe(frames);
  });
});

describe("malformed files are rejected with a message naming the problem", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty file", new Uint8Array(0), /empty/],
    ["random bytes", Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251), /not a recognised audio format/],
    ["truncated WAV (data chunk claims more than the file)", WAV.subarray(0, 20000), /'data' chunk .* declares 32000 bytes but only 19956 remain/],
    ["fmt chunk size larger than the file", patched(WAV, (v) => v.setUint32(16, 0x7fffffff, true)), /'fmt ' chunk .* declares 2147483647 bytes/],
    ["zero channels", patched(WAV, (v) => v.setUint16(22, 0, true)), /declares 0 channels/],
    ["zero sample rate", patched(WAV, (v) => v.setUint32(24, 0, true)), /sample rate 0/],
    ["absurd bit depth", patched(WAV, (v) => v.setUint16(34, 48, true)), /48-bit integer PCM is not a valid bit depth/],
    ["absurd block align", patched(WAV, (v) => v.setUint16(32, 65535, true)), /block align 65535 does not match 1 channel × 2 bytes/],
    ["unknown codec", patched(WAV, (v) => v.setUint16(20, 0x55, true)), /unsupported codec, format tag 0x0055 \(MPEG Layer 3\)/],
    // Its RIFF header's size made the 36 bytes it has: a file whole, without audio.
    ["no data chunk", patched(WAV.subarray(0, 36), (v) => v.setUint32(4, 28, true)), /^<buffer>: wav: no data chunk$/],
    ["RF64 data size 0xFFFFFFFF without ds64", patched(WAV, (v, b) => {
      b.set([0x52, 0x46, 0x36, 0x34], 0); // "RF64"
      v.setUint32(40, 0xffffffff, true);
    }), /no ds64 chunk/],
    ["Wave64 chunk size smaller than its header", patched(fixture("w64_pcm_16.w64"), (v) => v.setUint32(40 + 16, 3, true)), /declares size 3, less than its own header/],
    // 64-bit sizes printed exactly: 2^62 read as "4611686018427388000" (a double's shortest form), 2^62 + 1 as 2^62.
    ["RF64 ds64 data size 2^62", patched(fixture("rf64_pcm_16.rf64"), (v) => v.setBigUint64(28, 2n ** 62n, true)), /^<buffer>: rf64: 'data' chunk at byte 96 declares 4611686018427387904 bytes but only 32000 remain in the file \(truncated or corrupt\)$/],
    ["Wave64 data chunk size 2^62 + 1 (with its 24-byte header)", patched(fixture("w64_pcm_16.w64"), (v) => v.setBigUint64(96, 2n ** 62n + 25n, true)), /^<buffer>: w64: 'data' chunk at byte 80 declares 4611686018427387905 bytes but only 32000 remain in the file \(truncated or corrupt\)$/],
    ["RF64 ds64 RIFF size 2^62 + 1, cut before its data", patched(fixture("rf64_pcm_16.rf64"), (v) => v.setBigUint64(20, 2n ** 62n - 7n, true)).subarray(0, 100), /^<buffer>: rf64: the ds64 chunk declares 4611686018427387905 bytes but only 100 are in the file \(truncated or corrupt\): no data chunk in what remains$/],
    ["Wave64 header size 2^62 + 1, cut before its data", patched(fixture("w64_pcm_16.w64"), (v) => v.setBigUint64(16, 2n ** 62n + 1n, true)).subarray(0, 100), /^<buffer>: w64: the Wave64 header declares 4611686018427387905 bytes but only 100 are in the file \(truncated or corrupt\): no data chunk in what remains$/],
    ["AIFF truncated", fixture("aiff_pcm_16.aiff").subarray(0, 1000), /'SSND' chunk .* declares/],
    ["AIFF sample rate +infinity", patched(fixture("aiff_pcm_16.aiff"), (_, b) => b.set([0x7f, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0], 0x1c)), /^<buffer>: aiff: header declares sample rate Infinity$/],
    ["AIFF sample rate NaN", patched(fixture("aiff_pcm_16.aiff"), (_, b) => b.set([0x7f, 0xff, 0xc0, 0, 0, 0, 0, 0, 0, 0], 0x1c)), /^<buffer>: aiff: header declares sample rate NaN$/],
    ["AIFF unknown compression", patched(fixture("aiff_ulaw.aiff"), (_, b) => b.set([0x61, 0x62, 0x63, 0x64], 0x32)), /unsupported AIFC compression type 'abcd'/],
    ["MS ADPCM samples per block beyond the block", patched(fixture("wav_ms_adpcm.wav"), (v) => v.setUint16(38, 4000, true)), /samples per block 4000 does not match block align 512, whose blocks hold 1012/],
    ["FLAC truncated", fixture("flac_pcm_16.flac").subarray(0, 9000), /stream ends at frame 4096, the header says 16000/],
    ["FLAC STREAMINFO length far beyond the stream", patched(fixture("flac_pcm_16.flac"), (_, b) => b.set([(b[21] & 0xf0) | 0x0f, 0xff, 0xff, 0xff, 0xff], 21)) /* 36-bit total samples */, /stream ends at frame 16000, the header says 68719476735/],
    // Cut to their first 2 %: the headers and no whole audio page or frame (libsndfile refuses these too).
    ...["ogg_vorbis.ogg", "ogg_opus.ogg", "mp3_mpeg_layer_iii.mp3"].map((name): [string, Uint8Array, RegExp] => {
      const b = fixture(name);
      return [`${name} cut after its headers`, b.subarray(0, Math.floor(b.length * 0.02)), /^<buffer>: (vorbis|opus|mp3): no audio frame could be decoded \(the stream is truncated or corrupt after its headers\)$/];
    }),
    // Where the stream breaks, in one line, not the decoder's own text ("libopus -4 OPUS_INVALID_PACKET:
    // The compressed data passed is corrupted", "_init vorbis_synthesisUnknown Error"). The Opus
    // fixture's audio is all in that page: everything after frame 0 is in it.
    ["ogg_opus.ogg with corrupt audio packets", corruptLastOggPage(fixture("ogg_opus.ogg")), /^<buffer>: opus: corrupt stream: cannot decode the audio after frame 0$/],
    ["ogg_vorbis.ogg with corrupt audio packets", corruptLastOggPage(fixture("ogg_vorbis.ogg")), /^<buffer>: vorbis: corrupt stream: cannot decode the audio after frame 13440$/],
    // A byte changed in the middle of an audio page: the decoders take the page as it is and gave
    // wrong samples (Opus off by up to 1.06 after it) with no error; the page's CRC says so.
    ["ogg_vorbis.ogg with a byte changed in an audio page", flipped(fixture("ogg_vorbis.ogg"), oggPages(fixture("ogg_vorbis.ogg"))[2] + 500), /^<buffer>: ogg: corrupt stream: the page at byte \d+ fails its checksum$/],
    ["ogg_opus.ogg with a byte changed in its last page", flipped(fixture("ogg_opus.ogg"), fixture("ogg_opus.ogg").length - 100), /^<buffer>: ogg: corrupt stream: the last page \(at byte \d+\) fails its checksum$/],
    // Whole pages with their CRCs, in the wrong order: the audio came out of order (off by 1.0).
    ...(() => {
      const b = fixture("ogg_vorbis.ogg");
      const [, , audio, next] = oggPages(b);
      const page = b.subarray(audio, next);
      return [
        ["ogg_vorbis.ogg with an audio page repeated", Uint8Array.from([...b.subarray(0, next), ...page, ...b.subarray(next)]), new RegExp(`^<buffer>: ogg: corrupt stream: the page at byte ${next} is page 2 of its stream, after page 2 \\(a page lost, repeated or out of order\\)$`)],
        ["ogg_vorbis.ogg with an audio page dropped", Uint8Array.from([...b.subarray(0, audio), ...b.subarray(next)]), /^<buffer>: ogg: corrupt stream: the page at byte \d+ is page 3 of its stream, after page 1 \(a page lost, repeated or out of order\)$/],
      ] as [string, Uint8Array, RegExp][];
    })(),
    // A first page numbered 2^31 (its CRC recomputed), before page 1: Opus failed in the decoder
    // library ("cannot decode the audio after frame 0, at 0 s (decoder error: Cannot read properties
    // of null (reading '9'))"), as its header pages are not fed to it; now both at the header walk.
    ...["ogg_vorbis.ogg", "ogg_opus.ogg"].map((name): [string, Uint8Array, RegExp] => {
      const b = fixture(name);
      new DataView(b.buffer, b.byteOffset).setUint32(18, 2 ** 31, true);
      fixOggCrc(b, 0);
      return [`${name} with its first page numbered 2^31`, b, new RegExp(`^<buffer>: ogg: corrupt stream: the page at byte ${oggPages(b)[1]} is page 1 of its stream, after page 2147483648 \\(a page lost, repeated or out of order\\)$`)];
    }),
    // Cut inside a page: the whole pages before decode, the cut one is not passed to the decoder
    // (it made 11775 of 13440 frames wrong by up to 1.88).
    ["ogg_vorbis.ogg cut inside a page", fixture("ogg_vorbis.ogg").subarray(0, 8514), /^<buffer>: ogg: the file ends inside the page at byte \d+ \(truncated\)$/],
    // Said exactly (a 64-bit integer): 2^62 + 1 read as 4611686018427388000, a double's rounding.
    ["Ogg whose last page states a granule position of 2^62 + 1", (() => {
      const b = fixture("ogg_vorbis.ogg");
      const last = oggPages(b).at(-1)!;
      new DataView(b.buffer).setBigInt64(last + 6, 2n ** 62n + 1n, true);
      fixOggCrc(b, last);
      return b;
    })(), /^<buffer>: ogg: the last page \(at byte 7708\) states granule position 4611686018427387905, more than any stream holds/],
    ["a chained Ogg file whose first link's last page states granule position 2^62 + 1", (() => {
      const b = fixture("ogg_vorbis.ogg");
      const last = oggPages(b).at(-1)!;
      new DataView(b.buffer).setBigInt64(last + 6, 2n ** 62n + 1n, true);
      fixOggCrc(b, last);
      return concatBytes(b, ...Array.from({ length: 15 }, (_, i) => withSerial(fixture("ogg_vorbis.ogg"), 1000 + i)));
    })(), /^<buffer>: ogg: the last page of the chained stream \(link\) at byte 0 states granule position 4611686018427387905, more than any stream holds/],
    ["Ogg whose last page states a granule position of −2^62 − 1", (() => {
      const b = fixture("ogg_vorbis.ogg");
      const last = oggPages(b).at(-1)!;
      new DataView(b.buffer).setBigInt64(last + 6, -(2n ** 62n) - 1n, true);
      fixOggCrc(b, last);
      return b;
    })(), /^<buffer>: ogg: corrupt stream: the page at byte 7708 ends \d+ packets but states granule position -4611686018427387905 /],
    // A last page whose packets end on it but whose granule says none ends (-1) or is negative: it
    // was skipped as a page without a position, and the length taken from the page before — the
    // Vorbis file read 13440 of its 16000 frames, the Opus one was called truncated after its headers.
    // One whose granule is less than the page before's cut the stream there (1 frame of 16000); an
    // end-of-stream page's so is end trimming (audio-compressed.test.ts), a page's before it is not.
    ...([["ogg_vorbis.ogg", 0xffffffff, "-1"], ["ogg_opus.ogg", 0xffffffff, "-1"], ["ogg_vorbis.ogg", 1000, "-4294966296"]] as const).map(([name, lo, granule]): [string, Uint8Array, RegExp] => {
      const b = fixture(name);
      const last = oggPages(b).at(-1)!;
      new DataView(b.buffer).setUint32(last + 6, lo, true);
      new DataView(b.buffer).setUint32(last + 10, 0xffffffff, true);
      fixOggCrc(b, last);
      return [`${name} whose last page states granule position ${granule}`, b, new RegExp(`^<buffer>: ogg: corrupt stream: the page at byte ${last} ends \\d+ packets but states granule position ${granule} \\(-1 only where no packet ends, RFC 3533 §6\\): the stream's length cannot be told$`)];
    }),
    ["an Ogg Vorbis file whose page before the last states a granule less than the page before it", (() => {
      const b = new Uint8Array(readFileSync(path.resolve(import.meta.dirname, "golden/audio/seek_long_vorbis.ogg")));
      const [before, page] = oggPages(b).slice(-3);
      const view = new DataView(b.buffer);
      view.setUint32(page + 6, view.getUint32(before + 6, true) - 1, true);
      fixOggCrc(b, page);
      return b;
    })(), /^<buffer>: ogg: corrupt stream: the page at byte \d+ states granule position \d+, less than the \d+ a page before it states \(granule positions never decrease\): the stream's length cannot be told$/],
    // The same in the first link of a chained file, beyond the last 64 KiB read at open (the links
    // are found by bisection): the link was read as 13440 frames, the file 253440 of its 256000.
    ["a chained Ogg file whose first link's last page states granule position -1", (() => {
      const b = fixture("ogg_vorbis.ogg");
      const last = oggPages(b).at(-1)!;
      b.fill(0xff, last + 6, last + 14);
      fixOggCrc(b, last);
      return concatBytes(b, ...Array.from({ length: 15 }, (_, i) => withSerial(fixture("ogg_vorbis.ogg"), 1000 + i)));
    })(), /^<buffer>: ogg: corrupt stream: the page at byte 7708 ends 6 packets but states granule position -1 \(-1 only where no packet ends, RFC 3533 §6\): the stream's length cannot be told$/],
    // STREAMINFO's total 0 ("unknown", as streaming encoders write) and a bit changed mid-stream:
    // the decoder stops producing output there without an error; the count came out 4096 of 16000.
    ["FLAC of unstated length with a corrupt frame", patched(fixture("flac_pcm_16.flac"), (_, b) => {
      b[21] &= 0xf0;
      b.fill(0, 22, 26);
      b[b.length >> 1] ^= 0x10;
    }), /^<buffer>: flac: corrupt stream: decoding stops at frame 4096, but the file's frames run to frame 16000$/],
    // One MPEG Layer III header (128 kbit/s, 44.1 kHz: 417-byte frames) before random bytes:
    // decoded to 1536 frames of noise, where libsndfile refuses the file.
    ["an MP3 frame header before random bytes", Uint8Array.from({ length: 2004 }, (_, i) => [0xff, 0xfb, 0x90, 0x00][i] ?? (i * 7919 + 13) % 251), /^<buffer>: mp3: the frame at byte 0 is not followed by another at byte 417 \(not an MPEG audio stream, or corrupt\)$/],
    ["WAVE_FORMAT_EXTENSIBLE with a foreign SubFormat GUID", extensibleWav(Uint8Array.from([1, 0, ...Array.from({ length: 14 }, (_, i) => i)])), /^<buffer>: wav: WAVE_FORMAT_EXTENSIBLE SubFormat 0100000102030405060708090a0b0c0d is not a format sonotile reads$/],
    ["Ogg with an unsupported codec", patched(fixture("ogg_vorbis.ogg"), (_, b) => b.set([0x7f, 0x46, 0x4c, 0x41, 0x43], 28)), /unsupported codec in the first packet/],
  ];
  it.each(cases)("%s", async (_, bytes, message) => {
    expect(await decodeError(bytes)).toMatch(message);
  });

  it("an RF64, Wave64 or WAVE_FORMAT_EXTENSIBLE file cut before its data chunk is called truncated, its header's size against the file's, as a plain WAV cut in its data is — it said only `no data chunk`", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sonotile-cut-"));
    try {
      const cut = (name: string, bytes: number) => {
        const file = path.join(dir, name);
        writeFileSync(file, fixture(name).subarray(0, bytes));
        return file;
      };
      const refusal = (file: string) => openAudio(file).then(() => "opened", (err: Error) => err.message.slice(file.length + 2));
      expect(await refusal(cut("wav_pcm_16.wav", 100))).toBe("wav: 'data' chunk at byte 36 declares 32000 bytes but only 56 remain in the file (truncated or corrupt)");
      for (const [name, header, size] of [["rf64_pcm_16.rf64", "rf64: the ds64 chunk", 32104], ["w64_pcm_16.w64", "w64: the Wave64 header", 32104], ["wavex_float.wavex", "wav: the RIFF header", 64104]] as const) {
        expect(fixture(name).length, name).toBe(size);
        expect(await refusal(cut(name, 100)), name).toBe(`${header} declares ${size} bytes but only 100 are in the file (truncated or corrupt): no data chunk in what remains`);
      }
      // Cut inside its fmt chunk's header: no fmt chunk in what remains.
      expect(await refusal(cut("wavex_pcm_16.wavex", 16))).toBe("wav: the RIFF header declares 32080 bytes but only 16 are in the file (truncated or corrupt): no fmt chunk in what remains");
      // A Wave64 file cut inside its own 40-byte header: its size field (bytes 16–24) read past the end, a RangeError (fuzz).
      for (const bytes of [16, 30]) expect(await refusal(cut("w64_pcm_16.w64", bytes)), String(bytes)).toBe(`w64: ${bytes} bytes, less than its 40-byte header (truncated or corrupt)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("WAVE_FORMAT_EXTENSIBLE with the PCM SubFormat (KSDATAFORMAT_SUBTYPE_PCM) decodes as the plain file", async () => {
    const pcm = Uint8Array.from([1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]);
    const [ext, plain] = await Promise.all([decode(extensibleWav(pcm)), decode(WAV)]);
    expect(ext.frames).toBe(16000);
    expect(ext.data[0]).toEqual(plain.data[0]);
  });

  it("a second fmt chunk after the data is ignored, as libsndfile does (it made the mono file 2-channel)", async () => {
    const second = WAV.slice(12, 36);
    new DataView(second.buffer).setUint16(10, 2, true); // channels
    new DataView(second.buffer).setUint16(20, 4, true); // block align
    const b = new Uint8Array(WAV.length + second.length);
    b.set(WAV);
    b.set(second, WAV.length);
    new DataView(b.buffer).setUint32(4, b.length - 8, true);
    const [twice, plain] = await Promise.all([decode(b), decode(WAV)]);
    expect([twice.channels, twice.frames]).toEqual([1, 16000]);
    expect(twice.data[0]).toEqual(plain.data[0]);
  });

  it("a FLAC cut short, or whose header claims more, is refused when it is opened — it opened with the header's length, and was registered so", async () => {
    const flac = fixture("flac_pcm_16.flac");
    const whole = await openAudio(flac);
    expect(whole.info.frames).toBe(16000);
    await whole.close();
    // Cut inside a frame after the first: the length is where the last whole frame ends.
    for (const bytes of [9000, 20000, flac.length - 1]) {
      const err = await openAudio(flac.subarray(0, bytes)).then(() => null, (e: unknown) => e);
      expect(err, `${bytes} bytes`).toBeInstanceOf(AudioFormatError);
      expect((err as Error).message, `${bytes} bytes`).toMatch(/^<buffer>: flac: stream ends at frame \d+, the header says 16000 \(truncated, or corrupt from there\?\)$/);
    }
    await expect(openAudio(flac.subarray(0, 9000))).rejects.toThrow("<buffer>: flac: stream ends at frame 4096, the header says 16000 (truncated, or corrupt from there?)");
    // Cut inside the first frame: it opened with the header's length and failed at the first read.
    for (const bytes of [200, 3000]) await expect(openAudio(flac.subarray(0, bytes)), `${bytes} bytes`).rejects.toThrow("<buffer>: flac: stream ends at frame 0, the header says 16000 (truncated, or corrupt from there?)");
  });

  it("a FLAC whose last frame's audio holds a pattern that parses as a frame header reads whole, as soundfile does — it was refused as cut short, or cut by a frame", async () => {
    const golden = path.resolve(import.meta.dirname, "golden/audio");
    const flac = new Uint8Array(readFileSync(path.join(golden, "false_sync.flac"))); // scripts/golden_flac_false_sync.py
    const expected = JSON.parse(readFileSync(path.join(golden, "false_sync.json"), "utf8"));
    const unstated = patched(flac, (_, p) => { p[21] &= 0xf0; p.fill(0, 22, 26); }); // STREAMINFO total 0: counted by decoding
    for (const bytes of [flac, unstated]) {
      const got = await decode(bytes);
      expect(got.frames).toBe(expected.frames);
      expect(expected.positions.map((i: number) => got.data[0][i])).toEqual(expected.values[0]);
      expect(got.data[0].reduce((a, v) => a + v, 0)).toBeCloseTo(expected.sum[0], 6);
    }
  });

  it("a FLAC with bytes after its last frame (an ID3v1 tag, padding) reads whole, as soundfile does — it was refused as cut short, and its last frame was dropped", async () => {
    const unstated = (b: Uint8Array) => patched(b, (_, p) => { p[21] &= 0xf0; p.fill(0, 22, 26); }); // STREAMINFO total 0: counted by decoding
    for (const name of ["flac_pcm_16.flac", "flac_pcm_24.flac"]) {
      const flac = fixture(name);
      const whole = await decode(flac);
      for (const tail of [new TextEncoder().encode("TAG".padEnd(128, "x")), new Uint8Array(10), new Uint8Array(128).fill(0x41)]) {
        const tagged = new Uint8Array(flac.length + tail.length);
        tagged.set(flac);
        tagged.set(tail, flac.length);
        for (const bytes of [tagged, unstated(tagged)]) {
          const got = await decode(bytes);
          expect(got.frames, `${name} + ${tail.length} bytes`).toBe(16000);
          expect(got.data[0]).toEqual(whole.data[0]);
        }
      }
    }
  });

  it("a FLAC whose last metadata block says 1 byte more than it holds is refused at open — it decoded whole, and a read of its first frame after another read failed; one that says less reads whole and seeks, as libFLAC reads it", async () => {
    const flac = fixture("flac_pcm_16.flac");
    const whole = await decode(flac);
    const comment = 42; // the VORBIS_COMMENT block, after STREAMINFO's 4 + 34 bytes; the last block
    expect(flac[comment] & 0x80).toBe(0x80);
    const withLength = (change: number) => patched(flac, (v) => v.setUint16(comment + 2, v.getUint16(comment + 2) + change));
    const firstFrame = comment + 4 + new DataView(flac.buffer).getUint16(comment + 2);
    expect(await decodeError(withLength(1))).toBe(`<buffer>: flac: no frame of sample 0 begins where the metadata ends (byte ${firstFrame + 1}) or after it: a metadata block's length is wrong, or the first frame's header is corrupt`);
    for (const change of [-1, -40]) {
      const reader = await openAudio(withLength(change), { blockFrames: 1024, cacheBlocks: 1 });
      try {
        expect(await reader.read(0, 8000, 100)).toEqual(whole.data[0].subarray(8000, 8100));
        expect(await reader.read(0, 0, 100)).toEqual(whole.data[0].subarray(0, 100)); // a seek to the first frame
      } finally {
        await reader.close();
      }
    }
  });

  it("a FLAC with cover art (a 300 KB PICTURE block) whose bytes hold frame sync codes reads whole and at its start, as flac -t and soundfile read it — the decoder was fed the metadata, and every read failed (`stream ends at frame 0, the header says 16000`)", async () => {
    const flac = fixture("flac_pcm_16.flac");
    const whole = await decode(flac);
    // PICTURE (type 6, RFC 9639 §8.8): picture type 3 (front cover), MIME type "image/png", no
    // description, 0 × 0 pixels of depth 0 and no colour table, then the image: noise with the
    // bytes of a frame's sync code (0xFFF8) every 97 bytes, as a real PNG holds one per ~32 KB.
    let seed = 1;
    const image = new Uint8Array(300_000).map((_, i) => (i % 97 === 0 ? 0xff : i % 97 === 1 ? 0xf8 : (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
    const mime = new TextEncoder().encode("image/png");
    const body = new Uint8Array(32 + mime.length + image.length);
    const v = new DataView(body.buffer);
    v.setUint32(0, 3);
    v.setUint32(4, mime.length);
    body.set(mime, 8);
    v.setUint32(8 + mime.length + 20, image.length); // after the description's length (0), width, height, depth, colours
    body.set(image, 32 + mime.length);
    const header = new Uint8Array([6, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]); // not the last block: STREAMINFO is first, the comment last
    const withPicture = concatBytes(flac.subarray(0, 42), header, body, flac.subarray(42));
    const got = await decode(withPicture);
    expect(got.frames).toBe(16000);
    expect(got.data[0]).toEqual(whole.data[0]);
    const reader = await openAudio(withPicture, { blockFrames: 1024 });
    try {
      expect(await reader.read(0, 8000, 100)).toEqual(whole.data[0].subarray(8000, 8100));
      expect(await reader.read(0, 0, 100)).toEqual(whole.data[0].subarray(0, 100));
    } finally {
      await reader.close();
    }
  });

  it("a FLAC with a frame repeated, or a second copy of itself appended, is refused where decoding runs past STREAMINFO's length — decode() had returned shifted samples, or the last frame from the copy", async () => {
    const flac = fixture("flac_pcm_24.flac");
    const frames = flacFrameOffsets(flac);
    const repeated = concatBytes(flac.subarray(0, frames[3]), flac.subarray(frames[0])); // frame 0 again after frame 2, every checksum valid
    expect(await decodeError(repeated)).toMatch(/^<buffer>: flac: corrupt stream: the frames fed up to byte \d+ run past sample 16000, where STREAMINFO and the last frame end, after frame \d+ \(a frame repeated, or a second stream appended\?\)$/);
    const long = flacOfFrames(flac, 70); // longer than a decoder's input chunk, so that the copy is reached after blocks of the first
    expect(await decodeError(concatBytes(long, long))).toMatch(/run past sample \d+, where STREAMINFO and the last frame end, after frame \d+ \(a frame repeated, or a second stream appended\?\)$/);
  });

  it("a FLAC followed by 64 KiB or more of junk, or by a copy of a frame header, reads whole and seeks within its frames — it failed its last frame, or seeks landed in the junk", async () => {
    let seed = 1;
    const junk = new Uint8Array(1 << 16).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
    for (const name of ["flac_pcm_16.flac", "flac_pcm_s8.flac"]) {
      const flac = fixture(name);
      const whole = await decode(flac);
      const header = flac.subarray(flacFrameOffsets(flac)[0], flacFrameOffsets(flac)[0] + 16);
      for (const tail of [junk, new Uint8Array(3 << 20), header]) {
        const bytes = concatBytes(flac, tail);
        const got = await decode(bytes);
        expect(got.frames, `${name} + ${tail.length} bytes`).toBe(16000);
        expect(got.data[0]).toEqual(whole.data[0]);
        const reader = await openAudio(bytes, { blockFrames: 1024 });
        try {
          for (const start of [13197, 14999]) expect(await reader.read(0, start, 1001)).toEqual(whole.data[0].subarray(start, start + 1001));
        } finally {
          await reader.close();
        }
      }
    }
  });

  it("fileMd5 stops when its signal aborts, rejecting with the signal's reason (not a read error), and hashes the whole file when it does not", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sonotile-md5-"));
    try {
      const file = path.join(dir, "a.wav");
      writeFileSync(file, WAV);
      const live = new AbortController();
      expect(await fileMd5(file, { signal: live.signal })).toBe(createHash("md5").update(WAV).digest("hex"));
      const stopped = new AbortController();
      const reason = new Error("no longer needed");
      stopped.abort(reason);
      await expect(fileMd5(file, { signal: stopped.signal })).rejects.toBe(reason);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("exactPath opens only the file whose real path was given: a link in the path (a file or a directory swapped for one after the path was checked) is refused", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sonotile-exact-"));
    try {
      mkdirSync(path.join(dir, "real"));
      const file = path.join(dir, "real", "a.wav");
      writeFileSync(file, WAV);
      symlinkSync(file, path.join(dir, "link.wav"));
      symlinkSync("real", path.join(dir, "dirlink"));
      const opened = await openAudio(file, { exactPath: true });
      expect(opened.info.frames).toBe(16000);
      await opened.close();
      expect(await fileMd5(file, { exactPath: true })).toBe(await fileMd5(path.join(dir, "link.wav")));
      for (const through of [path.join(dir, "link.wav"), path.join(dir, "dirlink", "a.wav")]) {
        const message = `${through} changed while it was opened: a link in its path now leads elsewhere`;
        await expect(openAudio(through, { exactPath: true })).rejects.toThrow(message);
        await expect(fileMd5(through, { exactPath: true })).rejects.toThrow(message);
        const plain = await openAudio(through); // without exactPath, links are followed (the CLI's files)
        await plain.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("probeAudio reads the header, size, time and MD5 of one file, while another process swaps the path between two recordings", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sonotile-probe-"));
    try {
      // Two recordings of different lengths: each probe must describe one of them wholly.
      const a = path.join(dir, "a.wav"), b = path.join(dir, "b.wav"), file = path.join(dir, "x.wav");
      execFileSync(process.execPath, ["-e", `
        const fs = require("node:fs");
        const wav = (frames) => { const b = Buffer.alloc(44 + 2 * frames); b.write("RIFF", 0); b.writeUInt32LE(36 + 2 * frames, 4); b.write("WAVEfmt ", 8);
          b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(8000, 24); b.writeUInt32LE(16000, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
          b.write("data", 36); b.writeUInt32LE(2 * frames, 40); for (let i = 0; i < frames; i++) b.writeInt16LE((i * 37) % 30000, 44 + 2 * i); return b; };
        fs.writeFileSync(process.argv[1], wav(1000)); fs.writeFileSync(process.argv[2], wav(300000));`, a, b]);
      const expected = new Map([[1000, { size: 44 + 2000, md5: await fileMd5(a) }], [300000, { size: 44 + 600000, md5: await fileMd5(b) }]]);
      const swapper = spawn(process.execPath, ["-e", `
        const fs = require("node:fs");
        const [a, b, file] = process.argv.slice(1);
        for (;;) for (const from of [a, b]) { fs.copyFileSync(from, file + ".tmp"); fs.renameSync(file + ".tmp", file); }`, a, b, file], { stdio: "ignore" });
      try {
        while (!existsSync(file)) await new Promise((r) => setTimeout(r, 10));
        let probed = 0;
        for (let i = 0; i < 300; i++) {
          const got = await probeAudio(file).catch((err: Error) => (/ENOENT/.test(err.message) ? null : Promise.reject(err)));
          if (!got) continue;
          probed++;
          expect({ size: got.size, md5: got.md5 }, `probe ${i}: ${got.info.frames} frames`).toEqual(expected.get(got.info.frames));
        }
        expect(probed).toBeGreaterThan(0);
      } finally {
        swapper.kill();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a missing file", async () => {
    await expect(openAudio("/nonexistent/x.wav")).rejects.toThrow(/cannot open .*: no such file or directory$/);
  });

  it("a corrupt MS ADPCM block is named by its file and its place in the file, wherever a read starts", async () => {
    // wav_ms_adpcm.wav: blocks of 512 bytes (1012 frames) from byte 90; block 10's predictor index made 9.
    const reader = await openAudio(patched(fixture("wav_ms_adpcm.wav"), (_, b) => { b[90 + 10 * 512] = 9; }));
    const message = "<buffer>: wav: ms_adpcm block 10 (at byte 5210): predictor index 9 is out of range 0..6";
    for (const [start, count] of [[0, reader.info.frames], [9108, 2000], [10120, 10]]) {
      await expect(reader.read(0, start, count), `from frame ${start}`).rejects.toThrow(new AudioFormatError(message));
    }
    await expect(reader.read(0, 0, 10120)).resolves.toHaveLength(10120);
  });

  it("an MS ADPCM step past 32767 wraps as libsndfile's 16-bit one does (soundfile gives 0, 0, 32767, then 32751 on)", async () => {
    // One mono block of 32 samples: predictor 0, step 16000, both history samples 0, then the
    // nibbles 7 and 15 (−1) and zeros. After the 7 the step is 614 · 16000 >> 8 = 38375, which
    // libsndfile stores in a short (−27161) and raises to the floor of 16: the −1 then costs 16.
    // Unwrapped, it cost 38375 and the block went 32767, −5608, ….
    const fmt = new DataView(new ArrayBuffer(50));
    [2, 1].forEach((x, i) => fmt.setUint16(2 * i, x, true)); // MS ADPCM, mono
    fmt.setUint32(4, 16000, true);
    fmt.setUint32(8, 11000, true);
    [22, 4, 32, 32, 7].forEach((x, i) => fmt.setUint16(12 + 2 * i, x, true)); // block align, bits, cbSize, samples per block, coefficients
    [256, 0, 512, -256, 0, 0, 192, 64, 240, 0, 460, -208, 392, -232].forEach((x, i) => fmt.setInt16(22 + 2 * i, x, true));
    const block = new Uint8Array(22);
    new DataView(block.buffer).setInt16(1, 16000, true);
    block[7] = 0x7f;
    const chunk = (id: string, body: Uint8Array) => {
      const b = new Uint8Array(8 + body.length);
      b.set(Buffer.from(id, "latin1"));
      new DataView(b.buffer).setUint32(4, body.length, true);
      b.set(body, 8);
      return b;
    };
    const body = Buffer.concat([Buffer.from("WAVE"), chunk("fmt ", new Uint8Array(fmt.buffer)), chunk("data", block)]);
    const wav = Buffer.concat([Buffer.from("RIFF"), Buffer.from(Uint32Array.of(body.length).buffer), body]);
    const { data } = await decode(new Uint8Array(wav));
    expect(Array.from(data[0], (x) => x * 32768)).toEqual([0, 0, 32767, ...new Array(29).fill(32751)]);
  });

  it("a FIFO or a directory is refused at once (a FIFO waited for a writer for ever)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sonotile-special-"));
    try {
      const fifo = path.join(dir, "fifo.wav");
      execFileSync("mkfifo", [fifo]);
      await expect(openAudio(fifo)).rejects.toThrow(new AudioFormatError(`${fifo} is not a regular file`));
      await expect(openAudio(dir)).rejects.toThrow(new AudioFormatError(`${dir} is not a regular file`));
    } finally {
      rmSync(dir, { recursive: true });
    }
  }, 10_000);
});

describe("an MP3 whose Xing/Info frame counts more than the file holds", () => {
  // mp3_mpeg_layer_iii.mp3: an Info frame of 288 bytes at byte 0 counting 30 MPEG frames in 4968
  // bytes (the whole file, Info frame included), then those 30 frames (16000 samples once trimmed).
  const MP3 = fixture("mp3_mpeg_layer_iii.mp3");
  const XING = 4 + 9; // the tag after the header and MPEG-2 mono side info: "Info", flags, frames, bytes
  const withCounts = (counts: { frames?: number; bytes?: number }) =>
    patched(MP3, (v) => {
      if (counts.frames !== undefined) v.setUint32(XING + 8, counts.frames);
      if (counts.bytes !== undefined) v.setUint32(XING + 12, counts.bytes);
    });
  const refusal = (frames: number, bytes: number, held: number, whole: number) =>
    new AudioFormatError(`<buffer>: mp3: the Xing frame at byte 0 counts ${frames} MPEG frames in ${bytes} bytes, the file holds ${held} bytes from there: ${whole} whole frames after it (truncated, or corrupt from there?)`);

  // A file cut short keeps its tag: it opened (and was registered) as the whole 16000 frames, and
  // its decode failed at the cut (`stream ends at frame 2351, the header says 16000`), as did every
  // tile past it. Refused at open now, as a truncated WAV or FLAC is.
  it.each([
    [1500, 6],
    [MP3.length - 1, 29], // inside the last frame
    [289, 0], // one byte after the Info frame
  ])("cut to %i bytes: refused at open, naming the counts and the file's bytes", async (length, whole) => {
    await expect(openAudio(MP3.subarray(0, length))).rejects.toThrow(refusal(30, 4968, length, whole));
  });

  it("a frame count that cannot fit in the file at the lowest bitrate is refused (1,000,000 frames opened as 10 h)", async () => {
    // 4680 bytes of 36-byte frames (8 kbit/s at 16 kHz) hold at most 130 frames.
    await expect(openAudio(withCounts({ frames: 131 }))).rejects.toThrow(refusal(131, 4968, 4968, 30));
    await expect(openAudio(withCounts({ frames: 1_000_000 }))).rejects.toThrow(refusal(1_000_000, 4968, 4968, 30));
  });

  it("a byte count over the file whose frames are all there opens as before (encoders differ on what it counts)", async () => {
    const want = await decode(MP3);
    for (const bytes of [4968 + 1, 4968 + 288, 10 ** 6]) {
      const reader = await openAudio(withCounts({ bytes }));
      try {
        expect(reader.info.frames).toBe(16000);
        expect(await reader.read(0, 0, 16000)).toEqual(want.data[0]);
      } finally {
        await reader.close();
      }
    }
  });

  // Byte offsets of the fixture's 30 audio frames, by their headers' lengths.
  const FRAME_AT: number[] = [];
  for (let at = 288; at < MP3.length; at += parseMpegHeader(MP3, at)!.frameBytes) FRAME_AT.push(at);
  const junk = (length: number) => Uint8Array.from({ length }, (_, i) => (i * 7919) & 0x7f); // no 0xff: no frame header

  // Counts the file holds in bytes but not in frames opened with the count's length (16576 frames
  // for 31), and then the decode and every tile past the last frame failed (`stream ends at frame
  // 16175, the header says 16576`); soundfile registers the count too and reads fewer samples.
  it("a frame count over the frames in a byte count the file holds (forged: 31 of 30) is refused at open, naming both counts", async () => {
    await expect(openAudio(withCounts({ frames: 31 }))).rejects.toThrow(refusal(31, 4968, 4968, 30));
  });

  it("a file cut at a frame boundary whose byte count was rewritten for the cut is refused at open (it opened as 16000 frames and failed at frame 10415)", async () => {
    const cut = patched(MP3.subarray(0, FRAME_AT[20]), (v) => v.setUint32(XING + 12, FRAME_AT[20]));
    await expect(openAudio(cut)).rejects.toThrow(refusal(30, FRAME_AT[20], FRAME_AT[20], 20));
  });

  it("frames overwritten by junk in the middle are refused at open, counting the frames mpg123 resynchronises on (it opened as 16000 frames and failed at frame 14447)", async () => {
    const damaged = MP3.slice();
    damaged.set(junk(FRAME_AT[13] - FRAME_AT[10]), FRAME_AT[10]);
    await expect(openAudio(damaged)).rejects.toThrow(
      new AudioFormatError(`<buffer>: mp3: the Xing frame at byte 0 counts 30 MPEG frames in 4968 bytes, the file holds 4968 bytes from there: 27 frames after it, around bytes at ${FRAME_AT[10]} that are no frame (truncated, or corrupt from there?)`),
    );
  });

  it("junk inserted between frames, all 30 there, opens at the count and decodes its 16000 frames (as soundfile)", async () => {
    const withJunk = concatBytes(MP3.subarray(0, FRAME_AT[11]), junk(500), MP3.subarray(FRAME_AT[11]));
    const want = await decode(MP3);
    const got = await decode(withJunk);
    expect(got.frames).toBe(16000);
    const beforeJunk = 11 * 576 - 1105; // the output of the frames before it (mpg123 drops 529 + 576 samples at the start)
    expect(got.data[0].subarray(0, beforeJunk)).toEqual(want.data[0].subarray(0, beforeJunk));
  });
});

describe("FLAC frames of sizes the decoder library mishandles (valid files, written in the test)", () => {
  it("a FLAC whose frames are longer than 64 KiB (8 channels of 24-bit white noise, 16384 samples a frame: 393 KB) reads whole by STREAMINFO and seeks, as soundfile does — its last frame was ended at a chance match of its CRC-16 and lost (`cannot decode the audio after frame 49152`), and seeks found no frame", async () => {
    let seed = 3;
    const frames = 3 * 16384 + 10000;
    const samples = Array.from({ length: 8 }, () => new Int32Array(frames).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >> 8)); // 24-bit signed
    const expected = samples.map((x) => Float32Array.from(x, (v) => v / 2 ** 23));
    for (const statesMaxFrame of [true, false]) {
      const flac = verbatimFlac(samples, 96000, 24, 16384, statesMaxFrame); // the last frame (240 KB) begins 240 KB before the end
      const got = await decode(flac);
      expect(got.frames, `max frame size stated: ${statesMaxFrame}`).toBe(frames);
      got.data.forEach((x, c) => expect(x, `channel ${c}`).toEqual(expected[c]));
      const reader = await openAudio(flac, { blockFrames: 1024 });
      try {
        for (const [channel, start] of [[3, 40000], [7, 58000], [0, 16000]]) expect(await reader.read(channel, start, 1001)).toEqual(expected[channel].subarray(start, start + 1001));
      } finally {
        await reader.close();
      }
    }
  });

  it("a FLAC whose frames are longer than 32 KiB (2 channels of 24-bit noise, 16384 samples a frame: 98 KB) after a metadata block that says less than it holds reads whole — its first frame, searched in a 64 KiB window and not the stream's, was not found and the file refused (`no frame of sample 0 begins where the metadata ends`)", async () => {
    let seed = 5;
    const frames = 2 * 16384 + 1000;
    const samples = Array.from({ length: 2 }, () => new Int32Array(frames).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >> 8)); // 24-bit signed
    const flac = verbatimFlac(samples, 96000, 24, 16384, true);
    // After STREAMINFO (no longer the last block), a last PADDING block (type 1) of 100 bytes whose
    // length says 60: the first frame is 40 bytes after where the metadata ends, as libFLAC reads it.
    const head = flac.slice(0, 42);
    head[4] &= 0x7f;
    const withPadding = concatBytes(head, new Uint8Array([0x81, 0, 0, 60]), new Uint8Array(100), flac.subarray(42));
    const got = await decode(withPadding);
    expect(got.frames).toBe(frames);
    got.data.forEach((x, c) => expect(x, `channel ${c}`).toEqual(Float32Array.from(samples[c], (v) => v / 2 ** 23)));
  });

  it("a FLAC whose last frame is a few bytes (one sample: 13 bytes) reads to its end, as soundfile does — the decoder library's frame parser dropped it at the flush, and every such file failed at its end (`stream ends at frame 4096, the header says 4097`)", async () => {
    let seed = 9;
    for (const frames of [4097, 2 * 4096 + 1, 4096 + 2]) {
      const samples = [new Int32Array(frames).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >> 16)]; // 16-bit signed
      const flac = verbatimFlac(samples, 48000, 16, 4096, true);
      const got = await decode(flac);
      expect(got.frames, `${frames} frames`).toBe(frames);
      expect(got.data[0]).toEqual(Float32Array.from(samples[0], (v) => v / 2 ** 15));
      const reader = await openAudio(flac, { blockFrames: 1000 });
      try {
        expect(await reader.read(0, frames - 3, 3), `the last 3 of ${frames}`).toEqual(got.data[0].subarray(frames - 3));
      } finally {
        await reader.close();
      }
    }
  });

  it("a FLAC whose STREAMINFO max frame size is 0xFFFFFF (a legal 24-bit value, bounding nothing) opens and decodes as the same file with 0 (unknown) does, sample by sample, whole and in seeks — it was refused as having frames longer than the decoder takes", async () => {
    let seed = 11;
    const frames = 5 * 4096 + 700;
    const samples = Array.from({ length: 2 }, () => new Int32Array(frames).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >> 16)); // 16-bit signed
    const unknown = verbatimFlac(samples, 48000, 16, 4096, false);
    const huge = unknown.slice();
    expect([...huge.subarray(15, 18)]).toEqual([0, 0, 0]); // STREAMINFO's max frame size (bytes 8 + 7 to 8 + 9)
    huge.set([0xff, 0xff, 0xff], 15);
    const [want, got] = await Promise.all([decode(unknown), decode(huge)]);
    expect(got.frames).toBe(frames);
    got.data.forEach((x, c) => {
      expect(x, `channel ${c}`).toEqual(want.data[c]);
      expect(x, `channel ${c}`).toEqual(Float32Array.from(samples[c], (v) => v / 2 ** 15));
    });
    const reader = await openAudio(huge, { blockFrames: 1000 });
    try {
      for (const [channel, start] of [[1, 19000], [0, 4000], [1, frames - 5]]) expect(await reader.read(channel, start, 5), `channel ${channel} from ${start}`).toEqual(want.data[channel].subarray(start, start + 5));
    } finally {
      await reader.close();
    }
  });

  it("a FLAC whose frames may be longer than the decoder takes (8 channels of 24 bits, 65535 samples a frame: 1.57 MB) is refused at open, naming the sizes — the decoder skipped such frames and read the last, short frame's samples as sample 0 on, without an error", async () => {
    let seed = 5;
    const samples = Array.from({ length: 8 }, () => new Int32Array(2 * 65535 + 1000).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >> 8));
    const stated = verbatimFlac(samples, 96000, 24, 65535, true);
    const longest = 8 + 8 * (1 + 65535 * 3) + 2; // verbatimFlac's frames: an 8-byte header, 3 bytes a sample, CRC-16
    expect(await decodeError(stated)).toBe(`<buffer>: flac: frames of up to ${longest} bytes (STREAMINFO's max frame size) are longer than the 524280 bytes the decoder takes: not supported`);
    const unstated = verbatimFlac(samples, 96000, 24, 65535, false);
    const bound = 16 + 8 * Math.ceil((8 + 25 + 65535 * 25) / 8) + 2; // a side channel's depth: 25 bits
    expect(await decodeError(unstated)).toBe(`<buffer>: flac: frames may be up to ${bound} bytes (its block size stored verbatim) and STREAMINFO does not state their max size; the decoder takes frames of at most 524280 bytes and would skip longer ones: not supported`);
    await expect(openAudio(unstated)).rejects.toThrow(AudioFormatError);
  });
});

describe("many small chunks", () => {
  it("a WAV with 20,000 empty LIST chunks before its fmt chunk opens with its samples intact, its header walked through a read-ahead window", async () => {
    const lists = new Uint8Array(20_000 * 8);
    for (let i = 0; i < 20_000; i++) lists.set([0x4c, 0x49, 0x53, 0x54], i * 8); // "LIST", size 0
    const file = new Uint8Array(WAV.length + lists.length);
    file.set(WAV.subarray(0, 12));
    file.set(lists, 12);
    file.set(WAV.subarray(12), 12 + lists.length);
    new DataView(file.buffer).setUint32(4, file.length - 8, true);
    const [plain, padded] = await Promise.all([decode(WAV), decode(file)]);
    expect(padded.data[0]).toEqual(plain.data[0]);
    // The walk's reads: 16 exact ones, then one per window (growing to 8 KiB) — not two per chunk (40,000).
    let reads = 0;
    const counted = memorySource(file);
    const source: ByteSource = { ...counted, size: counted.size, bytesRead: 0, read: (o, n) => (reads++, counted.read(o, n)) };
    await parseRiff(readAhead(source), "wav");
    expect(reads).toBeLessThanOrEqual(16 + 6 + Math.ceil(file.length / 8192));
  });
});

/** An AudioFormatError whose message is one printable line; anything else is rethrown. */
function expectReadableFailure(err: unknown): void {
  if (!(err instanceof AudioFormatError)) throw err;
  expect(err.message).toMatch(/^[\x20-\x7e\u00a0-\uffff]+$/);
}

/** Either decodes (then the result is consistent) or throws a readable AudioFormatError — nothing else. */
async function decodesOrRejects(bytes: Uint8Array): Promise<void> {
  try {
    const out = await decode(bytes);
    expect(out.data).toHaveLength(out.channels);
    for (const x of out.data) expect(x.length).toBe(out.frames);
  } catch (err) {
    expectReadableFailure(err);
  }
}

/**
 * Opens `bytes` for ranged reads and reads the given (channel, start, count) ranges, each
 * clipped into the recording's channels: every read gives exactly the frames inside the
 * recording, or the reader fails with a readable AudioFormatError — the tile path, not `decode`.
 */
async function rangesOrRejects(bytes: Uint8Array, ranges: [number, number, number][]): Promise<void> {
  let reader;
  try {
    reader = await openAudio(bytes);
  } catch (err) {
    return expectReadableFailure(err);
  }
  try {
    const { channels, frames } = reader.info;
    for (const [c, at, count] of ranges) {
      const start = frames > 0 ? at % (frames + 1) : 0;
      const x = await reader.read(c % channels, start, count);
      expect(x.length).toBe(Math.min(count, frames - start));
    }
  } catch (err) {
    expectReadableFailure(err);
  } finally {
    await reader.close();
  }
}

/**
 * A mutation of a real file: overwrite bytes or poke size-like values — in the header (most
 * decisions are made there) or anywhere (samples, metadata chunks after the data) — or truncate.
 */
const mutation = (size: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant("bytes" as const), at: fc.nat(Math.min(size, 160) - 1), values: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant("bytes" as const), at: fc.nat(size - 1), values: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant("u32" as const), at: fc.nat(Math.min(size, 160) - 4), value: fc.constantFrom(0, 1, 2, 0x7fffffff, 0xffffffff, 0xfffffffe, 0x10000) }),
    fc.record({ kind: fc.constant("u32" as const), at: fc.nat(size - 4), value: fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff) }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat(size) }),
  );

/** Ranged reads to try on a mutant: (channel, start frame, count). */
const ranges = fc.array(fc.tuple(fc.nat(3), fc.nat(40_000), fc.integer({ min: 0, max: 20_000 })), { minLength: 1, maxLength: 4 });

function mutate(bytes: Uint8Array, m: { kind: "bytes"; at: number; values: Uint8Array } | { kind: "u32"; at: number; value: number } | { kind: "cut"; at: number }): Uint8Array {
  if (m.kind === "cut") return bytes.slice(0, m.at);
  const b = bytes.slice();
  if (m.at + (m.kind === "u32" ? 4 : 1) > b.length) return b; // an earlier cut removed the spot
  if (m.kind === "bytes") b.set(m.values.subarray(0, b.length - m.at), m.at);
  else new DataView(b.buffer).setUint32(m.at, m.value, (m.at & 1) === 0);
  return b;
}

describe("fuzz: mutated headers and random bytes give AudioFormatError or a consistent decode", () => {
  const pcm = ["wav_pcm_16.wav", "wav_pcm_24.wav", "wavex_float.wavex", "wav_ima_adpcm.wav", "wav_ms_adpcm.wav", "rf64_pcm_u8.rf64", "w64_ulaw.w64", "aiff_pcm_16.aiff", "aiff_ima_adpcm.aiff", "aiff_double.aiff"];
  it.each(pcm)("%s (300 mutants each)", async (name) => {
    const bytes = fixture(name);
    await fc.assert(fc.asyncProperty(fc.array(mutation(bytes.length), { minLength: 1, maxLength: 3 }), async (ms) => {
      await decodesOrRejects(ms.reduce(mutate, bytes));
    }), { numRuns: 300 });
  });

  // The WebAssembly decoders cost a module instantiation per file: fewer runs.
  it.each(["flac_pcm_16.flac", "ogg_vorbis.ogg", "ogg_opus.ogg", "mp3_mpeg_layer_iii.mp3"])("%s (40 mutants each)", async (name) => {
    const bytes = fixture(name);
    await fc.assert(fc.asyncProperty(fc.array(mutation(bytes.length), { minLength: 1, maxLength: 3 }), async (ms) => {
      await decodesOrRejects(ms.reduce(mutate, bytes));
    }), { numRuns: 40 });
  });

  // Ranged reads, as tiles do them: the readers' own paths (block batches, seeks), not decode's.
  // Includes recordings with metadata chunks after the data (GUANO, LIST) and a compressed seek.
  const ranged = ["wav_pcm_24.wav", "w64_ms_adpcm.w64", "aiff_ulaw.aiff", "flac_pcm_16.flac", "mp3_mpeg_layer_iii.mp3"];
  it.each(ranged)("%s: ranged reads of mutants (100 each)", async (name) => {
    const bytes = fixture(name);
    await fc.assert(fc.asyncProperty(fc.array(mutation(bytes.length), { minLength: 1, maxLength: 3 }), ranges, async (ms, rs) => {
      await rangesOrRejects(ms.reduce(mutate, bytes), rs);
    }), { numRuns: 100 });
  });

  it("recordings with GUANO and LIST chunks around the data: mutants decode or fail readably (60 each)", async () => {
    for (const name of ["batdetect2_contrib_Audiomoth.wav", "batdetect2_contrib_jeff37_0166_20240531_223911.wav"]) {
      // Mutations land in the chunks before the data, in the samples, and in the GUANO after them.
      const whole = new Uint8Array(readFileSync(path.join(FORMATS, "../recordings", name)));
      await fc.assert(fc.asyncProperty(fc.array(mutation(whole.length), { minLength: 1, maxLength: 3 }), ranges, async (ms, rs) => {
        await rangesOrRejects(ms.reduce(mutate, whole), rs);
      }), { numRuns: 60 });
    }
  });

  it("random bytes, with and without a plausible magic number (1000 cases)", async () => {
    const magic = fc.constantFrom("", "RIFF\x00\x01\x00\x00WAVE", "RF64\xff\xff\xff\xffWAVE", "FORM\x00\x00\x10\x00AIFC", "fLaC", "OggS", "ID3");
    await fc.assert(fc.asyncProperty(magic, fc.uint8Array({ maxLength: 600 }), async (m, rest) => {
      const head = Uint8Array.from(m, (c) => c.charCodeAt(0));
      const bytes = new Uint8Array(head.length + rest.length);
      bytes.set(head);
      bytes.set(rest, head.length);
      await decodesOrRejects(bytes);
    }), { numRuns: 1000 });
  });
});

describe("decode() of a recording longer than one Float32Array holds", () => {
  it("a real (sparse) RF64 of 6·10^9 frames is refused before allocating, naming the file, its frames, the limit and the streaming API (it was a bare RangeError: Invalid typed array length)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sonotile-huge-"));
    try {
      const frames = 6_000_000_000;
      const file = path.join(dir, "huge.rf64");
      // RF64: ds64 with the 64-bit sizes, fmt of 8-bit mono at 16 kHz, a data chunk of 0xFFFFFFFF; the data a hole (no disk used).
      const h = Buffer.alloc(80);
      h.write("RF64", 0);
      h.writeUInt32LE(0xffffffff, 4);
      h.write("WAVEds64", 8);
      h.writeUInt32LE(28, 16);
      h.writeBigUInt64LE(BigInt(frames + 72), 20);
      h.writeBigUInt64LE(BigInt(frames), 28);
      h.writeBigUInt64LE(BigInt(frames), 36);
      h.write("fmt ", 48);
      h.writeUInt32LE(16, 52);
      [1, 1].forEach((x, i) => h.writeUInt16LE(x, 56 + 2 * i));
      h.writeUInt32LE(16000, 60);
      h.writeUInt32LE(16000, 64);
      [1, 8].forEach((x, i) => h.writeUInt16LE(x, 68 + 2 * i));
      h.write("data", 72);
      h.writeUInt32LE(0xffffffff, 76);
      writeFileSync(file, h);
      truncateSync(file, h.length + frames);
      const reader = await openAudio(file);
      try {
        expect(reader.info.frames).toBe(frames); // the streaming API reads it
        expect(await reader.read(0, frames - 3, 10)).toEqual(new Float32Array(3).fill(-1)); // 8-bit PCM is unsigned: 0 is -1
      } finally {
        await reader.close();
      }
      const message = `${file}: 6000000000 frames a channel, more than one Float32Array holds (4294967296): decode() returns whole channels; read this recording piece by piece with openAudio(path).read(channel, start, count) (or wrap samples in samplesReader)`;
      await expect(decode(file)).rejects.toThrow(new RangeError(message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a recording whose sample rate is too low for the window (a WAV header saying 1–7 Hz)", () => {
  // wav_pcm_16.wav (16000 frames) with its rate field (byte 24) 7: 25 ms gives 0 samples. Was
  // `window_size (--window-size): gives 0 samples at 7 Hz; needs at least 2`, exit 2, naming no file.
  it("the CLI names window_size, the file, its rate and the least window that works (exit 2); that window works; a recording of 1 frame is the file's fault (exit 1)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sonotile-rate7-"));
    try {
      const file = path.join(dir, "rate7.wav");
      writeFileSync(file, patched(WAV, (v) => v.setUint32(24, 7, true)));
      const out = path.join(dir, "s.npy");
      const refused = await runSonotile(["spectrogram", file, "-o", out]);
      expect(refused).toEqual({ code: 2, stdout: "", stderr: `sonotile spectrogram: window_size (--window-size): gives 0 samples at 7 Hz, the rate of ${file}; needs at least 2 (window_size 0.286 s or more at that rate)\n` });
      expect((await runSonotile(["spectrogram", file, "-o", out, "--window-size", "0.286"])).code).toBe(0);
      const one = path.join(dir, "one-frame.wav");
      writeFileSync(one, patched(WAV.subarray(0, 46), (v) => {
        v.setUint32(4, 38, true);
        v.setUint32(24, 7, true);
        v.setUint32(40, 2, true);
      }));
      expect(await runSonotile(["spectrogram", one, "-o", out])).toEqual({ code: 1, stdout: "", stderr: `sonotile spectrogram: ${one}: 1 frame at 7 Hz: no spectrogram window fits in it (a window needs at least 2 samples)\n` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("RecordingSpectrogram names the recording by its `name` option (else \"the recording\")", async () => {
    const reader = await openAudio(patched(WAV, (v) => v.setUint32(24, 7, true)));
    try {
      const message = (name: string) => `window_size: gives 0 samples at 7 Hz, the rate of ${name}; needs at least 2 (window_size 0.286 s or more at that rate)`;
      expect(() => new RecordingSpectrogram(reader, {})).toThrow(message("the recording"));
      expect(() => new RecordingSpectrogram(reader, {}, { name: "x.wav" })).toThrow(message("x.wav"));
      expect(() => new RecordingSpectrogram(reader, { window_size: 0.286 }, { name: "x.wav" }).dispose()).not.toThrow();
    } finally {
      await reader.close();
    }
  });
});
