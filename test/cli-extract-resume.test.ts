// The resume file of `sonotile extract` (src/cli/extract-resume.ts) at unit level, no CLI: JSON
// Lines appended at each checkpoint, a torn last line left out, 0.15.0's single document still read.
// The CLI's interrupted and killed runs that write and read it are in cli-extract.test.ts.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { fileStamp, indexResumeFile, ResumeCheckpoint, type ComputedTarget, type ExtractSettings, type ResumedTargets } from "../src/cli/extract-resume.js";
import { NOTHING_RESUMED, readResumeFile, writeResumeFile } from "./extract-helpers.js";
import { encodeWav16 } from "../src/demo/wav.js";
import { parseParams } from "../src/engine/params.js";
import { VERSION } from "../src/engine/version.js";
import { featuresOfFile, FEATURE_NAMES } from "../src/features/features.js";
import { featureTableCsv, featureTableCsvChunks, type FeatureTableRow } from "../src/features/table.js";

/** The paths whose files were fsynced (FileHandle.sync), in order, each with whether the resume file of its directory's t.csv existed then. */
const synced = vi.hoisted(() => [] as [path: string, resumeFileThere: boolean][]);
/** Paths whose fsync fails (EIO), as a disk's can. */
const failingSyncs = vi.hoisted(() => new Set<string>());
vi.mock("node:fs/promises", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs/promises")>();
  const { existsSync } = await import("node:fs");
  const open = async (...args: Parameters<typeof fs.open>): Promise<FileHandle> => {
    const handle = await fs.open(...args);
    const sync = handle.sync.bind(handle);
    handle.sync = () => {
      synced.push([String(args[0]), existsSync(`${args[0]}/t.csv.resume.json`)]);
      if (failingSyncs.has(String(args[0]))) return Promise.reject(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" }));
      return sync();
    };
    return handle;
  };
  return { ...fs, open, default: { ...fs, open } };
});

const tmp = mkdtempSync(join(tmpdir(), "sonotile-extract-resume-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const settings: ExtractSettings = { version: VERSION, params: parseParams({}), features: [...FEATURE_NAMES], "clip-start": null, "clip-end": null, "clip-low-freq": null, "clip-high-freq": null, "time-expansion": null, md5: false };
/** Two computed targets, A and B (B's values with a NaN and a −Infinity: JSON has neither). */
const targets: ComputedTarget[] = [];

beforeAll(async () => {
  const fs = 22050;
  for (const [name, hz] of [["a.wav", 2000], ["b.wav", 5000]] as const) {
    const path = join(tmp, name);
    writeFileSync(path, encodeWav16(Float32Array.from({ length: fs / 2 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * hz * i) / fs)), fs));
    targets.push({ path, values: await featuresOfFile(path), file: await fileStamp(path) });
  }
  const b = targets[1];
  b.values = { ...b.values, zero_crossing_rate: NaN, log_mel: Float32Array.from(b.values.log_mel, (v, i) => (i === 0 ? -Infinity : v)) };
});
const [A, B] = [0, 1].map((i) => () => targets[i]);

/** A directory of its own per test, and its -o. */
function output(name: string): string {
  mkdirSync(join(tmp, name));
  return join(tmp, name, "t.csv");
}

/** A checkpoint after every target; what it says on stderr goes to `said`. */
function checkpointOf(out: string, earlier: ResumedTargets, said: string[] = []): ResumeCheckpoint {
  return new ResumeCheckpoint(out, settings, earlier, 0, () => Promise.resolve(), (line) => said.push(line));
}

const lines = (out: string): string[] => readFileSync(`${out}.resume.json`, "utf8").split("\n");

describe("the resume file of sonotile extract", () => {
  it("a checkpoint appends the rows computed since the last one, the file's bytes before it as they were — it was one JSON document rewritten whole; read back, every value as computed", async () => {
    const out = output("append");
    const said: string[] = [];
    let firstWrites = 0;
    const checkpoint = new ResumeCheckpoint(out, settings, NOTHING_RESUMED, 0, () => Promise.resolve(void firstWrites++), (line) => said.push(line));
    checkpoint.add(A());
    await checkpoint.settle();
    const first = readFileSync(`${out}.resume.json`);
    expect(lines(out).map((line) => JSON.parse(line || "null"))).toEqual([{ kind: "sonotile extract --resume", settings }, expect.objectContaining({ path: A().path }), null]);
    expect(checkpoint.rows).toBe(1);
    checkpoint.add(B());
    await checkpoint.keep();
    const second = readFileSync(`${out}.resume.json`);
    expect(second.subarray(0, first.length)).toEqual(first);
    expect(lines(out).slice(2)).toEqual([expect.stringMatching(/^\{"path":".*b\.wav".*"zero_crossing_rate":"NaN".*"log_mel":\["-Infinity",/), ""]);
    expect([checkpoint.rows, firstWrites, said]).toEqual([2, 1, []]);
    // Nothing computed since: nothing written.
    await checkpoint.keep();
    expect(readFileSync(`${out}.resume.json`)).toEqual(second);
    const resumed = await readResumeFile(out, settings);
    expect(resumed).toEqual({ rows: new Map([[A().path, A()], [B().path, B()]]), changed: [], appendAt: second.length });
    expect(Number.isNaN(resumed!.rows.get(B().path)!.values.zero_crossing_rate)).toBe(true);
  });

  it("its first checkpoint fsyncs the directory once the file is renamed into it, the appends after it only the file — a crash could lose the new file's entry", async () => {
    const out = output("durable");
    const dir = dirname(out);
    const checkpoint = checkpointOf(out, NOTHING_RESUMED);
    synced.length = 0;
    checkpoint.add(A());
    await checkpoint.settle();
    // The temporary file's bytes, then the directory holding the renamed file.
    expect(synced).toEqual([[expect.stringMatching(/\.partial$/), false], [dir, true]]);
    checkpoint.add(B());
    await checkpoint.keep();
    // Through the handle the first write opened (the temporary file's, renamed): the file, not its directory.
    expect(synced.slice(2)).toEqual([[synced[0][0], false]]);
    await checkpoint.close();
  });

  it("a directory that cannot be flushed after the first write is said once, the checkpoint kept: the next rows are appended, not the file written whole again", async () => {
    const out = output("directory-unsynced");
    const dir = dirname(out);
    const said: string[] = [];
    const checkpoint = checkpointOf(out, NOTHING_RESUMED, said);
    failingSyncs.add(dir);
    try {
      synced.length = 0;
      checkpoint.add(A());
      await checkpoint.settle();
    } finally {
      failingSyncs.delete(dir);
    }
    expect(said).toEqual([`sonotile extract: ${dir} could not be flushed to the disk after ${out}.resume.json was written (EIO): a crash of the system could lose the file; the run goes on`]);
    expect(checkpoint.rows).toBe(1);
    const first = readFileSync(`${out}.resume.json`);
    checkpoint.add(B());
    await checkpoint.keep();
    // One fsync of the file appended to; no temporary file written (the whole file again) nor directory.
    expect(synced.slice(2)).toEqual([[synced[0][0], false]]);
    expect(readFileSync(`${out}.resume.json`).subarray(0, first.length)).toEqual(first);
    expect([checkpoint.rows, said.length, lines(out).length]).toEqual([2, 1, 4]);
    await checkpoint.close();
  });

  it("a torn last line (a run killed while appending it) is left out, and the resumed run's next rows are written over it", async () => {
    const out = output("torn");
    const length = await writeResumeFile(out, settings, [A(), B()]);
    expect(statSync(`${out}.resume.json`).size).toBe(length);
    const [header, rowA] = lines(out);
    truncateSync(`${out}.resume.json`, length - 100);
    const resumed = await readResumeFile(out, settings);
    expect(resumed).toEqual({ rows: new Map([[A().path, A()]]), changed: [], appendAt: Buffer.byteLength(`${header}\n${rowA}\n`) });
    const checkpoint = checkpointOf(out, (await indexResumeFile(out, settings))!);
    checkpoint.add(B());
    await checkpoint.keep();
    expect(checkpoint.rows).toBe(2);
    expect(readFileSync(`${out}.resume.json`).length).toBe(length);
    expect((await readResumeFile(out, settings))!.rows).toEqual(new Map([[A().path, A()], [B().path, B()]]));
  });

  it("a target written again on a later line (its file changed since the earlier) is taken from that line", async () => {
    const out = output("again");
    await writeResumeFile(out, settings, [{ ...A(), file: { file_size: 1, file_mtime: 0 } }, B()]);
    const resumed = await readResumeFile(out, settings);
    expect([[...resumed!.rows.keys()], resumed!.changed]).toEqual([[B().path], [A().path]]);
    const checkpoint = checkpointOf(out, (await indexResumeFile(out, settings))!);
    checkpoint.add(A());
    await checkpoint.keep();
    expect(lines(out)).toHaveLength(5); // header, A as it was, B, A again, and the end
    expect(await readResumeFile(out, settings)).toMatchObject({ rows: new Map([[A().path, A()], [B().path, B()]]), changed: [] });
  });

  it("0.15.0's single JSON document is still read (an interrupted 0.15.0 run resumes), and the first checkpoint writes the file in lines", async () => {
    const out = output("v0.15.0");
    // 0.15.0's writeResumeFile: one document, every row with log_mel as an array, non-finite numbers as text.
    const rows = [A(), B()].map(({ path, file, md5, values }) => ({ path, file, md5, values: { ...values, log_mel: Array.from(values.log_mel) } }));
    writeFileSync(`${out}.resume.json`, JSON.stringify({ kind: "sonotile extract --resume", settings, rows: rows.slice(0, 1) }, (_key, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v)) + "\n");
    const resumed = await readResumeFile(out, settings);
    expect(resumed).toEqual({ rows: new Map([[A().path, A()]]), changed: [], appendAt: null });
    const checkpoint = checkpointOf(out, (await indexResumeFile(out, settings))!);
    checkpoint.add(B());
    await checkpoint.keep();
    expect(checkpoint.rows).toBe(2);
    expect(JSON.parse(lines(out)[0])).toEqual({ kind: "sonotile extract --resume", settings });
    expect(lines(out)).toHaveLength(4);
    expect((await readResumeFile(out, settings))!.rows).toEqual(new Map([[A().path, A()], [B().path, B()]]));
    // Other options are refused as for this format, before the rows.
    await expect(readResumeFile(out, { ...settings, md5: true })).rejects.toThrow(/^--resume: the rows in \S+t\.csv\.resume\.json were computed with no --md5, this run has --md5;/);
  });

  it("a checkpoint's rows are read back from the resume file, not held — the run's table is written from there (rowsOf); the rows since it as held; in the order asked", async () => {
    const out = output("rows-of");
    const checkpoint = checkpointOf(out, NOTHING_RESUMED);
    checkpoint.add(A()); // written at once (an interval of 0)
    checkpoint.add(B()); // while A's write is in flight: held for the next
    await checkpoint.settle();
    expect(lines(out)).toHaveLength(3); // header, A, and the end
    // A's rms_dbfs changed on the disk, its line's length kept: what rowsOf gives is the file's.
    const text = readFileSync(`${out}.resume.json`, "utf8");
    const [was, whole, tenths] = /"rms_dbfs":(-?\d+\.)(\d)/.exec(text)!;
    const now = `"rms_dbfs":${whole}${(Number(tenths) + 1) % 10}`;
    writeFileSync(`${out}.resume.json`, text.replace(was, now));
    const changed = Number(JSON.parse(lines(out)[1]).values.rms_dbfs);
    expect(changed).not.toBe(A().values.rms_dbfs);
    const read = async () => {
      const rows: ComputedTarget[] = [];
      for await (const row of checkpoint.rowsOf([B().path, join(tmp, "none.wav"), A().path])) rows.push(row);
      return rows;
    };
    expect(await read()).toEqual([B(), { ...A(), values: { ...A().values, rms_dbfs: changed } }]);
    expect((await read())[0]).toBe(B()); // held: the row itself
    await checkpoint.keep();
    const [b, a] = await read();
    expect(b).not.toBe(B()); // read back from the file now, every value as computed (a NaN, a −Infinity)
    expect([b, a.values.rms_dbfs]).toEqual([B(), changed]);
  });

  it("the resume file removed or renamed over during the run: its rows are read back all the same, through the file opened at the first checkpoint — the table's bytes those of its rows as computed", async () => {
    const csvOf = async (rows: AsyncIterable<ComputedTarget>) => {
      let text = "";
      for await (const chunk of featureTableCsvChunks((async function* (): AsyncGenerator<FeatureTableRow> {
        for await (const { path, values } of rows) yield { path, values };
      })(), [...FEATURE_NAMES], { stored: false, clips: false })) text += chunk;
      return text;
    };
    const expected = featureTableCsv([A(), B()].map(({ path, values }) => ({ path, values })), [...FEATURE_NAMES], { stored: false, clips: false });
    for (const how of ["removed", "renamed over"] as const) {
      const out = output(`gone-${how.replace(" ", "-")}`);
      const checkpoint = checkpointOf(out, NOTHING_RESUMED);
      checkpoint.add(A());
      await checkpoint.settle();
      rmSync(`${out}.resume.json`);
      if (how === "renamed over") {
        writeFileSync(`${out}.other`, "another file\n");
        renameSync(`${out}.other`, `${out}.resume.json`);
      }
      checkpoint.add(B()); // appended through the open file too
      expect(await csvOf(checkpoint.rowsOf([A().path, B().path])), how).toBe(expected);
      // The run's end keeps its rows where --resume reads them (an interruption says so): the file is put back.
      await checkpoint.keep();
      expect(checkpoint.rows).toBe(2);
      expect((await readResumeFile(out, settings))!.rows, how).toEqual(new Map([[A().path, A()], [B().path, B()]]));
      expect(await csvOf(checkpoint.rowsOf([A().path, B().path])), how).toBe(expected);
      await checkpoint.close();
    }
    // A resumed run reads and appends through the file --resume opened.
    const out = output("gone-resumed");
    await writeResumeFile(out, settings, [A()]);
    const checkpoint = checkpointOf(out, (await indexResumeFile(out, settings))!);
    rmSync(`${out}.resume.json`);
    checkpoint.add(B());
    await checkpoint.keep();
    expect(await csvOf(checkpoint.rowsOf([A().path, B().path]))).toBe(expected);
    await checkpoint.close();
  });

  it("a row read back must be the one of the path asked for: another's line there is refused as a file changed during the run", async () => {
    const out = output("other-row");
    const checkpoint = checkpointOf(out, NOTHING_RESUMED);
    checkpoint.add(A());
    await checkpoint.settle();
    // A's line names another recording now, its length kept.
    const text = readFileSync(`${out}.resume.json`, "utf8");
    const other = A().path.replace(/a\.wav$/, "c.wav");
    writeFileSync(`${out}.resume.json`, text.replace(JSON.stringify(A().path), JSON.stringify(other)));
    const read = async () => {
      for await (const row of checkpoint.rowsOf([A().path])) void row;
    };
    const start = Buffer.byteLength(lines(out)[0]) + 1;
    await expect(read()).rejects.toThrow(`${out}.resume.json: bytes ${start}–${start + Buffer.byteLength(lines(out)[1]) + 1} are not the row of ${A().path} this run wrote there (the file was changed during the run)`);
    await checkpoint.close();
  });

  it("a line that is not a row is refused naming it; a file without a complete header line is not a resume file", async () => {
    const out = output("broken");
    const length = await writeResumeFile(out, settings, [A()]);
    const [header, rowA] = lines(out);
    writeFileSync(`${out}.resume.json`, `${header}\n{"path": 3}\n${rowA}\n`);
    await expect(readResumeFile(out, settings)).rejects.toThrow(`${out}.resume.json: line 2 is not a row of the resume file of an interrupted sonotile extract; remove the file to start over`);
    for (const text of ["", header, "[]\n"]) {
      writeFileSync(`${out}.resume.json`, text);
      await expect(readResumeFile(out, settings), JSON.stringify(text.slice(0, 20))).rejects.toThrow(`${out}.resume.json is not the resume file of an interrupted sonotile extract; remove it to start over`);
    }
    expect(length).toBe(Buffer.byteLength(`${header}\n${rowA}\n`));
  });
});
