/**
 * GET /v1/recordings/{id}/playback: the audio of an interval as a float WAV — the samples of
 * every channel bit for bit, time expansion applied to the interval but not to the rate,
 * clipped to the recording, limited per request, and behind a token where reads need one.
 */
import { copyFile, stat, truncate, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { IdleReaders } from "../src/api/routes/playback.js";
import { decode, fileMd5 } from "../src/audio/index.js";
import { encodeWav16 } from "../src/demo/wav.js";
import { createDataset } from "../src/store/datasets.js";
import { resolveRoots } from "../src/store/paths.js";
import { probeFile } from "../src/store/probe.js";
import { insertRecording } from "../src/store/recordings.js";
import { ensureAdmin } from "../src/store/users.js";
import type { StreamReader } from "../src/audio/stream-reader.js";
import type { AudioFileReader } from "../src/audio/types.js";
import { verbatimFlac } from "./audio-helpers.js";
import { FIXTURES, maxAbsDiff } from "./golden.js";
import { freshDatabase, tempDir, type TestDatabase } from "./store-helpers.js";

/**
 * The paths openAudio opened, in order, and the readers of compressed streams it opened with the
 * most decoded samples each held after any read (StreamReader.decodedBytes): the audio layer is
 * wrapped to watch them, nothing else changed.
 */
const opened = vi.hoisted(() => [] as string[]);
const streams = vi.hoisted(() => new Map<StreamReader, { path: string; peak: number }>());
vi.mock("../src/audio/index.js", async (importOriginal) => {
  const audio = await importOriginal<typeof import("../src/audio/index.js")>();
  return {
    ...audio,
    openAudio: async (...args: Parameters<typeof audio.openAudio>) => {
      if (typeof args[0] === "string") opened.push(args[0]);
      const reader = await audio.openAudio(...args);
      if ("decodedBytes" in reader) {
        const stream = reader as StreamReader;
        const watched = { path: String(args[0]), peak: 0 };
        streams.set(stream, watched);
        const read = reader.read.bind(reader);
        reader.read = async (...a) => {
          const x = await read(...a);
          watched.peak = Math.max(watched.peak, stream.decodedBytes);
          return x;
        };
      }
      return reader;
    },
  };
});

const RATE = 8000;
let t: TestDatabase;
let dir: { path: string; remove(): Promise<void> };
/** The real path of the audio root. */
let root: string;
let app: App;
let file: string;
let id: string;
let datasetId: string;
let admin: { authorization: string };

beforeAll(async () => {
  t = await freshDatabase();
  admin = { authorization: `Bearer ${(await ensureAdmin(t.db.sql))!.key}` };
  dir = await tempDir();
  [root] = await resolveRoots([dir.path]);
  // 2 s of stereo: a different tone in each channel.
  const frames = 2 * RATE;
  const samples = new Float32Array(frames * 2);
  for (let i = 0; i < frames; i++) {
    samples[2 * i] = 0.5 * Math.sin((2 * Math.PI * 440 * i) / RATE);
    samples[2 * i + 1] = 0.25 * Math.sin((2 * Math.PI * 1000 * i) / RATE);
  }
  file = join(root, "stereo.wav");
  await writeFile(file, encodeWav16(samples, RATE, 2));
  const dataset = await createDataset(t.db.sql, { name: "playback", audio_dir: root, created_by: null });
  datasetId = dataset.id;
  id = (await insertRecording(t.db.sql, { dataset_id: dataset.id, path: "stereo.wav", ...(await probeFile(file)), created_by: null }))!.id;
  // 2 s of stereo is 32000 samples: over this limit, 1 s is not.
  app = await buildApp({ database: t.db, audioRoots: [root], maxPlaybackSamples: 20_000 });
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  await dir?.remove();
});

const playback = (query: string, headers = {}) => app.inject({ url: `/v1/recordings/${id}/playback?${query}`, headers });

describe("IdleReaders", () => {
  it("closes a reader given back after it was cleared (a body that finished after the server's onClose): it was kept, its file open a minute after app.close", () => {
    const closed: AudioFileReader[] = [];
    const readers = new IdleReaders(8, 60_000, (reader) => closed.push(reader));
    const reader = { releaseMemory: () => {} } as unknown as AudioFileReader;
    readers.clear();
    readers.give("recording", reader, { size: 1000, mtime: 1 });
    expect(closed).toEqual([reader]);
    expect(readers.take("recording")).toBeUndefined();
  });
});

describe("GET /v1/recordings/{id}/playback", () => {
  it("a compressed file that cannot be decoded where the interval lies: 422 before any audio, not a 200 cut short", async () => {
    const cut = join(root, "cut.flac");
    await copyFile(join(FIXTURES, "formats/flac_pcm_16.flac"), cut); // 1 s at 16 kHz
    // Registered whole, then cut (as registered: its size and MD5 are the cut file's), so that
    // the header still says 16000 frames. (A FLAC cut before registration is refused there.)
    const whole = await probeFile(cut);
    await truncate(cut, 9000);
    const rec = (await insertRecording(t.db.sql, { dataset_id: datasetId, path: "cut.flac", ...whole, file_size: 9000, hash: await fileMd5(cut), file_mtime: (await stat(cut)).mtimeMs, created_by: null }))!;
    const res = await app.inject({ url: `/v1/recordings/${rec.id}/playback?start_time=0.1&end_time=0.9` });
    expect(res.statusCode).toBe(422);
    expect(res.json().message).toMatch(/^the recording's audio cannot be decoded: (cut\.flac: )?flac: stream ends at frame 4096, the header says 16000/);
    await expect(probeFile(cut)).rejects.toThrow(/flac: stream ends at frame 4096, the header says 16000 \(truncated, or corrupt from there\?\)$/);
  });

  it("a file that no longer decodes is named relative to the audio root, not by the server's own path", async () => {
    const broken = join(root, "broken.wav");
    await copyFile(file, broken);
    const registered = new Date(Math.floor(Date.now() / 1000) * 1000); // whole seconds: set back exactly below
    await utimes(broken, registered, registered);
    const rec = (await insertRecording(t.db.sql, { dataset_id: datasetId, path: "broken.wav", ...(await probeFile(broken)), created_by: null }))!;
    // Overwritten with as many bytes of text, its time set back: the size and time still match
    // (the one rewrite the server cannot see), the header does not.
    const bytes = (await stat(broken)).size;
    await writeFile(broken, "not audio\n".repeat(bytes).slice(0, bytes));
    await utimes(broken, registered, registered);
    const res = await app.inject({ url: `/v1/recordings/${rec.id}/playback?start_time=0&end_time=0.5` });
    expect(res.statusCode).toBe(422);
    expect(res.json().message).toMatch(/^the recording's audio cannot be decoded: broken\.wav: /);
    expect(res.json().message).not.toContain(root);
  });

  it("sends the samples of [start_time, end_time) of every channel, bit for bit, as a float WAV at the file's rate", async () => {
    const res = await playback("start_time=0.25&end_time=0.5");
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers["content-type"]).toBe("audio/wav");
    expect(Number(res.headers["content-length"])).toBe(res.rawPayload.length);
    expect(res.headers["x-frame-range"]).toBe("2000,4000");
    const wav = await decode(new Uint8Array(res.rawPayload));
    const whole = await decode(file);
    expect([wav.samplerate, wav.channels, wav.frames]).toEqual([RATE, 2, 2000]);
    for (let c = 0; c < 2; c++) expect(wav.data[c]).toEqual(whole.data[c].subarray(2000, 4000));
  });

  it("plays one file again through the reader it read to the end (a reader each scanned an MP3's frame headers again at every request), with the same samples", async () => {
    const mp3 = join(root, "again.mp3");
    await copyFile(join(FIXTURES, "formats/mp3_mpeg_layer_iii.mp3"), mp3);
    const rec = (await insertRecording(t.db.sql, { dataset_id: datasetId, path: "again.mp3", ...(await probeFile(mp3)), created_by: null }))!;
    const whole = await decode(mp3);
    const before = opened.filter((p) => p === mp3).length; // probeFile's
    for (const [start, end] of [[0.5, 0.75], [0.1, 0.2], [0.5, 0.75]]) {
      const res = await app.inject({ url: `/v1/recordings/${rec.id}/playback?start_time=${start}&end_time=${end}` });
      expect(res.statusCode, res.body).toBe(200);
      const wav = await decode(new Uint8Array(res.rawPayload));
      expect(wav.data[0]).toEqual(whole.data[0].subarray(start * 16000, end * 16000));
    }
    expect(opened.filter((p) => p === mp3).length - before).toBe(1);
  });

  it("a compressed recording's playback counts what its reader holds — 16 blocks of 65536 frames, 8.5 MiB for stereo, 34 MiB for 8 channels, were counted as 2 MiB — decoding each block once, and the reader kept for the next playback holds no decoded samples (eight kept 16-channel readers held 0.5 GB)", async () => {
    const FRAMES = 2 ** 19 + 1234, FLAC_RATE = 48_000;
    const long = await buildApp({ database: t.db, audioRoots: [root] });
    try {
      for (const channels of [2, 8]) {
        const samples = Array.from({ length: channels }, (_, c) => Int32Array.from({ length: FRAMES }, (_, i) => Math.round(20_000 * Math.sin(i * (0.001 + 0.0007 * c)))));
        const path = join(root, `held-${channels}.flac`);
        await writeFile(path, verbatimFlac(samples, FLAC_RATE, 16, 8192, true));
        const rec = (await insertRecording(t.db.sql, { dataset_id: datasetId, path: `held-${channels}.flac`, ...(await probeFile(path)), created_by: null }))!;
        const reserve = vi.spyOn(long.unsentBytes, "reserve");
        const start = 0.1; // not on a block's edge
        const res = await long.inject({ url: `/v1/recordings/${rec.id}/playback?start_time=${start}&end_time=100` });
        expect(res.statusCode, res.body).toBe(200);
        const wav = await decode(new Uint8Array(res.rawPayload));
        const first = start * FLAC_RATE;
        for (let c = 0; c < channels; c++) expect(maxAbsDiff(wav.data[c], Float32Array.from(samples[c].subarray(first), (v) => v / 32768))).toBe(0);
        const [reader, { peak }] = [...streams].find(([, s]) => s.path === path)!;
        // What the answer counted beside its three pieces of 2^18 samples (whole frames) is the most its reader held.
        const pieces = 3 * 4 * Math.floor(2 ** 18 / channels) * channels;
        expect(reserve.mock.calls.at(-1)![1] - pieces, `${channels} channels`).toBe(peak);
        reserve.mockRestore();
        // Each block decoded once, not again for each channel: the blocks a piece spans stay.
        expect(reader.framesDecoded).toBeLessThan(1.2 * (FRAMES - first));
        // Kept idle for the next playback, without its decoded blocks.
        await vi.waitFor(() => expect(reader.decodedBytes).toBe(0));
      }
    } finally {
      await long.close();
    }
  }, 60_000);

  it("takes real seconds on a time-expanded recording and keeps the file's rate (played slowed down)", async () => {
    expect((await app.inject({ method: "PATCH", url: `/v1/recordings/${id}`, headers: admin, payload: { time_expansion: 10 } })).statusCode).toBe(200);
    try {
      // 10× expansion: the real rate is 80 kHz, so 25–50 ms real are file samples 2000–4000.
      const res = await playback("start_time=0.025&end_time=0.05");
      expect(res.headers["x-frame-range"]).toBe("2000,4000");
      expect((await decode(new Uint8Array(res.rawPayload))).samplerate).toBe(RATE);
      // The file's 2 s last 0.2 s: a start a player shows for the file as stored is past the end, and the refusal says why.
      const pastEnd = await playback("start_time=1&end_time=1.5");
      expect(pastEnd.statusCode).toBe(400);
      expect(pastEnd.json().fields).toEqual([{ field: "start_time", message: "must be before the end of the recording (0.2 s); times are real seconds: time expansion 10 (the recording's time_expansion) makes the file's 2 s last 0.2 s" }]);
    } finally {
      await app.inject({ method: "PATCH", url: `/v1/recordings/${id}`, headers: admin, payload: { time_expansion: 1 } });
    }
  });

  it("clips to the recording and refuses empty or oversized intervals, naming the field", async () => {
    const tail = await playback("start_time=1.5&end_time=100");
    expect(tail.headers["x-frame-range"]).toBe("12000,16000");
    const fields = async (query: string) => {
      const res = await playback(query);
      expect(res.statusCode).toBe(400);
      return res.json().fields.map((f: { field: string }) => f.field);
    };
    expect(await fields("start_time=2&end_time=3")).toEqual(["start_time"]);
    // At time expansion 1 the refusal says nothing of it.
    expect((await playback("start_time=2&end_time=3")).json().fields[0].message).toBe("must be before the end of the recording (2 s)");
    expect(await fields("start_time=0.5&end_time=0.5")).toEqual(["end_time"]);
    expect(await fields("start_time=-1&end_time=1")).toEqual(["start_time"]);
    // Decimal only, as the spectrogram parameters: Number() — hence z.coerce — reads each of these as 1.
    for (const text of ["0x1", "0b1", "0o1", "%201", "1%20"]) {
      const res = await playback(`start_time=0&end_time=${text}`);
      expect(res.statusCode, text).toBe(400);
      expect(res.json().fields, text).toEqual([{ field: "end_time", message: "must be a number of seconds" }]);
    }
    const decimal = await playback("start_time=2.5e-1&end_time=%2B.5");
    expect([decimal.statusCode, decimal.headers["x-frame-range"]]).toEqual([200, "2000,4000"]);
    // Between two samples (1/8000 s apart): the end is to blame, not a start "past the end of the recording".
    for (const query of ["start_time=1e-320&end_time=2e-320", "start_time=0.00001&end_time=0.0001"]) {
      const res = await playback(query);
      expect(res.statusCode, query).toBe(400);
      expect(res.json().fields, query).toEqual([{ field: "end_time", message: expect.stringMatching(/^no sample lies in \[.*\) s \(the samples are 0\.000125 s apart\)$/) }]);
    }
    const over = await playback("start_time=0&end_time=2");
    expect(over.statusCode).toBe(400);
    expect(over.json().message).toContain("32000 samples (frames × channels); the limit is 20000");
  });

  it("needs a token where reads need one", async () => {
    const locked = await buildApp({ database: t.db, audioRoots: [root], requireAuthForReads: true });
    try {
      const url = `/v1/recordings/${id}/playback?start_time=0&end_time=0.1`;
      expect((await locked.inject({ url })).statusCode).toBe(401);
      expect((await locked.inject({ url, headers: admin })).statusCode).toBe(200);
    } finally {
      await locked.close();
    }
  });
});
