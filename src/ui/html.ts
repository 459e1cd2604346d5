/**
 * @module The one way the operator page makes HTML: the `html` tag escapes every interpolated value unless it is
 * already SafeHtml (made by this tag), so event data, errors and captured output can only ever appear as text.
 */

const SAFE = Symbol("SafeHtml");

export interface SafeHtml {
  readonly [SAFE]: true;
  readonly text: string;
}

type Value = SafeHtml | string | number | boolean | null | undefined | readonly Value[];

export function html(strings: TemplateStringsArray, ...values: Value[]): SafeHtml {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? "");
  return safe(out);
}

/** Escapes the five characters that can end a text node or an attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] as string);
}

export function isSafeHtml(value: unknown): value is SafeHtml {
  return typeof value === "object" && value !== null && SAFE in value;
}

/** Only for markup written in this code base (never for data): marks it as safe. */
export function trusted(text: string): SafeHtml {
  return safe(text);
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function safe(text: string): SafeHtml {
  return { [SAFE]: true, text };
}

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return "";
  if (Array.isArray(value)) return value.map(render).join("");
  if (isSafeHtml(value)) return value.text;
  return escapeHtml(String(value));
}
