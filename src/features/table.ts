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
import { parquetWriteBuffer } from "hyparquet-writer";
import { csvCell } from "../render/csv.js";
import { encodeNpy } from "../render/npy.js";
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

/**
 * CSV with a header line; numbers in JavaScript's shortest round-trip form (float64 features
 * exactly, mel values as their float32 values), so parsing gives back the computed numbers.
 */
export function featureTableCsv(rows: readonly FeatureTableRow[], features: readonly FeatureName[], targets: TableTargets): string {
  const keys = keyColumns(targets);
  const lines = [[...keys.map((c) => c.name), ...featureColumns(features)].map(csvCell).join(",")];
  for (const r of rows) {
    const key = keys.map((c) => ("text" in c ? csvCell(c.text(r)) : String(c.number(r))));
    lines.push([...key, ...featureRow(r.values, features).map(String)].join(","));
  }
  return lines.join("\n") + "\n";
}

/**
 * A float32 matrix [targets, columns] as `.npy`, and its sidecar: the column names, per row its
 * key columns (ids, path, clip bounds), and what made it. `numpy.load` reads the matrix; `json.load`
 * the sidecar.
 */
export function featureTableNpy(rows: readonly FeatureTableRow[], features: readonly FeatureName[], targets: TableTargets, provenance: TableProvenance): { npy: Uint8Array; sidecar: string } {
  const keys = keyColumns(targets);
  const columns = featureColumns(features);
  const sidecar = {
    shape: [rows.length, columns.length],
    dtype: "float32",
    columns,
    rows: rows.map((r) => Object.fromEntries(keys.map((c) => [c.name, keyValue(c, r)]))),
    [PROVENANCE_KEY]: provenance,
  };
  return { npy: featureMatrixNpy(rows, features), sidecar: sidecarJson(sidecar) };
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
 * being rows[i], without the keys: what names the rows travels beside it (featureTableNpy's
 * sidecar; a job's features.csv, whose rows are in the same order).
 */
export function featureMatrixNpy(rows: readonly FeatureTableRow[], features: readonly FeatureName[]): Uint8Array {
  const width = featureColumns(features).length;
  const data = new Float32Array(rows.length * width);
  rows.forEach((r, i) => data.set(featureRow(r.values, features), i * width));
  return encodeNpy(data, [rows.length, width]);
}

/**
 * Parquet (hyparquet-writer, snappy): ids and `path` as string columns, the rest float64 (mel
 * float32); what made it as JSON in the file's key-value metadata under PROVENANCE_KEY
 * (pyarrow: `pq.read_schema(path).metadata[b"sonotile"]`).
 */
export function featureTableParquet(rows: readonly FeatureTableRow[], features: readonly FeatureName[], targets: TableTargets, provenance: TableProvenance): Uint8Array {
  const keys = keyColumns(targets);
  const columns = featureColumns(features);
  const values = rows.map((r) => featureRow(r.values, features));
  const columnData = [
    ...keys.map((c) =>
      "text" in c
        ? { name: c.name, data: rows.map(c.text), type: "STRING" as const }
        : { name: c.name, data: Float64Array.from(rows, c.number), type: "DOUBLE" as const },
    ),
    ...columns.map((name, j) =>
      name.startsWith("mel_")
        ? { name, data: Float32Array.from(values, (v) => v[j]), type: "FLOAT" as const }
        : { name, data: Float64Array.from(values, (v) => v[j]), type: "DOUBLE" as const },
    ),
  ];
  return new Uint8Array(parquetWriteBuffer({ columnData, createdBy: "sonotile", kvMetadata: [{ key: PROVENANCE_KEY, value: JSON.stringify(provenance) }] }));
}
