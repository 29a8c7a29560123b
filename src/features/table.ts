/**
 * Feature tables: one row per target (a recording or a clip), in CSV, NumPy `.npy` (+ a JSON
 * sidecar naming columns and rows) or Parquet, each with what made it (TableProvenance: in the
 * `.npy` and `.csv` sidecars, in Parquet's key-value metadata). Shared by `sonotile extract` and the batch jobs'
 * artifacts. Columns: the target's ids when it is a stored record (`clip_id` for clips, then
 * `recording_id`: what joins a row to the API's records), `path` (then `md5`, of the bytes the values
 * are of: in a job's tables, and with `extract --md5`), then `start_time`/`end_time`
 * (seconds, as the API names a clip's bounds) when the targets are clips (then `low_freq`/`high_freq`,
 * Hz, the band of a job of clip bands: TableTargets.clipBands), then the features as
 * `featureColumns` spells them (the mel vector as mel_00 … mel_63).
 */
import { ByteWriter, ParquetWriter, schemaFromColumnData, type ColumnSource } from "hyparquet-writer";
import { csvCell } from "../render/csv.js";
import { encodeNpy, npyHeader } from "../render/npy.js";
import { featureColumns, featureRow, type FeatureName, type FeatureValues } from "./features.js";

/** One target's row. */
export interface FeatureTableRow {
  /** The recording's file: as the API's `path` for a stored recording, as given on the command line for `extract`. */
  path: string;
  /** The stored recording's id (batch jobs); absent for files (`extract`). */
  recordingId?: string;
  /** The MD5 of the bytes the values were computed from, hex (`extract --md5`, a job's item: TableTargets.md5). */
  md5?: string;
  /**
   * The clip's bounds in seconds, and its id when it is a stored clip; absent for whole recordings.
   * `lowFreq`/`highFreq`: the band its values are of, Hz (null: that side open), in a table with clipBands.
   */
  clip?: { id?: string; start: number; end: number; lowFreq?: number | null; highFreq?: number | null };
  values: FeatureValues;
}

/**
 * What made a table — sonotile's version and every option that sets a value (all SPEC §2
 * parameters, defaults included) — written with it under the key `sonotile` (PROVENANCE_KEY), so
 * that a table read years later says how its numbers were made. No time: the same run writes
 * the same bytes (`-j 1` and `-j 2`, a resumed run and an uninterrupted one).
 */
export type TableProvenance = object;

/** The key under which a table's provenance is written: in its JSON sidecar, in Parquet's key-value metadata. */
export const PROVENANCE_KEY = "sonotile";

export const TABLE_FORMATS = [".csv", ".npy", ".parquet"] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

/**
 * What a table's targets are, which sets its leading columns even when it has no row (a job whose
 * every item failed): stored records (batch jobs: ids lead) or files (`extract`), clips or whole
 * recordings (clips: bounds follow `path`).
 */
export interface TableTargets {
  stored: boolean;
  clips: boolean;
  /** Rows with their file's MD5 (`extract --md5`, every job): an `md5` column follows `path`. */
  md5?: boolean;
  /** Clips each computed in its own band (a job's band "clip"): `low_freq`, `high_freq` follow `end_time`, empty where open. */
  clipBands?: boolean;
}

/** A leading column that identifies the target: its name and its value in a row. */
type KeyColumn = { name: string; text: (r: FeatureTableRow) => string } | { name: string; number: (r: FeatureTableRow) => number };

/** The leading columns of a table of these targets (see the file's comment). */
function keyColumns({ stored, clips, md5, clipBands }: TableTargets): KeyColumn[] {
  const hz = (value: number | null | undefined) => (value == null ? "" : String(value));
  return [
    ...(stored && clips ? [{ name: "clip_id", text: (r: FeatureTableRow) => r.clip?.id ?? "" }] : []),
    ...(stored ? [{ name: "recording_id", text: (r: FeatureTableRow) => r.recordingId ?? "" }] : []),
    { name: "path", text: (r: FeatureTableRow) => r.path },
    ...(md5 ? [{ name: "md5", text: (r: FeatureTableRow) => r.md5 ?? "" }] : []),
    ...(clips
      ? [{ name: "start_time", number: (r: FeatureTableRow) => r.clip?.start ?? NaN }, { name: "end_time", number: (r: FeatureTableRow) => r.clip?.end ?? NaN }]
      : []),
    ...(clips && clipBands
      ? [{ name: "low_freq", text: (r: FeatureTableRow) => hz(r.clip?.lowFreq) }, { name: "high_freq", text: (r: FeatureTableRow) => hz(r.clip?.highFreq) }]
      : []),
  ];
}

/** The names of the leading columns of a table of these targets, in order (`clip_id`, `recording_id`, `path`, …). */
export function keyColumnNames(targets: TableTargets): string[] {
  return keyColumns(targets).map((c) => c.name);
}

/** A key column's value in row `r`. */
const keyValue = (c: KeyColumn, r: FeatureTableRow): string | number => ("text" in c ? c.text(r) : c.number(r));

/** Characters (CSV) or bytes (.npy) of a table handed on at once as it is written from rows that come one by one. */
const TABLE_CHUNK = 1 << 20;

/** A CSV table's header line, without its line break. */
function csvHeader(keys: readonly KeyColumn[], features: readonly FeatureName[]): string {
  return [...keys.map((c) => c.name), ...featureColumns(features)].map(csvCell).join(",");
}

/** Row `r` as a CSV line, without its line break. */
function csvLine(keys: readonly KeyColumn[], r: FeatureTableRow, features: readonly FeatureName[]): string {
  const key = keys.map((c) => ("text" in c ? csvCell(c.text(r)) : String(c.number(r))));
  return [...key, ...featureRow(r.values, features).map(String)].join(",");
}

/**
 * CSV with a header line; numbers in JavaScript's shortest round-trip form (float64 features
 * exactly, mel values as their float32 values), so parsing gives back the computed numbers.
 */
export function featureTableCsv(rows: readonly FeatureTableRow[], features: readonly FeatureName[], targets: TableTargets): string {
  const keys = keyColumns(targets);
  return [csvHeader(keys, features), ...rows.map((r) => csvLine(keys, r, features))].join("\n") + "\n";
}

/**
 * featureTableCsv's text, the same characters, from rows that come one by one (a table of a
 * season's targets read back from where they were kept): in chunks of about TABLE_CHUNK
 * characters, a row held only until its line is in the chunk.
 */
export async function* featureTableCsvChunks(rows: AsyncIterable<FeatureTableRow>, features: readonly FeatureName[], targets: TableTargets): AsyncGenerator<string> {
  const keys = keyColumns(targets);
  let chunk = csvHeader(keys, features) + "\n";
  for await (const r of rows) {
    chunk += csvLine(keys, r, features) + "\n";
    if (chunk.length >= TABLE_CHUNK) {
      yield chunk;
      chunk = "";
    }
  }
  if (chunk) yield chunk;
}

/** The sidecar of an .npy table of `count` rows without its rows' entries (sidecarRow), where featureTableNpyChunks puts them. */
function npySidecar(count: number, features: readonly FeatureName[], provenance: TableProvenance): object {
  const columns = featureColumns(features);
  return { shape: [count, columns.length], dtype: "float32", columns, rows: [], [PROVENANCE_KEY]: provenance };
}

/** Row `r`'s entry in an .npy table's sidecar: its key columns. */
function sidecarRow(keys: readonly KeyColumn[], r: FeatureTableRow): object {
  return Object.fromEntries(keys.map((c) => [c.name, keyValue(c, r)]));
}

/** Where the rows go in the text of a sidecar without them (npySidecar's key order: nothing before `rows` holds this). */
const NO_SIDECAR_ROWS = '\n "rows": []';

/**
 * Refuses a row beyond `count` (or, at the end, fewer): a table whose size is written before its
 * rows (an .npy's shape) must get that many.
 */
function checkRowCount(given: number, count: number, end = false): void {
  if (given > count || (end && given < count)) throw new RangeError(`a table of ${count} rows was given ${end ? given : "more"}`);
}

/**
 * The sidecar of a CSV table: what made it (a CSV has no place of its own for it that every
 * reader skips). Its columns are in the CSV's header line.
 */
export function featureTableCsvSidecar(provenance: TableProvenance): string {
  return sidecarJson({ [PROVENANCE_KEY]: provenance });
}

/** A sidecar's text: JSON, one item a line, ending in a line break. */
function sidecarJson(sidecar: object): string {
  return JSON.stringify(sidecar, null, 1) + "\n";
}

/**
 * The values of `features` as a float32 `.npy` matrix [rows, featureColumns(features)], row i
 * being rows[i], without the keys: what names the rows travels beside it (featureTableNpyChunks' sidecar; a job's features.csv, whose rows are in the same order).
 */
export function featureMatrixNpy(rows: readonly FeatureTableRow[], features: readonly FeatureName[]): Uint8Array {
  const width = featureColumns(features).length;
  const data = new Float32Array(rows.length * width);
  rows.forEach((r, i) => data.set(featureRow(r.values, features), i * width));
  return encodeNpy(data, [rows.length, width]);
}

/** A piece of an .npy table as featureTableNpyChunks hands it on: of the matrix (the .npy file) or of its sidecar (the .json beside it). */
export type NpyTableChunk = { table: Uint8Array } | { sidecar: string };

/**
 * An .npy table from rows that come one by one (featureTableCsvChunks), in one pass over them: the
 * matrix, featureMatrixNpy's bytes (its header, then the rows' values in chunks of about
 * TABLE_CHUNK bytes), and its sidecar — the column names, per row its key columns (ids, path,
 * clip bounds), and what made it (`json.load` reads it) — in chunks of about TABLE_CHUNK
 * characters, the text around its rows that of the sidecar without them, each row's entry
 * indented as JSON.stringify indents it two levels down. Each row is asked for once: the sidecar
 * was a second pass over the rows, which a table read back from the resume file paid for in
 * parsing every row again (about 28 µs a row: 11 s of a run of 400,000).
 * @param count the rows `rows` gives (the shape is written before them, in both)
 * @throws RangeError when `rows` gives another number of rows
 */
export async function* featureTableNpyChunks(rows: AsyncIterable<FeatureTableRow>, count: number, features: readonly FeatureName[], targets: TableTargets, provenance: TableProvenance): AsyncGenerator<NpyTableChunk> {
  const width = featureColumns(features).length;
  yield { table: npyHeader([count, width]) };
  const chunkRows = Math.max(1, Math.floor(TABLE_CHUNK / (4 * width)));
  let data = new Float32Array(chunkRows * width);
  let held = 0;
  // Float32Array is host-endian; every platform Node runs on here is little-endian (encodeNpy).
  const bytes = (values: Float32Array) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const keys = keyColumns(targets);
  const empty = sidecarJson(npySidecar(count, features, provenance));
  const at = empty.indexOf(NO_SIDECAR_ROWS) + NO_SIDECAR_ROWS.length;
  let sidecar = empty.slice(0, at - 1);
  let given = 0;
  for await (const r of rows) {
    checkRowCount(++given, count);
    data.set(featureRow(r.values, features), held++ * width);
    if (held === chunkRows) {
      yield { table: bytes(data) };
      data = new Float32Array(chunkRows * width);
      held = 0;
    }
    sidecar += `${given > 1 ? "," : ""}\n  ${JSON.stringify(sidecarRow(keys, r), null, 1).replaceAll("\n", "\n  ")}`;
    if (sidecar.length >= TABLE_CHUNK) {
      yield { sidecar };
      sidecar = "";
    }
  }
  checkRowCount(given, count, true);
  if (held) yield { table: bytes(data.subarray(0, held * width)) };
  yield { sidecar: `${sidecar}${given ? "\n ]" : "]"}${empty.slice(at)}` };
}

/** A Parquet table's row groups, in rows: hyparquet-writer's default (a small first group, for a quick preview), the last size repeating. */
const PARQUET_ROW_GROUPS = [1000, 100_000];

/** The rows of a Parquet table's row group `group` (0 the first). */
const parquetGroupRows = (group: number): number => PARQUET_ROW_GROUPS[Math.min(group, PARQUET_ROW_GROUPS.length - 1)];

/** What a Parquet table is written with besides its columns. */
const parquetFileOptions = (provenance: TableProvenance) => ({ createdBy: "sonotile", kvMetadata: [{ key: PROVENANCE_KEY, value: JSON.stringify(provenance) }] });

/**
 * The columns of up to `size` rows of a Parquet table, filled a row at a time: ids and `path` as
 * strings, the rest float64 (mel float32) — typed arrays of the group's size, not the rows.
 */
class ParquetColumns {
  private readonly keyData: (string[] | Float64Array)[];
  private readonly valueData: (Float32Array | Float64Array)[];
  private readonly names: string[];
  /** Rows added so far. */
  length = 0;

  constructor(
    private readonly keys: readonly KeyColumn[],
    private readonly features: readonly FeatureName[],
    readonly size: number,
  ) {
    this.names = featureColumns(features);
    this.keyData = keys.map((c) => ("text" in c ? [] : new Float64Array(size)));
    this.valueData = this.names.map((name) => (name.startsWith("mel_") ? new Float32Array(size) : new Float64Array(size)));
  }

  add(r: FeatureTableRow): void {
    const i = this.length++;
    this.keys.forEach((c, k) => ("text" in c ? ((this.keyData[k] as string[])[i] = c.text(r)) : ((this.keyData[k] as Float64Array)[i] = c.number(r))));
    featureRow(r.values, this.features).forEach((v, j) => (this.valueData[j][i] = v));
  }

  /** The columns of the rows added, as hyparquet-writer takes them. */
  columnData(): ColumnSource[] {
    const rows = <T extends string[] | Float32Array | Float64Array>(data: T): T => (Array.isArray(data) ? data : data.subarray(0, this.length)) as T;
    return [
      ...this.keys.map((c, k) => ({ name: c.name, data: rows(this.keyData[k]), type: "text" in c ? ("STRING" as const) : ("DOUBLE" as const) })),
      ...this.names.map((name, j) => ({ name, data: rows(this.valueData[j]), type: name.startsWith("mel_") ? ("FLOAT" as const) : ("DOUBLE" as const) })),
    ];
  }
}

/**
 * Parquet (hyparquet-writer, snappy): ids and `path` as string columns, the rest float64 (mel
 * float32); what made it as JSON in the file's key-value metadata under PROVENANCE_KEY
 * (pyarrow: `pq.read_schema(path).metadata[b"sonotile"]`). Written from rows that come one by one
 * (featureTableCsvChunks): each row group (PARQUET_ROW_GROUPS) is written once its rows have come,
 * and handed on; a group's columns are all that is held (100,000 rows of every feature: about
 * 45 MB). Its bytes are those of hyparquet-writer's parquetWriteBuffer of all the rows at once.
 */
export async function* featureTableParquetChunks(rows: AsyncIterable<FeatureTableRow>, features: readonly FeatureName[], targets: TableTargets, provenance: TableProvenance): AsyncGenerator<Uint8Array> {
  const keys = keyColumns(targets);
  let group = 0;
  let columns = new ParquetColumns(keys, features, parquetGroupRows(group));
  const writer = new ByteWriter();
  const parquet = new ParquetWriter({ writer, schema: schemaFromColumnData({ columnData: columns.columnData() }), ...parquetFileOptions(provenance) });
  // The bytes written so far, handed on; the writer's offsets count on (its index is where it writes in its buffer).
  const written = (): Uint8Array => {
    const bytes = writer.getBytes().slice();
    writer.index = 0;
    return bytes;
  };
  const writeGroup = () => parquet.write({ columnData: columns.columnData(), rowGroupSize: columns.length });
  for await (const r of rows) {
    columns.add(r);
    if (columns.length === columns.size) {
      await writeGroup();
      yield written();
      columns = new ParquetColumns(keys, features, parquetGroupRows(++group));
    }
  }
  if (columns.length) await writeGroup();
  await parquet.finish();
  yield written();
}
