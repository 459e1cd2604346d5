/**
 * @module The store a guarantee suite runs payhook on, so one suite's cases run on SQLite and on PostgreSQL
 * alike: the `store:` setting and environment to start with, reads of what was stored, and a dump of the
 * database for the sentinel scan (SQLite's file is in the server's folder, which the scan reads already).
 */
import postgres from "postgres";
import type { SqlValue } from "../../src/runtime/types.ts";
import { type Cluster, startCluster } from "./postgres.ts";
import { queryStore } from "./store.ts";

export interface TestStore {
  name: "sqlite" | "postgres";
  /** The config's `store:` value ({{dir}} is the server's folder). */
  setting: string;
  /** Environment for payhook (the database URL, with its password). */
  env: Record<string, string>;
  /** Rows of `sql` (with `?` placeholders) from the store of the server in `dir`. */
  query<T = Record<string, unknown>>(dir: string, sql: string, ...params: SqlValue[]): Promise<T[]>;
  /** Captured texts for the sentinel scan that are not files in the server's folder: every database row. */
  dump(): Promise<Record<string, string>>;
  /** Where the scan reports a sentinel found in the stored data. */
  where: RegExp;
  /** Starts what the store needs (a PostgreSQL cluster) and points it at a fresh database; once, in beforeAll. */
  start(): Promise<void>;
  /** Points the store at a fresh, empty database before a new server starts (SQLite: each server has its own folder). */
  fresh(): Promise<void>;
  close(): Promise<void>;
}

export const sqliteStore = (): TestStore => ({
  name: "sqlite",
  setting: "{{dir}}/payhook.db",
  env: {},
  query: async <T>(dir: string, sql: string, ...params: SqlValue[]) => queryStore<T>(dir, sql, ...params),
  dump: async () => ({}),
  where: /^SENTINEL in payhook\.db/,
  start: async () => {},
  fresh: async () => {},
  close: async () => {},
});

/**
 * PostgreSQL: on start(), a cluster of its own that checks passwords (one per test file) and a role whose
 * password is `password` (a sentinel, so the scan shows it was never written); a fresh database per server.
 */
export function postgresStore(password: string): TestStore {
  let cluster: Cluster | undefined;
  let databases = 0;
  let url = "";
  let sql: postgres.Sql | undefined;
  const connect = () => {
    sql ??= postgres(url, {
      max: 1,
      onnotice: () => {},
      connection: { search_path: "payhook" },
      types: { bigint: { to: 20, from: [20], serialize: String, parse: Number } },
    } as never);
    return sql;
  };
  const store = {
    name: "postgres" as const,
    setting: "${DATABASE_URL}",
    env: {} as Record<string, string>,
    async query<T>(_dir: string, text: string, ...params: SqlValue[]): Promise<T[]> {
      let n = 0;
      const rows = await connect().unsafe(
        text.replace(/\?/g, () => `$${++n}`),
        params as never[],
      );
      return [...rows] as T[];
    },
    async dump(): Promise<Record<string, string>> {
      const db = connect();
      const tables = await db`SELECT table_name FROM information_schema.tables WHERE table_schema = 'payhook'`;
      const lines: string[] = [];
      for (const { table_name } of tables) {
        for (const row of await db.unsafe(`SELECT * FROM payhook."${table_name}"`)) {
          // Bytes as bytes (latin1), so a sentinel inside an event body or an error is found as written.
          const values = Object.values(row).map((v) =>
            v instanceof Uint8Array ? Buffer.from(v).toString("latin1") : JSON.stringify(v),
          );
          lines.push(`${table_name}: ${values.join(" ")}`);
        }
      }
      return { database: lines.join("\n") };
    },
    where: /^SENTINEL in database/,
    async start(): Promise<void> {
      cluster = await startCluster({ passwords: true });
      cluster.psql(`CREATE ROLE payhook LOGIN PASSWORD '${password}'`);
      await store.fresh();
    },
    async fresh(): Promise<void> {
      if (cluster === undefined) throw new Error("postgresStore: start() first");
      await sql?.end({ timeout: 1 });
      sql = undefined;
      databases += 1;
      cluster.psql(`CREATE DATABASE g${databases} OWNER payhook`);
      url = `postgres://payhook:${password}@127.0.0.1:${cluster.port}/g${databases}?sslmode=disable`;
      store.env.DATABASE_URL = url;
    },
    async close(): Promise<void> {
      await sql?.end({ timeout: 1 });
      cluster?.stop();
    },
  };
  return store;
}
