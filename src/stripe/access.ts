/** @module The one place commands get a Stripe API client: it refuses clearly when the config has no key. */
import type { Config, StripeSettings } from "../config/types.ts";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Runtime } from "../runtime/types.ts";
import { createStripeApi, type StripeApi } from "./api.ts";

/** The settings with their key, or a ConfigError naming the file and what `feature` needs. */
export function requireApiKey(config: Config, feature: string): StripeSettings & { apiKey: string } {
  const { apiKey } = config.stripe;
  if (!apiKey) {
    throw new ConfigError([
      `${config.source}: stripe.api_key: ${feature} needs Stripe API access; add stripe: { api_key: "\${STRIPE_API_KEY}" } and set STRIPE_API_KEY (docs/stripe.md#stripe-api-access lists the permissions a restricted key needs)`,
    ]);
  }
  return { ...config.stripe, apiKey };
}

/** A client for `feature` that retries 429s and 5xx itself, logging each wait; `signal` cancels all it does. */
export function apiFor(
  config: Config,
  feature: string,
  runtime: Runtime,
  log: Logger,
  retries = 5,
  signal?: AbortSignal,
): StripeApi {
  return createStripeApi({
    settings: requireApiKey(config, feature),
    fetch: runtime.fetch,
    retries,
    signal,
    onRetry: ({ what, status, waitMs, reason }) =>
      log.warn("Stripe API call will be retried", { call: what, status, wait_ms: waitMs, reason }),
  });
}

/** Live keys change the real account: commands that write need --live to go on with one. */
export function isLiveKey(key: string): boolean {
  return key.startsWith("sk_live_") || key.startsWith("rk_live_");
}
