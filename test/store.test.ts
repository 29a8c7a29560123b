/**
 * The metadata store against a fresh database (embedded PGlite, or real PostgreSQL when
 * DATABASE_URL is set): migrations, users and tokens, constraints named by field,
 * get-or-create races, datasets with path confinement, import of the fixture recordings.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { copyFile, mkdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { createServer } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { purgeTrashed, setState } from "../src/store/common.js";
import { ConflictError, InvalidError, NotFoundError } from "../src/store/errors.js";
import { loadMigrations, migrate, MigrationError } from "../src/store/migrate.js";
import { resolveAudioDir, resolveRecordingFile, resolveRoots } from "../src/store/paths.js";
import { authenticate, createToken, hashKey, setTokenEnabled, TokenExpiredError, TokenRefusedError } from "../src/store/tokens.js";
import { createUser, ensureAdmin, getUser, getUsers } from "../src/store/users.js";
import { probeFile, recordedDateTime } from "../src/store/probe.js";
import { addDataset, createDataset, deleteDataset, importDataset, importNew, listAudioFiles, listDatasets, scanDataset, scanOutcome } from "../src/store/datasets.js";
import { getRecording, getRecordingLocation, insertRecording, listRecordings, updateRecording, addRecordingTag, removeRecordingTag, setRecordingFeature, RECORDING_SORTS } from "../src/store/recordings.js";
import { getOrCreateTag, listTags } from "../src/store/tags.js";
import { CLIP_SORTS, addClipTag, createClip, deleteClip, getClip, listClips, removeClipTag, setClipFeature } from "../src/store/clips.js";
import { createNote } from "../src/store/notes.js";
import { getOrCreateFeatureName } from "../src/store/features.js";
import { createRun, failInterruptedRuns, finishRun, getRun } from "../src/store/runs.js";
import { openDatabase, type Sql } from "../src/store/db.js";
import { FIXTURES, freshDatabase, JUNK_BYTES, mostReadsOf, REAL_PG_URL, tempDir, unmigratedDatabase, writeSineWav, type TestDatabase } from "./store-helpers.js";

/** Fixture facts from soundfile.info (libsndfile) and coreutils md5sum. */
const FIXTURE_FACTS: Record<string, { samplerate: number; channels: number; frames: number; md5: string }> = {
  "XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav": { samplerate: 500000, channels: 1, frames: 1260562, md5: "85a1c7ae101e3281b38c2aa9596eea8b" },
  "XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav": { samplerate: 384000, channels: 1, frames: 386672, md5: "f13d71060354a2fb177329eac07ad433" },
  "batdetect2_20230322_172000_selec2.wav": { samplerate: 192000, channels: 1, frames: 384000, md5: "7ade9ebf1a9fe5477ff3a2dc57001929" },
  "batdetect2_contrib_Audiomoth.wav": { samplerate: 250000, channels: 1, frames: 1681312, md5: "2ffd7a93426aab9beaa16e9b70b4bddd" },
  "batdetect2_contrib_jeff37_0166_20240531_223911.wav": { samplerate: 312500, channels: 1, frames: 1260544, md5: "f8c0b9dfe31c1671c6f0b13976cc912e" },
  "whombat_tests_bats.wav": { samplerate: 44100, channels: 2, frames: 993472, md5: "a27969b51d9cb8430137514a87e72a52" },
};

/** When and where the fixtures say they were recorded (GUANO Timestamp / Loc Position, bext origination date and time). */
const NOT_STATED = { date: null, time: null, latitude: null, longitude: null };
const FIXTURE_RECORDED: Record<string, { date: string | null; time: string | null; latitude: number | null; longitude: number | null }> = {
  "XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav": { ...NOT_STATED, date: "2016-02-17", time: "19:45:16" },
  "XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav": NOT_STATED,
  "batdetect2_20230322_172000_selec2.wav": NOT_STATED,
  // "2024-09-03T20:26:15+01:00": the recorder's local time, its UTC offset kept (not applied).
  "batdetect2_contrib_Audiomoth.wav": { ...NOT_STATED, date: "2024-09-03", time: "20:26:15+01:00" },
  "batdetect2_contrib_jeff37_0166_20240531_223911.wav": { date: "2024-05-31", time: "22:39:11", latitude: 49.093119, longitude: 5.047867 },
  "whombat_tests_bats.wav": NOT_STATED,
};

let t: TestDatabase;
let sql: Sql;
let userId: string;
let roots: string[];
let scratch: { path: string; remove(): Promise<void> };
/** What three concurrent ensureAdmin calls on the empty database returned. */
let adminRace: Awaited<ReturnType<typeof ensureAdmin>>[];
/** Statements sent to the database so far (round trips), for the tests of work done per file. */
let statementsSent = 0;
/** The last statement sent, with its parameters, for the tests that read its plan. */
let lastStatement: { statement: string; parameters: unknown[] } | undefined;

beforeAll(async () => {
  t = await freshDatabase({ onStatement: (statement, parameters) => {
    statementsSent++;
    lastStatement = { statement, parameters };
  } });
  sql = t.db.sql;
  // Raced on the empty database first, before any other user exists.
  adminRace = await Promise.all([ensureAdmin(sql), ensureAdmin(sql), ensureAdmin(sql)]);
  userId = (await createUser(sql, { username: "alice", role: "member" })).id;
  // Audio roots: the fixture folder (read-only) and a scratch folder with a symlink out of it.
  scratch = await tempDir();
  await mkdir(join(scratch.path, "inside"));
  await writeSineWav(join(scratch.path, "inside", "a.wav"), 8000, 0.25);
  await symlink(join(FIXTURES, "recordings"), join(scratch.path, "link-out"));
  await symlink(join(FIXTURES, "recordings", "whombat_tests_bats.wav"), join(scratch.path, "inside", "escape.wav"));
  roots = await resolveRoots([FIXTURES, scratch.path]);
});

afterAll(async () => {
  await t?.cleanup();
  await scratch?.remove();
});

/** The InvalidError thrown by `p`, whose fields the test inspects. */
async function invalidFields(p: Promise<unknown>): Promise<string[]> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidError);
  return (err as InvalidError).fields.map((f) => f.field);
}

describe("connections", () => {
  // The embedded database (PostgreSQL in WebAssembly) has no JIT to turn off, and its socket
  // takes no startup settings: a real PostgreSQL only.
  it.skipIf(!REAL_PG_URL)("plan without PostgreSQL's JIT, which compiled a page of a 100,000-clip recording for longer than it ran", async () => {
    const [{ jit }] = await sql`SHOW jit`;
    expect(jit).toBe("off");
  });
});

describe("migrations", () => {
  it("are recorded once and a second run applies nothing", async () => {
    expect(await migrate(sql)).toEqual([]);
    const rows = await sql`SELECT version, name FROM schema_migrations ORDER BY version`;
    expect(rows.map((r) => r.version)).toEqual((await loadMigrations()).map((m) => m.version));
    expect(rows[0].name).toBe("initial");
  });

  it("apply each new migration once, and an upgrade all or nothing", async () => {
    const all = await loadMigrations();
    const added = { version: 900, name: "extra", sql: "CREATE TABLE extra_900 (x int); INSERT INTO extra_900 VALUES (1);" };
    // The second statement fails: the first must be rolled back and nothing recorded.
    const broken = { version: 901, name: "broken", sql: "CREATE TABLE broken_901 (x int); SELECT no_such_function();" };
    // 900 runs fine but 901, pending in the same start, fails: 900 is rolled back too.
    await expect(migrate(sql, [...all, added, broken])).rejects.toThrow(/^migration 901_broken\.sql failed .*no_such_function/);
    const tables = async () => (await sql`SELECT tablename FROM pg_tables WHERE tablename IN ('extra_900', 'broken_901') ORDER BY tablename`).map((r) => r.tablename);
    const versions = async () => (await sql`SELECT version FROM schema_migrations ORDER BY version`).map((r) => r.version);
    expect(await tables()).toEqual([]);
    expect(await versions()).toEqual(all.map((m) => m.version));
    expect(await migrate(sql, [...all, added])).toEqual([900]);
    expect(await migrate(sql, [...all, added])).toEqual([]);
    await expect(migrate(sql, [...all, added, broken])).rejects.toThrow(/no_such_function/);
    expect(await tables()).toEqual(["extra_900"]);
    expect(await versions()).toEqual([...all.map((m) => m.version), 900]);
    expect((await sql`SELECT x FROM extra_900`).map((r) => r.x)).toEqual([1]);
    // An older sonotile on this database (900 is beyond what it knows) refuses to start on it, changing nothing.
    const newest = all.at(-1)!.version;
    await expect(migrate(sql, all)).rejects.toThrow(`the database's schema is at version 900, newer than this sonotile knows (${newest}): run the sonotile release that migrated it (or a newer one)`);
    expect(await versions()).toEqual([...all.map((m) => m.version), 900]);
  });

  it("name the migration PostgreSQL refused, with its detail, and leave the database as the release before had it; once the cause is gone a start applies them all", async () => {
    const own = await unmigratedDatabase();
    const s = own.db.sql;
    try {
      const all = await loadMigrations();
      const before = all.filter((m) => m.version < 19);
      await migrate(s, before);
      // A lab's own view over a column 020 drops and adds again (an analysis script reads durations through it).
      await s`CREATE VIEW lab_durations AS SELECT id, duration FROM recordings`;
      const refused = await migrate(s, all).then(() => null, (err: Error) => err);
      expect(refused).toBeInstanceOf(MigrationError);
      expect(refused!.message).toMatch(/^migration 020_recording_real_rate\.sql failed and the whole upgrade was rolled back: the database stays as it was, its schema at version 18 \(the sonotile that served it still can\); remove the cause and start again\. PostgreSQL said: cannot drop column duration of table recordings because other objects depend on it; DETAIL: view lab_durations depends on column duration of table recordings; HINT: /);
      expect((await s`SELECT max(version)::int AS v FROM schema_migrations`)[0].v).toBe(18);
      // 019, which ran before 020 in that start, is not left behind: the release of 018 still opens the database.
      expect(await s`SELECT column_name FROM information_schema.columns WHERE table_name = 'jobs' AND column_name = 'state'`).toEqual([]);
      expect(await migrate(s, before)).toEqual([]);
      expect(await s`SELECT count(*)::int AS n FROM lab_durations`).toEqual([{ n: 0 }]);
      await s`DROP VIEW lab_durations`;
      expect(await migrate(s, all)).toEqual(all.filter((m) => m.version >= 19).map((m) => m.version));
    } finally {
      await own.cleanup();
    }
  });

  // A real PostgreSQL only: an embedded database belongs to one process (the data directory's lock).
  it.skipIf(!REAL_PG_URL)("upgrade an old database once when two servers start on it at the same time", async () => {
    const own = await freshDatabase({ migrate: false });
    const other = postgres(own.url!, { max: 1, onnotice: () => {} });
    try {
      const all = await loadMigrations();
      await migrate(own.db.sql, all.filter((m) => m.version < 19));
      const [first, second] = await Promise.all([migrate(own.db.sql, all), migrate(other, all)]);
      expect([first, second].sort((a, b) => b.length - a.length)).toEqual([all.filter((m) => m.version >= 19).map((m) => m.version), []]);
      const rows = await own.db.sql`SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version ORDER BY version`;
      expect(rows.map((r) => [r.version, r.n])).toEqual(all.map((m) => [m.version, 1]));
    } finally {
      await other.end();
      await own.cleanup();
    }
  });

  // A real PostgreSQL only: the embedded database runs one session at a time, which cannot deadlock.
  it.skipIf(!REAL_PG_URL)("run again a migration that lost a deadlock with an older sonotile's worker still writing a job's values", async () => {
    const own = await freshDatabase();
    const worker = postgres(own.url!, { max: 1, onnotice: () => {} });
    try {
      const all = await loadMigrations();
      // As 021 takes them: a feature table, then job_items.
      const locking = { version: 900, name: "locking", sql: "LOCK TABLE clip_features IN ACCESS EXCLUSIVE MODE; LOCK TABLE job_items IN ACCESS EXCLUSIVE MODE;" };
      const waiting = async (mode: string, table: string) => {
        while ((await own.db.sql`SELECT 1 FROM pg_locks WHERE NOT granted AND mode = ${mode} AND relation = ${table}::regclass`).length === 0) await new Promise((r) => setTimeout(r, 10));
      };
      let migrating: Promise<number[]> | undefined;
      // An older worker settling a group of items: their rows in job_items, then the values in clip_features.
      await worker.begin(async (tx) => {
        await tx`LOCK TABLE job_items IN ROW EXCLUSIVE MODE`;
        migrating = migrate(own.db.sql, [...all, locking]);
        migrating.catch(() => {}); // awaited below
        await waiting("AccessExclusiveLock", "job_items");
        await tx`LOCK TABLE clip_features IN ROW EXCLUSIVE MODE`;
      });
      expect(await migrating).toEqual([900]);
    } finally {
      await worker.end();
      await own.cleanup();
    }
  });

  it("refuse badly named files", async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, "1_x.sql"), "SELECT 1");
      await expect(loadMigrations(dir.path)).rejects.toThrow(/NNN_name\.sql/);
    } finally {
      await dir.remove();
    }
  });

  it("refuse a file with a statement that cannot run in the upgrade's one transaction, or would end it, naming the file; such words in comments, strings and function bodies are no statements", async () => {
    const dir = await tempDir();
    try {
      const harmless = `-- VACUUM and COMMIT are done by an operator, not here
        CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN NEW.note := 'x'; RETURN NEW; END $body$;
        COMMENT ON FUNCTION touch() IS 'never ALTER TYPE x ADD VALUE; BEGIN; COMMIT';
        CREATE INDEX "concurrently" ON t (a); /* DROP INDEX CONCURRENTLY i */
        CREATE FUNCTION one() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;
        SELECT E'it\\'s; COMMIT; --';`;
      await writeFile(join(dir.path, "001_harmless.sql"), harmless);
      expect((await loadMigrations(dir.path)).map((m) => m.name)).toEqual(["harmless"]);
      const refused: [string, string, string][] = [
        ["create index concurrently on t (a);", "create index concurrently on t (a)", "CONCURRENTLY"],
        ["ALTER TYPE mood\n  ADD VALUE 'calm'", "ALTER TYPE mood ADD VALUE '…'", "ALTER TYPE … ADD VALUE (a value no later migration of the upgrade could use)"],
        ["vacuum analyze clips", "vacuum analyze clips", "VACUUM"],
        ["SELECT 1; COMMIT; SELECT 2", "COMMIT", "a transaction's own BEGIN, COMMIT or ROLLBACK"],
        ["begin; select 1", "begin", "a transaction's own BEGIN, COMMIT or ROLLBACK"],
      ];
      for (const [sql, statement, what] of refused) {
        await writeFile(join(dir.path, "002_bad.sql"), sql);
        const index = sql.split(";").findIndex((s) => s.trim().replace(/\s+/g, " ").replace("'calm'", "'…'") === statement) + 1;
        await expect(loadMigrations(dir.path), sql).rejects.toThrow(new Error(`migration file 002_bad.sql: statement ${index} (${statement}) uses ${what}, which cannot run inside the one transaction all pending migrations run in, or would end it: make it a statement that can (CREATE INDEX without CONCURRENTLY, a new type instead of ADD VALUE), or leave it to an operator`));
      }
    } finally {
      await dir.remove();
    }
  });
  it("read block comments nested, as PostgreSQL does: a COMMIT inside one is no statement, one after it closes is refused", async () => {
    // Read to its first */, such a comment left its tail for statements: the COMMIT inside was
    // refused, and the one after it, taken for the tail's last word, let through.
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, "001_nested.sql"), "SELECT 1; /* outer /* inner */ COMMIT; -- still comment */ SELECT 2;\n/*/ a /**/ b */ SELECT 3;");
      expect((await loadMigrations(dir.path)).map((m) => m.name)).toEqual(["nested"]);
      await writeFile(join(dir.path, "002_after.sql"), "/* a /* b */ c */ COMMIT; SELECT 1");
      await expect(loadMigrations(dir.path)).rejects.toThrow(new Error("migration file 002_after.sql: statement 1 (COMMIT) uses a transaction's own BEGIN, COMMIT or ROLLBACK, which cannot run inside the one transaction all pending migrations run in, or would end it: make it a statement that can (CREATE INDEX without CONCURRENTLY, a new type instead of ADD VALUE), or leave it to an operator"));
    } finally {
      await dir.remove();
    }
  });
});

describe("users and tokens", () => {
  it("stores only the SHA-256 of a key, shown once", async () => {
    const { token, key } = await createToken(sql, { user_id: userId, name: "laptop", created_by: userId });
    expect(key).toMatch(/^st_[A-Za-z0-9_-]{43}$/);
    const [row] = await sql`SELECT * FROM api_tokens WHERE id = ${token.id}`;
    expect(Buffer.from(row.key_hash).equals(createHash("sha256").update(key).digest())).toBe(true);
    // The key appears in no column of the row.
    expect(JSON.stringify(Object.values(row).map(String))).not.toContain(key.slice(3));
    expect(Object.keys(token)).not.toContain("key_hash");
    expect(hashKey(key)).toHaveLength(32);
  });

  it("authenticates enabled tokens only; a disabled one is refused saying so", async () => {
    const { token, key } = await createToken(sql, { user_id: userId, name: "script", created_by: userId });
    expect((await authenticate(sql, key))?.user.username).toBe("alice");
    expect(await authenticate(sql, key + "x")).toBeNull();
    expect(await authenticate(sql, "not-a-key")).toBeNull();
    // Disabled, it is refused saying so (TokenRefusedError: the 401's error_description), not taken for unknown.
    await setTokenEnabled(sql, token.id, false);
    const refused = await authenticate(sql, key).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(TokenRefusedError);
    expect((refused as TokenRefusedError).reason).toBe("disabled");
    await setTokenEnabled(sql, token.id, true);
    expect((await authenticate(sql, key))?.token.id).toBe(token.id);
  });

  it("authenticates a token until its expires_at, by the database's clock, then throws TokenExpiredError naming it; migration 022 left the tokens before it without expiry", async () => {
    const old = await createToken(sql, { user_id: userId, name: "from before 022", created_by: userId });
    expect(old.token.expires_at).toBeNull();
    await sql`UPDATE api_tokens SET expires_at = NULL WHERE id = ${old.token.id}`; // as the migration leaves them
    expect((await authenticate(sql, old.key))?.token.expires_at).toBeNull();
    const [{ soon }] = await sql<{ soon: string }[]>`SELECT (now() + interval '1 hour') AS soon`;
    const { token, key } = await createToken(sql, { user_id: userId, name: "an hour", created_by: userId, expires_at: soon });
    expect((await authenticate(sql, key))?.token).toEqual(token);
    await sql`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = ${token.id}`;
    const refused = await authenticate(sql, key).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(TokenExpiredError);
    expect((refused as TokenExpiredError).token.id).toBe(token.id);
    expect((refused as Error).message).toMatch(new RegExp(`^the token ${token.key_prefix}… \\(an hour\\) expired at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: create a new one`));
    // Disabled and expired, it says it is disabled first (TokenRefusedError, not TokenExpiredError).
    await setTokenEnabled(sql, token.id, false);
    const disabled = await authenticate(sql, key).catch((err: unknown) => err);
    expect(disabled).toBeInstanceOf(TokenRefusedError);
    expect(disabled).not.toBeInstanceOf(TokenExpiredError);
    expect((disabled as TokenRefusedError).reason).toBe("disabled");
  });

  it("does not take one empty answer for an unknown token (a cut connection gave a valid key no rows)", async () => {
    const { token, key } = await createToken(sql, { user_id: userId, name: "flaky", created_by: userId });
    let calls = 0;
    // The first lookup answered with no rows and no error, as postgres.js did under connection resets.
    const flaky = ((strings: TemplateStringsArray, ...values: unknown[]) => (calls++ === 0 ? Promise.resolve([]) : sql(strings, ...(values as never[])))) as unknown as Sql;
    expect((await authenticate(flaky, key))?.token.id).toBe(token.id);
    expect(calls).toBe(2);
  });

  it("creates the first admin once, even when asked concurrently", async () => {
    const winners = adminRace.filter((r) => r !== null);
    expect(winners).toHaveLength(1);
    expect((await authenticate(sql, winners[0]!.key))?.user).toMatchObject({ username: "admin", role: "admin" });
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM users WHERE role = 'admin'`;
    expect(n).toBe(1);
    expect(await ensureAdmin(sql)).toBeNull();
  });

  it("reads the users of many ids in one query (token list's owners); an id of no user has no entry", async () => {
    const bob = await createUser(sql, { username: "bob", name: "Bob", role: "viewer" });
    const noUser = "00000000-0000-4000-8000-000000000000";
    let selects = 0;
    // Counts the queries (the column list is a fragment, built by a call of its own).
    const counting = ((strings: TemplateStringsArray, ...values: unknown[]) => {
      if (strings.join("").includes("SELECT")) selects++;
      return sql(strings, ...(values as never[]));
    }) as unknown as Sql;
    const users = await getUsers(counting, [bob.id, userId, bob.id, noUser]);
    expect(selects).toBe(1);
    expect([...users.keys()].sort()).toEqual([bob.id, userId].sort());
    expect(users.get(bob.id)).toEqual(bob);
    expect(users.get(userId)).toEqual(await getUser(sql, userId));
    expect(await getUsers(sql, [])).toEqual(new Map());
  });

  it("rejects a bad username and a duplicate one", async () => {
    expect(await invalidFields(createUser(sql, { username: "no spaces allowed" }))).toEqual(["username"]);
    await expect(createUser(sql, { username: "alice" })).rejects.toBeInstanceOf(ConflictError);
  });
});

describe("get-or-create", () => {
  it("gives one tag for concurrent creators", async () => {
    const tags = await Promise.all(Array.from({ length: 8 }, () => getOrCreateTag(sql, { key: "species", value: "Myotis", created_by: userId })));
    expect(new Set(tags.map((x) => x.id)).size).toBe(1);
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM tags WHERE key = 'species' AND value = 'Myotis'`;
    expect(n).toBe(1);
  });

  it("gives one feature name for concurrent creators", async () => {
    const names = await Promise.all(Array.from({ length: 8 }, () => getOrCreateFeatureName(sql, "snr_db", { created_by: null })));
    expect(new Set(names.map((x) => x.id)).size).toBe(1);
  });

  it("names the field of a tag outside 1..255 characters", async () => {
    expect(await invalidFields(getOrCreateTag(sql, { key: "", value: "x", created_by: null }))).toEqual(["key"]);
    expect(await invalidFields(getOrCreateTag(sql, { key: "k", value: "v".repeat(256), created_by: null }))).toEqual(["value"]);
  });
});

describe("audio roots", () => {
  it("accepts directories inside a root, absolute or relative to the first root", async () => {
    expect(await resolveAudioDir(roots, join(FIXTURES, "recordings"))).toBe(join(roots[0], "recordings"));
    expect(await resolveAudioDir(roots, "recordings")).toBe(join(roots[0], "recordings"));
  });

  it("refuses .., absolute paths outside the roots, symlinks out of a root and missing directories", async () => {
    for (const input of ["..", "../..", "/etc", "recordings/../../..", join(scratch.path, "link-out"), "nope"]) {
      await expect(resolveAudioDir([roots[1]], input), input).rejects.toBeInstanceOf(InvalidError);
    }
    await expect(resolveAudioDir([], "/tmp")).rejects.toThrow(/no audio roots/);
  });

  it("says 'outside' for any path outside the roots as written, existing or not, so that answers do not tell what exists elsewhere", async () => {
    for (const input of ["/etc", "/no/such/dir", "../../nope", "/root/.ssh"]) {
      await expect(resolveAudioDir([roots[1]], input), input).rejects.toThrow(new RegExp(`^audio_dir: ${input.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} is outside the configured audio roots$`));
    }
    await expect(resolveAudioDir([roots[1]], "nope")).rejects.toThrow(/^audio_dir: directory nope does not exist in the audio root \(a relative audio_dir is resolved against it\)$/); // inside: it may be made
  });

  it("refuses recording paths that escape the dataset directory", async () => {
    const dir = join(roots[1], "inside");
    expect(await resolveRecordingFile(dir, "a.wav")).toEqual({ file: join(dir, "a.wav"), realPath: "a.wav", size: statSync(join(dir, "a.wav")).size, mtime: statSync(join(dir, "a.wav")).mtimeMs });
    for (const bad of ["", "/etc/passwd", "../inside/a.wav", "x/../../a.wav", "escape.wav", "a\0.wav", "missing.wav"]) {
      await expect(resolveRecordingFile(dir, bad), JSON.stringify(bad)).rejects.toBeInstanceOf(InvalidError);
    }
  });
});

describe("recorded date and time from file metadata", () => {
  it("reads GUANO and bext timestamps as the recorder's clock showed them, with the UTC offset they state; impossible values give null", () => {
    const cases: [string | undefined, { date: string | null; time: string | null }][] = [
      ["2024-05-31T22:39:11", { date: "2024-05-31", time: "22:39:11" }],
      ["2024-09-03 20:26:15.25-05:00", { date: "2024-09-03", time: "20:26:15.25-05:00" }],
      ["2024-09-03T20:26:15Z", { date: "2024-09-03", time: "20:26:15+00:00" }],
      ["2024-09-03T20:26:15+0530", { date: "2024-09-03", time: "20:26:15+05:30" }],
      ["2024-09-03T20:26:15-03", { date: "2024-09-03", time: "20:26:15-03:00" }],
      ["2024-09-03T20:26:15+25:00", { date: "2024-09-03", time: null }],
      ["2016:02:17T19.45.16", { date: "2016-02-17", time: "19:45:16" }],
      ["2016-02-17", { date: "2016-02-17", time: null }],
      ["2016-02-17T25:00:00", { date: "2016-02-17", time: null }],
      ["2023-02-29T10:00:00", { date: null, time: null }],
      // More fractional digits than the column keeps (a nanosecond clock): cut to microseconds. A comma is ISO 8601's decimal sign too.
      ["2025-07-01T23:59:59.123456789Z", { date: "2025-07-01", time: "23:59:59.123456+00:00" }],
      ["2025-07-01T23:59:59,5", { date: "2025-07-01", time: "23:59:59.5" }],
      // ISO 8601's basic format.
      ["20250701T235959", { date: "2025-07-01", time: "23:59:59" }],
      ["20250701T235959.25+0200", { date: "2025-07-01", time: "23:59:59.25+02:00" }],
      ["20250701", { date: "2025-07-01", time: null }],
      // 24:00:00, the end of a day, is the next day's midnight; 24:00:01 is no time.
      ["2025-12-31T24:00:00", { date: "2026-01-01", time: "00:00:00" }],
      ["2025-07-01T24:00:01", { date: "2025-07-01", time: null }],
      ["2023-13-01", { date: null, time: null }],
      ["yesterday", { date: null, time: null }],
      [undefined, { date: null, time: null }],
    ];
    for (const [text, expected] of cases) expect(recordedDateTime(text), String(text)).toEqual(expected);
  });

  it("names the GUANO and bext values it could not read (the import's metadata_unread) — they were dropped without a word", async () => {
    const dir = await tempDir();
    try {
      const guano = async (name: string, lines: string[]) => {
        const file = join(dir.path, name);
        await writeSineWav(file, 8000, 0.1);
        const wav = readFileSync(file);
        let body = Buffer.from(["GUANO|Version: 1.0", ...lines].join("\n"), "utf8");
        if (body.length % 2) body = Buffer.concat([body, Buffer.from([0])]);
        const chunk = Buffer.concat([Buffer.from("guan"), Buffer.alloc(4), body]);
        chunk.writeUInt32LE(body.length, 4);
        const out = Buffer.concat([wav, chunk]);
        out.writeUInt32LE(out.length - 8, 4);
        writeFileSync(file, out);
        return file;
      };
      const facts = async (lines: string[]) => (await probeFile(await guano("g.wav", lines))).metadata_unread;
      expect(await facts(["Timestamp: 2025-02-29T01:00:00", "Loc Position: 95 200", "TE: 0"])).toEqual([
        { key: "GUANO Timestamp", value: "2025-02-29T01:00:00", message: "not a date and time this reads (ISO 8601: 2025-07-01T23:59:59[.ffffff][±HH:MM], or 20250701T235959): date and time left empty" },
        { key: "GUANO Loc Position", value: "95 200", message: "not a latitude in [−90, 90] and a longitude in [−180, 180], decimal degrees: latitude and longitude left empty" },
        { key: "GUANO TE", value: "0", message: "not a time expansion factor that gives a usable rate: time expansion 1" },
      ]);
      expect(await facts(["Timestamp: 2025-07-01T25:00:00"])).toEqual([
        { key: "GUANO Timestamp", value: "2025-07-01T25:00:00", message: "its time is not one this reads: date 2025-07-01 kept, time left empty" },
      ]);
      expect(await facts(["Timestamp: 20250701T235959", "Loc Position: 49.1 5.0", "TE: 10"])).toEqual([]);
      // An import names them by file, registering the file with what it could read.
      await guano("h.wav", ["Timestamp: 2025-07-01T24:00:01", "Loc Position: 49.1 5.0"]);
      const dataset = await createDataset(t.db.sql, { name: "unread metadata", audio_dir: dir.path, created_by: null });
      const imported = await importDataset(t.db.sql, dataset.id, null);
      expect(imported.registered.map((r) => r.path)).toEqual(["g.wav", "h.wav"]);
      expect(imported.metadata_unread).toEqual([{ path: "h.wav", key: "GUANO Timestamp", value: "2025-07-01T24:00:01", message: "its time is not one this reads: date 2025-07-01 kept, time left empty" }]);
      const [g, h] = (await listRecordings(t.db.sql, { dataset_id: dataset.id, state: "active", sort: "path", order: "asc", limit: 10, offset: 0 })).items;
      expect([g.date, g.time, h.date, h.time, h.latitude]).toEqual(["2025-07-01", "23:59:59", "2025-07-01", null, 49.1]);
      await deleteDataset(t.db.sql, dataset.id); // the tests below count the recordings of the database
    } finally {
      await dir.remove();
    }
  });
});

describe("datasets and recordings", () => {
  let datasetId: string;

  it("imports the fixture recordings with the facts libsndfile and md5sum report", async () => {
    const audio_dir = await resolveAudioDir(roots, "recordings");
    const dataset = await createDataset(sql, { name: "fixtures", description: "bats and birds", audio_dir, created_by: userId });
    datasetId = dataset.id;
    const before = await scanDataset(sql, dataset.id);
    expect(before.counts).toEqual({ registered: 0, missing: 0, unregistered: 6 });

    const result = await importDataset(sql, dataset.id, userId);
    expect(result.failed).toEqual([]);
    expect(result.registered.map((r) => r.path).sort()).toEqual(Object.keys(FIXTURE_FACTS).sort());
    expect(result.run).toMatchObject({ kind: "import", status: "completed", created_by: userId });

    const page = await listRecordings(sql, { dataset_id: dataset.id, state: "active", sort: "path", order: "asc", limit: 100, offset: 0 });
    expect(page.total).toBe(6);
    for (const rec of page.items) {
      const facts = FIXTURE_FACTS[rec.path];
      expect(rec).toMatchObject({ samplerate: facts.samplerate, channels: facts.channels, frames: facts.frames, hash: facts.md5, time_expansion: 1, run_id: result.run.id, created_by: userId });
      expect({ date: rec.date, time: rec.time, latitude: rec.latitude, longitude: rec.longitude }, rec.path).toEqual(FIXTURE_RECORDED[rec.path]);
      expect(rec.duration).toBeCloseTo(facts.frames / facts.samplerate, 12);
    }
    expect((await scanDataset(sql, dataset.id)).counts).toEqual({ registered: 6, missing: 0, unregistered: 0 });
    // A second import finds nothing new.
    expect((await importDataset(sql, dataset.id, userId)).registered).toEqual([]);
    const [listed] = (await listDatasets(sql, { state: "active", sort: "name", order: "asc", limit: 10, offset: 0, search: "fixt" })).items;
    expect(listed.recording_count).toBe(6);
  });

  it("applies time expansion to samplerate and duration", async () => {
    const page = await listRecordings(sql, { dataset_id: datasetId, search: "Carollia", state: "active", sort: "path", order: "asc", limit: 10, offset: 0 });
    const rec = await updateRecording(sql, page.items[0].id, { time_expansion: 10 });
    expect(rec.samplerate).toBe(3840000);
    expect(rec.duration).toBeCloseTo(386672 / 3840000, 12);
    expect(await invalidFields(updateRecording(sql, rec.id, { time_expansion: 0 }))).toEqual(["time_expansion"]);
    expect(await invalidFields(updateRecording(sql, rec.id, { latitude: 90.5 }))).toEqual(["latitude"]);
    expect(await invalidFields(updateRecording(sql, rec.id, { longitude: -180.01 }))).toEqual(["longitude"]);
  });

  it("tags a recording and a clip once each, and takes a tag off one record alone: the tag itself and the other record's stay", async () => {
    const [rec] = (await listRecordings(sql, { dataset_id: datasetId, state: "active", sort: "path", order: "asc", limit: 1, offset: 0 })).items;
    const clip = await createClip(sql, { recording_id: rec.id, start_time: 0, end_time: 0.01, created_by: userId });
    try {
      const tag = { key: "untagged-by-test", value: "wren", created_by: userId };
      const carries = (record: { tags: { key: string; value: string }[] }) => record.tags.filter((t) => t.key === tag.key).map((t) => t.value);
      await addRecordingTag(sql, rec.id, tag);
      expect(carries(await addRecordingTag(sql, rec.id, tag))).toEqual(["wren"]); // once
      expect(carries(await addClipTag(sql, clip.id, tag))).toEqual(["wren"]);
      expect(carries(await removeRecordingTag(sql, rec.id, tag))).toEqual([]);
      expect(carries(await getClip(sql, clip.id))).toEqual(["wren"]);
      expect(carries(await removeClipTag(sql, clip.id, { key: tag.key, value: "robin" }))).toEqual(["wren"]); // another value: not this tag
      expect(carries(await removeClipTag(sql, clip.id, tag))).toEqual([]);
      expect((await listTags(sql, { key: tag.key, limit: 10, offset: 0 })).items.map((t) => t.value)).toEqual(["wren"]);
    } finally {
      await deleteClip(sql, clip.id);
    }
  });

  it("stores SQL injection text verbatim", async () => {
    const evil = "x'); DROP TABLE recordings; --";
    const [rec] = (await listRecordings(sql, { dataset_id: datasetId, state: "active", sort: "path", order: "asc", limit: 1, offset: 0 })).items;
    const updated = await addRecordingTag(sql, rec.id, { key: evil, value: "%_\\", created_by: userId });
    expect(updated.tags).toContainEqual({ key: evil, value: "%_\\" });
    await updateRecording(sql, rec.id, { rights: evil });
    expect((await getRecording(sql, rec.id)).rights).toBe(evil);
    // LIKE wildcards in a search are literal: "%" matches no path.
    expect((await listRecordings(sql, { search: "%", state: "all", sort: "path", order: "asc", limit: 10, offset: 0 })).total).toBe(0);
    const tagged = await listRecordings(sql, { tag: { key: evil, value: "%_\\" }, state: "active", sort: "path", order: "asc", limit: 10, offset: 0 });
    expect(tagged.items.map((r) => r.id)).toEqual([rec.id]);
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM recordings`;
    expect(n).toBe(6);
  });

  it("sets features by name, replacing the previous value", async () => {
    const [rec] = (await listRecordings(sql, { dataset_id: datasetId, state: "active", sort: "path", order: "asc", limit: 1, offset: 1 })).items;
    await setRecordingFeature(sql, rec.id, { name: "snr_db", value: 3.5, created_by: userId });
    const updated = await setRecordingFeature(sql, rec.id, { name: "snr_db", value: 4.25, created_by: userId });
    expect(updated.features).toEqual([{ name: "snr_db", value: 4.25 }]);
  });

  it("hides archived and trashed records from default listings; archived ones are read-only", async () => {
    const page = await listRecordings(sql, { dataset_id: datasetId, state: "active", sort: "path", order: "asc", limit: 2, offset: 0 });
    expect(page.total).toBe(6);
    const [a, b] = page.items;
    await setState(sql, "recordings", a.id, "archived");
    await setState(sql, "recordings", b.id, "trashed");
    const q = { dataset_id: datasetId, sort: "path", order: "asc", limit: 10, offset: 0 } as const;
    expect((await listRecordings(sql, { ...q, state: "active" })).total).toBe(4);
    expect((await listRecordings(sql, { ...q, state: "archived" })).items.map((r) => r.id)).toEqual([a.id]);
    expect((await listRecordings(sql, { ...q, state: "trashed" })).items.map((r) => r.id)).toEqual([b.id]);
    expect((await listRecordings(sql, { ...q, state: "all" })).total).toBe(6);
    await expect(updateRecording(sql, a.id, { rights: "CC0" })).rejects.toBeInstanceOf(ConflictError);
    await expect(setState(sql, "recordings", a.id, "trashed")).rejects.toBeInstanceOf(ConflictError);
    await setState(sql, "recordings", a.id, "active");
    await setState(sql, "recordings", b.id, "active");
    expect((await listRecordings(sql, { ...q, state: "active" })).total).toBe(6);
    await expect(setState(sql, "recordings", "00000000-0000-0000-0000-000000000000", "archived")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("pages past the end still report the total", async () => {
    const page = await listRecordings(sql, { dataset_id: datasetId, state: "active", sort: "path", order: "asc", limit: 4, offset: 100 });
    expect(page).toMatchObject({ items: [], total: 6, limit: 4, offset: 100 });
  });

  it("refuses a second dataset with the same name or directory", async () => {
    const audio_dir = await resolveAudioDir(roots, "recordings");
    await expect(createDataset(sql, { name: "fixtures", audio_dir: join(roots[1], "inside"), created_by: userId })).rejects.toBeInstanceOf(ConflictError);
    await expect(createDataset(sql, { name: "other", audio_dir, created_by: userId })).rejects.toBeInstanceOf(ConflictError);
    expect(await invalidFields(createDataset(sql, { name: "   ", audio_dir: join(roots[1], "inside"), created_by: userId }))).toEqual(["name"]);
  });

  it("refuses a dataset whose directory holds or lies inside another's, also through a link, at once on two connections, and beside a trashed one: the files were registered twice", async () => {
    const field = join(scratch.path, "field");
    await mkdir(join(field, "site A"), { recursive: true });
    await mkdir(join(scratch.path, "field 2"));
    await symlink(join(field, "site A"), join(scratch.path, "site A link"));
    const make = async (name: string, dir: string) => createDataset(sql, { name, audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => (e instanceof ConflictError ? [e.field, e.message] : e));
    const outer = await make("field", field);
    const realField = await resolveAudioDir(roots, field), siteA = join(realField, "site A");
    // `field/site A` inside `field` was accepted, and an import of each registered its files again.
    expect(await refusal(make("site A", join(field, "site A")))).toEqual(["audio_dir", `audio_dir ${JSON.stringify(siteA)} lies inside ${realField}, the directory of dataset ${outer.id} ("field"): a file below both would be registered in each, its work split between two recordings; import the files into that dataset instead`]);
    expect(await refusal(make("site A link", join(scratch.path, "site A link")))).toMatchObject(["audio_dir", expect.stringContaining(`lies inside ${realField}`)]);
    expect(await refusal(make("all", scratch.path))).toMatchObject(["audio_dir", expect.stringContaining(`holds ${realField}, the directory of dataset ${outer.id} ("field")`)]);
    // A name that only begins like the directory's is beside it.
    expect((await make("field 2", join(scratch.path, "field 2"))).audio_dir).toBe(join(realField + " 2"));
    // Trashed, it still holds its directory: a restore would bring the overlap back.
    await setState(sql, "datasets", outer.id, "trashed");
    expect(await refusal(make("site A", join(field, "site A")))).toMatchObject(["audio_dir", expect.stringContaining(`dataset ${outer.id} ("field") (in the trash: purge it first)`)]);
    // Two overlapping creates at once, each on its own connection: one is taken.
    const nested = join(scratch.path, "race", "inner");
    await mkdir(nested, { recursive: true });
    const raced = await Promise.allSettled([make("race", join(scratch.path, "race")), make("race inner", nested)]);
    expect(raced.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
  });

  it("adds a dataset from a directory under one import run, which the dataset and its recordings point to", async () => {
    const dir = join(scratch.path, "added");
    await mkdir(dir);
    await writeSineWav(join(dir, "b.wav"), 8000, 0.5);
    const result = await addDataset(sql, { name: "added", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    expect(result.run).toMatchObject({ kind: "import", status: "completed", created_by: userId });
    expect(result.dataset).toMatchObject({ name: "added", run_id: result.run.id, created_by: userId });
    expect((await getRecording(sql, result.registered[0].recording_id)).run_id).toBe(result.run.id);
    // A name already taken: nothing is created and the run is marked failed.
    const err = await addDataset(sql, { name: "added", audio_dir: await resolveAudioDir(roots, join(scratch.path, "inside")), created_by: userId }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    const [failed] = await sql`SELECT status FROM runs WHERE kind = 'import' ORDER BY created_at DESC LIMIT 1`;
    expect(failed.status).toBe("failed");
  });

  it("ends as failed an import run whose process was killed, not one whose process lives, runs elsewhere or is a job's", async () => {
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!; // exited: no process has this pid now (reuse is covered below)
    const run = async (kind: "import" | "job", owner?: object) => {
      const r = await createRun(sql, { kind, created_by: userId });
      if (owner) await sql`UPDATE runs SET owner = ${sql.json(owner as never)} WHERE id = ${r.id}`;
      return r.id;
    };
    const killed = await run("import", { pid: dead, host: hostname(), start: "boot:1" });
    const reused = await run("import", { pid: process.pid, host: hostname(), start: "another-boot:1" }); // its pid now names another process
    const live = await run("import"); // created by this process, which records itself
    const elsewhere = await run("import", { pid: dead, host: `not-${hostname()}`, start: "boot:1" });
    // A container beside this one, with the host's name (host networking) but pids of its own.
    const container = await run("import", { pid: dead, host: hostname(), start: "boot:1", pidNamespace: "pid:[1]" });
    const job = await run("job");
    const ended = await failInterruptedRuns(sql);
    expect(ended.map((r) => r.id).sort()).toEqual([killed, reused].sort());
    expect(ended.every((r) => r.status === "failed" && r.finished_at !== null)).toBe(true);
    for (const id of [live, elsewhere, container, job]) expect((await getRun(sql, id)).status).toBe("running");
    expect(await failInterruptedRuns(sql)).toEqual([]);
    for (const id of [live, elsewhere, container, job]) await finishRun(sql, id, "completed");
  });

  it("lists each file once however links reach it: loops back to a directory lead nowhere new, a file reached directly is listed by its own path; links that loop are skipped saying so", async () => {
    const dir = join(scratch.path, "looped");
    await mkdir(join(dir, "b", "deep"), { recursive: true });
    await writeSineWav(join(dir, "a.wav"), 8000, 0.1);
    await writeSineWav(join(dir, "b", "deep", "x.wav"), 8000, 0.1);
    await symlink(".", join(dir, "loop")); // two loops walked 2^33 directories
    await symlink(".", join(dir, "loop2"));
    await symlink("../b", join(dir, "b", "deep", "up")); // a directory already walked
    await symlink("a.wav", join(dir, "alias.wav")); // a file listed by its own path
    await symlink("deep", join(dir, "b", "via")); // b/via/x.wav is b/deep/x.wav
    // Links out of the directory are not followed, and say so (they vanished from a scan without a word); so do links to nothing.
    await symlink(join(FIXTURES, "recordings", "whombat_tests_bats.wav"), join(dir, "out.wav"));
    await symlink(join(FIXTURES, "recordings"), join(dir, "b", "out-dir"));
    await symlink(join(FIXTURES, "recordings", "README-whombat-example_data.md"), join(dir, "notes-out.md")); // could hold no recording: not reported
    await symlink("gone.wav", join(dir, "broken.wav"));
    // Links that loop among links alone (`ln -s self self`, two pointing at each other) resolve to nothing, whatever their names: they vanished without a word.
    await symlink("self", join(dir, "self"));
    await symlink("pong", join(dir, "b", "ping"));
    await symlink("ping", join(dir, "b", "pong"));
    const outside = "a symbolic link that leads outside the dataset's directory, which is not followed: move or copy what it points to inside";
    const loops = "a symbolic link that loops";
    const skipped = [{ path: "b/out-dir", reason: outside }, { path: "b/ping", reason: loops }, { path: "b/pong", reason: loops }, { path: "broken.wav", reason: "a symbolic link to nothing" }, { path: "out.wav", reason: outside }, { path: "self", reason: loops }];
    expect(await listAudioFiles(dir)).toEqual({ paths: ["a.wav", "b/deep/x.wav"], skipped, realPaths: new Map([["a.wav", join(dir, "a.wav")], ["b/deep/x.wav", join(dir, "b", "deep", "x.wav")]]) });
    const dataset = await createDataset(sql, { name: "looped", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    const result = await importDataset(sql, dataset.id, userId);
    expect(result.registered.map((r) => r.path)).toEqual(["a.wav", "b/deep/x.wav"]);
    expect(result.failed).toEqual(skipped.map(({ path, reason }) => ({ path, error: reason })));
    // A file registered by hand under another name or path is there, not missing.
    await copyFile(join(dir, "a.wav"), join(dir, "c.dat"));
    await insertRecording(sql, { dataset_id: dataset.id, path: "c.dat", ...(await probeFile(join(dir, "c.dat"))), created_by: userId });
    await insertRecording(sql, { dataset_id: dataset.id, path: "b/via/x.wav", ...(await probeFile(join(dir, "b/via/x.wav"))), created_by: userId });
    const scan = await scanDataset(sql, dataset.id);
    expect(scan.counts).toEqual({ registered: 4, missing: 0, unregistered: 0 });
  });

  it("names a FIFO or a socket named as audio, and a link to one, under skipped, never opening it (a FIFO's open waits for a writer), and the import reports each as failed: they were left out without a word", async () => {
    const dir = join(scratch.path, "special");
    await mkdir(dir);
    await writeSineWav(join(dir, "a.wav"), 8000, 0.1);
    for (const name of ["pipe.wav", "notes.fifo"]) expect(spawnSync("mkfifo", [join(dir, name)]).status).toBe(0); // notes.fifo could hold no recording: not reported
    const socket = createServer().listen(join(dir, "sock.flac"));
    onTestFinished(() => new Promise<void>((done) => socket.close(() => done())));
    await once(socket, "listening");
    await symlink("pipe.wav", join(dir, "link.wav"));
    const fifo = "a FIFO (named pipe), not a regular file: it holds no recording";
    const skipped = [{ path: "link.wav", reason: fifo }, { path: "pipe.wav", reason: fifo }, { path: "sock.flac", reason: "a socket, not a regular file: it holds no recording" }];
    expect(await listAudioFiles(dir)).toEqual({ paths: ["a.wav"], skipped, realPaths: new Map([["a.wav", join(dir, "a.wav")]]) });
    const dataset = await createDataset(sql, { name: "special", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    expect((await scanDataset(sql, dataset.id)).skipped).toEqual(skipped);
    const result = await importDataset(sql, dataset.id, userId);
    expect([result.registered.map((r) => r.path), result.failed]).toEqual([["a.wav"], skipped.map(({ path, reason }) => ({ path, error: reason }))]);
  });

  it("a registered file replaced by a FIFO (or a link to one) is listed once, as what it is — skipped, not a regular file — in a scan and an import: it was also `missing`, 'no file at this path'", async () => {
    const dir = join(scratch.path, "replaced-by-fifo");
    await mkdir(dir);
    for (const name of ["a.wav", "b.wav", "c.wav"]) await writeSineWav(join(dir, name), 8000, 0.1, name === "a.wav" ? 1000 : name === "b.wav" ? 1100 : 1200);
    const dataset = await createDataset(sql, { name: "replaced-by-fifo", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    const ids = Object.fromEntries((await importDataset(sql, dataset.id, userId)).registered.map((r) => [r.path, r.recording_id]));
    await rm(join(dir, "b.wav"));
    expect(spawnSync("mkfifo", [join(dir, "b.wav")]).status).toBe(0);
    await rm(join(dir, "c.wav"));
    await symlink("b.wav", join(dir, "c.wav"));
    const fifo = "a FIFO (named pipe), not a regular file: it holds no recording";
    const skipped = [{ path: "b.wav", reason: fifo }, { path: "c.wav", reason: fifo }];
    const scan = await scanDataset(sql, dataset.id);
    expect([scan.files.map((f) => [f.path, f.status]), scan.counts, scan.skipped]).toEqual([[["a.wav", "registered"]], { registered: 1, missing: 0, unregistered: 0 }, skipped]);
    const result = await importDataset(sql, dataset.id, userId);
    expect([result.registered, result.failed, result.missing]).toEqual([[], skipped.map(({ path, reason }) => ({ path, error: reason })), []]);
    // A file that is gone is missing, as before, and a file put back at the path is registered again.
    await rm(join(dir, "c.wav"));
    expect((await scanDataset(sql, dataset.id)).files.map((f) => [f.path, f.status, f.recording_id])).toEqual([["a.wav", "registered", ids["a.wav"]], ["c.wav", "missing", ids["c.wav"]]]);
    await rm(join(dir, "b.wav"));
    await writeSineWav(join(dir, "b.wav"), 8000, 0.1, 1100);
    expect((await scanDataset(sql, dataset.id)).files.map((f) => [f.path, f.status])).toEqual([["a.wav", "registered"], ["b.wav", "registered"], ["c.wav", "missing"]]);
  });

  it("reports the names that are not valid UTF-8 (a Latin-1 folder from a recorder) and imports the rest — one such folder failed the whole scan with ENOENT", async () => {
    const dir = join(scratch.path, "latin1");
    await mkdir(dir);
    await writeSineWav(join(dir, "ok.wav"), 8000, 0.1);
    // Names written as raw bytes: "café" in Latin-1 is 63 61 66 e9, not UTF-8.
    const raw = (...parts: string[]) => Buffer.concat([Buffer.from(dir + "/"), ...parts.map((p) => Buffer.from(p, "latin1"))]);
    mkdirSync(raw("caf\xe9"));
    writeFileSync(raw("caf\xe9", "/x.wav"), readFileSync(join(dir, "ok.wav")));
    writeFileSync(raw("\xe9t\xe9.wav"), readFileSync(join(dir, "ok.wav")));
    writeFileSync(raw("notes \xe9.txt"), "not audio: not reported");
    writeFileSync(raw(".caf\xe9.wav"), "hidden: not reported");
    const reason = "its name is not valid UTF-8, so no path can name it (nor can the database store it): rename it, e.g. with `convmv -f latin1 -t utf8`";
    expect(await listAudioFiles(dir)).toMatchObject({ paths: ["ok.wav"], skipped: [{ path: "\\xe9t\\xe9.wav", reason }, { path: "caf\\xe9", reason }] });
    const dataset = await createDataset(sql, { name: "latin1", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    expect((await scanDataset(sql, dataset.id)).skipped).toEqual([{ path: "\\xe9t\\xe9.wav", reason }, { path: "caf\\xe9", reason }]);
    const result = await importDataset(sql, dataset.id, userId);
    expect(result.registered.map((r) => r.path)).toEqual(["ok.wav"]);
    expect(result.failed).toEqual([{ path: "\\xe9t\\xe9.wav", error: reason }, { path: "caf\\xe9", error: reason }]);
  });

  it("says in a scan why a file not registered cannot be imported (empty, not audio, a header cut short), from its header alone; the import reports it as before, and runs for it alone no more", async () => {
    const dir = join(scratch.path, "unreadable");
    await mkdir(dir);
    await writeSineWav(join(dir, "ok.wav"), 8000, 0.1);
    const wav = readFileSync(join(dir, "ok.wav"));
    writeFileSync(join(dir, "empty.wav"), "");
    writeFileSync(join(dir, "junk.wav"), JUNK_BYTES);
    writeFileSync(join(dir, "cut.wav"), wav.subarray(0, 30)); // the fmt chunk cut short
    // A FLAC whose header reads, cut before its first frame: only reading further finds it, which a scan does not.
    const flac = readFileSync(join(FIXTURES, "formats", "flac_pcm_16.flac"));
    writeFileSync(join(dir, "cut.flac"), flac.subarray(0, 8 + 34));
    const dataset = await createDataset(sql, { name: "unreadable", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    const unreadable = {
      "cut.wav": "cut.wav: wav: 'fmt ' chunk at byte 12 declares 16 bytes but only 10 remain in the file (truncated or corrupt)",
      "empty.wav": "empty.wav: file is empty",
      "junk.wav": "junk.wav: not a recognised audio format (expected WAV, RF64, Wave64, AIFF, FLAC, MP3 or Ogg)",
    };
    const scanned = async () => (await scanDataset(sql, dataset.id)).files.map((f) => [f.path, f.status, f.unreadable]);
    // Each was `unregistered` as ok.wav, waiting for its import, is — in every scan, for ever.
    expect(await scanned()).toEqual([
      ["cut.flac", "unregistered", null],
      ["cut.wav", "unregistered", unreadable["cut.wav"]],
      ["empty.wav", "unregistered", unreadable["empty.wav"]],
      ["junk.wav", "unregistered", unreadable["junk.wav"]],
      ["ok.wav", "unregistered", null],
    ]);
    const imported = await importDataset(sql, dataset.id, userId);
    expect(imported.registered.map((r) => r.path)).toEqual(["ok.wav"]);
    // The import's words for them are the scan's.
    expect(imported.failed).toEqual([
      { path: "cut.flac", error: expect.stringMatching(/^cut\.flac: flac: /) },
      ...Object.entries(unreadable).map(([path, error]) => ({ path, error })),
    ]);
    expect((await scanned()).filter(([path]) => path !== "ok.wav").map(([, , why]) => why)).toEqual([null, ...Object.values(unreadable)]);
    // With only files whose header does not read left, there is nothing to import: no run (one was
    // recorded at every `dataset add`, each failing them again); what it cannot read is still said.
    rmSync(join(dir, "cut.flac"));
    const runs = async () => (await sql`SELECT count(*)::int AS n FROM runs WHERE kind = 'import'`)[0].n;
    const before = await runs();
    statementsSent = 0;
    const outcome = await importNew(sql, dataset.id, userId);
    const sentByImportNew = statementsSent;
    expect(await runs()).toBe(before);
    // It answers what its scan found, in one scan's statements: it answered null, and a repeated
    // `dataset add` scanned the directory again for it (every new file's header read twice).
    expect(outcome).toEqual({ run: null, registered: [], moved: [], duplicates: [], metadata_unread: [], failed: Object.entries(unreadable).map(([path, error]) => ({ path, error })), changed: [], missing: [] });
    statementsSent = 0;
    expect(scanOutcome(await scanDataset(sql, dataset.id)).failed).toEqual(outcome.failed);
    expect(sentByImportNew).toBe(statementsSent);
  });

  it("leaves hidden entries out: a macOS drive's AppleDouble '._x.wav' beside each recording failed an import", async () => {
    const dir = join(scratch.path, "macos");
    await mkdir(join(dir, ".Trashes", "501"), { recursive: true });
    await writeSineWav(join(dir, "a.wav"), 8000, 0.1);
    writeFileSync(join(dir, "._a.wav"), "AppleDouble metadata, not audio");
    await writeSineWav(join(dir, ".Trashes", "501", "old.wav"), 8000, 0.1);
    expect(await listAudioFiles(dir)).toMatchObject({ paths: ["a.wav"], skipped: [] });
    const dataset = await createDataset(sql, { name: "macos", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    const result = await importDataset(sql, dataset.id, userId);
    expect([result.registered.map((r) => r.path), result.failed]).toEqual([["a.wav"], []]);
  });

  it("follows a recording's file moved or renamed by its MD5, keeping its clips, tags, features and notes; reports copies and files gone", async () => {
    const dir = join(scratch.path, "months");
    await mkdir(join(dir, "2024-05"), { recursive: true });
    await writeSineWav(join(dir, "2024-05", "night 1.wav"), 8000, 0.5, 1000);
    await writeSineWav(join(dir, "2024-05", "night 2.wav"), 8000, 0.5, 2000);
    await writeSineWav(join(dir, "2024-05", "night 3.wav"), 8000, 0.5, 3000);
    const dataset = await createDataset(sql, { name: "months", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    const first = await importDataset(sql, dataset.id, userId);
    const idOf = (path: string) => first.registered.find((r) => r.path === path)!.recording_id;
    const night1 = idOf("2024-05/night 1.wav");
    await addRecordingTag(sql, night1, { key: "species", value: "Pipistrellus", created_by: userId });
    await setRecordingFeature(sql, night1, { name: "call_count", value: 12, created_by: userId });
    const note = await createNote(sql, { message: "check the ID", recording_id: night1, created_by: userId });
    const clip = await createClip(sql, { recording_id: night1, start_time: 0.1, end_time: 0.3, created_by: userId });
    // Months later: night 1 renamed and moved to a folder of its own, night 2 copied under a second name, night 3 deleted.
    await mkdir(join(dir, "site A"));
    await rename(join(dir, "2024-05", "night 1.wav"), join(dir, "site A", "Pipistrellus night 1.wav"));
    await copyFile(join(dir, "2024-05", "night 2.wav"), join(dir, "night 2 copy.wav"));
    await rm(join(dir, "2024-05", "night 3.wav"));
    expect((await scanDataset(sql, dataset.id)).counts).toEqual({ registered: 1, missing: 2, unregistered: 2 });
    const later = await importDataset(sql, dataset.id, userId);
    // The renamed file is night 1's: a new recording had been registered for it, with none of its work, and night 1 left missing.
    expect(later.moved).toEqual([{ from: "2024-05/night 1.wav", path: "site A/Pipistrellus night 1.wav", recording_id: night1 }]);
    expect(later.registered.map((r) => r.path)).toEqual(["night 2 copy.wav"]);
    const copy = later.registered[0].recording_id;
    // The copy is registered, and said to be one (it was registered without a word).
    expect(later.duplicates).toEqual([{
      hash: createHash("md5").update(readFileSync(join(dir, "night 2 copy.wav"))).digest("hex"),
      recordings: [{ path: "2024-05/night 2.wav", recording_id: idOf("2024-05/night 2.wav"), state: "active" }, { path: "night 2 copy.wav", recording_id: copy, state: "active" }],
    }]);
    expect(later.missing.map((f) => [f.path, f.recording_id])).toEqual([["2024-05/night 3.wav", idOf("2024-05/night 3.wav")]]);
    const moved = await getRecording(sql, night1);
    expect(moved).toMatchObject({ path: "site A/Pipistrellus night 1.wav", tags: [{ key: "species", value: "Pipistrellus" }], features: [{ name: "call_count", value: 12 }], notes: [{ id: note.id }] });
    // The file's time as it is now: the next read takes the file as the registered one, not as modified (a hash, or a 409).
    expect((await getRecordingLocation(sql, night1)).file_mtime).toBe(statSync(join(dir, "site A", "Pipistrellus night 1.wav")).mtimeMs);
    expect((await getClip(sql, clip.id)).recording_id).toBe(night1);
    expect((await scanDataset(sql, dataset.id)).counts).toEqual({ registered: 3, missing: 1, unregistered: 0 });
    const [listed] = (await listDatasets(sql, { state: "active", sort: "name", order: "asc", limit: 10, offset: 0, search: "months" })).items;
    expect(listed.recording_count).toBe(4); // the three of the first import and the copy
    // A trashed recording's file moved is that recording still, not a new one.
    await setState(sql, "recordings", copy, "trashed");
    await rename(join(dir, "night 2 copy.wav"), join(dir, "2024-05", "night 2 copy.wav"));
    const again = await importDataset(sql, dataset.id, userId);
    expect([again.registered, again.moved]).toEqual([[], [{ from: "night 2 copy.wav", path: "2024-05/night 2 copy.wav", recording_id: copy }]]);
    expect(await getRecording(sql, copy)).toMatchObject({ path: "2024-05/night 2 copy.wav", state: "trashed" });
  });

  it("of two recordings of the same bytes both gone, gives a moved file to the one of its name: the copy's had taken it, and the original's work stayed missing", async () => {
    const dir = join(scratch.path, "copies");
    await mkdir(dir);
    await writeSineWav(join(dir, "a.wav"), 8000, 0.2, 1000);
    await copyFile(join(dir, "a.wav"), join(dir, "a-copy.wav")); // '-' sorts before '.': the copy is first by path
    const dataset = await createDataset(sql, { name: "copies", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    const { registered, duplicates } = await importDataset(sql, dataset.id, userId);
    expect(duplicates.map((g) => g.recordings.map((r) => r.path))).toEqual([["a-copy.wav", "a.wav"]]);
    const [copy, original] = registered.map((r) => r.recording_id);
    // The copy deleted, the original moved into a folder.
    await rm(join(dir, "a-copy.wav"));
    await mkdir(join(dir, "site"));
    await rename(join(dir, "a.wav"), join(dir, "site", "a.wav"));
    const later = await importDataset(sql, dataset.id, userId);
    expect(later.moved).toEqual([{ from: "a.wav", path: "site/a.wav", recording_id: original }]);
    expect(later.missing.map((f) => f.recording_id)).toEqual([copy]);
  });

  it("hints in a scan where a missing recording's file may have moved: the unregistered files of its size (no hashing); the import then decides by MD5", async () => {
    const dir = join(scratch.path, "hints");
    await mkdir(join(dir, "site B"), { recursive: true });
    await writeSineWav(join(dir, "a.wav"), 8000, 0.2, 1000);
    await writeSineWav(join(dir, "b.wav"), 8000, 0.3, 1000);
    const dataset = await createDataset(sql, { name: "hints", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    const { registered } = await importDataset(sql, dataset.id, userId);
    const [a, b] = registered.map((r) => r.recording_id);
    // a.wav moved and renamed; another take of its length beside it; b.wav deleted.
    await rename(join(dir, "a.wav"), join(dir, "site B", "a 2.wav"));
    await writeSineWav(join(dir, "other take.wav"), 8000, 0.2, 3000);
    await rm(join(dir, "b.wav"));
    await writeSineWav(join(dir, "b edited.wav"), 8000, 0.3, 2000); // as b.wav, with other bytes
    const scan = await scanDataset(sql, dataset.id);
    // It said only `missing`, and a curator could delete the recording before the import that follows it.
    expect(scan.files.map((f) => [f.path, f.status, f.recording_id, f.possibly_moved_to])).toEqual([
      ["a.wav", "missing", a, ["other take.wav", "site B/a 2.wav"]],
      ["b edited.wav", "unregistered", null, []],
      ["b.wav", "missing", b, ["b edited.wav"]],
      ["other take.wav", "unregistered", null, []],
      ["site B/a 2.wav", "unregistered", null, []],
    ]);
    const imported = await importDataset(sql, dataset.id, userId);
    expect(imported.moved).toEqual([{ from: "a.wav", path: "site B/a 2.wav", recording_id: a }]);
    // The import hashed b edited.wav: other bytes, so a new recording, named beside the one missing.
    expect(imported.registered.map((r) => r.path)).toEqual(["b edited.wav", "other take.wav"]);
    expect(imported.missing.map((f) => [f.path, f.possibly_moved_to])).toEqual([["b.wav", ["b edited.wav"]]]);
    // A recorder's files are all of one size: a missing recording names the first ten, not every one.
    await mkdir(join(dir, "minutes"));
    for (let i = 0; i < 12; i++) await writeSineWav(join(dir, "minutes", `m${String(i).padStart(2, "0")}.wav`), 8000, 0.3, 1100 + 10 * i);
    const crowded = (await scanDataset(sql, dataset.id)).files.find((f) => f.path === "b.wav")!;
    expect(crowded.possibly_moved_to).toEqual(Array.from({ length: 10 }, (_, i) => `minutes/m0${i}.wav`)); // of 12
  });

  it("says in a scan whose recording a registered file is and in what state: a trashed one's file is registered until the trash is purged, then unregistered", async () => {
    const dir = join(scratch.path, "trashed");
    await mkdir(dir);
    await writeSineWav(join(dir, "keep.wav"), 8000, 0.2, 1000);
    await writeSineWav(join(dir, "noise.wav"), 8000, 0.2, 2000);
    const dataset = await createDataset(sql, { name: "trashed", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    const { registered } = await importDataset(sql, dataset.id, userId);
    const [keep, noise] = registered.map((r) => r.recording_id);
    await setState(sql, "recordings", noise, "trashed");
    const states = async () => (await scanDataset(sql, dataset.id)).files.map((f) => [f.path, f.status, f.recording_state]);
    // It said only `registered`, as for any recording the dataset lists.
    expect(await states()).toEqual([["keep.wav", "registered", "active"], ["noise.wav", "registered", "trashed"]]);
    await sql`UPDATE recordings SET state_changed_at = now() - interval '1 hour' WHERE id = ${noise}`;
    await purgeTrashed(sql, 60);
    expect(await states()).toEqual([["keep.wav", "registered", "active"], ["noise.wav", "unregistered", null]]);
    expect((await getRecording(sql, keep)).state).toBe("active");
  });

  it("finds a path and a tag by a search typed in either Unicode form: a macOS file name has its accents decomposed", async () => {
    const dir = join(scratch.path, "unicode");
    await mkdir(dir);
    const decomposed = "cafe\u0301 nocturne.wav"; // as a Mac writes "café nocturne.wav" (NFD)
    await writeSineWav(join(dir, decomposed), 8000, 0.2, 1000);
    const dataset = await createDataset(sql, { name: "unicode", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    const [{ recording_id }] = (await importDataset(sql, dataset.id, userId)).registered;
    await addRecordingTag(sql, recording_id, { key: "site", value: "Ñandú", created_by: userId });
    const found = async (search: string) => (await listRecordings(sql, { dataset_id: dataset.id, search, state: "active", sort: "path", order: "asc", limit: 10, offset: 0 })).items.map((r) => r.id);
    // "café" as a keyboard types it found nothing.
    for (const search of ["café", "CAFÉ", "cafe\u0301"]) expect(await found(search), search).toEqual([recording_id]);
    expect((await listTags(sql, { key: "site", search: "N\u0303andu\u0301", limit: 10, offset: 0 })).items.map((t) => t.value)).toEqual(["Ñandú"]);
  });

  it.skipIf(!REAL_PG_URL)("searches paths in a database whose encoding is not UTF8: PostgreSQL's normalize() refuses one, and every search with a recording was an error", async () => {
    const name = `sonotile_ascii_${process.pid}`;
    const server = await openDatabase({ url: REAL_PG_URL, migrate: false, poolSize: 1 });
    await server.sql.unsafe(`CREATE DATABASE ${name} ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'`);
    const url = new URL(REAL_PG_URL!);
    url.pathname = `/${name}`;
    const ascii = await openDatabase({ url: url.href, poolSize: 1 });
    try {
      const dir = join(scratch.path, "ascii");
      await mkdir(dir);
      await writeSineWav(join(dir, "nuit café.wav"), 8000, 0.2, 1000);
      const dataset = await createDataset(ascii.sql, { name: "ascii", audio_dir: await resolveAudioDir(roots, dir), created_by: null });
      const [{ recording_id }] = (await importDataset(ascii.sql, dataset.id, null)).registered;
      const page = await listRecordings(ascii.sql, { search: "café", state: "active", sort: "path", order: "asc", limit: 10, offset: 0 });
      expect(page.items.map((r) => r.id)).toEqual([recording_id]);
    } finally {
      await ascii.close();
      await server.sql.unsafe(`DROP DATABASE ${name}`);
      await server.close();
    }
  });

  it("does not import files that are symlinks out of the dataset directory", async () => {
    const dataset = await createDataset(sql, { name: "scratch", audio_dir: join(roots[1], "inside"), created_by: userId });
    const scan = await scanDataset(sql, dataset.id);
    expect(scan.files.map((f) => f.path)).toEqual(["a.wav"]);
    const result = await importDataset(sql, dataset.id, userId);
    expect(result.registered.map((r) => r.path)).toEqual(["a.wav"]);
    const rec = await getRecording(sql, result.registered[0].recording_id);
    expect(rec).toMatchObject({ samplerate: 8000, frames: 2000, channels: 1 });
  });
});

// Last: its dataset at the scratch root would change what the refusals of nested directories above name.
describe("a season of recorder files", () => {
  it("imports many files in a few statements per batch of files, not a transaction per file", async () => {
    // A season's recorder files: 300 short ones in three folders (30,000 took 150,000 round trips).
    const dir = join(scratch.path, "season");
    for (let i = 0; i < 300; i++) {
      await mkdir(join(dir, `site${i % 3}`), { recursive: true });
      await writeSineWav(join(dir, `site${i % 3}`, `REC_${String(i).padStart(3, "0")}.WAV`), 8000, 0.01, 100 + i);
    }
    const dataset = await createDataset(sql, { name: "season", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    statementsSent = 0;
    const result = await importDataset(sql, dataset.id, userId);
    const sent = statementsSent;
    expect(result.failed).toEqual([]);
    expect(result.registered).toHaveLength(300);
    expect(result.duplicates).toEqual([]);
    // Before: five statements a file (BEGIN, the dataset's check, INSERT, the recording read back, COMMIT), 1,500 and more.
    expect(sent).toBeLessThan(300 / 10);
    const page = await listRecordings(sql, { dataset_id: dataset.id, state: "active", sort: "path", order: "asc", limit: 1000, offset: 0 });
    expect(page.items.map((r) => r.path)).toEqual(result.registered.map((r) => r.path));
    const bytes = readFileSync(join(dir, "site1", "REC_001.WAV"));
    expect(page.items.find((r) => r.path === "site1/REC_001.WAV")).toMatchObject({
      id: result.registered.find((r) => r.path === "site1/REC_001.WAV")!.recording_id,
      hash: createHash("md5").update(bytes).digest("hex"), file_size: bytes.length, samplerate: 8000, frames: 80, channels: 1,
      time_expansion: 1, run_id: result.run.id, created_by: userId, date: null, time: null, latitude: null, longitude: null,
    });
    // Again: nothing new, nothing registered twice.
    expect((await importDataset(sql, dataset.id, userId)).registered).toEqual([]);
    expect((await scanDataset(sql, dataset.id)).counts).toEqual({ registered: 300, missing: 0, unregistered: 0 });
  });

  it("fails only the file whose row the database refuses, registering the rest of its batch: one row failed the 200 of its batch", async () => {
    const dir = join(scratch.path, "refused");
    await mkdir(dir);
    for (const [i, name] of ["a.wav", "b.wav", "refused.wav", "c.wav"].entries()) await writeSineWav(join(dir, name), 8000, 0.01, 200 + i);
    const dataset = await createDataset(sql, { name: "refused", audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
    // A rule of the lab's own on the table, which no probe knows of (as a trigger of theirs would be).
    await sql`ALTER TABLE recordings ADD CONSTRAINT lab_rule CHECK (path <> 'refused.wav') NOT VALID`;
    const result = await importDataset(sql, dataset.id, userId).finally(() => sql`ALTER TABLE recordings DROP CONSTRAINT lab_rule`);
    expect(result.registered.map((r) => r.path)).toEqual(["a.wav", "b.wav", "c.wav"]);
    expect(result.failed).toEqual([{ path: "refused.wav", error: "lab_rule: violates the rule lab_rule" }]);
    expect((await scanDataset(sql, dataset.id)).files.map((f) => [f.path, f.status])).toEqual([
      ["a.wav", "registered"], ["b.wav", "registered"], ["c.wav", "registered"], ["refused.wav", "unregistered"],
    ]);
  });

  it("adds the new files of a dataset scanning it once: importNew's scan, which reads every new file's header, was made again by the import", async () => {
    const sent = async (name: string, add: (id: string) => Promise<unknown>) => {
      const dir = join(scratch.path, name);
      await mkdir(dir);
      for (let i = 0; i < 5; i++) await writeSineWav(join(dir, `${i}.wav`), 8000, 0.01, 300 + i);
      const dataset = await createDataset(sql, { name, audio_dir: await resolveAudioDir(roots, dir), created_by: userId });
      statementsSent = 0;
      expect(await add(dataset.id)).toMatchObject({ registered: expect.arrayContaining([expect.objectContaining({ path: "4.wav" })]) });
      return statementsSent;
    };
    const imported = await sent("imported once", (id) => importDataset(sql, id, userId));
    // Before: the import's statements and those of a second scan.
    expect(await sent("added once", (id) => importNew(sql, id, userId))).toBe(imported);
  });

  it("lists a deep page building the tags, features, owners and notes of the page's rows only", async () => {
    const [dataset] = (await listDatasets(sql, { state: "active", sort: "name", order: "asc", limit: 1, offset: 0, search: "season" })).items;
    const query = (q: Partial<Parameters<typeof listRecordings>[1]>) => listRecordings(sql, { dataset_id: dataset.id, state: "active", sort: "path", order: "asc", limit: 1000, offset: 0, ...q });
    const all = (await query({})).items;
    const tagged = all.filter((_, i) => i % 7 === 0);
    for (const r of tagged) await addRecordingTag(sql, r.id, { key: "species", value: r.path.endsWith("0.WAV") ? "wren" : "robin", created_by: userId });
    await setRecordingFeature(sql, all[285].id, { name: "snr_db", value: 12.5, created_by: userId });

    const page = await query({ limit: 10, offset: 280 });
    expect(page).toMatchObject({ total: 300, offset: 280, limit: 10 });
    expect(page.items.map((r) => r.id)).toEqual(all.slice(280, 290).map((r) => r.id));
    expect(page.items[5].features).toEqual([{ name: "snr_db", value: 12.5 }]);
    // Each feature aggregate reads recording_features once per row it is built for. Before: 290, the rows up to the page's end.
    expect(await mostReadsOf(sql, "recording_features", lastStatement!)).toBe(10);

    // Every sort and the filters give the slices of the whole list.
    for (const sort of RECORDING_SORTS) {
      for (const order of ["asc", "desc"] as const) {
        const whole = (await query({ sort, order })).items.map((r) => r.id);
        expect((await query({ sort, order, limit: 7, offset: 150 })).items.map((r) => r.id), `${sort} ${order}`).toEqual(whole.slice(150, 157));
      }
    }
    const ids = (rs: { id: string }[]) => rs.map((r) => r.id).sort();
    expect(ids((await query({ tag: { key: "species" } })).items)).toEqual(ids(tagged));
    const wrens = tagged.filter((r) => r.path.endsWith("0.WAV"));
    expect((await query({ tag: { key: "species", value: "wren" }, limit: 5, offset: 2 })).items.map((r) => r.id)).toEqual(wrens.slice(2, 7).map((r) => r.id));
    expect((await query({ tag: { key: "species", value: "wren" }, limit: 5, offset: 2 })).total).toBe(wrens.length);
    expect((await query({ search: "site2/REC_29", limit: 100 })).items.map((r) => r.path)).toEqual(["site2/REC_290.WAV", "site2/REC_293.WAV", "site2/REC_296.WAV", "site2/REC_299.WAV"]);
    // Past the end: no rows, the total still counted.
    expect(await query({ limit: 10, offset: 400 })).toMatchObject({ items: [], total: 300 });
  });

  it("lists a deep page of clips building the tags, features and notes of the page's rows only", async () => {
    const [dataset] = (await listDatasets(sql, { state: "active", sort: "name", order: "asc", limit: 1, offset: 0, search: "season" })).items;
    const recordings = (await listRecordings(sql, { dataset_id: dataset.id, state: "active", sort: "path", order: "asc", limit: 1000, offset: 0 })).items;
    // One clip in each 10 ms recording; starts repeat every ten and ends every seven, so sorts have ties (broken by id).
    for (const [i, r] of recordings.entries()) {
      await createClip(sql, { recording_id: r.id, start_time: (i % 10) * 0.0005, end_time: (i % 10) * 0.0005 + 0.001 + (i % 7) * 0.0001, created_by: userId });
    }
    const query = (q: Partial<Parameters<typeof listClips>[1]>) => listClips(sql, { dataset_id: dataset.id, state: "active", sort: "start_time", order: "asc", limit: 1000, offset: 0, ...q });
    const all = (await query({})).items;
    expect(all).toHaveLength(300);
    await setClipFeature(sql, all[285].id, { name: "snr_db", value: 7.5, created_by: userId });

    const page = await query({ limit: 10, offset: 280 });
    expect(page).toMatchObject({ total: 300, offset: 280, limit: 10 });
    expect(page.items.map((c) => c.id)).toEqual(all.slice(280, 290).map((c) => c.id));
    expect(page.items[5].features).toEqual([{ name: "snr_db", value: 7.5 }]);
    // Before: 290, the clips up to the page's end (the viewer's window of 1,000 clips, five pages, built ~3,000).
    expect(await mostReadsOf(sql, "clip_features", lastStatement!)).toBe(10);

    for (const sort of CLIP_SORTS) {
      for (const order of ["asc", "desc"] as const) {
        const whole = (await query({ sort, order })).items.map((c) => c.id);
        expect((await query({ sort, order, limit: 7, offset: 150 })).items.map((c) => c.id), `${sort} ${order}`).toEqual(whole.slice(150, 157));
      }
    }
    const window = all.filter((c) => c.start_time < 0.002 && c.end_time > 0.0015);
    expect((await query({ start_before: 0.002, end_after: 0.0015, limit: 5, offset: 3 })).items.map((c) => c.id)).toEqual(window.slice(3, 8).map((c) => c.id));
    expect(await query({ limit: 10, offset: 400 })).toMatchObject({ items: [], total: 300 });
  });
});

