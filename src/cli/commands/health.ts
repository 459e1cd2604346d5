/**
 * @module `payhook health`: asks a running payhook's /healthz and exits 0 if it answers 200, else 1. It is the
 * probe for places with no curl (the distroless container's HEALTHCHECK). The address comes from the config: the
 * admin listener if there is one, else the main one; a wildcard host is asked on loopback. When payhook serves
 * TLS itself, its certificate names the public host (or is self-signed), never the address asked here, so the
 * probe of its own listener does not check the certificate: it sends nothing secret and reads only a status.
 */
import { request } from "node:https";

import { resolveConfig } from "../../config/resolve.ts";
import { describe, UsageError } from "../../errors.ts";
import { configOption } from "../options.ts";
import type { Command } from "../types.ts";

const TIMEOUT_MS = 5_000;

export const health: Command = {
  name: "health",
  summary: "exit 0 if the payhook serving this config answers /healthz, else 1 (a container's HEALTHCHECK)",
  usage: "payhook health [--config FILE | --url URL]",
  options: {
    ...configOption,
    url: { type: "string", arg: "URL", help: "ask this /healthz URL instead of the config's listener" },
  },
  async run({ io, values }) {
    const given = values.url as string | undefined;
    const url = given ?? healthUrl(values.config as string | undefined, io.env);
    if (!/^https?:\/\//.test(url)) throw new UsageError(`health: --url must be an http(s) URL, got "${url}"`);
    try {
      const status = given === undefined && url.startsWith("https:") ? await ownTlsStatus(url) : await status200(url);
      if (status === 200) {
        io.out(`${url}: ok`);
        return 0;
      }
      io.err(`payhook: ${url} answered ${status}`);
    } catch (error) {
      io.err(`payhook: cannot reach ${url} (${describe(error)})`);
    }
    return 1;
  },
};

async function status200(url: string): Promise<number> {
  const response = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(TIMEOUT_MS) });
  await response.body?.cancel();
  return response.status;
}

/** The status of payhook's own TLS listener, without checking its certificate (see the module comment). */
function ownTlsStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", rejectUnauthorized: false, timeout: TIMEOUT_MS }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on("error", reject);
    req.end();
  });
}

function healthUrl(configPath: string | undefined, env: Record<string, string | undefined>): string {
  const config = resolveConfig(configPath, env);
  const admin = config.file.admin;
  const { host, port } = admin ?? config.listen;
  const scheme = !admin && config.listen.tls ? "https" : "http";
  const loopback = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host.includes(":") ? `[${host}]` : host;
  return `${scheme}://${loopback}:${port}/healthz`;
}
