// Parameter flags generated from the zod schema (SPEC §8): names, forms, errors, help.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseParams, ParamsError, PARAM_NAMES } from "../src/engine/params.js";
import { UsageError } from "../src/cli/errors.js";
import { flagsHelp, numberOption, PARAM_FLAGS, parseCommandLine, withFlagNames, type OptionSpec } from "../src/cli/flags.js";
import { STORE_OPTIONS } from "../src/cli/store-options.js";
import { storeConfig } from "../src/store/config.js";
import { runSonotile } from "./cli-helpers.js";
import { FIXTURES } from "./golden.js";

const OPTIONS: OptionSpec[] = [
  { name: "output", short: "o", placeholder: "FILE", doc: "output" },
  { name: "start", placeholder: "S", doc: "start" },
  { name: "end", placeholder: "S", doc: "end" },
  { name: "verbose", boolean: true, doc: "verbose" },
];

describe("PARAM_FLAGS", () => {
  it("gives every parameter a flag, booleans exactly the parameters whose default is a boolean", () => {
    const defaults = parseParams({}) as Record<string, unknown>;
    expect(PARAM_FLAGS.map((f) => f.param)).toEqual(PARAM_NAMES);
    for (const f of PARAM_FLAGS) expect(f.boolean).toBe(typeof defaults[f.param] === "boolean");
    expect(PARAM_FLAGS.filter((f) => f.boolean).map((f) => f.param)).toEqual(["resample", "clamp", "normalize", "pcen"]);
  });

  it("spells flags as SPEC §8 does", () => {
    const names = new Map(PARAM_FLAGS.map((f) => [f.param, f.name]));
    expect(names.get("window_size")).toBe("window-size");
    expect(names.get("hop_size")).toBe("hop-size");
    expect(names.get("min_dB")).toBe("min-db");
    expect(names.get("max_dB")).toBe("max-db");
    expect(names.get("pcen_smooth")).toBe("pcen-smooth");
    expect(names.get("low_freq")).toBe("low-freq");
    expect(names.get("kaiser_beta")).toBe("kaiser-beta");
    expect(PARAM_FLAGS.find((f) => f.param === "cmap")?.choices).toContain("twilight");
  });
});

describe("parseCommandLine", () => {
  it("parses SPEC §8's example into the parameters it names", () => {
    const cl = parseCommandLine(
      ("rec.wav -o out.png --window-size 0.01 --hop-size 0.25 --window kaiser --kaiser-beta 8 --scale dB --clamp " +
        "--min-db -90 --no-normalize --no-pcen --cmap viridis --start 1.5 --end 3").split(" "),
      OPTIONS,
    );
    expect(cl.positionals).toEqual(["rec.wav"]);
    expect(cl.options).toEqual({ output: "out.png", start: "1.5", end: "3" });
    expect(parseParams(cl.params)).toEqual(parseParams({
      window_size: 0.01, hop_size: 0.25, window: "kaiser", kaiser_beta: 8, scale: "dB", clamp: true,
      min_dB: -90, normalize: false, pcen: false, cmap: "viridis",
    }));
  });

  it("accepts --flag=value for every kind of flag, and null for frequencies", () => {
    const cl = parseCommandLine(["--min-db=-80", "--pcen=false", "--resample=yes", "--low-freq=null", "--high-freq", "8000", "--output=x.npy", "a.wav"], OPTIONS);
    const p = parseParams(cl.params);
    expect([p.min_dB, p.pcen, p.resample, p.low_freq, p.high_freq]).toEqual([-80, false, true, null, 8000]);
    expect(cl.options.output).toBe("x.npy");
  });

  it("keeps the last of repeated flags, reads --help and takes everything after -- as positionals", () => {
    const cl = parseCommandLine(["--pcen", "--no-pcen", "-h", "--", "--not-a-flag.wav"], OPTIONS);
    expect(cl.params).toEqual({ pcen: false });
    expect(cl.help).toBe(true);
    expect(cl.positionals).toEqual(["--not-a-flag.wav"]);
  });

  it("keeps every --audio-root given, as a list of paths (the last alone: the datasets under the others answered 403 outside the audio roots)", () => {
    const cl = parseCommandLine(["--audio-root", "/old/audio", "--audio-root", `/new/audio${delimiter}/more`], STORE_OPTIONS);
    expect(storeConfig({ audioRoot: cl.options["audio-root"] as string }, {}).audioRoots).toEqual(["/old/audio", "/new/audio", "/more"].map((root) => resolve(root)));
  });

  it("rejects unknown flags, missing values and values given to flags that take none, naming the flag", () => {
    const cases: [string[], RegExp][] = [
      [["--windowsize", "0.1"], /unknown flag '--windowsize'/],
      [["--min_dB", "-90"], /unknown flag '--min_dB'/],
      [["--no-window"], /unknown flag '--no-window'/],
      [["-x"], /unknown flag '-x'/],
      [["--window-size"], /--window-size needs a value/],
      [["--window-size", "--pcen"], /--window-size needs a value/],
      [["-o"], /-o needs a value/],
      [["--no-pcen=1"], /--no-pcen takes no value: give --no-pcen, or --pcen=false/],
      [["--verbose=maybe"], /--verbose: must be true or false \(also 1\/0, yes\/no, on\/off\), got 'maybe'/],
    ];
    for (const [args, message] of cases) {
      expect(() => parseCommandLine(args, OPTIONS)).toThrow(UsageError);
      expect(() => parseCommandLine(args, OPTIONS)).toThrow(message);
    }
  });

  it("refuses yes/no text after a boolean flag, naming the flag and its forms (`--pcen false` was a second audio file: 'expects one audio file, got 2')", () => {
    const tail = (text: string) => `(got "${text}" after it; a file of that name goes after a final --, every option before it)`;
    const cases: [string[], string][] = [
      [["rec.wav", "-o", "x.npy", "--pcen", "false"], `--pcen takes no value: give --pcen or --no-pcen, or --pcen=false ${tail("false")}`],
      [["--resample", "Yes", "rec.wav"], `--resample takes no value: give --resample or --no-resample, or --resample=Yes ${tail("Yes")}`],
      [["--no-normalize", "off"], `--no-normalize takes no value: give --normalize or --no-normalize ${tail("off")}`],
      [["--verbose", "off"], `--verbose takes no value: give --verbose, or --verbose=off ${tail("off")}`],
    ];
    for (const [args, message] of cases) expect(() => parseCommandLine(args, OPTIONS), args.join(" ")).toThrow(new UsageError(message));
    // Any other word after one is a positional, as before; so is yes/no text after `--`.
    expect(parseCommandLine(["--pcen", "rec.wav", "--verbose", "2", "--", "false"], OPTIONS)).toMatchObject({ params: { pcen: true }, options: { verbose: true }, positionals: ["rec.wav", "2", "false"] });
    // The digits 1 and 0 too: they name folders (a card's, a deployment's) more often than they mean yes or no.
    expect(parseCommandLine(["--verbose", "1", "--no-pcen", "0"], OPTIONS)).toMatchObject({ params: { pcen: false }, options: { verbose: true }, positionals: ["1", "0"] });
  });

  it("reads --name=VALUE of every boolean flag, a parameter's or a command's own, as --pcen=false always was (yes/no text): false leaves an option unset", () => {
    const given = (args: string[]) => parseCommandLine(args, OPTIONS);
    expect(given(["--verbose=true"]).options).toEqual({ verbose: true });
    expect(given(["--verbose=ON"]).options).toEqual({ verbose: true });
    expect(given(["--verbose", "--verbose=no"]).options).toEqual({});
    expect(given(["--verbose=0", "--verbose"]).options).toEqual({ verbose: true });
    expect(parseParams(given(["--pcen=0", "--clamp=yes"]).params)).toMatchObject({ pcen: false, clamp: true });
  });

  it("refuses a command option that would shadow a parameter flag", () => {
    expect(() => parseCommandLine([], [{ name: "window", doc: "" }])).toThrow(/clashes/);
  });
});

describe("flagsHelp", () => {
  it("lists every flag with its default, and the command's options", () => {
    const help = flagsHelp(OPTIONS);
    expect(help).toMatch(/-o, --output FILE\s+output/);
    for (const f of PARAM_FLAGS) {
      const line = help.split("\n").find((l) => l.trim().startsWith(`--${f.name}`));
      expect(line, f.name).toBeDefined();
      if (f.boolean) expect(line).toContain(`--no-${f.name}`);
    }
    expect(help).toMatch(/--min-db NUMBER\s.*default -100/);
    expect(help).toMatch(/--pcen, --no-pcen\s.*default --pcen/);
    expect(help).toMatch(/--clamp, --no-clamp\s.*default --no-clamp/);
    expect(help).toMatch(/--low-freq NUMBER\|null\s.*default null/);
    expect(help).toMatch(/--window NAME\s.*one of boxcar, .*kaiser; default hann/);
  });
});

describe("withFlagNames", () => {
  it("adds the command-line spelling to each field of a ParamsError", () => {
    const err = (() => {
      try {
        parseParams({ min_dB: 5, pcen_smooth: 2 });
      } catch (e) {
        return e as ParamsError;
      }
    })();
    expect(err).toBeInstanceOf(ParamsError);
    expect(withFlagNames(err!).message).toMatch(/min_dB \(--min-db\): must be <= 0/);
    expect(withFlagNames(err!).message).toMatch(/pcen_smooth \(--pcen-smooth\): must be > 0 and < 1/);
  });
});

describe("numberOption", () => {
  it("reads a number as a parameter flag's value is read: the same texts accepted, with the same values", () => {
    const any = (text: string) => numberOption(text, "start", () => true, "a number");
    for (const [text, value] of [["1", 1], ["+3", 3], [" 1.5 ", 1.5], [".5", 0.5], ["1.", 1], ["1e3", 1000], ["2.5E-2", 0.025]] as const) {
      expect(any(text), text).toBe(value);
      expect(parseParams({ kaiser_beta: text }).kaiser_beta, text).toBe(value);
    }
    expect(any("-2")).toBe(-2);
    for (const text of ["0x10", "0o7", "0b1", "Infinity", "NaN", "", " ", "1_000", "1 2", "1e999"]) {
      expect(() => any(text), text).toThrow(new UsageError(`--start: must be a number, got '${text}'`));
      expect(() => parseParams({ kaiser_beta: text }), text).toThrow(ParamsError);
    }
  });

  it("says what the value must be in the caller's words", () => {
    expect(() => numberOption("5000", "priority", (v) => Number.isInteger(v) && Math.abs(v) <= 1000, "an integer in [-1000, 1000]")).toThrow(new UsageError("--priority: must be an integer in [-1000, 1000], got '5000'"));
    expect(numberOption(undefined, "priority", () => false, "never")).toBeUndefined();
  });
});

describe("integer parameters beyond 2^53", () => {
  // zod's int() refuses unsafe integers too: 1e308 was told "must be an integer", which it is.
  it.each([
    [{ samplerate: 1e308 }, "samplerate: must be <= 100000000"],
    [{ channel: 1e308 }, "channel: must be <= 65534"],
    [{ channel: 1.5 }, "channel: must be an integer"],
    [{ filter_order: 1e308 }, "filter_order: must be between 1 and 16"],
  ])("%j → %s", (input, message) => {
    // The whole message: one rule per field, the bound before the integer rule.
    expect(() => parseParams(input)).toThrow(new ParamsError([{ field: message.split(":")[0], message: message.slice(message.indexOf(":") + 2) }]));
  });
});

describe("PCEN's power within float32", () => {
  // One reason per field: pcen_power 1e308 was told both its float32 bound and that 2^1e308 overflows.
  it.each([
    [{ pcen_power: 1e308 }, "must be <= 3.4028235e+38 (the core computes PCEN in float32)"],
    [{ pcen_power: 200 }, "pcen_bias^pcen_power = 2^200 = 1.607e+60 is outside float32's range [1.18e-38, 3.40e+38]"],
  ])("%j → %s", (input, message) => {
    expect(() => parseParams(input)).toThrow(new ParamsError([{ field: "pcen_power", message }]));
  });
});

describe("PCEN's gain within the range of the core's float32 2^y", () => {
  // (eps + M)^−gain is 2^(−gain·log2(eps + M)), exact for exponents in [−126, 127] only: pcen_gain 7
  // with the default pcen_eps 1e-6 (2^139.5 at M = 0) exited 0 with values up to 2.8 dB off.
  it.each([
    [{ pcen_gain: 7 }, "pcen_gain", /^must be < 6\.37180 with pcen_eps 0\.000001: \(eps \+ M\)\^−gain reaches eps\^−gain = 2\^139\.5, beyond float32's 2\^127/],
    [{ pcen_gain: 6.372 }, "pcen_gain", /^must be < 6\.37180 /],
    [{ pcen_gain: 1e10 }, "pcen_gain", /^must be < 6\.37180 /],
    [{ pcen_gain: 3, pcen_eps: 1e-20 }, "pcen_gain", /^must be < 1\.91154 with pcen_eps 1e-20/],
    // eps > 1: every (eps + M)^−gain is below 2^−126.
    [{ pcen_gain: 5, pcen_eps: 1e30 }, "pcen_gain", /^must be < 1\.26433 with pcen_eps 1e\+30: .* below float32's 2\^−126/],
    // The core's logarithm takes an eps below float32's smallest normal number as that number.
    [{ pcen_gain: 0.5, pcen_eps: 1e-40 }, "pcen_eps", /^must be >= 1\.1754944e-38/],
  ])("%j is refused naming %s", (input, field, message) => {
    const err = (() => {
      try {
        parseParams(input);
      } catch (e) {
        return e as ParamsError;
      }
    })();
    expect(err).toBeInstanceOf(ParamsError);
    expect(err!.issues).toHaveLength(1);
    expect(err!.issues[0].field).toBe(field);
    expect(err!.issues[0].message).toMatch(message);
  });

  it.each([[{ pcen_gain: 6.37 }], [{ pcen_gain: 7, pcen: false }], [{ pcen_gain: 0, pcen_eps: 1e-30 }], [{ pcen_gain: 1.26, pcen_eps: 1e30 }]])("%j is accepted", (input) => {
    expect(() => parseParams(input)).not.toThrow();
  });

  it("the built CLI exits 2 naming pcen_gain and its bound (it wrote values up to 2.8 dB off and exited 0)", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "sonotile-pcen-")), "x.npy");
    try {
      const run = await runSonotile(["spectrogram", join(FIXTURES, "recordings/batdetect2_20230322_172000_selec2.wav"), "-o", out, "--pcen-gain", "7"]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^sonotile spectrogram: pcen_gain \(--pcen-gain\): must be < 6\.37180 with pcen_eps/);
      expect(existsSync(out)).toBe(false);
    } finally {
      rmSync(dirname(out), { recursive: true, force: true });
    }
  });
});
