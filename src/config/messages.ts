/**
 * @module Schema errors into words: TypeBox's errors about the config file become one line per path that says
 * what was expected (from the schema's descriptions) and what was found, never showing a secret's value. An
 * action is checked against the one kind it names, so its errors speak of that kind only.
 */
import type { TSchema } from "@sinclair/typebox";
import { Value, type ValueError, ValueErrorType } from "@sinclair/typebox/value";
import { actionKinds } from "../actions/index.ts";
import { formatPath, fromPointer, isSecretPath, type Path } from "./path.ts";
import { LabelledSecretSchema, PostgresStoreSchema, SecretString } from "./schema.ts";

/** Schema errors as [path, message], one per path; each action is checked against the kind it names. */
export function schemaProblems(schema: TSchema, value: unknown, base: Path, inAction = false): [Path, string][] {
  const seen = new Set<string>();
  const secretsSeen = new Set<string>();
  const out: [Path, string][] = [];
  for (const error of Value.Errors(schema, value)) {
    let path: Path = [...base, ...fromPointer(error.path)];
    const item = inAction ? undefined : actionItem(path);
    if (item) path = item;
    const key = JSON.stringify(path);
    if (seen.has(key)) continue;
    seen.add(key);
    const store = lookupPath(value, path.slice(base.length));
    const secret = inAction ? undefined : secretItem(path);
    if (secret && !secretsSeen.has(JSON.stringify(secret))) {
      // A secret is a string or { label, secret, retiring }: name what is wrong with the form given, not the union.
      secretsSeen.add(JSON.stringify(secret));
      const given = lookupPath(value, secret.slice(base.length));
      const form =
        given !== null && typeof given === "object" && !Array.isArray(given) ? LabelledSecretSchema : SecretString;
      out.push(...schemaProblems(form, given, secret, true));
    } else if (secret) continue;
    else if (item) out.push(...validateAction(lookupPath(value, item.slice(base.length)), item));
    else if (path.length === 1 && path[0] === "store" && store !== null && typeof store === "object") {
      // The object form: name the key that is wrong rather than the whole union.
      out.push(...schemaProblems(PostgresStoreSchema, store, path, true));
    } else out.push([path, inWords(error, path)]);
  }
  return out;
}

/** The path of the endpoint secret that `path` is in or under, if any. */
function secretItem(path: Path): Path | undefined {
  return path[0] === "endpoints" && path[2] === "secrets" && path.length >= 4 ? path.slice(0, 4) : undefined;
}

/** The path of the action item that `path` is in or under, if any. */
function actionItem(path: Path): Path | undefined {
  if (path[0] === "handlers" && path.length >= 3) return path.slice(0, 3);
  if (path[0] === "unhandled" && path.length >= 2) return path.slice(0, 2);
  return undefined;
}

function lookupPath(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);
}

function validateAction(value: unknown, path: Path): [Path, string][] {
  const names = actionKinds.map((k) => k.kind);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return [[path, `expected an action, a mapping with one of: ${names.join(", ")}`]];
  }
  const present = names.filter((n) => Object.hasOwn(value, n));
  if (present.length === 0) {
    const keys = Object.keys(value).join(", ") || "no keys";
    return [[path, `expected an action with one of: ${names.join(", ")} (found ${keys})`]];
  }
  if (present.length > 1) {
    return [
      [
        path,
        `an action has exactly one of ${names.join(", ")}, but this one has ${present.join(" and ")}; split it into two actions`,
      ],
    ];
  }
  const kind = actionKinds.find((k) => k.kind === present[0]);
  return kind ? schemaProblems(kind.schema, value, path, true) : [];
}

const TYPE_WORDS: Partial<Record<ValueErrorType, string>> = {
  [ValueErrorType.String]: "a string",
  [ValueErrorType.Integer]: "an integer",
  [ValueErrorType.Number]: "a number",
  [ValueErrorType.Boolean]: "true or false",
  [ValueErrorType.Object]: "a mapping",
  [ValueErrorType.Array]: "a list",
};

/** One schema error as the fix it asks for: the key that is unknown, missing, or what was expected and got. */
function inWords(error: ValueError, path: Path): string {
  const description = (error.schema as { description?: string }).description;
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    const parent = path.slice(0, -1);
    return `unknown key "${String(path.at(-1))}"${parent.length ? ` in ${formatPath(parent)}` : ""}; check its spelling against \`payhook schema\``;
  }
  if (error.type === ValueErrorType.ObjectRequiredProperty) {
    return `missing; expected ${description ?? "a value"}`;
  }
  const got = isSecretPath(path) ? "a value that is not shown" : preview(error.value);
  const type = TYPE_WORDS[error.type];
  if (type) return `expected ${type}${description ? ` (${description})` : ""}, got ${got}`;
  return `expected ${description ?? error.message.replace(/^Expected /, "").toLowerCase()}, got ${got}`;
}

function preview(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (value !== null && typeof value === "object") return "a mapping";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
