/**
 * @module One server per store: `serve` holds an exclusive SQLite lock on `<store>.lock` for as long as it
 * runs. The operating system drops the lock when the process dies, kill -9 included, so a restart never waits
 * on a stale lock; the store itself stays open to `payhook events` and other readers.
 */
import { StoreError } from "../../errors.ts";
import type { SqlDatabase } from "../../runtime/types.ts";

/** Takes the lock or throws StoreError; call the returned function to release it. */
export function lockStore(open: (path: string) => SqlDatabase, store: string): () => void {
  const path = `${store}.lock`;
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
      `another payhook is serving the store ${store} (it holds ${path}); two servers on one store would run every delivery twice, so stop the other one or give this one its own store`,
    );
  }
  return () => db.close();
}
