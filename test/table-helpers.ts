import { featureTableNpyChunks, featureTableParquetChunks, type FeatureTableRow, type NpyTableChunk, type TableProvenance, type TableTargets } from "../src/features/table.js";
import type { FeatureName } from "../src/features/features.js";

/** `rows` one at a time, as a table writer takes them. */
async function* given<T>(rows: readonly T[]): AsyncGenerator<T> {
  yield* rows;
}

/** Every chunk of `chunks` in one buffer. */
async function joined(chunks: AsyncIterable<string | Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** The Parquet table of `rows`, whole (featureTableParquetChunks joined). */
export async function featureTableParquet(rows: readonly FeatureTableRow[], features: readonly FeatureName[], targets: TableTargets, provenance: TableProvenance): Promise<Uint8Array> {
  return joined(featureTableParquetChunks(given(rows), features, targets, provenance));
}

/** The .npy matrix of `rows` and its sidecar's text, whole (featureTableNpyChunks' chunks of each joined). */
export async function featureTableNpy(rows: readonly FeatureTableRow[], features: readonly FeatureName[], targets: TableTargets, provenance: TableProvenance): Promise<{ npy: Uint8Array; sidecar: string }> {
  const { table, sidecar } = await npyTableParts(featureTableNpyChunks(given(rows), rows.length, features, targets, provenance));
  return { npy: table, sidecar: sidecar.toString("utf8") };
}

/** featureTableNpyChunks' chunks of the matrix, and those of the sidecar, each joined. */
export async function npyTableParts(chunks: AsyncIterable<NpyTableChunk>): Promise<{ table: Buffer; sidecar: Buffer }> {
  const table: Buffer[] = [];
  const sidecar: Buffer[] = [];
  for await (const chunk of chunks) {
    if ("table" in chunk) table.push(Buffer.from(chunk.table));
    else sidecar.push(Buffer.from(chunk.sidecar));
  }
  return { table: Buffer.concat(table), sidecar: Buffer.concat(sidecar) };
}
