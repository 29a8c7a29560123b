/**
 * The key of a new database's first admin (store/users.ts ensureAdmin), delivered one way by
 * every command that makes it — `serve`, `dataset add`, and `token create` when the token it was
 * asked for is another's. A terminal shows it and keeps it nowhere: printed. Any other stdout is
 * kept by whatever reads it — systemd's journal (readable by the adm and systemd-journal groups),
 * `docker logs`, a provisioning script's log — so the key would sit in a log for as long as the log
 * does: it is written to `admin-token` in the data directory instead, never printed. (`dataset add`
 * printed it to any stdout, where such a script's log kept it.)
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** A first admin's key and where it went: printed (`why` it is, if not by choice), or in the file `path`. */
export interface DeliveredAdminKey {
  key: string;
  to: { print: true; why?: string } | { print: false; path: string };
}

/**
 * Delivers the new database's admin key `key`: printed by the caller when stdout is a terminal,
 * else written to `admin-token` in `dataDir` (mode 0600; the directory keeps its mode, 0700 when
 * it holds the embedded database), read from there once. A file of an earlier database there is
 * replaced. If the file cannot be written the key is printed all the same (a lost key would leave
 * the API without an admin until `sonotile token create`), saying why.
 */
export async function deliverAdminKey(key: string, dataDir: string): Promise<DeliveredAdminKey> {
  if (process.stdout.isTTY === true) return { key, to: { print: true } };
  const path = join(dataDir, "admin-token");
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    // Removed first: an existing file keeps its own mode through a write, and "wx" follows no link put in its place.
    await rm(path, { force: true });
    await writeFile(path, key + "\n", { mode: 0o600, flag: "wx" });
    return { key, to: { print: false, path } };
  } catch (err) {
    return { key, to: { print: true, why: `it could not be written to ${path} (${(err as Error).message}), so it is printed here and whatever keeps this output has it: once you have another admin token, disable this one (sonotile token list, sonotile token disable ID)` } };
  }
}

/** The lines that say where `admin`'s key went (or show it), with a request using it when the server's `address` is known. */
export function adminKeyLines(admin: DeliveredAdminKey, address?: string): string[] {
  if (!admin.to.print) {
    const { path } = admin.to;
    return [`admin token (shown once) written to ${path} (mode 0600), not printed: this output is no terminal, and a service manager's or script's log would keep it — read it, store it, delete the file`, ...(address ? [`  e.g. curl -H "Authorization: Bearer $(cat ${path})" ${address}/v1/users/me`] : [])];
  }
  return [`admin token (shown once — store it now): ${admin.key}`, ...(admin.to.why ? [`  (${admin.to.why})`] : []), ...(address ? [`  e.g. curl -H "Authorization: Bearer ${admin.key}" ${address}/v1/users/me`] : [])];
}

/** `admin`'s key as a `--json` document carries it: `admin_token` where it is printed, `admin_token_file` where it was written. */
export function adminKeyFields(admin: DeliveredAdminKey): { admin_token: string } | { admin_token_file: string } {
  return admin.to.print ? { admin_token: admin.key } : { admin_token_file: admin.to.path };
}
