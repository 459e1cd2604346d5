/**
 * @module The store opened for reading only, for explanations (what-if, paused actions): SQLite opened read-only, PostgreSQL with
 * every transaction read-only. Nothing is created or migrated: a store at another schema version is refused.
 */
import { existsSync } from "node:fs";
import { describe, StoreError } from "../errors.ts";
import type { Runtime } from "../runtime/types.ts";
import type { StoreSettings } from "./settings.ts";
import type { ActionControl, EventDetail, EventQuery, EventView } from "./types.ts";

export interface StoreReader {
  listEvents(query: EventQuery): Promise<EventView[]>;
  getEvent(id: string): Promise<EventDetail | null>;
  /** Paused actions and breakers, as the workers read them. */
  controls(): Promise<ActionControl[]>;
  close(): Promise<void>;
}

export async function openStoreReadOnly(runtime: Runtime, settings: StoreSettings): Promise<StoreReader> {
  if (settings.kind === "postgres") return openPostgresReader(settings);
  const { SCHEMA_VERSION } = await import("./sqlite/migrations.ts");
  const { getEvent, listEvents } = await import("./sqlite/inspect.ts");
  const { controls } = await import("./sqlite/control.ts");
  if (!existsSync(settings.path)) {
    throw new StoreError(
      "store_missing",
      `there is no store at ${settings.path}; has payhook served with this config?`,
    );
  }
  let db: ReturnType<Runtime["openDatabase"]>;
  try {
    db = runtime.openDatabase(settings.path, { readonly: true });
  } catch (error) {
    throw new StoreError("store_open", `cannot open the store ${settings.path} to read: ${describe(error)}`);
  }
  try {
    checkVersion(Number(db.prepare("PRAGMA user_version").get()?.user_version ?? 0), SCHEMA_VERSION, settings.path);
  } catch (error) {
    db.close();
    throw error;
  }
  return {
    listEvents: async (query) => listEvents(db, query),
    getEvent: async (id) => getEvent(db, id),
    controls: async () => controls(db),
    close: async () => db.close(),
  };
}

async function openPostgresReader(settings: Extract<StoreSettings, { kind: "postgres" }>): Promise<StoreReader> {
  const { connect, ident } = await import("./postgres/client.ts");
  const { SCHEMA_VERSION } = await import("./postgres/migrations.ts");
  const { getEvent, listEvents } = await import("./postgres/inspect.ts");
  const { controls } = await import("./postgres/control.ts");
  const { withoutPassword } = await import("./postgres/settings.ts");
  const sql = connect(settings.connection, { max: 1, applicationName: "payhook (read only)", readOnly: true });
  const s = ident(settings.schema);
  try {
    const [row] = await sql.unsafe(`SELECT max(version) AS version FROM ${s}.schema_version`);
    checkVersion(Number(row?.version ?? 0), SCHEMA_VERSION, settings.label);
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => {});
    if (error instanceof StoreError) throw error;
    throw new StoreError(
      "store_open",
      `cannot read the PostgreSQL store ${settings.label}: ${withoutPassword(describe(error), settings.connection)}`,
    );
  }
  return {
    listEvents: (query) => listEvents(sql, s, query),
    getEvent: (id) => getEvent(sql, s, id),
    controls: () => controls(sql, s),
    close: () => sql.end({ timeout: 1 }),
  };
}

function checkVersion(found: number, known: number, label: string): void {
  if (found === known) return;
  throw new StoreError(
    "store_version",
    found < known
      ? `the store ${label} is at schema ${found}, older than this payhook's ${known}; read only, it is not migrated: run this payhook's serve (or events list) on it once`
      : `the store ${label} was written by a newer payhook (schema ${found}, this one knows ${known}); upgrade payhook`,
  );
}
