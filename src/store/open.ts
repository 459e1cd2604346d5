/**
 * @module The one way commands open the store the config names: SQLite (with the one-server lock when serving)
 * or PostgreSQL (shared by any number of instances, so no such lock).
 */
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import process from "node:process";
import { StoreError } from "../errors.ts";
import type { Runtime } from "../runtime/types.ts";
import type { StoreSettings } from "./settings.ts";
import { createPrivate, exposedStoreFiles } from "./sqlite/files.ts";
import { lockStore } from "./sqlite/lock.ts";
import { openSqliteStore } from "./sqlite/store.ts";
import { openThreadedStore } from "./sqlite/threaded.ts";
import { storeOpenMessage } from "./sqlite/where.ts";
import type { Store } from "./types.ts";

export interface OpenStoreOptions {
  /** For `serve`: on SQLite, take the one-server lock. */
  serve?: boolean;
  /** For the CLI's reads: a SQLite file that does not exist is an error, not a new empty store. */
  mustExist?: boolean;
  /**
   * For commands that only read: nothing is written, the schema is never migrated (servers of the previous version
   * may still use it), and a schema this payhook does not read is an error naming the version that does.
   */
  readOnly?: boolean;
  /** payhook's version, recorded with PostgreSQL migrations. */
  version: string;
  /** Called with how many deliveries of stopped instances this one took over (PostgreSQL). */
  onRescue?: (count: number) => void;
  /** Says something the operator should fix but that does not stop payhook (a store others can read). */
  warn?: (message: string, fields: Record<string, unknown>) => void;
}

export interface OpenedStore {
  store: Store;
  /** How often running deliveries must be renewed, when the store leases them (PostgreSQL). */
  heartbeatMs?: number;
  /** Closes the store and releases the lock, if any. */
  close(): Promise<void>;
}

export async function openStore(
  runtime: Runtime,
  settings: StoreSettings,
  options: OpenStoreOptions,
): Promise<OpenedStore> {
  if (settings.kind === "postgres") {
    // Loaded only for a PostgreSQL store: its client brings node:net, node:tls and node:stream, which a SQLite
    // server never needs (cold start and idle memory, docs/performance.md).
    const { openPostgresStore } = await import("./postgres/open.ts");
    const store = await openPostgresStore(settings, {
      instance: `${hostname()}:${process.pid}`,
      version: options.version,
      onRescue: options.onRescue,
      readOnly: options.readOnly,
    });
    // Three heartbeats per lease: one lost to a slow query or a blip does not lose the claim.
    return { store, heartbeatMs: Math.floor(settings.leaseMs / 3), close: () => store.close() };
  }
  const path = settings.path;
  if (options.mustExist && !existsSync(path)) {
    throw new StoreError(
      "store_missing",
      `there is no store at ${path}; has payhook served with this config? (--config FILE or --store FILE picks another)`,
    );
  }
  let unlock = () => {};
  if (options.serve) {
    const exposed = exposedStoreFiles(path);
    if (exposed.length > 0) {
      options.warn?.(
        "other users of this machine can read the store, with every event's customer data; run chmod 600 on these files (payhook creates its own 0600)",
        { files: exposed },
      );
    }
  }
  // Served, the store's writes run on a writer thread, so the thread that serves HTTP never waits on the disk.
  // The thread starts first: its own start-up runs while this one takes the lock and migrates (waiting on fsyncs).
  const writer = options.serve ? runtime.startStoreWriter() : undefined;
  try {
    if (options.serve) {
      unlock = lockStore((p) => runtime.openDatabase(p), path);
      createPrivate(path);
    }
    // Served, the store also checks that its path keeps leading to the file it opened.
    const store = writer
      ? await openThreadedStore({ openDatabase: runtime.openDatabase, startStoreWriter: () => writer }, path)
      : openSqliteStore(runtime.openDatabase(path), undefined, options.readOnly);
    return {
      store,
      async close() {
        await store.close();
        unlock();
      },
    };
  } catch (error) {
    writer?.terminate();
    unlock();
    if (error instanceof StoreError) throw error;
    throw new StoreError("store_open", storeOpenMessage(path, error));
  }
}
