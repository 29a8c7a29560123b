/**
 * Directories of recordings, listed for a dataset's scan and for `sonotile extract`: entries by
 * name, and apart from them the names no path of ours can carry.
 */
import { readdir } from "node:fs/promises";

export interface DirectoryEntry {
  name: string;
  isFile: boolean;
  isDirectory: boolean;
  isSymbolicLink: boolean;
  /** What it is when it is none of those (specialKind: a FIFO, a socket, a device); else null. */
  special: string | null;
}

/** What fs's Dirent and Stats tell of an entry's type. */
interface EntryType {
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}

/** An entry that is no regular file, directory or link, as messages name it ("a FIFO (named pipe)", "a socket", …); null for others. */
export function specialKind(e: EntryType): string | null {
  return e.isFIFO() ? "a FIFO (named pipe)" : e.isSocket() ? "a socket" : e.isCharacterDevice() ? "a character device" : e.isBlockDevice() ? "a block device" : null;
}

/**
 * Why an entry of `kind` (specialKind) named as audio is skipped, for the reports that list it: it
 * is said, never opened — a FIFO's open waits for a writer — where it had been left out unsaid.
 */
export function notRegularFile(kind: string): string {
  return `${kind}, not a regular file: it holds no recording`;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The entries of `dir` sorted by name, hidden ones left out — and apart, `undecodable`, those whose names are not valid
 * UTF-8 (Latin-1 from an older recorder or a Windows copy), named with their bytes outside
 * printable ASCII as \xNN, for messages only. Node decodes such a name with U+FFFD in place of those
 * bytes, a path that names nothing (ENOENT: a dataset with one such folder failed to scan at all),
 * and PostgreSQL text cannot hold it: these entries are reported, never opened.
 *
 * Hidden entries (a leading dot) hold no recordings: a drive written by macOS has an AppleDouble
 * "._x.wav" of metadata beside every recording, and .Trashes and .Spotlight-V100 at its top; taken
 * for recordings, each failed an import.
 */
export async function readDirectory(dir: string): Promise<{ entries: DirectoryEntry[]; undecodable: DirectoryEntry[] }> {
  const entries: DirectoryEntry[] = [];
  const undecodable: DirectoryEntry[] = [];
  for (const dirent of await readdir(dir, { withFileTypes: true, encoding: "buffer" })) {
    const bytes = dirent.name as unknown as Buffer;
    if (bytes[0] === 0x2e) continue; // "."
    const kind = { isFile: dirent.isFile(), isDirectory: dirent.isDirectory(), isSymbolicLink: dirent.isSymbolicLink(), special: specialKind(dirent) };
    try {
      entries.push({ name: UTF8.decode(bytes), ...kind });
    } catch {
      undecodable.push({ name: escapedName(bytes), ...kind });
    }
  }
  const byName = (a: DirectoryEntry, b: DirectoryEntry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return { entries: entries.sort(byName), undecodable: undecodable.sort(byName) };
}

/** The name's printable ASCII as it is, every other byte as \xNN. */
function escapedName(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("");
}

/** Why an entry of readDirectory's `undecodable` is skipped, for the reports that list it. */
export const UNDECODABLE_NAME = "its name is not valid UTF-8, so no path can name it (nor can the database store it): rename it, e.g. with `convmv -f latin1 -t utf8`";
