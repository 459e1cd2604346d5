/** @module The Elysia app: mounts the accept function on each endpoint path, raw body untouched, and the ops routes. */
import { Elysia } from "elysia";
import { type Accept, failure } from "./accept.ts";
import type { Endpoint } from "./config/load.ts";
import type { OpsRoutes } from "./health.ts";

/** `ops` (/healthz, /readyz, /metrics) are mounted with GET unless an endpoint already uses the path. */
export function createApp(accept: Accept, endpoints: readonly Endpoint[], ops: OpsRoutes = {}): Elysia {
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
      ? failure(404, "not_found", `no endpoint at ${new URL(request.url).pathname}`)
      : failure(500, "internal", "internal error"),
  );
  return app as unknown as Elysia;
}
