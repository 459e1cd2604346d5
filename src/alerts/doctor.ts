/**
 * @module `payhook doctor`'s checks of this machine: the store (writable, its folder's mode, free disk), the
 * listener answering, payhook's TLS certificate, the admin listener's exposure. Each check says ok, warn or fail,
 * and for anything but ok, the fix. Stripe's side is in src/ops/doctor-stripe.ts.
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { lintAdmin } from "../catalog/exposure.ts";
import type { Config } from "../config/types.ts";
import { describe } from "../errors.ts";
import { VERSION } from "../ops/build.ts";
import { certificateExpiry, diskFree } from "../ops/host.ts";
import type { Runtime } from "../runtime/types.ts";
import { openStore } from "../store/open.ts";
import { exposedStoreFiles } from "../store/sqlite/files.ts";
import { isLoopback } from "../utils/net.ts";

export type CheckStatus = "ok" | "warn" | "fail";

export interface Check {
  check: string;
  status: CheckStatus;
  message: string;
  /** What to do, for warn and fail. */
  fix?: string;
}

const DAY = 86_400_000;
const LISTENER_TIMEOUT_MS = 3_000;

export const ok = (check: string, message: string): Check => ({ check, status: "ok", message });
export const warn = (check: string, message: string, fix: string): Check => ({ check, status: "warn", message, fix });
export const fail = (check: string, message: string, fix: string): Check => ({ check, status: "fail", message, fix });

export async function localChecks(config: Config, runtime: Runtime): Promise<Check[]> {
  return [
    ...folderChecks(config),
    await storeWritable(config, runtime),
    await listenerAnswers(config, runtime),
    certificateCheck(config),
    adminCheck(config),
  ];
}

function folderChecks(config: Config): Check[] {
  if (config.store.kind !== "sqlite") return [];
  const path = config.store.path;
  const folder = dirname(path);
  const out: Check[] = [];
  try {
    accessSync(folder, constants.W_OK);
    const mode = statSync(folder).mode & 0o777;
    const exposed = existsSync(path) ? exposedStoreFiles(path) : [];
    if (mode & 0o002) {
      out.push(
        warn("store folder", `${folder} is writable by every user (mode ${mode.toString(8)})`, `chmod o-w ${folder}`),
      );
    } else if (exposed.length > 0) {
      out.push(
        warn(
          "store folder",
          `other users can read ${exposed.join(", ")}`,
          `chmod 600 ${exposed.join(" ")}: every event's customer data is in it`,
        ),
      );
    } else out.push(ok("store folder", `${folder} (mode ${mode.toString(8)})`));
  } catch (error) {
    out.push(
      fail(
        "store folder",
        `cannot write in ${folder}: ${describe(error)}`,
        "create the folder and give it to the user payhook runs as",
      ),
    );
  }
  const disk = diskFree(path);
  if (disk) {
    const text = `${disk.freePercent.toFixed(1)}% free (${Math.round(disk.freeBytes / 1024 ** 2)} MiB) on the store's disk`;
    if (disk.freePercent < 2)
      out.push(fail("free disk", text, "free space, or shorten retention: a full disk makes payhook answer 503"));
    else if (disk.freePercent < 10)
      out.push(warn("free disk", text, "free space before it fills: a full disk makes payhook answer 503"));
    else out.push(ok("free disk", text));
  }
  return out;
}

async function storeWritable(config: Config, runtime: Runtime): Promise<Check> {
  if (config.store.kind === "sqlite" && !existsSync(config.store.path)) {
    return warn("store", `${config.store.label} does not exist yet`, "start payhook serve: it creates the store");
  }
  try {
    const opened = await openStore(runtime, config.store, { version: VERSION });
    try {
      await opened.store.checkWritable(2_000);
      return ok("store", `${config.store.label} takes durable writes`);
    } finally {
      await opened.close();
    }
  } catch (error) {
    return fail(
      "store",
      `${config.store.label}: ${describe(error)}`,
      "make the store reachable and writable: payhook answers 503 without it",
    );
  }
}

async function listenerAnswers(config: Config, runtime: Runtime): Promise<Check> {
  const { host, port, tls } = config.listen;
  const local = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const url = `${tls ? "https" : "http"}://${local.includes(":") ? `[${local}]` : local}:${port}/`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), LISTENER_TIMEOUT_MS);
  try {
    const response = await runtime.fetch(url, { method: "GET", signal: controller.signal, redirect: "manual" });
    await response.body?.cancel().catch(() => {});
    return ok("listener", `${url} answers (HTTP ${response.status})`);
  } catch (error) {
    const why = controller.signal.aborted ? `no answer within ${LISTENER_TIMEOUT_MS} ms` : describe(error);
    if (tls && /certificate|self.signed|verify/i.test(why)) {
      return warn(
        "listener",
        `${url} answers with a certificate this machine does not trust`,
        "Stripe needs a certificate from a public CA",
      );
    }
    return fail(
      "listener",
      `nothing answers on ${url}: ${why}`,
      "start payhook serve with this config (or check listen.host and listen.port)",
    );
  } finally {
    clearTimeout(timer);
  }
}

function certificateCheck(config: Config): Check {
  const { tls, host } = config.listen;
  if (!tls) {
    return isLoopback(host)
      ? ok("tls", `plain HTTP on ${host}: a proxy in front is expected to serve HTTPS`)
      : warn(
          "tls",
          `plain HTTP on ${host}, beyond this machine`,
          "serve HTTPS: set listen.tls, or put a TLS proxy in front and bind 127.0.0.1 (Stripe sends live events to HTTPS URLs only)",
        );
  }
  const expires = certificateExpiry(tls.cert);
  if (expires === undefined)
    return fail("tls", `cannot read a certificate from ${tls.cert}`, "point listen.tls.cert at a PEM certificate");
  const left = expires - Date.now();
  const when = new Date(expires).toISOString();
  if (left <= 0) return fail("tls", `the certificate expired ${when}`, "renew it, then reload payhook (SIGHUP)");
  if (left < 14 * DAY)
    return warn(
      "tls",
      `the certificate expires ${when}, in ${Math.floor(left / DAY)} days`,
      "renew it, then reload payhook (SIGHUP)",
    );
  return ok("tls", `the certificate is valid until ${when}`);
}

function adminCheck(config: Config): Check {
  const admin = config.file.admin;
  if (!admin) return ok("admin", "no admin listener; /healthz, /readyz and /metrics are on the main listener");
  const [finding] = lintAdmin(config.file);
  if (finding) return warn("admin", `${admin.host}:${admin.port} is exposed over plain HTTP`, finding.message);
  return ok("admin", `${admin.host}:${admin.port}${admin.token ? ", operator page on" : ""}`);
}
