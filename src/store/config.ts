/**
 * Where sonotile keeps its state, from flags and environment (flags win):
 * - database: `DATABASE_URL` (real PostgreSQL), else the embedded one under the data dir;
 * - data dir: `--data DIR` / `SONOTILE_DATA`, default `./data`;
 * - audio roots: `--audio-root DIR[:DIR…]` / `SONOTILE_AUDIO_ROOTS` (path-list separated
 *   like PATH), default the current directory.
 */
import { delimiter, resolve } from "node:path";

export interface StoreConfig {
  databaseUrl: string | undefined;
  dataDir: string;
  audioRoots: string[];
}

export function storeConfig(flags: { data?: string; audioRoot?: string }, env: NodeJS.ProcessEnv = process.env): StoreConfig {
  const roots = flags.audioRoot ?? env.SONOTILE_AUDIO_ROOTS ?? ".";
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: resolve(flags.data ?? env.SONOTILE_DATA ?? "data"),
    audioRoots: roots.split(delimiter).filter(Boolean).map((r) => resolve(r)),
  };
}
