/**
 * @module Checks a JSON event against the shapes generated from the `stripe` package's types
 * (src/catalog/object-types.ts): every required property present, no undeclared one, every value of a declared
 * kind, down through every nested object whose type is known. Returns the problems, one line each.
 */
import { OBJECT_TYPES, SNAPSHOT_EVENT, SNAPSHOT_EVENT_OBJECTS, THIN_EVENT } from "../../src/catalog/object-types.ts";
import { THIN_EVENT_RELATED_OBJECTS } from "../../src/catalog/thin-events.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The problems of one event as payhook sends it (a snapshot `event` or a thin `v2.core.event`). */
export function checkEvent(event: Record<string, Json>): string[] {
  const problems: string[] = [];
  const type = String(event.type);
  if (event.object === "v2.core.event") {
    const related = THIN_EVENT_RELATED_OBJECTS[type];
    if (related === undefined) return [`${type}: not a thin event type`];
    const { related_object, ...envelope } = event;
    checkValue(envelope, THIN_EVENT, type, problems);
    if (related !== "never" && related_object === undefined) problems.push(`${type}.related_object: missing`);
    if (related_object !== undefined) checkValue(related_object, related, `${type}.related_object`, problems);
    return problems;
  }
  const objectType = SNAPSHOT_EVENT_OBJECTS[type];
  if (objectType === undefined) return [`${type}: not a snapshot event type`];
  const { data, ...envelope } = event;
  checkValue({ ...envelope, data: { object: {} } }, SNAPSHOT_EVENT, type, problems);
  if (!isObject(data)) return [...problems, `${type}.data: not an object`];
  const { object, previous_attributes, ...rest } = data;
  for (const key of Object.keys(rest)) problems.push(`${type}.data.${key}: not declared`);
  checkValue(object ?? null, objectType, `${type}.data.object`, problems);
  if (previous_attributes !== undefined) {
    // previous_attributes is a Partial of the object: only its properties, each a value it may hold.
    const props = declared(objectType, isObject(object) ? object : {});
    if (!isObject(previous_attributes)) problems.push(`${type}.data.previous_attributes: not an object`);
    else {
      for (const [key, value] of Object.entries(previous_attributes)) {
        const expression = props?.get(key);
        const at = `${type}.data.previous_attributes.${key}`;
        if (expression === undefined) problems.push(`${at}: not declared by ${objectType}`);
        else checkValue(value, expression, at, problems);
      }
    }
  }
  return problems;
}

function checkValue(value: Json, expression: string, at: string, problems: string[]): void {
  const options = alternatives(expression);
  if (options.includes("unknown")) return;
  if (value === null) {
    if (!options.includes("null")) problems.push(`${at}: null, expected ${expression}`);
    return;
  }
  if (Array.isArray(value)) {
    const elements = options.filter((o) => o.endsWith("[]")).map((o) => unwrap(o.slice(0, -2)));
    if (elements.length === 0) problems.push(`${at}: an array, expected ${expression}`);
    else for (const [i, item] of value.entries()) checkValue(item, elements.join("|"), `${at}[${i}]`, problems);
    return;
  }
  if (typeof value === "object") {
    checkObject(value, options, expression, at, problems);
    return;
  }
  const kind = typeof value;
  const fits = options.some(
    (o) =>
      o === kind ||
      (o === "decimal" && kind === "string" && /^-?\d+(\.\d+)?$/.test(value as string)) ||
      (o.startsWith("'") && o === `'${value}'`),
  );
  if (!fits) problems.push(`${at}: ${JSON.stringify(value)}, expected ${expression}`);
}

function checkObject(
  value: { [key: string]: Json },
  options: string[],
  expression: string,
  at: string,
  problems: string[],
): void {
  const maps = options.filter((o) => o.startsWith("{"));
  let names = options.filter((o) => OBJECT_TYPES[o] !== undefined);
  if (names.length === 0 && maps.length === 0) {
    problems.push(`${at}: an object, expected ${expression}`);
    return;
  }
  // Expandable fields and polymorphic lists name several types; Stripe's `object` says which one this is.
  const tagged = names.filter((n) => OBJECT_TYPES[n]?.object === `'${value.object}'`);
  if (tagged.length > 0) names = tagged;
  const attempts: string[][] = [];
  for (const name of names) {
    const found: string[] = [];
    checkProperties(value, name, at, found);
    if (found.length === 0) return;
    attempts.push(found);
  }
  for (const map of maps) {
    const found: string[] = [];
    for (const [key, item] of Object.entries(value)) checkValue(item, unwrap(map.slice(1, -1)), `${at}.${key}`, found);
    if (found.length === 0) return;
    attempts.push(found);
  }
  // No type fits: report against the one it came closest to.
  problems.push(...(attempts.sort((a, b) => a.length - b.length)[0] ?? []));
}

function checkProperties(value: { [key: string]: Json }, name: string, at: string, problems: string[]): void {
  const props = declared(name, value) as Map<string, string>;
  for (const [key, expression] of props) {
    if (!(key in value)) {
      if (!optional(name, key)) problems.push(`${at}.${key}: missing (${name} requires it)`);
      continue;
    }
    checkValue(value[key] as Json, expression, `${at}.${key}`, problems);
  }
  for (const key of Object.keys(value)) {
    if (!props.has(key)) problems.push(`${at}.${key}: not declared by ${name}`);
  }
}

/** A type's properties by plain name (an object whose type is a union: the member its `object` names). */
function declared(expression: string, value: { [key: string]: Json }): Map<string, string> | undefined {
  const names = alternatives(expression).filter((o) => OBJECT_TYPES[o] !== undefined);
  const name = names.find((n) => OBJECT_TYPES[n]?.object === `'${value.object}'`) ?? names[0];
  if (name === undefined) return undefined;
  return new Map(Object.entries(OBJECT_TYPES[name] ?? {}).map(([k, v]) => [k.replace(/\?$/, ""), v]));
}

function optional(name: string, key: string): boolean {
  return OBJECT_TYPES[name]?.[`${key}?`] !== undefined;
}

/** `a|(b|c)[]|X<d|e>` → ["a", "(b|c)[]", "X<d|e>"]: a split on the `|`s outside brackets. */
function alternatives(expression: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "(" || c === "<" || c === "{") depth++;
    else if (c === ")" || c === ">" || c === "}") depth--;
    else if (c === "|" && depth === 0) {
      out.push(expression.slice(start, i));
      start = i + 1;
    }
  }
  out.push(expression.slice(start));
  return out;
}

const unwrap = (element: string) => (element.startsWith("(") && element.endsWith(")") ? element.slice(1, -1) : element);

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
