/**
 * @module `payhook serve`: wires config, store, worker and servers, reloads the config on SIGHUP (and with
 * --watch), then waits for SIGTERM or SIGINT. With --dry-run, a store that keeps nothing and no worker instead.
 */
import process from "node:process";
import { startAlerts } from "../../alerts/start.ts";
import { lintConfig } from "../../catalog/lint.ts";
import { DEFAULT_SOURCE, DEVELOPMENT_SECRET } from "../../config/default.ts";
import { type Config, loadConfigFile } from "../../config/load.ts";
import { resolveConfig, usesDevelopmentSecret } from "../../config/resolve.ts";
import { type Runner, startWorker } from "../../delivery/worker.ts";
import { createDryRunStore } from "../../explain/dry-run.ts";
import { runtimeBodyCap } from "../../ingest/accept.ts";
import { createHandler } from "../../ingest/listener.ts";
import type { Logger } from "../../log.ts";
import { buildInfo, VERSION } from "../../ops/build.ts";
import { createOpsRoutes } from "../../ops/health.ts";
import { Metrics } from "../../ops/metrics.ts";
import { ActionRegistry, restartOnly, startReloader } from "../../ops/reload.ts";
import { startPruner } from "../../ops/retention.ts";
import type { Runtime } from "../../runtime/types.ts";
import { openStore } from "../../store/open.ts";
import type { Store } from "../../store/types.ts";
import { apiFor } from "../../stripe/access.ts";
import { createStripeApi } from "../../stripe/api.ts";
import { startBackgroundCatchUp } from "../../stripe/background.ts";
import { createThinFetcher, type ThinFetcher } from "../../stripe/thin.ts";
import { lintAdmin } from "../../ui/exposure.ts";
import { type Changes, createChanges } from "../../ui/live.ts";
import { createAdminHandler } from "../../ui/server.ts";
import { batchLines } from "../../utils/lines.ts";
import { configOption } from "../options.ts";
import type { Command } from "../types.ts";

/**
 * How long in-flight requests and running actions may take to finish after SIGTERM; then connections are closed
 * and running actions are left to the next start.
 */
const SHUTDOWN_GRACE_MS = 5_000;

export const serve: Command = {
  name: "serve",
  summary: "receive webhooks and run their actions (the default command)",
  usage: "payhook serve [--config FILE] [--watch] [--dry-run]",
  options: {
    ...configOption,
    watch: { type: "boolean", help: "reload the config file whenever it changes (SIGHUP always reloads it)" },
    "dry-run": {
      type: "boolean",
      help: "verify and answer as usual, but store nothing and run no action: log what `payhook explain` would print",
    },
  },
  async run({ runtime, io, values, log }) {
    let config = resolveConfig(values.config as string | undefined, io.env);
    warnLint(config, log);
    if (usesDevelopmentSecret(config)) {
      log.warn(
        `STRIPE_WEBHOOK_SECRET is not set, so the embedded default config uses the development secret ${DEVELOPMENT_SECRET}; set STRIPE_WEBHOOK_SECRET (from \`stripe listen --print-secret\` or the Dashboard) for real events`,
      );
    }

    const build = buildInfo(runtime);
    const metrics = new Metrics({ ...build });
    // Tells open operator pages that events or deliveries changed.
    const changes = createChanges();
    const dryRun = values["dry-run"] === true;
    if (dryRun) {
      log.warn(
        "dry run: events are verified and answered 200, but nothing is stored and no action runs; each event's plan is logged instead, and Stripe will not send these events again",
      );
    }
    // Chosen once here, so the accept path does the same work either way and never asks which mode it is in.
    const backend = dryRun
      ? dryRunBackend(config, log)
      : await durableBackend(config, { runtime, log, metrics, changes });
    const ops = createOpsRoutes({ store: backend.store, metrics, log });
    const admin = config.file.admin;
    // With an admin listener, /healthz, /readyz and /metrics leave the main (possibly public) port.
    const handlerFor = (c: Config) =>
      createHandler({
        config: c,
        store: backend.storeFor(c),
        log,
        metrics,
        ops: admin ? {} : ops,
        worker: backend.worker,
        onNewEvent: changes.notify,
      });
    let handle = handlerFor(config);
    const server = await runtime.serve({
      hostname: config.listen.host,
      port: config.listen.port,
      maxRequestBodySize: runtimeBodyCap(config.endpoints),
      tls: config.listen.tls,
      fetch: (request, client) => handle(request, client),
    });
    const adminHandler = admin
      ? createAdminHandler({
          ops,
          token: admin.token,
          host: admin.host,
          hosts: admin.hosts,
          store: backend.store,
          config: () => config,
          changes,
          wake: backend.worker.wake,
          log,
          version: `${build.version} (${build.commit}, ${build.commit_date})`,
          runtime: `${runtime.name} ${runtime.version}`,
          storeKind: dryRun ? "none (dry run)" : config.store.kind === "postgres" ? "PostgreSQL" : "SQLite",
          startedAt: Date.now(),
        })
      : undefined;
    const adminServer =
      admin && adminHandler
        ? await runtime.serve({
            hostname: admin.host,
            port: admin.port,
            maxRequestBodySize: 64 * 1024,
            fetch: (request, client) => adminHandler(request, client),
          })
        : undefined;
    if (admin && !admin.token) {
      log.info('the operator page is off: add token: "${PAYHOOK_ADMIN_TOKEN}" under admin in the config to serve it');
    }
    const reloader = startReloader({
      path: config.source === DEFAULT_SOURCE ? undefined : config.source,
      load: (path) => loadConfigFile(path, io.env),
      apply(next) {
        const pending = restartOnly(config, next);
        if (pending.length > 0) log.warn("these settings changed and take effect at the next restart", { pending });
        backend.use(next);
        handle = handlerFor(next);
        config = next;
        warnLint(next, log);
      },
      onResult: (ok) => metrics.reload(ok),
      runtime,
      log,
      watch: values.watch === true,
    });
    // Listen for SIGTERM before announcing readiness, so a stop right after start is still graceful.
    const stopRequested = new Promise<string>((resolve) => {
      for (const name of ["SIGTERM", "SIGINT"] as const) runtime.onSignal(name, () => resolve(name));
    });
    log.info("listening", {
      url: `${config.listen.tls ? "https" : "http"}://${server.hostname}:${server.port}`,
      endpoints: config.endpoints.map((e) => e.path),
      ...(adminServer ? { admin: `http://${adminServer.hostname}:${adminServer.port}` } : {}),
      config: config.source,
      ...(dryRun ? { dry_run: true, store: null } : { store: config.store.label }),
      pid: process.pid, // for `kill -HUP`
      ...build, // which payhook answers: version, commit, commit_date, target, runtime
    });

    const signal = await stopRequested;
    log.info("stopping", { signal });
    reloader.stop();
    // One grace period for everything, whatever clients and actions do: requests still unanswered after it are
    // cut off (unacknowledged, so Stripe retries them) and unfinished actions resume at the next start.
    await Promise.all([
      server.stop(SHUTDOWN_GRACE_MS),
      adminServer?.stop(SHUTDOWN_GRACE_MS),
      backend.drain(SHUTDOWN_GRACE_MS),
    ]);
    await backend.close();
    log.info("stopped");
    return 0;
  },
};

/** Where accepted events go, and what runs their actions. */
interface Backend {
  /** The store the ops routes read. */
  store: Store;
  /** The store the accept path of `config` ingests into. */
  storeFor(config: Config): Store;
  /** Runs the deliveries the accept path stores. */
  worker: Runner;
  /** A reloaded config is in service. */
  use(config: Config): void;
  /** Claims nothing more; waits up to `graceMs` for running actions, then leaves the rest to the next start. */
  drain(graceMs: number): Promise<void>;
  /** Closes the store, once the servers have stopped. */
  close(): Promise<void>;
}

/** The store (a SQLite file locked to one server, or PostgreSQL shared by many), the worker and the pruner. */
async function durableBackend(
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
  const worker = startWorker({
    store,
    thin: thinFetcher(config, runtime, metrics, stopFetches.signal),
    resolve: (name, digest) => actions.resolve(name, digest),
    runtime,
    log,
    // Waits while stdout is full: a log action is done once its line is out, and unread lines never pile up here.
    // Lines of one turn share a write.
    print: batchLines((text) => runtime.writeStdout(text)),
    heartbeatMs: opened.heartbeatMs,
    concurrency: config.concurrency,
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
  const alerts = startAlerts({ config: () => current, store, runtime, log, metrics });
  // Other instances on a shared store (PostgreSQL) say when they stored deliveries.
  const unsubscribe = store.subscribe(worker.wake);
  return {
    store,
    storeFor: () => store,
    worker,
    use: (next) => {
      actions.use(next);
      current = next;
    },
    async drain(graceMs) {
      unsubscribe();
      stopCatchUp.abort(new Error("payhook is stopping"));
      await background?.stop();
      await alerts.stop();
      await worker.stop(graceMs);
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
function dryRunBackend(config: Config, log: Logger): Backend {
  return {
    store: createDryRunStore(config, log),
    storeFor: (c) => createDryRunStore(c, log),
    // Nothing is stored, so nothing is ever claimed for it to run.
    worker: { wake: () => {}, reserve: () => false, cancel: () => {}, run: () => {} },
    use: () => {},
    drain: async () => {},
    close: async () => {},
  };
}

/** Lint findings do not stop the server, but every start and reload says them once. */
function warnLint(config: Config, log: Logger): void {
  for (const finding of [...lintConfig(config), ...lintAdmin(config.file)]) {
    log.warn(`config: ${finding.message}`, { at: finding.at });
  }
}
