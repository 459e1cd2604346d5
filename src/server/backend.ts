/**
 * @module Where `payhook serve` puts accepted events and what runs their actions, chosen once at start so the
 * accept path does the same work either way: the durable backend (the store, the worker, the pruner, background
 * catch-up) or the dry run's (a store that keeps nothing and logs each event's plan, and no worker).
 */
import { startAlerts } from "../alerts/start.ts";
import type { Config } from "../config/types.ts";
import { createGate } from "../delivery/control.ts";
import type { ThinFetcher } from "../delivery/execute.ts";
import { type Runner, startWorker } from "../delivery/worker.ts";
import { createDryRunStore } from "../explain/dry-run.ts";
import { UpgradeState } from "../ingest/copies.ts";
import type { Logger } from "../log.ts";
import { VERSION } from "../ops/build.ts";
import type { Metrics } from "../ops/metrics.ts";
import { ActionRegistry } from "../ops/reload.ts";
import { startPruner } from "../ops/retention.ts";
import type { Runtime } from "../runtime/types.ts";
import { openStore } from "../store/open.ts";
import type { Store } from "../store/types.ts";
import { apiFor } from "../stripe/access.ts";
import { createStripeApi } from "../stripe/api.ts";
import { startBackgroundCatchUp } from "../stripe/background.ts";
import { createThinFetcher } from "../stripe/thin.ts";
import { createUpgradeWatch } from "../stripe/upgrade-watch.ts";
import type { Changes } from "../ui/live.ts";
import { batchLines } from "../utils/lines.ts";

/** Where accepted events go, and what runs their actions. */
export interface Backend {
  /** The store the ops routes read. */
  store: Store;
  /** The store the accept path of `config` ingests into. */
  storeFor(config: Config): Store;
  /** Runs the deliveries the accept path stores. */
  worker: Runner;
  /** API-version upgrades as the store records them (which copies the accept path keeps apart). */
  upgrades: UpgradeState;
  /** A reloaded config is in service. */
  use(config: Config): void;
  /** Claims nothing more; waits up to `graceMs` for running actions, then leaves the rest to the next start. */
  drain(graceMs: number): Promise<void>;
  /** Closes the store, once the servers have stopped. */
  close(): Promise<void>;
}

/** The store (a SQLite file locked to one server, or PostgreSQL shared by many), the worker and the pruner. */
export async function durableBackend(
  config: Config,
  { runtime, log, metrics, changes }: { runtime: Runtime; log: Logger; metrics: Metrics; changes: Changes },
): Promise<Backend> {
  const opened = await openStore(runtime, config.store, {
    serve: true,
    version: VERSION,
    warn: (message, fields) => log.warn(message, fields),
    onRescue: (deliveries) =>
      log.warn("took over deliveries whose instance stopped renewing their lease", { deliveries }),
  });
  const { store } = opened;
  const recovered = await store.recover(Date.now());
  if (recovered > 0) log.info("resuming deliveries interrupted by the last stop", { deliveries: recovered });
  const pruner = startPruner({ store, retentionMs: config.retention, log });
  // Calls to Stripe's API end when payhook stops: catch-up's at once (the next run redoes it), thin-event fetches
  // once the running actions' grace is over.
  const stopCatchUp = new AbortController();
  const stopFetches = new AbortController();
  const actions = new ActionRegistry(config);
  const gate = createGate({ store, action: (name) => actions.latest(name), log });
  const worker = startWorker({
    store,
    thin: thinFetcher(config, runtime, metrics, stopFetches.signal),
    resolve: (name, digest) => actions.resolve(name, digest),
    runnable: () => actions.runnable(),
    runtime,
    log,
    // Waits while stdout is full: a log action is done once its line is out, and unread lines never pile up here.
    // Lines of one turn share a write.
    print: batchLines((text) => runtime.writeStdout(text)),
    heartbeatMs: opened.heartbeatMs,
    concurrency: config.concurrency,
    gate,
    onAttempt: ({ action, status, durationMs, skipped }) => {
      metrics.attempt(action, status === "pending" ? "retry" : status, durationMs / 1000);
      if (skipped === "stale") metrics.skippedStale(action);
      changes.notify();
    },
  });
  let current = config;
  const catchUp = config.stripe.catchUp;
  const background =
    catchUp && config.stripe.apiKey
      ? startBackgroundCatchUp({
          config: () => current,
          store,
          api: apiFor(config, "background catch-up", runtime, log, 5, stopCatchUp.signal),
          log,
          metrics,
          onStored: () => worker.wake(),
          everyMs: catchUp.everyMs,
          windowMs: catchUp.windowMs,
        })
      : undefined;
  const upgrades = new UpgradeState();
  const watch = createUpgradeWatch({ store, state: upgrades, config: () => current, log, onStored: worker.wake });
  await watch.start();
  const alerts = startAlerts({ config: () => current, store, runtime, log, metrics });
  // Other instances on a shared store (PostgreSQL) say when they stored deliveries.
  const unsubscribe = store.subscribe(worker.wake);
  return {
    store,
    storeFor: () => store,
    worker,
    upgrades,
    use: (next) => {
      actions.use(next);
      current = next;
    },
    async drain(graceMs) {
      unsubscribe();
      stopCatchUp.abort(new Error("payhook is stopping"));
      await background?.stop();
      await watch.stop();
      await alerts.stop();
      await worker.stop(graceMs);
      gate.stop();
      stopFetches.abort(new Error("payhook is stopping"));
    },
    async close() {
      await worker.settled();
      await pruner.stop();
      await opened.close();
    },
  };
}

/**
 * Fetches for thin events' `fetch:` actions, without retries of its own: a 429 or 5xx fails the attempt, which the
 * delivery retries on its schedule.
 */
function thinFetcher(config: Config, runtime: Runtime, metrics: Metrics, signal: AbortSignal): ThinFetcher | undefined {
  const { apiKey } = config.stripe;
  if (!apiKey) return undefined;
  const fetcher = createThinFetcher(
    createStripeApi({ settings: { ...config.stripe, apiKey }, fetch: runtime.fetch, retries: 0, signal }),
  );
  return {
    fetch: (event, targets) =>
      fetcher.fetch(event, targets).then(
        (fetched) => {
          metrics.thinFetch(true);
          return fetched;
        },
        (error: unknown) => {
          metrics.thinFetch(false);
          throw error;
        },
      ),
  };
}

/** serve --dry-run: no store file is created or opened, no worker starts; each event's plan is logged. */
export function dryRunBackend(config: Config, log: Logger): Backend {
  return {
    store: createDryRunStore(config, log),
    storeFor: (c) => createDryRunStore(c, log),
    // Nothing is stored, so nothing is ever claimed for it to run.
    worker: { wake: () => {}, reserve: () => false, cancel: () => {}, run: () => {} },
    upgrades: new UpgradeState(),
    use: () => {},
    drain: async () => {},
    close: async () => {},
  };
}
