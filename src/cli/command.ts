/** The shape every subcommand module exports as `command`. */
export interface Command {
  /** One line for `sonotile --help`. */
  summary: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}
