/**
 * @module The upgrade report: each event received on both the live endpoint and its shadow (same id, two API
 * versions' renderings) run through the handler map twice, as `payhook explain` would, and compared: `when:`
 * outcomes, rendered values (URLs, argv, lines), order keys, and the payload fields that differ, per event type
 * with examples. Nothing is sent, run or written.
 */
import type { Config } from "../config/types.ts";
import { describeEvent } from "../store/event.ts";
import type { EventCopy } from "../store/types.ts";
import { explainEvent } from "./plan.ts";
import { compareActions, type DifferenceKind } from "./whatif.ts";

export type ReportKind = DifferenceKind | "field_removed" | "field_added" | "field_changed";

export interface ReportDifference {
  kind: ReportKind;
  type: string;
  /** The action, or for a field difference the field's path (data.object.parent). */
  what: string;
  events: number;
  examples: string[];
  /** The first example's value in the live rendering and in the shadow one. */
  live?: unknown;
  shadow?: unknown;
}

export interface UpgradeReport {
  livePath: string;
  shadowPath: string;
  liveVersions: string[];
  shadowVersions: string[];
  /** Events compared (received on both endpoints). */
  events: number;
  /** Events whose actions do the same under both renderings. */
  sameActions: number;
  differences: ReportDifference[];
}

const EXAMPLES = 3;
/** Fields that differ by design between two renderings of one event. */
const IGNORED = new Set(["api_version"]);
const utf8 = new TextDecoder();

type Pair = { copy: EventCopy; live: EventCopy | null };

export function upgradeReport(
  config: Pick<Config, "routes" | "unhandled">,
  paths: { live: string; shadow: string },
  pairs: readonly Pair[],
): UpgradeReport {
  const found = new Map<string, ReportDifference>();
  const versions = { live: new Set<string>(), shadow: new Set<string>() };
  let sameActions = 0;
  const note = (type: string, id: string, d: Omit<ReportDifference, "type" | "events" | "examples">) => {
    const key = `${d.kind}\n${type}\n${d.what}`;
    const known = found.get(key);
    if (!known) found.set(key, { ...d, type, events: 1, examples: [id] });
    else {
      known.events++;
      if (known.examples.length < EXAMPLES) known.examples.push(id);
    }
  };
  // Oldest first, so examples read in the order the events came.
  for (const { copy, live } of [...pairs].reverse()) {
    if (!live) continue;
    const a = input(live);
    const b = input(copy);
    versions.live.add(live.apiVersion ?? "(unknown)");
    versions.shadow.add(copy.apiVersion ?? "(unknown)");
    const changes = compareActions(explainEvent(config, a).actions, explainEvent(config, b).actions);
    if (changes.length === 0) sameActions++;
    for (const c of changes)
      note(live.type, live.id, { kind: c.kind, what: c.action, live: c.before, shadow: c.after });
    for (const f of fieldChanges(a.data, b.data)) note(live.type, live.id, f);
  }
  return {
    livePath: paths.live,
    shadowPath: paths.shadow,
    liveVersions: [...versions.live].sort(),
    shadowVersions: [...versions.shadow].sort(),
    events: pairs.filter((p) => p.live).length,
    sameActions,
    differences: [...found.values()].sort((x, y) => x.type.localeCompare(y.type) || x.kind.localeCompare(y.kind)),
  };
}

function input(copy: EventCopy) {
  const data = JSON.parse(utf8.decode(copy.body)) as Record<string, unknown>;
  const event = describeEvent(data, copy.object === "v2.core.event" ? "v2.core.event" : "event");
  return { event, raw: copy.body, data };
}

/** The leaf fields that one rendering has and the other lacks, or that hold different values. */
function fieldChanges(
  live: Record<string, unknown>,
  shadow: Record<string, unknown>,
): Omit<ReportDifference, "type" | "events" | "examples">[] {
  const a = leaves(live);
  const b = leaves(shadow);
  const out: Omit<ReportDifference, "type" | "events" | "examples">[] = [];
  for (const [path, value] of a) {
    if (IGNORED.has(path)) continue;
    if (!b.has(path)) out.push({ kind: "field_removed", what: path, live: value });
    else if (JSON.stringify(b.get(path)) !== JSON.stringify(value)) {
      out.push({ kind: "field_changed", what: path, live: value, shadow: b.get(path) });
    }
  }
  for (const [path, value] of b)
    if (!a.has(path) && !IGNORED.has(path)) out.push({ kind: "field_added", what: path, shadow: value });
  return out;
}

/** Dotted paths of the scalar values (and empty objects and arrays, as values) of `value`. */
function leaves(value: unknown, prefix = "", out = new Map<string, unknown>()): Map<string, unknown> {
  if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, value);
  return out;
}

const LABELS: Record<ReportKind, string> = {
  added: "action added",
  removed: "action removed",
  when: "when: outcome differs",
  rendered: "rendered values differ",
  order_key: "order key differs",
  field_removed: "field missing from the new rendering",
  field_added: "field new in the new rendering",
  field_changed: "field value differs",
};

export function formatReport(r: UpgradeReport): string[] {
  const lines = [
    `${r.shadowPath} (API ${r.shadowVersions.join(", ") || "?"}) against ${r.livePath} (API ${r.liveVersions.join(", ") || "?"}), over ${r.events} event${r.events === 1 ? "" : "s"} received on both:`,
    `  ${r.sameActions} with the same actions, ${r.events - r.sameActions} where the actions differ`,
  ];
  if (r.events === 0) lines.push("  nothing to compare yet: wait until both endpoints have received events");
  let type = "";
  for (const d of r.differences) {
    if (d.type !== type) lines.push(`  ${d.type}:`);
    type = d.type;
    lines.push(
      `    ${d.what}: ${LABELS[d.kind]} for ${d.events} event${d.events === 1 ? "" : "s"} (e.g. ${d.examples.join(", ")})`,
    );
    if (d.live !== undefined) lines.push(`        live:   ${JSON.stringify(d.live)}`);
    if (d.shadow !== undefined) lines.push(`        shadow: ${JSON.stringify(d.shadow)}`);
  }
  return lines;
}
