/**
 * Feature tables: one row per target (a recording or a clip), in CSV, NumPy `.npy` (+ a JSON
 * sidecar naming columns and rows) or Parquet. Shared by `sonotile extract` and the batch jobs'
 * artifacts. Columns: `path`, then `start_s`/`end_s` when the targets are clips, then the
 * features as `featureColumns` spells them (the mel vector as mel_00 … mel_63).
 */
import { parquetWriteBuffer } from "hyparquet-writer";
import { encodeNpy } from "../render/npy.js";
import { featureColumns, featureRow, type FeatureName, type FeatureValues } from "./features.js";

/** One target's row. */
export interface FeatureTableRow {
  path: string;
  /** The clip's bounds in seconds; absent for whole recordings. */
  clip?: { start: number; end: number };
  values: FeatureValues;
}

export const TABLE_FORMATS = [".csv", ".npy", ".parquet"] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

/** Leading columns that identify the target. */
function keyColumns(rows: readonly FeatureTableRow[]): string[] {
  return rows.some((r) => r.clip) ? ["path", "start_s", "end_s"] : ["path"];
}

/** A CSV field, quoted when it holds a comma, quote or line break (RFC 4180). */
function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * CSV with a header line; numbers in JavaScript's shortest round-trip form (float64 features
 * exactly, mel values as their float32 values), so parsing gives back the computed numbers.
 */
export function featureTableCsv(rows: readonly FeatureTableRow[], features: readonly FeatureName[]): string {
  const keys = keyColumns(rows);
  const lines = [[...keys, ...featureColumns(features)].map(csvField).join(",")];
  for (const r of rows) {
    const key = keys.length === 1 ? [csvField(r.path)] : [csvField(r.path), String(r.clip?.start ?? ""), String(r.clip?.end ?? "")];
    lines.push([...key, ...featureRow(r.values, features).map(String)].join(","));
  }
  return lines.join("\n") + "\n";
}

/**
 * A float32 matrix [targets, columns] as `.npy`, and its sidecar: the column names, and per row
 * the path (and clip bounds). `numpy.load` reads the matrix; `json.load` the sidecar.
 */
export function featureTableNpy(rows: readonly FeatureTableRow[], features: readonly FeatureName[]): { npy: Uint8Array; sidecar: string } {
  const columns = featureColumns(features);
  const data = new Float32Array(rows.length * columns.length);
  rows.forEach((r, i) => data.set(featureRow(r.values, features), i * columns.length));
  const sidecar = {
    shape: [rows.length, columns.length],
    dtype: "float32",
    columns,
    rows: rows.map((r) => (r.clip ? { path: r.path, start_s: r.clip.start, end_s: r.clip.end } : { path: r.path })),
  };
  return { npy: encodeNpy(data, [rows.length, columns.length]), sidecar: JSON.stringify(sidecar, null, 1) + "\n" };
}

/** Parquet (hyparquet-writer, snappy): `path` as a string column, the rest float64 (mel float32). */
export function featureTableParquet(rows: readonly FeatureTableRow[], features: readonly FeatureName[]): Uint8Array {
  const keys = keyColumns(rows);
  const columns = featureColumns(features);
  const values = rows.map((r) => featureRow(r.values, features));
  const columnData = [
    { name: "path", data: rows.map((r) => r.path), type: "STRING" as const },
    ...(keys.length > 1
      ? [
          { name: "start_s", data: Float64Array.from(rows, (r) => r.clip?.start ?? NaN), type: "DOUBLE" as const },
          { name: "end_s", data: Float64Array.from(rows, (r) => r.clip?.end ?? NaN), type: "DOUBLE" as const },
        ]
      : []),
    ...columns.map((name, j) =>
      name.startsWith("mel_")
        ? { name, data: Float32Array.from(values, (v) => v[j]), type: "FLOAT" as const }
        : { name, data: Float64Array.from(values, (v) => v[j]), type: "DOUBLE" as const },
    ),
  ];
  return new Uint8Array(parquetWriteBuffer({ columnData, createdBy: "sonotile" }));
}
