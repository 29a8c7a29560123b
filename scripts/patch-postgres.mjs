#!/usr/bin/env node
/**
 * Mends postgres.js 3.4.9's connection.js: in the repository after every install that changed
 * node_modules (package.json's `dependencies` script, which npm runs for the project itself only)
 * and before packing (`prepack`), and by hand where an installation's copy is found unmended (the
 * store refuses to open on one: src/store/postgres-mend.ts).
 *
 * The write scheduler. A write under 1024 bytes is sent from a setImmediate (nextWrite). When the
 * connection closed meanwhile — a database restarted, a backend terminated, a proxy gone —
 * `closed()` has set the socket to null, and `socket.write` throws a TypeError from that callback:
 * an uncaught exception that no caller can catch. `sonotile serve` died of it within seconds of
 * repeated backend terminations (the job worker's transactions: `sql.begin` sends its ROLLBACK on
 * the dead connection). Reported upstream as porsager/postgres#1154 and #1208; this is the fix
 * proposed in porsager/postgres#1209: nextWrite without a socket rejects the queries it was to send
 * with CONNECTION_CLOSED instead of throwing, and closing or terminating a connection also drops
 * its pending bytes and timer, which otherwise stayed armed and kept the connection from ever
 * writing again (LanternOps/breeze#3225).
 *
 * COPY streams (`sonotile database copy`). A `COPY … TO STDOUT` stream pauses its connection's
 * socket when it holds more than its high-water mark and resumes it only from the stream's read(),
 * which Node no longer calls once the stream has ended or was destroyed:
 * - a COPY whose last rows came with its end (a table over 16 KiB) left the socket paused, and the
 *   connection's next statement waited for ever (porsager/postgres#499): the socket is resumed at
 *   CopyDone, as porsager/postgres#1016 proposes;
 * - a stream destroyed before its end (the other side of a pipeline failed) kept the connection in
 *   COPY for good, its socket paused, every later statement refused ("You cannot execute queries
 *   during copy") or waiting: the connection now reads the rest of the COPY and drops it;
 * - a `COPY … FROM STDIN` stream whose end was sent waits for the server's CommandComplete to
 *   finish; when the server refused the rows instead (a constraint, a bad value — found after the
 *   last row went out) or the connection closed, it waited for ever: it now fails with that error.
 *
 * The package ships the mended copy inside itself (package.json `bundleDependencies`) and has no
 * install script: as a `postinstall` this ran in a project that installed sonotile only where the
 * project let it (npm 11 warns of an unreviewed one, skips a denied one and any under
 * ignore-scripts, and fails the install under strict-allow-scripts), and a skipped one left the
 * crash in place without a word.
 *
 * Each edit is recognized by its own result, so a node_modules mended by an earlier version of this
 * script gets the edits it lacks. The edits are exact: a postgres.js whose source has neither an
 * edit's original text nor its result (another version) is refused loudly, so that an upgrade is
 * checked against these bugs instead of silently running unmended.
 */
import { readFileSync, realpathSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The files edited: the ES module sonotile imports, and its CommonJS build. */
const FILES = ["src/connection.js", "cjs/src/connection.js"];

/** [the text of connection.js as 3.4.9 has it, what it becomes, the upstream issue it mends]. */
export const EDITS = [
  // nextWrite without a socket rejects what it was to send, instead of throwing.
  [
    "  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)",
    "  function nextWrite(fn) {\n    /* sonotile: mended (porsager/postgres#1208) */\n    if (!socket) {\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n    const x = socket.write(chunk, fn)",
    "#1208",
  ],
  // terminate(): the pending bytes and the timer go with the connection.
  ["    clearImmediate(nextWriteTimer)\n    if (socket) {", "    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    if (socket) {", "#1208"],
  // closed(): likewise, before the socket is dropped.
  ["    clearImmediate(nextWriteTimer)\n    socket.removeListener('data', data)", "    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    socket.removeListener('data', data)", "#1208"],
  // CopyDone: the socket a full COPY stream paused reads again.
  [
    "  function CopyDone() {\n    stream && stream.push(null)\n    stream = null\n  }",
    "  function CopyDone() {\n    stream && stream.push(null)\n    stream = null\n    /* sonotile: mended (porsager/postgres#1016) */\n    socket.resume()\n  }",
    "#499",
  ],
  // A COPY TO STDOUT stream destroyed before its end: the rest of the COPY is read and dropped.
  [
    "    stream = new Stream.Readable({\n      read() { socket.resume() }\n    })",
    "    stream = new Stream.Readable({\n      read() { socket.resume() },\n      /* sonotile: mended (a COPY stream destroyed before its end) */\n      destroy(error, callback) {\n        stream === this && (stream = null, socket && socket.resume())\n        callback(error)\n      }\n    })",
    "#499",
  ],
  // errored(): a COPY FROM STDIN stream waiting for its CommandComplete fails with the error.
  [
    "  function errored(err) {\n    stream && (stream.destroy(err), stream = null)",
    "  function errored(err) {\n    stream && (stream.destroy(err), stream = null)\n    /* sonotile: mended (a COPY FROM STDIN refused after its end) */\n    final && (final(err), final = null)",
    "#499",
  ],
];

/**
 * `source` (a connection.js of postgres.js) with every edit it lacks made.
 * @throws Error naming the upstream issue of an edit whose original text it does not hold once
 */
function mended(source) {
  for (const [before, after, issue] of EDITS) {
    if (source.includes(after)) continue;
    if (source.split(before).length !== 2) throw new Error(`it is not the 3.4.9 source this patch was written for; check whether porsager/postgres${issue} is fixed there and update the script`);
    source = source.replace(before, after);
  }
  return source;
}

/**
 * The directory (with a trailing slash) of the postgres.js that code beside this script resolves —
 * sonotile's own copy, bundled or hoisted: its CommonJS entry is cjs/src/index.js, and the ES
 * module entry sonotile imports lies in the same package.
 */
export function postgresRoot() {
  return `${resolve(createRequire(import.meta.url).resolve("postgres"), "../../..")}/`;
}

/**
 * The postgres.js at `root` as it stands: its version and the files of FILES that lack an edit
 * (or are not the source the edits were written for).
 *
 * @param {string} root a package directory, with a trailing slash (postgresRoot())
 * @returns {{ version: string, unmended: string[] }}
 */
export function mendState(root) {
  const { version } = JSON.parse(readFileSync(`${root}package.json`, "utf8"));
  const lacking = (file) => {
    const source = readFileSync(root + file, "utf8");
    try {
      return mended(source) !== source;
    } catch {
      return true;
    }
  };
  return { version, unmended: FILES.filter(lacking) };
}

/**
 * Mends the postgres.js at `root` in place. Both copies are checked before either is written: a
 * refused one leaves neither half-mended.
 *
 * @param {string} root a package directory, with a trailing slash (postgresRoot())
 * @throws {Error} naming the file and the upstream issue of an edit whose original text it does not hold once
 */
function mend(root) {
  const { version } = JSON.parse(readFileSync(`${root}package.json`, "utf8"));
  const files = FILES.map((file) => {
    const source = readFileSync(root + file, "utf8");
    try {
      return { file, source, edited: mended(source) };
    } catch (err) {
      throw new Error(`postgres ${version}'s ${file}: ${err.message}`);
    }
  });
  for (const { file, source, edited } of files) if (edited !== source) writeFileSync(root + file, edited);
}

/** Whether this module runs as the script (also through a link to the package, as `npm link` makes: import.meta.url is the real path). */
function invokedAsScript() {
  try {
    return realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false; // no script path: `node -e`, a REPL
  }
}

if (invokedAsScript()) {
  try {
    mend(postgresRoot());
  } catch (err) {
    console.error(`scripts/patch-postgres.mjs: ${err.message}`);
    process.exit(1);
  }
}
