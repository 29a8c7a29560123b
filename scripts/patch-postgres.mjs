#!/usr/bin/env node
/**
 * Mends postgres.js 3.4.9 after `npm ci` (package.json `postinstall`), in its connection.js.
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
 * Each edit is recognized by its own result, so a node_modules mended by an earlier version of this
 * script gets the edits it lacks. The edits are exact: a postgres.js whose source has neither an
 * edit's original text nor its result (another version) fails the install loudly, so that an
 * upgrade is checked against these bugs instead of silently running unmended.
 */
import { readFileSync, realpathSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

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

// Run (postinstall), not imported (test/patch-postgres.test.ts reads EDITS).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // The package as this project resolves it (hoisted or not): its CommonJS entry is cjs/src/index.js.
  const root = `${resolve(createRequire(import.meta.url).resolve("postgres"), "../../..")}/`;
  const { version } = JSON.parse(readFileSync(`${root}package.json`, "utf8"));
  // Both copies are checked before either is written: a failed install leaves neither half-mended.
  const files = ["src/connection.js", "cjs/src/connection.js"].map((file) => {
    const source = readFileSync(root + file, "utf8");
    try {
      return { file, source, edited: mended(source) };
    } catch (err) {
      console.error(`scripts/patch-postgres.mjs: postgres ${version}'s ${file}: ${err.message}`);
      process.exit(1);
    }
  });
  for (const { file, source, edited } of files) if (edited !== source) writeFileSync(root + file, edited);
}
