/**
 * @module The main listener's request handler for one config: the IP allowlist first, then the app (the
 * webhook endpoints, and the ops routes unless an admin listener has them). A reload builds a new one.
 */

import type { Config } from "../config/types.ts";
import type { Runner } from "../delivery/worker.ts";
import type { Logger } from "../log.ts";
import type { OpsRoutes } from "../ops/health.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { Store } from "../store/types.ts";
import { requestUrl } from "../utils/request-url.ts";
import { createAccept, failure } from "./accept.ts";
import { createApp } from "./app.ts";
import type { CopyRule, RetiredRule } from "./copies.ts";
import { createIpGuard } from "./ipallow.ts";

export type Handler = (request: Request, client: { address: string }) => Response | Promise<Response>;

export interface HandlerOptions {
  config: Config;
  store: Store;
  log: Logger;
  metrics: Metrics;
  ops: OpsRoutes;
  worker: Runner;
  onNewEvent?(): void;
  /** During an API-version upgrade: which copies are kept apart (ingest/copies.ts). */
  isCopy?: CopyRule;
  /** After a cutover's window: whose secrets are refused (ingest/copies.ts). */
  isRetired?: RetiredRule;
}

export function createHandler(options: HandlerOptions): Handler {
  const { config, log, metrics } = options;
  const accept = createAccept({
    ...config,
    store: options.store,
    log,
    metrics,
    worker: options.worker,
    onNewEvent: options.onNewEvent,
    isCopy: options.isCopy,
    isRetired: options.isRetired,
  });
  const app = createApp(accept, config.endpoints, options.ops);
  const guard = createIpGuard({ allow: config.file.allow_ips, trustedProxies: config.file.trusted_proxies });
  if (!guard) return (request) => app.fetch(request);
  return (request, client) => {
    const verdict = guard(client.address, request.headers.get("x-forwarded-for"));
    if (verdict.allowed) return app.fetch(request);
    const path = requestUrl(request).pathname;
    if (config.endpoints.some((e) => e.path === path)) {
      const rejected = metrics.endpoint(path).rejected;
      rejected.ip_not_allowed = (rejected.ip_not_allowed ?? 0) + 1;
    }
    log.warn("request refused", { code: "ip_not_allowed", client: verdict.client, peer: client.address, path });
    return failure(
      403,
      "ip_not_allowed",
      `requests from ${verdict.client} are not allowed here; the server's allow_ips does not include it`,
    );
  };
}
