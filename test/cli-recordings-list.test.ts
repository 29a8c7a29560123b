/**
 * `sonotile recordings list` as a process (the built CLI in dist/), on the embedded database (held
 * by this process, the CLI attaching to it) or on DATABASE_URL: the recordings GET /v1/recordings'
 * filters select, in its sorts, every page of them — TSV with a header, or one JSON object a line —
 * on stdout alone; bad flag values exit 2 naming the flag, before any database is opened.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LIST_LIMIT } from "../src/cli/command.js";
import { openDatabase, type Database } from "../src/store/db.js";
import { createDataset } from "../src/store/datasets.js";
import { addRecordingTag, insertRecordings, listRecordings, type NewRecording } from "../src/store/recordings.js";
import { runSonotile } from "./cli-helpers.js";
import { REAL_PG_URL, freshDatabase, migratedTemplate, tempDir, type TestDatabase } from "./store-helpers.js";

const HEADER = "id\tdataset_id\tpath\tdate\ttime\tduration\tsamplerate\tchannels\ttime_expansion\tstate\thash\n";
/** More recordings than one page of the store's listing holds. */
const BULK = LIST_LIMIT + 3;

/** A recording's row as the store inserts it: one second at 8 kHz, its hash made from its path. */
const newRecording = (datasetId: string, path: string, more: Partial<NewRecording> = {}): NewRecording => ({
  dataset_id: datasetId, path, hash: createHash("md5").update(path).digest("hex"), file_size: 16_044, file_samplerate: 8000, frames: 8000, channels: 1, created_by: null, ...more,
});

describe("sonotile recordings list: usage", () => {
  it("exits 2 naming the flag, nothing on stdout, before any database is opened", async () => {
    const cases: [string[], string][] = [
      [["--date-from", "2025-02-30"], "--date-from: must be a date YYYY-MM-DD from 0001-01-01, got '2025-02-30'"],
      [["--date-to", "tomorrow"], "--date-to: must be a date YYYY-MM-DD from 0001-01-01, got 'tomorrow'"],
      [["--sort", "size"], "--sort: must be one of path, created_at, duration, samplerate, date"],
      [["--order", "up"], "--order: must be one of asc, desc"],
      [["--limit", "0"], "--limit: must be an integer >= 1, got '0'"],
      [["--limit", "-1"], "--limit: must be an integer >= 1, got '-1'"],
      [["--limit", "abc"], "--limit: must be an integer >= 1, got 'abc'"],
      [["--limit", "2.5"], "--limit: must be an integer >= 1, got '2.5'"],
      [["--limit"], "--limit needs a value"],
      [["--hash", "abc"], "--hash: must be an MD5 in hex (32 digits), got 'abc'"],
      [["--state", "gone"], "--state: must be one of active, archived, trashed, all"],
      // The tagging's selection flags are not the listing's: without a filter it lists every recording.
      [["--all"], "list takes no --all (without a filter it lists every recording of the state)"],
      [["--ids", "00000000-0000-4000-8000-000000000000"], "list takes no --ids (without a filter it lists every recording of the state)"],
      [["site1/"], "list: expected flags only (see --help)"],
    ];
    const results = await Promise.all(cases.map(([args]) => runSonotile(["recordings", "list", ...args], { env: { DATABASE_URL: "" } })));
    results.forEach((r, i) => expect(r, cases[i][0].join(" ")).toEqual({ code: 2, stdout: "", stderr: `sonotile recordings: ${cases[i][1]}\n` }));
    // And the listing's flags are not the tagging's.
    expect(await runSonotile(["recordings", "tag", "site=pond", "--all", "--limit", "5", "--sort", "date"], { env: { DATABASE_URL: "" } }))
      .toEqual({ code: 2, stdout: "", stderr: "sonotile recordings: tag takes no --limit, --sort\n" });
  }, 60_000);
});

describe("sonotile recordings list on a database", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let real: TestDatabase | undefined;
  let db: Database;
  let night: string;
  let bulk: string;
  /** Recording ids of the night dataset by path. */
  const ids: Record<string, string> = {};
  const list = (args: string[]) => runSonotile(["recordings", "list", ...args, "--data", join(dir.path, "data")], { env: { DATABASE_URL: real?.url ?? "" } });
  /** The paths of a TSV listing's rows (its third column), after checking its header. */
  const paths = (stdout: string) => {
    const [header, ...rows] = stdout.split(/(?<=\n)/);
    expect(header).toBe(HEADER);
    return rows.map((row) => row.split("\t")[2]);
  };

  beforeAll(async () => {
    dir = await tempDir();
    real = REAL_PG_URL ? await freshDatabase() : undefined;
    db = real?.db ?? (await openDatabase({ dataDir: join(dir.path, "data"), initialData: await migratedTemplate() }));
    night = (await createDataset(db.sql, { name: "night", audio_dir: join(dir.path, "night"), created_by: null })).id;
    bulk = (await createDataset(db.sql, { name: "bulk", audio_dir: join(dir.path, "bulk"), created_by: null })).id;
    const nightRows: [string, Partial<NewRecording>, string | null][] = [
      ["n/a.wav", { date: "2025-07-01", time: "22:10:00" }, "pond"],
      ["n/b.wav", { date: "2025-07-01", time: "21:05:00", time_expansion: 10 }, "pond"],
      ["n/c.wav", { date: "2025-06-30", time: "23:00:00" }, "lake"],
      ["n/d.wav", {}, "pond"],
      ["m/e.wav", { date: "2025-07-02", time: "01:00:00" }, "pond"],
      ["n/f.wav", { date: "2025-07-01", time: "20:00:00" }, "pond"],
      // A file name holding a tab and a backslash: one line of eleven cells all the same.
      ["n/odd\tname\\1.wav", {}, null],
    ];
    for (const r of await insertRecordings(db.sql, nightRows.map(([path, more]) => newRecording(night, path, more)))) ids[r.path] = r.id;
    for (const [path, , site] of nightRows) if (site) await addRecordingTag(db.sql, ids[path], { key: "site", value: site, created_by: null });
    await db.sql`UPDATE recordings SET state = 'archived' WHERE id = ${ids["n/f.wav"]}`;
    await insertRecordings(db.sql, Array.from({ length: BULK }, (_, i) => newRecording(bulk, `bulk/r${String(i).padStart(4, "0")}.wav`)));
  }, 60_000);
  afterAll(async () => {
    if (real) await real.cleanup();
    else await db?.close();
    await dir?.remove();
  });

  it("combines the filters, every recording of the state without one", async () => {
    const combined = await list(["--dataset", night, "--search", "N/", "--tag", "site=pond", "--date-from", "2025-07-01"]);
    expect(combined.stderr).toBe("");
    expect(combined.code).toBe(0);
    // m/e.wav is outside the folder, n/c.wav of another site, n/d.wav without a date, n/f.wav archived.
    expect(paths(combined.stdout)).toEqual(["n/a.wav", "n/b.wav"]);
    const withArchived = await list(["--dataset", night, "--tag", "site=pond", "--date-from", "2025-07-01", "--date-to", "2025-07-01", "--state", "all"]);
    expect(paths(withArchived.stdout)).toEqual(["n/a.wav", "n/b.wav", "n/f.wav"]);
    const archived = await list(["--state", "archived"]);
    expect(paths(archived.stdout)).toEqual(["n/f.wav"]);
    const byHash = await list(["--hash", createHash("md5").update("n/c.wav").digest("hex").toUpperCase()]);
    expect(paths(byHash.stdout)).toEqual(["n/c.wav"]);
    const everyOne = await list([]);
    expect(paths(everyOne.stdout)).toHaveLength(BULK + 6);
  }, 60_000);

  it("writes the API's fields as TSV cells, a null empty, a tab and a backslash escaped", async () => {
    const r = await list(["--dataset", night, "--search", "n/b"]);
    expect(r).toEqual({ code: 0, stderr: "", stdout: `${HEADER}${ids["n/b.wav"]}\t${night}\tn/b.wav\t2025-07-01\t21:05:00\t0.1\t80000\t1\t10\tactive\t${createHash("md5").update("n/b.wav").digest("hex")}\n` });
    const odd = await list(["--dataset", night, "--search", "odd"]);
    expect(odd.stdout).toBe(`${HEADER}${ids["n/odd\tname\\1.wav"]}\t${night}\tn/odd\\tname\\\\1.wav\t\t\t1\t8000\t1\t1\tactive\t${createHash("md5").update("n/odd\tname\\1.wav").digest("hex")}\n`);
  }, 60_000);

  it("orders by date, then time of day, then path, those without a date last either way", async () => {
    const asc = await list(["--dataset", night, "--sort", "date"]);
    expect(paths(asc.stdout)).toEqual(["n/c.wav", "n/b.wav", "n/a.wav", "m/e.wav", "n/d.wav", "n/odd\\tname\\\\1.wav"]);
    const desc = await list(["--dataset", night, "--sort", "date", "--order", "desc"]);
    expect(paths(desc.stdout)).toEqual(["m/e.wav", "n/a.wav", "n/b.wav", "n/c.wav", "n/odd\\tname\\\\1.wav", "n/d.wav"]);
    const byDuration = await list(["--dataset", night, "--sort", "duration", "--limit", "1"]);
    expect(paths(byDuration.stdout)).toEqual(["n/b.wav"]); // 0.1 s at time expansion 10, the others 1 s
  }, 60_000);

  it("gives the API's recordings as one JSON object a line (--json)", async () => {
    const r = await list(["--dataset", night, "--sort", "date", "--json"]);
    expect(r.stderr).toBe("");
    const lines = r.stdout.split("\n");
    expect(lines.pop()).toBe("");
    const listed = lines.map((line) => JSON.parse(line));
    const page = await listRecordings(db.sql, { state: "active", dataset_id: night, sort: "date", order: "asc", limit: 50, offset: 0 });
    expect(listed).toEqual(page.items);
    expect(listed[0]).toMatchObject({ id: ids["n/c.wav"], dataset_id: night, path: "n/c.wav", date: "2025-06-30", time: "23:00:00", samplerate: 8000, duration: 1, frames: 8000, file_size: 16_044, tags: [{ key: "site", value: "lake" }], state: "active" });
  }, 60_000);

  it("pages through more than one page of the store's listing, up to --limit", async () => {
    const all = await list(["--dataset", bulk]);
    expect(all.stderr).toBe("");
    const expected = Array.from({ length: BULK }, (_, i) => `bulk/r${String(i).padStart(4, "0")}.wav`);
    expect(paths(all.stdout)).toEqual(expected);
    expect(new Set(all.stdout.trimEnd().split("\n").slice(1).map((row) => row.split("\t")[0])).size).toBe(BULK);

    const limited = await list(["--dataset", bulk, "--limit", String(LIST_LIMIT + 1), "--json"]);
    expect(limited.code).toBe(0);
    expect(limited.stdout.trimEnd().split("\n").map((line) => JSON.parse(line).path)).toEqual(expected.slice(0, LIST_LIMIT + 1));
    expect(limited.stderr).toBe(`sonotile recordings: the first ${LIST_LIMIT + 1} of ${BULK} recordings listed (--limit ${LIST_LIMIT + 1})\n`);

    const last = await list(["--dataset", bulk, "--order", "desc", "--limit", "2"]);
    expect(paths(last.stdout)).toEqual([expected[BULK - 1], expected[BULK - 2]]);
  }, 60_000);

  it("prints only the header when nothing matches (--json: nothing)", async () => {
    expect(await list(["--search", "no such folder/"])).toEqual({ code: 0, stdout: HEADER, stderr: "" });
    expect(await list(["--dataset", night, "--date-from", "2030-01-01", "--json"])).toEqual({ code: 0, stdout: "", stderr: "" });
  }, 60_000);
});
