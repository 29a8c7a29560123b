/**
 * The rules of text that names or labels what people read and look up — names, tag keys and
 * values, feature names, note messages. The API's zod schemas (api/schemas.ts `label`, `text`)
 * apply them to what clients send; the store applies them to text it reads itself (a selection
 * table's annotation cells, store/selection-table.ts), so both refuse and store alike.
 */

/** What a refusal of text that is not well-formed says. */
export const WELL_FORMED = "must be well-formed Unicode text (it holds a lone UTF-16 surrogate)";
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A lone UTF-16 surrogate ("\ud800" in JSON) is no character: PostgreSQL would store U+FFFD in its place. */
export const wellFormed = (s: string) => !LONE_SURROGATE.test(s);

/**
 * Blank: nothing but spaces, invisible format characters (a zero-width space) or other characters
 * Unicode says to draw as nothing (Default_Ignorable_Code_Point: the Hangul filler U+3164).
 */
export const isBlank = (s: string) => /^[\s\p{Cf}\p{Default_Ignorable_Code_Point}]*$/u.test(s);

/** A label as it is stored: trimmed and in Unicode NFC ("v " is "v"; "Café" with a combining accent is the "Café" without). */
export const labelForm = (s: string) => s.trim().normalize("NFC");
