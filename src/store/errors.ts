/**
 * Errors the store raises for conditions a caller can fix; the API maps them to HTTP codes
 * (src/api/plugins/errors.ts). Database constraint violations are translated here so that
 * every client learns which field was wrong, whatever checked it first.
 */

/** A record does not exist (or is hidden from this caller): 404. */
export class NotFoundError extends Error {
  override name = "NotFoundError";
  /** Exit code when it ends a CLI command (SPEC §8: an id that names no record is a bad parameter). */
  readonly exitCode = 2;
  constructor(what: string, id: string) {
    super(`${what} ${id} not found`);
  }
}

/** The request contradicts existing data (duplicate name, archived record, illegal transition): 409. */
export class ConflictError extends Error {
  override name = "ConflictError";
  /** Exit code when it ends a CLI command (SPEC §8: bad usage). */
  readonly exitCode = 2;
  /**
   * @param field the column whose value another record holds (a unique key), where that is the
   *   conflict: the API names it in `fields`, as a 400 names an invalid one
   * @param fieldMessage what `fields` says of it (conflict: the message without the field's name)
   */
  constructor(message: string, readonly field?: string, readonly fieldMessage = message) {
    super(message);
  }
}

/** A ConflictError over one field's value, worded as an InvalidError's field is: `field: message`. */
export function conflict(field: string, message: string): ConflictError {
  return new ConflictError(`${field}: ${message}`, field, message);
}

/**
 * A transaction lost a conflict with others writing the same records (PostgreSQL's deadlock or
 * serialization failure) every time inTransaction ran it: nothing was changed, and the same
 * request shortly after succeeds. 503 with Retry-After (a write included: its transaction was
 * rolled back, so repeating it is safe); exit 1 when it ends a CLI command, as a failure at run
 * time (it had been a 500 and a bare "deadlock detected").
 */
export class BusyError extends Error {
  override name = "BusyError";
  /** Exit code when it ends a CLI command (SPEC §8: not the usage's fault). */
  readonly exitCode = 1;
  /** Seconds a client waits before asking again (Retry-After). */
  readonly retryAfterS = 2;
  /** @param what the record(s) the transaction wrote, as a person names them ("clip 3f…", "user carol") */
  constructor(what: string, attempts: number, cause: Error) {
    super(`${what} is busy: other changes to it at the same moment won ${attempts} times in a row (${cause.message}); nothing was changed — retry in a few seconds`, { cause });
  }
}

/**
 * The database a command was pointed at does not exist (an embedded data directory without one,
 * a PostgreSQL without sonotile's tables), and the command only uses existing records: a wrong
 * `--data` must not leave a new database behind.
 */
export class NoDatabaseError extends Error {
  override name = "NoDatabaseError";
  /** Exit code when it ends a CLI command (SPEC §8: bad usage — the path or URL given). */
  readonly exitCode = 2;
}

/**
 * The PostgreSQL of DATABASE_URL did not answer when a command opened it (not running, wrong host
 * or port). Named by its URL: the connection error alone, `connect ECONNREFUSED 127.0.0.1:5433`,
 * left an operator to guess that a database was meant. Keeps the error's `code`, by which serve
 * and worker wait for a database (isConnectionError); exit 1, as for input that cannot be read.
 */
export class DatabaseUnreachableError extends Error {
  override name = "DatabaseUnreachableError";
  readonly code: string;
  constructor(description: string, cause: Error & { code: string }) {
    super(`${description} cannot be reached (${cause.code}: ${cause.message}): check DATABASE_URL and that its PostgreSQL is running`, { cause });
    this.code = cause.code;
  }
}

/**
 * The postgres.js this process loads lacks sonotile's mend of a crash (src/store/postgres-mend.ts):
 * the installation is to be fixed, so exit 1, as for what a command cannot read.
 */
export class PostgresUnmendedError extends Error {
  override name = "PostgresUnmendedError";
}

/** One or more fields are invalid: 400 naming each. */
export class InvalidError extends Error {
  override name = "InvalidError";
  /** Exit code when it ends a CLI command (SPEC §8: bad usage). */
  readonly exitCode = 2;
  constructor(readonly fields: { field: string; message: string }[]) {
    super(fields.map((f) => `${f.field}: ${f.message}`).join("; "));
  }
}

/**
 * A write named a user who does not exist (a foreign key to users): 400 naming the field, as any
 * missing reference — unless the user is the one making the request (`created_by`, or an owner
 * defaulting to them), deleted after their request was authenticated: the API answers that 401
 * (plugins/errors.ts), since what is wrong is the caller's account, not a field they sent.
 */
export class MissingUserError extends InvalidError {
  override name = "MissingUserError";
  constructor(field: string, readonly userId: string) {
    super([{ field, message: "refers to a record that does not exist" }]);
  }
}

/** Shorthand for an InvalidError about one field. */
export function invalid(field: string, message: string): InvalidError {
  return new InvalidError([{ field, message }]);
}

interface PgError {
  code?: string;
  constraint_name?: string;
  column_name?: string;
  table_name?: string;
  detail?: string;
}

// SQLSTATEs: 23505 unique_violation, 23503 foreign_key_violation, 23514 check_violation,
// 23502 not_null_violation, 22P02 invalid_text_representation, 22007/22008 bad date/time,
// 22003 numeric out of range, 22001 string too long.
/**
 * Turns a constraint violation into a ConflictError / InvalidError naming the field (from the
 * constraint name `<table>_<field>_check`, the column, or the key in the detail text);
 * returns anything else unchanged.
 */
export function translatePgError(err: unknown): unknown {
  const e = err as PgError;
  if (!e || typeof e.code !== "string") return err;
  const keyField = /Key \(([^)]+)\)/.exec(e.detail ?? "")?.[1];
  switch (e.code) {
    case "23505": {
      // A value of one column, taken (`Key (username)=(bob) already exists.`): named as a 400 names a field.
      const value = /^Key \([^,()]+\)=\((.*)\) already exists/.exec(e.detail ?? "")?.[1];
      if (keyField && value !== undefined && e.table_name) return conflict(keyField, `${JSON.stringify(value)} is taken: ${e.table_name} are unique by ${keyField}; choose another`);
      return new ConflictError(`${keyField ?? "value"} already exists${e.table_name ? ` in ${e.table_name}` : ""}`, keyField);
    }
    case "23503": {
      if (/is still referenced/.test(e.detail ?? "")) return new ConflictError(`still referenced from ${e.table_name ?? "another table"}`);
      const missingUser = /^Key \(([^)]+)\)=\(([^)]+)\) is not present in table "users"/.exec(e.detail ?? "");
      if (missingUser) return new MissingUserError(missingUser[1], missingUser[2]);
      return invalid(keyField ?? "reference", "refers to a record that does not exist");
    }
    case "23514": {
      const name = e.constraint_name ?? "";
      const table = e.table_name ?? "";
      const field = name.startsWith(`${table}_`) && name.endsWith("_check") ? name.slice(table.length + 1, -"_check".length) : name;
      return invalid(field || "value", `violates the rule ${name}`);
    }
    case "23502":
      return invalid(e.column_name ?? "value", "is required");
    case "22P02": case "22007": case "22008": case "22003": case "22001":
      return invalid(e.column_name ?? "value", "has an invalid value");
    default:
      return err;
  }
}

/** Runs `fn` and rethrows database constraint violations as store errors. */
export async function translating<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translatePgError(err);
  }
}
