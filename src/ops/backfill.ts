/**
 * @module What `payhook backfill` queues: one action's deliveries for the stored events it matches and never ran
 * for, oldest first (by the events' `created`, then arrival), with the `order:` key the current config renders,
 * spread out in small batches a second apart so that live events, due at once, keep going first.
 */
import { orderKey } from "../actions/order.ts";
import type { Action } from "../actions/types.ts";
import type { Config } from "../config/types.ts";
import type { Backfill, EventView, Store } from "../store/types.ts";

export interface BackfillRequest {
  action: Action;
  /** Events received in [since, until), unix ms. */
  since: number;
  until?: number;
  /** An event type pattern ("invoice.paid", "invoice.*", "*"); every type the action handles when unset. */
  type?: string;
  /** Deliveries made due per second. */
  rate: number;
  now: number;
}

export interface BackfillPlan {
  /** In the order they run: oldest event first. */
  items: Backfill[];
  /** Matching events the action already has a delivery for (it ran, runs, or an earlier round queued it). */
  already: number;
}

export async function planBackfill(
  config: Pick<Config, "router">,
  store: Pick<Store, "listEvents" | "getEvent">,
  request: BackfillRequest,
): Promise<BackfillPlan> {
  const { action, rate, now } = request;
  const listed = await store.listEvents({
    since: request.since,
    ...(request.until === undefined ? {} : { until: request.until }),
    ...(request.type === undefined ? {} : { type: request.type }),
  });
  const matching = listed.filter((e) => config.router(e.type).some((a) => a.name === action.name));
  const missing = matching.filter((e) => !e.deliveries.some((d) => d.action === action.name)).sort(oldestFirst);
  const items: Backfill[] = [];
  for (const event of missing) {
    const key = action.order ? await renderKey(store, action, event.id) : undefined;
    items.push({
      eventId: event.id,
      action: action.name,
      digest: action.digest,
      ...(key === undefined ? {} : { orderKey: key }),
      dueAt: now + Math.floor(items.length / rate) * 1000,
    });
  }
  return { items, already: matching.length - missing.length };
}

function oldestFirst(a: EventView, b: EventView): number {
  return a.created - b.created || a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The key ingest would have stored; the listing carries no body, so the event is read whole. */
async function renderKey(store: Pick<Store, "getEvent">, action: Action, id: string): Promise<string | undefined> {
  const event = await store.getEvent(id);
  if (!event) return undefined;
  try {
    return orderKey(action.order, JSON.parse(new TextDecoder().decode(event.body)));
  } catch {
    return undefined;
  }
}
