/**
 * @module Catch-up: the events Stripe has but payhook may have missed (payhook down past Stripe's retries, the
 * endpoint disabled, or created after the events), read from Stripe's Events API over a time window, oldest first,
 * and handed to the path a pushed event takes: routed by the handler map, stored with its deliveries in one
 * transaction, deduplicated on the event id. So a run repeated, concurrent with `serve`, or racing Stripe's own
 * delivery of the same event never creates a delivery twice, and never runs an action twice.
 */

import type { Route, Router } from "../config/routes.ts";
import { isThinPattern } from "../config/routes.ts";
import { newDelivery } from "../delivery/rows.ts";
import { PayhookError } from "../errors.ts";
import { describeEvent, type VerifiedEvent } from "../store/event.ts";
import type { Store } from "../store/types.ts";
import { isoTime } from "../utils/time.ts";
import { type Json, type StripeApi, StripeApiError } from "./api.ts";

/** Where fetched events are said to come from (the events table's endpoint column). */
export const V1_SOURCE = "stripe:/v1/events";
export const V2_SOURCE = "stripe:/v2/core/events";

const PAGE_SIZE = 100;
/**
 * The most list pages one run reads (500,000 snapshot events): an API that keeps answering has_more, or a
 * next page, never holds a run (or its memory) without end.
 */
export const MAX_PAGES = 5_000;
/** Stripe's List Events takes at most 20 names in types[]. */
const MAX_TYPES = 20;

export interface CatchUpOptions {
  api: StripeApi;
  store: Store;
  routes: readonly Route[];
  router: Router;
  /** The config's unhandled actions: when there are some, every event type is taken. */
  unhandled: readonly unknown[];
  /** Connect: connected accounts whose events are read too (one account after another), or "all". */
  accounts?: readonly string[] | "all";
  /** The window, unix seconds, both ends included. */
  from: number;
  to: number;
  /** List and count, but store nothing. */
  dryRun?: boolean;
  now?: () => number;
  /** The most list pages read (default MAX_PAGES); past it the run stops part way. */
  maxPages?: number;
  /** After each page. */
  onProgress?(progress: CatchUpProgress): void;
  /** After a page stored events with deliveries (serve wakes its worker). */
  onStored?(): void;
}

export interface CatchUpProgress {
  pages: number;
  /** Events listed in the window. */
  seen: number;
  /** Events stored now (in a dry run: that would be). */
  stored: number;
  /** Events payhook already had (pushed by Stripe, or fetched before). */
  duplicates: number;
  /** Events no handler (nor unhandled) takes: not stored, as Stripe would not have needed to push them. */
  ignored: number;
}

export interface CatchUpSummary extends CatchUpProgress {
  from: string;
  to: string;
  complete: boolean;
  dry_run: boolean;
  /** When incomplete: why, and the --from that finishes the job. */
  error?: string;
  resume_from?: string;
}

/** A catch-up that stopped part way; `summary` says how far it got. */
export class CatchUpError extends PayhookError {
  readonly summary: CatchUpSummary;
  constructor(summary: CatchUpSummary) {
    super("catch_up_incomplete", summary.error ?? "catch-up stopped");
    this.summary = summary;
  }
}

export async function catchUp(options: CatchUpOptions): Promise<CatchUpSummary> {
  const { routes } = options;
  const now = options.now ?? Date.now;
  const progress: CatchUpProgress = { pages: 0, seen: 0, stored: 0, duplicates: 0, ignored: 0 };
  const seen = new Set<string>();
  /** Every event created up to this second is stored; a rerun from it finishes the job. */
  let doneUpTo = options.from;
  const summary = (extra: Partial<CatchUpSummary> = {}): CatchUpSummary => ({
    from: iso(options.from),
    to: iso(options.to),
    ...progress,
    complete: true,
    dry_run: options.dryRun === true,
    ...extra,
  });

  /** Stores one page's events, given oldest first, after checking every one of them. */
  async function take(
    events: Json[],
    object: VerifiedEvent["object"],
    source: string,
    account?: string,
  ): Promise<void> {
    const described = events.map((json) => {
      // Listed for a connected account: its events say so, as the ones Stripe pushes to a Connect endpoint do
      // (`account` on a snapshot event, `context` on a thin one).
      const field = object === "event" ? "account" : "context";
      if (account !== undefined && json[field] == null) json[field] = account;
      const event = asEvent(json, object);
      if (seen.has(event.id)) {
        throw new StripeApiError(
          "stripe_bad_response",
          `the Events API returned ${event.id} twice (a page repeats); stopping rather than looping`,
          undefined,
          false,
        );
      }
      seen.add(event.id);
      return { json, event };
    });
    progress.pages++;
    progress.seen += described.length;
    const writes = described.map(async ({ json, event }) => {
      const actions = options.router(event.type);
      if (actions.length === 0) {
        progress.ignored++;
        return;
      }
      if (options.dryRun) {
        if (await options.store.getEvent(event.id)) progress.duplicates++;
        else progress.stored++;
        return;
      }
      const body = new TextEncoder().encode(JSON.stringify(json));
      const result = await options.store.ingest(
        { ...event, receivedAt: now(), endpoint: source, body, source: "fetched" },
        actions.map((a) => newDelivery(a, json)),
      );
      if (result.status === "stored") progress.stored++;
      else progress.duplicates++;
    });
    // Started in order, so they share the store's group commit in that order.
    await Promise.all(writes);
    const newest = described.at(-1)?.event.created;
    if (newest !== undefined && object === "event") doneUpTo = Math.max(doneUpTo, newest);
    if (!options.dryRun) options.onStored?.();
    options.onProgress?.({ ...progress });
  }

  const listing = { ...options, api: pageCapped(options.api, options.maxPages ?? MAX_PAGES) };
  const thin = routes.filter((r) => isThinPattern(r.pattern)).map((r) => r.pattern);
  const snapshot = routes.some((r) => !isThinPattern(r.pattern)) || needsEverything(options);
  try {
    // Every connected account is listed from Stripe once per run, when a list needs them.
    let accounts = options.accounts === "all" ? undefined : (options.accounts ?? []);
    const connected = async () => (accounts ??= await listing.api.listAccounts());
    if (snapshot) {
      await snapshotEvents(listing, filterFor(routes, options), (events) => take(events, "event", V1_SOURCE));
      // Each account's list is its own (the Stripe-Account header); the client's pacing spans them all.
      for (const account of await connected()) {
        doneUpTo = options.from;
        const api = { ...listing.api, listEvents: (params: Json) => listing.api.listEvents(params, account) };
        await snapshotEvents({ ...listing, api }, filterFor(routes, options), (events) =>
          take(events, "event", V1_SOURCE, account),
        );
      }
    }
    if (thin.length > 0) {
      doneUpTo = options.from;
      await thinEvents(listing, thin, (events) => take(events, "v2.core.event", V2_SOURCE));
      // The same for thin events, with the Stripe-Context header.
      for (const account of await connected()) {
        const api = {
          ...listing.api,
          listThinEvents: (params: Json, next?: string) => listing.api.listThinEvents(params, next, account),
        };
        await thinEvents({ ...listing, api }, thin, (events) => take(events, "v2.core.event", V2_SOURCE, account));
      }
    }
  } catch (error) {
    const why = error instanceof PayhookError ? error.message : String(error);
    throw new CatchUpError(summary({ complete: false, error: why, resume_from: iso(doneUpTo) }));
  }
  return summary();
}

/** The API, refusing to list more than `max` pages. */
function pageCapped(api: StripeApi, max: number): StripeApi {
  let pages = 0;
  const count = () => {
    if (++pages <= max) return;
    throw new StripeApiError(
      "catch_up_page_cap",
      `catch-up read ${max} pages of events, the most one run reads, and stopped there; the next run starts again from its window's start`,
      undefined,
      false,
    );
  };
  return {
    ...api,
    listEvents: async (params, account) => {
      count();
      return api.listEvents(params, account);
    },
    listThinEvents: async (params, next, context) => {
      count();
      return api.listThinEvents(params, next, context);
    },
  };
}

/** Routes with `*` or unhandled actions take every type, so the list cannot be narrowed. */
function needsEverything(options: CatchUpOptions): boolean {
  return options.routes.some((r) => r.pattern === "*") || options.unhandled.length > 0;
}

/** Narrows List Events to the handled types when it can say them in one query (up to 20 exact names). */
function filterFor(routes: readonly Route[], options: CatchUpOptions): Json {
  if (needsEverything(options)) return {};
  const exact = routes.map((r) => r.pattern).filter((p) => !isThinPattern(p));
  if (exact.some((p) => p.endsWith(".*")) || exact.length > MAX_TYPES) return {};
  return { types: exact };
}

/**
 * Snapshot events, oldest first. Stripe lists newest first; `ending_before` pages toward newer events, each page
 * the `limit` events just after the cursor, so anchored on the last event before the window the pages come
 * oldest first. With no event before the window, one newest-first pass finds its oldest page to anchor on.
 */
async function snapshotEvents(options: CatchUpOptions, filter: Json, take: (events: Json[]) => Promise<void>) {
  const { api, from, to } = options;
  const window = { ...filter, created: { gte: from, lte: to } };
  const before = await api.listEvents({ ...filter, limit: 1, created: { lt: from } });
  let cursor = before.data[0]?.id as string | undefined;
  if (cursor === undefined) {
    let oldest: Json[] = [];
    let after: string | undefined;
    let more = true;
    const visited = new Set<string>();
    while (more) {
      const page = await api.listEvents({ ...window, limit: PAGE_SIZE, ...(after ? { starting_after: after } : {}) });
      if (page.data.length === 0) break;
      const last = String(page.data.at(-1)?.id);
      if (visited.has(last)) {
        throw new StripeApiError(
          "stripe_bad_response",
          "the Events API returned the same page twice; stopping rather than looping",
          undefined,
          false,
        );
      }
      visited.add(last);
      oldest = page.data;
      after = last;
      more = page.has_more;
    }
    if (oldest.length === 0) return;
    await take([...oldest].reverse());
    cursor = oldest[0]?.id as string;
  }
  for (;;) {
    const page = await api.listEvents({ ...window, limit: PAGE_SIZE, ending_before: cursor });
    if (page.data.length === 0) return;
    await take([...page.data].reverse());
    cursor = page.data[0]?.id as string;
    if (!page.has_more) return;
  }
}

/**
 * Thin events: the v2 list has no cursor to page toward newer events, only next_page_url (newest first), so the
 * window's thin events are gathered, then taken oldest first (`created` has milliseconds).
 */
async function thinEvents(options: CatchUpOptions, patterns: string[], take: (events: Json[]) => Promise<void>) {
  const exact = patterns.filter((p) => !p.endsWith(".*"));
  const params: Json = {
    limit: 20,
    // v2 `created` has milliseconds: the window's last second is included whole.
    created: { gte: iso(options.from), lte: new Date(options.to * 1000 + 999).toISOString() },
    ...(exact.length === patterns.length && exact.length <= MAX_TYPES ? { types: exact } : {}),
  };
  const all: Json[] = [];
  const visited = new Set<string>();
  let next: string | undefined;
  do {
    const page = await options.api.listThinEvents(params, next);
    all.push(...page.data);
    next = page.next_page_url ?? undefined;
    if (next !== undefined) {
      if (visited.has(next)) {
        throw new StripeApiError(
          "stripe_bad_response",
          "the v2 Events API returned the same next page twice; stopping rather than looping",
          undefined,
          false,
        );
      }
      visited.add(next);
    }
  } while (next !== undefined);
  const time = (e: Json) => Date.parse(String(e.created));
  // Listed newest first: reversed, then a stable sort keeps Stripe's order among events of the same millisecond.
  all.reverse().sort((a, b) => time(a) - time(b));
  for (let i = 0; i < all.length; i += PAGE_SIZE) await take(all.slice(i, i + PAGE_SIZE));
}

function asEvent(json: Json, object: VerifiedEvent["object"]): VerifiedEvent {
  try {
    return describeEvent(json, object);
  } catch (error) {
    throw new StripeApiError(
      "stripe_bad_response",
      `the Events API returned something that is not an event (${error instanceof Error ? error.message : error})`,
      undefined,
      false,
    );
  }
}

export function iso(seconds: number): string {
  return isoTime(seconds * 1000).replace(/\.000Z$/, "Z");
}
