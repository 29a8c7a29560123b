/**
 * The store's check of the postgres.js it connects through. Unmended (scripts/patch-postgres.mjs),
 * postgres.js 3.4.9 throws an uncaught TypeError when a small write fires after its connection
 * closed (porsager/postgres#1208), ending the process: `sonotile serve` died within seconds of
 * repeated backend terminations. The package bundles a mended copy; where an installation put
 * another in its place — an `overrides` entry, a package manager that ignores bundled
 * dependencies, the repository installed with --ignore-scripts — the store refuses to open,
 * naming the command that mends it, rather than run until the first lost connection.
 */
import { fileURLToPath } from "node:url";
import { mendState, postgresRoot } from "../../scripts/patch-postgres.mjs";
import { PostgresUnmendedError } from "./errors.js";

/** The mending script as the package ships it (src/store and dist/store are both two levels down). */
const MEND_SCRIPT = fileURLToPath(new URL("../../scripts/patch-postgres.mjs", import.meta.url));

/**
 * Throws PostgresUnmendedError unless the postgres.js at `root` has every edit of scripts/patch-postgres.mjs.
 *
 * @param root the package directory, with a trailing slash; default the copy sonotile resolves
 */
export function checkPostgresMended(root: string = postgresRoot()): void {
  const { version, unmended } = mendState(root);
  if (unmended.length === 0) return;
  throw new PostgresUnmendedError(
    `postgres.js ${version} in ${root} lacks sonotile's mends of porsager/postgres#1208 and #499 (in ${unmended.join(", ")}): ` +
      `a connection closed under a write would end this process with an uncaught TypeError, and a COPY could hang. Mend it with \`node ${MEND_SCRIPT}\``,
  );
}
