// `sonotile extract`'s exit status when no target could be computed (SPEC §8: 2 on bad usage or
// parameters, 1 on unreadable input): every file that opened refused an option → 2 naming the
// flags and the first file's reason, as `spectrogram` with the same flag; any other failure → 1.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runSonotile } from "./cli-helpers.js";
import { FIXTURES } from "./golden.js";

const tmp = mkdtempSync(join(tmpdir(), "sonotile-extract-refusals-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Mono, 16 kHz (Nyquist 8000 Hz), 1 s. */
const MONO = join(FIXTURES, "formats/wav_pcm_16.wav");
const extract = (args: string[]) => runSonotile(["extract", ...args], { cwd: tmp });

describe("sonotile extract: a run that computed nothing", () => {
  it("every file refused a parameter: exit 2 naming the flag and the first file's reason, nothing written — as spectrogram with the flag", async () => {
    const cases: [string[], string][] = [
      [["--channel", "3"], `channel (--channel): must be < channels (1)`],
      [["--high-freq", "200000"], `high_freq (--high-freq): must be <= Nyquist (8000 Hz)`],
      [["--window-size", "100"], `window_size (--window-size): gives 1600000 samples at 16000 Hz; the limit is 1048576`],
    ];
    for (const [flags, reason] of cases) {
      const out = join(tmp, "params.csv");
      const r = await extract([MONO, "-o", out, ...flags]);
      expect(r, flags.join(" ")).toEqual({
        code: 2,
        stdout: "",
        stderr: `sonotile extract: skipped ${MONO}: ${reason}\nsonotile extract: no target could be computed: ${flags[0]} suits none of the recordings (${MONO}: ${reason}); nothing written\n`,
      });
      expect(existsSync(out)).toBe(false);
      expect((await runSonotile(["spectrogram", MONO, "-o", join(tmp, "s.png"), ...flags], { cwd: tmp })).code, flags.join(" ")).toBe(2);
    }
  });

  it("a band above every file's spectrum names the band's flag in its skip line, and exits 2; a clip past every file's end too", async () => {
    const band = await extract([MONO, "-o", join(tmp, "band.csv"), "--clip-low-freq", "99999999"]);
    const said = `--clip-low-freq 99999999: band [99999999, Nyquist] Hz lies above this recording's spectrum: its Nyquist frequency is 8000 Hz`;
    expect(band).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: skipped ${MONO}: ${said}\nsonotile extract: no target could be computed: --clip-low-freq suits none of the recordings (${MONO}: ${said}); nothing written\n` });
    const clip = await extract([MONO, "-o", join(tmp, "clip.csv"), "--clip-start", "5", "--clip-end", "6"]);
    expect(clip.code, clip.stderr).toBe(2);
    expect(clip.stderr.trimEnd().split("\n").at(-1)).toBe(`sonotile extract: no target could be computed: --clip-start, --clip-end suit none of the recordings (${MONO}: start 5 s is past the end of the recording (1 s)); nothing written`);
  });

  it("a clip between two frames of every file exits 2 naming the clip's flags, --window-size and --hop-size, its reason naming the flags too; it was exit 1, naming none", async () => {
    // Frames 12.5 ms apart (0.1, 0.1125 s): none is centred in [0.101, 0.104).
    const r = await extract([MONO, "-o", join(tmp, "between.csv"), "--clip-start", "0.101", "--clip-end", "0.104"]);
    const reason = "no frame is centred in [0.101, 0.104) s (the recording has 81 frames, 0.0125 s apart, the last centred at 1 s): the clip lasts 0.003 s, less than the 0.0125 s between frames " +
      "(window_size (--window-size) 0.025 s × hop_size (--hop-size) 0.5 at 16000 Hz) — give a window_size (--window-size) ≤ 0.0059 s or a hop_size (--hop-size) ≤ 0.11 to put a frame in it";
    expect(r).toEqual({ code: 2, stdout: "", stderr: `sonotile extract: skipped ${MONO}: ${reason}\nsonotile extract: no target could be computed: --clip-start, --clip-end, --window-size, --hop-size suit none of the recordings (${MONO}: ${reason}); nothing written\n` });
    expect(existsSync(join(tmp, "between.csv"))).toBe(false);
    // Every file of a batch (192 kHz beside it: the same spacing), as a directory's.
    const bats = join(FIXTURES, "recordings/batdetect2_20230322_172000_selec2.wav");
    const both = await extract([MONO, bats, "-o", join(tmp, "between.csv"), "--clip-start", "0.101", "--clip-end", "0.104"]);
    expect(both.code, both.stderr).toBe(2);
    expect(both.stderr).toMatch(/\nsonotile extract: no target could be computed: --clip-start, --clip-end, --window-size, --hop-size suit none of the recordings \(.*\); nothing written\n$/);
    // What it says puts a frame in it does.
    expect((await extract([MONO, "-o", join(tmp, "fits.csv"), "--clip-start", "0.101", "--clip-end", "0.104", "--hop-size", "0.11"])).code).toBe(0);
  });

  it("a file that does not open says nothing of the options (the other's refusal decides: 2); a file that opened and failed otherwise makes it the input's (1); none opened: 1", async () => {
    const junk = join(tmp, "junk.wav");
    writeFileSync(junk, Uint8Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251));
    const withJunk = await extract([junk, MONO, "-o", join(tmp, "j.csv"), "--channel", "3"]);
    expect(withJunk.code, withJunk.stderr).toBe(2);
    expect(withJunk.stderr).toMatch(/\nsonotile extract: no target could be computed: --channel suits none of the recordings \(.*\); nothing written\n$/);
    // An empty 44.1 kHz recording (no samples) fails on its own, not on the band, which its spectrum holds.
    const empty = join(tmp, "empty.wav");
    writeFileSync(empty, Buffer.from("524946462400000057415645666d7420100000000100010044ac000088580100020010006461746100000000", "hex"));
    const mixed = await extract([empty, MONO, "-o", join(tmp, "m.csv"), "--clip-low-freq", "9000"]);
    expect(mixed.code, mixed.stderr).toBe(1);
    expect(mixed.stderr).toMatch(/\nsonotile extract: no target could be computed; nothing written\n$/);
    const none = await extract([junk, "-o", join(tmp, "n.csv"), "--channel", "3"]);
    expect(none.code, none.stderr).toBe(1);
  });
});
