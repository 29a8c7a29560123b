/**
 * What the viewer shows of a selection table's import (POST /v1/clips/import) and how it names an
 * export's download (GET /v1/clips/export): the answer as sentences, a refused table's faults as a
 * table of line, column and problem — never the JSON as it came.
 */
import { el } from "./dom.js";

/** The import's answer, the parts the page shows (src/api/routes/clip-tables.ts, importResult). */
export interface ImportResult {
  created: number;
  existing: number;
  tags_added: number;
  tag_columns: string[];
  ignored_columns: string[];
  /** A row that is not the clip its Clip ID names: a clip made beside that one, never a move of it. */
  warnings: { line: number; column: string; message: string }[];
}

/** A field of a 400: the import names a table's fault `line 4, Begin Time (s)`, `line 6` or a column alone. */
export interface Fault { field: string; message: string }

const plural = (n: number, one: string, many: string) => `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;

/** The answer of an import of `file`: clips created and existing, tags added, which columns became tags and which were not used, and its warnings by line. */
export function importSummary(file: string, r: ImportResult): HTMLElement[] {
  const counts = `${plural(r.created, "clip", "clips")} created, ${plural(r.existing, "existing clip", "existing clips")} found (none created for them), ${plural(r.tags_added, "tag", "tags")} added to existing clips.`;
  const lines = [el("p", "", `Imported ${file}: `, el("strong", "", counts))];
  lines.push(el("p", "", r.tag_columns.length ? `Columns read as tags: ${r.tag_columns.join(", ")}.` : "No column was read as tags."));
  // Clip ID among them: an edited row is found by its times, not by it (the warnings say which clip it made beside which).
  if (r.ignored_columns.length) lines.push(el("p", "", `Columns not used (measurements, feature values, Clip ID): ${r.ignored_columns.join(", ")}.`));
  for (const w of r.warnings ?? []) lines.push(el("p", "warning", `Line ${w.line}, ${w.column}: ${w.message}`));
  return lines;
}

/**
 * A refused table's faults as a table: the line (the header is line 1) and column each names,
 * and its message. A fault of the whole table (a column missing from the header, an option) has
 * no line; its field goes in the column.
 */
export function faultTable(faults: readonly Fault[]): HTMLTableElement {
  const head = el("tr", "", el("th", "", "Line"), el("th", "", "Column"), el("th", "", "Problem"));
  return el("table", "faults", el("thead", "", head), el("tbody", "", ...faults.map((f) => {
    const at = /^line (\d+)(?:, (.*))?$/s.exec(f.field);
    return el("tr", "", el("td", "line", at?.[1] ?? ""), el("td", "column", at ? at[2] ?? "" : f.field), el("td", "message", f.message));
  })));
}

/**
 * The file name of a Content-Disposition header (RFC 6266): its UTF-8 `filename*` if it has one,
 * else its `filename`; `fallback` when it names none.
 */
export function dispositionFilename(header: string | null, fallback: string): string {
  const encoded = /filename\*=UTF-8''([^;]+)/i.exec(header ?? "");
  if (encoded) {
    try { return decodeURIComponent(encoded[1].trim()); } catch { /* malformed: the plain name below */ }
  }
  return /filename="([^"]*)"/i.exec(header ?? "")?.[1] ?? fallback;
}
