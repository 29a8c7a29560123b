/** The shape every subcommand module exports as `command` (its line of `sonotile --help` is in main.ts). */
export interface Command {
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}
