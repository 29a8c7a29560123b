/**
 * An exclusive lock on a directory, so that two sonotile servers never open one embedded
 * database (PGlite is single-process: two writers would corrupt it).
 *
 * The lock is a file created with O_EXCL holding the owner's pid, host and — while its
 * embedded database is being served — the path of that server's Unix socket, so that admin
 * CLI commands can talk to the running server's database instead of opening the files. Only
 * its owner may read it (0600). A lock left behind by a process that no longer exists (on
 * this host) is taken over — also when its pid has been given to another process since (after
 * a reboot, or a container whose server is always pid 1): the lock names the process by its
 * start (boot and start time, Linux /proc), not by its pid alone.
 */
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { link, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** What the lock file records about its owner. */
export interface LockOwner {
  pid: number;
  host: string;
  /** Unix socket of the owner's embedded database server, once it listens. */
  socket?: string;
  /** When the owner started (processStart): another process holding its pid since is not the owner. */
  start?: string;
  /**
   * The owner's PID namespace (Linux /proc/self/ns/pid): containers on one host may share its name
   * (host networking) but not their pids, so an owner in another namespace cannot be checked.
   */
  pidNamespace?: string;
}

/** This process's PID namespace (e.g. "pid:[4026531836]"), undefined where /proc does not tell. */
function pidNamespace(): string | undefined {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return undefined;
  }
}

/**
 * A process's start, unique on this host: the boot's id and the process's start time in clock
 * ticks since boot (field 22 of /proc/<pid>/stat); undefined where /proc does not tell.
 */
export function processStart(pid: number): string | undefined {
  try {
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After the command name (in parentheses, which may hold spaces) come fields 3, 4, …
    const ticks = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    return ticks ? `${boot}:${ticks}` : undefined;
  } catch {
    return undefined;
  }
}

/** This process, as a lock (or an import run, see runs.ts) records its owner. */
export function thisProcess(): LockOwner {
  return { pid: process.pid, host: hostname(), start: processStart(process.pid), pidNamespace: pidNamespace() };
}

/** The directory is locked by another live process. */
export class LockedError extends Error {
  override name = "LockedError";
  constructor(readonly dir: string, readonly owner: LockOwner) {
    super(`data directory ${dir} is in use by process ${owner.pid} on ${owner.host}; stop that server or use another --data directory`);
  }
}

export const LOCK_FILE = "sonotile.lock";

/** Reads the current owner of `dir`'s lock, or null when there is none (or it is unreadable). */
export async function readLock(dir: string): Promise<LockOwner | null> {
  try {
    const owner = JSON.parse(await readFile(join(dir, LOCK_FILE), "utf8")) as LockOwner;
    return typeof owner.pid === "number" && typeof owner.host === "string" ? owner : null;
  } catch {
    return null;
  }
}

/**
 * True when `owner` is a process that still exists: its pid is alive and, where the lock records
 * its start, the process with that pid started then. Another host's process — or another PID
 * namespace's, a container beside this one — cannot be checked, and is assumed alive.
 */
export function isAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  if (owner.pidNamespace !== undefined && owner.pidNamespace !== pidNamespace()) return true;
  if (owner.pid !== process.pid) {
    try {
      process.kill(owner.pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
    }
  }
  const now = owner.start === undefined ? undefined : processStart(owner.pid);
  return now === undefined || now === owner.start;
}

/**
 * Writes `owner` to a file beside `path` and `place`s it there. The file aside is removed whatever
 * happens, also when its own write fails: on a full disk the write created it and failed
 * (ENOSPC), and each start left an empty `sonotile.lock.<pid>.tmp` in the data directory.
 */
async function writeAtomically(path: string, owner: LockOwner, place: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(owner), { mode: 0o600 });
    await place(tmp);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** A held lock: `setSocket` publishes the database's socket, `release` removes the file. */
export interface DirLock {
  setSocket(socket: string): Promise<void>;
  release(): Promise<void>;
}

/** Takes the lock on `dir` (which must exist) or throws LockedError. */
export async function acquireLock(dir: string): Promise<DirLock> {
  const path = join(dir, LOCK_FILE);
  const owner = thisProcess();
  // Two attempts: the second after removing a stale lock. If another process wins that
  // race, its fresh lock makes our second O_EXCL open fail and we report it.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      // Written aside and hard-linked into place, so a reader never sees a half-written lock.
      await writeAtomically(path, owner, (tmp) => link(tmp, path));
      let released = false;
      return {
        async setSocket(socket) {
          owner.socket = socket;
          await writeAtomically(path, owner, (tmp) => rename(tmp, path));
        },
        async release() {
          if (released) return;
          released = true;
          const current = await readLock(dir);
          if (current && current.pid === owner.pid && current.host === owner.host) await rm(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const current = await readLock(dir);
      if (current && isAlive(current)) throw new LockedError(dir, current);
      await rm(path, { force: true });
    }
  }
  throw new LockedError(dir, (await readLock(dir)) ?? { pid: -1, host: "unknown" });
}
