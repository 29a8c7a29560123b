/**
 * The admin commands (the built CLI in dist/) and what they are pointed at. Only `serve` and
 * `dataset add` create a database; the commands that use existing records refuse a data
 * directory (or a PostgreSQL) without one — exit 2, one line naming it — and leave nothing
 * behind. Record ids that are no UUID, or name no record, are bad usage too (exit 2).
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSonotile } from "./cli-helpers.js";
import { ROOT } from "./golden.js";
import { createClip } from "../src/store/clips.js";
import { openDatabase } from "../src/store/db.js";
import { FIXTURES, freshDatabase, migratedTemplate, REAL_PG_URL, tempDir, writeSineWav } from "./store-helpers.js";
import { UUID_RULE } from "../src/store/common.js";

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await dir?.remove();
});

const UUID = "00000000-0000-4000-8000-000000000000";

/** A database of its own on DATABASE_URL's server, without sonotile's tables; `drop` removes it. */
async function blankDatabase(label: string): Promise<{ url: URL; drop(): Promise<void> }> {
  const name = `sonotile_test_${label}_${process.pid}`;
  const admin = postgres(REAL_PG_URL!, { max: 1, onnotice: () => {} });
  await admin`CREATE DATABASE ${admin(name)}`;
  const url = new URL(REAL_PG_URL!);
  url.pathname = `/${name}`;
  return {
    url,
    async drop() {
      await admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`;
      await admin.end();
    },
  };
}

describe("a data directory without a database", () => {
  it("is refused by every command that uses existing records, and not created", async () => {
    const data = join(dir.path, "typo", "data");
    const env = { DATABASE_URL: "" };
    const commands = [["jobs", "list"], ["jobs", "show", UUID], ["dataset", "list"], ["dataset", "reprobe"], ["token", "create"], ["token", "list"], ["token", "disable", UUID], ["worker"]];
    const runs = await Promise.all(commands.map((args) => runSonotile([...args, "--data", data], { env })));
    runs.forEach((r, i) => {
      expect(r, commands[i].join(" ")).toMatchObject({
        code: 2,
        stdout: "",
        stderr: `sonotile ${commands[i][0]}: no database in ${data} (--data DIR or SONOTILE_DATA, default ./data): check the path; \`sonotile serve --data DIR\` creates one\n`,
      });
    });
    expect(existsSync(join(dir.path, "typo"))).toBe(false);
  }, 60_000);

  it.skipIf(!REAL_PG_URL)("a PostgreSQL without sonotile's tables is refused too, and left without them", async () => {
    const { url, drop } = await blankDatabase("blank");
    try {
      const run = await runSonotile(["jobs", "list"], { env: { DATABASE_URL: url.toString() } });
      expect(run).toMatchObject({ code: 2, stderr: expect.stringMatching(/^sonotile jobs: postgres:\/\/.* holds no sonotile database \(no schema_migrations table\): check DATABASE_URL; `sonotile serve` creates the tables\n$/) });
      const blank = postgres(url.toString(), { max: 1, onnotice: () => {} });
      const [{ table }] = await blank`SELECT to_regclass('schema_migrations')::text AS table`;
      await blank.end();
      expect(table).toBeNull();
    } finally {
      await drop();
    }
  });
});

describe("a DATABASE_URL naming a database the server does not have", () => {
  it.skipIf(!REAL_PG_URL)("is refused naming DATABASE_URL (exit 2), and a worker waits for it, saying it does not exist yet", async () => {
    const url = new URL(REAL_PG_URL!);
    url.pathname = `/sonotile_none_${process.pid}`;
    const run = await runSonotile(["jobs", "list"], { env: { DATABASE_URL: url.toString() } });
    expect(run).toMatchObject({ code: 2, stderr: expect.stringMatching(/^sonotile jobs: postgres:\/\/.*: database "sonotile_none_\d+" does not exist: check DATABASE_URL; `sonotile serve` creates sonotile's tables in an existing database \(createdb NAME first\)\n$/) });
    const worker = spawn(process.execPath, ["bin/sonotile.js", "worker", "--threads", "1"], { cwd: ROOT, env: { ...process.env, DATABASE_URL: url.toString() }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    worker.stderr!.on("data", (d) => (stderr += d));
    try {
      await expect.poll(() => stderr, { timeout: 20_000, interval: 50 }).toMatch(/ does not exist yet: waiting up to 120 s for it/);
      worker.kill("SIGTERM");
      expect(await new Promise((r) => worker.once("exit", r))).toBe(0);
    } finally {
      worker.kill("SIGKILL");
    }
  }, 60_000);
});

describe("a worker started beside the first serve on a new PostgreSQL", () => {
  it.skipIf(!REAL_PG_URL)("waits for sonotile's tables, saying so, and starts once they are there (it exited at once)", async () => {
    const { url, drop } = await blankDatabase("wait");
    const worker = spawn(process.execPath, ["bin/sonotile.js", "worker", "--threads", "1"], { cwd: ROOT, env: { ...process.env, DATABASE_URL: url.toString() }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    worker.stdout!.on("data", (d) => (stdout += d));
    worker.stderr!.on("data", (d) => (stderr += d));
    try {
      await expect.poll(() => stderr, { timeout: 20_000, interval: 50 }).toMatch(/ has no sonotile tables yet: waiting up to 120 s for it \(and for `sonotile serve` to create sonotile's tables\)\n$/);
      await (await openDatabase({ url: url.toString() })).close(); // what serve does first: the migrations
      await expect.poll(() => stdout, { timeout: 20_000, interval: 50 }).toMatch(/^sonotile worker \d+ ready/);
      worker.kill("SIGTERM");
      expect(await new Promise((r) => worker.once("exit", r))).toBe(0);
    } finally {
      worker.kill("SIGKILL");
      await drop();
    }
  }, 60_000);

  it("waits for a PostgreSQL that is not up yet, and a signal ends the wait with exit 0", async () => {
    const worker = spawn(process.execPath, ["bin/sonotile.js", "worker", "--threads", "1"], { cwd: ROOT, env: { ...process.env, DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    worker.stderr!.on("data", (d) => (stderr += d));
    try {
      await expect.poll(() => stderr, { timeout: 20_000, interval: 50 }).toBe("sonotile worker: postgres://postgres@127.0.0.1:1/none cannot be reached yet (ECONNREFUSED): waiting up to 120 s for it (and for `sonotile serve` to create sonotile's tables)\n");
      worker.kill("SIGTERM");
      expect(await new Promise((r) => worker.once("exit", r))).toBe(0);
    } finally {
      worker.kill("SIGKILL");
    }
  }, 30_000);
});

describe("a PostgreSQL that cannot be reached", () => {
  it("is named by its URL by every command that uses existing records (exit 1), not by a bare socket error", async () => {
    const env = { DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" };
    const commands = [["jobs", "list"], ["jobs", "show", UUID], ["dataset", "list"], ["token", "list"], ["token", "create"]];
    const runs = await Promise.all(commands.map((args) => runSonotile(args, { env })));
    runs.forEach((r, i) => {
      // It said only "sonotile jobs: connect ECONNREFUSED 127.0.0.1:1".
      expect(r, commands[i].join(" ")).toMatchObject({
        code: 1,
        stdout: "",
        stderr: `sonotile ${commands[i][0]}: postgres://postgres@127.0.0.1:1/none cannot be reached (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1): check DATABASE_URL and that its PostgreSQL is running\n`,
      });
    });
  }, 60_000);
});

describe("record ids on the command line", () => {
  it("an id argument that is no UUID is named with its rule before any database is looked for", async () => {
    const cases = [["token", "disable", "nope"], ["token", "enable", "123"], ["jobs", "show", "nope"], ["jobs", "abort", "x"]];
    const runs = await Promise.all(cases.map((args) => runSonotile([...args, "--data", join(dir.path, "none")], { env: { DATABASE_URL: "" } })));
    runs.forEach((r, i) => {
      const [command, action, id] = cases[i];
      expect(r, `${command} ${action}`).toMatchObject({ code: 2, stderr: `sonotile ${command}: ${command === "token" ? "token" : "job"}-id: ${UUID_RULE}, got '${id}'\n` });
    });
  });

  it("an id that names no record is bad usage (exit 2), as an id that is no UUID", async () => {
    // A database of its own: a migrated embedded one in a data directory, or a fresh one on DATABASE_URL.
    const t = REAL_PG_URL ? await freshDatabase() : null;
    const data = join(dir.path, "existing");
    if (!t) await (await openDatabase({ dataDir: data, initialData: await migratedTemplate() })).close();
    const env = { DATABASE_URL: t?.url ?? "" };
    try {
      const cases: [string[], string][] = [
        [["jobs", "show", UUID], `sonotile jobs: job ${UUID} not found\n`],
        [["jobs", "abort", UUID], `sonotile jobs: job ${UUID} not found\n`],
        [["token", "disable", UUID], `sonotile token: token ${UUID} not found\n`],
        [["jobs", "submit", "--recordings", UUID], `sonotile jobs: targets.recording_ids (--recordings): no recording ${UUID}\n`],
      ];
      for (const [args, stderr] of cases) expect(await runSonotile([...args, "--data", data], { env }), args.join(" ")).toMatchObject({ code: 2, stderr });
    } finally {
      await t?.cleanup();
    }
  }, 60_000);
});

describe("numbers on the command line", () => {
  it("are refused in words that read (exit 2) before any database is looked for, hex too", async () => {
    const env = { DATABASE_URL: "" };
    const none = join(dir.path, "none");
    const cases: [string[], string][] = [
      [["jobs", "submit", "--recordings", UUID, "--priority", "5000"], "sonotile jobs: --priority: must be an integer in [-1000, 1000], got '5000'\n"],
      [["worker", "--threads", "0"], "sonotile worker: --threads: must be an integer in [1, 1024], got '0'\n"],
      // Number() took this for port 8000.
      [["serve", "--port", "0x1F40"], "sonotile serve: --port: must be an integer in [0, 65535], got '0x1F40'\n"],
      // Checked once the database was made (its admin token printed, the data directory left), or not at all.
      [["serve", "--port", "0", "--threads", "0"], "sonotile serve: --threads: must be an integer in [1, 1024], got '0'\n"],
      [["serve", "--port", "0", "--threads", "5000"], "sonotile serve: --threads: must be an integer in [1, 1024], got '5000'\n"],
      [["serve", "--port", "0", "--worker-threads", "5000"], "sonotile serve: --worker-threads: must be an integer in [1, 1024], got '5000'\n"],
    ];
    // A serve that took its --port would listen until killed.
    const runs = await Promise.all(cases.map(([args]) => runSonotile([...args, "--data", none], { env, timeout: 20_000 })));
    runs.forEach((r, i) => expect(r, cases[i][0].join(" ")).toMatchObject({ code: 2, stdout: "", stderr: cases[i][1] }));
    expect(existsSync(none)).toBe(false);
  });

  it("an audio root that does not exist is a bad parameter (exit 2), before any database is made", async () => {
    const none = join(dir.path, "none");
    const missing = join(dir.path, "no-such-root");
    const runs = await Promise.all([["serve"], ["dataset", "add", dir.path]].map((args) => runSonotile([...args, "--audio-root", missing, "--data", none], { env: { DATABASE_URL: "" }, timeout: 20_000 })));
    for (const [i, command] of ["serve", "dataset"].entries()) {
      expect(runs[i], command).toMatchObject({ code: 2, stdout: "", stderr: `sonotile ${command}: --audio-root (or SONOTILE_AUDIO_ROOTS): audio root ${missing} does not exist\n` });
    }
    expect(existsSync(none)).toBe(false);
  });

  it("serve's CORS origins are refused in words that say what an origin is (exit 2), naming the flag or the variable, before anything is made", async () => {
    const none = join(dir.path, "none");
    const cases: [string[], NodeJS.ProcessEnv, string][] = [
      [["--cors-origin", "http://localhost:5173/"], {}, "sonotile serve: --cors-origin: 'http://localhost:5173/' is not an origin: scheme://host[:port], without a path, query or user (did you mean http://localhost:5173?)\n"],
      [["--cors-origin", "http://localhost:5173", "--cors-origin", "localhost:5174"], {}, "sonotile serve: --cors-origin: 'localhost:5174': the scheme must be http or https (scheme://host[:port], e.g. http://localhost:5173)\n"],
      [["--cors-origin", ","], {}, "sonotile serve: --cors-origin: names no origin (scheme://host[:port], e.g. http://localhost:5173)\n"],
      [["--cors-origin", "*"], {}, "sonotile serve: --cors-origin: '*' (every origin) is refused on loopback, where reads need no token: every web page a user of this machine visits could read every recording; name the front end's origins, or listen beyond loopback (--host), where every route needs a token\n"],
      [["--cors-origin", "*,http://localhost:5173", "--host", "0.0.0.0"], {}, "sonotile serve: --cors-origin: '*' (every origin) stands alone: give either '*' or a list of origins\n"],
      [[], { SONOTILE_CORS_ORIGINS: "https://lab.example/app" }, "sonotile serve: SONOTILE_CORS_ORIGINS: 'https://lab.example/app' is not an origin: scheme://host[:port], without a path, query or user (did you mean https://lab.example?)\n"],
      // The flag overrides the variable.
      [["--cors-origin", "lab"], { SONOTILE_CORS_ORIGINS: "https://lab.example" }, "sonotile serve: --cors-origin: 'lab' is not a URL origin (scheme://host[:port], e.g. http://localhost:5173)\n"],
    ];
    const runs = await Promise.all(cases.map(([args, env]) => runSonotile(["serve", "--port", "0", ...args, "--data", none], { env: { DATABASE_URL: "", ...env }, timeout: 20_000 })));
    runs.forEach((r, i) => expect(r, cases[i][0].join(" ")).toMatchObject({ code: 2, stdout: "", stderr: cases[i][2] }));
    expect(existsSync(none)).toBe(false);
  });

  it("a SONOTILE_DB_REPLY_LIMIT that is no number of seconds > 0 is refused naming it (exit 2), before any database is made", async () => {
    const none = join(dir.path, "none");
    const cases: [string, string][] = [["serve", "0"], ["worker", "soon"], ["serve", "0x10"], ["worker", "-5"]];
    const runs = await Promise.all(cases.map(([command, limit]) => runSonotile([command, "--data", none, ...(command === "serve" ? ["--port", "0"] : [])], { env: { DATABASE_URL: "", SONOTILE_DB_REPLY_LIMIT: limit }, timeout: 20_000 })));
    runs.forEach((r, i) => expect(r, cases[i].join(" ")).toMatchObject({ code: 2, stdout: "", stderr: `sonotile ${cases[i][0]}: SONOTILE_DB_REPLY_LIMIT: must be a number of seconds > 0 (got '${cases[i][1]}')\n` }));
    expect(existsSync(none)).toBe(false);
  });

  it("worker takes no arguments, as serve takes none (a directory given to it was ignored)", async () => {
    const r = await runSonotile(["worker", "/some/dir", "--data", join(dir.path, "none")], { env: { DATABASE_URL: "" }, timeout: 20_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("sonotile worker: worker takes no arguments (see --help)\n");
  });
});

describe("dataset add", () => {
  it("dataset list counts each dataset's recordings in words that agree: 1 recording, 2 recordings (it printed '1 recordings')", async () => {
    const t = REAL_PG_URL ? await freshDatabase() : null;
    const data = join(dir.path, "list-count");
    if (!t) await (await openDatabase({ dataDir: data, initialData: await migratedTemplate() })).close();
    const root = join(dir.path, "list-root");
    for (const [site, tones] of [["one", [1000]], ["two", [1000, 1500]]] as const) {
      mkdirSync(join(root, site), { recursive: true });
      for (const tone of tones) await writeSineWav(join(root, site, `${tone}.wav`), 8000, 0.2, tone);
    }
    try {
      const ids: Record<string, string> = {};
      for (const site of ["one", "two"]) {
        const added = await runSonotile(["dataset", "add", join(root, site), "--audio-root", root, "--data", data, "--json"], { env: { DATABASE_URL: t?.url ?? "" } });
        expect(added.code, added.stderr).toBe(0);
        ids[site] = JSON.parse(added.stdout).dataset.id;
      }
      const listed = await runSonotile(["dataset", "list", "--data", data], { env: { DATABASE_URL: t?.url ?? "" } });
      expect(listed).toEqual({ code: 0, stderr: "", stdout: `${ids.one}  one  1 recording  ${realpathSync(join(root, "one"))}\n${ids.two}  two  2 recordings  ${realpathSync(join(root, "two"))}\n` });
    } finally {
      await t?.cleanup();
    }
  });

  it("--json prints the dataset as it is after the import: its recording_count counts what was registered", async () => {
    const t = REAL_PG_URL ? await freshDatabase() : null;
    const data = join(dir.path, "add");
    if (!t) await (await openDatabase({ dataDir: data, initialData: await migratedTemplate() })).close();
    const recordings = join(dir.path, "root", "site");
    mkdirSync(recordings, { recursive: true });
    // Each its own tone: files of the same bytes are reported as copies of each other.
    for (const [i, name] of ["a.wav", "b.wav", "c.wav"].entries()) await writeSineWav(join(recordings, name), 8000, 0.5, 1000 + 500 * i);
    try {
      const r = await runSonotile(["dataset", "add", recordings, "--audio-root", join(dir.path, "root"), "--data", data, "--json"], { env: { DATABASE_URL: t?.url ?? "" } });
      expect(r.code, r.stderr).toBe(0);
      // One document: the file holding the new database's admin token is a field of it. Stdout is
      // no terminal, and a provisioning script's log would keep the key (it was printed, admin_token).
      const printed = JSON.parse(r.stdout);
      expect([printed.admin_token, printed.admin_token_file]).toEqual([undefined, join(data, "admin-token")]);
      const adminKey = readFileSync(join(data, "admin-token"), "utf8").trim();
      expect([adminKey, statSync(join(data, "admin-token")).mode & 0o777]).toEqual([expect.stringMatching(/^st_[A-Za-z0-9_-]{20,}$/), 0o600]);
      expect(r.stdout + r.stderr).not.toContain(adminKey);
      expect(printed.registered).toHaveLength(3);
      expect(printed.dataset).toMatchObject({ name: "site", recording_count: 3 });
      // Again on the same directory — an earlier `add` interrupted, or files added since: its
      // dataset takes the files not registered yet (it was "audio_dir already exists", exit 2).
      await writeSineWav(join(recordings, "d.wav"), 8000, 0.5, 2500);
      const again = await runSonotile(["dataset", "add", recordings, "--audio-root", join(dir.path, "root"), "--data", data], { env: { DATABASE_URL: t?.url ?? "" } });
      expect(again).toMatchObject({ code: 0, stderr: "", stdout: `dataset site (${printed.dataset.id}) of ${realpathSync(recordings)} exists: 1 more recording registered\n` });
      const twice = await runSonotile(["dataset", "add", recordings, "--audio-root", join(dir.path, "root"), "--data", data, "--json"], { env: { DATABASE_URL: t?.url ?? "" } });
      expect(JSON.parse(twice.stdout)).toMatchObject({ run: null, registered: [], changed: [], dataset: { recording_count: 4 } }); // no empty import run recorded
      // A file named as audio that is none is listed and skipped, exit 1 (extract's); the others are registered, other files not looked at.
      writeFileSync(join(recordings, "cut.wav"), "RIFF");
      writeFileSync(join(recordings, "notes.txt"), "site notes");
      await writeSineWav(join(recordings, "e.wav"), 8000, 0.5, 3000);
      const partly = await runSonotile(["dataset", "add", recordings, "--audio-root", join(dir.path, "root"), "--data", data], { env: { DATABASE_URL: t?.url ?? "" } });
      expect(partly).toMatchObject({ code: 1, stderr: "", stdout: expect.stringMatching(new RegExp(`^dataset site \\(${printed.dataset.id}\\) of .* exists: 1 more recording registered\n  skipped cut\\.wav: .+\n$`)) });
      expect(partly.stdout).not.toContain("cut.wav: cut.wav"); // the path once: it read 'skipped cut.wav: cut.wav: …'

      // A registered file replaced since is named, with the way to make it the recording's content (it was not mentioned).
      const registeredSize = statSync(join(recordings, "a.wav")).size;
      await writeSineWav(join(recordings, "a.wav"), 8000, 1);
      const replaced = await runSonotile(["dataset", "add", recordings, "--audio-root", join(dir.path, "root"), "--data", data], { env: { DATABASE_URL: t?.url ?? "" } });
      const a = printed.registered.find((r: { path: string }) => r.path === "a.wav").recording_id;
      expect(replaced).toMatchObject({ code: 1, stderr: "" }); // cut.wav, still unregistered
      expect(replaced.stdout.split("\n").slice(2)).toEqual([`  changed a.wav (${a}): ${registeredSize} bytes when registered, ${statSync(join(recordings, "a.wav")).size} now: the content changed, and reads of the recording answer 409 until the registered file is put back or the new one is made its content (POST /v1/recordings/${a}/refresh)`, ""]);
      // With nothing new to register, what it cannot read is still said, exit 1, as with new files (it was exit 0, silent; a review).
      rmSync(join(recordings, "cut.wav"));
      symlinkSync(join(FIXTURES, "recordings", "whombat_tests_bats.wav"), join(recordings, "elsewhere.wav"));
      const nothingNew = await runSonotile(["dataset", "add", recordings, "--audio-root", join(dir.path, "root"), "--data", data], { env: { DATABASE_URL: t?.url ?? "" } });
      expect(nothingNew).toMatchObject({ code: 1, stderr: "" });
      expect(nothingNew.stdout.split("\n")[1]).toBe("  skipped elsewhere.wav: a symbolic link that leads outside the dataset's directory, which is not followed: move or copy what it points to inside");
      // Months later: b.wav renamed, c.wav copied under a second name, d.wav deleted. The renamed file
      // is b's recording still, the copy is named with its twin, d's recording is said to be missing
      // (a new recording was registered for the renamed file, and nothing said of the others).
      rmSync(join(recordings, "elsewhere.wav"));
      const recordingAt = async (path: string): Promise<string> => {
        const database = t?.db ?? (await openDatabase({ dataDir: data }));
        try {
          return (await database.sql`SELECT id FROM recordings WHERE path = ${path}`)[0].id;
        } finally {
          if (!t) await database.close();
        }
      };
      const b = printed.registered.find((r: { path: string }) => r.path === "b.wav").recording_id;
      const c = printed.registered.find((r: { path: string }) => r.path === "c.wav").recording_id;
      const d = await recordingAt("d.wav");
      renameSync(join(recordings, "b.wav"), join(recordings, "b renamed.wav"));
      writeFileSync(join(recordings, "c copy.wav"), readFileSync(join(recordings, "c.wav")));
      rmSync(join(recordings, "d.wav"));
      writeFileSync(join(recordings, "empty.wav"), ""); // a recorder's file never written
      // A scan registers nothing, and says where a missing recording's file may be: the files not
      // registered of its size (b, c, d and e are tones of one length). It said only `missing`. And
      // which file not registered an import cannot register, and why: it was `not registered` as any.
      const scanned = await runSonotile(["dataset", "scan", recordings, "--audio-root", join(dir.path, "root"), "--data", data], { env: { DATABASE_URL: t?.url ?? "" } });
      expect(scanned).toMatchObject({ code: 0, stderr: "" });
      expect(scanned.stdout.split("\n")).toEqual([
        `dataset site (${printed.dataset.id}) of ${realpathSync(recordings)}: 3 registered, 2 missing, 3 not registered (1 of them unreadable)`,
        "  not registered b renamed.wav",
        "  not registered c copy.wav",
        "  unreadable empty.wav: file is empty — an import cannot register it: replace or remove the file",
        expect.stringMatching(new RegExp(`^  changed a\\.wav \\(${a}\\): `)),
        `  missing b.wav (${b}): no file at this path; the recording and its clips, tags and notes are kept; it may have moved to b renamed.wav, c copy.wav (the same size); an import will check by MD5 (sonotile dataset add), and the recording follows the file with its bytes`,
        `  missing d.wav (${d}): no file at this path; the recording and its clips, tags and notes are kept; it may have moved to b renamed.wav, c copy.wav (the same size); an import will check by MD5 (sonotile dataset add), and the recording follows the file with its bytes`,
        "",
      ]);
      const scannedJson = JSON.parse((await runSonotile(["dataset", "scan", recordings, "--audio-root", join(dir.path, "root"), "--data", data, "--json"], { env: { DATABASE_URL: t?.url ?? "" } })).stdout);
      expect(scannedJson.files.filter((f: { status: string }) => f.status === "unregistered").map((f: { path: string; unreadable: string | null }) => [f.path, f.unreadable]))
        .toEqual([["b renamed.wav", null], ["c copy.wav", null], ["empty.wav", "empty.wav: file is empty"]]);
      rmSync(join(recordings, "empty.wav"));
      const months = await runSonotile(["dataset", "add", recordings, "--audio-root", join(dir.path, "root"), "--data", data], { env: { DATABASE_URL: t?.url ?? "" } });
      const lines = months.stdout.split("\n");
      expect(months).toMatchObject({ code: 0, stderr: "" });
      expect(lines[0]).toBe(`dataset site (${printed.dataset.id}) of ${realpathSync(recordings)} exists: 1 more recording registered, 1 recording found moved`);
      const copy = await recordingAt("c copy.wav");
      expect(lines.slice(1)).toEqual([
        `  moved b.wav → b renamed.wav (${b}): the same bytes; the recording, its clips, tags, features and notes follow the file`,
        `  duplicates (MD5 ${createHash("md5").update(readFileSync(join(recordings, "c.wav"))).digest("hex")}): c copy.wav (${copy}), c.wav (${c}) hold the same bytes`,
        expect.stringMatching(new RegExp(`^  changed a\\.wav \\(${a}\\): `)),
        // c copy.wav, of d's size, was hashed: not d's bytes.
        `  missing d.wav (${d}): no file at this path; the recording and its clips, tags and notes are kept; c copy.wav, of its size, holds other bytes (MD5) and was registered as new: its file moved and edited, or another recording — if its file, delete the new recording and give the file to this one (PATCH /v1/recordings/${d} {"path": …})`,
        "",
      ]);
      // A folder inside the dataset's, or the folder holding it, is no dataset of its own: its files
      // were registered a second time (a bad parameter, exit 2, one line naming the dataset).
      mkdirSync(join(recordings, "night 1"));
      for (const [folder, relation] of [[join(recordings, "night 1"), "lies inside"], [join(dir.path, "root"), "holds"]]) {
        const nested = await runSonotile(["dataset", "add", folder, "--audio-root", join(dir.path, "root"), "--data", data], { env: { DATABASE_URL: t?.url ?? "" } });
        expect(nested).toMatchObject({ code: 2, stdout: "" });
        // The directory typed is named as such beside the API's field (as flags are: `channel (--channel)`); it said only `audio_dir`.
        expect(nested.stderr).toMatch(new RegExp(`^sonotile dataset: audio_dir \\(<dir>\\) "${realpathSync(folder)}" ${relation} ${realpathSync(recordings)}, the directory of dataset ${printed.dataset.id} \\("site"\\): [^\n]+\n$`));
      }
      const outside = await runSonotile(["dataset", "add", dir.path, "--audio-root", join(dir.path, "root"), "--data", data], { env: { DATABASE_URL: t?.url ?? "" } });
      expect(outside).toMatchObject({ code: 2, stdout: "", stderr: `sonotile dataset: audio_dir (<dir>): ${dir.path} is outside the configured audio roots (${realpathSync(join(dir.path, "root"))}): give --audio-root DIR (or SONOTILE_AUDIO_ROOTS) with a directory that holds it; the default is the current directory\n` });
    } finally {
      await t?.cleanup();
    }
  }, 120_000); // fifteen commands, each a process opening the database

  it("ends as failed the import run of an earlier `dataset add` that was killed, and says so", async () => {
    const t = REAL_PG_URL ? await freshDatabase() : null;
    const data = join(dir.path, "killed");
    const database = t?.db ?? (await openDatabase({ dataDir: data, initialData: await migratedTemplate() }));
    const recordings = join(dir.path, "root", "killed");
    mkdirSync(recordings, { recursive: true });
    await writeSineWav(join(recordings, "a.wav"), 8000, 0.5);
    try {
      // What a `dataset add` killed mid-import leaves: its run `running`, owned by a process gone.
      const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
      const [left] = await database.sql`INSERT INTO runs (kind, description, owner) VALUES ('import', 'import of a killed add', ${database.sql.json({ pid: dead, host: hostname() })}) RETURNING id`;
      if (!t) await database.close();
      const r = await runSonotile(["dataset", "add", recordings, "--audio-root", join(dir.path, "root"), "--data", data], { env: { DATABASE_URL: t?.url ?? "" } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe(`sonotile dataset: run ${left.id} (import of a killed add) ended as failed: the process carrying it out no longer exists\n`);
      const after = t?.db ?? (await openDatabase({ dataDir: data }));
      const runs = await after.sql`SELECT id, status FROM runs WHERE kind = 'import' ORDER BY created_at`;
      if (!t) await after.close();
      expect(runs).toEqual([{ id: left.id, status: "failed" }, { id: expect.any(String), status: "completed" }]);
    } finally {
      await t?.cleanup();
    }
  }, 60_000);
});

describe("token create on a database without users", () => {
  /** A migrated database without users, its --data directory, and its DATABASE_URL ("": embedded). */
  async function usersless(name: string) {
    const t = REAL_PG_URL ? await freshDatabase() : null;
    const data = join(dir.path, name);
    if (!t) await (await openDatabase({ dataDir: data, initialData: await migratedTemplate() })).close();
    return { data, env: { DATABASE_URL: t?.url ?? "" }, cleanup: async () => void (await t?.cleanup()) };
  }

  it("for another user prints that user's token, and delivers the first admin's as serve does: to DATA/admin-token (mode 0600) where stdout is no terminal, not printed (it was shown nowhere)", async () => {
    const db = await usersless("first-admin-on-the-way");
    try {
      const r = await runSonotile(["token", "create", "--user", "curator", "--data", db.data], { env: db.env });
      expect(r.code, r.stderr).toBe(0);
      const file = join(db.data, "admin-token");
      const adminKey = readFileSync(file, "utf8").trim();
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const lines = r.stdout.split("\n");
      expect(lines[0]).toBe(`admin token (shown once) written to ${file} (mode 0600), not printed: this output is no terminal, and a service manager's or script's log would keep it — read it, store it, delete the file`);
      expect(lines.slice(1)).toEqual([expect.stringMatching(/^token \S+ for curator \(member\), shown once:$/), expect.stringMatching(/^st_\S{40,}$/), ""]);
      expect(r.stdout).not.toContain(adminKey);
      // The file's key is the admin's token.
      const listed = JSON.parse((await runSonotile(["token", "list", "--user", "admin", "--json", "--data", db.data], { env: db.env })).stdout);
      expect(listed.items.map((t: { key_prefix: string }) => t.key_prefix)).toEqual([adminKey.slice(0, 9)]);
    } finally {
      await db.cleanup();
    }
  });

  it("for the admin prints the admin's token, which it was asked for — its output — and writes no file", async () => {
    const db = await usersless("first-admin-asked-for");
    try {
      const r = await runSonotile(["token", "create", "--json", "--data", db.data], { env: db.env });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).key).toMatch(/^st_\S{40,}$/);
      expect(existsSync(join(db.data, "admin-token"))).toBe(false);
    } finally {
      await db.cleanup();
    }
  });
});

describe("dataset reprobe", () => {
  it("reads again the facts an older sonotile read, names what it corrected and what it left (exit 1), and keeps tags and clips, counting those now above the Nyquist frequency", async () => {
    const t = REAL_PG_URL ? await freshDatabase() : null;
    const data = join(dir.path, "reprobe");
    const env = { DATABASE_URL: t?.url ?? "" };
    const recordings = join(dir.path, "root", "reprobe");
    mkdirSync(recordings, { recursive: true });
    for (const name of ["a.wav", "gone.wav", "same.wav"]) await writeSineWav(join(recordings, name), 8000, 0.5);
    const root = ["--audio-root", join(dir.path, "root"), "--data", data];
    try {
      expect((await runSonotile(["dataset", "add", recordings, ...root], { env })).code).toBe(0);
      const database = t?.db ?? (await openDatabase({ dataDir: data }));
      const ids = Object.fromEntries((await database.sql`SELECT path, id FROM recordings`).map((r) => [r.path, r.id as string]));
      // As 0.4.0 left them: a.wav with other counts, same.wav as they are; gone.wav's file deleted since.
      await database.sql`UPDATE recordings SET probed_by = NULL`;
      // a.wav's rate taken for 16 kHz too: a clip's band of 5–6 kHz fitted then, and is above the 4 kHz Nyquist frequency now.
      await database.sql`UPDATE recordings SET frames = 100, channels = 2, file_samplerate = 16000 WHERE id = ${ids["a.wav"]}`;
      await createClip(database.sql, { recording_id: ids["a.wav"], start_time: 0, end_time: 0.005, low_freq: 5000, high_freq: 6000, created_by: null });
      await database.sql`INSERT INTO tags (key, value) VALUES ('site', 'pond')`;
      await database.sql`INSERT INTO recording_tags (recording_id, tag_id) SELECT ${ids["a.wav"]}, id FROM tags WHERE key = 'site'`;
      if (!t) await database.close();
      rmSync(join(recordings, "gone.wav"));
      const r = await runSonotile(["dataset", "reprobe", ...root], { env });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(1);
      expect(r.stdout.split("\n").sort()).toEqual([
        "",
        "2 recordings read again (1 corrected), 1 left",
        `corrected a.wav (${ids["a.wav"]}): 100 frames, 2 ch, 16000 Hz → 4000 frames, 1 ch, 8000 Hz; 1 clip now reaches above its Nyquist frequency (change or remove its frequency bounds)`,
        `left gone.wav (${ids["gone.wav"]}): file gone.wav does not exist in the dataset's audio_dir`,
      ]);
      const after = t?.db ?? (await openDatabase({ dataDir: data }));
      const rows = await after.sql`
        SELECT r.path, r.frames::int AS frames, r.channels, r.duration, r.probed_by, (SELECT count(*)::int FROM recording_tags rt WHERE rt.recording_id = r.id) AS tags
        FROM recordings r ORDER BY r.path`;
      if (!t) await after.close();
      const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
      expect(rows).toEqual([
        { path: "a.wav", frames: 4000, channels: 1, duration: 0.5, probed_by: version, tags: 1 },
        { path: "gone.wav", frames: 4000, channels: 1, duration: 0.5, probed_by: null, tags: 0 },
        { path: "same.wav", frames: 4000, channels: 1, duration: 0.5, probed_by: version, tags: 0 },
      ]);
      // Nothing left to read but the missing file: said again, and only it.
      const again = await runSonotile(["dataset", "reprobe", ...root, "--json"], { env });
      expect(again.code).toBe(1);
      expect(JSON.parse(again.stdout)).toMatchObject({ stored: 0, corrected: 0, left: 1, complete: true, recordings: [{ path: "gone.wav", kind: "left" }] });
    } finally {
      await t?.cleanup();
    }
  }, 60_000);
});

describe("dataset add on files another dataset registered", () => {
  it("names that dataset and the way to move it, where the files moved to a new disk were registered again without a word, their work left behind", async () => {
    const old = join(dir.path, "season", "old", "bats");
    mkdirSync(old, { recursive: true });
    await writeSineWav(join(old, "a.wav"), 8000, 0.25, 1200);
    await writeSineWav(join(old, "b.wav"), 8000, 0.25, 1700);
    const data = join(dir.path, "season-data");
    const env = { DATABASE_URL: "" };
    const root = join(dir.path, "season");
    const first = await runSonotile(["dataset", "add", old, "--audio-root", root, "--data", data, "--json"], { env });
    expect(first.code, first.stderr).toBe(0);
    const bats = JSON.parse(first.stdout).dataset;
    // The new disk: the files copied, and a dataset made for them as if they were new.
    const moved = join(root, "new", "bats");
    mkdirSync(join(root, "new"));
    renameSync(old, moved);
    const again = await runSonotile(["dataset", "add", moved, "--name", "bats 2", "--audio-root", root, "--data", data], { env });
    expect(again.code, again.stderr).toBe(0);
    const [created, warning, ...rest] = again.stdout.trimEnd().split("\n");
    const id = /^dataset bats 2 \(([0-9a-f-]{36})\): 2 recordings registered from /.exec(created)?.[1];
    expect(id).toBeDefined();
    expect(warning).toBe(`  2 recordings hold the bytes of recordings of dataset bats (${bats.id}, ${bats.audio_dir}): if its files moved here, those are the recordings with the clips, tags, features and notes — delete this dataset (DELETE /v1/datasets/${id}; the files stay) and point that one here (PUT /v1/datasets/${bats.id}/audio_dir)`);
    expect(rest).toEqual([]);
    // --json carries the same: it had only the import's answer.
    const copied = join(root, "newer", "bats");
    mkdirSync(copied, { recursive: true });
    for (const name of ["a.wav", "b.wav"]) writeFileSync(join(copied, name), readFileSync(join(moved, name)));
    const json = await runSonotile(["dataset", "add", copied, "--name", "bats 3", "--audio-root", root, "--data", data, "--json"], { env });
    expect(json.code, json.stderr).toBe(0);
    const holding = JSON.parse(json.stdout).datasets_holding_same_bytes as { id: string; name: string; recordings: number }[];
    expect(new Map(holding.map((d) => [d.name, d.recordings]))).toEqual(new Map([["bats", 2], ["bats 2", 2]]));
    // `add` again on that directory — its dataset exists, nothing new — answers them too (it left the field out), once scanned.
    const existing = await runSonotile(["dataset", "add", copied, "--audio-root", root, "--data", data, "--json"], { env });
    expect(existing.code, existing.stderr).toBe(0);
    expect(JSON.parse(existing.stdout)).toMatchObject({ run: null, registered: [], dataset: { name: "bats 3" }, datasets_holding_same_bytes: holding });
    // One calibration file copied across is no move: its pairs are named, with no advice to delete
    // this dataset (which, followed, destroyed its work and pointed bats at a directory of 1 of its files).
    const season = join(root, "season1");
    mkdirSync(season);
    await writeSineWav(join(season, "own.wav"), 8000, 0.25, 2500);
    writeFileSync(join(season, "calib.wav"), readFileSync(join(moved, "a.wav")));
    const calib = await runSonotile(["dataset", "add", season, "--audio-root", root, "--data", data, "--json"], { env });
    expect(calib.code, calib.stderr).toBe(0);
    const shared = JSON.parse(calib.stdout) as { dataset: { id: string }; datasets_holding_same_bytes: { name: string; moved_here: boolean; files: unknown[] }[] };
    expect(shared.datasets_holding_same_bytes.map((d) => [d.name, d.moved_here, d.files])).toEqual(["bats", "bats 2", "bats 3"].map((name) => [name, false, [{ path: "calib.wav", their_path: "a.wav" }]]));
    const text = await runSonotile(["dataset", "add", season, "--audio-root", root, "--data", data], { env });
    expect(text.stdout.split("\n")[1]).toBe(`  1 file here duplicates files of dataset bats (${bats.id}, ${bats.audio_dir}): calib.wav → a.wav — 1 of its 2 recordings, not its files moved here; each copy is a recording of its own dataset, with its own clips, tags and notes`);
    expect(text.stdout).not.toContain("DELETE");
  }, 60_000);
});

describe("sonotile database copy", () => {
  it("copies a data directory's embedded database into an empty PostgreSQL, whose tokens are then the same; refuses a missing or unreadable --to, or data directory", async () => {
    const audio = join(dir.path, "copy-audio");
    mkdirSync(audio);
    await writeSineWav(join(audio, "a.wav"), 16000, 0.25);
    const data = join(dir.path, "copy-data");
    const env = { DATABASE_URL: "" };
    expect((await runSonotile(["dataset", "add", audio, "--audio-root", dir.path, "--data", data], { env })).code).toBe(0);
    expect(await runSonotile(["database", "copy", "--data", data], { env })).toMatchObject({ code: 2, stderr: "sonotile database: --to: must be a postgres:// URL of an empty database\n" });
    // A password with a / in it, not percent-encoded: postgres.js reads no server in it (it said `Invalid URL`, exit 1).
    expect(await runSonotile(["database", "copy", "--data", data, "--to", "postgres://admin:se/cret@db.example/x"], { env })).toMatchObject({ code: 2,
      stderr: "sonotile database: --to: must be a postgres:// URL of an empty database: postgres.js reads no server in it (Invalid URL)\n" });
    expect(await runSonotile(["database", "copy", "--data", join(dir.path, "nowhere"), "--to", "postgres://postgres@127.0.0.1:1/x"], { env })).toMatchObject({ code: 2, stderr: expect.stringMatching(/^sonotile database: no database in .*nowhere/) });
    if (!REAL_PG_URL) return; // the target is a real PostgreSQL: .ci/run's second pass
    const target = await blankDatabase("copy");
    try {
      const copied = await runSonotile(["database", "copy", "--data", data, "--to", target.url.toString()], { env });
      expect(copied.code, copied.stderr).toBe(0);
      expect(copied.stdout).toMatch(/^users: 1 row$/m); // "1 rows" before
      expect(copied.stdout).toMatch(/^recordings: 1 row$/m);
      expect(copied.stdout).toMatch(/^clips: 0 rows$/m);
      const tokens = (url: string) => runSonotile(["token", "list", "--json", "--data", data], { env: { DATABASE_URL: url } }).then((r) => JSON.parse(r.stdout).items);
      const before = await tokens("");
      expect(before).toHaveLength(1); // the admin token dataset add printed
      expect(await tokens(target.url.toString())).toEqual(before);
    } finally {
      await target.drop();
    }
    // A data directory of an older sonotile (its last migration not applied) is refused, and left as it
    // was: the copy had migrated it in place, though its usage says the data directory is left as it was.
    const older = await openDatabase({ dataDir: data, migrate: false, poolSize: 1 });
    const [{ v }] = await older.sql<{ v: number }[]>`DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations) RETURNING version - 1 AS v`;
    await older.close();
    const second = await blankDatabase("copy-older");
    try {
      const refused = await runSonotile(["database", "copy", "--data", data, "--to", second.url.toString()], { env });
      expect([refused.code, refused.stderr]).toEqual([2, `sonotile database: the source's schema is at version ${v} and this sonotile's at ${v + 1}: start this sonotile's serve on the source once (it upgrades it), stop it, then copy\n`]);
    } finally {
      await second.drop();
    }
    const after = await openDatabase({ dataDir: data, migrate: false, poolSize: 1 });
    expect((await after.sql<{ v: number }[]>`SELECT max(version)::int AS v FROM schema_migrations`)[0].v).toBe(v);
    await after.close();
  }, 60_000);
});
