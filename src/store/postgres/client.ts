/**
 * @module The PostgreSQL client: `postgres` (porsager) on npm, pure JavaScript over node:net and node:tls, so
 * the same code runs on Bun, on Deno and inside `bun build --compile`. It pipelines queries on each
 * connection, prepares statements by itself, and speaks TLS after the SSLRequest as libpq does.
 */
import process from "node:process";
import { checkServerIdentity } from "node:tls";
import postgres from "postgres";
import type { PostgresConnection } from "./settings.ts";

export type Sql = postgres.Sql<Record<string, never>>;
export type Row = Record<string, unknown>;

/** int8 columns (ids, unix ms) as numbers: every one of payhook's fits in 2^53. */
const BIGINT_AS_NUMBER = {
  to: 20,
  from: [20],
  serialize: (x: number) => String(x),
  parse: (x: string) => Number(x),
};

export interface ClientOptions {
  /** Connections at most. */
  max: number;
  /** Shown in pg_stat_activity. */
  applicationName: string;
  onclose?: () => void;
  onnotify?: (channel: string) => void;
  /** Every transaction of every connection read-only, enforced by PostgreSQL itself. */
  readOnly?: boolean;
}

export function connect(connection: PostgresConnection, options: ClientOptions): Sql {
  ignoreLateSocketErrors();
  return postgres({
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.user,
    password: connection.password,
    ssl: ssl(connection),
    max: options.max,
    connect_timeout: connection.connectTimeout,
    backoff: reconnectDelay,
    // PostgreSQL's NOTICEs (e.g. "schema already exists") would otherwise go to stdout, which is the log action's.
    onnotice: () => {},
    ...(options.onclose ? { onclose: options.onclose } : {}),
    ...(options.onnotify ? { onnotify: (channel: string) => options.onnotify?.(channel) } : {}),
    types: { bigint: BIGINT_AS_NUMBER },
    connection: {
      application_name: options.applicationName,
      ...(options.readOnly ? { default_transaction_read_only: "on" } : {}),
    },
  } as unknown as postgres.Options<Record<string, never>>) as unknown as Sql;
}

/**
 * Seconds before a connection that failed tries again. The driver's own default grows to 20 s after a few
 * refusals, and the queries queued on that connection wait it out: after a database restart, webhooks hung for
 * up to 20 s while the database was already back. Capped at one second, with jitter so a pool does not reconnect
 * in step; a refused connect costs the database nothing.
 */
export function reconnectDelay(retries: number): number {
  return Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2);
}

/** libpq's sslmode, as TLS options. `require` encrypts without checking who answers, exactly as libpq does. */
function ssl(c: PostgresConnection): false | "prefer" | "require" | object {
  switch (c.sslmode) {
    case "disable":
      return false;
    case "allow":
    case "prefer":
      return "prefer";
    case "require":
      return "require";
    case "verify-ca":
      return { rejectUnauthorized: true, ...(c.ca ? { ca: c.ca } : {}), checkServerIdentity: () => undefined };
    case "verify-full":
      return {
        rejectUnauthorized: true,
        ...(c.ca ? { ca: c.ca } : {}),
        // The driver passes no server name for an IP address, so check the certificate against the host as written.
        checkServerIdentity: (_: string, cert: Parameters<typeof checkServerIdentity>[1]) =>
          checkServerIdentity(c.host, cert),
      };
  }
}

/** Quotes a name for SQL; schema names are already restricted to [a-z0-9_] by the config schema. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

const LATE_SOCKET_ERRORS = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED", "ETIMEDOUT"]);
let ignoring = false;

/** A socket's own error (a reset, a refused connect), as Bun and Deno report them: a code and the syscall. */
export function isLateSocketError(error: unknown): boolean {
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  return typeof code === "string" && LATE_SOCKET_ERRORS.has(code) && syscall !== undefined;
}

/**
 * When the database goes away, postgres.js removes a closed socket's listeners (its 'close' handler) and has
 * already failed the socket's queries, but Bun can report the reset that closed it afterwards: as an 'error' on a
 * socket with no listener left, or as a rejection nobody awaits (both seen with PostgreSQL stopped under load;
 * either, uncaught, ends the process). Such an error carries nothing the client has not handled, so it is
 * dropped; every other uncaught error or unhandled rejection still ends the process as before.
 */
function ignoreLateSocketErrors(): void {
  if (ignoring) return;
  ignoring = true;
  process.on("uncaughtException", (error: unknown) => {
    if (isLateSocketError(error)) return;
    throw error;
  });
  process.on("unhandledRejection", (reason: unknown) => {
    if (isLateSocketError(reason)) return;
    throw reason;
  });
}
