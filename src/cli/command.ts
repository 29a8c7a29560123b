/** The shape every subcommand module exports as `command` (its line of `sonotile --help` is in main.ts). */
export interface Command {
  /**
   * Runs with the arguments after the command name; resolves to the exit code. `verbose`:
   * `--verbose` was given (main takes it out of `args`, wherever it stood; default false; every
   * command's help shows it from its one definition, flags.ts VERBOSE_OPTION).
   */
  run(args: string[], context?: { verbose: boolean }): Promise<number>;
}

/** The most records a listing command prints: one page of the store's (the API's largest; `recordings list` reads every page, of this size). */
export const LIST_LIMIT = 1000;

/**
 * Says on stderr when a listing printed only the first page of its records: the rest (a pending
 * job, an old token) must not go missing unsaid. `which` names what was listed ("newest", "first
 * by name"), `narrowing` how to see the others.
 */
export function noteUnlisted(command: string, page: { items: unknown[]; total: number }, noun: string, which: string, narrowing: string): void {
  if (page.total > page.items.length) process.stderr.write(`sonotile ${command}: the ${page.items.length} ${which} of ${page.total} ${noun} listed; ${narrowing}\n`);
}
