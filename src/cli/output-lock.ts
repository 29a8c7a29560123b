/**
 * A run's exclusive claim on its `-o` (`sonotile extract`): a lock file beside the output and its
 * resume file (`-o features.csv`: `features.csv.lock`), created with O_EXCL and holding who made
 * it — pid, host, start time, command line. Two runs on one -o (overlapping cron runs, two
 * machines writing to one share) shared the resume file: the second took over the first's live
 * rows, and the first failed reading back rows that were no longer its own. The second run is now
 * refused before any work (exit 2, as the other refusals of the command line: SPEC §8), naming the
 * run that holds the claim.
 */
import { readFileSync, rmSync } from "node:fs";
import { link, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isAlive, thisProcess, type LockOwner } from "../store/lock.js";
import { UsageError } from "./errors.js";
import { onSignalEnd, outputError } from "./output-file.js";

/** What the lock file says it is, so that no other file is taken for one. */
const LOCK_KIND = "sonotile extract lock";

/** The content of a lock file: the run that holds the claim — as the data directory's lock names its owner (its start too: a pid given to another process since, after a reboot, is not the run's). */
interface LockHolder extends LockOwner {
  kind: typeof LOCK_KIND;
  /** ISO 8601, UTC. */
  started: string;
  command: string;
}

/** The lock file of `output`: `features.csv.lock` beside `features.csv` (and its `features.csv.resume.json`). */
export function outputLockPath(output: string): string {
  return join(dirname(output), `${basename(output)}.lock`);
}

/** A claim held: release it once the run is over (a signal's end releases it by itself). */
export interface OutputClaim {
  /** Removes the lock file if it is still this run's (synchronous: it runs as a signal ends the process too). */
  release(): void;
}

/**
 * Why a lock file cannot be made where its directory takes no changes (permission, a read-only file
 * system): there no run can write the resume file either, so there is nothing to share — the run
 * goes on unclaimed, as before (-o a link out of such a directory; --resume then refuses the
 * directory, naming it).
 */
const UNWRITABLE_DIRECTORY = new Set(["EACCES", "EPERM", "EROFS"]);
const UNCLAIMED = Symbol("unclaimed");

/** Reads of a lock file found empty before it is refused: its maker writes it just after creating it. */
const EMPTY_LOCK_RETRIES = 5;

/**
 * Claims `output` for this run: creates its lock file (O_EXCL). A lock left by a run of this host
 * that no longer runs (a crash, SIGKILL, a reboot: isAlive, as the data directory's lock) is taken
 * over, said on stderr with `say`.
 * @param command the command line, for the lock file (what a refused run names)
 * @throws UsageError (exit 2) naming the run that holds it — pid, host, since when — and the lock
 * file: wait for it, or, when it is another host's and no longer runs there, remove the file
 */
export async function claimOutput(output: string, command: string, say: (line: string) => void): Promise<OutputClaim> {
  const path = outputLockPath(output);
  const mine: LockHolder = { kind: LOCK_KIND, ...thisProcess(), started: new Date().toISOString(), command };
  const text = JSON.stringify(mine) + "\n";
  for (let emptyReads = 0; ; ) {
    const handle = await open(path, "wx").catch((err: NodeJS.ErrnoException) => (err.code === "EEXIST" ? null : err.code && UNWRITABLE_DIRECTORY.has(err.code) ? UNCLAIMED : Promise.reject(outputError(path, err))));
    if (handle === UNCLAIMED) return { release: () => undefined };
    if (handle) {
      try {
        await handle.writeFile(text);
      } catch (err) {
        await handle.close();
        await rm(path, { force: true });
        throw outputError(path, err as NodeJS.ErrnoException);
      }
      await handle.close();
      return heldClaim(path, text);
    }
    const found = await readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? null : Promise.reject(outputError(path, err))));
    if (found === null) continue; // released between the create and the read
    if (found === "" && emptyReads++ < EMPTY_LOCK_RETRIES) {
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    const holder = lockHolder(found);
    if (!holder) throw new UsageError(`${path} is not a lock of sonotile extract (it claims ${output} for the run that made it); remove it if no run is writing ${output}, then run again`);
    if (holder.host !== mine.host) {
      throw new UsageError(`another run is writing ${output}: pid ${holder.pid} on host ${holder.host}, since ${holder.started} (${holder.command}); its lock is ${path}. Whether it still runs cannot be told from ${mine.host}: wait for it to end, or, if it no longer runs there, remove ${path} and run again`);
    }
    if (isAlive(holder)) {
      throw new UsageError(`another run is writing ${output}: pid ${holder.pid} on this host (${holder.host}), since ${holder.started} (${holder.command}); its lock is ${path}. Wait for it to end (its --resume is refused too: its rows are still being written), or write to another -o`);
    }
    // Left by a run of this host that no longer runs: moved aside by a rename, which one of two runs
    // taking it over at once wins. A read-compare-remove let both win, the second removing the
    // first's new lock. What was moved aside and is not that stale lock — another run's, made since —
    // is put back (link: only where no lock is again).
    const aside = `${path}.${process.pid}.stale`;
    const moved = await rename(path, aside).then(() => true, (err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? false : Promise.reject(outputError(path, err))));
    if (!moved) continue;
    const taken = await readFile(aside, "utf8").catch(() => null);
    if (taken !== found) await link(aside, path).catch(() => undefined);
    await rm(aside, { force: true });
    if (taken === found) say(`sonotile extract: took over ${path}, left by pid ${holder.pid} (no longer running on ${holder.host}) since ${holder.started}`);
  }
}

/** The claim of the lock file at `path`, which holds `text`: released at the run's end, or as a signal ends it. */
function heldClaim(path: string, text: string): OutputClaim {
  const release = () => {
    stopWatching();
    // Only this run's: a lock removed by hand during the run and made by another run since is that run's.
    // Never throws: a signal's end must go on to end the run (a lock that stays is taken over as stale).
    try {
      if (readFileSync(path, "utf8") === text) rmSync(path, { force: true });
    } catch {
      // Gone already, or its directory no longer takes changes.
    }
  };
  const stopWatching = onSignalEnd(release);
  return { release };
}

/** The holder a lock file's `text` names, or null when it is not a lock file. */
function lockHolder(text: string): LockHolder | null {
  try {
    const value = JSON.parse(text) as LockHolder;
    return value?.kind === LOCK_KIND && Number.isInteger(value.pid) && typeof value.host === "string" ? value : null;
  } catch {
    return null;
  }
}
