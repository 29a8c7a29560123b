/**
 * `sonotile dataset refresh <dir>` as a process (the built CLI in dist/), on the embedded database
 * (held by this process, the CLI attaching to it) or on DATABASE_URL: each recording whose file
 * changed since it was registered is made the file's content, as POST /v1/recordings/{id}/refresh
 * does; one whose file no longer reads as audio, or that is read-only, is named with why and left
 * (exit 1); usage errors name the argument.
 */
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { movedLine, refreshFailure } from "../src/cli/commands/dataset.js";
import { createClip } from "../src/store/clips.js";
import { openDatabase, type Database } from "../src/store/db.js";
import { getRecording, refreshRecordingFile } from "../src/store/recordings.js";
import { runSonotile } from "./cli-helpers.js";
import { FIXTURES, JUNK_BYTES, REAL_PG_URL, freshDatabase, migratedTemplate, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

describe("sonotile dataset refresh", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let real: TestDatabase | undefined;
  let db: Database;
  /** Recording ids by file name. */
  let ids: Record<string, string>;
  const audio = () => join(dir.path, "audio");
  const sonotile = (args: string[]) => runSonotile([...args, "--data", join(dir.path, "data"), "--audio-root", dir.path], { env: { DATABASE_URL: real?.url ?? "" } });

  beforeAll(async () => {
    dir = await tempDir();
    real = REAL_PG_URL ? await freshDatabase() : undefined;
    db = real?.db ?? (await openDatabase({ dataDir: join(dir.path, "data"), initialData: await migratedTemplate() }));
    await mkdir(audio());
    for (const name of ["a.wav", "b.wav", "c.wav", "d.wav"]) await writeSineWav(join(audio(), name), 8000, 2, 1000);
    const added = await sonotile(["dataset", "add", audio(), "--json"]);
    expect(added.code, added.stderr).toBe(0);
    ids = Object.fromEntries(JSON.parse(added.stdout).registered.map((r: { path: string; recording_id: string }) => [r.path, r.recording_id]));
  }, 60_000);
  afterAll(async () => {
    if (real) await real.cleanup();
    else await db?.close();
    await dir?.remove();
  });

  it("exits 2 naming the problem: no <dir>, a flag of 'add' (scan too), a directory without a dataset", async () => {
    const other = join(dir.path, "other");
    await mkdir(other, { recursive: true });
    expect(await sonotile(["dataset", "refresh"])).toMatchObject({ code: 2, stderr: "sonotile dataset: expected 'add <dir>', 'scan <dir>', 'refresh <dir>', 'list' or 'reprobe' (see --help)\n" });
    expect(await sonotile(["dataset", "refresh", audio(), "--name", "x"])).toMatchObject({ code: 2, stderr: "sonotile dataset: refresh takes no --name\n" });
    // As the other actions but 'add' (they ignored them).
    expect(await sonotile(["dataset", "scan", audio(), "--description", "x", "--name", "y"])).toMatchObject({ code: 2, stderr: "sonotile dataset: scan takes no --name, --description\n" });
    expect(await sonotile(["dataset", "refresh", other])).toMatchObject({ code: 2, stderr: `sonotile dataset: ${other} is no dataset's directory: sonotile dataset add ${other} makes it one\n` });
  }, 60_000);

  it("refreshes each changed recording, clips kept; names those it cannot with why (exit 1); leaves the unchanged", async () => {
    await createClip(db.sql, { recording_id: ids["a.wav"], start_time: 1.5, end_time: 1.8, created_by: null });
    // a.wav replaced by a shorter tone: its clip now ends after it. b.wav: not audio any more. c.wav: replaced, its recording archived.
    await writeSineWav(join(audio(), "a.wav"), 8000, 1, 3000);
    await writeFile(join(audio(), "b.wav"), JUNK_BYTES);
    await writeSineWav(join(audio(), "c.wav"), 8000, 1, 3100); // not a.wav's new bytes: a refresh refuses a copy of another recording's
    await db.sql`UPDATE recordings SET state = 'archived' WHERE id = ${ids["c.wav"]}`;
    const md5 = createHash("md5").update(await readFile(join(audio(), "a.wav"))).digest("hex");
    const size = (await readFile(join(audio(), "a.wav"))).length;

    const r = await sonotile(["dataset", "refresh", audio()]);
    expect(r).toMatchObject({ code: 1, stderr: "" });
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe(`  refreshed a.wav (${ids["a.wav"]}): ${size} bytes, MD5 ${md5}, 1.0000 s; 1 clip now ends after it`);
    expect(lines.slice(1, 3).sort()).toEqual([
      `  failed b.wav (${ids["b.wav"]}): the file of recording ${ids["b.wav"]} cannot be read as audio: ${join(audio(), "b.wav")}: not a recognised audio format (expected WAV, RF64, Wave64, AIFF, FLAC, MP3 or Ogg)`,
      `  failed c.wav (${ids["c.wav"]}): recording ${ids["c.wav"]} is archived and read-only; restore it first`,
    ].sort());
    expect(lines.slice(3)).toEqual([expect.stringMatching(new RegExp(`^dataset audio \\(\\S+\\) of ${audio()}: 1 of 3 changed recordings refreshed, 2 failed$`)), ""]);
    expect(await getRecording(db.sql, ids["a.wav"])).toMatchObject({ hash: md5, file_size: size, duration: 1 });
    expect((await getRecording(db.sql, ids["b.wav"])).file_size).not.toBe(JUNK_BYTES.length); // left as it was

    // b.wav put right and c.wav restored: a second run refreshes them, and a.wav is changed no more.
    await writeSineWav(join(audio(), "b.wav"), 8000, 1, 500);
    await db.sql`UPDATE recordings SET state = 'active' WHERE id = ${ids["c.wav"]}`;
    const again = await sonotile(["dataset", "refresh", audio(), "--json"]);
    expect(again.code, again.stderr).toBe(0);
    const answer = JSON.parse(again.stdout);
    expect(answer.failed).toEqual([]);
    expect(answer.refreshed.map((x: { path: string; recording: { id: string }; clips_past_end: number }) => [x.path, x.recording.id, x.clips_past_end]).sort())
      .toEqual([["b.wav", ids["b.wav"], 0], ["c.wav", ids["c.wav"], 0]]);
    const none = await sonotile(["dataset", "refresh", audio()]);
    expect(none).toMatchObject({ code: 0, stdout: expect.stringMatching(/^dataset audio \(\S+\) of .*: 0 of 0 changed recordings refreshed\n$/) });
  }, 120_000);

  it("counts, in its line and its --json, the clips whose band a file of a lower rate left above the Nyquist frequency, kept", async () => {
    // a.wav (8 kHz, 1 s since the refresh above, its clip at 1.5–1.8 s past its end) re-encoded at 4 kHz: Nyquist 2 kHz.
    await createClip(db.sql, { recording_id: ids["a.wav"], start_time: 0.1, end_time: 0.5, low_freq: 500, high_freq: 1500, created_by: null });
    await createClip(db.sql, { recording_id: ids["a.wav"], start_time: 0.1, end_time: 0.5, low_freq: 2500, high_freq: 3500, created_by: null });
    await writeSineWav(join(audio(), "a.wav"), 4000, 1, 1000);
    const r = await sonotile(["dataset", "refresh", audio()]);
    expect(r, r.stderr).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout.split("\n")[0]).toMatch(new RegExp(`^  refreshed a\\.wav \\(${ids["a.wav"]}\\): \\d+ bytes, MD5 [0-9a-f]{32}, 1\\.0000 s; 1 clip now ends after it; 1 clip now reaches above its Nyquist frequency \\(change or remove its frequency bounds\\)$`));
    expect((await getRecording(db.sql, ids["a.wav"])).samplerate).toBe(4000);
    await writeSineWav(join(audio(), "a.wav"), 2000, 1, 500); // Nyquist 1 kHz: both bands above it
    const json = await sonotile(["dataset", "refresh", audio(), "--json"]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).refreshed.map((x: { path: string; clips_past_end: number; clips_above_nyquist: number }) => [x.path, x.clips_past_end, x.clips_above_nyquist]))
      .toEqual([["a.wav", 1, 2]]);
  }, 60_000);

  it("names why a file it cannot refresh is refused as the store says it: now a directory, or a link leading outside the dataset's directory — both were called missing", async () => {
    // Between the scan that found the file changed and its refresh (a race the command cannot be made to lose on cue).
    const failure = () => refreshRecordingFile(db.sql, ids["d.wav"]).then(() => "refreshed", (err: unknown) => refreshFailure(err, ids["d.wav"]));
    await rm(join(audio(), "d.wav"));
    await mkdir(join(audio(), "d.wav"));
    expect(await failure()).toBe(`the file of recording ${ids["d.wav"]}: d.wav is not a regular file`);
    await rm(join(audio(), "d.wav"), { recursive: true });
    await writeSineWav(join(dir.path, "elsewhere.wav"), 8000, 1, 1000);
    await symlink(join(dir.path, "elsewhere.wav"), join(audio(), "d.wav"));
    expect(await failure()).toBe(`the file of recording ${ids["d.wav"]}: d.wav resolves outside the dataset's audio_dir`);
    await rm(join(audio(), "d.wav"));
    expect(await failure()).toBe(`the file of recording ${ids["d.wav"]}: file d.wav does not exist in the dataset's audio_dir`);
  }, 60_000);

  it("refuses two files swapped, naming both (exit 1; the scan names whose bytes each holds), and with --force refreshes them, naming the file's metadata that differs — it gave each recording the other's audio under its own date and time", async () => {
    const swap = join(dir.path, "midseason");
    await mkdir(swap);
    await copyFile(join(FIXTURES, "recordings", "XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav"), join(swap, "bext.wav"));
    await copyFile(join(FIXTURES, "recordings", "batdetect2_contrib_jeff37_0166_20240531_223911.wav"), join(swap, "guano.wav"));
    const added = await sonotile(["dataset", "add", swap, "--json"]);
    expect(added.code, added.stderr).toBe(0);
    const id = Object.fromEntries(JSON.parse(added.stdout).registered.map((r: { path: string; recording_id: string }) => [r.path, r.recording_id]));
    await rename(join(swap, "bext.wav"), join(swap, "tmp.wav"));
    await rename(join(swap, "guano.wav"), join(swap, "bext.wav"));
    await rename(join(swap, "tmp.wav"), join(swap, "guano.wav"));

    const scan = await sonotile(["dataset", "scan", swap]);
    expect(scan.stdout).toContain(`are now those of recording ${id["guano.wav"]} (guano.wav): swapped or copied over? Put the files back; a refresh refuses it`);
    expect(await sonotile(["dataset", "scan", swap, "--force"])).toMatchObject({ code: 2, stderr: "sonotile dataset: --force is refresh's only\n" });
    const refused = await sonotile(["dataset", "refresh", swap]);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stdout.split("\n").slice(0, 2)).toEqual(["bext.wav", "guano.wav"].map((path) => expect.stringMatching(new RegExp(`^  failed ${path} \\(${id[path]}\\): the file of recording ${id[path]} \\(${path}\\) now holds the bytes of recording ${id[path === "bext.wav" ? "guano.wav" : "bext.wav"]} .* sonotile dataset refresh --force\\)$`))));

    const forced = await sonotile(["dataset", "refresh", swap, "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout.split("\n")[0]).toMatch(new RegExp(`^  refreshed bext\\.wav \\(${id["bext.wav"]}\\): \\d+ bytes, MD5 [0-9a-f]{32}, [\\d.]+ s; the file's metadata differs from the recording's, which keeps its own: date 2024-05-31 \\(recording 2016-02-17\\), time 22:39:11 \\(recording 19:45:16\\), latitude 49\\.093119 \\(recording none\\), longitude 5\\.047867 \\(recording none\\) — PATCH /v1/recordings/${id["bext.wav"]} sets them if the file's are right$`));
    expect(forced.stdout).toContain("2 of 2 changed recordings refreshed\n");
  }, 60_000);
});

describe("sonotile dataset add's line of a file it found moved", () => {
  it("says when only the path's Unicode normal form changed (the file back from macOS in NFD), which the two paths shown do not", () => {
    const nfc = "Sité_B/jeff37 ünïcode.WAV";
    expect(movedLine({ from: nfc, path: nfc.normalize("NFD"), recording_id: "r1" })).toBe(
      `  moved ${nfc} → ${nfc.normalize("NFD")} (r1): the same bytes, the path's Unicode normal form changed (NFC → NFD); the recording, its clips, tags, features and notes follow the file`);
    expect(movedLine({ from: "a/x.wav", path: "b/x.wav", recording_id: "r2" })).toBe("  moved a/x.wav → b/x.wav (r2): the same bytes; the recording, its clips, tags, features and notes follow the file");
  });
});
