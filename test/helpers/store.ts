/** @module Reads a running (or stopped) payhook's store from a test, read-only, as `payhook events` would. */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import type { SqlValue } from "../../src/runtime/types.ts";

/** Rows of `sql` run against `<dir>/payhook.db`. */
export function queryStore<T = Record<string, unknown>>(dir: string, sql: string, ...params: SqlValue[]): T[] {
  const db = new Database(join(dir, "payhook.db"), { readonly: true });
  try {
    // The server may hold the write lock (a checkpoint, the search index behind the ack): wait as it would.
    db.exec("PRAGMA busy_timeout=5000");
    return db.prepare(sql).all(...(params as never[])) as T[];
  } finally {
    db.close();
  }
}
