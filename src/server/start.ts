/**
 * @module What `payhook serve` runs: the backend (durable, or the dry run's), the main listener with the accept
 * path, the admin listener with the ops routes and the operator page, and the reloader that swaps the config in on
 * SIGHUP (and with --watch). startServer returns once both listeners are up; stop() shuts everything down within
 * one grace period.
 */
import process from "node:process";
import { lintAdmin } from "../catalog/exposure.ts";
import { lintConfig } from "../catalog/lint.ts";
import { runtimeBodyCap } from "../config/body-cap.ts";
import { DEFAULT_SOURCE, DEVELOPMENT_SECRET } from "../config/default.ts";
import { loadConfigFile } from "../config/load.ts";
import { usesDevelopmentSecret } from "../config/resolve.ts";
import { operatorTokens } from "../config/tokens.ts";
import type { Config } from "../config/types.ts";
import { copyRule, retiredRule } from "../ingest/copies.ts";
import { createHandler } from "../ingest/listener.ts";
import type { Fields, Logger } from "../log.ts";
import { type BuildInfo, buildInfo } from "../ops/build.ts";
import { createOpsRoutes, type OpsRoutes } from "../ops/health.ts";
import { Metrics } from "../ops/metrics.ts";
import { restartOnly, startReloader } from "../ops/reload.ts";
import type { Runtime, Server } from "../runtime/types.ts";
import { type Changes, createChanges } from "../ui/live.ts";
import { createAdminHandler } from "../ui/server.ts";
import { type Backend, dryRunBackend, durableBackend } from "./backend.ts";

export interface StartOptions {
  runtime: Runtime;
  log: Logger;
  /** The environment the config file's ${VAR}s are read from on reload. */
  env: Record<string, string | undefined>;
  /** Applied to every config loaded, the first and each reload's: the command line's --host and --port. */
  override?(config: Config): Config;
  /** Verify and answer as usual, but store nothing and run no action. */
  dryRun?: boolean;
  /** Reload the config file whenever it changes. */
  watch?: boolean;
}

export interface RunningServer {
  /** What the server announces once it is ready: its URLs, endpoints, config, store and build. */
  listening: Fields;
  /** Stops the listeners, the worker and the reloader within one grace period, then closes the store. */
  stop(): Promise<void>;
}

/**
 * How long in-flight requests and running actions may take to finish after SIGTERM; then connections are closed
 * and running actions are left to the next start.
 */
const SHUTDOWN_GRACE_MS = 5_000;

export async function startServer(first: Config, options: StartOptions): Promise<RunningServer> {
  const { runtime, log } = options;
  let config = first;
  warnAtStart(config, options);
  const build = buildInfo(runtime);
  const metrics = new Metrics({ ...build });
  // Tells open operator pages that events or deliveries changed.
  const changes = createChanges();
  // Chosen once here, so the accept path does the same work either way and never asks which mode it is in.
  const backend = options.dryRun
    ? dryRunBackend(config, log)
    : await durableBackend(config, { runtime, log, metrics, changes });
  const ops = createOpsRoutes({ store: backend.store, metrics, log });
  // With an admin listener, /healthz, /readyz and /metrics leave the main (possibly public) port.
  const mainOps = config.file.admin ? {} : ops;
  const handlerFor = (c: Config) =>
    createHandler({
      config: c,
      store: backend.storeFor(c),
      log,
      metrics,
      ops: mainOps,
      worker: backend.worker,
      onNewEvent: changes.notify,
      isCopy: copyRule(c.endpoints, backend.upgrades),
      isRetired: retiredRule(c.endpoints, backend.upgrades),
    });
  let handle = handlerFor(config);
  const server = await runtime.serve({
    hostname: config.listen.host,
    port: config.listen.port,
    maxRequestBodySize: runtimeBodyCap(config.endpoints),
    tls: config.listen.tls,
    fetch: (request, client) => handle(request, client),
  });
  const adminServer = await startAdmin(config, () => config, { ...options, ops, backend, changes, build });
  const reloader = startReloader({
    path: config.source === DEFAULT_SOURCE ? undefined : config.source,
    load: (path) => {
      const loaded = loadConfigFile(path, options.env);
      return options.override ? options.override(loaded) : loaded;
    },
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
    watch: options.watch === true,
  });
  return {
    listening: {
      url: `${config.listen.tls ? "https" : "http"}://${server.hostname}:${server.port}`,
      endpoints: config.endpoints.map((e) => e.path),
      ...(adminServer ? { admin: `http://${adminServer.hostname}:${adminServer.port}` } : {}),
      config: config.source,
      ...(options.dryRun ? { dry_run: true, store: null } : { store: config.store.label }),
      pid: process.pid, // for `kill -HUP`
      ...build, // which payhook answers: version, commit, commit_date, target, runtime
    },
    async stop() {
      reloader.stop();
      // One grace period for everything, whatever clients and actions do: requests still unanswered after it are
      // cut off (unacknowledged, so Stripe retries them) and unfinished actions resume at the next start.
      await Promise.all([
        server.stop(SHUTDOWN_GRACE_MS),
        adminServer?.stop(SHUTDOWN_GRACE_MS),
        backend.drain(SHUTDOWN_GRACE_MS),
      ]);
      await backend.close();
    },
  };
}

/** The admin listener, when the config has one: the ops routes, and with a token the operator page. */
async function startAdmin(
  config: Config,
  current: () => Config,
  options: StartOptions & { ops: OpsRoutes; backend: Backend; changes: Changes; build: BuildInfo },
): Promise<Server | undefined> {
  const { runtime, log, backend, build } = options;
  const admin = config.file.admin;
  if (!admin) return undefined;
  const adminHandler = createAdminHandler({
    ops: options.ops,
    tokens: operatorTokens(admin),
    host: admin.host,
    hosts: admin.hosts,
    store: backend.store,
    config: current,
    changes: options.changes,
    wake: backend.worker.wake,
    log,
    version: `${build.version} (${build.commit}, ${build.commit_date})`,
    runtime: `${runtime.name} ${runtime.version}`,
    storeKind: options.dryRun ? "none (dry run)" : config.store.kind === "postgres" ? "PostgreSQL" : "SQLite",
    startedAt: Date.now(),
  });
  const adminServer = await runtime.serve({
    hostname: admin.host,
    port: admin.port,
    maxRequestBodySize: 64 * 1024,
    fetch: (request, client) => adminHandler(request, client),
  });
  if (operatorTokens(admin).length === 0) {
    log.info('the operator page is off: add token: "${PAYHOOK_ADMIN_TOKEN}" under admin in the config to serve it');
  }
  return adminServer;
}

/** What a start says before anything opens: lint findings, the development secret, a dry run. */
function warnAtStart(config: Config, { log, dryRun }: StartOptions): void {
  warnLint(config, log);
  if (usesDevelopmentSecret(config)) {
    log.warn(
      `STRIPE_WEBHOOK_SECRET is not set, so the embedded default config uses the development secret ${DEVELOPMENT_SECRET}; set STRIPE_WEBHOOK_SECRET (from \`stripe listen --print-secret\` or the Dashboard) for real events`,
    );
  }
  if (dryRun) {
    log.warn(
      "dry run: events are verified and answered 200, but nothing is stored and no action runs; each event's plan is logged instead, and Stripe will not send these events again",
    );
  }
}

/** Lint findings do not stop the server, but every start and reload says them once. */
function warnLint(config: Config, log: Logger): void {
  for (const finding of [...lintConfig(config), ...lintAdmin(config.file)]) {
    log.warn(`config: ${finding.message}`, { at: finding.at });
  }
}
