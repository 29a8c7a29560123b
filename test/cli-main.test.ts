// `sonotile` itself (SPEC §8): the top-level help and the dispatch to subcommands, through the
// built CLI (`npm test` builds first).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runSonotile as sonotile } from "./cli-helpers.js";

const COMMANDS = ["dataset", "decode", "extract", "info", "jobs", "serve", "spectrogram", "token", "worker"];

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
    const none = await sonotile([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/^usage: sonotile <command>/);
    const unknown = await sonotile(["spectogram", "x.wav"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe("");
    expect(unknown.stderr).toMatch(/^sonotile: unknown command 'spectogram'\nusage: sonotile <command>/);
    expect(unknown.stderr).toMatch(/^ {2}spectrogram +spectrogram of a recording/m);
  });
});
