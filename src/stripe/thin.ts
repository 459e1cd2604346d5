/**
 * @module Thin events with their data: before an action with `fetch:` runs on a thin event, the worker fetches the
 * full event (/v2/core/events/{id}) and/or its related object (related_object.url) from Stripe. Each fetch is made
 * once per event and shared by its actions (in flight and after, for a while); a failed one is forgotten, so the
 * delivery's next attempt fetches again.
 */
import type { FetchTarget } from "../actions/types.ts";
import type { ThinFetcher } from "../delivery/execute.ts";
import type { Json, StripeApi } from "./api.ts";

const MAX_CACHED = 1_000;
const CACHE_MS = 10 * 60_000;

export function createThinFetcher(api: StripeApi, now: () => number = Date.now): ThinFetcher {
  const cache = new Map<string, { at: number; value: Promise<Json | null> }>();

  function one(event: Json, target: FetchTarget): Promise<Json | null> {
    const id = String(event.id);
    const key = `${id}\u0000${target}`;
    const hit = cache.get(key);
    if (hit && now() - hit.at < CACHE_MS) return hit.value;
    const context = typeof event.context === "string" ? event.context : null;
    const related = event.related_object as { url?: unknown } | null | undefined;
    const value =
      target === "event"
        ? api.retrieveThinEvent(id, context)
        : typeof related?.url === "string"
          ? api.fetchRelatedObject(related.url, context)
          : Promise.resolve(null);
    cache.set(key, { at: now(), value });
    value.catch(() => {
      if (cache.get(key)?.value === value) cache.delete(key);
    });
    // Oldest first out: a Map iterates in insertion order.
    while (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value as string);
    return value;
  }

  return {
    async fetch(event, targets) {
      const values = await Promise.all(targets.map((t) => one(event, t)));
      return Object.fromEntries(targets.map((t, i) => [t, values[i] ?? null]));
    },
  };
}
