/**
 * @module Numbers and booleans from `${VAR}`: a reference expands to text, so where the schema expects a number
 * or true/false (and never a string), the text becomes one. Text that is no number stays text, so validation
 * reports it like any other wrong value, and `nameVariables` adds which variable it came from.
 */
import type { TSchema } from "@sinclair/typebox";
import type { EnvReference } from "./expand.ts";
import type { Path } from "./path.ts";

const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;
const BOOLEANS: Record<string, boolean> = {
  true: true,
  True: true,
  TRUE: true,
  false: false,
  False: false,
  FALSE: false,
};

/** `value` (the expanded config, changed in place) with each referenced scalar typed as the schema expects. */
export function coerceReferences(schema: TSchema, value: unknown, references: readonly EnvReference[]): unknown {
  for (const { path } of references) {
    const parent = lookup(value, path.slice(0, -1));
    const key = path.at(-1);
    if (key === undefined || parent === null || typeof parent !== "object") continue;
    const text = (parent as Record<string | number, unknown>)[key];
    if (typeof text !== "string") continue;
    const typed = coerce(text.trim(), schemasAt(schema, path));
    if (typed !== undefined) (parent as Record<string | number, unknown>)[key] = typed;
  }
  return value;
}

/** Problems at referenced paths also name the variables, so a bad PORT=… is found in the environment, not the file. */
export function nameVariables(problems: [Path, string][], references: readonly EnvReference[]): [Path, string][] {
  return problems.map(([path, message]) => {
    const reference = references.find((r) => samePath(r.path, path));
    if (!reference) return [path, message];
    const names = reference.names.join(", ");
    return [path, `${message}; the value comes from the environment (${names})`];
  });
}

function coerce(text: string, schemas: TSchema[]): number | boolean | undefined {
  const types = new Set(schemas.map((s) => s.type as unknown));
  // A schema without a type (any value) or one that takes text keeps the text as written.
  if (schemas.length === 0 || types.has("string") || types.has(undefined)) return undefined;
  if ((types.has("integer") || types.has("number")) && NUMBER.test(text)) return Number(text);
  if (types.has("boolean") && Object.hasOwn(BOOLEANS, text)) return BOOLEANS[text];
  return undefined;
}

/** Every schema that could apply at `path` (unions followed into each variant). */
export function schemasAt(schema: TSchema, path: Path): TSchema[] {
  const variants = (schema.anyOf ?? schema.allOf ?? schema.oneOf) as TSchema[] | undefined;
  if (variants) return variants.flatMap((v) => schemasAt(v, path));
  if (path.length === 0) return [schema];
  const [key, ...rest] = path;
  if (typeof key === "number") {
    return schema.type === "array" && schema.items ? schemasAt(schema.items as TSchema, rest) : [];
  }
  if (schema.type !== "object" || key === undefined) return [];
  const property = (schema.properties as Record<string, TSchema> | undefined)?.[key];
  if (property) return schemasAt(property, rest);
  const patterns = (schema.patternProperties ?? {}) as Record<string, TSchema>;
  const matching = Object.entries(patterns).filter(([pattern]) => new RegExp(pattern).test(key));
  if (matching.length > 0) return matching.flatMap(([, s]) => schemasAt(s, rest));
  const additional = schema.additionalProperties;
  return additional && typeof additional === "object" ? schemasAt(additional as TSchema, rest) : [];
}

function lookup(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);
}

function samePath(a: Path, b: Path): boolean {
  return a.length === b.length && a.every((segment, i) => b[i] === segment);
}
