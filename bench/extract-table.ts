/**
 * `sonotile extract`'s table at a season's scale, outside `npm run bench` (no audio, no timing
 * asserted): `npx tsx bench/extract-table.ts [ROWS] [FORMAT]` (default 400,000 rows, .csv) writes
 * ROWS synthetic rows through ResumeCheckpoint, a checkpoint every 10,000 rows, then the table from
 * it as the command does (rowsOf, the format's chunked writer), in a temporary directory. Prints the
 * times, the table's size and the peak resident memory after each part; run it under
 * `/usr/bin/time -v`, or `node --max-old-space-size=N --import tsx`, to bound what it may hold.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ResumeCheckpoint } from "../src/cli/extract-resume.js";
import { writeOutputBytes, writeOutputWithSidecar } from "../src/cli/output-file.js";
import { featureTableCsvChunks, featureTableNpyChunks, featureTableParquetChunks, TABLE_FORMATS, type FeatureTableRow, type TableFormat } from "../src/features/table.js";
import { CHECKPOINT_ROWS, peakMiB, seconds, settings, syntheticValues } from "./synthetic-rows.js";

const [rowsArg = "400000", formatArg = ".csv"] = process.argv.slice(2);
const rows = Number(rowsArg);
if (!Number.isInteger(rows) || rows < 1) throw new Error(`ROWS: expected an integer >= 1, got ${rowsArg}`);
const format = formatArg as TableFormat;
if (!TABLE_FORMATS.includes(format)) throw new Error(`FORMAT: expected one of ${TABLE_FORMATS.join(", ")}, got ${formatArg}`);

const scratch = mkdtempSync(join(tmpdir(), "sonotile-extract-table-"));
try {
  const output = join(scratch, `features${format}`);
  // An interval no checkpoint waits for: keep() writes every CHECKPOINT_ROWS rows.
  const checkpoint = new ResumeCheckpoint(output, settings, { rows: new Map(), changed: [], appendAt: null, file: null }, Infinity, () => Promise.resolve(), (line) => console.log(line));
  const paths: string[] = [];
  let start = performance.now();
  for (let i = 0; i < rows; i++) {
    const path = join(scratch, `${i}.wav`);
    paths.push(path);
    checkpoint.add({ path, values: syntheticValues(i), file: { file_size: 0, file_mtime: 0 } });
    if ((i + 1) % CHECKPOINT_ROWS === 0 || i + 1 === rows) await checkpoint.keep();
  }
  console.log(`${rows} rows checkpointed in ${seconds(start)} s; peak resident memory so far ${peakMiB()} MiB`);
  start = performance.now();
  const table = {
    async *[Symbol.asyncIterator](): AsyncGenerator<FeatureTableRow> {
      for await (const { path, values } of checkpoint.rowsOf(paths)) yield { path, values };
    },
  };
  const targets = { stored: false, clips: false, md5: false };
  if (format === ".csv") await writeOutputBytes(output, featureTableCsvChunks(table, settings.features, targets));
  else if (format === ".parquet") await writeOutputBytes(output, featureTableParquetChunks(table, settings.features, targets, settings));
  else await writeOutputWithSidecar(output, featureTableNpyChunks(table, rows, settings.features, targets, settings));
  console.log(`table ${(statSync(output).size / 1e6).toFixed(0)} MB written in ${seconds(start)} s; peak resident memory ${peakMiB()} MiB`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
