/** @module `serve --host HOST --port PORT`: the listener's address from the command line, over the config's `listen`. */
import type { Config } from "../config/types.ts";
import { UsageError } from "../errors.ts";

export const listenOptions = {
  host: { type: "string", arg: "HOST", help: "listen on this address instead of the config's listen.host" },
  port: {
    type: "string",
    arg: "PORT",
    help: "listen on this port instead of the config's listen.port (0: any free port)",
  },
} as const;

/** `config` with the flags' host and port; the same flags apply to every reload, so a reload never moves the listener. */
export function withListenFlags(config: Config, values: Record<string, unknown>): Config {
  const host = values.host as string | undefined;
  const port = values.port as string | undefined;
  if (host === undefined && port === undefined) return config;
  if (host !== undefined && !/^[A-Za-z0-9.:[\]-]+$/.test(host)) {
    throw new UsageError(`--host must be an address such as 127.0.0.1, 0.0.0.0 or ::, got "${host}"`);
  }
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) <= 65535)) {
    throw new UsageError(`--port must be a port from 0 to 65535, got "${port}"`);
  }
  const listen = {
    ...config.listen,
    ...(host === undefined ? {} : { host: host.replace(/^\[|\]$/g, "") }),
    ...(port === undefined ? {} : { port: Number(port) }),
  };
  return { ...config, listen };
}
