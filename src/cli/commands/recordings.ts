/**
 * `sonotile recordings list <filters>` — the recordings GET /v1/recordings lists, every page of
 * them, as TSV or JSON lines for a pipeline; `sonotile recordings tag|untag KEY=VALUE <selection>`
 * — one tag put on, or taken off, every recording of a selection (a dataset, a path prefix, a tag,
 * explicit ids…). On the database directly as the other admin commands are (beside a running
 * `serve` on the same embedded data directory too): the listing is the store's listRecordings,
 * the tagging the same operation as POST and DELETE /v1/recordings/tags (store/recording-tags.ts).
 */
import { plural } from "../../audio/types.js";
import { STATES, type StateFilter } from "../../store/common.js";
import type { Sql } from "../../store/db.js";
import { isBlank, labelForm } from "../../store/labels.js";
import { checkSelection, MAX_RECORDING_IDS, SelectsEveryRecordingError, tagRecordings, untagRecordings, type RecordingSelection } from "../../store/recording-tags.js";
import { listRecordings, RECORDING_SORTS, type Recording, type RecordingFilter, type RecordingQuery } from "../../store/recordings.js";
import { LIST_LIMIT, type Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { choiceOption, idArgument, numberOption, optionRows, readCommandLine, tagFilterOption, type OptionSpec } from "../flags.js";
import { openCommandStore, STORE_OPTIONS, type AnswerPrinter } from "../store-options.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "dataset", placeholder: "ID", doc: "only the recordings of this dataset" },
  { name: "search", placeholder: "TEXT", doc: "only recordings whose path holds TEXT (case-insensitive): a folder 'site1/night3/'" },
  { name: "hash", placeholder: "MD5", doc: "only recordings of this file content" },
  { name: "date-from", placeholder: "YYYY-MM-DD", doc: "only recordings of this date or later (those without a date are left out)" },
  { name: "date-to", placeholder: "YYYY-MM-DD", doc: "only recordings of this date or earlier (those without a date are left out)" },
  { name: "tag", placeholder: "KEY[=VALUE]", doc: "only recordings carrying a tag of KEY (of VALUE)" },
  { name: "state", placeholder: "STATE", doc: `recordings in this state (${[...STATES, "all"].join(", ")}); default active — a tagging's selection holding an archived or trashed one changes nothing (exit 2)` },
  { name: "all", boolean: true, doc: "tag, untag: every recording of the state: needed when no other filter narrows the selection" },
  { name: "ids", placeholder: "ID,ID…", repeatable: ",", doc: `tag, untag: these recordings (at most ${MAX_RECORDING_IDS}), instead of filters` },
  { name: "sort", placeholder: "COLUMN", doc: `list: ordered by ${RECORDING_SORTS.join(", ")}; default path (date: then time of day, then path)` },
  { name: "order", placeholder: "asc|desc", doc: "list: ascending (default) or descending; recordings without a date come last either way" },
  { name: "limit", placeholder: "N", doc: "list: at most N recordings (an integer >= 1); default every one" },
  { name: "json", boolean: true, doc: "print the result as JSON (list: one recording a line, as GET /v1/recordings gives it)" },
  ...STORE_OPTIONS.filter((o) => o.name === "data"),
];

/**
 * The columns of `list`'s TSV, named as the API names the fields: what a pipeline finds a recording's
 * file and time by, and reads it at (--json gives every field).
 */
const LIST_COLUMNS = ["id", "dataset_id", "path", "date", "time", "duration", "samplerate", "channels", "time_expansion", "state", "hash"] as const satisfies readonly (keyof Recording)[];

const USAGE = `usage: sonotile recordings list [--dataset ID] [--search TEXT] [--hash MD5] [--date-from/--date-to YYYY-MM-DD] [--tag KEY[=VALUE]] [--state STATE] [--sort COLUMN] [--order asc|desc] [--limit N] [--json]
       sonotile recordings tag|untag KEY=VALUE (--dataset ID | --search TEXT | --hash MD5 | --date-from/--date-to YYYY-MM-DD | --tag KEY[=VALUE] | --all) [--state STATE]
       sonotile recordings tag|untag KEY=VALUE --ids ID,ID…

'list' prints the recordings the filters select (every recording of the state without one), in
the order of --sort, as GET /v1/recordings lists them — every one, read a page of ${LIST_LIMIT} at a
time, unless --limit. On standard output alone, for a pipeline: TSV with a header line, the API's
fields ${LIST_COLUMNS.join(", ")}
(an empty cell where one is null; a backslash, tab or line break written \\\\, \\t, \\n or \\r), or
with --json one JSON object a line, the API's recording whole. Said on stderr when --limit left
recordings out.

'tag' attaches the tag KEY=VALUE (created if new) to every recording of the selection that lacks
it; 'untag' takes it off those that carry it (the tag itself stays). The filters are those of
GET /v1/recordings and combine; one transaction for the whole selection, as POST and DELETE
/v1/recordings/tags. Prints how many recordings matched, and how many changed.

${optionRows(OPTIONS)}`;

/** The filter flags but --state: those that narrow a selection (store/recording-tags.ts checkSelection). */
const NARROWING = ["dataset", "search", "hash", "date-from", "date-to", "tag"] as const;

/** The options of each action beside --json and --data (any other is refused, naming it). */
const ACTION_FLAGS: Record<string, readonly string[]> = {
  list: [...NARROWING, "state", "sort", "order", "limit"],
  tag: [...NARROWING, "state", "all", "ids"],
  untag: [...NARROWING, "state", "all", "ids"],
};

const MAX_LABEL = 255;

/** `KEY=VALUE`, each trimmed and in NFC as the API's tag key and value are, 1–255 characters. */
function tagArgument(text: string): { key: string; value: string } {
  const at = text.indexOf("=");
  const [key, value] = at < 0 ? [text, ""] : [labelForm(text.slice(0, at)), labelForm(text.slice(at + 1))];
  if (at < 0 || isBlank(key) || isBlank(value)) throw new UsageError(`the tag must be KEY=VALUE, both non-empty, got '${text}'`);
  if (key.length > MAX_LABEL || value.length > MAX_LABEL) throw new UsageError(`the tag's key and value must be at most ${MAX_LABEL} characters each`);
  return { key, value };
}

/** `text` as a calendar date YYYY-MM-DD that PostgreSQL takes (from 0001-01-01), else a UsageError naming `flag`. */
function calendarDateOption(text: string, flag: string): string {
  const [year, month, day] = text.split("-").map(Number);
  const date = new Date(Date.UTC(year, month - 1, day));
  date.setUTCFullYear(year); // Date.UTC maps the years 0–99 to 1900–1999
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || year < 1 || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    throw new UsageError(`${flag}: must be a date YYYY-MM-DD from 0001-01-01, got '${text}'`);
  }
  return text;
}

type Options = Record<string, string | true | undefined>;

/** GET /v1/recordings' filters and state as the flags give them, each checked: what a listing and a tagging select by. */
function filterOptions(options: Options): RecordingFilter & { state: StateFilter } {
  if (options.hash !== undefined && !/^[0-9a-f]{32}$/i.test(String(options.hash))) throw new UsageError(`--hash: must be an MD5 in hex (32 digits), got '${String(options.hash)}'`);
  const dateFrom = options["date-from"] === undefined ? undefined : calendarDateOption(String(options["date-from"]), "--date-from");
  const dateTo = options["date-to"] === undefined ? undefined : calendarDateOption(String(options["date-to"]), "--date-to");
  if (dateFrom !== undefined && dateTo !== undefined && dateTo < dateFrom) throw new UsageError(`--date-to: must be on or after --date-from (${dateFrom})`);
  return {
    state: choiceOption<StateFilter>(options.state, "state", [...STATES, "all"]) ?? "active",
    dataset_id: options.dataset === undefined ? undefined : idArgument(String(options.dataset), "--dataset"),
    search: options.search === undefined ? undefined : String(options.search),
    hash: options.hash === undefined ? undefined : String(options.hash).toLowerCase(),
    date_from: dateFrom,
    date_to: dateTo,
    tag: options.tag === undefined ? undefined : tagFilterOption(String(options.tag), "tag"),
  };
}

/** A tagging's selection: --ids alone, or filters that narrow it (else --all: the store's rule, checked before the database is opened). */
function selectionOptions(options: Options): RecordingSelection {
  const filters = [...NARROWING, "state", "all"].filter((k) => options[k] !== undefined);
  if (options.ids !== undefined) {
    if (filters.length) throw new UsageError(`give --ids or filters, not both (got ${filters.map((f) => `--${f}`).join(", ")})`);
    const ids = [...new Set(String(options.ids).split(",").filter(Boolean).map((id) => idArgument(id, "--ids")))];
    if (!ids.length || ids.length > MAX_RECORDING_IDS) throw new UsageError(`--ids: must name 1 to ${MAX_RECORDING_IDS} recordings, got ${ids.length}`);
    return { recording_ids: ids };
  }
  // An empty --search holds every path: the store's rule takes it as no filter (it needs --all).
  const selection: RecordingSelection = { ...filterOptions(options), all: options.all === true };
  try {
    checkSelection(selection);
  } catch (err) {
    if (err instanceof SelectsEveryRecordingError) throw new UsageError(`give the recordings: ${NARROWING.map((f) => `--${f}`).join(", ")} or --ids — or --all to mean every recording`);
    throw err;
  }
  return selection;
}

/** What `list` asks the store's listing: every page's filters, state and order. */
type ListingQuery = Omit<RecordingQuery, "limit" | "offset" | "cursor">;

/** What `list` lists (its filters, state and order), and how many at most (undefined: every one). */
function listingOptions(options: Options): { query: ListingQuery; limit: number | undefined } {
  return {
    query: {
      ...filterOptions(options),
      sort: choiceOption(options.sort, "sort", RECORDING_SORTS) ?? "path",
      order: choiceOption(options.order, "order", ["asc", "desc"] as const) ?? "asc",
    },
    limit: numberOption(options.limit, "limit", (n) => Number.isSafeInteger(n) && n >= 1, "an integer >= 1"),
  };
}

/**
 * The recordings `query` lists, at most `limit` (every one when undefined), a page of the store's
 * listing at a time (LIST_LIMIT, the API's largest), the first with the total it counted. Each page
 * begins after the last one's last recording (its next_cursor), not at an offset: recordings
 * registered or deleted meanwhile shift no page, so a recording there throughout is printed once —
 * by offset, a deletion before the page made it skip a recording, a registration repeat one. And a
 * page is found from its cursor, not by sorting away every row before it (50,000 recordings: 9 s).
 */
async function* recordingPages(sql: Sql, query: ListingQuery, limit: number | undefined): AsyncGenerator<{ items: Recording[]; total: number | null }> {
  let cursor: string | undefined;
  for (let listed = 0; ;) {
    const page = await listRecordings(sql, { ...query, limit: Math.min(LIST_LIMIT, (limit ?? Infinity) - listed), offset: 0, cursor });
    yield page;
    listed += page.items.length;
    if (page.next_cursor === null || listed === limit) return;
    cursor = page.next_cursor;
  }
}

/** Escapes of the characters a TSV cell cannot hold as they are, as PostgreSQL's COPY text format writes them. */
const TSV_ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** A line of `list`'s TSV: `cells` tab-separated, a null as an empty cell, each escaped (TSV_ESCAPES) so that a row is one line of the same columns. */
function tsvLine(cells: readonly (string | number | null)[]): string {
  return cells.map((c) => (c === null ? "" : String(c).replace(/[\\\t\n\r]/g, (ch) => TSV_ESCAPES[ch]))).join("\t") + "\n";
}

/** Prints the listing on stdout (TSV with its header, or JSON lines), a page as it comes; says on stderr what --limit left out. */
async function listAction(sql: Sql, query: ListingQuery, limit: number | undefined, json: boolean): Promise<void> {
  if (!json) process.stdout.write(tsvLine(LIST_COLUMNS));
  let listed = 0;
  let total: number | null = null;
  for await (const page of recordingPages(sql, query, limit)) {
    process.stdout.write(page.items.map((r) => (json ? JSON.stringify(r) + "\n" : tsvLine(LIST_COLUMNS.map((c) => r[c])))).join(""));
    listed += page.items.length;
    total ??= page.total;
  }
  if (limit !== undefined && total !== null && total > listed) process.stderr.write(`sonotile recordings: the first ${listed} of ${total} recordings listed (--limit ${limit})\n`);
}

/** What an action does once the database is open: its flags read and checked before, so that a typo costs nothing. */
type Action = (sql: Sql, out: AnswerPrinter) => Promise<void>;

/** `list`: the listing on stdout (listAction). */
function listing(options: Options, json: boolean): Action {
  const { query, limit } = listingOptions(options);
  return (sql) => listAction(sql, query, limit, json);
}

/** `tag` or `untag` KEY=VALUE on the selection, the counts printed. */
function tagging(action: "tag" | "untag", pair: string, options: Options): Action {
  const tag = tagArgument(pair);
  const selection = selectionOptions(options);
  const named = `${tag.key}=${tag.value}`;
  return async (sql, out) => {
    if (action === "tag") {
      const r = await tagRecordings(sql, selection, { ...tag, created_by: null });
      out(r, `${plural(r.matched, "recording")} matched: ${named} added to ${r.added}, ${r.already_tagged} had it already`);
    } else {
      const r = await untagRecordings(sql, selection, tag);
      out(r, `${plural(r.matched, "recording")} matched: ${named} removed from ${r.removed}, ${r.not_tagged} did not carry it`);
    }
  };
}

export const command: Command = {
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "recordings", takesParams: false });
    if (!cl) return EXIT.ok;
    const [action, ...rest] = cl.positionals;
    if (action !== "list" && action !== "tag" && action !== "untag") throw new UsageError("expected 'list', 'tag KEY=VALUE' or 'untag KEY=VALUE' (see --help)");
    if (rest.length !== (action === "list" ? 0 : 1)) throw new UsageError(`${action}: expected ${action === "list" ? "flags only" : "one KEY=VALUE"} (see --help)`);
    const options = cl.options as Options;
    const foreign = Object.keys(options).filter((flag) => flag !== "json" && flag !== "data" && !ACTION_FLAGS[action].includes(flag));
    if (foreign.length) throw new UsageError(`${action} takes no ${foreign.map((f) => `--${f}`).join(", ")}${action === "list" ? " (without a filter it lists every recording of the state)" : ""}`);
    const work = action === "list" ? listing(options, options.json === true) : tagging(action, rest[0], options);

    const { database, out } = await openCommandStore(cl, { poolSize: 1, create: false });
    try {
      await work(database.sql, out);
      return EXIT.ok;
    } finally {
      await database.close();
    }
  },
};
