// `sonotile extract` writes its table from the resume file as it reads it back (rows not held):
// the built CLI on the fixture formats, the same bytes the CLI wrote when it held every row.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { VERSION } from "../src/engine/version.js";
import { FEATURE_NAMES, SCALAR_FEATURES, type FeatureValues } from "../src/features/features.js";
import { writeTable } from "../src/cli/commands/extract.js";
import { featureMatrixNpy, type FeatureTableRow } from "../src/features/table.js";
import { featureTableParquet } from "./table-helpers.js";
import { runSonotile } from "./cli-helpers.js";
import { FIXTURES } from "./golden.js";

const tmp = mkdtempSync(join(tmpdir(), "sonotile-extract-stream-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sha256 = (bytes: string | Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/**
 * 53 targets (every format's second, and a clip of a 192 kHz recording), clips with --md5, on 2
 * threads (rows finish out of order), a checkpoint after every target: most rows are read back
 * from the resume file, the last ones as held. Paths relative to the fixtures, as named.
 */
const run = (out: string) =>
  runSonotile(["extract", "formats", "recordings/batdetect2_20230322_172000_selec2.wav", "-o", out, "-j", "2", "--clip-start", "0.1", "--clip-end", "0.9", "--md5", "--checkpoint-interval", "0"], { cwd: FIXTURES });

// sha256 of the tables the CLI wrote for `run` when it held every row (commit c98dc03, sonotile
// 0.15.0): the .npy's sidecar with its version written "VERSION".
const OLD = {
  csv: "c55ecd6fd1d7cf9558290c87b6e7f79a2ca22ad41e38b41ff56ae86c8d3cc66b",
  npy: "f39056bf79f9a2be1f8aa58a68d6c56527e45ed6ff712ae73f627aa91b07df83",
  npySidecar: "20c4b69801ba3a66d628c9bf94d782c2ac4a9006fb0adc63cefc83b78bd60058",
};

describe("sonotile extract's tables written from the resume file", () => {
  it("CSV, .npy and its sidecar, Parquet: the bytes written when every row was held", async () => {
    for (const format of ["csv", "npy", "parquet"]) {
      const r = await run(join(tmp, `t.${format}`));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^sonotile extract: 53 targets /);
    }
    expect(sha256(readFileSync(join(tmp, "t.csv")))).toBe(OLD.csv);
    expect(sha256(readFileSync(join(tmp, "t.npy")))).toBe(OLD.npy);
    expect(sha256(readFileSync(join(tmp, "t.npy.json"), "utf8").replace(`"version": "${VERSION}"`, '"version": "VERSION"'))).toBe(OLD.npySidecar);
    // Parquet holds the version inside (its key-value metadata): its bytes are those of the table
    // written from the rows held (featureTableParquetChunks, whose bytes feature-table-stream.test.ts
    // holds to the old ones) of the CSV's rows — which parse back to the values computed — and the run's settings.
    const [header, ...lines] = readFileSync(join(tmp, "t.csv"), "utf8").trimEnd().split("\n").map((line) => line.split(","));
    const column = (name: string) => header.indexOf(name);
    const rows: FeatureTableRow[] = lines.map((cells) => {
      const values: Record<string, number | Float32Array> = Object.fromEntries(SCALAR_FEATURES.map((name) => [name, Number(cells[column(name)])]));
      values.log_mel = Float32Array.from({ length: 64 }, (_, b) => Number(cells[column(`mel_${String(b).padStart(2, "0")}`)]));
      return { path: cells[0], md5: cells[1], clip: { start: Number(cells[2]), end: Number(cells[3]) }, values: values as FeatureValues };
    });
    const provenance = JSON.parse(readFileSync(join(tmp, "t.csv.json"), "utf8")).sonotile;
    const parquet = await featureTableParquet(rows, [...FEATURE_NAMES], { stored: false, clips: true, md5: true }, provenance);
    expect(sha256(readFileSync(join(tmp, "t.parquet")))).toBe(sha256(parquet));
  });

  it("an .npy table's sidecar is written in the matrix's pass over the rows — it was a second pass, each row read back from the resume file again (~28 µs a row)", async () => {
    const rows: FeatureTableRow[] = [0, 1, 2].map((i) => ({ path: `night/${i}.wav`, md5: `${i}`.repeat(32), clip: { start: 0.1, end: 0.9 - i / 10 }, values: { rms_dbfs: -20 - i / 3 } as FeatureValues }));
    let asked = 0;
    // A source that can be gone through once, as a table read back from the resume file is meant to be.
    const once = (async function* () {
      for (const row of rows) {
        asked++;
        yield row;
      }
    })();
    const out = join(tmp, "once.npy");
    const provenance = { version: "test", features: ["rms_dbfs"] };
    await writeTable(out, ".npy", Object.assign(once, { count: rows.length }), ["rms_dbfs"], { stored: false, clips: true, md5: true }, provenance);
    expect(asked).toBe(3);
    expect(readFileSync(out)).toEqual(Buffer.from(featureMatrixNpy(rows, ["rms_dbfs"])));
    expect(JSON.parse(readFileSync(`${out}.json`, "utf8"))).toEqual({
      shape: [3, 1],
      dtype: "float32",
      columns: ["rms_dbfs"],
      rows: rows.map(({ path, md5, clip }) => ({ path, md5, start_time: clip!.start, end_time: clip!.end })),
      sonotile: provenance,
    });
  });
});
