/**
 * @module Stripe's side of the endpoint, for the `stripe_endpoint` rule and `payhook doctor`: the webhook
 * endpoints whose URL ends in this config's paths, and what drifted (disabled, events the handler map needs that
 * are not enabled, another API version). Events enabled with no handler are not a drift: they are acknowledged.
 */
import type { Config } from "../config/types.ts";
import type { StripeApi } from "../stripe/api.ts";
import { STRIPE_API_VERSION } from "../stripe/api.ts";
import { compareEndpoint, payhookEndpoints } from "../stripe/endpoints.ts";
import type { EndpointDrift } from "./rules.ts";

export async function endpointDrift(api: StripeApi, config: Config): Promise<EndpointDrift[]> {
  const mine = payhookEndpoints(await api.listWebhookEndpoints(), config);
  if (mine.length === 0) {
    const paths = config.endpoints.map((e) => e.path).join(", ");
    return [
      {
        id: "none",
        url: "",
        problems: [
          `no webhook endpoint at Stripe delivers to ${paths}: Stripe sends this payhook nothing (\`payhook stripe endpoint create\` makes one)`,
        ],
      },
    ];
  }
  return mine.map((endpoint) => ({
    id: endpoint.id,
    url: endpoint.url,
    problems: compareEndpoint(endpoint, config, STRIPE_API_VERSION)
      .filter((m) => m.kind !== "unhandled_types")
      .map((m) => m.message),
  }));
}
