/**
 * @module Opens the PostgreSQL store: connects (failing within the connect timeout with the reason, never the
 * password), migrates under the advisory lock, and gives the store a connection that listens for wake-ups.
 */
import { describe, PayhookError, StoreError } from "../../errors.ts";
import { connect } from "./client.ts";
import { checkSchema, migrate } from "./migrations.ts";
import type { PostgresSettings } from "./settings.ts";
import { withoutPassword } from "./settings.ts";
import { PostgresStore } from "./store.ts";

export interface OpenPostgresOptions {
  /** Who this instance is, for leases and attempts (host and process). */
  instance: string;
  /** payhook's version, written with each migration so a newer schema names the version to run. */
  version: string;
  onRescue?: (count: number) => void;
  /** Check the schema instead of migrating it (commands that only read). */
  readOnly?: boolean;
}

/** The longest a lost listening connection waits before it tries again. */
const MAX_RELISTEN_MS = 5_000;

export async function openPostgresStore(
  settings: PostgresSettings,
  options: OpenPostgresOptions,
): Promise<PostgresStore> {
  const applicationName = `payhook ${options.version}`;
  const sql = connect(settings.connection, { max: settings.pool, applicationName });
  try {
    if (options.readOnly) await checkSchema(sql, settings.schema, options.version);
    else await migrate(sql, settings.schema, options.version);
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => {});
    if (error instanceof PayhookError) throw error;
    throw new StoreError(
      "store_open",
      `cannot use the PostgreSQL store ${settings.label}: ${withoutPassword(explain(error), settings.connection)}`,
    );
  }
  return new PostgresStore({
    sql,
    schema: settings.schema,
    leaseMs: settings.leaseMs,
    commitTimeoutMs: settings.commitTimeoutMs,
    instance: options.instance,
    connection: settings.connection,
    // Leave a connection or two for claims, results and probes while ingest batches use the rest.
    maxInFlight: Math.max(1, settings.pool - 2),
    listen: (channel, onWake) => listen(settings, applicationName, channel, onWake),
    onRescue: options.onRescue,
  });
}

/**
 * LISTEN on a connection of its own, listening again (with backoff) whenever that connection is lost; each
 * (re)start calls `onWake`, since notifications sent while it was away are lost.
 */
function listen(
  settings: PostgresSettings,
  applicationName: string,
  channel: string,
  onWake: () => void,
): () => Promise<void> {
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let delay = 100;
  let listening = false;
  const sql = connect(settings.connection, {
    max: 1,
    applicationName,
    onnotify: (c) => {
      if (c === channel) onWake();
    },
    onclose: () => {
      if (listening) {
        listening = false;
        schedule(0);
      }
    },
  });
  const start = async () => {
    retry = undefined;
    if (stopped || listening) return;
    try {
      await sql.unsafe(`LISTEN "${channel}"`);
      listening = true;
      delay = 100;
      onWake();
    } catch {
      delay = Math.min(delay * 2, MAX_RELISTEN_MS);
      schedule(delay);
    }
  };
  const schedule = (ms: number) => {
    if (!stopped && retry === undefined) retry = setTimeout(() => void start(), ms);
  };
  void start();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await sql.end({ timeout: 1 }).catch(() => {});
  };
}

/** The driver's error in words a user can act on. */
function explain(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = describe(error);
  if (code === "CONNECT_TIMEOUT")
    return `no answer within the connect timeout (${message}); is the host and port right?`;
  if (code === "28P01") return `${message}; check the user and password in the URL`;
  if (code === "ECONNREFUSED") return `${message}; is PostgreSQL running and listening on that port?`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `${message}; is the host name right?`;
  if (code === "ECONNRESET")
    return `${message}; the server hung up: is that port PostgreSQL's, and does it take TLS as sslmode asks?`;
  return message;
}
