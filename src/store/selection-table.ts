/**
 * Annotation tables as text: Raven Pro selection tables (tab-separated, or the same columns as
 * CSV) and Audacity label tracks, read into selections (readTable) and written from rows
 * (writeTable). Text only — which recording a selection belongs to, and its times in real units,
 * are store/clip-tables.ts's business.
 *
 * Every refusal is an InvalidError whose fields name the line of the file ("line 4", the header
 * being line 1 — what an editor shows) and the column, and all of a table's faults are reported at
 * once (up to MAX_ISSUES): a researcher fixes the file in one pass.
 */
import { decimalNumber } from "../audio/decimal.js";
import { InvalidError } from "./errors.js";
import { isBlank, labelForm, wellFormed, WELL_FORMED } from "./labels.js";

/** raven: Raven Pro's tab-separated selection table; csv: its columns, comma-separated; audacity: a label track export. */
export const TABLE_FORMATS = ["raven", "csv", "audacity"] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

/** Raven Pro's column names, as Raven writes them in a selection table's header. */
export const COLUMN = {
  selection: "Selection",
  view: "View",
  channel: "Channel",
  begin: "Begin Time (s)",
  end: "End Time (s)",
  low: "Low Freq (Hz)",
  high: "High Freq (Hz)",
  beginPath: "Begin Path",
  fileOffset: "File Offset (s)",
  beginFile: "Begin File",
  endPath: "End Path",
  endFile: "End File",
  /** Not Raven's: the clip an exported row is (sonotile's export writes it; an import ignores it). */
  clipId: "Clip ID",
} as const;

/** The columns that place a selection (never tags): Raven's geometry and file columns, and the exported clip id. */
const PLACING_COLUMNS: ReadonlySet<string> = new Set(Object.values(COLUMN));

/** The header prefix of an exported feature value's column ("feature:rms_dbfs"); an import ignores such columns. */
export const FEATURE_COLUMN_PREFIX = "feature:";

/**
 * A header ending in one of the units Raven names its measurements with — "Delta Time (s)",
 * "Peak Freq (Hz)", "Avg Power Density (dB FS/Hz)", "Agg Entropy (bits)": a measurement Raven
 * computes from the audio, not an annotation, so no tag.
 */
const MEASUREMENT_UNIT = /\((s|ms|Hz|kHz|dB|dB FS|dB FS\/Hz|dB\/Hz|bits|samples|U|kU|%|°)\)$/;

/**
 * The most rows (selections, or Audacity labels) one table may have: one import is one
 * transaction, which holds its recordings' locks to the end. 10,000 rows with two tags and
 * frequency bounds each took 9.7 s on the embedded database, 5.9 s on PostgreSQL 15 (2 CPUs, load
 * ~20; 20,000 rows: 16.8 s and 7.7 s); importing them again, 2.3 s and 2.0 s.
 */
export const MAX_TABLE_ROWS = 10_000;

/** The most faults one refusal lists; the rest are counted. */
const MAX_ISSUES = 100;

/** The longest tag key or value (SPEC §5 tags: 1–255 characters). */
const MAX_TAG_LENGTH = 255;

/** One selection of a table: a piece of one file, in the table's time base (seconds within its file). */
export interface TableSelection {
  /** The line of the file its row starts on (the header is line 1), for messages. */
  line: number;
  /** Raven's Selection number (text as written), or null (Audacity, no Selection column). */
  selection: string | null;
  /** Raven's channel, from 1. */
  channel: number;
  /** Seconds within its file, in the table's time base: File Offset (s) when the table has it (a multi-file table's Begin Time counts from the first file), else Begin Time (s). */
  begin: number;
  end: number;
  /** Hz, in the table's frequency base; null when the table gives none for it. */
  low: number | null;
  high: number | null;
  /** Its Begin Path and Begin File cells; null where the table has no such column or the cell is empty. */
  beginPath: string | null;
  beginFile: string | null;
  /** Its annotations: (column, cell) for each tag column whose cell is not empty; (label_key, label) for Audacity. */
  tags: { key: string; value: string }[];
}

export interface ReadTable {
  format: TableFormat;
  selections: TableSelection[];
  /** The columns whose cells became tags. */
  tagColumns: string[];
  /** The columns neither placing a selection nor tags: Raven's measurements, exported feature values. */
  ignoredColumns: string[];
  /** The columns the times were read from (File Offset (s) when present, else Begin Time (s)), for messages. */
  beginColumn: string;
  endColumn: string;
}

export interface ReadOptions {
  /** The table's format; undefined: recognised from its first line (a header naming Begin Time (s): raven or csv by its delimiter; else audacity). */
  format?: TableFormat;
  /** Raven/CSV: exactly these columns become tags; undefined: every column that neither places a selection nor is a measurement or a feature value. */
  tagColumns?: readonly string[];
  /** Audacity: the tag key a label becomes (default "label"). */
  labelKey?: string;
}

/** Collects a table's faults, to throw as the fields of one InvalidError (the first MAX_ISSUES, then how many more). */
export class TableFaults {
  private readonly list: { field: string; message: string }[] = [];
  private more = 0;
  add(field: string, message: string): void {
    if (this.list.length < MAX_ISSUES) this.list.push({ field, message });
    else this.more++;
  }
  /** How many were added: a row's checks compare it before and after. */
  get count(): number {
    return this.list.length + this.more;
  }
  /** Throws them, if any. */
  check(): void {
    if (!this.count) return;
    throw new InvalidError(this.more ? [...this.list, { field: "table", message: `and ${this.more} more faults` }] : this.list);
  }
}

/** A cell of a delimited record: its text (unquoted cells trimmed) and the line it starts on. */
interface TextRecord {
  line: number;
  cells: string[];
}

/**
 * The records of delimited text: cells split at `delimiter`, records at CRLF, LF or CR; a cell
 * starting with `"` is quoted (RFC 4180: `""` is a quote; delimiters and line breaks inside are
 * text). A byte-order mark at the start is dropped; blank lines are skipped. A quote left open is
 * an issue naming the line it opened on.
 */
function delimitedRecords(text: string, delimiter: string, issues: TableFaults): TextRecord[] {
  const records: TextRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const atLineEnd = () => text[i] === "\n" || text[i] === "\r";
  const skipLineEnd = () => {
    i += text[i] === "\r" && text[i + 1] === "\n" ? 2 : 1;
    line++;
  };
  while (i < text.length) {
    const record: TextRecord = { line, cells: [] };
    for (;;) {
      let cell = "";
      if (text[i] === '"') {
        const opened = line;
        i++;
        for (;;) {
          if (i >= text.length) {
            issues.add(`line ${opened}`, "a quoted cell is not closed: a \" opens it and none closes it");
            return records;
          }
          if (text[i] === '"') {
            if (text[i + 1] !== '"') { i++; break; }
            cell += '"';
            i += 2;
          } else if (atLineEnd()) {
            cell += "\n";
            skipLineEnd();
          } else {
            cell += text[i++];
          }
        }
      }
      const start = i;
      while (i < text.length && text[i] !== delimiter && !atLineEnd()) i++;
      record.cells.push((cell + text.slice(start, i)).trim());
      if (i < text.length && text[i] === delimiter) {
        i++;
        continue;
      }
      if (i < text.length) skipLineEnd();
      break;
    }
    if (record.cells.some((c) => c !== "")) records.push(record);
  }
  return records;
}

/** `text` read as a number of `what` (decimal text, as every number sonotile reads); an issue for the cell, and NaN, when it is not one. */
function numberCell(text: string, field: string, what: string, issues: TableFaults): number {
  if (text === "") {
    issues.add(field, `is empty: expected a number of ${what}`);
    return NaN;
  }
  const value = decimalNumber(text);
  if (Number.isFinite(value)) return value;
  const comma = /^[+-]?\d+,\d+$/.test(text) ? " (a decimal comma: write the decimal point as '.')" : "";
  issues.add(field, `'${text}' is not a number of ${what}${comma}`);
  return NaN;
}

/** A tag of `key` from a cell: trimmed and in NFC, as the API stores tags; null for an empty one; an issue where it breaks the tag rules. */
function tagCell(key: string, text: string, field: string, issues: TableFaults): { key: string; value: string } | null {
  const value = labelForm(text);
  if (isBlank(value)) return null;
  if (value.length > MAX_TAG_LENGTH) issues.add(field, `must be at most ${MAX_TAG_LENGTH} characters to be a tag (has ${value.length})`);
  else if (!wellFormed(value)) issues.add(field, WELL_FORMED);
  else if (value.includes("\0")) issues.add(field, "must not contain a NUL character (U+0000), which the database cannot store");
  else return { key, value };
  return null;
}

/** The format of `text` as readTable recognises it; an InvalidError naming `format` when it cannot. */
function recognise(text: string): TableFormat {
  const first = text.replace(/^\ufeff/, "").split(/\r\n|\n|\r/, 1)[0] ?? "";
  if (first.includes(COLUMN.begin)) return first.includes("\t") ? "raven" : "csv";
  if (/^\s*[+-]?[\d.]/.test(first)) return "audacity";
  throw new InvalidError([{ field: "format", message: `the table's format is not recognised: its first line names no '${COLUMN.begin}' column (a Raven selection table's header) and holds no time (an Audacity label); give format (raven, csv or audacity)` }]);
}

/**
 * Refuses text holding U+FFFD, what a UTF-8 decoder (Fastify's, the CLI's readFile) puts for bytes
 * that are not UTF-8: a table saved in another encoding (Windows-1252: "é" as one byte) would give
 * tags with the letter lost.
 */
function checkUtf8(text: string): void {
  const at = text.indexOf("\ufffd");
  if (at < 0) return;
  const line = text.slice(0, at).split(/\r\n|\n|\r/).length;
  throw new InvalidError([{ field: `line ${line}`, message: "holds bytes that are not UTF-8 text (read as U+FFFD): save the table as UTF-8 — it is in another encoding, such as Windows-1252" }]);
}

/** Reads an annotation table; throws InvalidError naming each faulty line and column. */
export function readTable(text: string, options: ReadOptions = {}): ReadTable {
  checkUtf8(text);
  const format = options.format ?? recognise(text);
  return format === "audacity" ? readAudacity(text, options.labelKey ?? "label") : readRaven(text, format, options.tagColumns);
}

/** Refuses more rows than MAX_TABLE_ROWS, naming the limit. */
function checkRowCount(rows: number): void {
  if (rows > MAX_TABLE_ROWS) throw new InvalidError([{ field: "table", message: `has ${rows} rows, more than the limit of ${MAX_TABLE_ROWS} rows per import: split it into several tables` }]);
}

/** Which of a Raven header's columns become tags, and which are left (measurements, feature values). */
function tagColumnsOf(header: readonly string[], asked: readonly string[] | undefined, issues: TableFaults): { tags: string[]; ignored: string[] } {
  const free = header.filter((h) => h !== "" && !PLACING_COLUMNS.has(h));
  if (asked) {
    for (const name of asked) {
      if (!header.includes(name)) issues.add("tag_columns", `names '${name}', which the table's header does not have (it has: ${header.join(", ")})`);
      else if (PLACING_COLUMNS.has(name)) issues.add("tag_columns", `names '${name}', which places the selection and cannot be a tag`);
    }
    return { tags: free.filter((h) => asked.includes(h)), ignored: free.filter((h) => !asked.includes(h)) };
  }
  const ignored = (h: string) => h.startsWith(FEATURE_COLUMN_PREFIX) || MEASUREMENT_UNIT.test(h);
  return { tags: free.filter((h) => !ignored(h)), ignored: free.filter(ignored) };
}

/** A Raven selection table (or its columns as CSV). */
function readRaven(text: string, format: "raven" | "csv", asked: readonly string[] | undefined): ReadTable {
  const issues = new TableFaults();
  const records = delimitedRecords(text, format === "raven" ? "\t" : ",", issues);
  issues.check();
  if (!records.length) throw new InvalidError([{ field: "table", message: "is empty: expected a header line and a row per selection" }]);
  const [head, ...rows] = records;
  checkRowCount(rows.length);
  // Column names are tag keys: stored as labels are (trimmed, NFC).
  const header = head.cells.map(labelForm);
  header.forEach((name, i) => {
    if (!wellFormed(name) || name.includes("\0")) issues.add(`line ${head.line}`, `column ${i + 1}'s name must be well-formed text without NUL characters (a tag key)`);
    else if (name !== "" && header.indexOf(name) !== i) issues.add(`line ${head.line}`, `names the column '${name}' twice (columns ${header.indexOf(name) + 1} and ${i + 1})`);
    else if (name.length > MAX_TAG_LENGTH) issues.add(`line ${head.line}`, `column ${i + 1}'s name must be at most ${MAX_TAG_LENGTH} characters (a tag key)`);
  });
  const missing = [COLUMN.begin, COLUMN.end].filter((c) => !header.includes(c));
  if (missing.length) {
    const delimiter = format === "raven" ? "tab" : "comma";
    issues.add(missing.join(", "), `column missing from the header (line ${head.line}, read as ${delimiter}-separated: ${header.map((h) => `'${h}'`).join(", ")}); a selection table names '${COLUMN.begin}' and '${COLUMN.end}'`);
  }
  const { tags: tagColumns, ignored } = tagColumnsOf(header, asked, issues);
  issues.check();

  const has = (column: string) => header.includes(column);
  const beginColumn = has(COLUMN.fileOffset) ? COLUMN.fileOffset : COLUMN.begin;
  const selections: TableSelection[] = [];
  /**
   * The selection each (Selection, Channel) was first read as: Raven writes a row per View of a
   * selection, and of a selection across channels a row per channel — a clip each.
   */
  const bySelection = new Map<string, TableSelection>();
  for (const row of rows) {
    const at = (column: string) => `line ${row.line}, ${column}`;
    // A trailing delimiter (an empty cell past the header's last column) is no fault.
    const extra = row.cells.slice(header.length).filter((c) => c !== "");
    if (extra.length) {
      issues.add(`line ${row.line}`, `has ${row.cells.length} cells, more than the header's ${header.length} columns`);
      continue;
    }
    const cell = (column: string) => (has(column) ? row.cells[header.indexOf(column)] ?? "" : "");
    const before = issues.count;
    const beginTime = numberCell(cell(COLUMN.begin), at(COLUMN.begin), "seconds", issues);
    const endTime = numberCell(cell(COLUMN.end), at(COLUMN.end), "seconds", issues);
    const offset = has(COLUMN.fileOffset) ? numberCell(cell(COLUMN.fileOffset), at(COLUMN.fileOffset), "seconds", issues) : beginTime;
    let channel = 1;
    if (has(COLUMN.channel)) {
      channel = numberCell(cell(COLUMN.channel), at(COLUMN.channel), "a channel (1 is the first)", issues);
      if (Number.isFinite(channel) && !(Number.isInteger(channel) && channel >= 1)) issues.add(at(COLUMN.channel), `'${cell(COLUMN.channel)}' is no channel: channels are numbered from 1`);
    }
    const frequency = (column: string) => (has(column) && cell(column) !== "" ? numberCell(cell(column), at(column), "Hz", issues) : null);
    const low = frequency(COLUMN.low);
    const high = frequency(COLUMN.high);
    if (issues.count > before) continue;
    if (beginTime < 0) issues.add(at(COLUMN.begin), `${beginTime} s is before the start: times are >= 0`);
    if (offset < 0) issues.add(at(COLUMN.fileOffset), `${offset} s is before the start of the file: times are >= 0`);
    if (!(endTime > beginTime)) issues.add(at(COLUMN.end), `${endTime} s must be after ${COLUMN.begin} (${beginTime} s): a selection lasts`);
    if ((low === null) !== (high === null)) issues.add(at(low === null ? COLUMN.low : COLUMN.high), `is empty while ${low === null ? COLUMN.high : COLUMN.low} is not: give both bounds or neither`);
    if (low !== null && low < 0) issues.add(at(COLUMN.low), `${low} Hz is below 0`);
    if (low !== null && high !== null && low > high) issues.add(at(COLUMN.high), `${high} Hz is below ${COLUMN.low} (${low} Hz)`);
    const beginFile = cell(COLUMN.beginFile) || null;
    const endFile = cell(COLUMN.endFile) || null;
    if (beginFile !== null && endFile !== null && endFile !== beginFile) issues.add(at(COLUMN.endFile), `the selection spans two files (${COLUMN.beginFile} '${beginFile}', ${COLUMN.endFile} '${endFile}'): a clip lies within one recording`);
    if (issues.count > before) continue;
    const tags = tagColumns.map((c) => tagCell(c, cell(c), at(c), issues)).filter((t) => t !== null);
    const selection: TableSelection = {
      line: row.line,
      selection: cell(COLUMN.selection) || null,
      channel,
      begin: offset,
      // In a multi-file table Begin Time counts from the first file, File Offset from the selection's own.
      end: beginColumn === COLUMN.fileOffset ? offset + (endTime - beginTime) : endTime,
      low, high,
      beginPath: cell(COLUMN.beginPath) || null,
      beginFile,
      tags,
    };
    const key = `${selection.selection} ${channel}`;
    const seen = selection.selection === null ? undefined : bySelection.get(key);
    if (!seen) {
      if (selection.selection !== null) bySelection.set(key, selection);
      selections.push(selection);
      continue;
    }
    // Another view's row of a selection read already: the same piece, or a fault.
    const differs = ([
      [beginColumn, seen.begin !== selection.begin],
      [COLUMN.end, seen.end !== selection.end],
      [COLUMN.beginPath, seen.beginPath !== selection.beginPath],
      [COLUMN.beginFile, seen.beginFile !== selection.beginFile],
    ] as const).filter(([, d]) => d).map(([c]) => c);
    if (differs.length) {
      issues.add(at(differs[0]), `Selection ${selection.selection} of channel ${channel} is on line ${seen.line} too, with another ${differs.join(", ")}: rows of one selection (one per View) must place it alike — renumber one of them`);
      continue;
    }
    // The spectrogram view's row bounds frequencies; a waveform view's spans the whole band.
    if (/^spectrogram/i.test(cell(COLUMN.view))) Object.assign(seen, { low, high });
    for (const t of tags) if (!seen.tags.some((s) => s.key === t.key && s.value === t.value)) seen.tags.push(t);
  }
  issues.check();
  return { format, selections, tagColumns, ignoredColumns: ignored, beginColumn, endColumn: COLUMN.end };
}

/**
 * An Audacity label track export: a line per label, `start<TAB>end<TAB>label`, optionally followed
 * by a line `\<TAB>low<TAB>high` — the label's frequency range, negative where it has none.
 */
function readAudacity(text: string, labelKey: string): ReadTable {
  const issues = new TableFaults();
  const key = labelForm(labelKey);
  if (isBlank(key) || key.length > MAX_TAG_LENGTH) throw new InvalidError([{ field: "label_key", message: `must be a tag key of 1 to ${MAX_TAG_LENGTH} characters` }]);
  const lines = text.replace(/^\ufeff/, "").split(/\r\n|\n|\r/).map((t, i) => ({ line: i + 1, cells: t.split("\t") })).filter((l) => l.cells.some((c) => c.trim() !== ""));
  checkRowCount(lines.filter((l) => l.cells[0].trim() !== "\\").length);
  const selections: TableSelection[] = [];
  let previous: { line: number; selection: TableSelection | null } | null = null;
  for (const { line, cells } of lines) {
    const at = (column: string) => `line ${line}, ${column}`;
    const before = issues.count;
    if (cells[0].trim() === "\\") {
      if (!previous || previous.line !== line - 1) {
        issues.add(`line ${line}`, "a frequency line (starting with \\) must follow its label's line");
        continue;
      }
      const low = numberCell((cells[1] ?? "").trim(), at("low frequency"), "Hz", issues);
      const high = numberCell((cells[2] ?? "").trim(), at("high frequency"), "Hz", issues);
      if (issues.count > before || !previous.selection) continue;
      // Audacity writes a negative frequency where the label has no bound.
      if (low >= 0 && high >= 0) {
        if (low > high) issues.add(at("high frequency"), `${high} Hz is below the low frequency (${low} Hz)`);
        else Object.assign(previous.selection, { low, high });
      }
      continue;
    }
    const start = numberCell(cells[0].trim(), at("start"), "seconds", issues);
    const end = numberCell((cells[1] ?? "").trim(), at("end"), "seconds", issues);
    previous = { line, selection: null };
    if (issues.count > before) continue;
    if (start < 0) issues.add(at("start"), `${start} s is before the start: times are >= 0`);
    if (!(end > start)) issues.add(at("end"), `${end} s must be after the start (${start} s): a label marking an instant is no clip`);
    if (issues.count > before) continue;
    const label = tagCell(key, cells.slice(2).join("\t"), at("label"), issues);
    const selection: TableSelection = { line, selection: null, channel: 1, begin: start, end, low: null, high: null, beginPath: null, beginFile: null, tags: label ? [label] : [] };
    previous.selection = selection;
    selections.push(selection);
  }
  issues.check();
  return { format: "audacity", selections, tagColumns: [key], ignoredColumns: [], beginColumn: "start", endColumn: "end" };
}

/**
 * Delimited text of `header` and `rows` (cells as text): tab-separated with LF line ends (Raven),
 * or comma-separated with CRLF (RFC 4180). A cell holding the delimiter, a quote or a line break is
 * quoted, its quotes doubled (Raven shows the quotes; readTable reads the cell back).
 */
export function writeTable(format: "raven" | "csv", header: readonly string[], rows: readonly (readonly string[])[]): string {
  const delimiter = format === "raven" ? "\t" : ",";
  const special = format === "raven" ? /[\t"\r\n]/ : /[,"\r\n]/;
  const quote = (c: string) => (special.test(c) ? `"${c.replace(/"/g, '""')}"` : c);
  const end = format === "raven" ? "\n" : "\r\n";
  return [header, ...rows].map((r) => r.map(quote).join(delimiter) + end).join("");
}
