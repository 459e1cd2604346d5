/**
 * @module The config linter: what is valid but almost certainly not meant. A handler pattern that matches no
 * Stripe event type (a typo such as `payment_intent.succeded` silently never runs), with the nearest real type
 * as a suggestion; `unhandled` actions that can never run because `*` matches every event; and an `order:` key
 * whose path cannot exist in the events its handler receives (it would render empty, so nothing is ordered).
 */
import { isMap, LineCounter, parseDocument } from "yaml";
import type { Action } from "../actions/types.ts";
import { formatPath, type Path } from "../config/path.ts";
import { matches } from "../config/routes.ts";
import type { Config } from "../config/types.ts";
import { templatePaths } from "../utils/template.ts";
import { SNAPSHOT_EVENT_TYPES, THIN_EVENT_TYPES } from "./event-types.ts";

export interface Finding {
  /** Where in the file, as a path: ["handlers", "invoice.payed"]. */
  path: Path;
  /** The path as a user reads it. */
  at: string;
  message: string;
}

const TYPES: readonly string[] = [...SNAPSHOT_EVENT_TYPES, ...THIN_EVENT_TYPES];
/** Every proper prefix that a `prefix.*` pattern can name: "invoice", "charge.dispute", "v1.billing", … */
const PREFIXES: readonly string[] = [
  ...new Set(
    TYPES.flatMap((t) =>
      t
        .split(".")
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join(".")),
    ),
  ),
];

export function lintConfig(config: Pick<Config, "routes" | "unhandled">, types: readonly string[] = TYPES): Finding[] {
  const known = new Set(types);
  const prefixes = types === TYPES ? PREFIXES : [...new Set(types.flatMap(prefixesOf))];
  const findings: Finding[] = [];
  const add = (path: Path, message: string) => findings.push({ path, at: formatPath(path), message });

  for (const { pattern } of config.routes) {
    if (pattern === "*") continue;
    if (pattern.endsWith(".*")) {
      const prefix = pattern.slice(0, -2);
      if (prefixes.includes(prefix)) continue;
      const near = nearest(prefix, prefixes);
      add(
        ["handlers", pattern],
        `no Stripe event type starts with "${prefix}.", so this pattern never matches${near ? `; did you mean "${near}.*"?` : ""}`,
      );
    } else if (!known.has(pattern)) {
      const near = nearest(pattern, types);
      add(
        ["handlers", pattern],
        `"${pattern}" is not a Stripe event type, so this pattern never matches${near ? `; did you mean "${near}"?` : ""}`,
      );
    }
  }
  if (config.routes.some((r) => r.pattern === "*") && config.unhandled.length > 0) {
    add(["unhandled"], 'never runs: the "*" handler matches every event, so no event is left unhandled');
  }
  const lintOrder = (actions: readonly Action[], at: Path, received: readonly string[]) =>
    actions.forEach((action, i) => {
      if (!action.order || received.length === 0) return;
      for (const path of templatePaths(action.order.keyText)) {
        const why = missingPath(path, received);
        if (why) {
          add(
            [...at, i, "order", "key"],
            `{{${path}}} ${why}, so the key renders empty and these deliveries run unordered`,
          );
        }
      }
    });
  for (const { pattern, actions } of config.routes) {
    lintOrder(
      actions,
      ["handlers", pattern],
      types.filter((t) => matches(pattern, t)),
    );
  }
  lintOrder(config.unhandled, ["unhandled"], types);
  return findings;
}

/** Top-level fields of a snapshot event (`"object": "event"`) and of a thin one (`"object": "v2.core.event"`). */
const SNAPSHOT_FIELDS = new Set([
  "id",
  "object",
  "account",
  "api_version",
  "context",
  "created",
  "data",
  "livemode",
  "pending_webhooks",
  "request",
  "type",
]);
const THIN_FIELDS = new Set([
  "id",
  "object",
  "type",
  "created",
  "livemode",
  "context",
  "reason",
  "related_object",
  "data",
]);
/** Top-level fields that hold a single value (a string, number or boolean), so nothing lies beneath them. */
const SCALAR_FIELDS = new Set([
  "id",
  "object",
  "account",
  "api_version",
  "context",
  "created",
  "livemode",
  "pending_webhooks",
  "type",
]);
/** What a snapshot event's `data` holds. */
const SNAPSHOT_DATA = new Set(["object", "previous_attributes"]);

/** Why `path` exists in none of the `types` (an event type list), or undefined when it may exist in one. */
function missingPath(path: string, types: readonly string[]): string | undefined {
  const [top = "", second] = path.split(".");
  if (second !== undefined && SCALAR_FIELDS.has(top)) return `is not a field: ${top} is a single value in every event`;
  const thin = types.filter(isThin);
  const snapshot = types.filter((t) => !isThin(t));
  const inSnapshot = SNAPSHOT_FIELDS.has(top) && (top !== "data" || second === undefined || SNAPSHOT_DATA.has(second));
  const inThin = THIN_FIELDS.has(top) && !(top === "data" && second === "object");
  if ((snapshot.length > 0 && inSnapshot) || (thin.length > 0 && inThin)) return undefined;
  if (thin.length > 0 && snapshot.length === 0 && top === "data" && second === "object") {
    return "is not in thin events (they carry related_object.id instead of a data.object)";
  }
  const kinds = thin.length === 0 ? "snapshot events" : snapshot.length === 0 ? "thin events" : "Stripe events";
  return `is not a field of ${kinds} (${top === "data" ? "data has object and previous_attributes" : `they have ${[...(thin.length > 0 && snapshot.length === 0 ? THIN_FIELDS : SNAPSHOT_FIELDS)].join(", ")}`})`;
}

function isThin(type: string): boolean {
  return type.startsWith("v1.") || type.startsWith("v2.");
}

/** Findings as lines that name the file, the path, and the line when the file can be read. */
export function formatFindings(findings: readonly Finding[], source: string, text?: string): string[] {
  const lines = text === undefined ? undefined : new LineCounter();
  const doc = text === undefined ? undefined : parseDocument(text, { lineCounter: lines });
  return findings.map((f) => {
    const line = doc && lines ? keyLine(doc, lines, f.path) : undefined;
    return `${source}: warning: ${f.at}: ${f.message}${line ? ` (line ${line})` : ""}`;
  });
}

/** The closest candidate by edit distance, if it is close enough to be a plausible typo. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(word.length * 0.3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    if (Math.abs(candidate.length - word.length) >= bestDistance) continue;
    const d = distance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
export function distance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    const up = rows[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = d;
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}

function prefixesOf(type: string): string[] {
  const parts = type.split(".");
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("."));
}

/** The line of the key that `path` ends at. */
function keyLine(doc: ReturnType<typeof parseDocument>, lines: LineCounter, path: Path): number | undefined {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((p) => (p.key as { value?: unknown } | null)?.value === path.at(-1));
  const offset = (pair?.key as { range?: [number, number] } | undefined)?.range?.[0];
  return offset === undefined ? undefined : lines.linePos(offset).line;
}
