/**
 * The library's functions take a signal as a typed array (SPEC §8b); anything else failed deep
 * inside (`signal.samples.subarray is not a function`) instead of naming the argument.
 */

/**
 * `value` as float32 samples: a Float32Array as it is, a Float64Array converted (a copy in
 * float32, which the core computes in); anything else — a plain array included — is a TypeError
 * naming `name`.
 */
export function signalSamples(value: unknown, name = "samples"): Float32Array {
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return float32Samples(value, name);
  throw new TypeError(`${name}: must be a Float32Array (or a Float64Array, converted to float32), got ${describeValue(value)}`);
}

/** float32's largest finite value, 2^128 − 2^104. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * `samples` converted to float32; a finite value beyond float32's range, which would become
 * ±Infinity, is a RangeError naming it (it was refused later as "the samples hold Infinity").
 */
function float32Samples(samples: Float64Array, name: string): Float32Array {
  const converted = Float32Array.from(samples);
  for (let i = 0; i < converted.length; i++) {
    if (Number.isFinite(converted[i]) || !Number.isFinite(samples[i])) continue;
    throw new RangeError(`${name}: sample ${i} is ${samples[i]}, beyond float32's range (±${FLOAT32_MAX}): the signal is analysed in float32`);
  }
  return converted;
}

/**
 * The options object of a library function (its fields `shape`, e.g. "{ output? }"), or another
 * argument of that kind (`name`, e.g. "params"): null, a primitive or an array is a TypeError
 * naming it — not a TypeError from reading a field of null, nor the defaults taken in silence.
 */
export function checkOptionsObject(options: unknown, shape: string, name = "options"): asserts options is object {
  if (options === null || typeof options !== "object" || Array.isArray(options)) throw new TypeError(`${name}: must be an object (${shape}), got ${describeValue(options)}`);
}

/**
 * The options object of a library function whose options are `known` (checkOptionsObject, its
 * shape `{ a?, b? }`; `name` the object's, as the messages name it): a key outside them is a TypeError naming it and listing them, as parseParams
 * refuses an unknown parameter — a misspelt option was ignored (`{ timeexpansion: 2 }` gave time
 * expansion 1). A known key whose value is undefined is one left out.
 */
export function checkOptions(options: unknown, known: readonly string[], shape = `{ ${known.map((k) => `${k}?`).join(", ")} }`, name = "options"): asserts options is object {
  checkOptionsObject(options, shape, name);
  const unknown = Object.keys(options).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new TypeError(`${name}: unknown option${unknown.length === 1 ? "" : "s"} ${unknown.join(", ")}; the known ones are ${known.join(", ")}`);
}

/**
 * A number option's rule: whether a value keeps it, what it must be, in words ("an integer ≥ 1"),
 * and optionally why a value it refuses is refused, where that needs saying (null: nothing to add).
 */
export type NumberRule = readonly [keeps: (value: number) => boolean, text: string, why?: (value: number) => string | null];

/** The longest time limit a timer keeps (setTimeout's): a longer one, or NaN, fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The rule of a time limit a timer keeps (setTimeout): ms in (0, `most`], `most` at most MAX_TIMER_MS. */
export function timerRule(most = MAX_TIMER_MS): NumberRule {
  return [(v) => v > 0 && v <= most, `a number of ms in (0, ${most}]`];
}

/**
 * The number options of `options` that `rules` names, each left out (undefined) or keeping its
 * rule: else a TypeError (no number) or a RangeError (NaN, out of range) naming it — `prefix` and
 * its key, e.g. "connectionLimits.maxConnections" — with its rule and the value given.
 */
export function checkNumberOptions(options: object, rules: Readonly<Record<string, NumberRule>>, prefix = ""): void {
  for (const [name, [keeps, text, why]] of Object.entries(rules)) {
    const value: unknown = (options as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if (typeof value !== "number") throw new TypeError(`${prefix}${name}: must be ${text}, got ${describeValue(value)}`);
    if (!keeps(value)) {
      const reason = why?.(value);
      throw new RangeError(`${prefix}${name}: must be ${text}, got ${value}${reason ? `: ${reason}` : ""}`);
    }
  }
}

/**
 * The yes/no options of `options` that `names` lists, each left out (undefined) or a boolean: else
 * a TypeError naming it. Text such as "yes" was taken as true and 0 as false (`blockingReads`).
 */
export function checkBooleanOptions(options: object, names: readonly string[]): void {
  for (const name of names) {
    const value: unknown = (options as Record<string, unknown>)[name];
    if (value !== undefined && typeof value !== "boolean") throw new TypeError(`${name}: must be a boolean (true or false), got ${describeValue(value)}`);
  }
}

/** What a value is, for messages: `Array of length 3`, `Int16Array of length 8`, `null`, `string "16000"`, `number 2.5`. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `Array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}${"length" in value ? ` of length ${(value as Int8Array).length}` : ""}`;
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}
