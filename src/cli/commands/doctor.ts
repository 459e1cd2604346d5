/**
 * @module `payhook doctor [--json]`: checks a deployment end to end (config, store, listener, TLS, admin, and with
 * stripe.api_key, Stripe's side) and says per check ok, warn or fail, with the fix. Exit 1 when a check fails.
 */

import { type Check, fail, localChecks, ok } from "../../alerts/doctor.ts";
import { stripeChecks } from "../../alerts/doctor-stripe.ts";
import { resolveConfig } from "../../config/resolve.ts";
import { ConfigError, UsageError } from "../../errors.ts";
import { createStripeApi } from "../../stripe/api.ts";
import { configOption } from "../options.ts";
import type { Command } from "../types.ts";

export const doctor: Command = {
  name: "doctor",
  summary: "check the deployment end to end: config, store, listener, TLS, and Stripe's side of the endpoint",
  usage: "payhook doctor [--config FILE] [--json]",
  options: { ...configOption, json: { type: "boolean", help: "print one JSON object with every check" } },
  async run({ runtime, io, values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`doctor takes no arguments (got "${positionals[0]}")`);
    const checks: Check[] = [];
    let config: ReturnType<typeof resolveConfig> | undefined;
    try {
      config = resolveConfig(values.config as string | undefined, io.env);
      checks.push(
        ok("config", `${config.source}: ${config.endpoints.length} endpoint(s), ${config.actions.size} action(s)`),
      );
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      checks.push(fail("config", error.problems.join("; "), "fix the config (`payhook check` shows each problem)"));
    }
    if (config) {
      checks.push(...(await localChecks(config, runtime)));
      const { apiKey } = config.stripe;
      if (apiKey) {
        const api = createStripeApi({ settings: { ...config.stripe, apiKey }, fetch: runtime.fetch, retries: 2 });
        checks.push(...(await stripeChecks(config, runtime, api)));
      } else {
        checks.push(ok("stripe", "no stripe.api_key: Stripe's side is not checked (add one to check the endpoint)"));
      }
    }
    const failed = checks.filter((c) => c.status === "fail").length;
    if (values.json) io.out(JSON.stringify({ ok: failed === 0, checks }));
    else {
      for (const c of checks) {
        io.out(`${c.status.padEnd(4)}  ${c.check}: ${c.message}`);
        if (c.fix) io.out(`      fix: ${c.fix}`);
      }
      const warned = checks.filter((c) => c.status === "warn").length;
      io.out(`${checks.length} checks: ${failed} failed, ${warned} warnings`);
    }
    return failed === 0 ? 0 : 1;
  },
};
