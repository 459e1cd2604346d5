/**
 * @module One server per store: `serve` holds an exclusive SQLite lock on `<store>.lock` for as long as it
 * runs. The lock sits next to the real file (symbolic links resolved), so every path that leads to one store,
 * through a link or a bind-mounted folder, meets the same lock; a store with hard links is refused, since SQLite
 * would keep a separate WAL per name and corrupt it. The operating system drops the lock when the process dies,
 * kill -9 included, so a restart never waits on a stale lock; the store itself stays open to `payhook events` and
 * other readers.
 */
import { realpathSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { StoreError } from "../../errors.ts";
import type { SqlDatabase } from "../../runtime/types.ts";
import { createPrivate } from "./files.ts";

/** Takes the lock or throws StoreError; call the returned function to release it. */
export function lockStore(open: (path: string) => SqlDatabase, store: string): () => void {
  const real = realStorePath(store);
  const path = `${real}.lock`;
  createPrivate(path);
  const db = open(path);
  try {
    db.exec("PRAGMA busy_timeout=0");
    // Never committed: the exclusive lock lasts until the connection closes or the process ends.
    db.exec("BEGIN EXCLUSIVE");
  } catch (error) {
    db.close();
    // bun:sqlite says SQLITE_BUSY, node:sqlite "database is locked"; anything else is not about the lock.
    const { code, message } = error as { code?: string; message?: string };
    if (code !== "SQLITE_BUSY" && !/locked/i.test(message ?? "")) throw error;
    throw new StoreError(
      "store_in_use",
      `another payhook is serving the store ${store}${real === store ? "" : ` (${real})`} (it holds ${path}); two servers on one store would run every delivery twice, so stop the other one or give this one its own store`,
    );
  }
  return () => db.close();
}

/** The store's real path: symbolic links resolved, in the folder too when the file does not exist yet. */
function realStorePath(store: string): string {
  let links: number;
  try {
    links = statSync(store).nlink;
  } catch {
    // Not created yet: only its folder can be a link.
    try {
      return join(realpathSync(dirname(store)), basename(store));
    } catch {
      return store; // opening it will say what is wrong
    }
  }
  if (links > 1) {
    throw new StoreError(
      "store_hard_linked",
      `the store ${store} has ${links} hard links; SQLite keeps a journal per name, so two names for one store corrupt it (and would let two servers share it). Remove the other links, or copy the file`,
    );
  }
  return realpathSync(store);
}
