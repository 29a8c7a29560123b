/**
 * Annotation tables as text: Raven Pro selection tables (tab-separated, or the same columns as
 * CSV) and Audacity label tracks, read into selections (readTable) and written a line at a time
 * (tableLine). Text only — which recording a selection belongs to, and its times in real units,
 * are store/clip-tables.ts's business.
 *
 * Every refusal is an InvalidError whose fields name the line of the file ("line 4", the header
 * being line 1 — what an editor shows) and the column, and all of a table's faults are reported at
 * once (up to MAX_ISSUES): a researcher fixes the file in one pass.
 */
import { decimalNumber } from "../audio/decimal.js";
import { plural } from "../audio/types.js";
import { csvCell, unguardedCsvCell } from "../render/csv.js";
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
  /**
   * Not Raven's: the clip an exported row is (sonotile's export writes it). An import finds no
   * row's clip by it — a row is the clip of its times, band and channel — so it is listed as
   * ignored; it is read only to say when a row names a clip it is not (importClipTable's
   * warnings), to leave such a clip without a Channel tag, and to find a clip past its
   * recording's end as it stands.
   */
  clipId: "Clip ID",
} as const;

/** The columns that place a selection (never tags): Raven's geometry and file columns, and the exported clip id. */
const PLACING_COLUMNS: ReadonlySet<string> = new Set(Object.values(COLUMN));

/**
 * The placing columns (never tags) whose cells place no clip, listed as ignored (readRaven): End
 * Path (End File is what a row spanning two files is told by) and Clip ID (a row's clip is found by
 * its times, band and channel, not by it: COLUMN.clipId) — an annotator who edits a row's Clip ID,
 * or its times expecting the clip of that id to move, is told that the import did not go by it.
 */
const UNUSED_PLACING_COLUMNS: ReadonlySet<string> = new Set([COLUMN.endPath, COLUMN.clipId]);

/**
 * How far apart (seconds) two rows' Begin Time (s) − File Offset (s) may be and still give one
 * start of their file (checkFileStarts): each row's is within a microsecond of the file's start
 * when its two cells are rounded (or truncated) to 6 decimals, so two rows are within two (Raven
 * writes 9 decimals, sonotile's export the two cells alike); and a nanosecond for the subtraction's
 * floating point, which made a difference of exactly 1 µs 1.000000001e-6. Further apart, one of a
 * row's two cells was edited without the other — by more than a sample at 500 kHz.
 */
const FILE_START_TOLERANCE = 2e-6 + 1e-9;

/** The header prefix of an exported feature value's column ("feature:rms_dbfs"); an import ignores such columns. */
export const FEATURE_COLUMN_PREFIX = "feature:";

/**
 * Raven Pro's measurement columns, as Raven names them in a selection table's header: values Raven
 * computes from the audio (or the clock), not annotations, so no tags. Raven Pro 1.6's measurement
 * list (Raven Pro 1.6 User's Manual, chapter 5 "Measurements", and appendix "Measurement
 * definitions"; checked against a public selection table exported with every measurement on —
 * the header of GitHub code found by the column "Center Time Rel.", a ground-squirrel call study's
 * `accepted_columns`). A column not listed here (or placing the selection, or an exported feature
 * value) is an annotation, whatever its name: `Confidence (%)`, `Score (dB)` are the user's.
 */
export const RAVEN_MEASUREMENTS: ReadonlySet<string> = new Set([
  "Agg Entropy (bits)", "Avg Amp (U)", "Avg Entropy (bits)", "Avg Power Density (dB FS)", "Avg Power Density (dB FS/Hz)",
  "BW 50% (Hz)", "BW 90% (Hz)", "Begin Clock Time", "Begin Date", "Begin Date Time", "Beg File Samp (samples)",
  "Begin Hour", "Begin Sample (samples)", "Center Freq (Hz)", "Center Time (s)", "Center Time Rel.",
  "Delta Freq (Hz)", "Delta Power (dB FS)", "Delta Time (s)", "Dur 50% (s)", "Dur 90% (s)", "End Clock Time",
  "End Date", "End File Samp (samples)", "End Sample (samples)", "Energy", "F-RMS Amp (U)", "Freq 5% (Hz)",
  "Freq 25% (Hz)", "Freq 75% (Hz)", "Freq 95% (Hz)", "Freq Contour  5% (Hz)", "Freq Contour 5% (Hz)",
  "Freq Contour 25% (Hz)", "Freq Contour 50% (Hz)", "Freq Contour 75% (Hz)", "Freq Contour 95% (Hz)",
  "Inband Power (dB FS)", "Length (frames)", "Leq (dB FS)", "Max Amp (U)", "Max Bearing (deg)",
  "Max Entropy (bits)", "Max Freq (Hz)", "Max Time (s)", "Min Amp (U)", "Min Entropy (bits)", "Min Time (s)",
  "Peak Amp (U)", "Peak Corr (U)", "Peak Freq (Hz)", "Peak Freq Contour (Hz)", "PFC Avg Slope (Hz/ms)",
  "PFC Max Freq (Hz)", "PFC Max Slope (Hz/ms)", "PFC Min Freq (Hz)", "PFC Min Slope (Hz/ms)", "PFC Num Inf Pts",
  "PFC Slope (Hz/ms)", "Peak Lag (s)", "Peak Power Density (dB FS)", "Peak Power Density (dB FS/Hz)",
  "Peak Time (s)", "Peak Time Relative", "RMS Amp (U)", "SEL (dB FS)", "SNR NIST Quick (dB FS)",
  "Sample Length (samples)", "Time 5% (s)", "Time 5% Rel.", "Time 25% (s)", "Time 25% Rel.", "Time 75% (s)",
  "Time 75% Rel.", "Time 95% (s)", "Time 95% Rel.",
  // Raven Pro 1.5's long names (as the R package Rraven lists them, "Raven Pro 1.5.0 build 35"),
  // and older ones seen in members' tables: without them a table of 10,000 rows and 11 such
  // columns became 110,000 tags of measured values.
  "1st Quartile Freq (Hz)", "3rd Quartile Freq (Hz)",
  "1st Quartile Frequency (Hz)", "1st Quartile Frequency Relative", "1st Quartile Time (s)", "1st Quartile Time Relative",
  "3rd Quartile Frequency (Hz)", "3rd Quartile Frequency Relative", "3rd Quartile Time (s)", "3rd Quartile Time Relative",
  "Aggregate Entropy (bits)", "Average Amplitude (u)", "Average Entropy (bits)", "Average Power (dB)", "Bandwidth 90% (Hz)",
  "Begin File Sample (samples)", "Center Frequency (Hz)", "Center Time Relative", "Delta Frequency (Hz)", "Delta Power (dB)",
  "Duration 90% (s)", "Energy (dB)", "Filtered RMS Amplitude (U)", "Frequency 5% (Hz)", "Frequency 5% Relative",
  "Frequency 95% (Hz)", "Frequency 95% Relative", "Frequency Contour Percentile  5% (Hz)", "Frequency Contour Percentile 5% (Hz)",
  "Frequency Contour Percentile 25% (Hz)", "Frequency Contour Percentile 50% (Hz)", "Frequency Contour Percentile 75% (Hz)",
  "Frequency Contour Percentile 95% (Hz)", "IQR Bandwidth (Hz)", "IQR Duration (s)", "Inband Power (dB)", "Leq (dB)",
  "Max Amplitude (U)", "Max Frequency (Hz)", "Max Power (dB)", "Min Amplitude (U)", "Peak Amplitude (U)", "Peak Correlation (U)",
  "Peak Frequency (Hz)", "Peak Frequency Contour (Hz)", "Peak Frequency Contour Average Slope (Hz/ms)",
  "Peak Frequency Contour Max Frequency (Hz)", "Peak Frequency Contour Max Slope (Hz/ms)", "Peak Frequency Contour Min Frequency (Hz)",
  "Peak Frequency Contour Min Slope (Hz/ms)", "Peak Frequency Contour Number of Inflection Points", "Peak Frequency Contour Slope (Hz/ms)",
  "Peak Power (dB)", "RMS Amplitude (U)", "SEL (dB)",
]);

/**
 * The most rows (selections, or Audacity labels) one table may have: one import is one
 * transaction, which holds its recordings' locks to the end. 10,000 rows with two tags and
 * frequency bounds each took 9.7 s on the embedded database, 5.9 s on PostgreSQL 15 (2 CPUs, load
 * ~20; 20,000 rows: 16.8 s and 7.7 s); importing them again, 2.3 s and 2.0 s.
 */
export const MAX_TABLE_ROWS = 10_000;

/**
 * The most columns a Raven or CSV table may have (Raven Pro with every measurement writes under
 * 100), and the most tags (values of annotation cells) one import may create or attach: the
 * largest table of rows (MAX_TABLE_ROWS) with 40 annotation columns — a cap of 100,000 refused real
 * tables of 10,000 rows whose 11 older Raven measurement columns were read as annotations. Past
 * them an import costs without bound within its body limit — one row of 60,000 annotation columns
 * (818 kB) held the embedded database for 150 s, every other request waiting; 8 MiB holds
 * millions of cells.
 */
export const MAX_TABLE_COLUMNS = 1_000;
export const MAX_TABLE_TAGS = MAX_TABLE_ROWS * 40;

/**
 * The most distinct tags (key and value pairs) one import may name. Making a tag, not attaching
 * one, is most of an import's cost: 400,000 distinct tags (10,000 rows of 40 columns of distinct
 * values) took 150–154 s on the embedded database, every other request waiting past the routes'
 * 120 s deadline, and 81 s on PostgreSQL 15; the same 400,000 tags of 5 values a column, 61 s
 * embedded (2 CPUs, load 10–30). 100,000 (ten free-text columns of a full table) took 7.7 s embedded (load 11).
 */
export const MAX_TABLE_DISTINCT_TAGS = 100_000;

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
  /** The line low and high were read from: a later View's row of a selection read on several (Raven's spectrogram row), for messages. */
  frequencyLine: number;
  /** Its Begin Path and Begin File cells; null where the table has no such column or the cell is empty. */
  beginPath: string | null;
  beginFile: string | null;
  /**
   * Its cells hold faults, added to the reader's (readTable's rowFaults): it is checked against its
   * recording as far as its readable cells go — a time that is no number is NaN, a bound that is
   * none null — so that every fault of the row is named at once, and never becomes a clip.
   */
  faulty: boolean;
  /** Its Clip ID cell — the clip sonotile's export wrote the row of (lower-cased) — or null (no such column, an empty cell, Audacity). */
  clipId: string | null;
  /** Its annotations: (column, value) for each value of each tag column's cell (VALUE_SEPARATOR; empty cells none); (label_key, label) for Audacity. */
  tags: { key: string; value: string }[];
  /**
   * Raven/CSV: each tag column's cell as written (trimmed, NFC), which its tags were read from — to
   * match an existing clip's values against as an export before the escapes wrote them
   * (unescapedValuesCell). A selection read on several rows whose cells of a column differ has none
   * of that column. Audacity: none.
   */
  cells: Map<string, string>;
}

export interface ReadTable {
  format: TableFormat;
  selections: TableSelection[];
  /** The columns whose cells became tags. */
  tagColumns: string[];
  /**
   * The columns the import does not use, in the header's order: Raven's measurements, exported
   * feature values, End Path and Clip ID (UNUSED_PLACING_COLUMNS), cells under a header without a
   * name ("column 7 (no name)").
   */
  ignoredColumns: string[];
  /** Rows read but not selections, each with why: an Audacity point label (start = end), which marks an instant and is no clip. */
  skipped: { line: number; reason: string }[];
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

/** A table's faults (TableFaults.check), bounded where made: the first MAX_ISSUES, then how many more — listed whole, for a fix in one pass. */
export class TableFaultsError extends InvalidError {
  override name = "TableFaultsError";
}

/** Collects a table's faults, to throw as the fields of one TableFaultsError (the first MAX_ISSUES, then how many more). */
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
  /** Throws them, if any, by line: a row's cells are read before rows are checked against their recording, and the reader fixes the file from the top. */
  check(): void {
    if (!this.count) return;
    const line = (f: { field: string }) => Number(/^line (\d+)/.exec(f.field)?.[1] ?? 0);
    const list = [...this.list].sort((a, b) => line(a) - line(b));
    throw new TableFaultsError(this.more ? [...list, { field: "table", message: `and ${this.more} more faults` }] : list);
  }
}

/** A cell of a delimited record: its text (unquoted cells trimmed) and the line it starts on. */
interface TextRecord {
  line: number;
  cells: string[];
}

/**
 * The records of delimited text: cells split at `delimiter`, records at CRLF, LF or CR; blank
 * lines are skipped, a byte-order mark at the start dropped. Reading stops past `maxRecords`
 * records: the caller refuses that many, and an 8 MiB body of 2 million short rows read whole took
 * 570 MB and 10.5 s.
 *
 * `quoted` (CSV, RFC 4180): a cell starting with `"` is quoted — `""` is a quote, delimiters and
 * line breaks inside are text — and its closing quote must end the cell (the delimiter or the
 * line's end follows). A quote that never closes, or that closes mid-cell, is an issue naming the
 * line it opened on, and reading stops there: past a stray quote, where rows begin is unknown, and
 * an open quote would otherwise swallow the rows after it. A CSV cell loses the guard against
 * spreadsheet formulas that sonotile's export gave it (unguardedCsvCell), so an exported table
 * imports as it was. Raven never quotes (a quote in its table is text): without `quoted`, `"` is a
 * character like any other, and a leading `'` too. A record of more than MAX_TABLE_COLUMNS cells
 * is refused as soon as it is read.
 */
function delimitedRecords(text: string, delimiter: string, quoted: boolean, maxRecords: number, issues: TableFaults): TextRecord[] {
  const tooWide = (record: TextRecord) => new InvalidError([{ field: `line ${record.line}`, message: `has more than the limit of ${MAX_TABLE_COLUMNS} cells: a table has at most ${MAX_TABLE_COLUMNS} columns` }]);
  const records: TextRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const atLineEnd = () => text[i] === "\n" || text[i] === "\r";
  const skipLineEnd = () => {
    i += text[i] === "\r" && text[i + 1] === "\n" ? 2 : 1;
    line++;
  };
  while (i < text.length && records.length <= maxRecords) {
    const record: TextRecord = { line, cells: [] };
    for (;;) {
      if (quoted && text[i] === '"') {
        const opened = line;
        let cell = "";
        i++;
        for (;;) {
          if (i >= text.length) {
            issues.add(`line ${opened}`, "a quoted cell is not closed: a \" opens it and none closes it (a quote inside a cell is written \"\")");
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
        if (i < text.length && text[i] !== delimiter && !atLineEnd()) {
          const closed = line === opened ? "" : ` (it closes on line ${line})`;
          issues.add(`line ${opened}`, `a quoted cell's closing " is followed by '${text[i]}', not by a ${delimiter === "," ? "comma" : "delimiter"} or the line's end${closed}: a quote inside a cell is written "" and the cell quoted whole`);
          return records;
        }
        record.cells.push(unguardedCsvCell(cell));
      } else {
        const start = i;
        while (i < text.length && text[i] !== delimiter && !atLineEnd()) i++;
        const cell = text.slice(start, i).trim();
        record.cells.push(quoted ? unguardedCsvCell(cell) : cell);
      }
      if (i < text.length && text[i] === delimiter) {
        i++;
        // A delimiter ending the line (a trailing one, which a row may have) opens no cell past the limit.
        if (record.cells.length >= MAX_TABLE_COLUMNS && i < text.length && !atLineEnd()) throw tooWide(record);
        continue;
      }
      if (i < text.length) skipLineEnd();
      break;
    }
    if (record.cells.some((c) => c !== "")) records.push(record);
  }
  return records;
}

/** A Raven View that is a waveform ("Waveform 1"): its row's Low/High Freq are not read (readRaven). */
const WAVEFORM_VIEW = /^waveform/i;

/** A frequency cell that was read: given (not null) and a number (not NaN, an unreadable cell's). */
const readable = (hz: number | null): hz is number => hz !== null && !Number.isNaN(hz);

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

/**
 * What separates the values of one key in a cell: an export writes a clip's several values of a
 * tag key so ("Eptesicus; Vespertilio", as Raven users list several labels in one column), and a
 * Raven or CSV table's cell is read as its values split at ";" (the spaces around it trimmed) — a
 * tag each, so that the round trip gives the clip's tags back, on a new clip as on an existing one.
 */
export const VALUE_SEPARATOR = "; ";

/**
 * The escapes of a cell, which valuesCell writes and cellValues reads back: a ";" inside a value is
 * written `\;` and a backslash `\\`, so that the value comes back as the one tag it is (a value
 * "faint; partial", given through the API, came back from an export as the tags "faint" and
 * "partial"). A backslash before anything else is read as itself, so a
 * hand-written cell's backslashes (`C:\calls`) stay as they are.
 */
const ESCAPED = /\\([\\;])/g;

/** The cell of `values` (one tag key's): each escaped (ESCAPED), joined by VALUE_SEPARATOR. */
export function valuesCell(values: readonly string[]): string {
  return values.map((value) => value.replace(/[\\;]/g, "\\$&")).join(VALUE_SEPARATOR);
}

/**
 * The cell of `values` as an export wrote it before the escapes (ESCAPED): joined by
 * VALUE_SEPARATOR, unescaped. Read back by cellValues, a value holding ";" or "\\" in such a table
 * comes back as other values ("faint; partial" as "faint" and "partial", `\\srv\calls` as
 * `\srv\calls`): an import compares an existing clip's values with a cell in this form too, so that
 * a table exported before, re-imported onto its own clips, adds none.
 */
export function unescapedValuesCell(values: readonly string[]): string {
  return values.join(VALUE_SEPARATOR);
}

/**
 * The values a Raven or CSV annotation cell is read as: split at each ";" (VALUE_SEPARATOR) not
 * escaped (ESCAPED), unescaped, each trimmed and in NFC as a tag is stored, empty ones dropped,
 * each once.
 */
export function cellValues(text: string): string[] {
  const values = [...text.matchAll(/(?:\\[\\;]|[^;])+/g)].map((piece) => labelForm(piece[0].replace(ESCAPED, "$1")));
  return [...new Set(values.filter((value) => !isBlank(value)))];
}

/** The tags of `key` from a Raven or CSV annotation cell: a tagCell of each of its values (cellValues). */
function tagCells(key: string, text: string, field: string, issues: TableFaults): { key: string; value: string }[] {
  return cellValues(text).map((value) => tagCell(key, value, field, issues)).filter((t) => t !== null);
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
  // The first line holding anything: a blank line above the header is no reason to fail.
  const first = /^[^\S\r\n]*\S.*$/m.exec(text.replace(/^\ufeff/, ""))?.[0] ?? "";
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

/**
 * A table file's bytes as text: UTF-16 (little- or big-endian) when it starts with that byte-order
 * mark — Excel's "Unicode Text" and some Windows editors save so — else UTF-8. An InvalidError
 * naming the table when it is neither: UTF-16 without its mark (NUL characters between the
 * letters), or bytes that are not UTF-8 (checkUtf8, naming the line).
 */
export function decodeTable(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder("utf-16le").decode(bytes);
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder("utf-16be").decode(bytes);
  const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  if (text.includes("\0")) throw new InvalidError([{ field: "table", message: "holds NUL characters, which no table's text has: is it UTF-16 without its byte-order mark? Save it as UTF-8 (or UTF-16 with a byte-order mark)" }]);
  checkUtf8(text);
  return text;
}

/**
 * Reads an annotation table; throws InvalidError naming each faulty line and column. Given
 * `rowFaults`, the faults of rows' cells are added there instead and those rows' selections
 * marked `faulty` (Raven/CSV; an Audacity label's left out) — for a caller that checks every row
 * against its recording as far as it can be read and refuses every fault of every row at once
 * (TableFaults.check); faults of the table as a whole (its encoding, header,
 * quoting, size) are thrown all the same.
 */
export function readTable(text: string, options: ReadOptions = {}, rowFaults?: TableFaults): ReadTable {
  const issues = rowFaults ?? new TableFaults();
  checkUtf8(text);
  const format = options.format ?? recognise(text);
  // An option of the other format's would be ignored unsaid: refused, naming it.
  if (format === "audacity" && options.tagColumns !== undefined) throw new InvalidError([{ field: "tag_columns", message: "is for a Raven or CSV table's columns: an Audacity label track has none (its labels become tags of label_key)" }]);
  if (format !== "audacity" && options.labelKey !== undefined) throw new InvalidError([{ field: "label_key", message: `is for an Audacity label track: a ${format} table's tags are named by its columns (tag_columns chooses them)` }]);
  const table = format === "audacity" ? readAudacity(text, options.labelKey ?? "label", issues) : readRaven(text, format, options.tagColumns, issues);
  if (!rowFaults) issues.check();
  return table;
}

/** Refuses more rows than MAX_TABLE_ROWS, naming the limit (the readers stop at the first row past it: `rows` is at most one more). */
function checkRowCount(rows: number): void {
  if (rows > MAX_TABLE_ROWS) throw new InvalidError([{ field: "table", message: `has more than the limit of ${MAX_TABLE_ROWS} rows per import: split it into several tables` }]);
}

/** The most columns a message naming the header's columns lists (the rest are counted). */
const SHOWN_COLUMNS = 50;

/** Which of a Raven header's columns become tags, and which are left (measurements, feature values). */
function tagColumnsOf(header: readonly string[], asked: readonly string[] | undefined, issues: TableFaults): { tags: string[]; ignored: string[] } {
  const free = header.filter((h) => h !== "" && !PLACING_COLUMNS.has(h));
  if (asked) {
    // Sets, not searches of arrays: as in readRaven, a header of many columns against many names
    // asked grew with their product.
    const named = new Set(header);
    const wanted = new Set(asked);
    const shown = header.length > SHOWN_COLUMNS ? `${header.slice(0, SHOWN_COLUMNS).join(", ")}, … (${header.length} columns)` : header.join(", ");
    for (const name of wanted) {
      if (!named.has(name)) issues.add("tag_columns", `names '${name}', which the table's header does not have (it has: ${shown})`);
      else if (PLACING_COLUMNS.has(name)) issues.add("tag_columns", `names '${name}', which places the selection and cannot be a tag`);
    }
    return { tags: free.filter((h) => wanted.has(h)), ignored: free.filter((h) => !wanted.has(h)) };
  }
  const ignored = (h: string) => h.startsWith(FEATURE_COLUMN_PREFIX) || RAVEN_MEASUREMENTS.has(h);
  return { tags: free.filter((h) => !ignored(h)), ignored: free.filter(ignored) };
}

/** A Raven selection table (or its columns as CSV). */
function readRaven(text: string, format: "raven" | "csv", asked: readonly string[] | undefined, issues: TableFaults): ReadTable {
  // The header and one row past the limit: enough to refuse the table.
  const records = delimitedRecords(text, format === "raven" ? "\t" : ",", format === "csv", MAX_TABLE_ROWS + 1, issues);
  issues.check();
  if (!records.length) throw new InvalidError([{ field: "table", message: "is empty: expected a header line and a row per selection" }]);
  const [head, ...rows] = records;
  checkRowCount(rows.length);
  // Column names are tag keys: stored as labels are (trimmed, NFC).
  const header = head.cells.map(labelForm);
  // Each name's first column, looked up once: a search of the header per column and per cell took
  // time growing with the square of the columns — a member's 818 kB table of 60,000 columns held
  // the event loop (every request, /health too) for 93 s.
  const columnIndex = new Map<string, number>();
  header.forEach((name, i) => {
    if (!columnIndex.has(name)) columnIndex.set(name, i);
  });
  header.forEach((name, i) => {
    const first = columnIndex.get(name)!;
    if (!wellFormed(name) || name.includes("\0")) issues.add(`line ${head.line}`, `column ${i + 1}'s name must be well-formed text without NUL characters (a tag key)`);
    else if (name !== "" && first !== i) issues.add(`line ${head.line}`, `names the column '${name}' twice (columns ${first + 1} and ${i + 1})`);
    else if (name.length > MAX_TAG_LENGTH) issues.add(`line ${head.line}`, `column ${i + 1}'s name must be at most ${MAX_TAG_LENGTH} characters (a tag key)`);
  });
  const missing = [COLUMN.begin, COLUMN.end].filter((c) => !header.includes(c));
  if (missing.length) {
    const delimiter = format === "raven" ? "tab" : "comma";
    issues.add(missing.join(", "), `column missing from the header (line ${head.line}, read as ${delimiter}-separated: ${header.map((h) => `'${h}'`).join(", ")}); a selection table names '${COLUMN.begin}' and '${COLUMN.end}'`);
  }
  const { tags: tagColumns, ignored } = tagColumnsOf(header, asked, issues);
  issues.check();

  const has = (column: string) => columnIndex.has(column);
  const beginColumn = has(COLUMN.fileOffset) ? COLUMN.fileOffset : COLUMN.begin;
  const selections: TableSelection[] = [];
  /**
   * The selection each (Selection, Channel) was first read as: Raven writes a row per View of a
   * selection, and of a selection across channels a row per channel — a clip each.
   */
  const bySelection = new Map<string, TableSelection>();
  let tagCount = 0;
  const distinctTags = new Set<string>();
  const starts: RowStart[] = [];
  for (const row of rows) {
    const at = (column: string) => `line ${row.line}, ${column}`;
    // A trailing delimiter (an empty cell past the header's last column) is no fault.
    const extra = row.cells.slice(header.length).filter((c) => c !== "");
    if (extra.length) {
      issues.add(`line ${row.line}`, `has ${row.cells.length} cells, more than the header's ${header.length} columns`);
      continue;
    }
    const cell = (column: string) => (has(column) ? row.cells[columnIndex.get(column)!] ?? "" : "");
    // Every fault of the row is named, not its first only: each check below runs on the cells
    // that could be read (a cell that is no number is NaN here, and checked no further), and a
    // faulty row is still a selection, marked so, for the checks against its recording
    // (placeSelections: a High Freq above the Nyquist frequency beside an End Time 'abc').
    const before = issues.count;
    const beginTime = numberCell(cell(COLUMN.begin), at(COLUMN.begin), "seconds", issues);
    const endTime = numberCell(cell(COLUMN.end), at(COLUMN.end), "seconds", issues);
    const offset = has(COLUMN.fileOffset) ? numberCell(cell(COLUMN.fileOffset), at(COLUMN.fileOffset), "seconds", issues) : beginTime;
    let channel = 1;
    if (has(COLUMN.channel)) {
      channel = numberCell(cell(COLUMN.channel), at(COLUMN.channel), "a channel (1 is the first)", issues);
      if (Number.isFinite(channel) && !(Number.isInteger(channel) && channel >= 1)) issues.add(at(COLUMN.channel), `'${cell(COLUMN.channel)}' is no channel: channels are numbered from 1`);
    }
    // A waveform view's row bounds no frequencies (the Spectrogram view's row gives a selection's):
    // Raven writes its Low/High Freq as 0 and 0, or 0 and the Nyquist frequency, so they are not
    // read — whatever they hold. The rest of the row is read and checked as any row's: it places
    // the selection (rows of one selection must place it alike) and carries its annotations.
    const waveform = WAVEFORM_VIEW.test(cell(COLUMN.view));
    // An empty cell is no bound on that side (Raven writes both; sonotile's export leaves empty the bound a clip lacks).
    const frequency = (column: string) => (!waveform && has(column) && cell(column) !== "" ? numberCell(cell(column), at(column), "Hz", issues) : null);
    const low = frequency(COLUMN.low);
    const high = frequency(COLUMN.high);
    if (beginTime < 0) issues.add(at(COLUMN.begin), `${beginTime} s is before the start: times are >= 0`);
    if (offset < 0) issues.add(at(COLUMN.fileOffset), `${offset} s is before the start of the file: times are >= 0`);
    if (!Number.isNaN(beginTime) && !Number.isNaN(endTime) && !(endTime > beginTime)) issues.add(at(COLUMN.end), `${endTime} s must be after ${COLUMN.begin} (${beginTime} s): a selection lasts`);
    if (readable(low) && low < 0) issues.add(at(COLUMN.low), `${low} Hz is below 0`);
    if (readable(high) && !(high > 0)) issues.add(at(COLUMN.high), `${high} Hz must be above 0`);
    else if (readable(low) && readable(high) && !(low < high)) issues.add(at(COLUMN.high), `${high} Hz must be above ${COLUMN.low} (${low} Hz): a selection's band has a width`);
    const beginFile = cell(COLUMN.beginFile) || null;
    const endFile = cell(COLUMN.endFile) || null;
    if (beginFile !== null && endFile !== null && endFile !== beginFile) issues.add(at(COLUMN.endFile), `the selection spans two files (${COLUMN.beginFile} '${beginFile}', ${COLUMN.endFile} '${endFile}'): a clip lies within one recording`);
    const tags = tagColumns.flatMap((c) => tagCells(c, cell(c), at(c), issues));
    tagCount += tags.length;
    if (tagCount > MAX_TABLE_TAGS) throw new InvalidError([{ field: `line ${row.line}`, message: `brings the table's tags (values of its annotation cells) past the limit of ${MAX_TABLE_TAGS} per import: split it into several tables, or choose the columns with tag_columns` }]);
    for (const tag of tags) distinctTags.add(`${tag.key}\0${tag.value}`);
    if (distinctTags.size > MAX_TABLE_DISTINCT_TAGS) throw new InvalidError([{ field: `line ${row.line}`, message: `brings the table's distinct tags (different values of its annotation columns) past the limit of ${MAX_TABLE_DISTINCT_TAGS} per import: split it into several tables, or choose the columns with tag_columns` }]);
    const cells = new Map(tagColumns.map((c) => [c, labelForm(cell(c))]));
    const selection: TableSelection = {
      line: row.line,
      selection: cell(COLUMN.selection) || null,
      channel,
      begin: offset,
      // In a multi-file table Begin Time counts from the first file, File Offset from the selection's own.
      end: beginColumn === COLUMN.fileOffset ? offset + (endTime - beginTime) : endTime,
      // A bound that is no number is none here: the row is faulty, and its other bound is checked against the recording all the same.
      low: readable(low) ? low : null,
      high: readable(high) ? high : null,
      frequencyLine: row.line,
      beginPath: cell(COLUMN.beginPath) || null,
      beginFile,
      clipId: cell(COLUMN.clipId).toLowerCase() || null,
      tags,
      cells,
      faulty: issues.count > before,
    };
    const key = `${selection.selection} ${channel}`;
    const seen = selection.selection === null ? undefined : bySelection.get(key);
    if (!seen) {
      if (selection.selection !== null) bySelection.set(key, selection);
      selections.push(selection);
      // A selection's first row speaks for it: its other rows (per View) must place it alike (below).
      if (beginColumn === COLUMN.fileOffset && [beginTime, offset, endTime].every(Number.isFinite)) {
        starts.push({ selection, beginTime, offset, endTime, beginText: cell(COLUMN.begin), offsetText: cell(COLUMN.fileOffset) });
      }
      continue;
    }
    // Another view's row of a selection read already: the same piece, or a fault. A time neither
    // row could read differs from none (its cell's fault is named already).
    const differentTime = (a: number, b: number) => a !== b && !Number.isNaN(a) && !Number.isNaN(b);
    const differs = ([
      [beginColumn, differentTime(seen.begin, selection.begin)],
      [COLUMN.end, differentTime(seen.end, selection.end)],
      [COLUMN.beginPath, seen.beginPath !== selection.beginPath],
      [COLUMN.beginFile, seen.beginFile !== selection.beginFile],
    ] as const).filter(([, d]) => d).map(([c]) => c);
    if (differs.length) {
      issues.add(at(differs[0]), `Selection ${selection.selection} of channel ${channel} is on line ${seen.line} too, with another ${differs.join(", ")}: rows of one selection (one per View) must place it alike — renumber one of them`);
      seen.faulty = true;
      continue;
    }
    // A faulty row of a selection makes the selection faulty: its rows are one clip.
    if (selection.faulty) seen.faulty = true;
    // The spectrogram view's row bounds frequencies; a waveform view's none.
    if (/^spectrogram/i.test(cell(COLUMN.view))) Object.assign(seen, { low: selection.low, high: selection.high, frequencyLine: row.line });
    for (const t of tags) if (!seen.tags.some((s) => s.key === t.key && s.value === t.value)) seen.tags.push(t);
    for (const [c, text] of cells) if (seen.cells.get(c) !== text) seen.cells.delete(c);
  }
  checkFileStarts(starts, issues);
  // A cell under a header without a name is no tag (a tag needs a key), but not dropped unsaid.
  const unused = new Set([...UNUSED_PLACING_COLUMNS, ...ignored]);
  const ignoredColumns = header.flatMap((h, i) => (h === "" ? (rows.some((r) => (r.cells[i] ?? "") !== "") ? [`column ${i + 1} (no name)`] : []) : unused.has(h) ? [h] : []));
  return { format, selections, tagColumns, ignoredColumns, skipped: [], beginColumn, endColumn: COLUMN.end };
}

/** A selection's times as its first row gives them (readRaven), for checkFileStarts: the numbers, and its Begin Time and File Offset cells as written. */
interface RowStart {
  selection: TableSelection;
  beginTime: number;
  offset: number;
  endTime: number;
  beginText: string;
  offsetText: string;
}

/** A number of seconds as a message shows it: to the nanosecond, without a binary fraction's tail (10.2742 − 0.274 = 10.000199999999999). */
const shownSeconds = (s: number) => String(Number(s.toFixed(9)));

/** The most starts, and lines of each, that a message of selections disagreeing on their file's start lists. */
const SHOWN_STARTS = 5;

/**
 * Refuses the selections whose Begin Time (s) − File Offset (s) is not their file's. In Raven's
 * table Begin Time counts from the start of the table's first file and File Offset from the
 * selection's own: for the selections of one file the difference is the same — where the file
 * starts in the table (0 in a table of one file, and in sonotile's export, which writes the two
 * alike). A selection whose difference is another was edited in one of the two cells alone — an
 * annotator's Begin Time 0.274 → 0.2742 with File Offset left at 0.274 — and the import, which
 * places a row by File Offset (+ End − Begin), made a clip of neither cell's times, beside the
 * one it was. Refused, not read by one cell or the other: the file's start is known only from its
 * other selections (a file of one selection tells none, and is not checked), and a guess would
 * move a clip unsaid. The start most of a file's selections share is the file's, and the others
 * are each a fault naming both cells, the start and the column to fix (File Offset: Raven
 * computes it from Begin Time, the cell Raven places a selection by); when no start is most
 * selections', each selection is a fault listing the starts.
 */
function checkFileStarts(starts: readonly RowStart[], issues: TableFaults): void {
  const byFile = new Map<string, RowStart[]>();
  for (const s of starts) {
    const file = s.selection.beginPath ?? s.selection.beginFile ?? "";
    const rows = byFile.get(file);
    if (rows) rows.push(s);
    else byFile.set(file, [s]);
  }
  for (const [file, rows] of byFile) {
    if (rows.length < 2) continue;
    const start = (r: RowStart) => r.beginTime - r.offset;
    const sorted = [...rows].sort((a, b) => start(a) - start(b));
    // The widest group of starts within the tolerance of its lowest: a window over the sorted starts.
    let best = { from: 0, count: 0 };
    for (let i = 0, j = 0; i < sorted.length; i++) {
      while (j < sorted.length && start(sorted[j]) - start(sorted[i]) <= FILE_START_TOLERANCE) j++;
      if (j - i > best.count) best = { from: i, count: j - i };
    }
    if (best.count === rows.length) continue;
    const name = file === "" ? "the table" : file;
    const cells = (r: RowStart) => `${COLUMN.begin} '${r.beginText}' − ${COLUMN.fileOffset} '${r.offsetText}' is ${shownSeconds(start(r))} s`;
    const fault = (r: RowStart, message: string) => {
      issues.add(`line ${r.selection.line}, ${COLUMN.fileOffset}`, message);
      r.selection.faulty = true;
    };
    if (best.count > rows.length / 2) {
      const fileStart = start(sorted[best.from]);
      const agreeing = new Set(sorted.slice(best.from, best.from + best.count));
      for (const r of rows) {
        if (agreeing.has(r)) continue;
        fault(r, `${cells(r)}, where the ${plural(best.count, "other selection")} of ${name} give ${shownSeconds(fileStart)} s (the file's start in the table): one of the two cells was edited without the other, and the row would be placed by its ${COLUMN.fileOffset} (at ${shownSeconds(r.offset)} s, to ${shownSeconds(r.offset + (r.endTime - r.beginTime))} s), which its ${COLUMN.begin} does not say. Set ${COLUMN.fileOffset} to ${shownSeconds(r.beginTime - fileStart)} to place it by its ${COLUMN.begin}, as Raven does — or ${COLUMN.begin} back to ${shownSeconds(r.offset + fileStart)} to keep it where it was`);
      }
      continue;
    }
    // No start is most selections': which were edited cannot be told. The starts, each with its lines.
    const groups: RowStart[][] = [];
    for (const r of sorted) {
      const group = groups.at(-1);
      if (group && start(r) - start(group[0]) <= FILE_START_TOLERANCE) group.push(r);
      else groups.push([r]);
    }
    const lines = (g: RowStart[]) => {
      const shown = g.slice(0, SHOWN_STARTS).map((r) => r.selection.line).join(", ");
      return `${g.length === 1 ? "line" : "lines"} ${shown}${g.length > SHOWN_STARTS ? ", …" : ""}`;
    };
    const list = groups.slice(0, SHOWN_STARTS).map((g) => `${shownSeconds(start(g[0]))} s: ${lines(g)}`).join("; ") + (groups.length > SHOWN_STARTS ? "; …" : "");
    for (const r of rows) {
      fault(r, `${cells(r)}, and the selections of ${name} give ${groups.length} different starts of the file in the table, none on most of them (${list}): a ${COLUMN.begin} or ${COLUMN.fileOffset} was edited without the other. Make each row's ${COLUMN.fileOffset} its ${COLUMN.begin} less the file's start (sonotile's export writes the two alike)`);
    }
  }
}

/**
 * An Audacity label track export: a line per label, `start<TAB>end<TAB>label`, optionally followed
 * by a line `\<TAB>low<TAB>high` — the label's frequency range, negative where it has none.
 */
function readAudacity(text: string, labelKey: string, issues: TableFaults): ReadTable {
  const key = labelForm(labelKey);
  if (isBlank(key) || key.length > MAX_TAG_LENGTH) throw new InvalidError([{ field: "label_key", message: `must be a tag key of 1 to ${MAX_TAG_LENGTH} characters` }]);
  const lines = labelLines(text);
  checkRowCount(lines.filter((l) => l.cells[0].trim() !== "\\").length);
  const selections: TableSelection[] = [];
  const skipped: { line: number; reason: string }[] = [];
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
      // Audacity writes a negative frequency where the label has no bound on that side.
      const bound = (hz: number) => (hz >= 0 ? hz : null);
      if (high === 0) issues.add(at("high frequency"), "0 Hz must be above 0");
      else if (low >= 0 && high >= 0 && !(low < high)) issues.add(at("high frequency"), `${high} Hz must be above the low frequency (${low} Hz): a label's band has a width`);
      else Object.assign(previous.selection, { low: bound(low), high: bound(high) });
      continue;
    }
    const start = numberCell(cells[0].trim(), at("start"), "seconds", issues);
    const end = numberCell((cells[1] ?? "").trim(), at("end"), "seconds", issues);
    previous = { line, selection: null };
    if (issues.count > before) continue;
    if (start < 0) issues.add(at("start"), `${start} s is before the start: times are >= 0`);
    if (end < start) issues.add(at("end"), `${end} s must be after the start (${start} s)`);
    if (issues.count > before) continue;
    // A point label (Audacity's click without a drag) marks an instant: no clip, and no reason to
    // refuse the region labels of its track — skipped, and said so in the result.
    if (end === start) {
      skipped.push({ line, reason: `a point label (start = end = ${start} s) marks an instant, not a clip` });
      continue;
    }
    const label = tagCell(key, cells.slice(2).join("\t"), at("label"), issues);
    const selection: TableSelection = { line, selection: null, channel: 1, begin: start, end, low: null, high: null, frequencyLine: line, beginPath: null, beginFile: null, clipId: null, faulty: false, tags: label ? [label] : [], cells: new Map() };
    previous.selection = selection;
    selections.push(selection);
  }
  return { format: "audacity", selections, tagColumns: [key], ignoredColumns: [], skipped, beginColumn: "start", endColumn: "end" };
}

/**
 * An Audacity label track's non-blank lines, cells split at tabs, a byte-order mark dropped;
 * reading stops at the first label line past MAX_TABLE_ROWS (the caller refuses the table), so
 * that a large body is not split whole.
 */
function labelLines(text: string): { line: number; cells: string[] }[] {
  const lines: { line: number; cells: string[] }[] = [];
  const lineBreak = /\r\n|\n|\r/g;
  let labels = 0;
  let from = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (let line = 1; from <= text.length && labels <= MAX_TABLE_ROWS; line++) {
    const found = lineBreak.exec(text);
    const to = found ? found.index : text.length;
    const cells = text.slice(from, to).split("\t");
    from = found ? lineBreak.lastIndex : text.length + 1;
    if (cells.every((c) => c.trim() === "")) continue;
    if (cells[0].trim() !== "\\") labels++;
    lines.push({ line, cells });
  }
  return lines;
}

/**
 * A line of delimited text, its `cells` as text: tab-separated with an LF line end (Raven), or
 * comma-separated with CRLF (RFC 4180: a cell holding a comma, a quote or a line break is quoted,
 * its quotes doubled, and a cell a spreadsheet would run as a formula guarded: csvCell). Raven never
 * quotes — a quote is text to it — so a Raven cell's tabs and line breaks, which it cannot hold, are
 * written as spaces; and Raven reads no formulas, so its cells are written as they are.
 */
export function tableLine(format: "raven" | "csv", cells: readonly string[]): string {
  return format === "raven"
    ? cells.map((c) => c.replace(/\r\n|[\t\r\n]/g, " ")).join("\t") + "\n"
    : cells.map(csvCell).join(",") + "\r\n";
}
