/**
 * @module Stripe's API as payhook's catch-up, thin-event fetches and endpoint commands use it, on 127.0.0.1:
 * List Events as Stripe serves it (newest first; limit, starting_after / ending_before, created[gte|gt|lte|lt],
 * types[], has_more), the v2 event list (next_page_url; a connected account's with Stripe-Context) and retrieve,
 * related objects, webhook endpoints (list, create, update), and v2 event destinations (list; their URL only with
 * include=webhook_endpoint.url). Faults are injected per request: a status with Stripe's error body and headers, a
 * page that is not JSON, the previous page served again, a redirect, or no answer at all.
 */
import { randomBytes } from "node:crypto";

type Json = Record<string, unknown>;

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  form: URLSearchParams;
  authorization: string | null;
  /** The Stripe-Account header: a request made for a connected account. */
  account: string | null;
  /** The Stripe-Context header: a v2 request made for a connected account. */
  context: string | null;
}

export interface Fault {
  /** Only requests whose path starts with this (default: every request). */
  path?: string;
  /** An HTTP status answered with Stripe's error shape. */
  status?: number;
  headers?: Record<string, string>;
  /** Answer 200 with this text instead (a page that is not JSON). */
  garbage?: string;
  /** Answer with the previous successful list page again. */
  repeat?: boolean;
  /** Never answer (an unresponsive API); the connection stays open until the fake stops. */
  hang?: boolean;
  /** Answer 302 to this URL. */
  redirect?: string;
  /** How many requests get the fault. */
  times: number;
  /** Every Nth matching request gets it (default 1: each one, in a row). */
  every?: number;
  /** The first this many matching requests pass untouched. */
  after?: number;
}

export interface FakeWebhookEndpoint {
  id: string;
  object: "webhook_endpoint";
  url: string;
  enabled_events: string[];
  status: "enabled" | "disabled";
  api_version: string | null;
  description: string | null;
  livemode: boolean;
  metadata: Record<string, string>;
  created: number;
  /** Created with connect: true: it receives the events of connected accounts. */
  connect?: boolean;
}

export interface FakeEventDestination {
  id: string;
  object: "v2.core.event_destination";
  type: "webhook_endpoint" | "amazon_eventbridge" | "azure_event_grid";
  event_payload: "thin" | "snapshot";
  enabled_events: string[];
  status: "enabled" | "disabled";
  status_details?: { disabled?: { reason: string } };
  snapshot_api_version?: string;
  webhook_endpoint?: { url: string };
  name: string;
  description: string;
  livemode: boolean;
  created: string;
  updated: string;
}

export interface FakeStripeApi {
  apiBase: string;
  /** The key the fake accepts. */
  key: string;
  requests: FakeRequest[];
  endpoints: FakeWebhookEndpoint[];
  /** Event destinations GET /v2/core/event_destinations lists, in order. */
  destinations: FakeEventDestination[];
  /** Records a snapshot event as Stripe would have created it; later calls are newer. Returns it. With `account`,
   * an event of that connected account: listed only with its Stripe-Account header. */
  addEvent(event: Json): Json;
  /** Connected accounts GET /v1/accounts lists. */
  accounts: string[];
  /** Records a thin event: the notification fields plus `data`, which only retrieve and list return. With a
   * `context`, an event of that connected account: listed only with its Stripe-Context header. */
  addThinEvent(event: Json): Json;
  /** An object served at `path` (a thin event's related_object.url). */
  setObject(path: string, object: Json): void;
  inject(fault: Fault): void;
  /** Marks an event as one Stripe failed to deliver: List Events with delivery_success=false returns it. */
  markUndelivered(id: string): void;
  /** Stripe's clock runs this far ahead of this machine's, as its Date header says (default 0). */
  clockOffsetMs: number;
  clearFaults(): void;
  /** Requests for `path` (exact, without the query). */
  calls(path: string): FakeRequest[];
  stop(): void;
}

export function startFakeStripeApi(key: string): FakeStripeApi {
  const events: Json[] = [];
  const thin: Json[] = [];
  const objects = new Map<string, Json>();
  const endpoints: FakeWebhookEndpoint[] = [];
  const destinations: FakeEventDestination[] = [];
  const accounts: string[] = [];
  const requests: FakeRequest[] = [];
  const faults: (Fault & { seen: number })[] = [];
  const undelivered = new Set<string>();
  const clock = { offsetMs: 0 };
  const v2Pages = new Map<string, { events: Json[]; context: string | null }>();
  let lastPage: string | undefined;

  const error = (status: number, message: string, type = "invalid_request_error", headers: Json = {}) =>
    new Response(JSON.stringify({ error: { type, message } }), {
      status,
      headers: { "content-type": "application/json", "request-id": `req_${hex(7)}`, ...(headers as object) },
    });

  const fault = (path: string): Response | Promise<Response> | undefined => {
    for (const f of faults) {
      if (f.times <= 0 || (f.path !== undefined && !path.startsWith(f.path))) continue;
      f.seen++;
      if (f.seen <= (f.after ?? 0) || (f.seen - (f.after ?? 0)) % (f.every ?? 1) !== 0) return undefined;
      f.times--;
      if (f.hang) return new Promise<Response>(() => {});
      if (f.redirect !== undefined) return new Response(null, { status: 302, headers: { location: f.redirect } });
      if (f.garbage !== undefined) return new Response(f.garbage, { headers: { "content-type": "text/html" } });
      if (f.repeat && lastPage !== undefined) {
        return new Response(lastPage, { headers: { "content-type": "application/json" } });
      }
      const status = f.status ?? 500;
      const type = status === 429 ? "rate_limit_error" : status >= 500 ? "api_error" : "invalid_request_error";
      return error(status, status === 429 ? "Too many requests" : "Something went wrong", type, f.headers ?? {});
    }
    return undefined;
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    // A hanging answer stays unanswered for as long as the test wants, not Bun's default 10 s.
    idleTimeout: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const form = new URLSearchParams(request.method === "POST" ? await request.text() : "");
      const auth = request.headers.get("authorization");
      const account = request.headers.get("stripe-account");
      const context = request.headers.get("stripe-context");
      requests.push({
        method: request.method,
        path: url.pathname,
        query: url.searchParams,
        form,
        authorization: auth,
        account,
        context,
      });
      const given = auth?.replace(/^Bearer /, "") ?? "";
      // Real Stripe masks most of a key it refuses; this fake repeats it whole, so a test proves payhook never does.
      if (given !== key) return error(401, `Invalid API Key provided: ${given}`);
      const injected = fault(url.pathname);
      if (injected) return injected;
      const answer = route(request.method, url, form, account, context);
      if (answer instanceof Response) return answer;
      const text = JSON.stringify(answer);
      if (url.pathname === "/v1/events" || url.pathname === "/v2/core/events") lastPage = text;
      return new Response(text, {
        headers: {
          "content-type": "application/json",
          "request-id": `req_${hex(7)}`,
          date: new Date(Date.now() + clock.offsetMs).toUTCString(),
        },
      });
    },
  });

  function route(
    method: string,
    url: URL,
    form: URLSearchParams,
    account: string | null,
    context: string | null,
  ): Json | Response {
    const path = url.pathname;
    const q = url.searchParams;
    if (method === "GET" && path === "/v1/events") return listEvents(q, account);
    if (method === "GET" && path === "/v1/accounts") {
      const after = q.get("starting_after");
      const start = after ? accounts.indexOf(after) + 1 : 0;
      const limit = Number(q.get("limit") ?? 10);
      const data = accounts.slice(start, start + limit).map((id) => ({ id, object: "account" }));
      return { object: "list", url: path, data, has_more: start + limit < accounts.length };
    }
    if (method === "GET" && path === "/v2/core/events") return listThin(q, context);
    if (method === "GET" && path === "/v2/core/event_destinations") return listDestinations(q);
    if (method === "GET" && path.startsWith("/v2/core/events/")) {
      const id = decodeURIComponent(path.slice("/v2/core/events/".length));
      const found = thin.find((e) => e.id === id);
      return found ?? error(404, `No such event: '${id}'`);
    }
    if (method === "GET" && objects.has(path)) return objects.get(path) as Json;
    if (path === "/v1/webhook_endpoints" && method === "GET") {
      const limit = Number(q.get("limit") ?? 10);
      const after = q.get("starting_after");
      const start = after ? endpoints.findIndex((e) => e.id === after) + 1 : 0;
      const data = endpoints.slice(start, start + limit);
      return { object: "list", url: path, data, has_more: start + limit < endpoints.length };
    }
    if (path === "/v1/webhook_endpoints" && method === "POST") {
      const enabled = array(form, "enabled_events");
      const target = form.get("url");
      if (!target || enabled.length === 0) return error(400, "Missing required param: url or enabled_events.");
      const created: FakeWebhookEndpoint = {
        id: `we_${hex(12)}`,
        object: "webhook_endpoint",
        url: target,
        enabled_events: enabled,
        status: "enabled",
        api_version: form.get("api_version"),
        description: form.get("description"),
        livemode: key.includes("_live_"),
        metadata: {},
        created: Math.floor(Date.now() / 1000),
        connect: form.get("connect") === "true",
      };
      endpoints.push(created);
      return { ...created, secret: `whsec_${hex(16)}` };
    }
    const one = /^\/v1\/webhook_endpoints\/(we_[A-Za-z0-9]+)$/.exec(path);
    if (one) {
      const endpoint = endpoints.find((e) => e.id === one[1]);
      if (!endpoint) return error(404, `No such webhook endpoint: '${one[1]}'`);
      if (method === "GET") return endpoint as unknown as Json;
      const enabled = array(form, "enabled_events");
      if (enabled.length > 0) endpoint.enabled_events = enabled;
      if (form.has("disabled")) endpoint.status = form.get("disabled") === "true" ? "disabled" : "enabled";
      if (form.has("description")) endpoint.description = form.get("description");
      if (form.has("url")) endpoint.url = form.get("url") as string;
      return endpoint as unknown as Json;
    }
    return error(404, `Unrecognized request URL (${method}: ${path})`);
  }

  /** Newest first: by created, then by the order Stripe recorded them. */
  function newestFirst(list: Json[]): Json[] {
    return list
      .map((e, i) => [e, i] as const)
      .sort((a, b) => Number(b[0].created) - Number(a[0].created) || b[1] - a[1])
      .map(([e]) => e);
  }

  function listEvents(q: URLSearchParams, account: string | null): Json | Response {
    const limit = Number(q.get("limit") ?? 10);
    if (!(limit >= 1 && limit <= 100)) return error(400, "Invalid integer: limit must be between 1 and 100");
    const types = array(q, "types");
    const type = q.get("type");
    if (types.length > 0 && type) return error(400, "You may only specify one of these parameters: type, types.");
    if (types.length > 20) return error(400, "types may have at most 20 entries");
    const range = createdRange(q, Number);
    const keep = (e: Json) =>
      (e.account ?? null) === account &&
      inRange(Number(e.created), range) &&
      (types.length === 0 || types.includes(String(e.type))) &&
      (!type || (type.endsWith("*") ? String(e.type).startsWith(type.slice(0, -1)) : e.type === type)) &&
      (q.get("delivery_success") === null || undelivered.has(String(e.id)) === (q.get("delivery_success") === "false"));
    const all = newestFirst(events);
    const after = q.get("starting_after");
    const before = q.get("ending_before");
    if (after && before)
      return error(400, "You may only specify one of these parameters: starting_after, ending_before.");
    const cursor = after ?? before;
    let data: Json[];
    let hasMore: boolean;
    if (cursor) {
      const at = all.findIndex((e) => e.id === cursor);
      if (at < 0) return error(404, `No such event: '${cursor}'`);
      if (after) {
        const rest = all.slice(at + 1).filter(keep);
        data = rest.slice(0, limit);
        hasMore = rest.length > limit;
      } else {
        // ending_before: the events just newer than the cursor, still listed newest first.
        const newer = all.slice(0, at).filter(keep);
        data = newer.slice(Math.max(0, newer.length - limit));
        hasMore = newer.length > limit;
      }
    } else {
      const matching = all.filter(keep);
      data = matching.slice(0, limit);
      hasMore = matching.length > limit;
    }
    return { object: "list", url: "/v1/events", data, has_more: hasMore };
  }

  /** The account's thin events (the platform's without Stripe-Context); a page token is good in its context only. */
  function listThin(q: URLSearchParams, context: string | null): Json | Response {
    const token = q.get("page");
    if (token) {
      const rest = v2Pages.get(token);
      if (!rest || rest.context !== context) return error(400, "Invalid page token");
      return v2Page(rest.events, Number(q.get("limit") ?? 20), context);
    }
    const types = array(q, "types");
    const range = createdRange(q, (v) => Date.parse(v));
    const matching = newestFirst(thin).filter(
      (e) =>
        (e.context ?? null) === context &&
        inRange(Date.parse(String(e.created)), range) &&
        (types.length === 0 || types.includes(String(e.type))),
    );
    return v2Page(matching, Number(q.get("limit") ?? 20), context);
  }

  /** Like Stripe, a destination's URL is redacted unless the request includes webhook_endpoint.url. */
  function listDestinations(q: URLSearchParams): Json | Response {
    const token = q.get("page");
    const path = "/v2/core/event_destinations";
    if (token) {
      const rest = v2Pages.get(token);
      if (!rest) return error(400, "Invalid page token");
      return v2Page(rest.events, Number(q.get("limit") ?? 20), null, path);
    }
    const withUrl = array(q, "include").includes("webhook_endpoint.url");
    const shown = destinations.map((d) => {
      if (withUrl || !d.webhook_endpoint) return d as unknown as Json;
      const { webhook_endpoint: _, ...rest } = d;
      return { ...rest, webhook_endpoint: {} } as Json;
    });
    return v2Page(shown, Number(q.get("limit") ?? 20), null, path);
  }

  function v2Page(matching: Json[], limit: number, context: string | null, path = "/v2/core/events"): Json {
    const data = matching.slice(0, limit);
    let next: string | null = null;
    if (matching.length > limit) {
      const token = hex(8);
      v2Pages.set(token, { events: matching.slice(limit), context });
      next = `${path}?limit=${limit}&page=${token}`;
    }
    return { data, next_page_url: next, previous_page_url: null };
  }

  return {
    apiBase: `http://127.0.0.1:${server.port}`,
    key,
    requests,
    endpoints,
    destinations,
    accounts,
    addEvent(event) {
      const full = {
        id: `evt_${hex(12)}`,
        object: "event",
        api_version: "2026-10-28.endive",
        created: Math.floor(Date.now() / 1000),
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        data: { object: {} },
        ...event,
      };
      events.push(full);
      return full;
    },
    addThinEvent(event) {
      const full = {
        id: `evt_test_${hex(12)}`,
        object: "v2.core.event",
        created: new Date().toISOString(),
        livemode: false,
        context: null,
        reason: null,
        ...event,
      };
      thin.push(full);
      return full;
    },
    setObject: (path, object) => objects.set(path, object),
    inject: (f) => faults.push({ ...f, seen: 0 }),
    markUndelivered: (id) => undelivered.add(id),
    get clockOffsetMs() {
      return clock.offsetMs;
    },
    set clockOffsetMs(ms: number) {
      clock.offsetMs = ms;
    },
    clearFaults: () => faults.splice(0),
    calls: (path) => requests.filter((r) => r.path === path),
    stop: () => server.stop(true),
  };
}

/** Every value of `name`, sent as name, name[] or name[N] (stripe-node sends indices). */
function array(params: URLSearchParams, name: string): string[] {
  const out: string[] = [];
  for (const [k, v] of params)
    if (k === name || k === `${name}[]` || new RegExp(`^${name}\\[\\d+\\]$`).test(k)) out.push(v);
  return out;
}

type Range = { gte?: number; gt?: number; lte?: number; lt?: number };

function createdRange(q: URLSearchParams, parse: (v: string) => number): Range {
  const range: Range = {};
  for (const op of ["gte", "gt", "lte", "lt"] as const) {
    const v = q.get(`created[${op}]`);
    if (v !== null) range[op] = parse(v);
  }
  return range;
}

function inRange(value: number, r: Range): boolean {
  return (
    (r.gte === undefined || value >= r.gte) &&
    (r.gt === undefined || value > r.gt) &&
    (r.lte === undefined || value <= r.lte) &&
    (r.lt === undefined || value < r.lt)
  );
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}
