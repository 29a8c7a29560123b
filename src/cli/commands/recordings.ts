/**
 * `sonotile recordings tag|untag KEY=VALUE <selection>` — one tag put on, or taken off, every
 * recording of a selection (a dataset, a path prefix, a tag, explicit ids…), on the database
 * directly as the other admin commands are (beside a running `serve` on the same embedded data
 * directory too): the same operation as POST and DELETE /v1/recordings/tags (store/recording-tags.ts).
 */
import { STATES, type StateFilter } from "../../store/common.js";
import { isBlank, labelForm } from "../../store/labels.js";
import { MAX_RECORDING_IDS, tagRecordings, untagRecordings, type RecordingSelection } from "../../store/recording-tags.js";
import type { Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { choiceOption, idArgument, optionRows, readCommandLine, tagFilterOption, type OptionSpec } from "../flags.js";
import { openCommandStore, STORE_OPTIONS } from "../store-options.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "dataset", placeholder: "ID", doc: "only the recordings of this dataset" },
  { name: "search", placeholder: "TEXT", doc: "only recordings whose path holds TEXT (case-insensitive): a folder 'site1/night3/'" },
  { name: "hash", placeholder: "MD5", doc: "only recordings of this file content" },
  { name: "date-from", placeholder: "YYYY-MM-DD", doc: "only recordings of this date or later (those without a date are left out)" },
  { name: "date-to", placeholder: "YYYY-MM-DD", doc: "only recordings of this date or earlier (those without a date are left out)" },
  { name: "tag", placeholder: "KEY[=VALUE]", doc: "only recordings carrying a tag of KEY (of VALUE)" },
  { name: "state", placeholder: "STATE", doc: `recordings in this state (${[...STATES, "all"].join(", ")}); default active — a selection holding an archived or trashed one changes nothing (exit 2)` },
  { name: "all", boolean: true, doc: "every recording of the state: needed when no other filter narrows the selection" },
  { name: "ids", placeholder: "ID,ID…", repeatable: ",", doc: `these recordings (at most ${MAX_RECORDING_IDS}), instead of filters` },
  { name: "json", boolean: true, doc: "print the result as JSON" },
  ...STORE_OPTIONS.filter((o) => o.name === "data"),
];

const USAGE = `usage: sonotile recordings tag|untag KEY=VALUE (--dataset ID | --search TEXT | --hash MD5 | --date-from/--date-to YYYY-MM-DD | --tag KEY[=VALUE] | --all) [--state STATE]
       sonotile recordings tag|untag KEY=VALUE --ids ID,ID…

'tag' attaches the tag KEY=VALUE (created if new) to every recording of the selection that lacks
it; 'untag' takes it off those that carry it (the tag itself stays). The filters are those of
GET /v1/recordings and combine; one transaction for the whole selection, as POST and DELETE
/v1/recordings/tags. Prints how many recordings matched, and how many changed.

${optionRows(OPTIONS)}`;

/** The filters that narrow a selection (--state alone does not). */
const NARROWING = ["dataset", "search", "hash", "date-from", "date-to", "tag"] as const;
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

/** The selection the flags give: --ids alone, or filters that narrow it (else --all). */
function selectionOptions(options: Record<string, string | true | undefined>): RecordingSelection {
  const filters = [...NARROWING, "state", "all"].filter((k) => options[k] !== undefined);
  if (options.ids !== undefined) {
    if (filters.length) throw new UsageError(`give --ids or filters, not both (got ${filters.map((f) => `--${f}`).join(", ")})`);
    const ids = [...new Set(String(options.ids).split(",").filter(Boolean).map((id) => idArgument(id, "--ids")))];
    if (!ids.length || ids.length > MAX_RECORDING_IDS) throw new UsageError(`--ids: must name 1 to ${MAX_RECORDING_IDS} recordings, got ${ids.length}`);
    return { recording_ids: ids };
  }
  if (!options.all && !NARROWING.some((k) => options[k] !== undefined)) {
    throw new UsageError(`give the recordings: ${NARROWING.map((f) => `--${f}`).join(", ")} or --ids — or --all to mean every recording`);
  }
  // An empty --search holds every path: it would select every recording without --all.
  if (options.search === "" || options.search === true) throw new UsageError("--search: must not be empty (--all means every recording)");
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

export const command: Command = {
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "recordings", takesParams: false });
    if (!cl) return EXIT.ok;
    const [action, ...rest] = cl.positionals;
    if (action !== "tag" && action !== "untag") throw new UsageError("expected 'tag KEY=VALUE' or 'untag KEY=VALUE' (see --help)");
    if (rest.length !== 1) throw new UsageError(`${action}: expected one KEY=VALUE (see --help)`);
    // Validated before the database is opened: a typo costs nothing.
    const tag = tagArgument(rest[0]);
    const selection = selectionOptions(cl.options as Record<string, string | true | undefined>);

    const { database, out } = await openCommandStore(cl, { poolSize: 1, create: false });
    try {
      const named = `${tag.key}=${tag.value}`;
      if (action === "tag") {
        const r = await tagRecordings(database.sql, selection, { ...tag, created_by: null });
        out(r, `${r.matched} recordings matched: ${named} added to ${r.added}, ${r.already_tagged} had it already`);
      } else {
        const r = await untagRecordings(database.sql, selection, tag);
        out(r, `${r.matched} recordings matched: ${named} removed from ${r.removed}, ${r.not_tagged} did not carry it`);
      }
      return EXIT.ok;
    } finally {
      await database.close();
    }
  },
};
