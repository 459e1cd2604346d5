/**
 * @module The store's files are private: event bodies hold customers' names, emails and addresses. payhook
 * creates the database and its lock file 0600 whatever the umask; SQLite gives the -wal and -shm files the
 * database's own mode. An existing store that others can read is left as it is (changing an operator's modes
 * behind their back could break their backups) but named in a warning at every start.
 */
import { closeSync, fchmodSync, openSync, statSync } from "node:fs";

const PRIVATE = 0o600;

/** Creates `path` empty and 0600 if it does not exist; SQLite then opens it as a new database. */
export function createPrivate(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, "wx", PRIVATE);
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST") return;
    throw error;
  }
  try {
    fchmodSync(fd, PRIVATE); // the umask may have taken bits away, or left more than asked for
  } finally {
    closeSync(fd);
  }
}

/** Those of the store's files that exist and that users other than the owner can read or write, with their mode. */
export function exposedStoreFiles(store: string): string[] {
  const exposed: string[] = [];
  for (const path of [store, `${store}-wal`, `${store}-shm`, `${store}.lock`]) {
    let mode: number;
    try {
      mode = statSync(path).mode & 0o777;
    } catch {
      continue;
    }
    if ((mode & 0o077) !== 0) exposed.push(`${path} (${mode.toString(8).padStart(4, "0")})`);
  }
  return exposed;
}
