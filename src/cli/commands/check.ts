/**
 * @module `payhook check`: validates a config, prints what it resolves to with every secret redacted, and lints
 * it (warnings on stderr; with --strict they make the exit code 2).
 */
import { readFileSync } from "node:fs";
import type { Action } from "../../actions/types.ts";
import { alertsLine } from "../../alerts/describe.ts";
import { lintAdmin } from "../../catalog/exposure.ts";
import { formatFindings, lintConfig } from "../../catalog/lint.ts";
import { DEFAULT_SOURCE } from "../../config/default.ts";
import { resolveConfig } from "../../config/resolve.ts";
import type { Config } from "../../config/types.ts";
import { UsageError } from "../../errors.ts";
import { VERSION } from "../../ops/build.ts";
import { formatRetiring, retiringUse, safeToRemove } from "../../ops/rotation.ts";
import type { Runtime } from "../../runtime/types.ts";
import { openStore } from "../../store/open.ts";
import { apiFor } from "../../stripe/access.ts";
import { STRIPE_API_VERSION, type StripeApi } from "../../stripe/api.ts";
import { compareEndpoint, payhookEndpoints } from "../../stripe/endpoints.ts";
import { configOption } from "../options.ts";
import { escapingIo } from "../print/escaping-io.ts";
import type { Command } from "../types.ts";

const ROTATION_DAYS = 7;

export const check: Command = {
  name: "check",
  summary: "validate a config file and print its resolved routes (secrets redacted)",
  usage: "payhook check [--config FILE] [--strict] [--stripe [--endpoint we_…]] [--rotation [--days N]]",
  options: {
    ...configOption,
    strict: { type: "boolean", help: "exit 2 when there are warnings, not only errors" },
    stripe: {
      type: "boolean",
      help: "also compare the handler map with the webhook endpoint(s) at Stripe (needs stripe.api_key)",
    },
    endpoint: { type: "string", arg: "ID", help: "with --stripe: the endpoint we_… to compare, not those matching" },
    rotation: {
      type: "boolean",
      help: "say whether each retiring secret verified an event lately (reads the store); not yet safe is a warning",
    },
    days: { type: "string", arg: "N", help: `with --rotation: how many days back to look (default ${ROTATION_DAYS})` },
  },
  async run({ io, values, runtime, log }) {
    const config = resolveConfig(values.config as string | undefined, io.env);
    const describe = (a: Action) => `    - ${a.name}: ${a.kind}, up to ${a.retry.attempts} attempts`;
    const findings = [...lintConfig(config), ...lintAdmin(config.file)];
    const text = config.source === DEFAULT_SOURCE ? undefined : readFileSync(config.source, "utf8");
    const warned = findings.length === 0 ? "" : `, ${findings.length} warning${findings.length > 1 ? "s" : ""}`;
    io.out(`${config.source}: ok${warned}`);
    io.out(`listen: ${config.listen.tls ? "https" : "http"}://${config.listen.host}:${config.listen.port}`);
    const { admin, allow_ips: allow, trusted_proxies: proxies } = config.file;
    if (admin) {
      const named = admin.tokens?.map((t) => `${t.name} (${t.role})`) ?? [];
      const page =
        named.length > 0
          ? `; the operator page at /, tokens redacted: ${[...(admin.token ? ["admin (operator)"] : []), ...named].join(", ")}`
          : admin.token
            ? "; the operator page at /, token redacted"
            : '; the operator page is off: add token: "${PAYHOOK_ADMIN_TOKEN}" under admin to turn it on';
      io.out(`admin: http://${admin.host}:${admin.port} (/healthz, /readyz, /metrics${page})`);
    }
    if (allow?.length) io.out(`allow_ips: ${allow.join(", ")}${proxies?.length ? `; via ${proxies.join(", ")}` : ""}`);
    io.out(`store: ${config.store.label}`);
    if (config.file.stripe) {
      const { apiBase, apiKey, catchUp } = config.stripe;
      const every = catchUp
        ? `; background catch-up every ${config.file.stripe.catch_up?.every} over ${config.file.stripe.catch_up?.window}`
        : "";
      io.out(`stripe: ${apiBase}, api_key ${apiKey ? "set (redacted)" : "not set"}${every}`);
    }
    if (config.alerts) io.out(alertsLine(config.alerts));
    io.out("endpoints:");
    for (const e of config.endpoints) {
      const labels = e.signing.map((s) => `${s.label}${s.retiring ? " (retiring)" : ""}`).join(", ");
      io.out(`  POST ${e.path}: secrets ${labels}, redacted; tolerance ${e.tolerance}s; max_body ${e.maxBody} bytes`);
    }
    io.out("routes:");
    for (const route of config.routes) io.out([`  ${route.pattern}`, ...route.actions.map(describe)].join("\n"));
    io.out(["  (unhandled)", ...config.unhandled.map(describe)].join("\n"));
    for (const line of formatFindings(findings, config.source, text)) io.err(line);
    let warnings = findings.length;
    if (values.stripe) {
      const api = apiFor(config, "check --stripe", runtime, log);
      // Endpoint URLs and types come from Stripe's API: printed, they must not reach the terminal raw.
      warnings += await checkStripe(config, api, values.endpoint, escapingIo(io));
    } else if (values.endpoint !== undefined) {
      throw new UsageError("--endpoint goes with --stripe");
    }
    if (values.rotation) warnings += await checkRotation(config, runtime, values.days, io);
    else if (values.days !== undefined) throw new UsageError("--days goes with --rotation");
    if (values.strict && warnings > 0) {
      io.err(`${config.source}: --strict: ${warnings} warning(s) count as errors`);
      return 2;
    }
    return 0;
  },
};

/** Prints whether each retiring secret still verifies events; returns how many do (warnings). */
async function checkRotation(
  config: Config,
  runtime: Runtime,
  daysFlag: unknown,
  io: { out(line: string): void; err(line: string): void },
): Promise<number> {
  const days = daysFlag === undefined ? ROTATION_DAYS : Number(daysFlag);
  if (typeof daysFlag === "string" && !/^[1-9][0-9]{0,3}$/.test(daysFlag)) {
    throw new UsageError(`--days expects a whole number of days from 1, got "${daysFlag}"`);
  }
  const { store, close } = await openStore(runtime, config.store, { mustExist: true, version: VERSION });
  try {
    const now = Date.now();
    const secrets = await retiringUse(config.endpoints, store, now - days * 86_400_000);
    io.out("rotation:");
    if (secrets.length === 0) io.out("  no secret is marked retiring: true or retired by a cutover");
    for (const secret of secrets) io.out(formatRetiring(secret, days, now));
    const inUse = secrets.filter((s) => !safeToRemove(s, now));
    for (const s of inUse) {
      const why = s.retirement ? "may still verify Stripe's retries" : "still verifies events";
      io.err(`${config.source}: rotation: retiring secret ${s.label} of ${s.endpoint} ${why}`);
    }
    return inUse.length;
  } finally {
    await close();
  }
}

/** Compares the map with the endpoint(s) at Stripe; prints each mismatch on stderr and returns how many. */
async function checkStripe(
  config: Config,
  api: StripeApi,
  id: unknown,
  io: { out(line: string): void; err(line: string): void },
): Promise<number> {
  const all = await api.listWebhookEndpoints();
  const targets = payhookEndpoints(all, config, typeof id === "string" ? id : undefined);
  if (targets.length === 0) {
    const paths = config.endpoints.map((e) => e.path).join(" or ");
    io.err(
      typeof id === "string"
        ? `${config.source}: stripe: no webhook endpoint ${id} on this account`
        : `${config.source}: stripe: none of the account's ${all.length} webhook endpoint(s) has a URL ending with ${paths}; \`payhook stripe endpoint create --url …\` makes one`,
    );
    return 1;
  }
  let count = 0;
  io.out("stripe:");
  for (const endpoint of targets) {
    const mismatches = compareEndpoint(endpoint, config, STRIPE_API_VERSION);
    count += mismatches.length;
    io.out(
      `  ${endpoint.id} ${endpoint.url}: ${mismatches.length === 0 ? "matches the handler map" : `${mismatches.length} mismatch(es)`}`,
    );
    for (const m of mismatches) io.err(`${config.source}: stripe endpoint ${endpoint.id}: [${m.kind}] ${m.message}`);
  }
  return count;
}
