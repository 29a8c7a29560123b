/**
 * The README's library snippet runs as written (SPEC §8b: scripts build on it): its code block
 * is run by Node against the built package, in a directory where `rec.wav` is a fixture
 * recording and `10h.wav` a recording longer than the hour the snippet reads at (a 1 kHz one
 * of 3611 s, 7 MB, so the test stays quick).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { cliRun, type CliRun } from "./cli-helpers.js";
import { FIXTURES, ROOT } from "./golden.js";

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
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const snippet = /## Library API\n+```ts\n([\s\S]*?)\n```/.exec(readme)?.[1];
    expect(snippet).toContain('from "sonotile"');
    symlinkSync(join(FIXTURES, "recordings/whombat_tests_bats.wav"), join(dir, "rec.wav"));
    writeFileSync(join(dir, "10h.wav"), toneWav(3611, 1000));
    const script = snippet!.replace('from "sonotile"', `from ${JSON.stringify(pathToFileURL(join(ROOT, "dist/index.js")).href)}`);
    writeFileSync(join(dir, "snippet.mjs"), `${script}\nconsole.log(JSON.stringify({ piece: piece.frames, frames }));\n`);
    const run = await new Promise<CliRun>((done) => {
      execFile(process.execPath, ["snippet.mjs"], { cwd: dir }, (err, stdout, stderr) => done(cliRun(err, stdout, stderr)));
    });
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(run.stdout)).toEqual({ piece: 769, frames: 100_000 }); // 10 s of 13 ms hops (25-sample windows at 1 kHz); 100,000 of its ~278,000 frames
  });
});
