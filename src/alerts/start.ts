/**
 * @module Alerts in `serve`, in one call: the rule evaluator and the notifier over the store, fed by the metrics
 * (signature failures) and Stripe's API when the config has a key. With no `alerts:` section both idle.
 */
import { hostname } from "node:os";
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Store } from "../store/types.ts";
import { createStripeApi } from "../stripe/api.ts";
import { startAlertLoop } from "./loop.ts";
import { startNotifier } from "./notifier.ts";

export interface AlertsOptions {
  config: () => Config;
  store: Store;
  runtime: Runtime;
  log: Logger;
  metrics: Metrics;
}

export function startAlerts(options: AlertsOptions): { stop(): Promise<void> } {
  const { store, runtime, log, metrics } = options;
  const stopApi = new AbortController();
  const initial = options.config();
  const apiKey = initial.stripe.apiKey;
  const api = apiKey
    ? createStripeApi({
        settings: { ...initial.stripe, apiKey },
        fetch: runtime.fetch,
        retries: 2,
        signal: stopApi.signal,
      })
    : undefined;
  const notifier = startNotifier({
    store,
    runtime,
    log,
    settings: () => options.config().alerts,
    onResult: (channel, ok) => metrics.alertSent(channel, ok),
  });
  const loop = startAlertLoop({
    config: options.config,
    store,
    runtime,
    log,
    rejected: () => metrics.rejectedTotals(),
    // The `failing` rule also opens for an action whose breaker (breaker:) is open, as every instance sees it.
    breakers: async () => (await store.controls()).filter((c) => c.breaker !== null).map((c) => c.action),
    ...(api ? { api } : {}),
    instance: hostname(),
    onQueued: () => notifier.wake(),
    onOpen: (byRule) => metrics.openIncidents(byRule),
  });
  return {
    async stop() {
      stopApi.abort(new Error("payhook is stopping"));
      await loop.stop();
      await notifier.stop();
    },
  };
}
