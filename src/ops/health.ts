/**
 * @module The operator's endpoints: GET /healthz (the process answers), /readyz (it can take events: the store
 * accepts a durable write; 503 otherwise, so a load balancer sends Stripe's retries elsewhere) and /metrics.
 */
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { QueueStats, Store } from "../store/types.ts";
import { CONTENT_TYPE, type Metrics } from "./metrics.ts";
import { renderControl } from "./metrics-control.ts";

export type OpsRoutes = Record<string, () => Response | Promise<Response>>;

export interface OpsOptions {
  store: Store;
  metrics: Metrics;
  log: Logger;
  /** How long the readiness write may wait for the store's lock before the store counts as unavailable. */
  probeTimeoutMs?: number;
  now?: () => number;
}

/** How long one readiness result answers every probe: at most one real write per second. */
const READINESS_REUSE_MS = 1_000;

export const OPS_PATHS = ["/healthz", "/readyz", "/metrics"] as const;

const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

export function createOpsRoutes(options: OpsOptions): OpsRoutes {
  const { store, metrics, log } = options;
  const now = options.now ?? Date.now;
  const timeout = options.probeTimeoutMs ?? 250;
  let lastProblem: string | undefined;
  /** The readiness check in flight or just made: every probe in the same second shares its one fsynced write. */
  let shared: { result: Promise<string | undefined>; at: number } | undefined;

  async function check(): Promise<string | undefined> {
    let problem: string | undefined;
    try {
      await store.checkWritable(timeout);
    } catch (error) {
      problem = `the store cannot be written: ${describe(error)}`;
    }
    // Logged when readiness changes, not on every probe, so a probe every few seconds does not flood the log.
    if (problem !== lastProblem) {
      if (problem) log.error("not ready", { reason: problem });
      else log.info("ready again");
      lastProblem = problem;
    }
    return problem;
  }

  return {
    "/healthz": () => new Response('{"status":"ok"}', { headers: JSON_HEADERS }),

    "/readyz": async () => {
      // A flood of probes (they need no credentials) must not turn into a flood of fsyncs slowing the webhooks.
      const started = now();
      if (!shared || started - shared.at >= READINESS_REUSE_MS) shared = { result: check(), at: started };
      const problem = await shared.result;
      const body = problem
        ? { status: "unavailable", checks: { config: "ok", store: problem } }
        : { status: "ready", checks: { config: "ok", store: "ok" } };
      return new Response(JSON.stringify(body), { status: problem ? 503 : 200, headers: JSON_HEADERS });
    },

    "/metrics": async () => {
      let queue: QueueStats | undefined;
      let control = "";
      try {
        queue = await store.queueStats();
        control = renderControl(await store.controls(), await store.actionStats());
      } catch (error) {
        // The counters are still worth scraping; the queue gauges are left out rather than reported as zero.
        log.warn("metrics: could not read the queue from the store", { error: describe(error) });
      }
      return new Response(metrics.render(queue, now()) + control, { headers: { "content-type": CONTENT_TYPE } });
    },
  };
}
