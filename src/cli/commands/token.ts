/**
 * `sonotile token create|list|disable|enable` — API tokens from the command line, for the
 * administrator of the database (no token needed: whoever can open the database is admin).
 * Works beside a running `serve` on the same embedded data directory by connecting to it.
 */
import { storeConfig } from "../../store/config.js";
import { createToken, listTokens, setTokenEnabled, type Token } from "../../store/tokens.js";
import { ROLES, createUser, ensureAdmin, findUserByUsername, getUser, getUsers } from "../../store/users.js";
import { adminKeyFields, adminKeyLines, deliverAdminKey } from "../admin-key.js";
import { LIST_LIMIT, noteUnlisted, type Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { choiceOption, durationOption, idArgument, optionRows, readCommandLine, type OptionSpec } from "../flags.js";
import { openCommandStore, STORE_OPTIONS } from "../store-options.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "user", placeholder: "NAME", doc: "the token's user (create: default admin, refused once there is none; created if missing with --role)" },
  { name: "role", placeholder: "ROLE", doc: `role of a user created by 'create': ${ROLES.join(", ")}; default member` },
  { name: "name", placeholder: "LABEL", doc: "label of a new token; default 'cli'" },
  { name: "expires-in", placeholder: "DURATION", doc: "a new token stops authenticating after this long: a whole number with s, m, h, d or w (90d, 12h); default never" },
  { name: "json", boolean: true, doc: "print JSON" },
  ...STORE_OPTIONS.filter((o) => o.name === "data"),
];

const USAGE = `usage: sonotile token create [--user NAME] [--role ROLE] [--name LABEL] [--expires-in DURATION]
       sonotile token list [--user NAME]
       sonotile token disable|enable <token-id>

Manages API tokens. A new token's key is printed once and stored only as its SHA-256.
The database must exist ('sonotile serve' or 'sonotile dataset add' creates one).

${optionRows(OPTIONS)}`;

/** A token's expiry as its lines say it: `, expires …`, `, expired …` once past, nothing without one. */
function expiryText(token: Token): string {
  if (token.expires_at === null) return "";
  return `, ${Date.parse(token.expires_at) <= Date.now() ? "expired" : "expires"} ${token.expires_at}`;
}

export const command: Command = {
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "token", takesParams: false });
    if (!cl) return EXIT.ok;
    const [action, ...rest] = cl.positionals;
    if (!["create", "list", "disable", "enable"].includes(action ?? "")) throw new UsageError(`expected create, list, disable or enable (see --help)`);
    const role = choiceOption(cl.options.role, "role", ROLES);
    if ((action === "disable" || action === "enable") !== (rest.length === 1) || (rest.length > 1)) throw new UsageError(`${action}: wrong number of arguments (see --help)`);
    const tokenId = rest.length === 1 ? idArgument(rest[0], "token-id") : undefined;
    const expiresIn = durationOption(cl.options["expires-in"], "expires-in");
    if (expiresIn !== undefined && action !== "create") throw new UsageError(`--expires-in: is for 'create' (a token's expiry is set when it is made)`);

    // A token is for a database in use: a wrong --data must not make a new one (serve and dataset add do).
    const config = storeConfig({ data: cl.options.data as string | undefined });
    const { database, out } = await openCommandStore(cl, { poolSize: 2, create: false, config });
    try {
      const sql = database.sql;
      if (action === "create") {
        const first = await ensureAdmin(sql);
        const username = (cl.options.user as string | undefined) ?? "admin";
        // The first admin's token never expires (serve's and dataset add's neither): a new one that does is made next.
        // Asked for, it is this command's output, as any token it makes.
        if (first && username === "admin" && expiresIn === undefined) {
          out({ token: first, key: first.key }, `admin token for the new database (shown once): ${first.key}`);
          return EXIT.ok;
        }
        // Made on the way to another's token: delivered as serve delivers it (a file, where stdout is no terminal).
        const admin = first && (await deliverAdminKey(first.key, config.dataDir));
        if (admin && !cl.options.json) process.stdout.write(adminKeyLines(admin).join("\n") + "\n");
        const existing = await findUserByUsername(sql, username);
        // `admin` deleted (another admin remains): a plain `create` would make a member of that name.
        if (!existing && cl.options.user === undefined) throw new UsageError(`there is no user named admin (deleted or renamed): name the user the token is for with --user NAME (sonotile user list names them)`);
        // --role makes a new user's role; it never changes an existing one (a token with fewer rights than asked for, silently).
        if (existing && role !== undefined && role !== existing.role) throw new UsageError(`--role: user ${username} exists as ${existing.role}; --role sets the role of a user 'create' makes (an admin changes a role with PATCH /v1/users/{id})`);
        if (existing && !existing.enabled) throw new UsageError(`user ${username} is disabled: none of their tokens would authenticate (an admin enables them with PATCH /v1/users/${existing.id})`);
        const user = existing ?? (await createUser(sql, { username, role: role ?? "member" }));
        const expires_at = expiresIn === undefined ? null : new Date(Date.now() + expiresIn * 1000).toISOString();
        const { token, key } = await createToken(sql, { user_id: user.id, name: (cl.options.name as string | undefined) ?? "cli", created_by: null, expires_at });
        out({ token, key, ...(admin && adminKeyFields(admin)) }, `token ${token.id} for ${user.username} (${user.role})${expiryText(token)}, shown once:\n${key}`);
      } else if (action === "list") {
        const username = cl.options.user as string | undefined;
        const user = username ? await findUserByUsername(sql, username) : null;
        if (username && !user) throw new UsageError(`no user named ${username}`);
        const page = await listTokens(sql, { user_id: user?.id, limit: LIST_LIMIT, offset: 0 });
        // An enabled token of a disabled user does not authenticate: its line says so (it read "enabled").
        const owners = await getUsers(sql, page.items.map((t) => t.user_id));
        const ownerNote = (t: Token) => (owners.get(t.user_id)?.enabled === false ? `  — user ${owners.get(t.user_id)!.username} is disabled: no token of theirs authenticates` : "");
        out(page, page.items.map((t) => `${t.id}  ${t.enabled ? "enabled " : "disabled"}  ${t.key_prefix}…  ${t.name}  (user ${t.user_id}, ${t.created_at}${expiryText(t)})${ownerNote(t)}`).join("\n") || "no tokens");
        noteUnlisted("token", page, "tokens", "newest", "narrow the list with --user NAME (GET /v1/tokens pages through them all)");
      } else {
        const token = await setTokenEnabled(sql, tokenId!, action === "enable");
        out(token, `token ${token.id} ${token.enabled ? "enabled" : "disabled"}`);
        // As `create` refuses a disabled user's new token: an enabled token of theirs still answers 401.
        const user = token.enabled ? await getUser(sql, token.user_id) : null;
        if (user && !user.enabled) process.stderr.write(`sonotile token: user ${user.username} is disabled: the token does not authenticate until an admin enables them (PATCH /v1/users/${user.id})\n`);
      }
      return EXIT.ok;
    } finally {
      await database.close();
    }
  },
};
