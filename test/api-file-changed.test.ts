/**
 * Playback and the download of a recording whose file is written in place while it is read: as
 * a tile, they never send the bytes of a changed file under the recording's identity — an answer
 * not yet sent is the tiles' 409, one under way is cut short rather than completed — and a
 * playback reader of a file written since is not used again. The file is rewritten from inside
 * the read: the audio layer's openers are wrapped to run a write before an opening or after the
 * nth read of what they opened, nothing else changed.
 */
import { createHash } from "node:crypto";
import { copyFile, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { get, type IncomingHttpHeaders } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { createDataset } from "../src/store/datasets.js";
import { resolveRoots } from "../src/store/paths.js";
import { probeFile } from "../src/store/probe.js";
import { insertRecording } from "../src/store/recordings.js";
import { FIXTURES, freshDatabase, tempDir, type TestDatabase } from "./store-helpers.js";

/** Writes to run once, by path: before the file's next opening, or after the nth read through what was opened. */
const hooks = vi.hoisted(() => ({
  beforeOpen: new Map<string, () => Promise<void>>(),
  afterRead: new Map<string, { reads: number; write: () => Promise<void> }>(),
  /** The paths openAudio opened, in order. */
  opened: [] as string[],
}));
vi.mock("../src/audio/index.js", async (importOriginal) => {
  const audio = await importOriginal<typeof import("../src/audio/index.js")>();
  const beforeOpen = async (path: string) => {
    const write = hooks.beforeOpen.get(path);
    hooks.beforeOpen.delete(path);
    await write?.();
  };
  const afterRead = async (path: string) => {
    const hook = hooks.afterRead.get(path);
    if (hook && --hook.reads === 0) {
      hooks.afterRead.delete(path);
      await hook.write();
    }
  };
  return {
    ...audio,
    openAudio: async (...args: Parameters<typeof audio.openAudio>) => {
      const path = String(args[0]);
      hooks.opened.push(path);
      await beforeOpen(path);
      const reader = await audio.openAudio(...args);
      const read = reader.read.bind(reader);
      reader.read = async (...a) => {
        const x = await read(...a);
        await afterRead(path);
        return x;
      };
      return reader;
    },
    openRegularFile: async (...args: Parameters<typeof audio.openRegularFile>) => {
      const [path] = args;
      await beforeOpen(path);
      const opened = await audio.openRegularFile(...args);
      const handle = opened.handle as unknown as { read: (...a: unknown[]) => Promise<unknown> };
      const read = handle.read.bind(handle);
      handle.read = async (...a) => {
        const x = await read(...a);
        await afterRead(path);
        return x;
      };
      return opened;
    },
  };
});

/** 1.007 s of a bat at 384 kHz, mono 16-bit: 386,688 frames — two pieces of playback (2^18 frames each), 12 pieces of a download (64 KiB). */
const FIXTURE = join(FIXTURES, "recordings/XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav");

let t: TestDatabase;
let dir: { path: string; remove(): Promise<void> };
let root: string;
let datasetId: string;
let app: App;
/** The server's log (warnings and worse), as it writes it: a body cut short is logged with what cut it. */
const logged: { msg: string; err?: { message: string } }[] = [];

beforeAll(async () => {
  t = await freshDatabase();
  dir = await tempDir();
  [root] = await resolveRoots([dir.path]);
  datasetId = (await createDataset(t.db.sql, { name: "file-changed", audio_dir: root, created_by: null })).id;
  app = await buildApp({ database: t.db, audioRoots: [root], logger: { level: "warn", stream: { write: (line: string) => void logged.push(JSON.parse(line)) } } });
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  await dir?.remove();
});

/**
 * A copy of the fixture registered as recording `id`, and a write of another take over it in
 * place: the same header and size, other samples from byte 4096 on.
 */
async function recording(name: string): Promise<{ id: string; file: string; original: Buffer; rewrite: () => Promise<void> }> {
  const file = join(root, name);
  await copyFile(FIXTURE, file);
  const id = (await insertRecording(t.db.sql, { dataset_id: datasetId, path: name, ...(await probeFile(file)), created_by: null }))!.id;
  const original = await readFile(file);
  const other = Buffer.from(original).fill(0x11, 4096);
  return { id, file, original, rewrite: () => writeFile(file, other) };
}

/** The 409 of a recording whose file changed while it was read: the tiles' words. */
const changedMessage = (id: string, size: number) => new RegExp(`^recording ${id}: the file changed while it was read \\(${size} bytes modified \\S+ when its content was checked; ${size} bytes modified \\S+ after\\): what was read may mix two contents; nothing read from it was kept or sent whole — ask again once the file is no longer written \\(its new content, if it is the recording's now: POST /v1/recordings/${id}/refresh\\)$`);

/** Whether the server logged an answer to recording `id` cut short by the change of its file of `size` bytes (changedMessage), not by anything else. */
const cutShortByChange = (id: string, size: number) =>
  logged.some((line) => line.msg === "response terminated with an error with headers already sent" && changedMessage(id, size).test(line.err?.message ?? ""));

describe("playback of a file written while it is read", () => {
  it("of one piece is the tiles' 409, not a 200 of samples read after the rewrite under the recording", async () => {
    const { id, file, original, rewrite } = await recording("one-piece.wav");
    hooks.afterRead.set(file, { reads: 1, write: rewrite });
    const res = await app.inject({ url: `/v1/recordings/${id}/playback?start_time=0&end_time=0.1` });
    expect(res.statusCode, res.body.slice(0, 200)).toBe(409);
    expect(res.json().message).toMatch(changedMessage(id, original.length));
  });

  it("of several pieces is cut short, not completed with samples of two contents", async () => {
    const { id, file, original, rewrite } = await recording("pieces.wav");
    hooks.afterRead.set(file, { reads: 2, write: rewrite }); // after the second piece: the first went out with the 200
    await expect(app.inject({ url: `/v1/recordings/${id}/playback?start_time=0&end_time=2` })).rejects.toThrow("response destroyed before completion");
    expect(cutShortByChange(id, original.length)).toBe(true);
  });

  it("of several pieces, written between its check and its opening (the new bytes parse), is the 409, not a 200 cut short", async () => {
    const { id, file, original, rewrite } = await recording("opened-pieces.wav");
    hooks.beforeOpen.set(file, rewrite);
    const res = await app.inject({ url: `/v1/recordings/${id}/playback?start_time=0&end_time=2` });
    expect(res.statusCode, res.body.slice(0, 200)).toBe(409);
    expect(res.json().message).toMatch(changedMessage(id, original.length));
  });

  it("that cannot be parsed once written between its check and its opening is the 409, not 'cannot be decoded'", async () => {
    const { id, file, original } = await recording("garbled.wav");
    hooks.beforeOpen.set(file, () => writeFile(file, "not audio\n".repeat(original.length).slice(0, original.length)));
    const res = await app.inject({ url: `/v1/recordings/${id}/playback?start_time=0&end_time=0.1` });
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json().message).toMatch(changedMessage(id, original.length));
  });

  it("drops the reader kept from an earlier playback once the file was written since (touched: the same bytes, the MD5 found again)", async () => {
    const { id, file } = await recording("kept.wav");
    const play = () => app.inject({ url: `/v1/recordings/${id}/playback?start_time=0.5&end_time=0.6` });
    const opens = () => hooks.opened.filter((p) => p === file).length;
    const before = opens();
    const first = await play();
    expect(first.statusCode).toBe(200);
    expect(await play().then((r) => r.rawPayload)).toEqual(first.rawPayload);
    expect(opens() - before).toBe(1); // the reader kept and used again
    const later = new Date((await stat(file)).mtimeMs + 5000);
    await utimes(file, later, later);
    const again = await play();
    expect(again.statusCode).toBe(200);
    expect(again.rawPayload).toEqual(first.rawPayload);
    expect(opens() - before).toBe(2); // opened afresh
  });
});

describe("the download of a file written while it is sent", () => {
  it("whole is cut short, not sent to its Content-Length under the MD5 ETag with bytes of two contents", async () => {
    const { id, file, original, rewrite } = await recording("whole.wav");
    expect((await app.inject({ url: `/v1/recordings/${id}/audio` })).statusCode).toBe(200);
    // After the third 64 KiB piece was read (the next is read while one is checked): the first went out with the 200.
    hooks.afterRead.set(file, { reads: 3, write: rewrite });
    await expect(app.inject({ url: `/v1/recordings/${id}/audio` })).rejects.toThrow("response destroyed before completion");
    expect(cutShortByChange(id, original.length)).toBe(true);
  });

  it("cut short sent only the file's first bytes: resumed with If-Range once the bytes are put back, it is the file", async () => {
    const { id, file, original, rewrite } = await recording("resumed.wav");
    const base = await app.listen({ port: 0, host: "127.0.0.1" });
    /** A GET over a socket, with what came of its body however it ended. */
    const fetchCut = (headers: Record<string, string> = {}) => new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer; complete: boolean }>((resolve, reject) => {
      get(`${base}/v1/recordings/${id}/audio`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        const done = () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete });
        res.on("data", (chunk: Buffer) => chunks.push(chunk)).on("end", done).on("error", done);
      }).on("error", reject);
    });
    hooks.afterRead.set(file, { reads: 3, write: rewrite }); // as the whole one above
    const cut = await fetchCut();
    expect([cut.status, cut.complete, cut.headers.etag]).toEqual([200, false, `"${createHash("md5").update(original).digest("hex")}"`]);
    // Checked at the last piece alone, 720,896 bytes had gone out: 652,307 of them the other take's.
    expect(cut.body.length).toBeGreaterThan(0);
    expect(cut.body.equals(original.subarray(0, cut.body.length))).toBe(true);
    await writeFile(file, original); // put back: the registered MD5 again
    const rest = await fetchCut({ range: `bytes=${cut.body.length}-`, "if-range": cut.headers.etag! });
    expect([rest.status, rest.complete, rest.headers["content-range"]]).toEqual([206, true, `bytes ${cut.body.length}-${original.length - 1}/${original.length}`]);
    expect(Buffer.concat([cut.body, rest.body]).equals(original)).toBe(true);
  });

  it("as one range read before its first byte went out is the 409, without the file's ETag, name or range", async () => {
    const { id, file, original, rewrite } = await recording("range.wav");
    hooks.afterRead.set(file, { reads: 1, write: rewrite });
    const res = await app.inject({ url: `/v1/recordings/${id}/audio`, headers: { range: "bytes=0-99" } });
    expect(res.statusCode, res.body.slice(0, 200)).toBe(409);
    expect(res.json().message).toMatch(changedMessage(id, original.length));
    expect([res.headers.etag, res.headers["content-range"], res.headers["content-disposition"], res.headers["content-type"]]).toEqual([undefined, undefined, undefined, "application/json; charset=utf-8"]);
  });

  it("as several ranges is cut short once a part read after the rewrite would go out", async () => {
    const { id, file, rewrite } = await recording("ranges.wav");
    const ranges = { range: "bytes=0-9,700000-700009" };
    expect((await app.inject({ url: `/v1/recordings/${id}/audio`, headers: ranges })).statusCode).toBe(206);
    hooks.afterRead.set(file, { reads: 2, write: rewrite }); // the first part sent, then the second read
    await expect(app.inject({ url: `/v1/recordings/${id}/audio`, headers: ranges })).rejects.toThrow("response destroyed before completion");
    expect(cutShortByChange(id, (await stat(file)).size)).toBe(true);
  });

  it("written between its check and its opening is the 409 (the same size: it was sent, the new bytes under the old MD5)", async () => {
    const { id, file, original, rewrite } = await recording("opened.wav");
    hooks.beforeOpen.set(file, rewrite);
    const res = await app.inject({ url: `/v1/recordings/${id}/audio` });
    expect(res.statusCode, res.body.slice(0, 200)).toBe(409);
    expect(res.json().message).toMatch(changedMessage(id, original.length));
  });
});
