/**
 * @module The alert rules as pure functions of what was observed: each enabled rule returns the conditions that
 * hold now. An incident is keyed by its condition (`dead:<action>`, `backlog`…): the same key on the next
 * evaluation updates it, a key no longer reported resolves it. No I/O here; src/alerts/loop.ts gathers the facts.
 */

import type { RuleSettings } from "../config/alerts.ts";
import type { AlertFacts, Condition, QueueStats } from "../store/types.ts";

/** A Stripe endpoint's drift, as src/alerts/stripe-watch.ts found it. */
export interface EndpointDrift {
  /** The endpoint's id at Stripe, or "none" when no endpoint delivers to this config's paths. */
  id: string;
  /** A v2 event destination; a v1 webhook endpoint when left out. */
  kind?: "destination";
  url: string;
  problems: string[];
}

export interface Observed {
  now: number;
  facts: AlertFacts;
  queue: QueueStats;
  /** Actions whose breaker is open, when the store keeps breakers. */
  breakers: readonly string[];
  /** The configured endpoint paths. */
  endpoints: readonly string[];
  /** When this server started: silence needs a full period of listening before it speaks. */
  startedAt: number;
  /** Free space on the SQLite store's disk, when known. */
  disk?: { freePercent: number; path: string };
  /** When payhook's own TLS certificate expires (unix ms), when it serves TLS. */
  certificateExpiresAt?: number;
  /** The last check of Stripe's endpoints; undefined before the first one (their incidents stay as they are). */
  stripe?: readonly EndpointDrift[];
}

/** The rules every instance sharing a store would evaluate alike: one instance at a time does. */
export const SHARED_RULES = [
  "dead",
  "failing",
  "backlog",
  "store",
  "silence",
  "missed",
  "stripe_endpoint",
  "certificate",
] as const;

export interface Evaluation {
  /** Key prefixes covered: their incidents not reported open are resolved. */
  scope: string[];
  open: Condition[];
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export function evaluate(rules: RuleSettings, seen: Observed): Evaluation {
  const open: Condition[] = [];
  const scope = SHARED_RULES.filter((r) => r !== "stripe_endpoint" || seen.stripe !== undefined).map((r) => `${r}:`);
  const add = (rule: string, key: string, summary: string, details: string, count: number) =>
    open.push({ key: `${rule}:${key}`, rule, summary, details, count });

  if (rules.dead) {
    for (const { action, dead } of seen.facts.dead) {
      add("dead", action, `${dead} deliveries of ${action} went dead`, deadDetails(action), dead);
    }
  }
  if (rules.failing) {
    const { failures } = rules.failing;
    const streaks = new Map(seen.facts.streaks.map((s) => [s.action, s.failures]));
    const names = new Set([...seen.breakers, ...[...streaks].filter(([, n]) => n >= failures).map(([a]) => a)]);
    for (const action of [...names].sort()) {
      const n = streaks.get(action) ?? 0;
      const breaker = seen.breakers.includes(action);
      add(
        "failing",
        action,
        breaker ? `${action} is failing: its breaker is open` : `${action} failed ${n} times in a row`,
        `The last ${n} attempts of ${action} failed. See \`payhook events list --status failed\` or the operator page; the incident resolves at its next success.`,
        n,
      );
    }
  }
  if (rules.backlog && seen.queue.oldestPendingAt !== null) {
    const age = seen.now - seen.queue.oldestPendingAt;
    if (age >= rules.backlog.olderThanMs) {
      const pending = (seen.queue.byStatus.pending ?? 0) + (seen.queue.byStatus.running ?? 0);
      add(
        "backlog",
        "queue",
        `the oldest pending delivery is ${span(age)} old (${pending} pending)`,
        "Deliveries wait longer than the backlog rule allows: an action is slow or failing and retrying, or the worker cannot keep up. `payhook events list --status pending` shows them.",
        pending,
      );
    }
  }
  if (rules.store && seen.disk && seen.disk.freePercent < rules.store.minFreePercent) {
    add(
      "store",
      "disk",
      `the store's disk is ${100 - Math.round(seen.disk.freePercent)}% full`,
      `Only ${seen.disk.freePercent.toFixed(1)}% is free on the disk of ${seen.disk.path}; when it is full, payhook answers 503 and Stripe retries. Free space, or shorten retention.`,
      Math.round(seen.disk.freePercent),
    );
  }
  if (rules.silence && seen.now - seen.startedAt >= rules.silence.forMs) {
    const paths = rules.silence.endpoint ? [rules.silence.endpoint] : seen.endpoints;
    const counts = new Map(seen.facts.events.map((e) => [e.endpoint, e.events]));
    const heard = paths.reduce((sum, p) => sum + (counts.get(p) ?? 0), 0);
    if (heard === 0) {
      const where = rules.silence.endpoint ?? "any endpoint";
      add(
        "silence",
        rules.silence.endpoint ?? "*",
        `no event on ${where} for ${span(rules.silence.forMs)}`,
        "Stripe sent nothing: the endpoint may be disabled at Stripe, its URL changed, or a proxy in front of payhook stopped forwarding. `payhook doctor` checks the chain.",
        0,
      );
    }
  }
  if (rules.missed && seen.facts.fetched > 0) {
    add(
      "missed",
      "catch-up",
      `catch-up found ${seen.facts.fetched} events Stripe never delivered here`,
      "Catch-up stored events from Stripe's API that payhook never received: the endpoint was unreachable, disabled or misrouted for a while. They are stored and their actions run; check why Stripe could not deliver (`payhook doctor`).",
      seen.facts.fetched,
    );
  }
  for (const drift of seen.stripe ?? []) {
    if (rules.stripeEndpoint && drift.problems.length > 0) {
      add(
        "stripe_endpoint",
        drift.id,
        drift.id === "none"
          ? (drift.problems[0] ?? "")
          : `Stripe's ${drift.kind === "destination" ? "event destination" : "endpoint"} ${drift.id} (${drift.url}) needs attention`,
        drift.problems.join("\n"),
        drift.problems.length,
      );
    }
  }
  if (rules.certificate && seen.certificateExpiresAt !== undefined) {
    const left = seen.certificateExpiresAt - seen.now;
    if (left < rules.certificate.withinMs) {
      const days = Math.max(0, Math.floor(left / 86_400_000));
      add(
        "certificate",
        "listen",
        left <= 0
          ? "payhook's TLS certificate has expired"
          : `payhook's TLS certificate expires ${days === 0 ? "within a day" : `in ${days} days`}`,
        `It expires ${new Date(seen.certificateExpiresAt).toISOString()}: renew the file listen.tls.cert names, then reload payhook (SIGHUP) or restart it.`,
        days,
      );
    }
  }
  return { scope, open };
}

/** A burst of requests with bad signatures on this instance (the counts are its own). */
export function signatureCondition(instance: string, perMinute: number, seenPerMinute: number): Condition | undefined {
  if (seenPerMinute < perMinute) return undefined;
  return {
    key: `signatures@${instance}`,
    rule: "signatures",
    summary: `${seenPerMinute} requests per minute with a bad signature on ${instance}`,
    details:
      "Requests whose Stripe-Signature does not verify: a rotated signing secret not yet in the config, a proxy that changes the body, or someone probing the endpoint. The log has each one's reason.",
    count: seenPerMinute,
  };
}

/** A duration as a person says it: whole seconds, minutes or hours, whichever is the largest unit it fills. */
function span(ms: number): string {
  const [n, unit] =
    ms >= HOUR
      ? [Math.floor(ms / HOUR), "hour"]
      : ms >= MINUTE
        ? [Math.floor(ms / MINUTE), "minute"]
        : [Math.floor(ms / 1000), "second"];
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

function deadDetails(action: string): string {
  return `Deliveries of ${action} used up their retries. Fix the cause, then replay them: \`payhook events replay --status dead\` or the operator page's Failures screen.`;
}
