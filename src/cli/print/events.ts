/**
 * @module How `payhook events` prints: a table and a detail view for people, JSON objects for programs. Text from
 * the store (errors, a script's output, a service's response) is escaped so it cannot drive the terminal.
 */

import type { DeliveryView, EventDetail, EventView } from "../../store/types.ts";
import { attemptWord, deliveryWord } from "../../store/words.ts";
import { escapeControl, escapeControlInLines } from "../../utils/escape.ts";
import { isoTime } from "../../utils/time.ts";

/** One event as a JSON object (snake_case, times as ISO 8601); with the body when the detail is given. */
export function eventJson(event: EventView | EventDetail): Record<string, unknown> {
  return {
    id: event.id,
    type: event.type,
    object: event.object,
    livemode: event.livemode,
    account: event.account,
    api_version: event.apiVersion,
    created: iso(event.created * 1000),
    received_at: iso(event.receivedAt),
    endpoint: event.endpoint,
    source: event.source,
    verified_by: event.verifiedBy,
    deliveries: event.deliveries.map((d) => ({
      action: d.action,
      status: d.status,
      backfilled_at: d.backfilledAt === null ? null : iso(d.backfilledAt),
      order_key: d.orderKey,
      attempts: d.attempts,
      next_at: d.status === "pending" && d.nextAt !== null ? iso(d.nextAt) : null,
      last_error: d.lastError,
      ...("history" in d
        ? {
            history: (d.history as EventDetail["deliveries"][number]["history"]).map((a) => ({
              attempt: a.attempt,
              started_at: iso(a.startedAt),
              finished_at: iso(a.finishedAt),
              status: a.status,
              error: a.error,
              output: a.output,
              fetched: a.fetched,
            })),
          }
        : {}),
    })),
    // The exact bytes Stripe signed, as text: parsing them here would round large numbers.
    ...("body" in event ? { body: new TextDecoder().decode(event.body) } : {}),
  };
}

export function formatTable(events: readonly EventView[]): string[] {
  const rows = events.map((e) => [iso(e.receivedAt), e.source, e.id, e.type, summary(e.deliveries)].map(escapeControl));
  const header = ["RECEIVED", "SOURCE", "EVENT", "TYPE", "DELIVERIES"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function formatEvent(event: EventDetail): string[] {
  const out = [
    `event     ${escapeControl(event.id)}`,
    `type      ${escapeControl(event.type)}`,
    `livemode  ${event.livemode}`,
    `account   ${escapeControl(event.account ?? "-")}`,
    `created   ${iso(event.created * 1000)}`,
    event.source === "fetched"
      ? `fetched   ${iso(event.receivedAt)} from ${escapeControl(event.endpoint)} by payhook catch-up (Stripe did not push it here)`
      : `received  ${iso(event.receivedAt)} on ${escapeControl(event.endpoint)}${event.verifiedBy === null ? "" : `, verified by secret ${escapeControl(event.verifiedBy)}`}`,
  ];
  if (event.deliveries.length === 0) out.push("", "no deliveries (no action matched this type)");
  for (const d of event.deliveries) {
    out.push("", `delivery  ${escapeControl(d.action)}: ${state(d)}`);
    // The key comes from the event, so it is escaped like every other value from the store.
    if (d.orderKey !== null) out.push(`  order key ${escapeControl(d.orderKey)}`);
    if (d.backfilledAt !== null) out.push(`  created by the backfill round of ${iso(d.backfilledAt)}`);
    let previous = 0;
    for (const a of d.history) {
      // Attempt numbers restart when a replay starts a new round.
      if (a.attempt <= previous) out.push("  (replayed)");
      previous = a.attempt;
      out.push(`  #${a.attempt}  ${iso(a.startedAt)}  ${a.finishedAt - a.startedAt} ms  ${attemptWord(a.status)}`);
      if (a.error) out.push(...indent("error: ", a.error));
      if (a.output) out.push(...indent("output: ", a.output));
      if (a.fetched) out.push(...indent("fetched from Stripe: ", a.fetched));
    }
  }
  out.push("", "body:", new TextDecoder().decode(event.body));
  // Single fields are escaped whole above; multi-line text (errors, output, the body) keeps its own newlines.
  return out.map(escapeControlInLines);
}

function state(d: DeliveryView): string {
  const tries = `${d.attempts} ${d.attempts === 1 ? "attempt" : "attempts"}`;
  const word = deliveryWord(d);
  if (d.status === "pending") {
    if (d.nextAt === null && d.orderKey !== null)
      return `${word}, waiting for an earlier delivery of its order key (${tries})`;
    return d.nextAt === null ? `${word} (${tries})` : `${word}, next attempt ${iso(d.nextAt)} (${tries} so far)`;
  }
  if (d.status === "running") return `running (attempt ${d.attempts})`;
  if (d.status === "done") return `done after ${tries}`;
  if (d.status === "discarded") return `discarded after ${tries}: an operator threw it away; it never runs again`;
  return `${d.status} after ${tries}${d.status === "dead" ? "; `payhook events replay` runs it again" : ""}`;
}

function summary(deliveries: readonly DeliveryView[]): string {
  if (deliveries.length === 0) return "-";
  const counts = new Map<string, number>();
  for (const d of deliveries) counts.set(deliveryWord(d), (counts.get(deliveryWord(d)) ?? 0) + 1);
  return [...counts].map(([word, n]) => `${n} ${word}`).join(", ");
}

function indent(label: string, text: string): string[] {
  return text.split("\n").map((line, i) => `      ${i === 0 ? label : " ".repeat(label.length)}${line}`);
}

function iso(ms: number): string {
  return isoTime(ms).replace(/\.\d{3}Z$/, "Z");
}
