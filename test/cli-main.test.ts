// `sonotile` itself (SPEC §8): the top-level help and the dispatch to subcommands, through the
// built CLI (`npm test` builds first).
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { openSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runSonotile as sonotile } from "./cli-helpers.js";
import { FIXTURES } from "./golden.js";

const CLI = fileURLToPath(new URL("../bin/sonotile.js", import.meta.url));
const COMMANDS = ["clips", "database", "dataset", "decode", "extract", "info", "jobs", "recordings", "serve", "spectrogram", "token", "user", "worker"];

describe("sonotile", () => {
  it("--help lists every command with what it does, and exits 0", async () => {
    const r = await sonotile(["--help"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    const listed = lines.filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/\s+/)[0]);
    expect(listed).toEqual(COMMANDS);
    expect(r.stdout).toMatch(/^ {2}spectrogram +spectrogram of a recording \(or a piece of it\) as PNG, \.npy or \.f32$/m);
    expect(r.stdout).toMatch(/^ {2}decode +decode a recording to float32 samples/m);
    for (const name of COMMANDS) {
      const line = lines.find((l) => l.trim().startsWith(`${name} `));
      expect(line?.slice(2 + name.length).trim().length, `${name} has a summary`).toBeGreaterThan(10);
    }
  });

  it("every listed command answers its own --help", async () => {
    const runs = await Promise.all(COMMANDS.map((name) => sonotile([name, "--help"])));
    runs.forEach((r, i) => {
      expect(r.code, COMMANDS[i]).toBe(0);
      expect(r.stdout, COMMANDS[i]).toMatch(new RegExp(`usage: sonotile ${COMMANDS[i]}\\b`));
    });
  });

  it("every command's --help documents --verbose, once, from its one definition (five commands carried a copy each, the other five none)", async () => {
    const runs = await Promise.all(COMMANDS.map((name) => sonotile([name, "--help"])));
    runs.forEach((r, i) => {
      expect(r.stdout.split("\n").filter((line) => line.trimStart().startsWith("--verbose")), COMMANDS[i]).toEqual([expect.stringMatching(/^ {2}--verbose +stack traces on errors$/)]);
    });
    expect(runs[COMMANDS.indexOf("serve")].stdout).toContain("With --verbose it also logs every request");
  });

  it("`help <command>` is that command's --help (it printed the list of commands)", async () => {
    for (const name of ["spectrogram", "jobs"]) {
      const [asked, flag] = await Promise.all([sonotile(["help", name]), sonotile([name, "--help"])]);
      expect(asked, name).toEqual(flag);
      expect(asked.stdout, name).toMatch(new RegExp(`^usage: sonotile ${name}\\b`));
    }
    expect((await sonotile(["help", "spectogram"])).stderr).toMatch(/unknown command 'spectogram' \(did you mean spectrogram\?\)/);
    // A second word was dropped: `help decode extra` printed decode's help and exited 0.
    const extra = await sonotile(["help", "decode", "extra"]);
    expect([extra.code, extra.stdout, extra.stderr]).toEqual([2, "", "sonotile help: expected one command, got 'decode extra'; sonotile help <command> shows its options\n"]);
  });

  it("--time-expansion's help says what it defaults to: the file's GUANO TE, else 1", async () => {
    const names = ["spectrogram", "decode", "info", "extract"];
    const runs = await Promise.all(names.map((name) => sonotile([name, "--help"])));
    runs.forEach((r, i) => {
      const line = r.stdout.split("\n").find((l) => l.trimStart().startsWith("--time-expansion"));
      expect(line, names[i]).toMatch(/default (the|each) file's GUANO TE, else 1$/);
    });
  });

  it("--version (and -V) prints the package's version and exits 0", async () => {
    const version = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;
    for (const flag of ["--version", "-V"]) expect(await sonotile([flag])).toMatchObject({ code: 0, stdout: `sonotile ${version}\n`, stderr: "" });
  });

  it("no command, or an unknown one: exit 2 with the list on the right stream", async () => {
    // Nothing asked is a usage error: the list goes to standard error (it went to standard output).
    const none = await sonotile([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe("");
    expect(none.stderr).toMatch(/^usage: sonotile <command>/);
    const unknown = await sonotile(["spectogram", "x.wav"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe("");
    // One line (SPEC §8), naming the command it resembles; the list was printed after it.
    expect(unknown.stderr).toBe("sonotile: unknown command 'spectogram' (did you mean spectrogram?); sonotile --help lists the commands\n");
    expect((await sonotile(["frobnicate"])).stderr).toBe("sonotile: unknown command 'frobnicate'; sonotile --help lists the commands\n");
  });

  it("a wrong number of arguments is one line pointing to --help, for every command (most printed their whole usage after it)", async () => {
    const cases: [string[], string][] = [
      [["info"], "sonotile info: expected one audio file, got 0 (see --help)"],
      [["decode", "a.wav", "b.wav", "-o", "x.npy"], "sonotile decode: expected one audio file, got 2 (see --help)"],
      [["dataset", "bogus"], "sonotile dataset: expected 'add <dir>', 'scan <dir>', 'refresh <dir>', 'list' or 'reprobe' (see --help)"],
      [["jobs"], "sonotile jobs: expected submit, list, show, abort, retry or download (see --help)"],
      [["token"], "sonotile token: expected create, list, disable or enable (see --help)"],
      [["serve", "extra"], "sonotile serve: serve takes no arguments (see --help)"],
      [["worker", "extra"], "sonotile worker: worker takes no arguments (see --help)"],
    ];
    const runs = await Promise.all(cases.map(([args]) => sonotile(args, { env: { DATABASE_URL: "" } })));
    runs.forEach((r, i) => expect(r, cases[i][0].join(" ")).toMatchObject({ code: 2, stderr: `${cases[i][1]}\n` }));
  });

  it("cache sizes (serve's --tile-cache, --stats-cache, --filter-cache, --stats-store-limit, their SONOTILE_ variables; worker's --filter-cache) that are no whole number of bytes are refused before anything starts, naming where they were given, exit 2", async () => {
    const rule = "must be a size in whole bytes ≥ 0, a number with an optional binary unit (B, K or KiB, M or MiB, G or GiB, T or TiB; e.g. 256MiB)";
    const cases: [string[], NodeJS.ProcessEnv, string][] = [
      [["serve", "--tile-cache", "12parsecs"], {}, `sonotile serve: --tile-cache: ${rule}, got '12parsecs'`],
      [["serve", "--stats-cache", "-1"], {}, `sonotile serve: --stats-cache: ${rule}, got '-1'`],
      [["serve", "--filter-cache", "0.3KiB"], {}, `sonotile serve: --filter-cache: ${rule}, got '0.3KiB'`],
      [["serve", "--stats-store-limit", "4GB"], {}, `sonotile serve: --stats-store-limit: ${rule}, got '4GB'`],
      [["serve", "--stats-store-limit"], {}, "sonotile serve: --stats-store-limit needs a value"],
      [["serve"], { SONOTILE_STATS_STORE_LIMIT: "-4GiB" }, `sonotile serve: SONOTILE_STATS_STORE_LIMIT: ${rule}, got '-4GiB'`],
      [["serve", "--tile-cache", "1e9"], {}, `sonotile serve: --tile-cache: ${rule}, got '1e9'`],
      [["serve"], { SONOTILE_TILE_CACHE: "256MB" }, `sonotile serve: SONOTILE_TILE_CACHE: ${rule}, got '256MB'`],
      [["serve"], { SONOTILE_FILTER_CACHE: "lots" }, `sonotile serve: SONOTILE_FILTER_CACHE: ${rule}, got 'lots'`],
      [["worker", "--filter-cache", "9999999TiB"], {}, `sonotile worker: --filter-cache: ${rule}, got '9999999TiB'`],
    ];
    const runs = await Promise.all(cases.map(([args, env]) => sonotile(args, { env: { DATABASE_URL: "", SONOTILE_DATA: "/nonexistent/sonotile-data", ...env } })));
    runs.forEach((r, i) => expect(r, cases[i][0].join(" ")).toMatchObject({ code: 2, stderr: `${cases[i][2]}\n` }));
    const help = (await sonotile(["serve", "--help"])).stdout;
    expect(help).toMatch(/^ {2}--tile-cache SIZE +bytes of encoded tiles kept in memory .*; env SONOTILE_TILE_CACHE; default 256 MiB$/m);
    expect(help).toMatch(/^ {2}--stats-cache SIZE +.*; env SONOTILE_STATS_CACHE; default 512 MiB$/m);
    expect(help).toMatch(/^ {2}--filter-cache SIZE +.*; env SONOTILE_FILTER_CACHE; default 64 MiB$/m);
    expect(help).toMatch(/^ {2}--stats-store-limit SIZE +bytes of recording stats .* kept in the database: .*; env SONOTILE_STATS_STORE_LIMIT; default 4 GiB$/m);
  });

  it("serve's connection limits (--header-timeout, --request-timeout, --keep-alive-timeout, --max-connections) out of range are refused before anything starts, naming the flag, exit 2", async () => {
    const seconds = (low: number) => `must be a number of seconds from ${low} to 3600`;
    const cases: [string[], string][] = [
      [["serve", "--header-timeout", "0"], `sonotile serve: --header-timeout: ${seconds(0.1)}, got '0'`],
      [["serve", "--header-timeout", "20s"], `sonotile serve: --header-timeout: ${seconds(0.1)}, got '20s'`],
      [["serve", "--keep-alive-timeout", "7200"], `sonotile serve: --keep-alive-timeout: ${seconds(0.1)}, got '7200'`],
      [["serve", "--request-timeout", "-1"], `sonotile serve: --request-timeout: ${seconds(0.1)}, got '-1'`],
      [["serve", "--request-timeout", "10"], "sonotile serve: --request-timeout: must be at least the header timeout (20 s): a request's time includes its headers', got '10'"],
      [["serve", "--header-timeout", "30", "--request-timeout", "25"], "sonotile serve: --request-timeout: must be at least the header timeout (30 s): a request's time includes its headers', got '25'"],
      [["serve", "--max-connections", "0"], "sonotile serve: --max-connections: must be an integer in [1, 1000000], got '0'"],
      [["serve", "--max-connections", "1.5"], "sonotile serve: --max-connections: must be an integer in [1, 1000000], got '1.5'"],
    ];
    const runs = await Promise.all(cases.map(([args]) => sonotile(args, { env: { DATABASE_URL: "", SONOTILE_DATA: "/nonexistent/sonotile-data" } })));
    runs.forEach((r, i) => expect(r, cases[i][0].join(" ")).toMatchObject({ code: 2, stderr: `${cases[i][1]}\n` }));
    const help = (await sonotile(["serve", "--help"])).stdout;
    expect(help).toMatch(/^ {2}--header-timeout S +seconds a client may take to send a request's headers .*; default 20$/m);
    expect(help).toMatch(/^ {2}--max-connections N +.*; default 1024$/m);
  });

  it("a filter cache too large for a thread's core (past 128 MiB, full, it grows the core past its 192 MiB: the thread retires after every task) is refused before anything starts, naming where it was given and the limit, exit 2", async () => {
    // The pool's own wording (test/tiles.test.ts: TilePool's filterCacheBytes), named by the flag or variable.
    const rule = "must be at most 128 MiB (each thread's DSP core holds its filters and 64 MiB beside them, and past 192 MiB retires its thread after every task, filters and all)";
    const cases: [string[], NodeJS.ProcessEnv, string][] = [
      [["serve", "--filter-cache", "129MiB"], {}, `sonotile serve: --filter-cache: ${rule}, got 129 MiB`],
      [["worker"], { SONOTILE_FILTER_CACHE: "1GiB" }, `sonotile worker: SONOTILE_FILTER_CACHE: ${rule}, got 1 GiB`],
    ];
    const runs = await Promise.all(cases.map(([args, env]) => sonotile(args, { env: { DATABASE_URL: "", SONOTILE_DATA: "/nonexistent/sonotile-data", ...env } })));
    runs.forEach((r, i) => expect(r, cases[i][0].join(" ")).toMatchObject({ code: 2, stderr: `${cases[i][2]}\n` }));
  });

  it("a DATABASE_URL that is no postgres:// URL postgres.js reads is refused by every command that opens the database, naming it, exit 2 — worker said `Invalid URL`, exit 1", async () => {
    const form = "it reads postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://), characters such as @ / : # in its parts percent-encoded; unset, the embedded database of --data is used";
    const commands = [["serve"], ["worker"], ["jobs", "list"], ["clips", "export", "--dataset", "00000000-0000-4000-8000-000000000000"], ["dataset", "list"], ["user", "list"], ["token", "list"]];
    const cases: [string, string][] = [
      ["notaurl", "not a postgres:// URL"],
      ["mysql://db.example/sonotile", "not a postgres:// URL"],
      // A password with a / in it, not percent-encoded: the host read is "admin:se", of port "se". Not echoed: it holds the password.
      ["postgres://admin:se/cret@db.example/sonotile", "postgres.js reads no server in it (Invalid URL)"],
    ];
    for (const [url, why] of cases) {
      const runs = await Promise.all(commands.map((args) => sonotile(args, { env: { DATABASE_URL: url, SONOTILE_DATA: "/nonexistent/sonotile-data" } })));
      runs.forEach((r, i) => expect(r, `DATABASE_URL=${url} sonotile ${commands[i].join(" ")}`).toMatchObject({ code: 2, stdout: "", stderr: `sonotile ${commands[i][0]}: DATABASE_URL: ${why}: ${form}\n` }));
    }
  });

  it("yes/no text after a boolean flag, --verbose too, is refused naming the flag and how to give it, exit 2 (`--pcen false` said 'expects one audio file, got 2'); --name=yes|no is read as the flag's value", async () => {
    const wav = `${FIXTURES}/recordings/batdetect2_20230322_172000_selec2.wav`;
    const tail = (text: string) => `(got "${text}" after it; a file of that name goes after a final --, every option before it)`;
    const refused = await Promise.all([
      sonotile(["spectrogram", wav, "-o", "/tmp/messages-never.npy", "--pcen", "false"]),
      sonotile(["info", wav, "--json", "no"]),
      sonotile(["info", wav, "--verbose", "true"]),
      sonotile(["info", wav, "--verbose=perhaps"]),
    ]);
    expect(refused).toEqual([
      { code: 2, stdout: "", stderr: `sonotile spectrogram: --pcen takes no value: give --pcen or --no-pcen, or --pcen=false ${tail("false")}\n` },
      { code: 2, stdout: "", stderr: `sonotile info: --json takes no value: give --json, or --json=no ${tail("no")}\n` },
      { code: 2, stdout: "", stderr: `sonotile: --verbose takes no value: give --verbose, or --verbose=true ${tail("true")}\n` },
      { code: 2, stdout: "", stderr: `sonotile: --verbose: must be true or false (also 1/0, yes/no, on/off), got 'perhaps'\n` },
    ]);
    const [json, text, quiet, loud] = await Promise.all([
      sonotile(["info", wav, "--json=yes", "--no-md5"]),
      sonotile(["info", wav, "--json=off", "--no-md5=true"]),
      sonotile(["info", "/nonexistent/x.wav", "--verbose=false"]),
      sonotile(["info", "/nonexistent/x.wav", "--verbose=1"]),
    ]);
    expect([json.code, JSON.parse(json.stdout).container, "md5" in JSON.parse(json.stdout)]).toEqual([0, "wav", false]);
    expect([text.code, text.stdout.split("\n")[1], text.stdout.includes("md5:")]).toEqual([0, "format:      wav, pcm_16, 16 bits", false]);
    expect(quiet).toEqual({ code: 1, stdout: "", stderr: "sonotile info: cannot open /nonexistent/x.wav: no such file or directory\n" });
    expect(loud.stderr).toMatch(/^sonotile info: cannot open \/nonexistent\/x.wav: no such file or directory\n.*\n {4}at /s);
  });

  it("a parameter flag given to a command without parameters is refused as none of its options, whatever follows it or is inlined (`info --pcen yes` hinted --pcen=yes, which info does not take either)", async () => {
    const wav = `${FIXTURES}/recordings/batdetect2_20230322_172000_selec2.wav`;
    const notOf = (flag: string, command: string) => ({ code: 2, stdout: "", stderr: `sonotile ${command}: ${flag} is not an option of ${command} (it takes no spectrogram parameters)\n` });
    const refused = await Promise.all([
      sonotile(["info", wav, "--pcen", "yes"]), // hinted: give --pcen or --no-pcen, or --pcen=yes
      sonotile(["info", wav, "--no-pcen", "off"]), // hinted: give --pcen or --no-pcen
      sonotile(["info", wav, "--no-pcen=1"]), // hinted: give --no-pcen, or --pcen=false
      sonotile(["info", wav, "--window-size"]), // said: --window-size needs a value
      sonotile(["decode", wav, "-o", "/tmp/small-mends-never.npy", "--clamp", "on"]),
      sonotile(["info", wav, "--pcen=maybe"]),
    ]);
    expect(refused).toEqual([
      notOf("--pcen", "info"), notOf("--no-pcen", "info"), notOf("--no-pcen", "info"), notOf("--window-size", "info"),
      notOf("--clamp", "decode"), notOf("--pcen", "info"),
    ]);
    // A command that takes parameters keeps its hint; --help still answers beside a stray flag.
    const [spectrogram, help] = await Promise.all([
      sonotile(["spectrogram", wav, "-o", "/tmp/small-mends-never.npy", "--pcen", "yes"]),
      sonotile(["info", "--pcen", "yes", "--help"]),
    ]);
    expect(spectrogram.stderr).toMatch(/^sonotile spectrogram: --pcen takes no value: give --pcen or --no-pcen, or --pcen=yes /);
    expect([help.code, help.stdout]).toEqual([0, expect.stringMatching(/^usage: sonotile info\b/)]);
  });

  it("--verbose after `--` is a file name, not the option", async () => {
    const r = await sonotile(["info", "--", "--verbose"]);
    expect(r).toMatchObject({ code: 1, stderr: "sonotile info: cannot open --verbose: no such file or directory\n" }); // said `ENOENT`, as extract did not
  });

  it("standard output that cannot be written (a full disk): one line and exit 1 — it was a Node stack trace", () => {
    const full = spawnSync(process.execPath, [CLI, "--help"], { stdio: ["ignore", openSync("/dev/full", "w"), "pipe"], encoding: "utf8" });
    expect([full.status, full.stderr]).toEqual([1, "sonotile: cannot write to standard output: ENOSPC\n"]);
  });

  it("standard output whose reader went away (`| head`): a quiet end, exit 0", async () => {
    const child = spawn(process.execPath, [CLI, "--help"], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy(); // closed before the CLI writes: its write fails with EPIPE
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const [code] = await once(child, "close");
    expect([code, stderr]).toEqual([0, ""]);
  });
});
