/**
 * @module What a replay from the page queues: like `payhook events replay`, each delivery is resolved against the
 * current config (its digest), and one whose action the config no longer runs for the event is skipped. The
 * screen then goes back with the counts in its address, for the notice it shows.
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Requeue, Store } from "../store/types.ts";
import { redirect } from "./http.ts";
import type { Changes } from "./live.ts";

/** Most deliveries one bulk replay queues; the confirmation says so when more are selected. */
export const BULK_CAP = 1000;

export interface ReplayResult {
  queued: number;
  skipped: number;
}

export async function replay(
  store: Store,
  config: Config,
  wanted: readonly { eventId: string; eventType: string; action: string }[],
  now: number,
): Promise<ReplayResult> {
  const items: Requeue[] = [];
  let skipped = 0;
  for (const w of wanted) {
    const action = config.router(w.eventType).find((a) => a.name === w.action);
    if (action) items.push({ eventId: w.eventId, action: action.name, digest: action.digest });
    else skipped++;
  }
  const queued = items.length === 0 ? 0 : await store.requeue(items, now);
  return { queued, skipped };
}

/** What a screen that replays needs: the store, the current config, and whom to tell. */
export interface ReplayDeps {
  store: Store;
  /** The current config (it changes on reload): replays resolve actions against it. */
  config: () => Config;
  now: () => number;
  log: Logger;
  /** Starts the worker on newly queued deliveries. */
  wake(): void;
  changes: Changes;
}

/**
 * Logs a replay from the page and records it in the audit trail as `who`'s, wakes the worker when it queued any,
 * and goes `back` with the counts to show.
 */
export async function replayed(
  deps: ReplayDeps,
  back: string,
  result: ReplayResult,
  fields: Record<string, string>,
  who: string,
): Promise<Response> {
  deps.log.info("operator page: replay", { ...fields, requeued: result.queued, skipped: result.skipped, by: who });
  const target = fields.event_id ?? `failure group of ${fields.action}`;
  await deps.store.audit({ at: deps.now(), who, act: "replay", target, count: result.queued });
  if (result.queued > 0) {
    deps.wake();
    deps.changes.notify();
  }
  return redirect(`${back}?replayed=${result.queued}&skipped=${result.skipped}`);
}

/** The notice a screen shows after a replay, from the counts `replayed` put in its address. */
export function replayNotice(url: URL): string | undefined {
  const retried = retriedNotice(url);
  if (retried) return retried;
  const queued = url.searchParams.get("replayed");
  if (queued === null || !/^\d+$/.test(queued)) return undefined;
  const skipped = Number(url.searchParams.get("skipped") ?? 0) || 0;
  const n = Number(queued);
  return `Re-queued ${n} deliver${n === 1 ? "y" : "ies"}${skipped > 0 ? `; ${skipped} skipped because the current config no longer runs their action` : ""}.`;
}

/** The notice after a retry now, from the redirect's address (a number, never text from the request). */
export function retriedNotice(url: URL): string | undefined {
  const moved = url.searchParams.get("retried");
  if (moved === null || !/^\d+$/.test(moved)) return undefined;
  const n = Number(moved);
  return `${n} deliver${n === 1 ? "y is" : "ies are"} due now${n === 0 ? " (running, done, or waiting behind their order key)" : ""}.`;
}
