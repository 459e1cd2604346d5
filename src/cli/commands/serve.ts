/**
 * @module `payhook serve`: starts the server (server/start.ts) with the config, announces it, then waits for
 * SIGTERM or SIGINT and stops it gracefully. With --dry-run, a store that keeps nothing and no worker instead.
 */
import { resolveConfig } from "../../config/resolve.ts";
import type { Config } from "../../config/types.ts";
import { startServer } from "../../server/start.ts";
import { listenOptions, withListenFlags } from "../listen-flags.ts";
import { configOption } from "../options.ts";
import type { Command } from "../types.ts";

export const serve: Command = {
  name: "serve",
  summary: "receive webhooks and run their actions (the default command)",
  usage: "payhook serve [--config FILE] [--host HOST] [--port PORT] [--watch] [--dry-run]",
  options: {
    ...configOption,
    ...listenOptions,
    watch: { type: "boolean", help: "reload the config file whenever it changes (SIGHUP always reloads it)" },
    "dry-run": {
      type: "boolean",
      help: "verify and answer as usual, but store nothing and run no action: log what `payhook explain` would print",
    },
  },
  async run({ runtime, io, values, log }) {
    const override = (loaded: Config) => withListenFlags(loaded, values);
    const config = override(resolveConfig(values.config as string | undefined, io.env));
    const server = await startServer(config, {
      runtime,
      log,
      env: io.env,
      override,
      dryRun: values["dry-run"] === true,
      watch: values.watch === true,
    });
    // Listen for SIGTERM before announcing readiness, so a stop right after start is still graceful.
    const stopRequested = new Promise<string>((resolve) => {
      for (const name of ["SIGTERM", "SIGINT"] as const) runtime.onSignal(name, () => resolve(name));
    });
    log.info("listening", server.listening);
    const signal = await stopRequested;
    log.info("stopping", { signal });
    await server.stop();
    log.info("stopped");
    return 0;
  },
};
