/**
 * The one rule for numbers written as text — command lines, query strings (engine/params.ts) and
 * the metadata recorders write (metadata.ts): decimal, never the hex, octal or binary that
 * `Number()` also takes ("0x10" is 16 to it).
 */

/** Decimal text: an optional sign, digits with an optional fraction, an optional exponent. */
export const DECIMAL_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** The number decimal `text` (spaces around it allowed) states; NaN for anything else. */
export function decimalNumber(text: string): number {
  const trimmed = text.trim();
  return DECIMAL_TEXT.test(trimmed) ? Number(trimmed) : NaN;
}
