/**
 * The store's check of the postgres.js it connects through (src/store/postgres-mend.ts): a copy
 * without sonotile's mend of porsager/postgres#1208 is refused, naming it, the files and the command
 * that mends them; the copy this repository resolves (mended by `npm ci`) passes. The package test
 * (test/package.test.ts) sees the refusal from a command of an installed package.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EDITS, postgresRoot } from "../scripts/patch-postgres.mjs";
import { PostgresUnmendedError } from "../src/store/errors.js";
import { checkPostgresMended } from "../src/store/postgres-mend.js";
import { ROOT } from "./golden.js";

const dir = mkdtempSync(join(tmpdir(), "sonotile-mend-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("checkPostgresMended", () => {
  it("passes the postgres.js the store loads", () => {
    expect(() => checkPostgresMended()).not.toThrow();
  });

  it("refuses a copy whose connection.js lacks the guard, naming the copy, the file and the command that mends it", () => {
    const copy = `${join(dir, "postgres")}/`;
    cpSync(postgresRoot(), copy, { recursive: true });
    const file = `${copy}cjs/src/connection.js`;
    writeFileSync(file, EDITS.reduce((source, [before, after]) => source.replace(after, before), readFileSync(file, "utf8")));
    expect(() => checkPostgresMended(copy)).toThrow(PostgresUnmendedError);
    expect(() => checkPostgresMended(copy)).toThrow(
      `postgres.js 3.4.9 in ${copy} lacks sonotile's mends of porsager/postgres#1208 and #499 (in cjs/src/connection.js): ` +
        `a connection closed under a write would end this process with an uncaught TypeError, and a COPY could hang. Mend it with \`node ${join(ROOT, "scripts/patch-postgres.mjs")}\``,
    );
  });
});
