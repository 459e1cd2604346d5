/**
 * @module The admin listener's handler: /healthz, /readyz and /metrics as before, and with a token the operator
 * page. Every page request passes the Host allowlist and needs a session; every POST also needs the page's origin
 * and the session's CSRF token. Authorization is checked here on the server for each request, never by the UI.
 */
import type { Config } from "../config/load.ts";
import { patternProblem } from "../config/routes.ts";
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { OpsRoutes } from "../ops/health.ts";
import {
  DELIVERY_STATUSES,
  type DeliveryStatus,
  type EventCursor,
  type EventQuery,
  type Store,
} from "../store/types.ts";
import { requestUrl } from "../utils/request-url.ts";
import { ASSETS } from "./assets.ts";
import { series } from "./format.ts";
import type { SafeHtml } from "./html.ts";
import { type Changes, createLiveStreams } from "./live.ts";
import { createOverviewSource } from "./overview-data.ts";
import { BULK_CAP, replay } from "./replay.ts";
import { eventPage } from "./screens/event.ts";
import { type EventFilters, eventsPage } from "./screens/events.ts";
import { failuresPage } from "./screens/failures.ts";
import { confirmPage, loginPage } from "./screens/layout.ts";
import { overviewPage } from "./screens/overview.ts";
import { crossOriginMessage, hostAllowlist, hostRefusal, loginClient, PAGE_HEADERS, sameOrigin } from "./security.ts";
import { createSessions, type Session, sameSecret, sessionCookie } from "./session.ts";

export interface Client {
  address: string;
  /** Lifts the runtime's idle timeout for this request (a long-lived stream). */
  keepOpen?: () => void;
}

export interface AdminOptions {
  ops: OpsRoutes;
  /** The operator page's token; without one only the ops routes are served. */
  token?: string;
  host: string;
  hosts?: readonly string[];
  store: Store;
  /** The current config (it changes on reload): replays resolve actions against it. */
  config: () => Config;
  changes: Changes;
  /** Starts the worker on newly queued deliveries. */
  wake(): void;
  log: Logger;
  version: string;
  runtime: string;
  storeKind: string;
  startedAt: number;
  now?: () => number;
}

const PAGE_SIZE = 50;
const MINUTE = 60_000;

export function createAdminHandler(options: AdminOptions): (request: Request, client: Client) => Promise<Response> {
  const { ops, store, log } = options;
  const now = options.now ?? Date.now;
  const sessions = options.token ? createSessions(options.token) : undefined;
  const allowedHost = hostAllowlist(options.host, options.hosts);
  const streams = createLiveStreams(options.changes);
  const overview = createOverviewSource(store, now);

  return async (request, client) => {
    const url = requestUrl(request);
    const path = url.pathname;
    const op = Object.hasOwn(ops, path) ? ops[path] : undefined;
    const refused = hostRefusal(request, allowedHost, op !== undefined);
    if (refused) {
      log.warn("admin listener: request refused", { code: refused.code, client: client.address, path });
      return text(refused.status, refused.message);
    }
    if (op && request.method === "GET") return op();
    if (!sessions) return text(404, "not found; the operator page is off until admin.token is set");
    try {
      if (request.method === "GET" && path === ASSETS.style.path) return asset(ASSETS.style);
      if (request.method === "GET" && path === ASSETS.script.path) return asset(ASSETS.script);
      if (request.method === "GET" && path === "/robots.txt") return text(200, "User-agent: *\nDisallow: /\n");
      if (request.method === "POST" && !sameOrigin(request.headers)) {
        log.warn("operator page: request refused", { code: "cross_origin", client: client.address, path });
        return text(403, crossOriginMessage(request.headers));
      }
      if (path === "/login") {
        if (request.method === "GET") return page(loginPage());
        if (request.method === "POST") return login(request, client);
      }
      const session = sessions.get(request.headers.get("cookie"), now());
      if (!session) {
        if (request.method === "GET" && !path.startsWith("/live")) return redirect("/login");
        return text(401, "log in first");
      }
      if (request.method === "POST") {
        const form = await readForm(request);
        if (!form) return text(400, "expected a form (application/x-www-form-urlencoded)");
        const csrf = form.get("csrf");
        if (typeof csrf !== "string" || !sameSecret(csrf, session.csrf)) {
          log.warn("operator page: request refused", { code: "csrf_token", client: client.address, path });
          return text(403, "refused: the form's CSRF token is missing or wrong; reload the page and try again");
        }
        return await post(path, form, session);
      }
      if (request.method === "GET") return await get(url, session, request, client);
      return text(405, "method not allowed");
    } catch (error) {
      log.error("operator page: request failed", { path, error: describe(error) });
      return text(500, "the operator page could not answer; see payhook's log");
    }
  };

  async function login(request: Request, client: Client): Promise<Response> {
    const form = await readForm(request);
    const token = form?.get("token");
    const who = loginClient(
      client.address,
      request.headers.get("x-forwarded-for"),
      options.config().file.trusted_proxies,
    );
    const outcome = sessions?.login(typeof token === "string" ? token : "", who, now());
    if (outcome?.result === "ok") {
      log.info("operator page: logged in", { client: who });
      return redirect("/", { "set-cookie": sessionCookie(outcome.session, now()) });
    }
    // The given token is never logged, not even in part.
    const limited = outcome?.result === "limited";
    log.warn("operator page: login refused", {
      code: limited ? "rate_limited" : "wrong_token",
      client: who,
    });
    if (outcome?.result === "limited") {
      return page(loginPage(`Too many wrong tokens; try again in ${outcome.retryAfter} s.`), 429, {
        "retry-after": String(outcome.retryAfter),
      });
    }
    return page(loginPage("That token is not right."), 401);
  }

  async function get(url: URL, session: Session, request: Request, client: Client): Promise<Response> {
    const path = url.pathname;
    const csrf = session.csrf;
    if (path === "/") return events(url, csrf);
    if (path === "/live") {
      const stream = streams.open(session.id, request.signal, PAGE_HEADERS, () => session.expires > now());
      if (!stream) return text(429, "this session already has the most live pages open; close some tabs");
      client.keepOpen?.();
      return stream;
    }
    if (path === "/failures") {
      const groups = await store.failureGroups(200);
      return page(failuresPage({ csrf, groups, notice: notice(url) }));
    }
    if (path === "/failures/replay") {
      const group = url.searchParams.get("scope") === "all" ? null : failureGroup(url.searchParams);
      const found = (await store.failedDeliveries(group, BULK_CAP + 1)).length;
      const n = Math.min(found, BULK_CAP);
      const what = group ? `of ${group.action} that failed with the same error` : "in every group";
      const fields: Record<string, string> = group
        ? { action: group.action, ...(group.error === null ? {} : { error: group.error }) }
        : { scope: "all" };
      return page(
        confirmPage({
          csrf,
          action: "/failures/replay",
          fields,
          question:
            found > BULK_CAP
              ? `Replay the oldest ${n} of more than ${BULK_CAP} failed and dead deliveries ${what}?`
              : `Replay ${n} failed and dead deliver${n === 1 ? "y" : "ies"} ${what}?`,
          button: `Replay ${n} deliver${n === 1 ? "y" : "ies"}`,
          back: "/failures",
          screen: "failures",
        }),
      );
    }
    if (path === "/overview") {
      // Shared by every open Overview for a couple of seconds: N tabs cost one reading.
      const { at: t, day, queue } = await overview();
      return page(
        overviewPage({
          csrf,
          hour: series(day, t - 59 * MINUTE, t + 1, MINUTE),
          day: series(day, t - 1439 * MINUTE, t + 1, MINUTE),
          queue,
          now: t,
          storeKind: options.storeKind,
          version: options.version,
          runtime: options.runtime,
          startedAt: options.startedAt,
        }),
      );
    }
    const match = /^\/events\/([^/]+)(\/raw)?$/.exec(path);
    if (match) {
      const id = decodeId(match[1] as string);
      const event = id === undefined ? null : await store.getEvent(id);
      if (!event || id === undefined)
        return page(
          eventsPage({
            csrf,
            filters: blank(),
            events: [],
            next: null,
            paged: true,
            problem: `No event ${id ?? "with that id"} in the store (it may have been pruned).`,
          }),
          404,
        );
      if (match[2]) {
        return new Response(event.body as Uint8Array<ArrayBuffer>, {
          headers: {
            ...PAGE_HEADERS,
            "content-type": "application/octet-stream",
            "content-disposition": `attachment; filename="${id.replace(/[^A-Za-z0-9_-]/g, "_")}.json"`,
          },
        });
      }
      const kinds = new Map([...options.config().actions].map(([name, a]) => [name, a.kind]));
      return page(eventPage({ csrf, event, kinds, notice: notice(url) }));
    }
    return text(404, "not found");
  }

  async function events(url: URL, csrf: string): Promise<Response> {
    const p = url.searchParams;
    const filters: EventFilters = {
      type: p.get("type")?.trim() ?? "",
      status: p.get("status") ?? "",
      q: p.get("q")?.trim() ?? "",
      from: p.get("from") ?? "",
      to: p.get("to") ?? "",
    };
    const query: EventQuery = { limit: PAGE_SIZE + 1 };
    const problems: string[] = [];
    if (filters.type) {
      const problem = patternProblem(filters.type);
      if (problem) problems.push(`Type: ${problem}.`);
      else query.type = filters.type;
    }
    if (filters.status) {
      if (DELIVERY_STATUSES.includes(filters.status as DeliveryStatus)) query.status = filters.status as DeliveryStatus;
      else problems.push(`Delivery status: expected one of ${DELIVERY_STATUSES.join(", ")}.`);
    }
    if (filters.q) query.search = filters.q;
    for (const [key, label] of [
      ["from", "From"],
      ["to", "To"],
    ] as const) {
      if (!filters[key]) continue;
      const ms = Date.parse(`${filters[key]}Z`);
      if (Number.isNaN(ms)) problems.push(`${label}: expected a date and time such as 2026-01-31T09:00.`);
      else if (key === "from") query.since = ms;
      else query.until = ms;
    }
    const after = cursor(p.get("after"));
    if (after) query.after = after;
    if (problems.length > 0) {
      return page(
        eventsPage({ csrf, filters, events: [], next: null, paged: false, problem: problems.join(" ") }),
        400,
      );
    }
    const found = await store.listEvents(query);
    const more = found.length > PAGE_SIZE;
    const shown = found.slice(0, PAGE_SIZE);
    const last = shown.at(-1);
    const next = more && last ? { receivedAt: last.receivedAt, id: last.id } : null;
    return page(eventsPage({ csrf, filters, events: shown, next, paged: after !== undefined }));
  }

  async function post(path: string, form: FormData, session: Session): Promise<Response> {
    if (path === "/logout") {
      sessions?.logout(session.id);
      streams.end(session.id);
      return redirect("/login", { "set-cookie": sessionCookie(null, now()) });
    }
    const match = /^\/events\/([^/]+)\/replay$/.exec(path);
    if (match) {
      const id = decodeId(match[1] as string);
      const event = id === undefined ? null : await store.getEvent(id);
      if (!event || id === undefined) return text(404, "no such event in the store");
      const action = form.get("action");
      const chosen =
        typeof action === "string"
          ? event.deliveries.filter((d) => d.action === action)
          : event.deliveries.filter((d) => d.status !== "pending" && d.status !== "running");
      if (typeof action !== "string" && form.get("confirmed") !== "1" && chosen.length > 1) {
        return page(
          confirmPage({
            csrf: session.csrf,
            action: path,
            fields: { all: "1", confirmed: "1" },
            question: `Replay all ${chosen.length} deliveries of ${id}?`,
            button: `Replay ${chosen.length} deliveries`,
            back: `/events/${encodeURIComponent(id)}`,
            screen: "events",
          }),
        );
      }
      const result = await replay(
        store,
        options.config(),
        chosen.map((d) => ({ eventId: id, eventType: event.type, action: d.action })),
        now(),
      );
      return replayed(`/events/${encodeURIComponent(id)}`, result, { event_id: id });
    }
    if (path === "/failures/replay") {
      const group = form.get("scope") === "all" ? null : failureGroup(form);
      const chosen = await store.failedDeliveries(group, BULK_CAP);
      const result = await replay(store, options.config(), chosen, now());
      return replayed("/failures", result, { action: group?.action ?? "(all)" });
    }
    return text(404, "not found");
  }

  function replayed(back: string, result: { queued: number; skipped: number }, fields: Record<string, string>) {
    log.info("operator page: replay", { ...fields, requeued: result.queued, skipped: result.skipped });
    if (result.queued > 0) {
      options.wake();
      options.changes.notify();
    }
    return redirect(`${back}?replayed=${result.queued}&skipped=${result.skipped}`);
  }
}

/** The form of a POST, or null when the body is not one. */
async function readForm(request: Request): Promise<FormData | null> {
  try {
    return await request.formData();
  } catch {
    return null;
  }
}

function decodeId(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined; // a malformed %-escape names no event
  }
}

function failureGroup(source: URLSearchParams | FormData): { action: string; error: string | null } {
  const action = source.get("action");
  const error = source.get("error");
  return { action: typeof action === "string" ? action : "", error: typeof error === "string" ? error : null };
}

function notice(url: URL): string | undefined {
  const queued = url.searchParams.get("replayed");
  if (queued === null || !/^\d+$/.test(queued)) return undefined;
  const skipped = Number(url.searchParams.get("skipped") ?? 0) || 0;
  const n = Number(queued);
  return `Re-queued ${n} deliver${n === 1 ? "y" : "ies"}${skipped > 0 ? `; ${skipped} skipped because the current config no longer runs their action` : ""}.`;
}

function cursor(text: string | null): EventCursor | undefined {
  const m = text === null ? null : /^(\d{1,16})\.(.+)$/.exec(text);
  return m ? { receivedAt: Number(m[1]), id: m[2] as string } : undefined;
}

function blank(): EventFilters {
  return { type: "", status: "", q: "", from: "", to: "" };
}

function page(body: SafeHtml, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(body.text, {
    status,
    headers: { ...PAGE_HEADERS, "content-type": "text/html; charset=utf-8", ...headers },
  });
}

function text(status: number, message: string): Response {
  return new Response(`${message}\n`, {
    status,
    headers: { ...PAGE_HEADERS, "content-type": "text/plain; charset=utf-8" },
  });
}

function redirect(location: string, headers: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: { ...PAGE_HEADERS, location, ...headers } });
}

function asset(a: { type: string; body: string }): Response {
  return new Response(a.body, {
    headers: {
      "content-type": a.type,
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    },
  });
}
