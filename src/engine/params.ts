/**
 * The spectrogram parameters (SPEC §2) and the one zod schema that validates them for the
 * library, the CLI and the HTTP API alike. Names and defaults follow Whombat's schemas so a
 * Whombat user finds the same knobs here.
 */
import { z } from "zod";
import { expandedSamplerate, timeExpansionProblem } from "../audio/expansion.js";
import { checkOptionsObject, describeValue } from "../audio/signal.js";
import { DECIMAL_TEXT } from "../audio/decimal.js";
import { LIMITS } from "../audio/layout.js";
import { AudioFormatError, plural } from "../audio/types.js";
import { MAX_RATE_FACTOR, nearestWorkableRate, rateRatio } from "./rate-ratio.js";

/** Windows accepted by `window`, spelled as `scipy.signal.get_window` spells them. */
export const WINDOWS = [
  "boxcar", "triang", "bartlett", "flattop", "parzen", "bohman", "blackman",
  "blackmanharris", "nuttall", "barthann", "hamming", "hann", "kaiser",
] as const;
export type WindowName = (typeof WINDOWS)[number];

/** Value scales of SPEC §3.8. */
export const SCALES = ["amplitude", "power", "dB"] as const;
export type Scale = (typeof SCALES)[number];

/** Colormaps of SPEC §3.10 (tables generated from matplotlib by scripts/colormaps.py). */
export const COLORMAPS = [
  "gray", "viridis", "magma", "inferno", "plasma", "cividis", "twilight", "cubehelix", "cool",
] as const;
export type ColormapName = (typeof COLORMAPS)[number];

// Query strings and command lines deliver text; these accept a value or its text form, and
// leave anything else untouched so that zod reports it with the field's name.
/** Integer text: an optional sign and digits, no fraction or exponent. */
const INTEGER_TEXT = /^[+-]?\d+$/;
/**
 * The one reading of numbers given as text — the parameters' fields below, and every numeric
 * query and path field of the HTTP API (api/schemas.ts): decimal text is its number; anything
 * else — the hex, octal and binary `Number()` takes ("0x1"), spaces around it, "Infinity", "" —
 * is left as it is, for the field's schema to refuse by name.
 */
const decimalFromText = (v: unknown) => (typeof v === "string" && DECIMAL_TEXT.test(v) ? Number(v) : v);
/** The same for fields that take an integer: digits only ("1e1" and "3.0" are refused). */
const integerFromText = (v: unknown) => (typeof v === "string" && INTEGER_TEXT.test(v) ? Number(v) : v);
/**
 * `schema` fed by decimalFromText: a field that takes a number from a query string, a path or a
 * command line, anything but decimal text reaching `schema` as text, refused by its own message.
 */
export const decimalText = <T extends z.ZodType>(schema: T) => z.preprocess(decimalFromText, schema);
/** The same for integer fields: digits only, with an optional sign (integerFromText). */
export const integerText = <T extends z.ZodType>(schema: T) => z.preprocess(integerFromText, schema);
/**
 * A number given on the command line (the CLI's number options) or to parseParams: decimal text
 * as decimalFromText reads it, spaces around it allowed (a quoted shell argument).
 */
export const toNumber = (v: unknown) => decimalFromText(typeof v === "string" ? v.trim() : v);
/** parseParams' input with the spaces around decimal text dropped (toNumber); query strings get no such leniency. */
function unpadded(input: object): object {
  return Object.fromEntries(Object.entries(input).map(([k, v]) => [k, typeof v === "string" && DECIMAL_TEXT.test(v.trim()) ? v.trim() : v]));
}
/** The spellings of yes/no beside true/false, as the messages list them. */
export const OTHER_BOOLEAN_TEXTS = "1/0, yes/no, on/off";
const TRUE_TEXT = new Set(["true", "1", "yes", "on"]);
const FALSE_TEXT = new Set(["false", "0", "no", "off"]);
/** Yes/no text as a boolean parameter reads it (true/false, 1/0, yes/no, on/off, any case); undefined for other text. */
export function booleanFromText(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  return TRUE_TEXT.has(t) ? true : FALSE_TEXT.has(t) ? false : undefined;
}
const toBoolean = (v: unknown) => (typeof v === "string" ? (booleanFromText(v) ?? v) : v);
const toNullable = (v: unknown) => (v === "" || v === "null" ? null : decimalFromText(v));

// Integer fields check their bounds first and stop there (abort): zod's int() also refuses
// integers beyond 2^53, and 1e308 was told "must be an integer".
/** Largest target rate: the largest a file may declare (audio/layout.ts). */
const MAX_SAMPLERATE = LIMITS.maxSamplerate;
/** Largest channel index: WAV's channel count is 16 bits. */
const MAX_CHANNEL = 65534;

/**
 * A field's own rule's message. Failing it skips the rules between fields (checkCrossFieldRules),
 * which would only blame the field again: pcen_bias 0 was "must be > 0; … must lie within float32's
 * normal range".
 */
const own = (message: string) => ({ error: message, abort: true });
/**
 * A number field with its own bounds, given as zod's checks (`bounds`) rather than a refine: the
 * OpenAPI document states checks (minimum, exclusiveMinimum…) and cannot see inside a refine, so a
 * client generated from it had window_size, hop_size and the pcen_* fields with no bounds at all.
 */
const bounded = (bounds: (n: z.ZodNumber) => z.ZodNumber) => z.preprocess(decimalFromText, bounds(z.number({ error: "must be a number" }).finite()));
/**
 * A yes/no field from a query string, a command line or parseParams: true/false, 1/0, yes/no or
 * on/off (any case), as Whombat's clients and shells spell them.
 */
export const booleanText = () => z.preprocess(toBoolean, z.boolean({ error: `must be true or false (as text — a query string or a flag — also ${OTHER_BOOLEAN_TEXTS})` }));
const frequency = (bounds: (n: z.ZodNumber) => z.ZodNumber) => z.preprocess(toNullable, bounds(z.number({ error: "must be a number of Hz or null" }).finite()).nullable());

/** Field-by-field schema, each field documented where it is defined (the CLI help and the
 * OpenAPI document show these descriptions); cross-field rules are added below. Defaults are
 * `prefault`s — read through the field's own parsing, with the same result — because zod's JSON
 * Schema keeps a `.default()` given outside a preprocess out of the document, and the document
 * must say what a request without the field gets. */
const fields = {
  // audio
  resample: booleanText().prefault(false).describe("Resample the whole recording to `samplerate` before the STFT (scipy resample_poly)"),
  samplerate: z.preprocess(decimalFromText, z.number({ error: "must be a number" }).positive({ error: "must be > 0", abort: true }).max(MAX_SAMPLERATE, { error: `must be <= ${MAX_SAMPLERATE}`, abort: true }).int("must be an integer")).prefault(44100).describe("Target rate in Hz when `resample` is true"),
  low_freq: frequency((n) => n.min(0, own("must be >= 0"))).prefault(null).describe("High-pass edge in Hz (Butterworth); null for none"),
  high_freq: frequency((n) => n.gt(0, own("must be > 0"))).prefault(null).describe("Low-pass edge in Hz (Butterworth); null for none"),
  filter_order: z.preprocess(decimalFromText, z.number({ error: "must be a number" }).min(1, { error: "must be between 1 and 16", abort: true }).max(16, { error: "must be between 1 and 16", abort: true }).int("must be an integer")).prefault(5).describe("Butterworth order of the band filter"),
  // stft
  window_size: bounded((n) => n.gt(0, own("must be > 0"))).prefault(0.025).describe("Window length in seconds; nperseg = floor(window_size * samplerate)"),
  hop_size: bounded((n) => n.gt(0, own("must be > 0 and <= 1")).lte(1, own("must be > 0 and <= 1"))).prefault(0.5).describe("Hop as a fraction of window_size: 0 < hop_size <= 1"),
  window: z.enum(WINDOWS, { error: `must be one of ${WINDOWS.join(", ")}` }).prefault("hann").describe("Taper, as scipy.signal.get_window names it (periodic)"),
  kaiser_beta: bounded((n) => n.gt(0, own("must be > 0"))).prefault(14).describe("Shape parameter of the kaiser window"),
  // amplitude
  scale: z.enum(SCALES, { error: `must be one of ${SCALES.join(", ")}` }).prefault("dB").describe("Value scale of the output"),
  clamp: booleanText().prefault(false).describe("Clip dB values to [min_dB, max_dB]"),
  min_dB: bounded((n) => n.lte(0, own("must be <= 0"))).prefault(-100).describe("Lower dB bound for clamping and for mapping to colours"),
  max_dB: bounded((n) => n.lte(0, own("must be <= 0"))).prefault(0).describe("Upper dB bound for clamping and for mapping to colours"),
  normalize: booleanText().prefault(true).describe("Divide by the whole recording's maximum (after PCEN)"),
  // spectrogram
  channel: z.preprocess(decimalFromText, z.number({ error: "must be a number" }).min(0, { error: "must be >= 0", abort: true }).max(MAX_CHANNEL, { error: `must be <= ${MAX_CHANNEL}`, abort: true }).int("must be an integer")).prefault(0).describe("Channel to analyse (0-based)"),
  cmap: z.enum(COLORMAPS, { error: `must be one of ${COLORMAPS.join(", ")}` }).prefault("gray").describe("Colour table for images"),
  pcen: booleanText().prefault(true).describe("Per-channel energy normalization (Wang et al. 2017) before scaling"),
  // pcen
  pcen_smooth: bounded((n) => n.gt(0, own("must be > 0 and < 1")).lt(1, own("must be > 0 and < 1"))).prefault(0.025).describe("Smoother coefficient s of PCEN: 0 < s < 1"),
  pcen_gain: bounded((n) => n.min(0, own("must be >= 0"))).prefault(0.98).describe("Gain (alpha) of PCEN"),
  pcen_bias: bounded((n) => n.gt(0, own("must be > 0"))).prefault(2).describe("Bias (delta) of PCEN"),
  pcen_power: bounded((n) => n.gt(0, own("must be > 0"))).prefault(0.5).describe("Power (r) of PCEN"),
  pcen_eps: bounded((n) => n.gt(0, own("must be > 0"))).prefault(1e-6).describe("Epsilon of PCEN, keeps the smoother away from 0"),
} satisfies { [K in keyof Params]: z.ZodType<Params[K], unknown> };

/** The parameter fields alone, for requests that add fields of their own (e.g. tile options). */
export const paramsObject = z.strictObject(fields, {
  error: (iss) => (iss.code === "unrecognized_keys" ? `unknown parameter(s): ${iss.keys.join(", ")}` : undefined),
});

/** Rules between fields; each names the field it blames. */
export function checkCrossFieldRules(p: z.output<typeof paramsObject>, ctx: z.RefinementCtx): void {
  if (p.low_freq !== null && p.high_freq !== null && !(p.high_freq > p.low_freq)) {
    ctx.addIssue({ code: "custom", path: ["high_freq"], message: `must be > low_freq (${p.low_freq} Hz)` });
  }
  if (!(p.min_dB < p.max_dB)) {
    ctx.addIssue({ code: "custom", path: ["min_dB"], message: `must be < max_dB (${p.max_dB})` });
  }
  if (p.pcen) {
    for (const field of ["pcen_gain", "pcen_power", "pcen_eps"] as const) {
      if (!(Math.fround(p[field]) <= F32_MAX)) ctx.addIssue({ code: "custom", path: [field], message: `must be <= ${F32_MAX.toPrecision(8)} (the core computes PCEN in float32)` });
    }
    for (const problem of [pcenRangeProblem(p.pcen_bias, p.pcen_power), pcenGainProblem(p.pcen_gain, p.pcen_eps)]) {
      if (problem) ctx.addIssue({ code: "custom", path: [problem.field], message: problem.message });
    }
  }
}

/** float32's smallest and largest normal numbers. */
const F32_MIN_NORMAL = 2 ** -126, F32_MAX = Math.fround(3.4028234663852886e38);

/**
 * PCEN's bias and its power bias^power are constants of the core's float32 arithmetic (1/bias
 * scales every value, bias^power the result): outside float32's normal range they turn every
 * value into the same overflowed or meaningless number (pcen_power 1e308 gave +385 dB
 * everywhere), so such values are refused, naming the field. PCEN values themselves can still
 * leave float32 for a power that keeps bias^power in range (engine/analysis.ts checkPcenRange).
 */
function pcenRangeProblem(bias: number, power: number): { field: string; message: string } | null {
  const b = Math.fround(bias);
  if (!(b >= F32_MIN_NORMAL && b <= F32_MAX)) return { field: "pcen_bias", message: `must lie within float32's normal range [${F32_MIN_NORMAL.toPrecision(8)}, ${F32_MAX.toPrecision(8)}]` };
  if (!(Math.fround(power) <= F32_MAX)) return null; // refused above: one reason per field
  const offset = b ** power;
  if (!(offset >= F32_MIN_NORMAL && offset <= F32_MAX)) {
    return { field: "pcen_power", message: `pcen_bias^pcen_power = ${bias}^${power} = ${offset.toPrecision(4)} is outside float32's range [${F32_MIN_NORMAL.toPrecision(3)}, ${F32_MAX.toPrecision(3)}]` };
  }
  return null;
}

/**
 * The gain (eps + M)^−gain is computed as 2^(−gain·log2(eps + M)), and the core's 2^y is exact
 * only for y in [−126, 127] (float32's normal range; assembly/vmath.ts exp2f4 clamps y there).
 * With M = 0, y reaches gain·log2(1/eps): for eps < 1 and gain·log2(1/eps) ≥ 127 (pcen_gain 7
 * with the default pcen_eps 1e-6) the quietest values were silently scaled by 2^127 instead of
 * eps^−gain, up to 2.8 dB off. For eps > 1, y is at most −gain·log2(eps): from −126 down every
 * value would be clamped. An eps below float32's smallest normal number is taken as that number
 * by the core's logarithm. Louder values (M large) can still leave 2^y's range for a large gain:
 * engine/analysis.ts checks that against the signal's power.
 */
function pcenGainProblem(gain: number, eps: number): { field: string; message: string } | null {
  const e = Math.fround(eps), g = Math.fround(gain);
  if (!(e <= F32_MAX && g <= F32_MAX)) return null; // refused above
  if (!(e >= F32_MIN_NORMAL)) return { field: "pcen_eps", message: `must be >= ${F32_MIN_NORMAL.toPrecision(8)}, float32's smallest normal number (the core computes PCEN in float32)` };
  const bits = Math.log2(e);
  if (bits < 0 && g * -bits >= EXP2_TOP) {
    return { field: "pcen_gain", message: `must be < ${(EXP2_TOP / -bits).toPrecision(6)} with pcen_eps ${eps}: (eps + M)^−gain reaches eps^−gain = 2^${(g * -bits).toPrecision(4)}, beyond float32's 2^${EXP2_TOP} (the core computes PCEN in float32)` };
  }
  if (bits > 0 && g * bits >= -EXP2_BOTTOM) {
    return { field: "pcen_gain", message: `must be < ${(-EXP2_BOTTOM / bits).toPrecision(6)} with pcen_eps ${eps}: (eps + M)^−gain is at most eps^−gain = 2^−${(g * bits).toPrecision(4)}, below float32's 2^−${-EXP2_BOTTOM} (the core computes PCEN in float32)` };
  }
  return null;
}

/** The range of exponents y for which the core's 2^y is exact (assembly/vmath.ts exp2f4). */
export const EXP2_TOP = 127, EXP2_BOTTOM = -126;

/**
 * The shared schema: unknown fields are rejected (a typo must not silently fall back to a
 * default), cross-field rules name the field they blame.
 */
export const paramsSchema = paramsObject.superRefine(checkCrossFieldRules);

/**
 * Fully specified, validated parameters (parseParams' result; SPEC §3). Each field's comment is
 * its schema's `.describe()` text and its default, for library users' editors: the schema's
 * descriptions do not reach a type inferred from it. `fields` is checked against this type
 * (the same names, each schema giving its field's type) and the comments against the schema
 * (test/spectrogram.test.ts).
 */
export type Params = {
  /** Resample the whole recording to `samplerate` before the STFT (scipy resample_poly); default false. */
  resample: boolean;
  /** Target rate in Hz when `resample` is true; default 44100. */
  samplerate: number;
  /** High-pass edge in Hz (Butterworth); null for none; default null. */
  low_freq: number | null;
  /** Low-pass edge in Hz (Butterworth); null for none; default null. */
  high_freq: number | null;
  /** Butterworth order of the band filter; default 5. */
  filter_order: number;
  /** Window length in seconds; nperseg = floor(window_size * samplerate); default 0.025. */
  window_size: number;
  /** Hop as a fraction of window_size: 0 < hop_size <= 1; default 0.5. */
  hop_size: number;
  /** Taper, as scipy.signal.get_window names it (periodic); default "hann". */
  window: WindowName;
  /** Shape parameter of the kaiser window; default 14. */
  kaiser_beta: number;
  /** Value scale of the output; default "dB". */
  scale: Scale;
  /** Clip dB values to [min_dB, max_dB]; default false. */
  clamp: boolean;
  /** Lower dB bound for clamping and for mapping to colours; default -100. */
  min_dB: number;
  /** Upper dB bound for clamping and for mapping to colours; default 0. */
  max_dB: number;
  /** Divide by the whole recording's maximum (after PCEN); default true. */
  normalize: boolean;
  /** Channel to analyse (0-based); default 0. */
  channel: number;
  /** Colour table for images; default "gray". */
  cmap: ColormapName;
  /** Per-channel energy normalization (Wang et al. 2017) before scaling; default true. */
  pcen: boolean;
  /** Smoother coefficient s of PCEN: 0 < s < 1; default 0.025. */
  pcen_smooth: number;
  /** Gain (alpha) of PCEN; default 0.98. */
  pcen_gain: number;
  /** Bias (delta) of PCEN; default 2. */
  pcen_bias: number;
  /** Power (r) of PCEN; default 0.5. */
  pcen_power: number;
  /** Epsilon of PCEN, keeps the smoother away from 0; default 0.000001. */
  pcen_eps: number;
};

/**
 * What callers may pass (SPEC §8b: `Partial<Params>`): any subset, each of its type. parseParams
 * also reads the text forms the CLI and query strings give ("0.01", "true"); the type does not
 * offer them, so that `{ pcen: 17 }` or `{ window_size: true }` fails to compile (z.input of the
 * schema had every preprocessed field as `unknown`).
 */
export type ParamsInput = Partial<Params>;

/** The names of all parameters, in SPEC order. */
export const PARAM_NAMES = Object.keys(fields) as (keyof Params)[];

/** A parameter value was rejected; `message` names every offending field and its rule. */
export class ParamsError extends Error {
  constructor(readonly issues: { field: string; message: string }[]) {
    super(issues.map((i) => `${i.field}: ${i.message}`).join("; "));
    this.name = "ParamsError";
  }
}

/**
 * Validates `input` (any subset of the parameters) and fills in the defaults, reading the text
 * forms flags and query strings give ("0.01", "yes"): the CLI's and the HTTP API's reader. The
 * library's functions that take parameters check their types first (parseParamValues). Parameters
 * that are no object (null, a number, a string, an array) are a TypeError naming `params`, as
 * options are (null took every default in silence); an object that is no plain one a ParamsError.
 */
export function parseParams(input: unknown = {}): Params {
  checkOptionsObject(input, "{ name: value }", "params");
  // A Map, a Date or a class instance would pass as an object holding none of its entries: every
  // parameter at its default, PCEN on where `new Map([["pcen", false]])` asked it off.
  if (![Object.prototype, null].includes(Object.getPrototypeOf(input)))
    throw new ParamsError([{ field: "params", message: `must be a plain object of parameters ({ name: value }), got ${describeValue(input)}` }]);
  const result = paramsSchema.safeParse(unpadded(input));
  if (result.success) return result.data;
  throw new ParamsError(
    result.error.issues.map((i) => ({ field: i.path.length ? i.path.join(".") : "params", message: i.message })),
  );
}

/**
 * The JS type each parameter's value has (the type of its default; `low_freq` and `high_freq`,
 * null by default, take a number too), as SPEC §8b types them: what checkParamTypes asks of a
 * library caller's values.
 */
function expectedType(name: keyof Params): string {
  const value = DEFAULTS[name];
  if (value === null) return "a number or null";
  if (typeof value === "boolean") return "a boolean (true or false)";
  if (typeof value === "string") return `a string (one of ${CHOICES[name as keyof typeof CHOICES].join(", ")})`;
  return "a number";
}

/** The values of the parameters that take one of a list, for expectedType's messages. */
const CHOICES = { window: WINDOWS, scale: SCALES, cmap: COLORMAPS } satisfies Partial<Record<keyof Params, readonly string[]>>;

/**
 * Refuses a parameter whose value is not of its JS type (expectedType), naming every such field in
 * one TypeError (`params: window_size: must be a number, got string "0.01"`). The library's
 * functions take values (SPEC §8b), which TypeScript checks at compile time; JavaScript callers
 * had text read as a flag's or a query string's — `{ samplerate: "22050" }`, `{ pcen: "yes" }` —
 * while `{ pcen: 0 }` was refused. parseParams keeps reading text: it is the CLI's and the HTTP
 * API's reader. Unknown fields, and each value's rule, are left to parseParams; undefined is a
 * field left out.
 */
export function checkParamTypes(input: unknown): void {
  checkOptionsObject(input, "{ name: value }", "params");
  const wrong: string[] = [];
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined || !(PARAM_NAMES as string[]).includes(name)) continue;
    const expected = DEFAULTS[name as keyof Params];
    const fits = expected === null ? value === null || typeof value === "number" : typeof value === typeof expected;
    if (!fits) wrong.push(`${name}: must be ${expectedType(name as keyof Params)}, got ${describeValue(value)}`);
  }
  if (wrong.length) throw new TypeError(`params: ${wrong.join("; ")}`);
}

/**
 * What the library's functions that take parameters (spectrogram, RecordingSpectrogram,
 * spectrogramOfRecording, the features) do with them: values of their types (checkParamTypes),
 * validated and completed by parseParams.
 */
export function parseParamValues(input: unknown = {}): Params {
  checkParamTypes(input);
  return parseParams(input);
}

/**
 * The rate the engine analyses a recording stored at `fileSamplerate` Hz at, with time expansion
 * `te` (SPEC §3.2, expandedSamplerate); a factor that gives no usable rate is refused naming
 * time_expansion (timeExpansionProblem) — not window_size, which no value could then satisfy.
 */
export function realSamplerate(fileSamplerate: number, te: number): number {
  const problem = timeExpansionProblem(fileSamplerate, te);
  if (problem) throw new ParamsError([{ field: "time_expansion", message: problem }]);
  return expandedSamplerate(fileSamplerate, te);
}

/** Why the recording's rate cannot be resampled to `samplerate`, or null when it can. */
function resampleProblem(p: Params, recordingRate: number): { field: string; message: string } | null {
  if (!p.resample || p.samplerate === recordingRate) return null;
  if (!Number.isSafeInteger(recordingRate)) {
    return { field: "resample", message: `needs the recording's rate in whole Hz (resample_poly's integer ratio); it is ${recordingRate} Hz` };
  }
  const { up, down } = rateRatio(recordingRate, p.samplerate);
  if (Math.max(up, down) <= MAX_RATE_FACTOR) return null;
  const nearest = nearestWorkableRate(recordingRate, p.samplerate);
  return {
    field: "samplerate",
    message: `must reduce with the recording's ${recordingRate} Hz to a ratio up/down with both at most ${MAX_RATE_FACTOR} (${p.samplerate} Hz gives ${up}/${down}, too long a filter)${nearest ? `; e.g. ${nearest} Hz works` : ""}`,
  };
}

/**
 * Rules that need the recording: frequencies below Nyquist, a channel that exists, a
 * resampling ratio within bounds, and an FFT length within bounds. `recording.samplerate` is
 * the recording's rate in real units (after time expansion); the STFT runs at `samplerate`
 * when resampling. `recording.name` (a file, "recording <id>") and `recording.frames` make
 * the window's errors name the recording (windowProblem).
 * @throws ParamsError naming the fields; AudioFormatError naming the recording when its rate
 *   gives no window of 2 samples within it (windowProblem).
 */
export function checkParamsForRecording(p: Params, recording: { samplerate: number; channels?: number; name?: string; frames?: number }, limits = { maxFftLength: 1 << 20 }): void {
  const issues: { field: string; message: string }[] = [];
  const resampling = resampleProblem(p, recording.samplerate);
  if (resampling) issues.push(resampling);
  const fs = p.resample ? p.samplerate : recording.samplerate;
  const nyquist = fs / 2;
  if (p.low_freq !== null && !(p.low_freq < nyquist)) issues.push({ field: "low_freq", message: `must be < Nyquist (${nyquist} Hz)` });
  if (p.high_freq !== null && !(p.high_freq <= nyquist)) issues.push({ field: "high_freq", message: `must be <= Nyquist (${nyquist} Hz)` });
  if (recording.channels !== undefined && p.channel >= recording.channels) issues.push({ field: "channel", message: `must be < channels (${recording.channels})` });
  const nperseg = Math.trunc(p.window_size * fs);
  if (nperseg < 2) issues.push(windowProblem(p, fs, nperseg, recording));
  else if (nperseg > limits.maxFftLength) issues.push({ field: "window_size", message: `gives ${nperseg} samples at ${fs} Hz; the limit is ${limits.maxFftLength}` });
  if (issues.length) throw new ParamsError(issues);
}

/**
 * A window_size of fewer than 2 samples at the STFT's rate `fs`. Resampling, that rate is the
 * `samplerate` parameter's. Else it is the recording's, and whose fault depends on it: where some
 * window_size within the recording gives 2 samples (a recording of 2 frames or more: 2 / rate s,
 * at most its duration), window_size is at fault, and the message says the least that works and
 * names the recording and its rate — a WAV whose header says 7 Hz had been refused as if the
 * default 25 ms were wrong in itself, naming no file. (Rates this low are real: seismic and tidal
 * records of 1–100 Hz.) Where none does (fewer than 2 frames), the recording is at fault: an
 * AudioFormatError naming it, its frames and its rate (exit 1, HTTP 422).
 */
function windowProblem(p: Params, fs: number, nperseg: number, recording: { name?: string; frames?: number }): { field: string; message: string } {
  if (p.resample) return { field: "window_size", message: `gives ${plural(nperseg, "sample")} at ${fs} Hz (samplerate, resampled to); needs at least 2` };
  const name = recording.name ?? "the recording";
  if (recording.frames !== undefined && recording.frames < 2)
    throw new AudioFormatError(`${name}: ${plural(recording.frames, "frame")} at ${fs} Hz: no spectrogram window fits in it (a window needs at least 2 samples)`);
  // The least window_size giving 2 samples (nperseg as above), to 4 significant digits: rounded, or up a step where rounding fell short.
  const least = Number((2 / fs).toPrecision(4));
  const enough = Math.trunc(least * fs) >= 2 ? least : Number((least * (1 + 1e-3)).toPrecision(4));
  return { field: "window_size", message: `gives ${plural(nperseg, "sample")} at ${fs} Hz, the rate of ${name}; needs at least 2 (window_size ${enough} s or more at that rate)` };
}

/** The defaults, for effectiveParams. */
const DEFAULTS: Params = paramsSchema.parse({});
const PCEN_FIELDS = ["pcen_smooth", "pcen_gain", "pcen_bias", "pcen_power", "pcen_eps"] as const;

/**
 * `p` (already checked against the recording) with every field that cannot change the values at
 * the recording's rate `samplerate` (real units) set to its default: `samplerate` without
 * resampling, or resampling to the recording's own rate (the identity, SPEC §3.3); an edge that
 * removes nothing (`low_freq` 0, `high_freq` at Nyquist: designBandFilter) and `filter_order`
 * without a filter; `kaiser_beta` with another window; the `pcen_*` fields without PCEN;
 * `clamp`, `min_dB`, `max_dB` on a scale other than dB. Requests that differ only there compute
 * the same values, so they share one stats pass over the whole recording, one ETag and one cache
 * entry — a `kaiser_beta` sent with a hann window started a pass of its own.
 */
export function effectiveParams(p: Params, samplerate: number): Params {
  const e = { ...p };
  if (e.resample && e.samplerate === samplerate) e.resample = false;
  if (!e.resample) e.samplerate = DEFAULTS.samplerate;
  const nyquist = (e.resample ? e.samplerate : samplerate) / 2;
  if (e.low_freq === 0) e.low_freq = null;
  if (e.high_freq !== null && e.high_freq >= nyquist) e.high_freq = null;
  if (e.low_freq === null && e.high_freq === null) e.filter_order = DEFAULTS.filter_order;
  if (e.window !== "kaiser") e.kaiser_beta = DEFAULTS.kaiser_beta;
  if (!e.pcen) for (const f of PCEN_FIELDS) e[f] = DEFAULTS[f];
  if (e.scale !== "dB") [e.clamp, e.min_dB, e.max_dB] = [DEFAULTS.clamp, DEFAULTS.min_dB, DEFAULTS.max_dB];
  return e;
}
