/**
 * `sonotile clips import|export` as processes (the built CLI in dist/), on a data directory:
 * exit 0 with a summary, 2 for bad usage or a faulty table (naming line and column), 1 for a
 * table file that cannot be read (named, with why in words) or decoded (not UTF-8, nor UTF-16
 * with its byte-order mark); an export that re-imports to nothing.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSonotile } from "./cli-helpers.js";
import { tempDir, writeSineWav } from "./store-helpers.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/raven-selections.txt", import.meta.url));
const env = { DATABASE_URL: "" };

describe("sonotile clips: usage", () => {
  it("exits 2 naming the problem, before any database is opened", async () => {
    const cases: [string[], RegExp][] = [
      [["clips", "frob"], /expected 'import <table>' or 'export'/],
      [["clips", "import", FIXTURE], /give exactly one of --recording and --dataset/],
      [["clips", "export", "--recording", "nope"], /--recording: must be an RFC 9562 UUID: .*, got 'nope'/],
      [["clips", "export", "--recording", "00000000-0000-4000-8000-000000000000", "--times", "wall"], /--times: must be one of real, file$/m],
      [["clips", "export", "--recording", "00000000-0000-4000-8000-000000000000", "--format", "audacity"], /--format: must be one of raven, csv$/m],
      [["clips", "import", FIXTURE, "--recording", "00000000-0000-4000-8000-000000000000", "--features", "all"], /import takes no --features/],
      [["clips", "import", FIXTURE, "--recording", "00000000-0000-4000-8000-000000000000", "--min-freq", "100"], /import takes no --min-freq/],
      [["clips", "export", "--recording", "00000000-0000-4000-8000-000000000000", "--min-freq", "-5"], /^sonotile clips: --min-freq: must be a number of Hz >= 0, got '-5'$/m],
      [["clips", "export", "--recording", "00000000-0000-4000-8000-000000000000", "--max-freq", "0"], /^sonotile clips: --max-freq: must be a number of Hz > 0, got '0'$/m],
      [["clips", "export", "--recording", "00000000-0000-4000-8000-000000000000", "--max-freq", "high"], /^sonotile clips: --max-freq: must be a number of Hz > 0, got 'high'$/m],
      [["clips", "export", "--recording", "00000000-0000-4000-8000-000000000000", "--min-freq", "3000", "--max-freq", "2000"], /^sonotile clips: --max-freq: must be > --min-freq \(3000 Hz\): a band has a width, got '2000'$/m],
    ];
    const results = await Promise.all(cases.map(([args]) => runSonotile(args, { env })));
    results.forEach((r, i) => expect(r, cases[i][0].join(" ")).toMatchObject({ code: 2, stderr: expect.stringMatching(cases[i][1]) }));
  }, 30_000);
});

describe("sonotile clips on a data directory", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let recording: string;
  const onData = (args: string[]) => runSonotile([...args, "--data", join(dir.path, "data")], { env });
  /** A dataset of the folder `folder` holding one sine WAV `file` of `seconds` at 8 kHz: its id and the recording's. */
  async function sineDataset(folder: string, file: string, seconds: number): Promise<{ dataset: string; recording: string }> {
    const audio = join(dir.path, folder);
    await mkdir(audio);
    await writeSineWav(join(audio, file), 8000, seconds);
    const added = await onData(["dataset", "add", audio, "--audio-root", dir.path, "--json"]);
    expect(added.code, added.stderr).toBe(0);
    const { dataset: { id: dataset }, registered: [{ recording_id: recording }] } = JSON.parse(added.stdout);
    return { dataset, recording };
  }

  beforeAll(async () => {
    dir = await tempDir();
    ({ recording } = await sineDataset("audio", "a1.wav", 10));
  }, 60_000);
  afterAll(() => dir?.remove());

  it("imports a Raven table once, exports it, and the export re-imports to nothing", async () => {
    const first = await onData(["clips", "import", FIXTURE, "--recording", recording]);
    expect(first, first.stderr).toMatchObject({ code: 0, stderr: "" });
    expect(first.stdout).toMatch(/^3 clips created, 0 existing already; tags from Species, Call type; columns ignored: Delta Time \(s\); run [0-9a-f-]{36}\n$/);
    // Named in capitals (a UUID is case-insensitive): the same recording — it was "recording … not found".
    const again = await onData(["clips", "import", FIXTURE, "--recording", recording.toUpperCase(), "--json"]);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: 0, existing: 3 });

    const out = join(dir.path, "a1.csv");
    const exported = await onData(["clips", "export", "--recording", recording, "--format", "csv", "-o", out]);
    expect(exported).toMatchObject({ code: 0, stdout: "", stderr: `sonotile clips: 3 clips written to ${out}\n` });
    expect((await readFile(out, "utf8")).split("\r\n")[0]).toBe("Selection,View,Channel,Begin Time (s),End Time (s),Low Freq (Hz),High Freq (Hz),Begin Path,File Offset (s),Begin File,Clip ID,Call type,Species");
    const back = await onData(["clips", "import", out, "--recording", recording, "--json"]);
    expect(JSON.parse(back.stdout)).toMatchObject({ created: 0, existing: 3 });
    // --tag is trimmed as the API's tag_key / tag_value are.
    const raven = await onData(["clips", "export", "--recording", recording, "--tag", " Species = Myotis daubentonii "]);
    const [header, row, ...more] = raven.stdout.split("\n").filter(Boolean).map((l) => l.split("\t"));
    expect(more).toEqual([]);
    expect(Object.fromEntries(header.map((h, i) => [h, row[i]]))).toMatchObject({
      Selection: "1", Channel: "1", "Begin Time (s)": "0.250000000", "End Time (s)": "0.750000000", "Low Freq (Hz)": "1200.500", "High Freq (Hz)": "3500.000",
      "Begin Path": "a1.wav", "File Offset (s)": "0.250000000", "Begin File": "a1.wav", Species: "Myotis daubentonii", "Call type": "FM sweep",
    });
    // The band filter, as the API's min_freq / max_freq: the clips are 1200.5–3500, 800–2500 and 100–3900 Hz.
    const inBand = async (...flags: string[]) => {
      const res = await onData(["clips", "export", "--recording", recording, "--format", "csv", ...flags]);
      expect(res.code, res.stderr).toBe(0);
      return res.stdout.trim().split("\r\n").slice(1).map((line) => line.split(",").slice(3, 7).join(" "));
    };
    expect(await inBand("--min-freq", "3600")).toEqual(["2.000000000 3.250000000 100.000 3900.000"]);
    expect(await inBand("--max-freq", "1000")).toEqual(["1.100000000 1.600000000 800.000 2500.000", "2.000000000 3.250000000 100.000 3900.000"]);
    expect(await inBand("--min-freq", "2500", "--max-freq", "3000")).toEqual(["0.250000000 0.750000000 1200.500 3500.000", "2.000000000 3.250000000 100.000 3900.000"]);
  }, 180_000);

  it("says on standard error how many clips an export writes past their recording's end (its file refreshed shorter), and the export re-imports", async () => {
    const audio = join(dir.path, "shrinking");
    const { dataset, recording: whombat } = await sineDataset("shrinking", "whombat.wav", 25);
    const table = join(dir.path, "whombat.txt");
    await writeFile(table, "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\n1\tSpectrogram 1\t1\t1\t2\n2\tSpectrogram 1\t1\t15\t20\n");
    expect((await onData(["clips", "import", table, "--recording", whombat])).code).toBe(0);
    await writeSineWav(join(audio, "whombat.wav"), 8000, 2.52);
    const refreshed = await onData(["dataset", "refresh", audio, "--audio-root", dir.path]);
    expect(refreshed.code, refreshed.stderr).toBe(0);
    const out = join(dir.path, "shrinking.txt");
    const exported = await onData(["clips", "export", "--dataset", dataset, "-o", out]);
    expect(exported).toMatchObject({ code: 0, stdout: "" });
    expect(exported.stderr.split("\n")).toEqual([
      "sonotile clips: clips past their recording's end (its file refreshed shorter): 1; importing the table again keeps them as they are; move or delete them (PATCH / DELETE /v1/clips/ID) to fit the file",
      `sonotile clips: 2 clips written to ${out}`, "",
    ]);
    const back = await onData(["clips", "import", out, "--dataset", dataset, "--json"]);
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ created: 0, existing: 2 });
  }, 120_000);

  it("refuses an export edited in Begin Time (s) alone (exit 2, naming File Offset (s)); fixed, says on standard error that its row made a clip beside its Clip ID's, and lists Clip ID as ignored", async () => {
    const { recording: e1 } = await sineDataset("edited", "e1.wav", 2);
    const table = join(dir.path, "e1.txt");
    await writeFile(table, "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tSpecies\n1\tSpectrogram 1\t1\t0.1\t0.15\tPipistrellus\n2\tSpectrogram 1\t1\t0.274\t0.2795\tMyotis\n3\tSpectrogram 1\t1\t0.5\t0.6\tPipistrellus\n");
    expect((await onData(["clips", "import", table, "--recording", e1])).code).toBe(0);
    const out = join(dir.path, "e1.export.txt");
    expect((await onData(["clips", "export", "--recording", e1, "-o", out])).code).toBe(0);
    const exported = await readFile(out, "utf8");
    const myotis = exported.split("\n")[2].split("\t")[10];
    // The annotator's edit: Begin Time 0.274 → 0.2742 and the species, File Offset left.
    const edited = join(dir.path, "e1.edited.txt");
    await writeFile(edited, exported.replace("\t0.274000000\t0.279500000\t", "\t0.2742\t0.279500000\t").replace("Myotis", "Nyctalus"));
    const refused = await onData(["clips", "import", edited, "--recording", e1]);
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringMatching(/^sonotile clips: line 3, File Offset \(s\): Begin Time \(s\) '0\.2742' − File Offset \(s\) '0\.274000000' is 0\.0002 s, where the 2 other selections of e1\.wav give 0 s .* Set File Offset \(s\) to 0\.2742 /) });
    await writeFile(edited, (await readFile(edited, "utf8")).replace("e1.wav\t0.274000000\t", "e1.wav\t0.2742\t"));
    const fixed = await onData(["clips", "import", edited, "--recording", e1]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stdout).toMatch(/^1 clip created, 2 existing already; tags from Species; columns ignored: Clip ID; run [0-9a-f-]{36}\n$/);
    expect(fixed.stderr).toMatch(new RegExp(`^sonotile clips: line 3, Clip ID: made clip [0-9a-f-]{36} beside clip ${myotis}, which its Clip ID names, rather than moving it: .* keeps its place and its tags \\(Species = Myotis\\): delete it if the row replaces it\\n$`));
  }, 120_000);

  it("exits 2 for a faulty table, naming line and column, and 1 for a file it cannot read", async () => {
    const bad = join(dir.path, "bad.txt");
    // Every fault of every row at once: an unreadable cell beside a High Freq above the Nyquist
    // frequency (named only once the cell was fixed), and a row past the recording's end.
    await writeFile(bad, "Begin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\n1\tx\t100\t9000\n1\t30\t100\t200\n");
    expect(await onData(["clips", "import", bad, "--recording", recording])).toMatchObject({
      code: 2, stderr: "sonotile clips: line 2, End Time (s): 'x' is not a number of seconds; line 2, High Freq (Hz): 9000 Hz (real) must be <= the recording's Nyquist frequency (4000 Hz); line 3, End Time (s): 30 s (real) must be <= the recording's duration (10 s)\n",
    });
    // An export's feature name that no value has: exit 2 naming it (it wrote an empty column).
    expect(await onData(["clips", "export", "--recording", recording, "--features", "nope"])).toMatchObject({
      code: 2, stderr: "sonotile clips: features: names 'nope', which no feature value has and no job computes (the features named: none yet; jobs compute duration_s, rms_dbfs, peak_dbfs, zero_crossing_rate, spectral_centroid_hz, spectral_bandwidth_hz, spectral_flatness, spectral_rolloff_hz, peak_frequency_hz, low_freq_hz, high_freq_hz, bandwidth_hz, snr_db)\n",
    });
    // A table file that is not there, or a directory, is named with why in words (it was Node's `ENOENT: …, open '…'`).
    const none = join(dir.path, "none.txt");
    expect(await onData(["clips", "import", none, "--recording", recording])).toMatchObject({ code: 1, stderr: `sonotile clips: cannot read ${none}: no such file or directory\n` });
    expect(await onData(["clips", "import", dir.path, "--recording", recording])).toMatchObject({ code: 1, stderr: `sonotile clips: cannot read ${dir.path}: a directory, not a table file\n` });
    // A file in another encoding is input it cannot read (exit 1), naming the file; UTF-16 with its mark is read.
    const latin1 = join(dir.path, "latin1.txt");
    await writeFile(latin1, Buffer.from("Begin Time (s)\tEnd Time (s)\tSpecies\n4\t5\tBarbastelle \u00e9\n", "latin1"));
    expect(await onData(["clips", "import", latin1, "--recording", recording])).toMatchObject({ code: 1, stderr: `sonotile clips: ${latin1}: line 2: holds bytes that are not UTF-8 text (read as U+FFFD): save the table as UTF-8 — it is in another encoding, such as Windows-1252\n` });
    const utf16 = join(dir.path, "utf16.txt");
    await writeFile(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("Begin Time (s)\tEnd Time (s)\tSpecies\n4\t5\tBarbastelle \u00e9\n", "utf16le")]));
    const read = await onData(["clips", "import", utf16, "--recording", recording]);
    expect(read, read.stderr).toMatchObject({ code: 0, stdout: expect.stringMatching(/^1 clip created/) });
  }, 60_000);
});
