/**
 * @module Config file → validated, compiled Config, or a ConfigError whose every line names the file, the path
 * inside it and what to write instead: the text parsed (parse.ts), ${VAR}s expanded, defaults applied and the
 * shape checked (messages.ts), then compiled (compile.ts).
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { ConfigError, describe } from "../errors.ts";
import { coerceReferences, nameVariables } from "./coerce.ts";
import { type CompileOptions, compileConfig } from "./compile.ts";
import { expandEnv, hideEnvValues } from "./expand.ts";
import { schemaProblems } from "./messages.ts";
import { parseText } from "./parse.ts";
import { formatPath, type Path } from "./path.ts";
import { type ConfigFile, ConfigSchema } from "./schema.ts";
import type { Config } from "./types.ts";

/** Reads and validates a config file; relative paths in it resolve against its folder. */
export function loadConfigFile(path: string, env: Record<string, string | undefined>): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError([`${path}: cannot read the config file (${describe(error)})`]);
  }
  return parseConfig(text, { source: path, baseDir: dirname(resolve(path)), env });
}

export interface ParseOptions extends CompileOptions {
  env: Record<string, string | undefined>;
}

/** Parses YAML or JSON text (JSON is YAML) into a Config. */
export function parseConfig(text: string, options: ParseOptions): Config {
  const { source } = options;
  const { data, where } = parseText(text, source);
  let fromEnv: ReadonlyMap<string, string> = new Map();
  // A message never shows a value that came from the environment (a token in a URL, a secret): only its reference.
  const problem = (path: Path, message: string) =>
    hideEnvValues(`${source}: ${formatPath(path)}: ${message}${where(path)}`, fromEnv);

  const raw = data ?? {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError([`${source}: expected a mapping with keys such as listen, endpoints and handlers`]);
  }
  const expanded = expandEnv(raw, options.env);
  fromEnv = expanded.fromEnv;
  if (expanded.problems.length > 0) throw new ConfigError(expanded.problems.map(([p, m]) => problem(p, m)));

  const typed = coerceReferences(ConfigSchema, Value.Clone(expanded.value), expanded.references);
  const file = Value.Default(ConfigSchema, typed) as ConfigFile;
  const shape = nameVariables(schemaProblems(ConfigSchema, file, []), expanded.references);
  if (shape.length > 0) throw new ConfigError(shape.map(([p, m]) => problem(p, m)));

  const problems: [Path, string][] = [];
  const config = compileConfig(file, { ...options, fromEnv: [...fromEnv.keys()] }, problems);
  const named = nameVariables(problems, expanded.references);
  if (named.length > 0) throw new ConfigError(named.map(([p, m]) => problem(p, m)));
  return config;
}
