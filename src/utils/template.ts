/**
 * @module `{{a.b.c}}` templates over an event. Lookups follow own properties only, so a signed event carrying
 * `__proto__` or `constructor` keys can never reach Object.prototype; a missing path renders as nothing.
 */

export type Template = (event: unknown) => string;
type Part = string | { path: string[] };

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const PATH = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;

/** Parses `text` once; returns an error message instead when a placeholder is not a dotted path. */
export function compileTemplate(text: string, encode: (value: string) => string = (v) => v): Template | string {
  const parts: Part[] = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    const inner = match[1] ?? "";
    if (!PATH.test(inner)) return `"{{${inner}}}" is not a path such as {{data.object.id}}`;
    parts.push(text.slice(last, match.index), { path: inner.split(".") });
    last = (match.index ?? 0) + match[0].length;
  }
  parts.push(text.slice(last));
  return (event) => {
    let out = "";
    for (const part of parts) out += typeof part === "string" ? part : encode(stringify(lookup(event, part.path)));
    return out;
  };
}

/** The dotted paths of `text`'s placeholders, as written. */
export function templatePaths(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1] ?? "");
}

/** True when `text` contains at least one placeholder. */
export function hasPlaceholder(text: string): boolean {
  return /\{\{/.test(text);
}

export function lookup(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") {
    try {
      return JSON.stringify(value);
    } catch {
      return ""; // nesting too deep to serialise
    }
  }
  return String(value);
}
