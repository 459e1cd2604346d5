/** @module `${VAR}` and `${VAR:-default}` in config strings, expanded from the environment. */

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
/** Shorter values are not secrets, and hiding them would garble messages (a "1" inside "line 12"). */
const MIN_HIDDEN_LENGTH = 3;

export interface Expanded {
  value: unknown;
  problems: [(string | number)[], string][];
  /** Each value taken from the environment, with the reference it replaced: config errors show the reference. */
  fromEnv: Map<string, string>;
  /** Every scalar that had a reference, by path, with the variables it names: numbers and booleans come from these. */
  references: EnvReference[];
}

export interface EnvReference {
  path: (string | number)[];
  names: string[];
}

/** Expands every string in `value`; returns the result and one problem per missing variable, by path. */
export function expandEnv(
  value: unknown,
  env: Record<string, string | undefined>,
  path: (string | number)[] = [],
  out: Expanded = { value: undefined, problems: [], fromEnv: new Map(), references: [] },
): Expanded {
  const { problems, fromEnv } = out;
  if (typeof value === "string") {
    const names: string[] = [];
    const expanded = value.replace(REFERENCE, (_, name: string, fallback: string | undefined) => {
      names.push(name);
      const found = env[name];
      if (found !== undefined && found !== "") {
        if (found.length >= MIN_HIDDEN_LENGTH) fromEnv.set(found, `\${${name}}`);
        return found;
      }
      if (fallback !== undefined) return fallback;
      problems.push([path, `environment variable ${name} is not set; set it, or write \${${name}:-default}`]);
      return "";
    });
    if (names.length > 0) out.references.push({ path, names });
    return { ...out, value: expanded };
  }
  if (Array.isArray(value)) {
    return { ...out, value: value.map((item, i) => expandEnv(item, env, [...path, i], out).value) };
  }
  if (value !== null && typeof value === "object") {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) result[key] = expandEnv(item, env, [...path, key], out).value;
    return { ...out, value: result };
  }
  return { ...out, value };
}

/** `message` with every value from the environment replaced by its reference, longest first. */
export function hideEnvValues(message: string, fromEnv: ReadonlyMap<string, string>): string {
  let out = message;
  for (const [value, reference] of [...fromEnv].sort(([a], [b]) => b.length - a.length)) {
    out = out.replaceAll(value, reference);
    // Messages quote values as JSON, so the value's JSON-escaped form is hidden too.
    const quoted = JSON.stringify(value).slice(1, -1);
    if (quoted !== value) out = out.replaceAll(quoted, reference);
  }
  return out;
}
