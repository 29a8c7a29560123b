/**
 * Errors the CLI maps to exit codes (SPEC §8): 2 for bad usage or parameters, 1 for input it
 * cannot read. Anything else is a bug and is reported as such.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Exit codes of SPEC §8. */
export const EXIT = { ok: 0, input: 1, usage: 2 } as const;
