/**
 * The options that size a server's caches (serve; the filter cache also worker), as TileService and
 * TilePool take them, and the stored stats (a cache in the database: tileStatsStore).
 */
import { sizeText } from "../audio/types.js";
import { FILTER_CACHE_BYTES } from "../engine/resample.js";
import { STATS_PURGE_SPARE_SECONDS, STATS_STORE_LIMIT_BYTES } from "../store/stats.js";
import { filterCacheProblem } from "../tiles/pool.js";
import { STATS_CACHE_BYTES, TILE_CACHE_BYTES } from "../tiles/service.js";
import { UsageError } from "./errors.js";
import { sizeOption, type OptionSpec } from "./flags.js";

export const CACHE_OPTIONS: readonly OptionSpec[] = [
  { name: "tile-cache", placeholder: "SIZE", doc: `bytes of encoded tiles kept in memory (e.g. 128MiB, 1GiB; 0: none); env SONOTILE_TILE_CACHE; default ${sizeText(TILE_CACHE_BYTES)}` },
  { name: "stats-cache", placeholder: "SIZE", doc: `bytes of recording stats (mostly PCEN checkpoints) kept in memory; env SONOTILE_STATS_CACHE; default ${sizeText(STATS_CACHE_BYTES)}` },
  { name: "stats-store-limit", placeholder: "SIZE", doc: `bytes of recording stats (PCEN checkpoints, overviews) kept in the database: after stats are stored, the least recently used others are removed down to it (0: all but those used in the last ${STATS_PURGE_SPARE_SECONDS / 60} minutes); env SONOTILE_STATS_STORE_LIMIT; default ${sizeText(STATS_STORE_LIMIT_BYTES)}` },
  { name: "filter-cache", placeholder: "SIZE", doc: `bytes of resampling filters each thread keeps designed, in its DSP core; env SONOTILE_FILTER_CACHE; default ${sizeText(FILTER_CACHE_BYTES)}` },
];

/** The cache sizes given (CACHE_OPTIONS: the flag, else its environment variable), checked; unset ones keep their defaults. */
export function cacheOptions(options: Record<string, string | true>, env: NodeJS.ProcessEnv = process.env): { cacheBytes: number; statsCacheBytes: number; filterCacheBytes: number } {
  return {
    cacheBytes: sizeOption(options["tile-cache"], "tile-cache", "SONOTILE_TILE_CACHE", env) ?? TILE_CACHE_BYTES,
    statsCacheBytes: sizeOption(options["stats-cache"], "stats-cache", "SONOTILE_STATS_CACHE", env) ?? STATS_CACHE_BYTES,
    filterCacheBytes: filterCacheOption(options, env),
  };
}

/** `--stats-store-limit`, else SONOTILE_STATS_STORE_LIMIT, else STATS_STORE_LIMIT_BYTES: the bound tileStatsStore keeps the stored stats within. */
export function statsStoreLimitOption(options: Record<string, string | true>, env: NodeJS.ProcessEnv = process.env): number {
  return sizeOption(options["stats-store-limit"], "stats-store-limit", "SONOTILE_STATS_STORE_LIMIT", env) ?? STATS_STORE_LIMIT_BYTES;
}

/**
 * `--filter-cache`, else SONOTILE_FILTER_CACHE, else FILTER_CACHE_BYTES — checked here by the pool's
 * own rule (filterCacheProblem), so that one too large is refused before anything starts, naming
 * where it was given.
 */
export function filterCacheOption(options: Record<string, string | true>, env: NodeJS.ProcessEnv = process.env): number {
  const bytes = sizeOption(options["filter-cache"], "filter-cache", "SONOTILE_FILTER_CACHE", env) ?? FILTER_CACHE_BYTES;
  const problem = filterCacheProblem(bytes);
  if (problem) throw new UsageError(`${options["filter-cache"] !== undefined ? "--filter-cache" : "SONOTILE_FILTER_CACHE"}: ${problem}`);
  return bytes;
}
