/**
 * @module `order: { key, stale }` on an action: the per-object ordering guard. The key is rendered from the event at
 * ingest and stored with the delivery; the store's claim then runs one delivery per (action, key) at a time, in
 * the order of the events' `created` (ties: arrival). This file holds the config side and the rule's wording; the
 * rule itself lives in each store's claim, where it is atomic.
 */
import { type Static, Type } from "@sinclair/typebox";
import { compileTemplate, type Template } from "../utils/template.ts";

export const OrderSchema = Type.Object(
  {
    key: Type.String({
      minLength: 1,
      description:
        'a template naming the object whose events must not overtake each other, such as "{{data.object.id}}"',
    }),
    stale: Type.Optional(
      Type.Union([Type.Literal("run"), Type.Literal("skip")], {
        description:
          "run (the default): only serialise; skip: an event older than one already delivered for its key is marked done without running",
      }),
    ),
  },
  {
    additionalProperties: false,
    description: "run this action's deliveries one at a time per key, in the order of the events' created time",
  },
);

export type OrderSpec = Static<typeof OrderSchema>;

export interface OrderRule {
  /** The template as written, for messages and lint. */
  readonly keyText: string;
  readonly key: Template;
  readonly stale: "run" | "skip";
}

/** Longer rendered keys are cut: two objects sharing the first 255 characters are serialised together, no worse. */
export const MAX_ORDER_KEY = 255;

/** Compiles an `order:` spec, or returns problems as [relative path, message]. */
export function compileOrder(spec: OrderSpec | undefined): { problems: [string, string][] } | { rule?: OrderRule } {
  if (spec === undefined) return {};
  const key = compileTemplate(spec.key);
  if (typeof key === "string") return { problems: [["order.key", key]] };
  if (!/\{\{/.test(spec.key)) {
    return {
      problems: [
        [
          "order.key",
          `"${spec.key}" has no {{path}} placeholder, so every event would share one key; name the object, such as "{{data.object.id}}"`,
        ],
      ],
    };
  }
  return { rule: { keyText: spec.key, key, stale: spec.stale ?? "run" } };
}

/** The key of `event` (the parsed JSON) under `rule`, or undefined when the event runs unordered (it renders empty). */
export function orderKey(rule: OrderRule | undefined, event: unknown): string | undefined {
  if (!rule || event === undefined) return undefined;
  // A NUL (which PostgreSQL text cannot hold) becomes U+FFFD, on every store alike.
  const key = rule.key(event).replaceAll("\u0000", "\ufffd");
  return key === "" ? undefined : key.slice(0, MAX_ORDER_KEY);
}

/** The note of a delivery skipped by `stale: skip`, naming the newer event that was delivered. */
export function staleNote(newerEventId: string): string {
  return `skipped: stale, ${newerEventId} created later was delivered`;
}

/** The note of a replayed delivery that ran although a newer event for its key was delivered. */
export function replayNote(newerEventId: string): string {
  return `replayed: ran although ${newerEventId} created later was delivered (stale: skip does not apply to a replay)`;
}
