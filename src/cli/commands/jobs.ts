/**
 * `sonotile jobs submit|list|show|abort|retry|download` — batch jobs from the command line, for
 * whoever can open the database (as `sonotile token`): the same operations as /v1/jobs, and the
 * download of a job's artifacts as GET /v1/artifacts/{id}/file serves them. Submitted jobs are
 * executed by `sonotile worker` processes.
 */
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Sql } from "../../store/db.js";
import { STATES, type StateFilter } from "../../store/common.js";
import { getJob, listJobItems, listJobs, listMetrics, JOB_STATUSES, type Job, type JobItem, type JobItemStatus, type JobStatus } from "../../store/jobs.js";
import { parseParams, toNumber } from "../../engine/params.js";
import { plural } from "../../audio/types.js";
import { parseFeatureList } from "../../features/features.js";
import { InvalidError } from "../../store/errors.js";
import { CLIP_BAND, RETRIED_ITEM_STATUSES, abortExtractJob, extractFeaturesData, openQueue, retryExtractJob, submitExtractJob, type RetriedItemStatus } from "../../jobs/queue.js";
import { jobArtifacts } from "../../jobs/results.js";
import { LIST_LIMIT, noteUnlisted, type Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { choiceOption, idArgument, numberOption, optionRows, readCommandLine, namingFlags, withFlag, type OptionSpec } from "../flags.js";
import { getRun, type Run } from "../../store/runs.js";
import { writeOutputBytes } from "../output-file.js";
import { checkedContents, intoDownloadDirectory, undownloadable } from "../artifact-files.js";
import { downloadChain } from "../job-chain.js";
import { openCommandStore, STORE_OPTIONS, type AnswerPrinter } from "../store-options.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "dataset", placeholder: "ID", doc: "submit: every recording of the dataset" },
  { name: "recordings", placeholder: "ID,ID…", doc: "submit: these recordings" },
  { name: "clips", placeholder: "ID,ID…", doc: "submit: these clips" },
  { name: "features", placeholder: "NAME,NAME…", doc: "submit: features to compute; default all" },
  { name: "band", placeholder: "clip|LOW:HIGH", doc: "submit: spectral features of each clip target's own frequency bounds (clip), or of the band LOW–HIGH Hz for every target (either side may be empty: open); default the whole spectrum" },
  { name: "priority", placeholder: "N", doc: "submit, retry: integer in [-1000, 1000]; default 0 (retry: the retried job's)" },
  { name: "expiration-delay", placeholder: "S", doc: "submit: seconds the job's artifacts (features.csv, .npy matrices, provenance.json) are kept; default 30 days" },
  { name: "status", placeholder: "STATUS", doc: `list: only jobs with this status (${JOB_STATUSES.join(", ")}); retry: only items with this one (${RETRIED_ITEM_STATUSES.join(", ")})` },
  { name: "state", placeholder: "STATE", doc: `list: jobs in this state (${[...STATES, "all"].join(", ")}); default active — archive, trash and restore through the API` },
  { name: "message", placeholder: "TEXT", doc: "abort: why" },
  { name: "output", short: "o", placeholder: "DIR", doc: "download: the directory the artifact files are written into (made if absent); default ./<job-id>" },
  { name: "force", boolean: true, doc: "download: replace files of the artifacts' names already in the directory (refused otherwise)" },
  { name: "chain", boolean: true, doc: "download: the tables of the job's whole chain of retries, merged (the first job's rows, then each retry's)" },
  { name: "json", boolean: true, doc: "print JSON" },
  ...STORE_OPTIONS.filter((o) => o.name === "data"),
];

const USAGE = `usage: sonotile jobs submit (--dataset ID | --recordings ID,… | --clips ID,…) [--features …] [--band clip|LOW:HIGH] [parameters]
       sonotile jobs list [--status STATUS] [--state STATE]
       sonotile jobs show <job-id>          (with its run's sonotile version, and every item that failed or errored, and why)
       sonotile jobs abort <job-id> [--message TEXT]
       sonotile jobs retry <job-id> [--status STATUS] [--priority N]   (a new job of its failed, errored and skipped items, after its retries)
       sonotile jobs download <job-id> [-o DIR] [--force]   (its artifacts — features.csv, .npy matrices, provenance.json — as files in DIR)
       sonotile jobs download <job-id> --chain [-o DIR] [--force]   (the tables of its chain of retries, merged)

Feature extraction jobs, executed by 'sonotile worker' processes. Spectrogram parameters are
the flags of 'sonotile spectrogram' (e.g. --window-size 0.01). The database must exist
('sonotile serve' or 'sonotile dataset add' creates one).

'download' writes each artifact of an ended job (those 'show' lists) into DIR under its name,
read from the database a 1 MiB chunk at a time into a temporary file beside it, checked against
its SHA-256 and renamed into place once whole. It writes nothing when a file of one of those names
exists in DIR (without --force), or when an artifact has expired (archive it to keep it: POST
/v1/artifacts/{id}/archive) or its bytes are not in the database.

'download --chain' writes one table of the job's chain of retries (the first job, its retries and
theirs, whichever job is named): features.csv with one line of column names, then the rows of
the first job and of each retry in order of creation, the .npy matrices in the same row order, and
a provenance.json naming each job and the SHA-256 of each of its files. It writes nothing while a
job of the chain is pending or running, or when a job's file has expired, is missing, or does not
match the first job's columns.

${optionRows(OPTIONS)}`;

/** The flags each action takes besides --json and --data: any other is refused, naming it (a retry takes its job's features, not --features). */
const ACTION_FLAGS: Record<string, readonly string[]> = {
  submit: ["dataset", "recordings", "clips", "features", "band", "priority", "expiration-delay"],
  list: ["status", "state"],
  show: [],
  abort: ["message"],
  retry: ["status", "priority"],
  download: ["output", "force", "chain"],
};

const ids = (text: string | true) => String(text).split(",").map((s) => s.trim()).filter(Boolean);

/** The `submit` flags that give fields of a job's data other than its parameters. */
const FLAG_OF_FIELD: Record<string, string> = {
  "targets.dataset_id": "dataset", "targets.recording_ids": "recordings", "targets.clip_ids": "clips", features: "features", band: "band", expiration_delay: "expiration-delay",
};

/**
 * A field of a job's data as `submit` messages name it, with the flag that gives it (as
 * withFlagNames names parameters): `data.params.window_size` → `window_size (--window-size)`,
 * `targets.recording_ids.0` → `targets.recording_ids.0 (--recordings)`.
 */
function withFlagName(field: string): string {
  const path = field.replace(/^data\./, "");
  const param = /^params\.(.+)$/.exec(path)?.[1];
  if (param) return withFlag(param);
  const flag = Object.entries(FLAG_OF_FIELD).find(([f]) => path === f || path.startsWith(`${f}.`))?.[1];
  return flag ? `${path} (--${flag})` : path;
}

/**
 * `--band` as a job's data.band (queue.ts extractFeaturesData): `clip` (CLIP_BAND), or `LOW:HIGH`
 * Hz with either side empty for an open one — numbers as the parameter flags read them, their
 * rules (>= 0, LOW < HIGH) the job data's own, named `band.low_freq (--band)`. Undefined when absent.
 */
function bandOption(text: string | true | undefined): typeof CLIP_BAND | { low_freq?: unknown; high_freq?: unknown } | undefined {
  if (text === undefined) return undefined;
  if (text === CLIP_BAND) return CLIP_BAND;
  const edges = String(text).split(":").map((edge) => (edge.trim() === "" ? undefined : toNumber(edge)));
  if (edges.length !== 2 || edges.every((hz) => hz === undefined) || edges.some((hz) => hz !== undefined && typeof hz !== "number")) {
    throw new UsageError(`--band: must be ${CLIP_BAND} (each clip target in its own bounds) or LOW:HIGH in Hz (either side may be empty), got '${text}'`);
  }
  const [low_freq, high_freq] = edges;
  return { ...(low_freq === undefined ? {} : { low_freq }), ...(high_freq === undefined ? {} : { high_freq }) };
}

/** One line per job for humans. */
function jobLine(j: Omit<Job, "data">): string {
  const progress = j.progress_total === null ? `${j.progress_done}` : `${j.progress_done}/${j.progress_total}`;
  return `${j.id}  ${j.status.padEnd(9)} ${(j.result ?? "").padEnd(7)}  ${progress.padStart(11)}  ${j.task}  ${j.created_at}${j.state === "active" ? "" : `  (${j.state})`}`;
}

/** A job's run for humans: which sonotile made it (a run made before 0.12 did not record it). */
function runLine(run: Run): string {
  return `run ${run.id}: made by sonotile ${run.engine_version ?? "before 0.12 (its version was not recorded)"}`;
}

/** Every item of the job with one of `statuses`, in order, read a page at a time. */
async function itemsWithStatus(sql: Sql, jobId: string, statuses: readonly JobItemStatus[]): Promise<JobItem[]> {
  const items: JobItem[] = [];
  for (const status of statuses) {
    for (let offset = 0; ; offset += LIST_LIMIT) {
      const page = await listJobItems(sql, jobId, { limit: LIST_LIMIT, offset, status });
      items.push(...page.items);
      if (offset + page.items.length >= page.total) break;
    }
  }
  return items.sort((a, b) => a.item - b.item);
}

/** An item for humans: its target as the API names it, why it failed, and the worker that found it. */
function itemLine(i: JobItem): string {
  const clip = i.kind === "clip" ? ` clip ${i.target_id} [${i.start_time}, ${i.end_time}) s of` : "";
  const by = i.host === null ? "" : ` (worker on host ${i.host}, pid ${i.pid})`;
  return `item ${i.item} ${i.status}:${clip} ${i.recording_path} (recording ${i.recording_id}): ${i.error}${by}`;
}

export const command: Command = {
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "jobs", takesParams: true });
    if (!cl) return EXIT.ok;
    const [action, ...rest] = cl.positionals;
    if (!["submit", "list", "show", "abort", "retry", "download"].includes(action ?? "")) throw new UsageError(`expected submit, list, show, abort, retry or download (see --help)`);
    if (rest.length !== (["show", "abort", "retry", "download"].includes(action) ? 1 : 0)) throw new UsageError(`${action}: wrong number of arguments (see --help)`);
    const jobId = rest.length === 1 ? idArgument(rest[0], "job-id") : undefined;
    if (action !== "submit" && Object.keys(cl.params).length) throw new UsageError(`${action} takes no spectrogram parameters`);
    const foreign = Object.keys(cl.options).filter((flag) => flag !== "json" && flag !== "data" && !ACTION_FLAGS[action].includes(flag));
    if (foreign.length) throw new UsageError(`${action} takes no ${foreign.map((f) => `--${f}`).join(", ")}${action === "retry" ? " (a retry runs its job's features, targets and expiry)" : ""}`);
    const status = choiceOption<string>(cl.options.status, "status", action === "retry" ? RETRIED_ITEM_STATUSES : JOB_STATUSES);
    const state = choiceOption<StateFilter>(cl.options.state, "state", [...STATES, "all"]) ?? "active";

    // Validated before the database is opened: a typo costs nothing.
    let data;
    if (action === "submit") {
      const given = (["dataset", "recordings", "clips"] as const).filter((k) => cl.options[k] !== undefined);
      if (given.length !== 1) throw new UsageError("submit: give exactly one of --dataset, --recordings, --clips");
      const targets = given[0] === "dataset" ? { dataset_id: String(cl.options.dataset) }
        : given[0] === "recordings" ? { recording_ids: ids(cl.options.recordings!) } : { clip_ids: ids(cl.options.clips!) };
      let params;
      try {
        params = parseParams(cl.params);
      } catch (err) {
        throw namingFlags(err);
      }
      let features;
      try {
        features = cl.options.features === undefined ? undefined : parseFeatureList(String(cl.options.features));
      } catch (err) {
        throw new UsageError(`--features: ${(err as Error).message}`); // as extract says it
      }
      const parsed = extractFeaturesData.safeParse({
        targets, params,
        ...(features ? { features } : {}),
        ...(cl.options.band !== undefined ? { band: bandOption(cl.options.band) } : {}),
        ...(cl.options["expiration-delay"] !== undefined ? { expiration_delay: numberOption(cl.options["expiration-delay"], "expiration-delay", (v) => v > 0, "a number > 0") } : {}),
      });
      if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${withFlagName(i.path.join("."))}: ${i.message}`).join("; "));
      data = parsed.data;
    }
    // Checked before the database is opened, as the values above: -o naming a file.
    const outputDir = action === "download" ? await downloadDirectory(cl.options.output, jobId!) : undefined;
    const priority = numberOption(cl.options.priority, "priority", (v) => Number.isInteger(v) && Math.abs(v) <= 1000, "an integer in [-1000, 1000]");

    // One connection: the commands are sequential, and the embedded server interleaves the
    // messages of concurrent connections (pg-boss's timers would make a second one busy).
    const { database, out } = await openCommandStore(cl, { poolSize: 1, create: false });
    try {
      const sql = database.sql;
      if (action === "submit" || action === "retry") {
        const boss = await openQueue(sql);
        try {
          let job;
          if (action === "retry") {
            const retry = await retryExtractJob(sql, boss, jobId!, { statuses: status === undefined ? undefined : [status as RetriedItemStatus], priority, created_by: null, nameParam: withFlag });
            job = retry.job;
            const paths = retry.leftOut.map((t) => (t.kind === "clip" ? `clip ${t.id} of ${t.recording_path}` : t.recording_path));
            if (paths.length) process.stderr.write(`sonotile jobs: left out ${paths.length} target${paths.length > 1 ? "s" : ""} archived, trashed or deleted since: ${paths.slice(0, 5).join(", ")}${paths.length > 5 ? ` (and ${paths.length - 5} more)` : ""}\n`);
          } else {
            // Parameters named in a refusal's text are named as typed too ("a smaller hop_size (--hop-size) …").
            job = await submitExtractJob(sql, boss, { data: data!, priority, created_by: null, nameParam: withFlag }).catch((err) => {
              // Refusals that needed the database (unknown targets, parameters a target cannot take), by flag.
              throw err instanceof InvalidError ? new UsageError(err.fields.map((f) => `${withFlagName(f.field)}: ${f.message}`).join("; ")) : err;
            });
          }
          out(job, `job ${job.id} submitted: ${plural(job.progress_total ?? 0, "item")}${job.retry_of ? ` (a retry of job ${job.retry_of})` : ""}`);
        } finally {
          await boss.stop({ graceful: false, close: false });
        }
      } else if (action === "download") {
        await (cl.options.chain === true ? downloadChain : download)(sql, jobId!, outputDir!, cl.options.force === true, out);
      } else if (action === "list") {
        const page = await listJobs(sql, { limit: LIST_LIMIT, offset: 0, state, status: status as JobStatus | undefined, sort: "created_at", order: "desc" });
        out(page, page.items.map(jobLine).join("\n") || "no jobs");
        noteUnlisted("jobs", page, "jobs", "newest", "narrow the list with --status or --state (GET /v1/jobs pages through them all)");
      } else if (action === "show") {
        const job = await getJob(sql, jobId!);
        const metrics = (await listMetrics(sql, job.id, { limit: LIST_LIMIT, offset: 0, withData: false })).items.map((m) => ({ key: m.key, step: m.step, value: m.value }));
        const artifacts = await jobArtifacts(sql, job.id);
        const failed = await itemsWithStatus(sql, job.id, ["failed", "errored"]);
        const run = job.run_id === null ? null : await getRun(sql, job.run_id);
        out({ job, run, metrics, artifacts, failed_items: failed }, [
          jobLine(job),
          ...(run ? [runLine(run)] : []),
          ...(job.message ? [`message: ${job.message}`] : []),
          ...metrics.map((m) => `metric ${m.key}: ${m.value}`),
          ...artifacts.flatMap((a) => [
            `artifact ${a.id}  ${a.name}  sha256 ${a.file_sha256}  ${plural(a.size, "byte")}  ${a.state === "archived" ? `archived, so kept (its expire_at ${a.expire_at ?? "none"} does not apply)` : `${a.expired ? "expired" : "expires"} ${a.expire_at ?? "never"}`}  GET ${a.url}`,
            ...(a.description ? [`  ${a.description}`] : []),
          ]),
          ...failed.map(itemLine),
        ].join("\n"));
      } else {
        const job = await abortExtractJob(sql, jobId!, cl.options.message as string | undefined);
        out(job, `job ${job.id} aborted`);
      }
      return EXIT.ok;
    } finally {
      await database.close();
    }
  },
};

/**
 * The directory `download` writes into: `-o DIR`, else `./<job-id>`; it may not exist yet (it is
 * made), but may not be a file.
 * @throws UsageError naming -o
 */
async function downloadDirectory(given: string | true | undefined, jobId: string): Promise<string> {
  const dir = resolve(given === undefined ? jobId : String(given));
  const found = await stat(dir).catch(() => null);
  if (found && !found.isDirectory()) throw new UsageError(`-o ${String(given ?? jobId)}: is not a directory`);
  return dir;
}

/**
 * `jobs download`: every artifact of the job (jobArtifacts: active and archived ones), in name
 * order, written to `dir`/<its name> — streamed, checked, and renamed into place whole
 * (writeOutputBytes). All are checked first, so that a refusal writes nothing: none at all (a job
 * still running, or whose artifacts were deleted), one undownloadable, a file of its name in `dir`
 * without `force`.
 */
async function download(sql: Sql, jobId: string, dir: string, force: boolean, out: AnswerPrinter): Promise<void> {
  const job = await getJob(sql, jobId);
  const artifacts = (await jobArtifacts(sql, job.id)).sort((a, b) => a.name.localeCompare(b.name));
  if (!artifacts.length) {
    throw new Error(["pending", "running"].includes(job.status)
      ? `job ${job.id} is ${job.status}: its artifacts are stored when it ends`
      : `job ${job.id} (${job.status}) has no artifacts: a cleanup deleted them (expired), or they are in the trash (restore them: POST /v1/artifacts/{id}/restore)`);
  }
  const refusals = (await Promise.all(artifacts.map((a) => undownloadable(sql, a)))).filter((r) => r !== null);
  if (refusals.length) throw new Error(`${refusals.join("; ")} — nothing written`);
  const files = await intoDownloadDirectory(dir, artifacts.map((a) => a.name), force, async () => {
    const written = [];
    for (const a of artifacts) {
      const path = join(dir, a.name);
      await writeOutputBytes(path, checkedContents(sql, a));
      written.push({ artifact_id: a.id, name: a.name, path, size: a.size, sha256: a.file_sha256 });
    }
    return written;
  });
  out({ job_id: job.id, directory: dir, files }, [
    ...files.map((f) => `wrote ${f.path}  ${f.size} bytes  sha256 ${f.sha256}`),
    `job ${job.id}: ${plural(files.length, "artifact")} written to ${dir}`,
  ].join("\n"));
}
