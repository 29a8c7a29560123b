/**
 * Where sonotile keeps its state, from flags and environment (flags win):
 * - database: `DATABASE_URL` (real PostgreSQL), else the embedded one under the data dir;
 * - data dir: `--data DIR` / `SONOTILE_DATA`, default `./data`;
 * - audio roots: `--audio-root DIR[:DIR…]` / `SONOTILE_AUDIO_ROOTS` (path-list separated
 *   like PATH), default the current directory.
 */
import { delimiter, resolve } from "node:path";
import { unreadableDatabaseUrl } from "./db.js";
import { invalid } from "./errors.js";

export interface StoreConfig {
  databaseUrl: string | undefined;
  dataDir: string;
  audioRoots: string[];
}

/**
 * The store's configuration from `flags` and `env`. Every command that opens the store reads it
 * here, so a DATABASE_URL postgres.js cannot read is refused here, for all of them alike.
 * @throws InvalidError (exit 2) naming DATABASE_URL and what is wrong with it — not its value,
 *   which may hold a password
 */
export function storeConfig(flags: { data?: string; audioRoot?: string }, env: NodeJS.ProcessEnv = process.env): StoreConfig {
  const roots = flags.audioRoot ?? env.SONOTILE_AUDIO_ROOTS ?? ".";
  const unreadable = env.DATABASE_URL ? unreadableDatabaseUrl(env.DATABASE_URL) : null;
  if (unreadable) {
    throw invalid("DATABASE_URL", `${unreadable}: it reads postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://), characters such as @ / : # in its parts percent-encoded; unset, the embedded database of --data is used`);
  }
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: resolve(flags.data ?? env.SONOTILE_DATA ?? "data"),
    audioRoots: roots.split(delimiter).filter(Boolean).map((r) => resolve(r)),
  };
}
