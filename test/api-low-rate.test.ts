/**
 * A recording whose WAV header states a rate of 1–7 Hz (real for seismic or tidal records, so
 * registered, not refused) over HTTP: the default 25 ms window gives it no 2 samples, so the
 * spectrogram routes answer 400 naming window_size, the recording, its rate and the least window
 * that works, and that window works; a recording of 1 frame, where no window fits, is the file's
 * fault: 422 naming the file (README, "Audio formats"). Embedded database, or DATABASE_URL when set.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { createDataset, importDataset } from "../src/store/datasets.js";
import { resolveRoots } from "../src/store/paths.js";
import { listRecordings } from "../src/store/recordings.js";
import { ensureAdmin } from "../src/store/users.js";
import { TileService } from "../src/tiles/service.js";
import { freshDatabase, tempDir, type TestDatabase } from "./store-helpers.js";

/** A 16-bit mono WAV of `frames` frames (a slow ramp) whose header states `rate` Hz. */
function lowRateWav(rate: number, frames: number): Uint8Array {
  const b = new Uint8Array(44 + 2 * frames);
  const v = new DataView(b.buffer);
  b.set(Buffer.from("RIFF"), 0);
  v.setUint32(4, 36 + 2 * frames, true);
  b.set(Buffer.from("WAVEfmt "), 8);
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true); // PCM
  v.setUint16(22, 1, true); // mono
  v.setUint32(24, rate, true);
  v.setUint32(28, 2 * rate, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  b.set(Buffer.from("data"), 36);
  v.setUint32(40, 2 * frames, true);
  for (let i = 0; i < frames; i++) v.setInt16(44 + 2 * i, ((i * 997) % 20000) - 10000, true);
  return b;
}

let t: TestDatabase;
let dir: Awaited<ReturnType<typeof tempDir>>;
let app: App;
let tiles: TileService;
/** Recording ids by file name. */
const ids: Record<string, string> = {};

beforeAll(async () => {
  t = await freshDatabase();
  dir = await tempDir();
  await writeFile(join(dir.path, "rate7.wav"), lowRateWav(7, 600)); // 85.7 s
  await writeFile(join(dir.path, "rate1.wav"), lowRateWav(1, 120));
  await writeFile(join(dir.path, "one-frame.wav"), lowRateWav(7, 1));
  const admin = await ensureAdmin(t.db.sql);
  const [root] = await resolveRoots([dir.path]);
  const dataset = await createDataset(t.db.sql, { name: "low rates", audio_dir: root, created_by: admin!.user.id });
  const imported = await importDataset(t.db.sql, dataset.id, admin!.user.id);
  expect(imported.failed).toEqual([]); // registered: rates this low are real (seismic, tidal records)
  const page = await listRecordings(t.db.sql, { dataset_id: dataset.id, limit: 100, offset: 0, sort: "path", order: "asc", state: "active" } as never);
  for (const r of page.items) ids[r.path] = r.id;
  tiles = new TileService({ threads: 1 });
  app = await buildApp({ database: t.db, audioRoots: [root], tiles });
  await app.ready();
}, 60_000);

afterAll(async () => {
  await app?.close();
  await tiles?.close();
  await t?.cleanup();
  await dir?.remove();
});

/** GET /v1/recordings/{id of `file`}/`route`. */
const get = (file: string, route: string) => app.inject({ method: "GET", url: `/v1/recordings/${ids[file]}/${route}` });

/** The spectrogram routes that take the window: a tile, a tile stream, the one-shot image. */
const SPECTROGRAM_ROUTES = ["tiles/0/0.png", "tiles/0/stream?start_time=0&end_time=10", "spectrogram?start_time=0&end_time=10"];

describe("a recording whose header states 1–7 Hz, over HTTP", () => {
  it.each([
    ["rate7.wav", 7, "0.286"],
    ["rate1.wav", 1, "2"],
  ])("%s: the spectrogram routes and the stats lookup answer 400 naming window_size, the recording and its file, the rate and the least window that works; that window works", async (file, rate, least) => {
    const problem = `gives 0 samples at ${rate} Hz, the rate of recording ${ids[file]} (${file}); needs at least 2 (window_size ${least} s or more at that rate)`;
    for (const route of SPECTROGRAM_ROUTES) {
      const res = await get(file, route);
      expect([route, res.statusCode, res.json()]).toEqual([route, 400, { statusCode: 400, error: "Bad Request", message: `invalid query: window_size: ${problem}`, fields: [{ field: "window_size", message: problem }] }]);
      const fitted = await get(file, `${route}${route.includes("?") ? "&" : "?"}window_size=${least}`);
      expect([route, fitted.statusCode], fitted.body).toEqual([route, 200]);
    }
    const lookup = await get(file, "stats/lookup");
    expect([lookup.statusCode, lookup.json()]).toEqual([400, { statusCode: 400, error: "Bad Request", message: `window_size: ${problem}`, fields: [{ field: "window_size", message: problem }] }]);
  });

  it("a recording of 1 frame at 7 Hz, where no window fits, is the file's fault: 422 naming the recording, its file, its frame and its rate", async () => {
    for (const route of SPECTROGRAM_ROUTES) {
      const res = await get("one-frame.wav", route);
      expect([route, res.statusCode, res.json()]).toEqual([route, 422, {
        statusCode: 422,
        error: "Unprocessable Entity",
        message: `the recording's audio cannot be decoded: recording ${ids["one-frame.wav"]} (one-frame.wav): 1 frame at 7 Hz: no spectrogram window fits in it (a window needs at least 2 samples)`,
      }]);
    }
  });
});
