/**
 * scripts/patch-postgres.mjs, the script that mends postgres.js 3.4.9's connection.js (npm runs it as
 * the `dependencies` script after an install and at `prepack`), run
 * as npm runs it on a copy of the package: every edit in both the ESM and the CommonJS copies; a
 * package mended by the earlier script gets the edits it lacks (that script skipped every file
 * holding its one mark, so the COPY edits never reached an installed node_modules); another
 * version fails the install, naming the file, and nothing is written.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./store-helpers.js";

const SCRIPT = fileURLToPath(new URL("../scripts/patch-postgres.mjs", import.meta.url));
const INSTALLED = resolve(createRequire(import.meta.url).resolve("postgres"), "../../..");
const FILES = ["src/connection.js", "cjs/src/connection.js"];
type Edit = [before: string, after: string, issue: string];

let edits: Edit[];
let tmp: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  edits = ((await import(pathToFileURL(SCRIPT).href)) as { EDITS: Edit[] }).EDITS;
  tmp = await tempDir("sonotile-patch-postgres-");
});

afterAll(async () => {
  await tmp?.remove();
});

/** The installed file as 3.4.9 ships it: every edit the script makes undone (it was mended at install, by this script or the earlier one). */
function original(file: string): string {
  return edits.reduce((source, [before, after]) => source.replace(after, before), readFileSync(join(INSTALLED, file), "utf8"));
}

/** A project in `name`: the script, and the package with each connection.js as `source` makes it. */
function project(name: string, source: (file: string) => string): string {
  const root = join(tmp.path, name);
  mkdirSync(join(root, "scripts"), { recursive: true });
  cpSync(SCRIPT, join(root, "scripts/patch-postgres.mjs"));
  cpSync(INSTALLED, join(root, "node_modules/postgres"), { recursive: true });
  for (const file of FILES) writeFileSync(join(root, "node_modules/postgres", file), source(file));
  return root;
}

/** Runs the script as npm's `dependencies` script does, in `root`. */
function install(root: string): { status: number | null; stderr: string } {
  const run = spawnSync(process.execPath, ["scripts/patch-postgres.mjs"], { cwd: root, encoding: "utf8" });
  return { status: run.status, stderr: run.stderr };
}

const read = (root: string, file: string) => readFileSync(join(root, "node_modules/postgres", file), "utf8");

describe("scripts/patch-postgres.mjs", () => {
  it("makes every edit in both copies of 3.4.9's connection.js; a second run changes nothing", () => {
    const root = project("fresh", original);
    expect(install(root)).toEqual({ status: 0, stderr: "" });
    for (const file of FILES) {
      const source = read(root, file);
      for (const [before, after] of edits) {
        expect(source).toContain(after);
        // Each original text is gone but where its edit only adds lines after it.
        if (!after.startsWith(before)) expect(source).not.toContain(before);
      }
    }
    const once = FILES.map((file) => read(root, file));
    expect(install(root)).toEqual({ status: 0, stderr: "" });
    expect(FILES.map((file) => read(root, file))).toEqual(once);
  });

  it("gives a package mended by the earlier script (its mark, none of the COPY edits) the edits it lacks — that script skipped a file holding its mark", () => {
    const earlier = (file: string) => edits.filter(([, , issue]) => issue === "#1208").reduce((source, [before, after]) => source.replace(before, after), original(file));
    const root = project("earlier", earlier);
    expect(read(root, FILES[0])).toContain("/* sonotile: mended (porsager/postgres#1208) */");
    expect(install(root)).toEqual({ status: 0, stderr: "" });
    const fresh = project("reference", original);
    install(fresh);
    for (const file of FILES) expect(read(root, file)).toBe(read(fresh, file));
    expect(read(root, "src/connection.js")).toContain("    /* sonotile: mended (porsager/postgres#1016) */\n    socket.resume()");
  });

  it("fails the install loudly on another version's source, naming the file and the issue to check, and writes neither copy", () => {
    // As if a release had changed CopyDone (the CommonJS copy is changed the same way by its build).
    const other = (file: string) => original(file).replace("  function CopyDone() {\n    stream && stream.push(null)", "  function CopyDone() {\n    stream && stream.end()");
    const root = project("other", other);
    const { status, stderr } = install(root);
    expect(status).toBe(1);
    expect(stderr).toMatch(/^scripts\/patch-postgres\.mjs: postgres 3\.4\.9's src\/connection\.js: it is not the 3\.4\.9 source this patch was written for; check whether porsager\/postgres#499 is fixed there and update the script\n$/);
    for (const file of FILES) expect(read(root, file)).toBe(other(file));
  });
});
