/**
 * sonotile as a project that depends on it gets it (SPEC §8b: other programs build on it): the
 * tarball `npm pack` makes, installed by npm with its defaults into a project of its own, imported
 * by name from an ES module, from CommonJS and from strictly type-checked TypeScript, its command
 * run through node_modules/.bin from another directory, its embedded database created where the
 * project runs it.
 *
 * postgres.js 3.4.9 needs sonotile's mend (scripts/patch-postgres.mjs) or a lost connection ends
 * the process. As a dependency's `postinstall` the mend ran only where the project let it (npm 11
 * skips it under ignore-scripts or once denied, and fails the install under strict-allow-scripts),
 * and a project that skipped it was left unmended without a word: the package now bundles its
 * mended copy and has no install script, and the store refuses an unmended one, naming the command
 * that mends it.
 *
 * Packs the build the suite made (`npm test` builds first): `npm pack --ignore-scripts`, since
 * `prepack` would build again. npm resolves the dependencies afresh, as for any project, from its
 * cache where it can (--prefer-offline: ~20 s here), else from the registry.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EDITS } from "../scripts/patch-postgres.mjs";
import { cliRun, type CliRun } from "./cli-helpers.js";
import { FIXTURES, ROOT, readmeLibrarySnippet } from "./golden.js";

const dir = mkdtempSync(join(tmpdir(), "sonotile-package-"));
const app = join(dir, "app");
const elsewhere = join(dir, "elsewhere");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** This process's environment without what npm passes to the scripts it runs (`npm test`'s own config). */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && key !== "DATABASE_URL"));

/** Runs `file args` in `cwd`: its exit code and both streams. */
function run(file: string, args: string[], cwd: string): Promise<CliRun> {
  return new Promise((done) => execFile(file, args, { cwd, env: ENV, maxBuffer: 64 << 20 }, (err, stdout, stderr) => done(cliRun(err, stdout, stderr))));
}

/** The installed package's command, as `npx sonotile` runs it. */
const sonotile = (args: string[], cwd = app) => run(process.execPath, [join(app, "node_modules/.bin/sonotile"), ...args], cwd);

/** The installed package's mending script, loaded from where it was installed. */
type MendScript = typeof import("../scripts/patch-postgres.mjs");
const installedScript = join(app, "node_modules/sonotile/scripts/patch-postgres.mjs");
const mendScript = () => import(pathToFileURL(installedScript).href) as Promise<MendScript>;

let packed: { filename: string; files: { path: string }[]; size: number; unpackedSize: number };

beforeAll(async () => {
  const pack = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], ROOT);
  expect(pack, pack.stderr).toMatchObject({ code: 0 });
  [packed] = JSON.parse(pack.stdout);
  mkdirSync(app);
  mkdirSync(elsewhere);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "annotations", version: "1.0.0", private: true }));
  const install = await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", join(dir, packed.filename)], app);
  expect(install, install.stderr).toMatchObject({ code: 0 });
}, 300_000);

describe("the tarball", () => {
  it("holds the build, the migrations, the licence, the changelog and the mended postgres.js, and no sources, tests or benchmarks", () => {
    const paths = packed.files.map((f) => f.path);
    for (const path of ["package.json", "README.md", "LICENSE", "CHANGELOG.md", "bin/sonotile.js", "dist/index.js", "dist/index.d.ts", "dist/tiles/worker.js", "dist/web/index.html", "build/sonotile.wasm", "src/store/migrations/001_initial.sql", "scripts/patch-postgres.mjs", "node_modules/postgres/src/connection.js"]) {
      expect(paths, path).toContain(path);
    }
    expect(paths.filter((p) => /^(test|bench|assembly|web|docs|\.ci)\/|^src\/(?!store\/migrations\/)|\.ts$(?<!\.d\.ts)/.test(p))).toEqual([]);
  });
});

describe("installed by npm with its defaults", () => {
  it("ships its source maps with their sources: the TypeScript a stack trace or a debugger points at is in the map (the package has no src/)", () => {
    const installed = join(app, "node_modules/sonotile");
    const maps = packed.files.map((f) => f.path).filter((p) => p.endsWith(".js.map"));
    expect(maps.length).toBeGreaterThan(100);
    const missing = maps.flatMap((path) => {
      const map = JSON.parse(readFileSync(join(installed, path), "utf8")) as { sources: string[]; sourcesContent?: (string | null)[] };
      return map.sources.filter((source, i) => typeof map.sourcesContent?.[i] !== "string" && !existsSync(join(installed, dirname(path), source))).map((source) => `${path}: ${source}`);
    });
    expect(missing).toEqual([]);
    const index = JSON.parse(readFileSync(join(installed, "dist/index.js.map"), "utf8"));
    expect([index.sources, index.sourcesContent]).toEqual([["../src/index.ts"], [readFileSync(join(ROOT, "src/index.ts"), "utf8")]]);
  });


  it("needs no install script: the postgres.js sonotile resolves is its own bundled copy, mended", async () => {
    const manifest = JSON.parse(readFileSync(join(app, "node_modules/sonotile/package.json"), "utf8"));
    expect(Object.keys(manifest.scripts).filter((s) => ["preinstall", "install", "postinstall", "prepare"].includes(s))).toEqual([]);
    const { postgresRoot, mendState } = await mendScript();
    expect(postgresRoot()).toBe(join(app, "node_modules/sonotile/node_modules/postgres/"));
    expect(mendState(postgresRoot())).toEqual({ version: "3.4.9", unmended: [] });
  });

  it("imports by name from an ES module: decode, spectrogram, and a TilePool whose workers load from node_modules", async () => {
    writeFileSync(join(app, "batch.mjs"), `
      import { decode, spectrogram, TilePool, parseParams } from "sonotile";
      const path = ${JSON.stringify(join(FIXTURES, "recordings/batdetect2_20230322_172000_selec2.wav"))};
      const { samplerate, data } = await decode(path);
      const s = spectrogram(data[0], samplerate, { pcen: false });
      const pool = new TilePool({ threads: 1 });
      const rec = await pool.stats({ kind: "stats", path, timeExpansion: 1, params: parseParams({ pcen: false }) });
      await pool.close();
      console.log(JSON.stringify({ samplerate, frames: s.frames, poolFrames: rec.stats.frames }));`);
    const r = await run(process.execPath, ["batch.mjs"], app);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const out = JSON.parse(r.stdout);
    expect(out.samplerate).toBe(192000);
    expect(out.poolFrames).toBe(out.frames);
  });

  it("loads from CommonJS through await import, and require says why it cannot", async () => {
    writeFileSync(join(app, "legacy.cjs"), `
      let required;
      try { require("sonotile"); } catch (err) { required = err.code; }
      import("sonotile").then(({ RealFFT }) => console.log(JSON.stringify({ required, pairs: new RealFFT(1102).forward(new Float32Array(1102)).length / 2 })));`);
    const r = await run(process.execPath, ["legacy.cjs"], app);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(r.stdout)).toEqual({ required: "ERR_REQUIRE_ASYNC_MODULE", pairs: 552 });
  });

  it("type-checks the README's library snippet with strict tsc, the package's declarations included, and names every type the API's signatures use", async () => {
    writeFileSync(join(app, "snippet.mts"), readmeLibrarySnippet());
    // Each type an exported signature takes or gives is importable by name (TilePool.stats took a
    // WorkerTask the package did not export), and the pool's internal `run` is not in the API.
    writeFileSync(join(app, "names.mts"), `
      import { SCALAR_FEATURES, type AudioFileReader, type CheckedFile, type FeatureOptions, type PackedStats, type PcenState, type ScalarFeature,
        type Source, type StatsResult, type StatsTask, type StreamOptions, TilePool } from "sonotile";
      export const pass = (pool: TilePool, source: Source, checked: CheckedFile): Promise<StatsResult> => pool.stats({ kind: "stats", ...source, checked } satisfies StatsTask);
      export const frames = (stats: PackedStats, checkpoint: PcenState) => stats.frames + (checkpoint?.length ?? 0);
      export const options: FeatureOptions & StreamOptions = {};
      export const first: ScalarFeature = SCALAR_FEATURES[0];
      export const readers: AudioFileReader[] = [];
      // @ts-expect-error run is the pool's protocol with its worker, left out of the declarations
      export const run = (pool: TilePool) => pool.run;`);
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify({
      compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", noEmit: true, skipLibCheck: false, types: ["node"], typeRoots: [join(ROOT, "node_modules/@types")] },
      files: ["snippet.mts", "names.mts"],
    }));
    const r = await run(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], app);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("runs its command from another directory, and creates the embedded database in ./data of the directory it runs in", async () => {
    const info = await sonotile(["info", join(FIXTURES, "recordings/batdetect2_20230322_172000_selec2.wav"), "--json"], elsewhere);
    expect(info).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(info.stdout)).toMatchObject({ samplerate: 192000 });
    // A dataset's files lie inside its directory (a link out of it is not followed): one of the
    // fixture signal's, written as WAV by the installed command.
    const audio = join(dir, "audio");
    mkdirSync(audio);
    expect(await sonotile(["decode", join(FIXTURES, "formats/flac_pcm_16.flac"), "-o", join(audio, "signal.wav")], elsewhere)).toMatchObject({ code: 0, stderr: "" });
    const added = await sonotile(["dataset", "add", audio, "--audio-root", dir, "--json"]);
    expect(added, added.stderr).toMatchObject({ code: 0 });
    expect(existsSync(join(app, "data"))).toBe(true);
    const listed = await sonotile(["dataset", "list", "--json"]);
    expect(listed).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(listed.stdout).items.map((d: { recording_count: number }) => d.recording_count)).toEqual([1]);
  });

  it("refuses a postgres.js put in the bundled one's place unmended, naming the command that mends it", async () => {
    const { postgresRoot, mendState } = await mendScript();
    const root = postgresRoot();
    for (const file of ["src/connection.js", "cjs/src/connection.js"]) {
      writeFileSync(root + file, EDITS.reduce((source, [before, after]) => source.replace(after, before), readFileSync(root + file, "utf8")));
    }
    expect(mendState(root).unmended).toEqual(["src/connection.js", "cjs/src/connection.js"]);
    const refused = await sonotile(["dataset", "list", "--json"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`postgres.js 3.4.9 in ${root} lacks sonotile's mends of porsager/postgres#1208 and #499`);
    expect(refused.stderr).toContain(`Mend it with \`node ${installedScript}\``);
    const mended = await run(process.execPath, [installedScript], elsewhere);
    expect(mended).toMatchObject({ code: 0, stderr: "" });
    expect(await sonotile(["dataset", "list", "--json"])).toMatchObject({ code: 0, stderr: "" });
  });
});
