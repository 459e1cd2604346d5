/** @module `payhook serve`: wires config, store, worker and server, then waits for SIGTERM or SIGINT. */
import { createAccept } from "../accept.ts";
import { createApp } from "../app.ts";
import type { Command } from "../cli.ts";
import { DEVELOPMENT_SECRET } from "../config/default.ts";
import { resolveConfig, usesDevelopmentSecret } from "../config/resolve.ts";
import { describe, StoreError } from "../errors.ts";
import { startPruner } from "../retention.ts";
import { openSqliteStore } from "../store/sqlite.ts";
import { startWorker } from "../worker.ts";
import { configOption } from "./check.ts";

/** How long running actions may take to finish after SIGTERM before they are left to the next start. */
const SHUTDOWN_GRACE_MS = 5_000;

export const serve: Command = {
  name: "serve",
  summary: "receive webhooks and run their actions (the default command)",
  usage: "payhook serve [--config FILE]",
  options: configOption,
  async run({ runtime, io, values, log }) {
    const config = resolveConfig(values.config as string | undefined, io.env);
    if (usesDevelopmentSecret(config)) {
      log.warn(
        `STRIPE_WEBHOOK_SECRET is not set, so the embedded default config uses the development secret ${DEVELOPMENT_SECRET}; set STRIPE_WEBHOOK_SECRET (from \`stripe listen --print-secret\` or the Dashboard) for real events`,
      );
    }

    let store: ReturnType<typeof openSqliteStore>;
    try {
      store = openSqliteStore(runtime.openDatabase(config.store));
    } catch (error) {
      throw new StoreError("store_open", `cannot open the store ${config.store}: ${describe(error)}`);
    }
    const recovered = await store.recover(Date.now());
    if (recovered > 0) log.info("resuming deliveries interrupted by the last stop", { deliveries: recovered });
    const pruner = startPruner({ store, retentionMs: config.retention, log });

    const worker = startWorker({
      store,
      resolve: (name) => config.actions.get(name),
      runtime,
      log,
      print: io.out,
    });
    const accept = createAccept({ ...config, store, log, onStored: worker.wake });
    const app = createApp(accept, config.endpoints);
    const server = await runtime.serve({
      hostname: config.listen.host,
      port: config.listen.port,
      maxRequestBodySize: Math.max(...config.endpoints.map((e) => e.maxBody)) + 1,
      fetch: (request) => app.fetch(request),
    });
    // Listen for SIGTERM before announcing readiness, so a stop right after start is still graceful.
    const stopRequested = new Promise<string>((resolve) => {
      for (const name of ["SIGTERM", "SIGINT"] as const) runtime.onSignal(name, () => resolve(name));
    });
    log.info("listening", {
      url: `http://${server.hostname}:${server.port}`,
      endpoints: config.endpoints.map((e) => e.path),
      config: config.source,
      store: config.store,
    });

    const signal = await stopRequested;
    log.info("stopping", { signal });
    await server.stop();
    await worker.stop(SHUTDOWN_GRACE_MS);
    await pruner.stop();
    await store.close();
    log.info("stopped");
    return 0;
  },
};
