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
  if (value instanceof Float64Array) return Float32Array.from(value);
  throw new TypeError(`${name}: must be a Float32Array (or a Float64Array, converted to float32), got ${describeValue(value)}`);
}

/**
 * The options object of a library function (its fields `shape`, e.g. "{ output? }"), or another
 * argument of that kind (`name`, e.g. "params"): null, a primitive or an array is a TypeError
 * naming it — not a TypeError from reading a field of null, nor the defaults taken in silence.
 */
export function checkOptionsObject(options: unknown, shape: string, name = "options"): asserts options is object {
  if (options === null || typeof options !== "object" || Array.isArray(options)) throw new TypeError(`${name}: must be an object (${shape}), got ${describeValue(options)}`);
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
