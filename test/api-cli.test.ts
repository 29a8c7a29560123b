/**
 * The admin commands `sonotile token`, `sonotile user` and `sonotile dataset` against a database held open
 * by this test, as `sonotile serve` would hold it: on PGlite the commands attach to the
 * running embedded database through its lock file; with DATABASE_URL they use a fresh
 * database on that server.
 */
import { resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { command as datasetCommand } from "../src/cli/commands/dataset.js";
import { command as tokenCommand } from "../src/cli/commands/token.js";
import { command as userCommand } from "../src/cli/commands/user.js";
import { UsageError } from "../src/cli/errors.js";
import { openDatabase, type Database } from "../src/store/db.js";
import { ConflictError, InvalidError } from "../src/store/errors.js";
import { getNote } from "../src/store/notes.js";
import { authenticate } from "../src/store/tokens.js";
import { createUser, findUserByUsername, updateUser } from "../src/store/users.js";
import { runSonotile } from "./cli-helpers.js";
import { FIXTURES, freshDatabase, migratedTemplate, tempDir, type TestDatabase } from "./store-helpers.js";

let held: Database;
let real: TestDatabase | undefined;
let dir: { path: string; remove(): Promise<void> };
const savedEnv = { DATABASE_URL: process.env.DATABASE_URL, SONOTILE_DATA: process.env.SONOTILE_DATA };

beforeAll(async () => {
  dir = await tempDir();
  if (process.env.DATABASE_URL) {
    real = await freshDatabase();
    held = real.db;
    process.env.DATABASE_URL = real.url;
  } else {
    held = await openDatabase({ dataDir: dir.path, initialData: await migratedTemplate() });
    process.env.SONOTILE_DATA = dir.path;
  }
});

afterAll(async () => {
  process.env.DATABASE_URL = savedEnv.DATABASE_URL;
  if (savedEnv.SONOTILE_DATA === undefined) delete process.env.SONOTILE_DATA;
  else process.env.SONOTILE_DATA = savedEnv.SONOTILE_DATA;
  if (real) await real.cleanup();
  else await held?.close();
  await dir?.remove();
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs a command and returns its exit code and the JSON it printed. */
async function run(cmd: typeof tokenCommand, args: string[]): Promise<{ code: number; out: any }> {
  const lines: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => { lines.push(String(chunk)); return true; });
  const code = await cmd.run(args);
  vi.restoreAllMocks();
  const json = lines.filter((l) => l.startsWith("{")).pop();
  return { code, out: json ? JSON.parse(json) : lines.join("") };
}

describe("sonotile token", () => {
  it("creates the first admin token on an empty database, then tokens for named users", async () => {
    const first = await run(tokenCommand, ["create", "--json"]);
    expect(first.code).toBe(0);
    expect((await authenticate(held.sql, first.out.key))?.user).toMatchObject({ username: "admin", role: "admin" });

    const viewer = await run(tokenCommand, ["create", "--user", "carol", "--role", "viewer", "--name", "laptop", "--json"]);
    const found = await authenticate(held.sql, viewer.out.key);
    expect(found?.user).toMatchObject({ username: "carol", role: "viewer" });
    expect(found?.token.name).toBe("laptop");

    const list = await run(tokenCommand, ["list", "--user", "carol", "--json"]);
    expect(list.out.items.map((t: { id: string }) => t.id)).toEqual([viewer.out.token.id]);
    expect(JSON.stringify(list.out)).not.toContain(viewer.out.key);

    expect((await run(tokenCommand, ["disable", viewer.out.token.id, "--json"])).out.enabled).toBe(false);
    await expect(authenticate(held.sql, viewer.out.key)).rejects.toMatchObject({ reason: "disabled" });
    expect((await run(tokenCommand, ["enable", viewer.out.token.id, "--json"])).out.enabled).toBe(true);

    // An existing user keeps its role: --role asking for another is refused, not ignored (a viewer token handed out as admin's).
    await expect(tokenCommand.run(["create", "--user", "carol", "--role", "admin"])).rejects.toThrow(new UsageError("--role: user carol exists as viewer; --role sets the role of a user 'create' makes (an admin changes a role with PATCH /v1/users/{id})"));
    expect((await run(tokenCommand, ["create", "--user", "carol", "--role", "viewer", "--json"])).code).toBe(0);
    // A disabled user gets no token that could not authenticate.
    await updateUser(held.sql, found!.user.id, { enabled: false });
    await expect(tokenCommand.run(["create", "--user", "carol"])).rejects.toThrow(new UsageError(`user carol is disabled: none of their tokens would authenticate (an admin enables them with PATCH /v1/users/${found!.user.id})`));
    // Their tokens' lines say so (an enabled one read only "enabled"); admin's do not.
    const listed: string[] = (await run(tokenCommand, ["list"])).out.trim().split("\n");
    expect(listed.filter((l) => l.includes(`(user ${found!.user.id},`)).every((l) => l.endsWith("— user carol is disabled: no token of theirs authenticates"))).toBe(true);
    expect(listed.filter((l) => l.includes("is disabled"))).toHaveLength(2);
    // Enabling a token of theirs says it still does not authenticate (it said only "token … enabled").
    await run(tokenCommand, ["disable", viewer.out.token.id]);
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    expect((await run(tokenCommand, ["enable", viewer.out.token.id])).code).toBe(0);
    expect(stderr.mock.calls.map(([chunk]) => String(chunk))).toEqual([`sonotile token: user carol is disabled: the token does not authenticate until an admin enables them (PATCH /v1/users/${found!.user.id})\n`]);
    await expect(authenticate(held.sql, viewer.out.key)).rejects.toMatchObject({ reason: "user disabled" });
    await updateUser(held.sql, found!.user.id, { enabled: true });
  });

  it("makes a token that expires after --expires-in, and lists its expiry; one past it is refused as expired; a bad duration is a usage error naming the flag", async () => {
    const before = Date.now();
    const made = await run(tokenCommand, ["create", "--user", "dave", "--name", "season", "--expires-in", "90d", "--json"]);
    const expiresAt = Date.parse(made.out.token.expires_at);
    expect(expiresAt - before).toBeGreaterThanOrEqual(90 * 86_400_000);
    expect(expiresAt - before).toBeLessThan(90 * 86_400_000 + 60_000);
    expect((await authenticate(held.sql, made.out.key))?.user.username).toBe("dave");
    const text = await run(tokenCommand, ["create", "--user", "dave", "--name", "day", "--expires-in", "24h"]);
    expect(text.out).toMatch(/^token \S+ for dave \(member\), expires \d{4}-\d\d-\d\dT[\d:.]+Z, shown once:\nst_/);
    const listed: string[] = (await run(tokenCommand, ["list", "--user", "dave"])).out.trim().split("\n");
    expect(listed.find((l) => l.startsWith(made.out.token.id))).toContain(`season  (user ${made.out.token.user_id}, ${made.out.token.created_at}, expires ${made.out.token.expires_at})`);
    // Past its expiry: the line says so, and its key does not authenticate.
    await held.sql`UPDATE api_tokens SET expires_at = '2026-01-01T00:00:00Z' WHERE id = ${made.out.token.id}`;
    expect((await run(tokenCommand, ["list", "--user", "dave"])).out).toContain(`, expired 2026-01-01T00:00:00.000Z)`);
    await expect(authenticate(held.sql, made.out.key)).rejects.toThrow(/expired at 2026-01-01T00:00:00.000Z/);
    for (const bad of ["90", "0d", "1.5d", "-1d", "90 days", "101000w"]) {
      await expect(tokenCommand.run(["create", "--user", "dave", "--expires-in", bad]), bad).rejects.toThrow(new UsageError(`--expires-in: must be a whole number > 0 with a unit s, m, h, d or w (e.g. 90d, 12h), at most 100 years, got '${bad}'`));
    }
    await expect(tokenCommand.run(["list", "--expires-in", "1d"])).rejects.toThrow(new UsageError("--expires-in: is for 'create' (a token's expiry is set when it is made)"));
  });

  it("reports bad usage", async () => {
    await expect(tokenCommand.run(["frobnicate"])).rejects.toBeInstanceOf(UsageError);
    await expect(tokenCommand.run(["create", "--role", "god"])).rejects.toBeInstanceOf(UsageError);
    await expect(tokenCommand.run(["disable"])).rejects.toBeInstanceOf(UsageError);
  });
});

describe("sonotile user", () => {
  it("lists the users and deletes one: their tokens go, what they made stays with created_by null", async () => {
    const leaver = await run(tokenCommand, ["create", "--user", "leaver", "--json"]);
    const { id } = (await authenticate(held.sql, leaver.out.key))!.user;
    // Attached to nothing, as notes written before one had to name a recording or a clip: the table still holds such.
    const [note] = await held.sql<{ id: string }[]>`INSERT INTO notes (message, created_by) VALUES ('kept', ${id}) RETURNING id`;
    const listed = await run(userCommand, ["list", "--json"]);
    expect(listed.out.items.map((u: { username: string }) => u.username)).toContain("leaver");
    const deleted = await run(userCommand, ["delete", "leaver", "--json"]);
    expect([deleted.code, deleted.out.user.id, deleted.out.tokens_deleted]).toEqual([0, id, 1]);
    expect(await authenticate(held.sql, leaver.out.key)).toBeNull();
    expect(await findUserByUsername(held.sql, "leaver")).toBeNull();
    expect((await getNote(held.sql, note.id)).created_by).toBeNull();
    await expect(userCommand.run(["delete", "leaver"])).rejects.toThrow(new UsageError("no user named leaver (sonotile user list names them)"));
  });

  it("refuses the last enabled admin (exit 2), and bad usage", async () => {
    const err = await userCommand.run(["delete", "admin"]).catch((e: unknown) => e);
    expect(err).toEqual(new ConflictError("user admin is the last enabled admin and cannot be deleted: make another user admin first"));
    expect((err as ConflictError).exitCode).toBe(2);
    await expect(userCommand.run(["delete"])).rejects.toBeInstanceOf(UsageError);
    await expect(userCommand.run(["remove", "admin"])).rejects.toBeInstanceOf(UsageError);
  });

  it("says the user is busy, exit 1, when its deletion keeps losing conflicts with other transactions (it printed 'deadlock detected')", async () => {
    // PostgreSQL aborts every delete of this user as a deadlock's loser (SQLSTATE 40P01).
    await createUser(held.sql, { username: "contended" });
    await held.sql.unsafe(`
      CREATE FUNCTION lose_as_deadlock() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$;
      CREATE TRIGGER contended BEFORE DELETE ON users FOR EACH ROW WHEN (OLD.username = 'contended') EXECUTE FUNCTION lose_as_deadlock();`);
    try {
      const busy = await runSonotile(["user", "delete", "contended"], { timeout: 120_000 });
      expect([busy.code, busy.stderr]).toEqual([1, `sonotile user: user contended is busy: other changes to it at the same moment won 10 times in a row (deadlock detected); nothing was changed — retry in a few seconds\n`]);
    } finally {
      await held.sql.unsafe(`DROP TRIGGER contended ON users; DROP FUNCTION lose_as_deadlock();`);
    }
    expect(await findUserByUsername(held.sql, "contended")).not.toBeNull();
  });
});

describe("sonotile dataset", () => {
  it("adds a directory of recordings and lists it", async () => {
    // As the README has it, from the repository: paths relative to the current directory.
    expect(resolve("../shared/fixtures")).toBe(FIXTURES);
    const added = await run(datasetCommand, ["add", "../shared/fixtures/recordings", "--audio-root", "..", "--name", "fixtures", "--json"]);
    expect(added.code).toBe(0);
    expect(added.out.registered).toHaveLength(6);
    expect(added.out.failed).toEqual([]);
    // The import run made the dataset too (SPEC §5: every record a run creates points to it).
    expect(added.out.dataset.run_id).toBe(added.out.run.id);
    const listed = await run(datasetCommand, ["list", "--json"]);
    expect(listed.out.items.map((d: { name: string; recording_count: number }) => [d.name, d.recording_count])).toEqual([["fixtures", 6]]);
  });

  it("refuses a directory outside the audio roots", async () => {
    const err = await datasetCommand.run(["add", "/etc", "--audio-root", FIXTURES]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidError);
    expect((err as InvalidError).exitCode).toBe(2);
  });
});

describe("with the user admin deleted (another admin remaining)", () => {
  it("token create without --user refuses, naming --user, rather than make a member called admin; dataset add credits no user, not a later user called admin", async () => {
    await createUser(held.sql, { username: "keeper", role: "admin" });
    expect((await run(userCommand, ["delete", "admin", "--json"])).code).toBe(0);
    const refused = await tokenCommand.run(["create"]).catch((e: unknown) => e);
    expect(refused).toEqual(new UsageError("there is no user named admin (deleted or renamed): name the user the token is for with --user NAME (sonotile user list names them)"));
    expect(await findUserByUsername(held.sql, "admin")).toBeNull();
    // A member who took the name (as `token create` made one) is not who the command line acts as.
    const impostor = await createUser(held.sql, { username: "admin", role: "member" });
    const added = await run(datasetCommand, ["add", "../shared/fixtures/recordings", "--audio-root", "..", "--json"]);
    expect(added.code).toBe(0);
    const [run_] = await held.sql<{ created_by: string | null }[]>`SELECT created_by FROM runs ORDER BY created_at DESC LIMIT 1`;
    expect(run_.created_by).toBeNull();
    expect((await held.sql`SELECT count(*)::int AS n FROM runs WHERE created_by = ${impostor.id}`)[0].n).toBe(0);
    // Named, it is that user's token as before.
    const named = await run(tokenCommand, ["create", "--user", "keeper", "--json"]);
    expect((await authenticate(held.sql, named.out.key))?.user.username).toBe("keeper");
  });
});
