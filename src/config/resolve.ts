/** @module Which config `serve` and `check` use: --config FILE, else ./payhook.yaml, else the embedded default. */
import { existsSync } from "node:fs";
import { DEFAULT_CONFIG, DEFAULT_SOURCE, DEVELOPMENT_SECRET } from "./default.ts";
import { loadConfigFile, parseConfig } from "./load.ts";
import type { Config } from "./types.ts";

export const LOCAL_CONFIG = "payhook.yaml";

export function resolveConfig(flag: string | undefined, env: Record<string, string | undefined>): Config {
  if (flag !== undefined) return loadConfigFile(flag, env);
  if (existsSync(LOCAL_CONFIG)) return loadConfigFile(LOCAL_CONFIG, env);
  return parseConfig(DEFAULT_CONFIG, { source: DEFAULT_SOURCE, env });
}

/** True when the embedded default is serving with its public development secret. */
export function usesDevelopmentSecret(config: Config): boolean {
  return config.source === DEFAULT_SOURCE && config.endpoints.some((e) => e.secrets.includes(DEVELOPMENT_SECRET));
}
