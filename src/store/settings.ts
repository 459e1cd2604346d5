/**
 * @module Which store the config names: a SQLite file (a path), or PostgreSQL (a postgres:// URL, alone or with
 * payhook's settings in the object form). Resolved once here; everything printed uses `label`.
 */
import { isAbsolute, resolve } from "node:path";
import { parseDuration } from "../utils/units.ts";
import {
  DEFAULT_COMMIT_TIMEOUT,
  DEFAULT_LEASE,
  DEFAULT_POOL,
  DEFAULT_SCHEMA,
  isPostgresUrl,
  type PostgresSettings,
  parsePostgresUrl,
} from "./postgres/settings.ts";

export interface SqliteSettings {
  kind: "sqlite";
  /** Absolute, or relative to the working directory for the embedded default. */
  path: string;
  label: string;
}

export type StoreSettings = SqliteSettings | PostgresSettings;

/** `store:` as written in the config file (after ${VAR} expansion). */
export type StoreSetting =
  | string
  | { url: string; pool?: number; lease?: string; commit_timeout?: string; schema?: string };

/** The shortest lease: the heartbeat renews it every third of it. */
const MIN_LEASE_MS = 1_000;

/**
 * Resolves `store:`. Problems come back as [key under store, message] and never contain a password. Relative
 * paths resolve against `baseDir` (the config file's folder).
 */
export function resolveStore(
  setting: StoreSetting,
  baseDir: string | undefined,
  problems: [readonly (string | number)[], string][],
): StoreSettings {
  const url = typeof setting === "string" ? setting : setting.url;
  if (typeof setting === "string" && !isPostgresUrl(setting)) {
    const path = baseDir === undefined || isAbsolute(setting) ? setting : resolve(baseDir, setting);
    return { kind: "sqlite", path, label: path };
  }
  const at = typeof setting === "string" ? [] : ["url"];
  const parsed = parsePostgresUrl(url, baseDir);
  const options: Exclude<StoreSetting, string> = typeof setting === "string" ? { url } : setting;
  const leaseMs = parseDuration(options.lease ?? DEFAULT_LEASE);
  if (leaseMs < MIN_LEASE_MS) problems.push([["lease"], "must be at least 1s (the heartbeat renews it every third)"]);
  const commitTimeoutMs = parseDuration(options.commit_timeout ?? DEFAULT_COMMIT_TIMEOUT);
  if (commitTimeoutMs < 1_000) problems.push([["commit_timeout"], "must be at least 1s"]);
  if ("problem" in parsed) {
    problems.push([at, parsed.problem]);
    return { kind: "sqlite", path: "", label: parsed.problem };
  }
  return {
    kind: "postgres",
    label: parsed.label,
    connection: parsed.connection,
    pool: options.pool ?? DEFAULT_POOL,
    leaseMs,
    commitTimeoutMs,
    schema: options.schema ?? DEFAULT_SCHEMA,
  };
}

/** True when two settings name the same store with the same settings (a reload needs a restart otherwise). */
export function sameStore(a: StoreSettings, b: StoreSettings): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
