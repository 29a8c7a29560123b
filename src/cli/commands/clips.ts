/**
 * `sonotile clips import <table>` and `sonotile clips export` — clips in and out as annotation
 * tables (Raven Pro selection tables, CSV, Audacity label tracks), on the database directly as the
 * other admin commands are (beside a running `serve` on the same embedded data directory too):
 * the same operations as POST /v1/clips/import and GET /v1/clips/export (store/clip-tables.ts).
 */
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { fileFailure } from "../../audio/source.js";
import { plural } from "../../audio/types.js";
import { exportClipTable, featureColumns, importClipTable, TABLE_TIMES, type TableTarget, type TableTimes } from "../../store/clip-tables.js";
import { STATES, type StateFilter } from "../../store/common.js";
import { InvalidError } from "../../store/errors.js";
import { decodeTable, TABLE_FORMATS, type TableFormat } from "../../store/selection-table.js";
import type { Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { choiceOption, idArgument, numberOption, optionRows, readCommandLine, tagFilterOption, type OptionSpec } from "../flags.js";
import { checkOutputWritable, writeOutputBytes } from "../output-file.js";
import { openCommandStore, STORE_OPTIONS } from "../store-options.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "recording", placeholder: "ID", doc: "the recording the table is of" },
  { name: "dataset", placeholder: "ID", doc: "the dataset whose recordings the table's rows name (Begin Path, else Begin File)" },
  { name: "format", placeholder: "FORMAT", doc: `import: ${TABLE_FORMATS.join(", ")} (default: recognised from the first line); export: raven or csv (default raven)` },
  { name: "times", placeholder: "UNITS", doc: "real (default: seconds and Hz after time expansion, as the API's) or file (the file as stored, as Raven and Audacity show a time-expanded recording)" },
  { name: "tag-columns", placeholder: "COL,COL…", repeatable: ",", doc: "import: the columns that become tags (default every annotation column)" },
  { name: "label-key", placeholder: "KEY", doc: "import, Audacity: the tag key of a label (default label)" },
  { name: "features", placeholder: "none|all|NAME,…", doc: "export: feature values as columns (default none)" },
  { name: "state", placeholder: "STATE", doc: `export: clips in this state (${[...STATES, "all"].join(", ")}); default active` },
  { name: "start-before", placeholder: "S", doc: "export: only clips that start before this time (s, real)" },
  { name: "end-after", placeholder: "S", doc: "export: only clips that end after this time (s, real)" },
  { name: "min-freq", placeholder: "HZ", doc: "export: only clips whose band reaches above this frequency (Hz, real; no high bound: the Nyquist frequency)" },
  { name: "max-freq", placeholder: "HZ", doc: "export: only clips whose band starts below this frequency (Hz, real; no low bound: 0 Hz), > --min-freq" },
  { name: "tag", placeholder: "KEY[=VALUE]", doc: "export: only clips carrying a tag of KEY (of VALUE)" },
  { name: "output", short: "o", placeholder: "FILE", doc: "export: write the table here (default standard output)" },
  { name: "json", boolean: true, doc: "import: print the result as JSON" },
  ...STORE_OPTIONS.filter((o) => o.name === "data"),
];

const USAGE = `usage: sonotile clips import <table.txt> (--recording ID | --dataset ID) [--format F] [--times real|file] [--tag-columns …]
       sonotile clips export (--recording ID | --dataset ID) [--format raven|csv] [-o FILE] [--features none|all|NAME,…] [filters]

'import' creates a clip per selection of a Raven Pro selection table (or its columns as CSV) or
Audacity label track, all in one transaction: a faulty row (named by line and column) creates
none (exit 2). Annotation columns become tags, Low/High Freq the clip's frequency bounds
(real Hz; an empty cell is no bound on that side). A row whose clip exists (same recording, times
to the microsecond, frequency bounds to the millihertz, channel) creates none, so importing a
table again creates nothing. The import is recorded as a run.

'export' writes the clips as a Raven selection table (Raven opens it beside the recording) or CSV,
a column per tag key; importing it again creates nothing. --min-freq and --max-freq keep the clips
whose band overlaps [min, max] (a clip without bounds spans 0 Hz to its recording's Nyquist
frequency), as the API's min_freq / max_freq.

${optionRows(OPTIONS)}`;

/** The flags each action takes besides --data. */
const ACTION_FLAGS: Record<string, readonly string[]> = {
  import: ["recording", "dataset", "format", "times", "tag-columns", "label-key", "json"],
  export: ["recording", "dataset", "format", "times", "features", "state", "start-before", "end-after", "min-freq", "max-freq", "tag", "output"],
};

/** --recording or --dataset, exactly one. */
function targetOption(options: Record<string, string | true | undefined>): TableTarget {
  const given = (["recording", "dataset"] as const).filter((k) => options[k] !== undefined);
  if (given.length !== 1) throw new UsageError("give exactly one of --recording and --dataset");
  const value = idArgument(String(options[given[0]]), `--${given[0]}`);
  return given[0] === "recording" ? { recording_id: value } : { dataset_id: value };
}

/** --min-freq / --max-freq as the API's min_freq / max_freq (schemas.ts bandQuery): >= 0, > 0, and a band with a width. */
function bandOptions(options: Record<string, string | true | undefined>): { min_freq?: number; max_freq?: number } {
  const min_freq = numberOption(options["min-freq"], "min-freq", (v) => v >= 0, "a number of Hz >= 0");
  const max_freq = numberOption(options["max-freq"], "max-freq", (v) => v > 0, "a number of Hz > 0");
  if (min_freq !== undefined && max_freq !== undefined && !(min_freq < max_freq)) throw new UsageError(`--max-freq: must be > --min-freq (${min_freq} Hz): a band has a width, got '${options["max-freq"]}'`);
  return { min_freq, max_freq };
}

/**
 * The text of table file `path`: UTF-8, or UTF-16 with its byte-order mark (decodeTable). A file
 * that cannot be read or decoded is input the command cannot read (exit 1, SPEC §8), not a
 * parameter: the error names the file, and why in words as the audio commands do (Node's own
 * `ENOENT: no such file or directory, open '…'` named the code and the system call).
 */
async function readTableFile(path: string): Promise<string> {
  const bytes = await readFile(path).catch((err: unknown) => {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code === "EISDIR" ? "a directory, not a table file" : fileFailure(err)}`);
  });
  try {
    return decodeTable(bytes);
  } catch (err) {
    if (err instanceof InvalidError) throw new Error(`${path}: ${err.message}`);
    throw err;
  }
}

export const command: Command = {
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "clips", takesParams: false });
    if (!cl) return EXIT.ok;
    const [action, ...rest] = cl.positionals;
    if (action !== "import" && action !== "export") throw new UsageError("expected 'import <table>' or 'export' (see --help)");
    if (rest.length !== (action === "import" ? 1 : 0)) throw new UsageError(`${action}: wrong number of arguments (see --help)`);
    const options = cl.options as Record<string, string | true | undefined>;
    const foreign = Object.keys(options).filter((flag) => flag !== "data" && !ACTION_FLAGS[action].includes(flag));
    if (foreign.length) throw new UsageError(`${action} takes no ${foreign.map((f) => `--${f}`).join(", ")}`);
    // Validated before the database is opened: a typo costs nothing.
    const target = targetOption(options);
    const times: TableTimes = choiceOption(options.times, "times", TABLE_TIMES) ?? "real";
    const format = choiceOption<TableFormat>(options.format, "format", action === "import" ? TABLE_FORMATS : ["raven", "csv"]);
    const output = options.output === undefined ? undefined : String(options.output);
    if (output !== undefined) await checkOutputWritable(output);
    const state = choiceOption<StateFilter>(options.state, "state", [...STATES, "all"]) ?? "active";
    const seconds = (flag: string) => numberOption(options[flag], flag, Number.isFinite, "a number of seconds");
    const band = bandOptions(options);
    const tag = options.tag === undefined ? undefined : tagFilterOption(String(options.tag), "tag");
    const features = featureColumns(options.features === undefined ? "none" : String(options.features));
    // The file is read (and decoded) before the database opens: one that cannot be is input (exit 1).
    const text = action === "import" ? await readTableFile(rest[0]) : "";

    const { database, out } = await openCommandStore(cl, { poolSize: 1, create: false });
    try {
      const sql = database.sql;
      if (action === "import") {
        const tagColumns = options["tag-columns"] === undefined ? undefined : String(options["tag-columns"]).split(",").map((c) => c.trim()).filter(Boolean);
        const result = await importClipTable(database, {
          target, text, format, times, tag_columns: tagColumns, label_key: options["label-key"] as string | undefined, source: basename(rest[0]), created_by: null,
        });
        const summary = `${plural(result.created, "clip")} created, ${result.existing} existing already${result.tags_added ? ` (${plural(result.tags_added, "tag")} added to them)` : ""}; tags from ${result.tag_columns.join(", ") || "no column"}${result.ignored_columns.length ? `; columns ignored: ${result.ignored_columns.join(", ")}` : ""}; run ${result.run.id}`;
        // Said on standard error, as the export's clips past the end: the answer on standard output stays one line (or the JSON, which has them).
        for (const w of result.warnings) process.stderr.write(`sonotile clips: line ${w.line}, ${w.column}: ${w.message}\n`);
        out(result, summary);
        return EXIT.ok;
      }
      const table = await exportClipTable(sql, {
        target, format: format === "csv" ? "csv" : "raven", times, state, features,
        start_before: seconds("start-before"), end_after: seconds("end-after"), ...band, tag,
      });
      // Said first, on standard error: Raven's format has no comment line to say it in.
      if (table.clipsPastEnd) process.stderr.write(`sonotile clips: clips past their recording's end (its file refreshed shorter): ${table.clipsPastEnd}; importing the table again keeps them as they are; move or delete them (PATCH / DELETE /v1/clips/ID) to fit the file\n`);
      if (output === undefined) {
        for await (const chunk of table.text) if (!process.stdout.write(chunk)) await once(process.stdout, "drain");
      } else {
        await writeOutputBytes(output, table.text);
        process.stderr.write(`sonotile clips: ${plural(table.rows, "clip")} written to ${output}\n`);
      }
      return EXIT.ok;
    } finally {
      await database.close();
    }
  },
};
