/** The options that size a server's caches (serve; the filter cache also worker), as TileService and TilePool take them. */
import { FILTER_CACHE_BYTES } from "../engine/resample.js";
import { CORE_MEMORY_LIMIT, filterCacheLimit } from "../tiles/pool.js";
import { STATS_CACHE_BYTES, TILE_CACHE_BYTES } from "../tiles/service.js";
import { UsageError } from "./errors.js";
import { sizeOption, sizeText, type OptionSpec } from "./flags.js";

export const CACHE_OPTIONS: readonly OptionSpec[] = [
  { name: "tile-cache", placeholder: "SIZE", doc: `bytes of encoded tiles kept in memory (e.g. 128MiB, 1GiB; 0: none); env SONOTILE_TILE_CACHE; default ${sizeText(TILE_CACHE_BYTES)}` },
  { name: "stats-cache", placeholder: "SIZE", doc: `bytes of recording stats (mostly PCEN checkpoints) kept in memory; env SONOTILE_STATS_CACHE; default ${sizeText(STATS_CACHE_BYTES)}` },
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

/**
 * `--filter-cache`, else SONOTILE_FILTER_CACHE, checked — at most filterCacheLimit: a larger cache,
 * full, grows each thread's core past CORE_MEMORY_LIMIT, and the thread retires after every task,
 * filters and all —; else FILTER_CACHE_BYTES.
 */
export function filterCacheOption(options: Record<string, string | true>, env: NodeJS.ProcessEnv = process.env): number {
  const bytes = sizeOption(options["filter-cache"], "filter-cache", "SONOTILE_FILTER_CACHE", env) ?? FILTER_CACHE_BYTES;
  if (bytes > filterCacheLimit()) {
    const where = options["filter-cache"] !== undefined ? "--filter-cache" : "SONOTILE_FILTER_CACHE";
    throw new UsageError(`${where}: at most ${sizeText(filterCacheLimit())}, got ${sizeText(bytes)}: the filters lie in each thread's DSP core, which past ${sizeText(CORE_MEMORY_LIMIT)} retires its thread after every task — filters and all`);
  }
  return bytes;
}
