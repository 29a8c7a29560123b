/**
 * Cells of the CSV files sonotile writes (clip tables, feature tables): RFC 4180 quoting, and a
 * guard against spreadsheet formulas. Excel, LibreOffice and Google Sheets evaluate a CSV cell
 * that starts with `=`, `+`, `-` or `@` (also after a tab or carriage return) as a formula, so a
 * tag value or file name such as `=HYPERLINK("http://…?"&A1)` that any member can write would run
 * in the spreadsheet of whoever opens the export (OWASP "CSV injection"). Such a cell is written
 * with a leading `'` — shown as text, never evaluated — unless it is a number (`-3.5`, `1e-7`,
 * `-Infinity`), which a spreadsheet reads as a value anyway. Cells that start with `'` before
 * one of those characters get one more, so that unguardedCsvCell gives every cell back exactly.
 */

/** A cell that a spreadsheet would evaluate as a formula: a formula character, possibly after guards. */
const FORMULA_START = /^'*[=+\-@\t\r]/;
/** A number as sonotile writes one (decimal or exponent form, or ±Infinity): a value, not a formula. */
const NUMBER = /^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|Infinity)$/;

/** `text` as a CSV cell: formula-guarded, then quoted when it holds a comma, quote or line break. */
export function csvCell(text: string): string {
  const guarded = FORMULA_START.test(text) && !NUMBER.test(text) ? `'${text}` : text;
  return /[,"\r\n]/.test(guarded) ? `"${guarded.replace(/"/g, '""')}"` : guarded;
}

/** A CSV cell's text as it was before csvCell's guard (after unquoting): one leading `'` before a formula character dropped. */
export function unguardedCsvCell(text: string): string {
  return text.startsWith("'") && FORMULA_START.test(text) ? text.slice(1) : text;
}
