#!/usr/bin/env node
/**
 * Mends postgres.js 3.4.9's write scheduler after `npm ci` (package.json `postinstall`).
 *
 * A write under 1024 bytes is sent from a setImmediate (nextWrite). When the connection closed
 * meanwhile — a database restarted, a backend terminated, a proxy gone — `closed()` has set the
 * socket to null, and `socket.write` throws a TypeError from that callback: an uncaught exception
 * that no caller can catch. `sonotile serve` died of it within seconds of repeated backend
 * terminations (the job worker's transactions: `sql.begin` sends its ROLLBACK on the dead
 * connection). Reported upstream as porsager/postgres#1154 and #1208; this is the fix proposed in
 * porsager/postgres#1209: nextWrite without a socket rejects the queries it was to send with
 * CONNECTION_CLOSED instead of throwing, and closing or terminating a connection also drops its
 * pending bytes and timer, which otherwise stayed armed and kept the connection from ever writing
 * again (LanternOps/breeze#3225).
 *
 * The edits are exact: a postgres.js whose source differs (another version) fails the install
 * loudly, so that an upgrade is checked against the bug instead of silently running unmended.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

// The package as this project resolves it (hoisted or not): its CommonJS entry is cjs/src/index.js.
const ROOT = `${resolve(createRequire(import.meta.url).resolve("postgres"), "../../..")}/`;
const MARK = "/* sonotile: mended (porsager/postgres#1208) */";
/** [the text of connection.js as 3.4.9 has it, what it becomes]. */
const EDITS = [
  // nextWrite without a socket rejects what it was to send, instead of throwing.
  [
    "  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)",
    `  function nextWrite(fn) {\n    ${MARK}\n    if (!socket) {\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n    const x = socket.write(chunk, fn)`,
  ],
  // terminate(): the pending bytes and the timer go with the connection.
  ["    clearImmediate(nextWriteTimer)\n    if (socket) {", "    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    if (socket) {"],
  // closed(): likewise, before the socket is dropped.
  ["    clearImmediate(nextWriteTimer)\n    socket.removeListener('data', data)", "    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    socket.removeListener('data', data)"],
];

const { version } = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8"));
for (const file of ["src/connection.js", "cjs/src/connection.js"]) {
  let source = readFileSync(ROOT + file, "utf8");
  if (source.includes(MARK)) continue;
  for (const [before, after] of EDITS) {
    if (source.split(before).length !== 2) {
      console.error(`scripts/patch-postgres.mjs: postgres ${version}'s ${file} is not the 3.4.9 source this patch was written for; check whether porsager/postgres#1208 is fixed there and update the script`);
      process.exit(1);
    }
    source = source.replace(before, after);
  }
  writeFileSync(ROOT + file, source);
}
