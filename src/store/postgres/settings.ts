/**
 * @module Where a PostgreSQL store is and how payhook uses it: the URL as libpq users write it
 * (postgres://user:password@host:5432/db?sslmode=verify-full), plus payhook's own settings (pool, lease,
 * schema). The password lives only in `connection.password`; everything printed uses `label`.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { describe } from "../../errors.ts";

export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full";
export const SSL_MODES: readonly SslMode[] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

export interface PostgresConnection {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  sslmode: SslMode;
  /** PEM certificates of the authorities trusted for verify-ca and verify-full; the system's when unset. */
  ca?: string;
  /** Seconds to wait for a connection. */
  connectTimeout: number;
}

export interface PostgresSettings {
  kind: "postgres";
  /** The URL with its password replaced by ***: the only form that is ever printed. */
  label: string;
  connection: PostgresConnection;
  /** Connections per instance (a further one listens for wake-ups). */
  pool: number;
  /** How long a claim stays this instance's without a heartbeat, in ms. */
  leaseMs: number;
  /** How long an ingest waits for its commit before the webhook is answered 503, in ms. */
  commitTimeoutMs: number;
  /** The schema that holds payhook's tables. */
  schema: string;
}

export const DEFAULT_POOL = 10;
export const DEFAULT_LEASE = "30s";
export const DEFAULT_COMMIT_TIMEOUT = "10s";
export const DEFAULT_SCHEMA = "payhook";
const DEFAULT_CONNECT_TIMEOUT = 5;

/** The URL query parameters payhook understands; they mean what they mean to libpq. */
const PARAMETERS = ["sslmode", "sslrootcert", "connect_timeout"] as const;

export function isPostgresUrl(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text);
}

/**
 * Any postgres:// URL in `text` with its password shown as ***, for messages that may quote one (a driver's
 * error). Everything between the user's colon and the last `@` of the URL is masked: a password may hold `@`.
 */
export function redactUrl(text: string): string {
  return text.replace(/(postgres(?:ql)?:\/\/[^:/?#@\s]*):\S*@/gi, "$1:***@");
}

/** What a URL payhook cannot parse is called in messages: none of it is shown, since the password could be anywhere. */
const UNPARSABLE =
  "the store URL (not shown: it may hold the password; percent-encode @ / ? # % in the user or password, e.g. @ as %40)";

/**
 * The URL as messages show it, built from its parsed parts rather than its text: the password is ***, and any
 * part in which a mistyped password could have landed (an `@` past the host) hides the whole URL.
 */
function labelOf(url: URL): string | undefined {
  if (`${url.pathname}${url.search}${url.hash}`.includes("@")) return undefined;
  const user = url.username === "" ? "" : `${url.username}${url.password === "" ? "" : ":***"}@`;
  return `${url.protocol}//${user}${url.host}${url.pathname}${url.search}`;
}

/**
 * Parses a postgres:// URL. Problems are returned, never thrown, and never contain the password. Relative
 * `sslrootcert` paths resolve against `baseDir`.
 */
export function parsePostgresUrl(
  text: string,
  baseDir: string | undefined,
): { connection: PostgresConnection; label: string } | { problem: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: `${UNPARSABLE} is not a valid URL; expected postgres://user:password@host:5432/database` };
  }
  const label = labelOf(url);
  if (label === undefined) {
    return { problem: `${UNPARSABLE} has an @ after its host; expected postgres://user:password@host:5432/database` };
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") return { problem: `${label} has no host; expected postgres://user:password@host:5432/database` };
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (database === "" || database.includes("/")) {
    return { problem: `${label} names no database; expected postgres://user:password@host:5432/database` };
  }
  let user: string;
  let password: string;
  try {
    user = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    return { problem: `${label}: the user or password has a bad %-escape` };
  }
  if (user === "") return { problem: `${label} names no user; expected postgres://user:password@host/database` };
  for (const key of url.searchParams.keys()) {
    if (!(PARAMETERS as readonly string[]).includes(key)) {
      return {
        problem: `${label}: unknown URL parameter "${key}"; payhook understands ${PARAMETERS.join(", ")} (pool, lease and schema go in the object form of store:)`,
      };
    }
  }
  const sslmode = (url.searchParams.get("sslmode") ?? "prefer") as SslMode;
  if (!SSL_MODES.includes(sslmode)) {
    return { problem: `${label}: sslmode must be one of ${SSL_MODES.join(", ")}, got "${sslmode}"` };
  }
  let ca: string | undefined;
  const rootcert = url.searchParams.get("sslrootcert");
  if (rootcert !== null && rootcert !== "system") {
    const path = baseDir === undefined || isAbsolute(rootcert) ? rootcert : resolve(baseDir, rootcert);
    try {
      ca = readFileSync(path, "utf8");
    } catch (error) {
      return { problem: `${label}: cannot read sslrootcert ${path} (${describe(error)}); expected a PEM file` };
    }
  }
  const timeout = url.searchParams.get("connect_timeout");
  if (timeout !== null && !/^[1-9][0-9]{0,3}$/.test(timeout)) {
    return { problem: `${label}: connect_timeout is a number of seconds from 1, got "${timeout}"` };
  }
  return {
    label,
    connection: {
      host,
      port: url.port === "" ? 5432 : Number(url.port),
      database,
      user,
      password,
      sslmode,
      ...(ca === undefined ? {} : { ca }),
      connectTimeout: timeout === null ? DEFAULT_CONNECT_TIMEOUT : Number(timeout),
    },
  };
}

/** Replaces the password, as written or percent-encoded, wherever it appears in `text` (a driver's error, say). */
export function withoutPassword(text: string, connection: PostgresConnection): string {
  let out = redactUrl(text);
  if (connection.password.length < 3) return out;
  for (const form of [connection.password, encodeURIComponent(connection.password)]) out = out.replaceAll(form, "***");
  return out;
}
