/** @module `payhook schema`: prints the config file's JSON Schema, made from the same TypeBox declarations that validate it. */

import { ConfigSchema } from "../../config/schema.ts";
import type { Command } from "../types.ts";

export const schema: Command = {
  name: "schema",
  summary: "print the config file's JSON Schema (for editors: payhook schema > payhook.schema.json)",
  usage: "payhook schema",
  options: {},
  async run({ io }) {
    io.out(schemaText().trimEnd());
    return 0;
  },
};

/** The published schema as JSON text. */
export function schemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

/**
 * The config's JSON Schema. TypeBox declarations are JSON Schema already (its symbols drop out in JSON); one
 * change: a key with a default is not required in the file, because the loader fills defaults in before it
 * validates, so an editor must not ask for it.
 */
export function configJsonSchema(): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(ConfigSchema)) as Record<string, unknown>;
  return { $schema: "http://json-schema.org/draft-07/schema#", ...relaxDefaults(plain) };
}

function relaxDefaults<T>(node: T): T {
  if (Array.isArray(node)) return node.map(relaxDefaults) as T;
  if (node === null || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = relaxDefaults(value);
  const properties = out.properties as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out.required) && properties) {
    out.required = (out.required as string[]).filter((k) => properties[k]?.default === undefined);
    if ((out.required as string[]).length === 0) delete out.required;
  }
  return out as T;
}
