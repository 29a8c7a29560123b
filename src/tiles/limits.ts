/**
 * The most worker threads a pool takes (TilePool's `threads`, the CLI's `--threads` and
 * `--worker-threads`): a pool starts them all at once, so a typo of 100000 would try to start that
 * many. A module of its own so that the CLI's flag parsing checks it without loading the pool.
 */
export const MAX_THREADS = 1024;
