/**
 * Reading HTTP answers in the API tests: the parts of a multipart/byteranges body (RFC 9110
 * §14.6), split as RFC 2046 §5.1.1 defines multipart bodies, not by the lengths the server claims.
 */
import { afterAll, beforeAll } from "vitest";
import { buildApp, type App } from "../src/api/app.js";
import { ensureAdmin } from "../src/store/users.js";
import { freshDatabase, type TestDatabase } from "./store-helpers.js";

/** One body part: its headers (names lower-cased) and its bytes. */
export interface BodyPart {
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * The parts of a multipart body whose Content-Type (with its `boundary` parameter) is
 * `contentType`. A delimiter is CRLF, "--" and the boundary; the CRLF before the first one may be
 * left out; the last is followed by "--". Throws when the body does not end with that last delimiter.
 */
export function multipartParts(contentType: string, body: Buffer): BodyPart[] {
  const boundary = /;\s*boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const text = Buffer.concat([Buffer.from("\r\n"), body]);
  const parts: BodyPart[] = [];
  let at = text.indexOf(delimiter);
  if (at < 0) throw new Error("no delimiter in the body");
  for (;;) {
    const after = at + delimiter.length;
    if (text.subarray(after, after + 2).toString() === "--") {
      if (text.subarray(after + 2).toString() !== "\r\n") throw new Error("bytes after the closing delimiter");
      return parts;
    }
    const next = text.indexOf(delimiter, after);
    if (next < 0) throw new Error("no closing delimiter");
    const part = text.subarray(after + 2, next); // after the delimiter's CRLF
    const blank = part.indexOf("\r\n\r\n");
    const headers = Object.fromEntries(part.subarray(0, blank).toString("latin1").split("\r\n").map((line) => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    }));
    parts.push({ headers, body: part.subarray(blank + 4) });
    at = next;
  }
}

/** An app on a fresh embedded (or DATABASE_URL) database, its admin's header, and the database. */
export interface AdminApp {
  app: App;
  /** The admin's Authorization header: a token, as every route needs beyond loopback. */
  admin: { authorization: string };
  t: TestDatabase;
}

/**
 * An AdminApp built before the calling file's tests and closed after them (its fields are set in
 * the file's beforeAll): the OpenAPI walks' set-up, which three files wrote out alike.
 */
export function adminApp(): AdminApp {
  const fixture = {} as AdminApp;
  beforeAll(async () => {
    fixture.t = await freshDatabase();
    fixture.admin = { authorization: `Bearer ${(await ensureAdmin(fixture.t.db.sql))!.key}` };
    fixture.app = await buildApp({ database: fixture.t.db, audioRoots: [] });
  }, 60_000);
  afterAll(async () => {
    await fixture.app?.close();
    await fixture.t?.cleanup();
  });
  return fixture;
}
