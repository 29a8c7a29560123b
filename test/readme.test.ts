/**
 * The README as a new user reads it (SPEC §1: set-up and use from the README alone).
 * - Its library snippet runs as written (SPEC §8b: scripts build on it): its code block is run by
 *   Node against the built package, in a directory where `rec.wav` is a fixture recording and
 *   `10h.wav` a recording longer than the hour the snippet reads at (a 1 kHz one of 3611 s, 7 MB,
 *   so the test stays quick).
 * - The same snippet compiles as TypeScript against the package's declarations, under the strict
 *   tsconfig a new TypeScript project gets.
 * - What it names exists: every `sonotile` command, subcommand and option (against the built
 *   CLI's `--help`), every route of the OpenAPI document and no other, the imports its Python
 *   snippets use, and the limits it quotes (against the code's constants).
 * - Its links work where npm shows it, without the repository.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../src/api/app.js";
import { MAX_RANGES } from "../src/api/byte-range.js";
import { MAX_PLAYBACK_SAMPLES } from "../src/api/playback-limit.js";
import { DEFAULT_TILE_LIMITS } from "../src/api/routes/tiles.js";
import { tileStatsStore } from "../src/api/tile-stats.js";
import { DEFAULT_MAX_UNSENT_BYTES, DEFAULT_STALLED_SEND_MS } from "../src/api/unsent-bytes.js";
import { LIST_LIMIT } from "../src/cli/command.js";
import { CHECKPOINT_SPACING } from "../src/engine/recording.js";
import { MAX_RATE_FACTOR } from "../src/engine/rate-ratio.js";
import { MAX_JOB_TARGET_IDS } from "../src/jobs/queue.js";
import { CLEANUP_GRACE_SECONDS } from "../src/store/artifacts.js";
import { RECENT_SCAN_MS } from "../src/store/datasets.js";
import { MAX_THREADS } from "../src/tiles/limits.js";
import { TileService } from "../src/tiles/service.js";
import { cliRun, runSonotile, type CliRun } from "./cli-helpers.js";
import { FIXTURES, ROOT, readmeLibrarySnippet } from "./golden.js";
import { freshDatabase } from "./store-helpers.js";

const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** A fenced code block (its fences may be indented, as in a list item): its language and body. */
const FENCE = /^[ \t]*```(\w*)\n([\s\S]*?)^[ \t]*```/gm;

/** The bodies of the README's fenced code blocks of language `lang` (every block when undefined). */
function fencedBlocks(lang?: string): string[] {
  return [...README.matchAll(FENCE)].filter((m) => lang === undefined || m[1] === lang).map((m) => m[2]);
}

/** The README's inline code spans, paired within each paragraph as Markdown pairs them (fenced blocks left out). */
function codeSpans(): string[] {
  const prose = README.replace(FENCE, "\n\n");
  return prose.split(/\n\s*\n/).flatMap((paragraph) => [...paragraph.matchAll(/`([^`]+)`/g)].map((m) => m[1].replace(/\s+/g, " ")));
}

/**
 * The README's `sonotile` command lines — code spans and lines of fenced blocks (continuation
 * lines joined) that start with `[VAR=… ][npx ]sonotile <command>` — as command, the word after
 * it (a subcommand, a file, or null) and the whole line.
 */
function commandLines(): { command: string; next: string | null; line: string }[] {
  const lines = [...codeSpans(), ...fencedBlocks().flatMap((block) => block.replace(/\\\n/g, " ").split("\n"))];
  return lines.flatMap((line) => {
    const m = /^\s*(?:[A-Z_]+=\S+\s+)*(?:npx\s+)?sonotile\s+([a-z][\w-]*)(?:\s+([a-z][\w-]*)(?![\w.\/-]))?/.exec(line);
    return m ? [{ command: m[1], next: m[2] ?? null, line }] : [];
  });
}

/** The options `--x` that `text` names (`--name=value` as `--name`). */
function flagsIn(text: string): string[] {
  return [...text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]);
}

/** Whether a help text lists `flag` (as a whole option name, e.g. not `--pcen` in `--pcen-gain`). */
function helpHas(help: string, flag: string): boolean {
  return new RegExp(`(?<![\\w-])${flag}(?![\\w-])`).test(help);
}

const dir = mkdtempSync(join(tmpdir(), "sonotile-readme-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A mono 16-bit WAV of `seconds` at `rate` Hz: a 100 Hz tone. */
function toneWav(seconds: number, rate: number): Buffer {
  const frames = seconds * rate;
  const b = Buffer.alloc(44 + 2 * frames);
  b.write("RIFF", 0);
  b.writeUInt32LE(36 + 2 * frames, 4);
  b.write("WAVEfmt ", 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(2 * rate, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write("data", 36);
  b.writeUInt32LE(2 * frames, 40);
  for (let i = 0; i < frames; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 100 * i) / rate)), 44 + 2 * i);
  return b;
}

describe("README", () => {
  it("the library snippet runs as written", async () => {
    const snippet = readmeLibrarySnippet();
    symlinkSync(join(FIXTURES, "recordings/whombat_tests_bats.wav"), join(dir, "rec.wav"));
    writeFileSync(join(dir, "10h.wav"), toneWav(3611, 1000));
    const script = snippet.replace('from "sonotile"', `from ${JSON.stringify(pathToFileURL(join(ROOT, "dist/index.js")).href)}`);
    // And it releases what it opens, as a script copying it into a loop must: the reader's file
    // (it was left open, and Node warned "Closing file descriptor N on garbage collection", DEP0137)
    // and the spectrogram's WebAssembly memory (the instances disposed are noted as they are).
    const noteDisposals = "const disposed = new WeakSet(); const dispose = RecordingSpectrogram.prototype.dispose; RecordingSpectrogram.prototype.dispose = function () { disposed.add(this); return dispose.call(this); };";
    const released = "{ closed: await reader.read(0, 0, 1).then(() => false, (e) => e.message === 'file closed'), disposed: disposed.has(whole) }";
    writeFileSync(join(dir, "snippet.mjs"), `${script.replace(/^(import .*\n)/, `$1${noteDisposals}\n`)}\nconsole.log(JSON.stringify({ piece: piece.frames, frames, released: ${released} }));\n`);
    const run = await new Promise<CliRun>((done) => {
      execFile(process.execPath, ["snippet.mjs"], { cwd: dir }, (err, stdout, stderr) => done(cliRun(err, stdout, stderr)));
    });
    expect(run).toMatchObject({ code: 0, stderr: "" });
    // 10 s of 13 ms hops (25-sample windows at 1 kHz); 100,000 of its ~278,000 frames
    expect(JSON.parse(run.stdout)).toEqual({ piece: 769, frames: 100_000, released: { closed: true, disposed: true } });
  });

  it("the library snippet compiles as TypeScript under `tsc --init`'s settings, against the package's types", async () => {
    // A project of one's own: the package and @types/node under node_modules, the tsconfig that
    // `tsc --init` writes (noUncheckedIndexedAccess and exactOptionalPropertyTypes on) with the
    // README's `types: ["node"]` and library checks on. `decode`'s `data` was Float32Array[], so
    // `spectrogram(data[0], …)` did not compile there.
    const project = join(dir, "ts-project");
    mkdirSync(join(project, "node_modules/@types"), { recursive: true });
    symlinkSync(ROOT, join(project, "node_modules/sonotile"));
    symlinkSync(join(ROOT, "node_modules/@types/node"), join(project, "node_modules/@types/node"));
    writeFileSync(join(project, "package.json"), JSON.stringify({ type: "module" }));
    const compilerOptions = { module: "nodenext", target: "esnext", types: ["node"], strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, verbatimModuleSyntax: true, isolatedModules: true, moduleDetection: "force", skipLibCheck: false, noEmit: true };
    writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["snippet.ts"] }));
    writeFileSync(join(project, "snippet.ts"), readmeLibrarySnippet());
    const run = await new Promise<CliRun>((done) => {
      execFile(join(ROOT, "node_modules/.bin/tsc"), ["-p", project], { cwd: project }, (err, stdout, stderr) => done(cliRun(err, stdout, stderr)));
    });
    expect(run).toMatchObject({ code: 0, stdout: "", stderr: "" });
  }, 60_000); // tsc reads the package's declarations and @types/node

  describe("names only commands and options the CLI has", () => {
    /** `sonotile <command> --help` of every command `sonotile --help` lists. */
    const helps = new Map<string, string>();
    /** `sonotile --help`: the commands, `--help` and `--version`. */
    let top = "";
    beforeAll(async () => {
      top = (await runSonotile(["--help"])).stdout;
      const commands = top.split("\n").filter((l) => /^ {2}[a-z]/.test(l)).map((l) => l.trim().split(/\s+/)[0]);
      for (const [i, r] of (await Promise.all(commands.map((c) => runSonotile([c, "--help"])))).entries()) helps.set(commands[i], r.stdout);
    });

    /** The subcommands a command's usage lines name (`sonotile token disable|enable` gives both), none for most. */
    function subcommands(command: string): string[] {
      return [...helps.get(command)!.matchAll(new RegExp(`sonotile ${command} ([a-z]+(?:\\|[a-z]+)*)`, "g"))].flatMap((m) => m[1].split("|"));
    }

    it("every `sonotile …` line shows a command, its subcommand and its own options", () => {
      const lines = commandLines();
      expect(lines.length).toBeGreaterThan(50);
      for (const { command, next, line } of lines) {
        expect([...helps.keys()], line).toContain(command);
        const subs = subcommands(command);
        if (subs.length && next !== null) expect(subs, line).toContain(next);
        // --help is every command's (main.ts), not one of its option rows.
        for (const flag of flagsIn(line).filter((f) => f !== "--help")) expect(helpHas(helps.get(command)!, flag), `${flag} of sonotile ${command}: ${line}`).toBe(true);
      }
    });

    it("every option of the table of `sonotile serve`'s configuration is serve's, with its variable and its default", () => {
      const table = /Configuration of `sonotile serve`[^\n]*\n\n((?:\|[^\n]*\n)+)/.exec(README)?.[1];
      const rows = table!.split("\n").slice(2).filter(Boolean).map((row) => row.split(" | ").map((cell) => cell.replace(/^\| ?| ?\|$/g, "")));
      expect(rows.length).toBeGreaterThan(5);
      const help = helps.get("serve")!;
      for (const [flagCell, envCell, defaultCell] of rows) {
        const flags = flagsIn(flagCell);
        const helpLines = help.split("\n").filter((l) => flags.some((f) => helpHas(l.trim().split(/ {2,}/)[0], f)));
        for (const flag of flags) expect(helpHas(help, flag), `${flag} of sonotile serve`).toBe(true);
        // Where both the table and the help name the variable, or the default as a value, they agree.
        for (const variable of envCell.match(/SONOTILE_[A-Z_]+/g) ?? []) if (flags.length) expect(helpLines.join("\n"), flagCell).toContain(`env ${variable}`);
        if (flags.length && defaultCell.startsWith("`")) {
          for (const value of defaultCell.split("(")[0].match(/`([^`]+)`/g)!) expect(helpLines.join("\n"), flagCell).toContain(`default ${value.slice(1, -1)}`);
        }
      }
    });

    it("every option named anywhere is a sonotile command's, `npm run bench`'s or Node's", () => {
      const all = [top, ...helps.values()].join("\n");
      const bench = /usage: npm run bench[^\n]*/.exec(readFileSync(join(ROOT, "bench/run.ts"), "utf8"))![0];
      // The README's spelling of the pattern every parameter's flag follows, not flags.
      const patterns = ["--no-name", "--kebab-name"];
      const unknown = flagsIn(README).filter((f) => !helpHas(all, f) && !helpHas(bench, f) && !process.allowedNodeEnvironmentFlags.has(f) && !patterns.includes(f));
      expect([...new Set(unknown)]).toEqual([]);
    });
  });

  it("names every route of the OpenAPI document, and no route it lacks", async () => {
    const t = await freshDatabase();
    // The tile routes are registered only for an app given a tile service, as `serve`'s is.
    const tiles = new TileService({ threads: 1, statsStore: tileStatsStore(t.db.sql) });
    const app = await buildApp({ database: t.db, audioRoots: [], tiles });
    try {
      const documented = new Set(Object.keys((await app.inject({ url: "/openapi.json" })).json().paths).map((path) => path.replace(/\{[^}]*\}/g, "{}")));
      // Paths as the README writes them: `{id}`, `<id>` or `$id` for a parameter (`{x}.{png|f32|npy}`
      // too), `a|b` for alternatives within a segment; a query string or `…` ends them.
      const named = new Set<string>();
      for (const m of README.replace(/<[^<>\n]*>|\$\w+/g, "{}").matchAll(/(?<![\w.])(\/v1(?:\/[^\s?`&)'",;…]*)?|\/health\b|\/version\b)/g)) {
        const segments = m[1].replace(/\/$/, "").split("/").slice(1).map((segment) => (segment.includes("{") ? ["{}"] : segment.split("|")));
        for (const path of segments.reduce<string[]>((paths, alternatives) => paths.flatMap((p) => alternatives.map((a) => `${p}/${a}`)), [""])) named.add(path);
      }
      named.delete("/v1");
      expect([...documented].filter((path) => !named.has(path))).toEqual([]);
      expect([...named].filter((path) => !documented.has(path))).toEqual([]);
    } finally {
      await app.close();
      await tiles.close();
      await t.cleanup();
    }
  });

  it("links only to what npm shows with it: a heading, a URL, or a file the package holds", () => {
    // npm shows the README of the package, not of the repository: a relative link to a file the
    // package lacks (../shared/SPEC.md, bench/README.md) is broken there. Images are left out: npm
    // resolves them against package.json's `repository`, which the package does not name.
    const { files } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { files: string[] };
    const shipped = [...files, "package.json", "README.md", "LICENSE"];
    const links = [...README.replace(FENCE, "").matchAll(/(?<!!)\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
    expect(links.length).toBeGreaterThan(5);
    const broken = links.filter((target) => !/^(#|https?:)/.test(target) && !shipped.some((f) => target === f || target.startsWith(`${f}/`)));
    expect(broken).toEqual([]);
  });

  it("its Python snippets import every module they use", () => {
    const blocks = fencedBlocks("python");
    expect(blocks.length).toBeGreaterThan(1);
    for (const block of blocks) {
      const defined = new Set([
        ...[...block.matchAll(/^import (\w+)(?: as (\w+))?/gm)].map((m) => m[2] ?? m[1]),
        ...[...block.matchAll(/^from \S+ import (\w+)/gm)].map((m) => m[1]),
        ...[...block.matchAll(/^(\w+) =/gm)].map((m) => m[1]),
      ]);
      const code = block.replace(/"[^"\n]*"|'[^'\n]*'|#.*$/gm, '""');
      const used = [...code.matchAll(/(?<![\w.])([A-Za-z_]\w*)\./g)].map((m) => m[1]);
      expect(used.filter((name) => !defined.has(name)), block).toEqual([]);
    }
  });

  it("quotes the limits the code has", () => {
    const text = README.replace(/\s+/g, " ");
    const log2 = Math.log2;
    const quoted = [
      `${DEFAULT_TILE_LIMITS.maxStreamTiles} tiles per stream; 2^${log2(DEFAULT_TILE_LIMITS.maxTilePixels)} pixels (columns × rows) per tile`,
      `${DEFAULT_TILE_LIMITS.maxImageFrames.toLocaleString("en")} frames and 2^${log2(DEFAULT_TILE_LIMITS.maxImagePixels)} pixels per one-shot image`,
      `More than ${MAX_RANGES} separate ranges after merging (\`MAX_RANGES\``,
      `at most 2^${log2(MAX_PLAYBACK_SAMPLES)} samples per request`,
      `hold at most ${DEFAULT_MAX_UNSENT_BYTES / 2 ** 30} GiB together, server-wide (\`maxUnsentBytes\``,
      `for ${DEFAULT_STALLED_SEND_MS / 1000} s while bytes wait for it (\`stalledSendMs\``,
      `(\`CLEANUP_GRACE_SECONDS\`, src/store/artifacts.ts: ${CLEANUP_GRACE_SECONDS / 3600} h)`,
      `print at most ${LIST_LIMIT} records`,
      `worker threads computing tiles, 1 to ${MAX_THREADS}`,
      `(1 to ${MAX_JOB_TARGET_IDS.toLocaleString("en")} —`,
      `while it is at most ${RECENT_SCAN_MS / 1000} s old`,
      `PCEN state kept every ${CHECKPOINT_SPACING} frames`,
      `a term above ${String(MAX_RATE_FACTOR).replace(/\B(?=(\d{3})+$)/g, " ")} (2^${log2(MAX_RATE_FACTOR)})`,
    ];
    expect(quoted.filter((phrase) => !text.includes(phrase))).toEqual([]);
  });
});
