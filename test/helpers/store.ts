/** @module Reads a running (or stopped) payhook's store from a test, read-only, as `payhook events` would. */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import type { SqlValue } from "../../src/runtime/types.ts";

/** Rows of `sql` run against `<dir>/payhook.db`. */
export function queryStore<T = Record<string, unknown>>(dir: string, sql: string, ...params: SqlValue[]): T[] {
  const db = new Database(join(dir, "payhook.db"), { readonly: true });
  try {
    return db.prepare(sql).all(...(params as never[])) as T[];
  } finally {
    db.close();
  }
}
