/** @module The Elysia app: mounts the accept function on each endpoint path, raw body untouched, and the ops routes. */
import { Elysia } from "elysia";
import type { Endpoint } from "../config/types.ts";
import type { OpsRoutes } from "../ops/health.ts";
import { requestUrl } from "../utils/request-url.ts";
import { type Accept, failure } from "./accept.ts";

export interface App {
  fetch(request: Request): Response | Promise<Response>;
}

/** `ops` (/healthz, /readyz, /metrics) are mounted with GET unless an endpoint already uses the path. */
export function createApp(accept: Accept, endpoints: readonly Endpoint[], ops: OpsRoutes = {}): App {
  const app = new Elysia();
  for (const endpoint of endpoints) {
    // parse: "none" leaves the body stream unread: Stripe signs the exact bytes, and a parsed body never verifies.
    app.all(endpoint.path, ({ request }) => accept(request), { parse: "none" });
  }
  for (const [path, handler] of Object.entries(ops)) {
    if (!endpoints.some((e) => e.path === path)) app.get(path, () => handler());
  }
  app.onError(({ code, request }) =>
    code === "NOT_FOUND"
      ? failure(404, "not_found", `no endpoint at ${requestUrl(request).pathname}`)
      : failure(500, "internal", "internal error"),
  );
  return { fetch: (request) => app.fetch(withRoutablePath(request)) };
}

/**
 * Elysia looks for the path from the 12th character of the URL on, which skips it when the Host is shorter
 * than 4 characters (`Host: api` behind a proxy): every request would be a 404. Such a request, and one whose
 * Host is empty or malformed (its URL does not parse), gets a URL with a usable host; nothing downstream reads
 * the host, so a signed event is judged on its path and signature alone.
 */
function withRoutablePath(request: Request): Request {
  const url = request.url;
  const path = url.indexOf("/", url.indexOf("//") + 2);
  if (path >= 11 && URL.parse(url) !== null) return request;
  return new Request(requestUrl(request), request);
}
