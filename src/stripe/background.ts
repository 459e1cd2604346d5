/**
 * @module Background catch-up in `serve` (stripe.catch_up): at start and then every `every`, the last `window` of
 * Stripe's events is caught up. Instances sharing a store take turns through a store lease, held for one period
 * and renewed while a run lasts, so one instance catches up per period however many serve.
 */
import { randomUUID } from "node:crypto";
import type { Config } from "../config/types.ts";
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { Store } from "../store/types.ts";
import type { StripeApi } from "./api.ts";
import { CatchUpError, catchUp } from "./catchup.ts";

export const CATCH_UP_LEASE = "catch-up";

export interface BackgroundOptions {
  config: () => Config;
  store: Store;
  api: StripeApi;
  log: Logger;
  metrics: Metrics;
  onStored(): void;
  everyMs: number;
  windowMs: number;
  now?: () => number;
}

export interface Background {
  stop(): Promise<void>;
}

export function startBackgroundCatchUp(options: BackgroundOptions): Background {
  const { store, log, everyMs } = options;
  const now = options.now ?? Date.now;
  const holder = randomUUID();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;

  async function tick(): Promise<void> {
    try {
      // Held for a period less a little, so this instance (or another) can take the next one on time.
      const ttl = Math.max(everyMs - 1_000, 1_000);
      if (!(await store.acquireLease(CATCH_UP_LEASE, holder, ttl, now()))) {
        log.debug("background catch-up skipped: another instance holds this period");
        return;
      }
      const config = options.config();
      const to = Math.floor(now() / 1000);
      const summary = await catchUp({
        api: options.api,
        store,
        routes: config.routes,
        router: config.router,
        unhandled: config.unhandled,
        from: to - Math.floor(options.windowMs / 1000),
        to,
        onStored: options.onStored,
        onProgress: () => {
          if (stopped) throw new Error("payhook is stopping");
          void store.acquireLease(CATCH_UP_LEASE, holder, ttl, now()).catch(() => {});
        },
      });
      options.metrics.catchUp(true, summary.stored, summary.duplicates);
      log.info("background catch-up complete", { ...summary });
    } catch (error) {
      if (error instanceof CatchUpError) {
        options.metrics.catchUp(false, error.summary.stored, error.summary.duplicates);
        log.warn("background catch-up stopped part way; the next run covers the rest", { ...error.summary });
      } else {
        log.error("background catch-up failed", { error: describe(error) });
      }
    }
  }

  function schedule(delay: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(() => {
        running = undefined;
        schedule(everyMs);
      });
    }, delay);
  }

  schedule(0);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
