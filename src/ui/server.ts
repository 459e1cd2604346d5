/**
 * @module The admin listener's handler: /healthz, /readyz and /metrics as before, and with a token the operator
 * page. Every page request passes the Host allowlist and needs a session; every POST also needs the page's origin
 * and the session's CSRF token. Authorization is checked here on the server for each request, never by the UI:
 * each request meets the guard chain (guards.ts) in order, then the route table, whose entries come from the
 * screens (screens/*.ts).
 */

import type { OperatorToken } from "../config/tokens.ts";
import type { Config } from "../config/types.ts";
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { OpsRoutes } from "../ops/health.ts";
import type { Store } from "../store/types.ts";
import { requestUrl } from "../utils/request-url.ts";
import { ASSETS } from "./assets.ts";
import { controlRoutes } from "./control.ts";
import { createGuards, createHostGuard, type Guards } from "./guards.ts";
import { asset, type Client, findRoute, get, type Route, text, type Visit } from "./http.ts";
import { type Changes, createLiveStreams, type LiveStreams } from "./live.ts";
import { eventRoutes } from "./screens/event.ts";
import { eventsRoutes } from "./screens/events.ts";
import { failuresRoutes } from "./screens/failures.ts";
import { incidentsRoutes } from "./screens/incidents.ts";
import { loginRoutes } from "./screens/login.ts";
import { overviewRoutes } from "./screens/overview.ts";
import { PAGE_HEADERS } from "./security.ts";
import { createSessions, type Sessions } from "./session.ts";

export interface AdminOptions {
  ops: OpsRoutes;
  /** The operator page's token (an operator named admin); without any token only the ops routes are served. */
  token?: string;
  /** Named tokens with their roles (admin.tokens, with admin.token first). */
  tokens?: readonly OperatorToken[];
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

export function createAdminHandler(options: AdminOptions): (request: Request, client: Client) => Promise<Response> {
  const { ops, log } = options;
  const now = options.now ?? Date.now;
  const tokens =
    options.tokens ?? (options.token ? [{ name: "admin", token: options.token, role: "operator" as const }] : []);
  const sessions = tokens.length > 0 ? createSessions(tokens) : undefined;
  const host = createHostGuard({ log, host: options.host, hosts: options.hosts });
  const guards = sessions && createGuards({ log, sessions, now, host: options.host, hosts: options.hosts });
  const streams = createLiveStreams(options.changes);
  const routes = sessions ? routeTable({ ...options, now }, sessions, streams) : [];

  return async (request, client) => {
    const url = requestUrl(request);
    const op = Object.hasOwn(ops, url.pathname) ? ops[url.pathname] : undefined;
    const refused = host(request, client, op !== undefined);
    if (refused) return refused;
    if (op && request.method === "GET") return op();
    if (!guards) return text(404, "not found; the operator page is off until admin.token is set");
    try {
      return await serve(guards, routes, { request, url, client, params: [] });
    } catch (error) {
      log.error("operator page: request failed", { path: url.pathname, error: describe(error) });
      return text(500, "the operator page could not answer; see payhook's log");
    }
  };
}

/** Every route of the operator page: the assets, then each screen's. */
function routeTable(options: AdminOptions & { now: () => number }, sessions: Sessions, streams: LiveStreams): Route[] {
  const robots = "User-agent: *\nDisallow: /\n";
  return [
    { method: "GET", path: ASSETS.style.path, access: "public", handle: () => asset(ASSETS.style) },
    { method: "GET", path: ASSETS.script.path, access: "public", handle: () => asset(ASSETS.script) },
    { method: "GET", path: "/robots.txt", access: "public", handle: () => text(200, robots) },
    ...loginRoutes({
      sessions,
      log: options.log,
      now: options.now,
      trustedProxies: () => options.config().file.trusted_proxies,
      streams,
    }),
    ...eventsRoutes(options),
    get("/live", ({ request, client, session }) => {
      const stream = streams.open(session.id, request.signal, PAGE_HEADERS, () => session.expires > options.now());
      if (!stream) return text(429, "this session already has the most live pages open; close some tabs");
      client.keepOpen?.();
      return stream;
    }),
    ...failuresRoutes(options),
    ...overviewRoutes(options),
    ...incidentsRoutes(options),
    ...eventRoutes(options),
    ...controlRoutes(options),
  ];
}

/** The rest of the guard chain, each guard at its place among the routes it lets through, then the route. */
async function serve(guards: Guards, routes: readonly Route[], visit: Visit): Promise<Response> {
  const { method } = visit.request;
  const found = findRoute(routes, method, visit.url.pathname);
  const route = found?.route;
  if (found) visit.params = found.params;
  if (route?.access === "public") return route.handle(visit);
  const crossOrigin = guards.origin(visit);
  if (crossOrigin) return crossOrigin;
  if (route?.access === "login") return route.handle(visit);
  const session = guards.session(visit);
  if (session instanceof Response) return session;
  if (method === "POST") {
    const form = await guards.csrf(visit, session);
    if (form instanceof Response) return form;
    const viewer = guards.role(visit, session);
    if (viewer) return viewer;
    return route?.method === "POST" ? route.handle({ ...visit, session, form }) : text(404, "not found");
  }
  if (method === "GET") return route?.method === "GET" ? route.handle({ ...visit, session }) : text(404, "not found");
  return text(405, "method not allowed");
}
