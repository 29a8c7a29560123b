/**
 * `sonotile user list|delete` — users from the command line, for the administrator of the
 * database (no token needed: whoever can open the database is admin, as for `sonotile token`).
 * Works beside a running `serve` on the same embedded data directory by connecting to it.
 */
import { plural } from "../../audio/types.js";
import { deleteUser, findUserByUsername, listUsers } from "../../store/users.js";
import { LIST_LIMIT, noteUnlisted, type Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { optionRows, readCommandLine, type OptionSpec } from "../flags.js";
import { openCommandStore, STORE_OPTIONS } from "../store-options.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "json", boolean: true, doc: "print JSON" },
  ...STORE_OPTIONS.filter((o) => o.name === "data"),
];

const USAGE = `usage: sonotile user list
       sonotile user delete <username>

'list' names the users with their roles. 'delete' deletes a user for good: their API tokens
and their ownership of recordings go with them; every record they made stays (datasets,
recordings, clips, notes, tags, feature values, jobs, artifacts, runs, users and tokens), its
created_by then null, as for what the command line makes. Refused (exit 2): the last enabled
admin, and a user whose import or job is under way (abort it or let it end first).
The database must exist.

${optionRows(OPTIONS)}`;

export const command: Command = {
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "user", takesParams: false });
    if (!cl) return EXIT.ok;
    const [action, ...rest] = cl.positionals;
    if (!((action === "list" && rest.length === 0) || (action === "delete" && rest.length === 1))) throw new UsageError(`expected 'list' or 'delete <username>' (see --help)`);

    // As `token`: a wrong --data must not make a new database.
    const { database, out } = await openCommandStore(cl, { poolSize: 2, create: false });
    try {
      const sql = database.sql;
      if (action === "list") {
        const page = await listUsers(sql, { limit: LIST_LIMIT, offset: 0 });
        out(page, page.items.map((u) => `${u.id}  ${u.username}  ${u.role}${u.enabled ? "" : " (disabled)"}${u.name ? `  ${u.name}` : ""}`).join("\n") || "no users");
        noteUnlisted("user", page, "users", "oldest", "GET /v1/users pages through them all");
        return EXIT.ok;
      }
      const username = rest[0];
      const user = await findUserByUsername(sql, username);
      if (!user) throw new UsageError(`no user named ${username} (sonotile user list names them)`);
      const { tokens } = await deleteUser(sql, user.id, null);
      out({ user, tokens_deleted: tokens }, `user ${user.username} (${user.id}) deleted with ${plural(tokens, "token")}; the records they made stay, created_by null`);
      return EXIT.ok;
    } finally {
      await database.close();
    }
  },
};
