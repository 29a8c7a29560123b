/**
 * `sonotile database copy --to URL` — the embedded database of a data directory copied into an
 * empty real PostgreSQL (store/copy.ts), for the move from one machine's embedded database to a
 * shared server. The data directory is opened, not attached to: its server must be stopped, so
 * that nothing changes while the tables go over.
 */
import { plural } from "../../audio/types.js";
import { storeConfig } from "../../store/config.js";
import { copyDatabase } from "../../store/copy.js";
import { NOT_POSTGRES_URL, openDatabase, redact, unreadableDatabaseUrl } from "../../store/db.js";
import type { Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { optionRows, readCommandLine, type OptionSpec } from "../flags.js";
import { STORE_OPTIONS } from "../store-options.js";

/** Seconds the target may take to answer a table's COPY: a day, for a database of many GB. */
const COPY_REPLY_LIMIT_S = 24 * 3600;

const OPTIONS: readonly OptionSpec[] = [
  { name: "to", placeholder: "URL", doc: "the PostgreSQL (>= 14) to copy into: postgres://…, an empty database (createdb)" },
  ...STORE_OPTIONS.filter((o) => o.name === "data"),
];

const USAGE = `usage: sonotile database copy --to postgres://… [--data DIR]

Copies the embedded database of the data directory — every user, token, dataset, recording,
clip, tag, feature, note, run, job, metric and artifact, with their ids — into an empty
PostgreSQL, creating sonotile's tables there. Stop the data directory's server first; jobs must
not be pending or running (the batch-job queue is not copied). Then start
'DATABASE_URL=… sonotile serve': the same tokens work. The data directory is left as it was.

${optionRows(OPTIONS)}`;

export const command: Command = {
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "database", takesParams: false });
    if (!cl) return EXIT.ok;
    if (cl.positionals.length !== 1 || cl.positionals[0] !== "copy") throw new UsageError("expected 'copy' (see --help)");
    const to = cl.options.to as string | undefined;
    const unreadable = to === undefined ? null : unreadableDatabaseUrl(to);
    if (!to || unreadable) throw new UsageError(`--to: must be a postgres:// URL of an empty database${unreadable && unreadable !== NOT_POSTGRES_URL ? `: ${unreadable}` : ""}`);
    const config = storeConfig({ data: cl.options.data as string | undefined });
    // Not migrated: "left as it was" (copyDatabase refuses a schema other than this sonotile's).
    const source = await openDatabase({ dataDir: config.dataDir, poolSize: 1, create: false, migrate: false });
    try {
      // COPY streams a whole table before the server answers, which for a database of many GB
      // may take longer than the bound on an unanswered connection (60 s by default).
      const target = await openDatabase({ url: to, poolSize: 1, replyLimitS: COPY_REPLY_LIMIT_S });
      try {
        const copied = await copyDatabase(source.sql, target.sql);
        for (const t of copied) process.stdout.write(`${t.table}: ${plural(t.rows, "row")}\n`);
        process.stdout.write(`copied ${config.dataDir} into ${redact(to)}: start DATABASE_URL=… sonotile serve on it\n`);
        return EXIT.ok;
      } finally {
        await target.close();
      }
    } finally {
      await source.close();
    }
  },
};
