/** @module `${VAR}` and `${VAR:-default}` in config strings, expanded from the environment. */

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Expands every string in `value`; returns the result and one problem per missing variable, by path. */
export function expandEnv(
  value: unknown,
  env: Record<string, string | undefined>,
  path: (string | number)[] = [],
  problems: [(string | number)[], string][] = [],
): { value: unknown; problems: [(string | number)[], string][] } {
  if (typeof value === "string") {
    const expanded = value.replace(REFERENCE, (_, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      problems.push([path, `environment variable ${name} is not set; set it, or write \${${name}:-default}`]);
      return "";
    });
    return { value: expanded, problems };
  }
  if (Array.isArray(value)) {
    return { value: value.map((item, i) => expandEnv(item, env, [...path, i], problems).value), problems };
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = expandEnv(item, env, [...path, key], problems).value;
    return { value: out, problems };
  }
  return { value, problems };
}
