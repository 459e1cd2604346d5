/**
 * @module payhook's client for Stripe's API: the `stripe` package's client pointed at `stripe.api_base`, sending
 * through the runtime's fetch, with payhook's own pacing and retries (a bounded request rate, 429 and 5xx retried
 * with backoff, Stripe-Should-Retry honoured) and errors that say what to fix without ever showing the key.
 */
import Stripe from "stripe";
import type { StripeSettings } from "../config/types.ts";
import { PayhookError } from "../errors.ts";
import type { Runtime } from "../runtime/types.ts";
import { guardedFetch, TransportRefusal } from "./transport.ts";

/** The API version of the `stripe` package payhook verifies with, and asks endpoints it creates to use. */
export const STRIPE_API_VERSION: string = Stripe.API_VERSION;

export type Json = Record<string, unknown>;

/** A page of a v1 list. */
export interface ListPage {
  data: Json[];
  has_more: boolean;
}

/** A page of a v2 list: the next page is a URL, not a cursor. */
export interface V2Page {
  data: Json[];
  next_page_url: string | null;
}

export interface WebhookEndpoint {
  id: string;
  url: string;
  enabled_events: string[];
  status: string;
  api_version: string | null;
  description: string | null;
  livemode: boolean;
  /** Unix seconds. */
  created?: number;
  /** Only in the answer to create. */
  secret?: string;
}

/** A v2 event destination, as GET /v2/core/event_destinations lists it with include=webhook_endpoint.url. */
export interface EventDestination {
  id: string;
  /** webhook_endpoint, amazon_eventbridge, azure_event_grid. */
  type: string;
  status: string;
  /** thin or snapshot. */
  event_payload: string;
  enabled_events: string[];
  snapshot_api_version?: string | null;
  status_details?: { disabled?: { reason?: string } } | null;
  webhook_endpoint?: { url?: string } | null;
}

/** A failed call to Stripe's API: `retryable` when trying again later can succeed (429, 5xx, no connection). */
export class StripeApiError extends PayhookError {
  readonly httpStatus: number | undefined;
  readonly retryable: boolean;
  constructor(code: string, message: string, httpStatus: number | undefined, retryable: boolean) {
    super(code, message);
    this.httpStatus = httpStatus;
    this.retryable = retryable;
  }
}

export interface StripeApiOptions {
  settings: StripeSettings & { apiKey: string };
  fetch: Runtime["fetch"];
  /** Extra tries of one request on 429, 5xx and connection errors; 0 for callers that retry on their own schedule. */
  retries: number;
  /** Called before each wait for a retry. */
  onRetry?(retry: { what: string; status: number | undefined; waitMs: number; reason: string }): void;
  sleep?(ms: number): Promise<void>;
  now?(): number;
  /** Aborted when payhook stops: requests in flight and waits between retries end at once. */
  signal?: AbortSignal;
  /** The largest answer read (default MAX_ANSWER_BYTES). */
  maxAnswerBytes?: number;
}

export interface StripeApi {
  /** One page of GET /v1/events; with `account`, a connected account's (the Stripe-Account header). */
  listEvents(params: Json, account?: string): Promise<ListPage>;
  /** Every connected account's id (all pages of GET /v1/accounts). */
  listAccounts(): Promise<string[]>;
  /**
   * One page of GET /v2/core/events; `next` is the previous page's next_page_url. With `context`, a connected
   * account's (the Stripe-Context header, on every page).
   */
  listThinEvents(params: Json, next?: string, context?: string): Promise<V2Page>;
  /** GET /v2/core/events/{id}: a thin event with its data. */
  retrieveThinEvent(id: string, context: string | null): Promise<Json>;
  /** GET of a thin event's related_object.url: the object as it is now. */
  fetchRelatedObject(url: string, context: string | null): Promise<Json>;
  /** Every endpoint of the account (all pages of GET /v1/webhook_endpoints). */
  listWebhookEndpoints(): Promise<WebhookEndpoint[]>;
  createWebhookEndpoint(params: Json): Promise<WebhookEndpoint>;
  /** Every event destination of the account, with its URL (all pages of GET /v2/core/event_destinations). */
  listEventDestinations(): Promise<EventDestination[]>;
  updateWebhookEndpoint(id: string, params: Json): Promise<WebhookEndpoint>;
}

const DESTINATIONS = "GET /v2/core/event_destinations";
/** The first page, with each destination's URL (Stripe redacts it unless asked). */
const DESTINATIONS_FIRST = "/v2/core/event_destinations?include=webhook_endpoint.url&limit=100";
const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 8_000;

export function createStripeApi(options: StripeApiOptions): StripeApi {
  const { settings } = options;
  const { signal } = options;
  const sleep = options.sleep ?? ((ms: number) => wait(ms, signal));
  const now = options.now ?? Date.now;
  const base = new URL(settings.apiBase);
  const send = guardedFetch({ fetch: options.fetch, signal, maxBytes: options.maxAnswerBytes });
  const client = new Stripe(settings.apiKey, {
    host: base.hostname,
    port: base.port || (base.protocol === "http:" ? 80 : 443),
    protocol: base.protocol === "http:" ? "http" : "https",
    httpClient: Stripe.createFetchHttpClient(((url: string | URL | Request, init?: RequestInit) =>
      send(String(url), init ?? {})) as typeof fetch),
    // payhook paces and retries itself: stripe-node would not retry a 429 and would not pace at all.
    maxNetworkRetries: 0,
    telemetry: false,
    timeout: 30_000,
    appInfo: { name: "payhook" },
  });
  const gap = 1000 / settings.maxRate;
  let nextSlot = 0;

  /** Waits for this request's turn, so requests start at most maxRate per second. */
  async function pace(): Promise<void> {
    const at = Math.max(now(), nextSlot);
    nextSlot = at + gap;
    if (at > now()) await sleep(at - now());
  }

  async function call<T>(what: string, request: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await pace();
      try {
        if (signal?.aborted) throw stopping(what);
        return await request();
      } catch (error) {
        const failure = signal?.aborted ? stopping(what) : apiError(what, error);
        if (!failure.retryable || attempt >= options.retries) throw failure;
        const waitMs = backoff(attempt);
        options.onRetry?.({ what, status: failure.httpStatus, waitMs, reason: failure.message });
        await sleep(waitMs);
      }
    }
  }

  const context = (id: string | null) => (id ? { stripeContext: id } : {});
  const get = (path: string, ctx: string | null) =>
    client.rawRequest("GET", path, undefined, context(ctx) as never).then(asJson);

  return {
    listEvents: (params, account) =>
      call(
        "GET /v1/events",
        () =>
          client.events.list(
            params as never,
            (account ? { stripeAccount: account } : {}) as never,
          ) as unknown as Promise<ListPage>,
      ).then((p) => page(p, "GET /v1/events")),
    async listAccounts() {
      const all: string[] = [];
      let after: string | undefined;
      for (let pages = 0; pages < 1000; pages++) {
        const params = { limit: 100, ...(after ? { starting_after: after } : {}) };
        const p = page(
          await call("GET /v1/accounts", () => client.accounts.list(params) as unknown as Promise<ListPage>),
          "GET /v1/accounts",
        );
        all.push(...p.data.map((a) => String(a.id)));
        const last = p.data.at(-1)?.id;
        if (!p.has_more || typeof last !== "string" || last === after) break;
        after = last;
      }
      return all;
    },
    listThinEvents: (params, next, ctx) =>
      call("GET /v2/core/events", () =>
        next
          ? get(next, ctx ?? null)
          : (client.v2.core.events.list(params as never, context(ctx ?? null) as never) as unknown as Promise<Json>),
      ).then((p) => v2Page(p, "GET /v2/core/events")),
    retrieveThinEvent: (id, ctx) =>
      call("GET /v2/core/events/{id}", () => get(`/v2/core/events/${encodeURIComponent(id)}`, ctx)),
    fetchRelatedObject: (url, ctx) => call(`GET ${pathOnly(url)}`, () => get(pathOnly(url), ctx)),
    async listWebhookEndpoints() {
      const all: WebhookEndpoint[] = [];
      let after: string | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const params = { limit: 100, ...(after ? { starting_after: after } : {}) };
        const p = page(
          await call(
            "GET /v1/webhook_endpoints",
            () => client.webhookEndpoints.list(params) as unknown as Promise<ListPage>,
          ),
          "GET /v1/webhook_endpoints",
        );
        all.push(...(p.data as unknown as WebhookEndpoint[]));
        const last = p.data.at(-1)?.id;
        if (!p.has_more || typeof last !== "string" || last === after) break;
        after = last;
      }
      return all;
    },
    listEventDestinations: () =>
      everyV2Page(DESTINATIONS, (next) =>
        call(DESTINATIONS, () => (next ? get(next, null) : client.rawRequest("GET", DESTINATIONS_FIRST).then(asJson))),
      ) as Promise<unknown[]> as Promise<EventDestination[]>,
    createWebhookEndpoint: (params) =>
      // A POST: only retried when Stripe said so, and stripe-node sends an Idempotency-Key that makes it safe.
      call(
        "POST /v1/webhook_endpoints",
        () => client.webhookEndpoints.create(params as never) as unknown as Promise<WebhookEndpoint>,
      ),
    updateWebhookEndpoint: (id, params) =>
      call(
        "POST /v1/webhook_endpoints/{id}",
        () => client.webhookEndpoints.update(id, params as never) as unknown as Promise<WebhookEndpoint>,
      ),
  };
}

/** Exponential backoff with jitter: 250 ms, 500 ms, 1 s … up to 8 s, each between half and all of it. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const full = Math.min(MIN_BACKOFF_MS * 2 ** attempt, MAX_BACKOFF_MS);
  return Math.round(full * (0.5 + random() / 2));
}

/** Keys in Stripe's messages (it masks most of one, but not all) are never repeated. */
export function redactKeys(text: string): string {
  return text.replace(/\b(sk|rk|pk)_(test|live)_[A-Za-z0-9*_]*/g, "(key not shown)");
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function stopping(what: string): StripeApiError {
  return new StripeApiError("stripe_cancelled", `${what}: cancelled because payhook is stopping`, undefined, false);
}

/** A failed call as a StripeApiError that says what failed and whether trying again can help. */
function apiError(what: string, error: unknown): StripeApiError {
  if (error instanceof StripeApiError) return error;
  const e = error as {
    statusCode?: number;
    headers?: Record<string, string>;
    message?: string;
    type?: string;
    detail?: unknown;
  };
  // stripe-node wraps what the transport threw; the transport's own refusals are final and say what to fix.
  const refusal = error instanceof TransportRefusal ? error : e.detail instanceof TransportRefusal ? e.detail : null;
  if (refusal) return new StripeApiError(refusal.code, `${what}: ${refusal.message}`, undefined, false);
  const status = typeof e.statusCode === "number" ? e.statusCode : undefined;
  const shouldRetry = e.headers?.["stripe-should-retry"];
  const said = redactKeys(String(e.message ?? error)).slice(0, 300);
  if (status === 401) {
    return new StripeApiError(
      "stripe_unauthorized",
      `${what}: Stripe refused the API key (401). Is stripe.api_key a current secret or restricted key of this account, in the right mode (test or live)?`,
      status,
      false,
    );
  }
  if (status === 403) {
    return new StripeApiError(
      "stripe_forbidden",
      `${what}: the API key may not do this (403): give the restricted key the permission docs/stripe.md#stripe-api-access lists for it (Stripe says: ${said})`,
      status,
      false,
    );
  }
  if (status === 429) {
    return new StripeApiError(
      "stripe_rate_limited",
      `${what}: Stripe is rate-limiting this account (429${reason(e.headers)}); lower stripe.max_rate, or retry later`,
      status,
      shouldRetry !== "false",
    );
  }
  if (status !== undefined && status >= 500) {
    return new StripeApiError(
      "stripe_unavailable",
      `${what}: Stripe answered ${status} (${said}); try again later`,
      status,
      shouldRetry !== "false",
    );
  }
  if (status !== undefined) {
    return new StripeApiError(
      "stripe_request_refused",
      `${what}: Stripe refused the request (${status}: ${said})`,
      status,
      shouldRetry === "true",
    );
  }
  if (e.type === "StripeConnectionError") {
    return new StripeApiError("stripe_unreachable", `${what}: cannot reach Stripe's API (${said})`, undefined, true);
  }
  if (/Invalid JSON/i.test(said)) {
    return new StripeApiError(
      "stripe_bad_response",
      `${what}: the answer is not JSON; is stripe.api_base Stripe's API (https://api.stripe.com)?`,
      undefined,
      false,
    );
  }
  return new StripeApiError("stripe_error", `${what}: ${said}`, undefined, false);
}

function reason(headers: Record<string, string> | undefined): string {
  const why = headers?.["stripe-rate-limited-reason"];
  return why ? `, ${why}` : "";
}

function asJson(response: unknown): Json {
  if (response === null || typeof response !== "object" || Array.isArray(response)) {
    throw new StripeApiError("stripe_bad_response", "the answer is not a JSON object", undefined, false);
  }
  return response as Json;
}

function page(value: unknown, what: string): ListPage {
  const p = value as Partial<ListPage> | null;
  if (!p || !Array.isArray(p.data) || typeof p.has_more !== "boolean" || p.data.some((d) => !isObject(d))) {
    throw new StripeApiError(
      "stripe_bad_response",
      `${what}: the answer is not a list page (an object with data and has_more)`,
      undefined,
      false,
    );
  }
  return { data: p.data, has_more: p.has_more };
}

function v2Page(value: unknown, what: string): V2Page {
  const p = value as { data?: unknown; next_page_url?: unknown } | null;
  if (!p || !Array.isArray(p.data) || p.data.some((d) => !isObject(d))) {
    throw new StripeApiError("stripe_bad_response", `${what}: the answer is not a list page`, undefined, false);
  }
  const next = typeof p.next_page_url === "string" && p.next_page_url !== "" ? p.next_page_url : null;
  return { data: p.data as Json[], next_page_url: next };
}

/** Every item of a v2 list, following next_page_url (at most 100 pages, and never the same page twice in a row). */
async function everyV2Page(what: string, fetchPage: (next: string | null) => Promise<unknown>): Promise<Json[]> {
  const all: Json[] = [];
  let next: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const p = v2Page(await fetchPage(next), what);
    all.push(...p.data);
    if (p.next_page_url === null || p.next_page_url === next) break;
    next = p.next_page_url;
  }
  return all;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A related object's URL is a path on the API ("/v1/billing/meters/mtr_…"); a full URL keeps only its path. */
function pathOnly(url: string): string {
  if (url.startsWith("/")) return url;
  try {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search}`;
  } catch {
    return `/${url}`;
  }
}
