/**
 * Command-line flags for the spectrogram parameters (SPEC §8), generated from the zod schema of
 * src/engine/params.ts so that every parameter is a flag and no flag can drift from the schema:
 *   boolean parameters   --name / --no-name       (--pcen, --no-pcen)
 *   other parameters     --kebab-name VALUE       (min_dB → --min-db, window_size → --window-size)
 * `--flag=value` works for both (a boolean's value yes/no text: --pcen=false). Values stay text:
 * `parseParams` converts and validates them, so the CLI reports bad values exactly as the library
 * and the HTTP API do.
 *
 * Commands (spectrogram, serve, extract…) add their own options and call `parseCommandLine`.
 * Parsed by hand rather than with node:util parseArgs, which refuses values that start with a
 * dash (`--min-db -90`) and has no nullable or `--no-` forms on Node 20's older releases.
 */
import type { delimiter } from "node:path";
import { z } from "zod";
import { timeExpansionProblem } from "../audio/expansion.js";
import { booleanFromText, OTHER_BOOLEAN_TEXTS, parseParams, ParamsError, paramsSchema, PARAM_NAMES, toNumber, type Params } from "../engine/params.js";
import { MAX_THREADS } from "../tiles/limits.js";
import { UUID_RULE } from "../store/common.js";
import { isBlank, labelForm } from "../store/labels.js";
import { UsageError } from "./errors.js";

/** The flag of one parameter of SPEC §2. */
export interface ParamFlag {
  /** Parameter name as the schema spells it, e.g. "min_dB". */
  param: keyof Params;
  /** Kebab-case, lower-case flag name without dashes, e.g. "min-db". */
  name: string;
  /** Boolean parameters take no value and have a `--no-` form. */
  boolean: boolean;
  /** What the value looks like in the help: "NUMBER", "NUMBER|null", "NAME" ("" for booleans). */
  placeholder: string;
  /** The accepted values of an enum parameter (window, scale, cmap), else null. */
  choices: readonly string[] | null;
  default: unknown;
  /** The schema's description of the field ("" when it has none). */
  doc: string;
}

/** A command's own option (not a parameter), e.g. `-o/--output FILE` or `--start S`. */
export interface OptionSpec {
  /** Long name without dashes, e.g. "output" for `--output`. */
  name: string;
  /** One-letter alias without the dash, e.g. "o" for `-o`. */
  short?: string;
  /** Takes no value (true when given; `--name=false` unsets it); otherwise `placeholder` names the value. */
  boolean?: boolean;
  /**
   * A list, its values given joined by this separator (`,`; `:` for paths): given more than once,
   * its values are joined with it (another option keeps its last).
   */
  repeatable?: "," | typeof delimiter;
  placeholder?: string;
  doc: string;
}

/**
 * `--verbose`, every command's: main.ts takes it out of the arguments wherever it stands before
 * `--` (stack traces on errors; `serve` also logs every request), so no command parses it. Its
 * one definition, for the help: every command's option rows end with it (optionSpellings).
 */
const VERBOSE_OPTION: OptionSpec = { name: "verbose", boolean: true, doc: "stack traces on errors" };

/** What `parseCommandLine` found. */
export interface CommandLine {
  /** Parameter values as given (text, or true/false for `--name`/`--no-name`), keyed by parameter name; pass to `parseParams`. */
  params: Record<string, string | boolean>;
  /** The command's own options by `OptionSpec.name`: text, or true for boolean options. */
  options: Record<string, string | true>;
  positionals: string[];
  /** `--help` or `-h` was given. */
  help: boolean;
}

// zod 4 keeps a field's type behind wrappers: default → pipe (text preprocessing) → nullable → type.
interface ZodNode { description?: string; def: { type: string; innerType?: ZodNode; out?: ZodNode; entries?: Record<string, string> } }

/** The chain of schemas from a field's outermost wrapper to its innermost type. */
function layers(field: ZodNode): ZodNode[] {
  const out: ZodNode[] = [];
  for (let s: ZodNode | undefined = field; s; s = s.def.innerType ?? s.def.out) out.push(s);
  return out;
}

const shape = (paramsSchema as unknown as { shape: Record<string, ZodNode> }).shape;
const defaults = parseParams({});

/** Every parameter's flag, in SPEC order. */
export const PARAM_FLAGS: readonly ParamFlag[] = PARAM_NAMES.map((param) => {
  const chain = layers(shape[param]);
  const types = chain.map((s) => s.def.type);
  const enumNode = chain.find((s) => s.def.type === "enum");
  const boolean = types.includes("boolean");
  const choices = enumNode ? Object.values(enumNode.def.entries ?? {}) : null;
  const kind = choices ? "NAME" : boolean ? "" : "NUMBER";
  return {
    param,
    name: flagName(param),
    boolean,
    placeholder: types.includes("nullable") ? `${kind}|null` : kind,
    choices,
    default: defaults[param],
    doc: chain.map((s) => s.description).find((d) => d) ?? "",
  };
});

const byName = new Map(PARAM_FLAGS.map((f) => [f.name, f]));

/**
 * Refuses a yes/no word `next` (true/false, yes/no, on/off) given after boolean flag `flag`
 * (`--pcen false`): a boolean's value is given inline or not at all, so that word would be read as a
 * positional — a second audio file (`expects one audio file, got 2`) — or dropped. `forms` is how
 * to give the flag instead. Any other argument after it stays a positional — the digits 1 and 0
 * too, which name folders (a card's, a deployment's: `extract --md5 1`) more often than they mean
 * yes or no; so does a yes/no word after `--`.
 */
export function refuseValueAfter(flag: string, next: string | undefined, forms = `${flag}, or ${flag}=${next}`): void {
  if (next !== undefined && !/^\d+$/.test(next) && booleanFromText(next) !== undefined) {
    throw new UsageError(`${flag} takes no value: give ${forms} (got "${next}" after it; a file of that name goes after a final --, every option before it)`);
  }
}

/** The yes/no text given to boolean option `flag` as `--flag=text`; a UsageError naming the flag for other text. */
export function inlineBoolean(flag: string, text: string): boolean {
  const value = booleanFromText(text);
  if (value === undefined) throw new UsageError(`${flag}: must be true or false (also ${OTHER_BOOLEAN_TEXTS}), got '${text}'`);
  return value;
}

/**
 * Splits `args` into parameters, the command's `options` and positionals. Throws UsageError
 * (exit 2) naming the flag for an unknown flag, a missing value, a value given to a `--no-` form,
 * or yes/no text after a boolean flag (refuseValueAfter). A boolean flag takes yes/no text inline
 * (`--pcen=false`, `--json=true`), as the API's query strings do. A flag given twice keeps its
 * last value (a repeatable one, all). `--` ends the flags. For a `command` that takes no
 * parameters, a parameter flag in any form is refused as none of its options (isParamFlag), once --help is ruled out.
 */
export function parseCommandLine(args: readonly string[], options: readonly OptionSpec[] = [], command: { name: string; takesParams: boolean } = { name: "", takesParams: true }): CommandLine {
  const own = new Map<string, OptionSpec>();
  for (const o of options) {
    if (byName.has(o.name) || byName.has(o.name.replace(/^no-/, ""))) throw new Error(`option --${o.name} clashes with a parameter flag`);
    own.set(`--${o.name}`, o);
    if (o.short) own.set(`-${o.short}`, o);
  }
  const result: CommandLine = { params: {}, options: {}, positionals: [], help: false };
  /** The first parameter flag given to a command without parameters, refused once --help is ruled out. */
  let stray: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      result.positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      result.positionals.push(arg);
      continue;
    }
    if (arg === "--help" || arg === "-h") {
      result.help = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    // The value of a flag that needs one: inline, or the next argument unless that is a long flag
    // (so `--min-db -90` works, and `--window-size --pcen` reports the missing value).
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = args[i + 1];
      if (next === undefined || next.startsWith("--")) throw new UsageError(`${flag} needs a value`);
      i++;
      return next;
    };

    const option = own.get(flag);
    if (option?.boolean) {
      if (inline === undefined) refuseValueAfter(flag, args[i + 1]);
      if (inline === undefined || inlineBoolean(flag, inline)) result.options[option.name] = true;
      else delete result.options[option.name];
      continue;
    }
    if (option) {
      const given = value();
      const before = result.options[option.name];
      result.options[option.name] = option.repeatable && typeof before === "string" ? `${before}${option.repeatable}${given}` : given;
      continue;
    }
    const name = flag.startsWith("--") ? flag.slice(2) : "";
    if (!command.takesParams && isParamFlag(name)) {
      // Read no value and hint no form: every hint (`--pcen=yes`, `--window-size needs a value`)
      // named a flag the command does not take.
      stray ??= flag;
      continue;
    }
    const param = byName.get(name);
    if (param?.boolean) {
      if (inline === undefined) refuseValueAfter(flag, args[i + 1], `${flag} or --no-${name}, or ${flag}=${args[i + 1]}`);
      result.params[param.param] = inline ?? true;
      continue;
    }
    if (param) {
      result.params[param.param] = value();
      continue;
    }
    const negated = name.startsWith("no-") ? byName.get(name.slice(3)) : undefined;
    if (negated?.boolean) {
      if (inline !== undefined) throw new UsageError(`${flag} takes no value: give ${flag}, or --${negated.name}=false`);
      refuseValueAfter(flag, args[i + 1], `--${negated.name} or ${flag}`);
      result.params[negated.param] = false;
      continue;
    }
    throw new UsageError(`unknown flag '${flag}' (see --help)`);
  }
  if (stray !== undefined && !result.help) throw new UsageError(`${stray} is not an option of ${command.name} (it takes no spectrogram parameters)`);
  return result;
}

/** Whether `--name` is a parameter's flag: `--pcen`, `--no-pcen`, `--window-size` (not `--no-window-size`, which is no flag). */
function isParamFlag(name: string): boolean {
  return byName.has(name) || byName.get(name.replace(/^no-/, ""))?.boolean === true;
}

/** Help lines for the command's `options` followed by every parameter flag with its default. */
export function flagsHelp(options: readonly OptionSpec[] = []): string {
  const rows = optionSpellings(options);
  rows.push(["", ""], ["parameters (SPEC §2):", ""]);
  for (const f of PARAM_FLAGS) {
    const spelling = f.boolean ? `--${f.name}, --no-${f.name}` : `--${f.name} ${f.placeholder}`;
    const dflt = `default ${f.boolean ? (f.default ? `--${f.name}` : `--no-${f.name}`) : String(f.default)}`;
    rows.push([spelling, [f.doc, f.choices ? `one of ${f.choices.join(", ")}` : "", dflt].filter(Boolean).join("; ")]);
  }
  return helpColumns(rows, 40);
}

/** The option rows of a command's help (the commands without parameter flags). */
export function optionRows(options: readonly OptionSpec[]): string {
  return helpColumns(optionSpellings(options));
}

/** [spelling, doc] of each documented option, the command's then --verbose (VERBOSE_OPTION). */
function optionSpellings(options: readonly OptionSpec[]): [string, string][] {
  return [...options, VERBOSE_OPTION].filter((o) => o.doc).map((o) => [`${o.short ? `-${o.short}, ` : ""}--${o.name}${o.boolean ? "" : ` ${o.placeholder ?? "VALUE"}`}`, o.doc]);
}

/** Two columns, the left padded to its longest entry (at most `maxWidth`); a row without a doc is a heading, printed as it is. */
function helpColumns(rows: [string, string][], maxWidth = Infinity): string {
  const width = Math.min(maxWidth, Math.max(...rows.map(([l]) => l.length)));
  return rows.map(([l, r]) => (r ? `  ${l.padEnd(width)}  ${r}` : l)).join("\n");
}

/**
 * The same error with each parameter named as on the command line too: "min_dB (--min-db): must
 * be <= 0". Fields that are not parameters (e.g. "time_expansion") get the kebab flag spelling.
 */
export function withFlagNames(err: ParamsError): ParamsError {
  return new ParamsError(err.issues.map((i) => ({ ...i, field: withFlag(i.field) })));
}

/**
 * A parameter as command-line messages name it: the field the API and the library know, then the
 * flag that gives it — `min_dB (--min-db)`; a user who typed the flag finds it, and the field
 * leads to the documentation.
 */
export function withFlag(param: string): string {
  return `${param} (--${flagName(param)})`;
}

/** What a command throws for `err`: a ParamsError with its flags named (withFlagNames), anything else as it is. */
export function namingFlags(err: unknown): unknown {
  return err instanceof ParamsError ? withFlagNames(err) : err;
}

/** A parameter's flag, without its dashes: its name in lower case, `_` as `-` (min_dB → min-db). */
export function flagName(param: string): string {
  return param.toLowerCase().replace(/_/g, "-");
}

/** The value given to option `--flag` when it is one of `allowed` (a UsageError listing them otherwise); undefined when absent. */
export function choiceOption<T extends string>(text: string | true | undefined, flag: string, allowed: readonly T[]): T | undefined {
  if (text === undefined) return undefined;
  if (!(allowed as readonly (string | true)[]).includes(text)) throw new UsageError(`--${flag}: must be one of ${allowed.join(", ")}`);
  return text as T;
}

/**
 * The number given to option `--flag`, read as parameter flags are (params.ts toNumber: decimal,
 * not hex), checked by `rule`; `ruleText` says what it must be ("a number >= 0", "an integer in
 * [1, 1024]"). Undefined when absent.
 */
export function numberOption(text: string | true | undefined, flag: string, rule: (v: number) => boolean, ruleText: string): number | undefined {
  if (text === undefined) return undefined;
  const v = toNumber(text);
  if (!(typeof v === "number" && Number.isFinite(v) && rule(v))) throw new UsageError(`--${flag}: must be ${ruleText}, got '${text}'`);
  return v;
}

/** Seconds in each unit a duration may be given in (durationOption). */
const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * The seconds of a duration given to option `--flag`: a whole number > 0 with a unit — s, m, h, d
 * or w (90d, 12h, 30m) — at most 100 years; anything else is a usage error naming the flag.
 * Undefined when absent.
 */
export function durationOption(text: string | true | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const m = typeof text === "string" ? /^(\d+)([smhdw])$/.exec(text.trim()) : null;
  const seconds = m ? Number(m[1]) * DURATION_UNITS[m[2]] : NaN;
  if (!(seconds > 0 && seconds <= 100 * 365 * 86_400)) throw new UsageError(`--${flag}: must be a whole number > 0 with a unit s, m, h, d or w (e.g. 90d, 12h), at most 100 years, got '${text}'`);
  return seconds;
}

/** The binary units a size may be given in (sizeOption), by their lower-case spellings. */
const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tib: 2 ** 40 };

/**
 * A size in bytes given to option `--flag`, else in the environment variable `envName` (an empty
 * one counts as unset): a decimal number with an optional binary unit — B, K or KiB, M or MiB, G
 * or GiB, T or TiB, in any case — that comes to a whole number of bytes ≥ 0 (256MiB, 1.5GiB,
 * 1048576). Anything else is a usage error naming where it was given; undefined when neither is.
 */
export function sizeOption(text: string | true | undefined, flag: string, envName: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const [where, given] = text !== undefined ? [`--${flag}`, text] : [envName, env[envName] || undefined];
  if (given === undefined) return undefined;
  const m = typeof given === "string" ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(given) : null;
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  const bytes = m && unit ? Number(m[1]) * unit : NaN;
  if (!(Number.isSafeInteger(bytes) && bytes >= 0)) throw new UsageError(`${where}: must be a size in whole bytes ≥ 0, a number with an optional binary unit (B, K or KiB, M or MiB, G or GiB, T or TiB; e.g. 256MiB), got '${given}'`);
  return bytes;
}

/** Worker threads given to option `--flag`: an integer in [1, MAX_THREADS] (as TilePool takes them); undefined when absent. */
export function threadsOption(text: string | true | undefined, flag: string): number | undefined {
  return numberOption(text, flag, (v) => Number.isInteger(v) && v >= 1 && v <= MAX_THREADS, `an integer in [1, ${MAX_THREADS}]`);
}

/** `--time-expansion X`: a positive number; undefined when absent (the file's GUANO TE, else 1). */
export function timeExpansionOption(text: string | true | undefined): number | undefined {
  return numberOption(text, "time-expansion", (v) => v > 0, "a number > 0");
}

/**
 * `--time-expansion` for a file stored at `fileSamplerate` Hz: one that gives no usable rate
 * (timeExpansionProblem) is a usage error too, named as spectrogram and extract name it.
 */
export function checkTimeExpansionOption(te: number | undefined, fileSamplerate: number): void {
  const problem = te === undefined ? null : timeExpansionProblem(fileSamplerate, te);
  if (problem) throw new UsageError(`time_expansion (--time-expansion): ${problem}`);
}

/**
 * The record id given as argument `name` (e.g. "job-id"): a UUID, as every record id is, checked
 * before any database is opened; else a usage error naming the argument and the rule.
 */
export function idArgument(text: string, name: string): string {
  if (!z.uuid().safeParse(text).success) throw new UsageError(`${name}: ${UUID_RULE}, got '${text}'`);
  // Lower-cased as the API's ids are (api/schemas.ts): the store compares ids as text too.
  return text.toLowerCase();
}

/**
 * `--<flag> KEY[=VALUE]` as a listing's tag filter (a tag of KEY, of VALUE when given), key and
 * value trimmed and in NFC as the API's tag_key / tag_value are.
 */
export function tagFilterOption(text: string, flag: string): { key: string; value?: string } {
  const [key, ...value] = text.split("=");
  if (isBlank(labelForm(key))) throw new UsageError(`--${flag}: must be KEY or KEY=VALUE with a non-empty KEY, got '${text}'`);
  return { key: labelForm(key), value: value.length ? labelForm(value.join("=")) : undefined };
}

/**
 * A subcommand's command line: parsed, `--help` answered (usage printed, null returned), and
 * for commands without spectrogram parameters any parameter flag refused by its name.
 */
export function readCommandLine(args: readonly string[], options: readonly OptionSpec[], usage: string, command: { name: string; takesParams: boolean }): CommandLine | null {
  const cl = parseCommandLine(args, options, command);
  if (cl.help) {
    process.stdout.write(usage + "\n");
    return null;
  }
  return cl;
}
