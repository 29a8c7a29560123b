// Feature tables written from rows that come one by one (src/features/table.ts: featureTableCsvChunks,
// featureTableNpyChunks (an .npy's matrix and its sidecar), featureTableParquetChunks), as
// `sonotile extract` writes a season's table without holding its rows: the same bytes as the
// tables written at once, and each chunk handed on before the rows after it are asked for.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FEATURE_NAMES, SCALAR_FEATURES, type FeatureName, type FeatureValues } from "../src/features/features.js";
import { parquetWriteBuffer } from "hyparquet-writer";
import { featureMatrixNpy, featureTableCsv, featureTableCsvChunks, featureTableNpyChunks, featureTableParquetChunks, type FeatureTableRow, type NpyTableChunk, type TableTargets } from "../src/features/table.js";
import { random } from "./random.js";

/** Rows of every kind of value a table meets: doubles of many magnitudes, a NaN, quoted paths, clips, MD5s. */
function syntheticRows(count: number, seed: number): FeatureTableRow[] {
  const next = random(seed);
  return Array.from({ length: count }, (_, i) => {
    const values: Record<string, number | Float32Array> = {};
    for (const name of SCALAR_FEATURES) values[name] = (next() - 0.5) * 10 ** Math.floor(next() * 8 - 3);
    if (i % 7 === 3) values.zero_crossing_rate = NaN;
    values.log_mel = Float32Array.from({ length: 64 }, () => -120 * next());
    return { path: `night ${i % 13}/"clip", ${i}.wav`, md5: ((i * 2654435761) >>> 0).toString(16).padStart(32, "0"), clip: { start: i / 4, end: i / 4 + next() }, values: values as FeatureValues };
  });
}

const sha256 = (bytes: string | Uint8Array): string => createHash("sha256").update(bytes).digest("hex");
const provenance = { version: "test", params: { hop: 0.5 }, features: [...FEATURE_NAMES] };

/** `rows` one at a time, counting how many were asked for. */
function counted(rows: readonly FeatureTableRow[]): AsyncIterable<FeatureTableRow> & { taken: number } {
  const source = {
    taken: 0,
    async *[Symbol.asyncIterator]() {
      for (const row of rows) {
        source.taken++;
        yield row;
      }
    },
  };
  return source;
}

/** Every chunk of `chunks` joined, and how many rows had been asked for when each came. */
async function drained(chunks: AsyncIterable<string | Uint8Array>, source: { taken: number }): Promise<{ bytes: Buffer; takenAt: number[] }> {
  const parts: Buffer[] = [];
  const takenAt: number[] = [];
  for await (const chunk of chunks) {
    parts.push(Buffer.from(chunk));
    takenAt.push(source.taken);
  }
  return { bytes: Buffer.concat(parts), takenAt };
}

/** featureTableNpyChunks' chunks parted into the matrix's and the sidecar's, each drained. */
async function drainedNpy(chunks: AsyncIterable<NpyTableChunk>, source: { taken: number }): Promise<{ table: { bytes: Buffer; takenAt: number[] }; sidecar: { bytes: Buffer; takenAt: number[] } }> {
  const parts = { table: [] as Buffer[], sidecar: [] as Buffer[] };
  const takenAt = { table: [] as number[], sidecar: [] as number[] };
  for await (const chunk of chunks) {
    const part = "table" in chunk ? "table" : "sidecar";
    parts[part].push(Buffer.from("table" in chunk ? chunk.table : chunk.sidecar));
    takenAt[part].push(source.taken);
  }
  return { table: { bytes: Buffer.concat(parts.table), takenAt: takenAt.table }, sidecar: { bytes: Buffer.concat(parts.sidecar), takenAt: takenAt.sidecar } };
}

// sha256 of the tables of these rows as featureTableCsv, featureTableNpy and featureTableParquet
// wrote them before the tables could be written from rows one by one (commit c98dc03's code): the
// bytes the chunks must give, and the tables a job writes at once (featureTableCsv,
// featureMatrixNpy) must still give.
const CASES: { count: number; targets: TableTargets; features: FeatureName[]; csv: string; npy: string; sidecar: string; parquet: string }[] = [
  {
    // Two Parquet row groups (1000, then 1345 of up to 100,000), clips, MD5s, every feature.
    count: 2345,
    targets: { stored: false, clips: true, md5: true },
    features: [...FEATURE_NAMES],
    csv: "d3fc1aa3ae604ebc0fc1389e19c1fd2f611965b0f3ff5933fca5ff9401257f2a",
    npy: "54b7f698b4f750216ab98270a961ced5f028d3b80a2ea65185301295ee328cae",
    sidecar: "630de2805be5c273bc6cf8bd5a313df5d11b14af4c9e984eb5dc07a3752638c4",
    parquet: "ea2f1c67263d92031a9902fec84624c034f261dd7c0fb9a9635aaad6ddbfb81b",
  },
  {
    // Exactly the first row group; two features.
    count: 1000,
    targets: { stored: false, clips: false },
    features: ["rms_dbfs", "log_mel"],
    csv: "706e721a55b06a8feaeebf44955b614f0a6984d82d13d1de328379db9c273bc6",
    npy: "662d9760c903f937b18abdc576ff7db62048570b966ff3e39c0d349f06816ef7",
    sidecar: "b973b1f7c7f49def7676f556dbce820c4e30ce963d0de872b7679c573d0ded6f",
    parquet: "b62849b66c3cbbe888ba11c2d69dd9ce6ace19efebe57b68aadf99b86ce3abb9",
  },
  {
    // No row.
    count: 0,
    targets: { stored: false, clips: false, md5: true },
    features: [...FEATURE_NAMES],
    csv: "272c36c10df1a8327f0951abd08cde7b8f790c39d9400832410f38da3238e803",
    npy: "bed316ceffcc99834f8061537ee6b6b86bf2680427abe8c8aaae6046e6c40fd1",
    sidecar: "4ae6b9596c07c9d4c3bb304d0535fec445ea1cb3a776c0c9026c949ba6e1365f",
    parquet: "e4722ebe0f8bfc0aed68038087592c38f3126e38b649d702677b095e184d1bab",
  },
];

describe("feature tables written from rows one by one", () => {
  for (const { count, targets, features, ...want } of CASES) {
    it(`${count} rows of ${features.length} features: the bytes the tables written at once had before (CSV, .npy and its sidecar, Parquet), and a job's still have`, async () => {
      const rows = syntheticRows(count, 7);
      expect({ csv: sha256(featureTableCsv(rows, features, targets)), npy: sha256(featureMatrixNpy(rows, features)) }).toEqual({ csv: want.csv, npy: want.npy });
      const chunked = async (write: (source: AsyncIterable<FeatureTableRow>) => AsyncIterable<string | Uint8Array>) => {
        const source = counted(rows);
        return sha256((await drained(write(source), source)).bytes);
      };
      // The .npy and its sidecar in one pass: each row asked for once.
      const source = counted(rows);
      const npy = await drainedNpy(featureTableNpyChunks(source, count, features, targets, provenance), source);
      expect(source.taken).toBe(count);
      expect({
        csv: await chunked((source) => featureTableCsvChunks(source, features, targets)),
        npy: sha256(npy.table.bytes),
        sidecar: sha256(npy.sidecar.bytes),
        parquet: await chunked((source) => featureTableParquetChunks(source, features, targets, provenance)),
      }).toEqual(want);
    });
  }

  it("101,001 rows of one feature: Parquet's row groups after the second (1000, 100,000, 1) are those of hyparquet-writer's table written at once", async () => {
    const rows = Array.from({ length: 101_001 }, (_, i): FeatureTableRow => ({ path: `n${i}.wav`, values: { rms_dbfs: -i / 7 } as FeatureValues }));
    const source = counted(rows);
    const { bytes, takenAt } = await drained(featureTableParquetChunks(source, ["rms_dbfs"], { stored: false, clips: false }, provenance), source);
    expect(takenAt).toEqual([1000, 101_000, 101_001]);
    const atOnce = parquetWriteBuffer({
      columnData: [{ name: "path", data: rows.map((r) => r.path), type: "STRING" }, { name: "rms_dbfs", data: Float64Array.from(rows, (r) => r.values.rms_dbfs), type: "DOUBLE" }],
      rowGroupSize: [1000, 100_000],
      createdBy: "sonotile",
      kvMetadata: [{ key: "sonotile", value: JSON.stringify(provenance) }],
    });
    expect(sha256(bytes)).toBe(sha256(new Uint8Array(atOnce)));
  });

  it("hands each chunk on before the rows after it are asked for: at most a chunk's rows (a Parquet row group's) are held, whatever the table's rows", async () => {
    const rows = syntheticRows(6000, 11);
    const features = [...FEATURE_NAMES];
    const targets = { stored: false, clips: true, md5: true };
    const taken = async (write: (source: AsyncIterable<FeatureTableRow>) => AsyncIterable<string | Uint8Array>) => {
      const source = counted(rows);
      return (await drained(write(source), source)).takenAt;
    };
    // CSV: lines of about 1.6 kB, chunks of about 1 MiB: a chunk every ~650 rows.
    const csv = await taken((source) => featureTableCsvChunks(source, features, targets));
    expect(csv.length).toBeGreaterThan(8);
    expect(Math.max(...csv.map((n, i) => n - (csv[i - 1] ?? 0)))).toBeLessThan(1000);
    // .npy: the header before any row, then 1 MiB of float32 rows (3,404 of 77 columns) a chunk.
    // Its sidecar: entries of about 154 characters, chunks of about 1 MiB — one every ~6,800 rows,
    // so 8,000 of them (6,000 made one chunk: 923,157 characters, and this could not fail).
    const more = syntheticRows(8000, 11);
    const source = counted(more);
    const npy = await drainedNpy(featureTableNpyChunks(source, more.length, features, targets, provenance), source);
    expect(npy.table.takenAt).toEqual([0, 3404, 6808, 8000]);
    expect(npy.sidecar.takenAt.length).toBe(2);
    expect(npy.sidecar.takenAt[0]).toBeLessThan(more.length);
    // Parquet: each row group once its rows have come — the first of 1000 rows, then the rest (of up to 100,000).
    expect(await taken((source) => featureTableParquetChunks(source, features, targets, provenance))).toEqual([1000, 6000]);
  });

  it("an .npy and its sidecar refuse rows other than the shape written before them", async () => {
    const rows = syntheticRows(3, 5);
    const all = async (chunks: AsyncIterable<unknown>) => {
      for await (const _ of chunks);
    };
    const npy = (count: number) => featureTableNpyChunks(counted(rows), count, ["rms_dbfs"], { stored: false, clips: false }, {});
    await expect(all(npy(2))).rejects.toThrow("a table of 2 rows was given more");
    await expect(all(npy(4))).rejects.toThrow("a table of 4 rows was given 3");
  });
});
