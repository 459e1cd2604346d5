/**
 * @module What-if: a candidate handler map run over stored events, compared with the running config, action by
 * action: actions added and removed, `when:` outcomes that change, rendered values that change (URLs, argv,
 * lines) and order keys. Both sides are worked out by explainEvent, so nothing is sent, run or written.
 */
import type { Config } from "../config/types.ts";
import { describeEvent } from "../store/event.ts";
import type { EventDetail } from "../store/types.ts";
import { type ActionExplanation, explainEvent } from "./plan.ts";

export type DifferenceKind = "added" | "removed" | "when" | "rendered" | "order_key";

/** One kind of change to one action for one event type, with how many events it touches. */
export interface Difference {
  kind: DifferenceKind;
  type: string;
  action: string;
  events: number;
  /** Up to EXAMPLES event ids, oldest first. */
  examples: string[];
  /** For `when`, `rendered` and `order_key`: the first example's value before and after. */
  before?: unknown;
  after?: unknown;
}

export interface WhatIf {
  events: number;
  /** Events for which the candidate does exactly what the running config does. */
  unchanged: number;
  differences: Difference[];
}

const EXAMPLES = 3;
const utf8 = new TextDecoder();

type HandlerMap = Pick<Config, "routes" | "unhandled">;

/** Compares `running` and `candidate` on `events` (each a stored event with its bytes). */
export function compareConfigs(running: HandlerMap, candidate: HandlerMap, events: readonly EventDetail[]): WhatIf {
  const found = new Map<string, Difference>();
  let unchanged = 0;
  for (const stored of events) {
    const changes = compareEvent(running, candidate, stored);
    if (changes.length === 0) unchanged++;
    for (const change of changes) {
      const key = `${change.kind}\n${stored.type}\n${change.action}`;
      const known = found.get(key);
      if (known) {
        known.events++;
        if (known.examples.length < EXAMPLES) known.examples.push(stored.id);
      } else {
        found.set(key, { ...change, type: stored.type, events: 1, examples: [stored.id] });
      }
    }
  }
  return { events: events.length, unchanged, differences: [...found.values()] };
}

type Change = Omit<Difference, "type" | "events" | "examples">;

function compareEvent(running: HandlerMap, candidate: HandlerMap, stored: EventDetail): Change[] {
  const data = JSON.parse(utf8.decode(stored.body)) as Record<string, unknown>;
  const object = stored.object === "v2.core.event" ? "v2.core.event" : "event";
  const input = { event: describeEvent(data, object), raw: stored.body, data };
  const before = byName(explainEvent(running, input).actions);
  const after = byName(explainEvent(candidate, input).actions);
  const changes: Change[] = [];
  for (const [name, a] of before) {
    const b = after.get(name);
    if (!b) {
      changes.push({ kind: "removed", action: name });
      continue;
    }
    if (a.status !== b.status) {
      changes.push({ kind: "when", action: name, before: verdict(a), after: verdict(b) });
    } else if (JSON.stringify(rendered(a)) !== JSON.stringify(rendered(b))) {
      changes.push({ kind: "rendered", action: name, before: rendered(a), after: rendered(b) });
    }
    if (a.order_key !== b.order_key) {
      changes.push({ kind: "order_key", action: name, before: a.order_key, after: b.order_key });
    }
  }
  for (const name of after.keys()) if (!before.has(name)) changes.push({ kind: "added", action: name });
  return changes;
}

function byName(actions: ActionExplanation[]): Map<string, ActionExplanation> {
  return new Map(actions.map((a) => [a.name, a]));
}

function verdict(a: ActionExplanation): string {
  return a.status === "run" ? "runs" : `${a.status}: ${a.reason}`;
}

/** What the action would do, rendered for the event: its kind's details, the same ones explain prints. */
function rendered(a: ActionExplanation): unknown {
  return a.log ?? a.forward ?? a.exec ?? a.file ?? null;
}

const LABELS: Record<DifferenceKind, string> = {
  added: "added",
  removed: "removed",
  when: "when: outcome changes",
  rendered: "rendered values change",
  order_key: "order key changes",
};

/** The comparison as lines for a person. */
export function formatWhatIf(result: WhatIf, running: string, candidate: string): string[] {
  const lines = [
    `${candidate} against ${running}, over ${result.events} stored event${result.events === 1 ? "" : "s"}:`,
    `  ${result.unchanged} unchanged, ${result.events - result.unchanged} with differences`,
  ];
  for (const d of result.differences) {
    lines.push(
      `  ${d.type}: ${d.action} ${LABELS[d.kind]} for ${d.events} event${d.events === 1 ? "" : "s"} (e.g. ${d.examples.join(", ")})`,
    );
    if (d.before !== undefined || d.after !== undefined) {
      lines.push(`      before: ${JSON.stringify(d.before)}`, `      after:  ${JSON.stringify(d.after)}`);
    }
  }
  return lines;
}
