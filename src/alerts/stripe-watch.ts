/**
 * @module Stripe's side of the endpoint, for the `stripe_endpoint` rule and `payhook doctor`: the v1 webhook
 * endpoints and v2 event destinations whose URL ends in this config's paths, and what drifted (disabled, events the
 * handler map needs that are not enabled, another API version). Events enabled with no handler are not a drift:
 * they are acknowledged.
 */
import type { Config } from "../config/types.ts";
import { describe } from "../errors.ts";
import type { EventDestination, StripeApi, WebhookEndpoint } from "../stripe/api.ts";
import { STRIPE_API_VERSION } from "../stripe/api.ts";
import { compareDestination, compareEndpoint, payhookDestinations, payhookEndpoints } from "../stripe/endpoints.ts";
import type { EndpointDrift } from "./rules.ts";

/** The v1 webhook endpoints that deliver here and their drift, or "none" when there is none (doctor's check). */
export async function endpointDrift(api: StripeApi, config: Config): Promise<EndpointDrift[]> {
  const mine = payhookEndpoints(await api.listWebhookEndpoints(), config);
  if (mine.length === 0) {
    return [none(config, "webhook endpoint", "(`payhook stripe endpoint create` makes one)")];
  }
  return mine.map((endpoint) => ofEndpoint(endpoint, config));
}

/**
 * For the `stripe_endpoint` rule: the v1 webhook endpoints and the v2 event destinations that deliver here, each
 * with its drift, compared as `payhook doctor` compares them. An enabled destination counts as delivering here; a
 * disabled one is a drift with Stripe's reason. "none" only when neither kind delivers here. A key that may not read
 * event destinations still gets its endpoints checked; "none" then says the destinations could not be listed.
 */
export async function stripeDrift(api: StripeApi, config: Config): Promise<EndpointDrift[]> {
  const endpoints = payhookEndpoints(await api.listWebhookEndpoints(), config);
  let destinations: EventDestination[] = [];
  let unlisted = "";
  try {
    destinations = payhookDestinations(await api.listEventDestinations(), config);
  } catch (error) {
    unlisted = `; event destinations could not be listed (${describe(error)}): give the key Event Destinations: read`;
  }
  if (endpoints.length === 0 && destinations.length === 0) {
    return [
      none(
        config,
        "webhook endpoint or event destination",
        `(\`payhook stripe endpoint create\` makes a webhook endpoint)${unlisted}`,
      ),
    ];
  }
  return [
    ...endpoints.map((endpoint) => ofEndpoint(endpoint, config)),
    ...destinations.map(
      (d): EndpointDrift => ({
        id: d.id,
        kind: "destination",
        url: d.webhook_endpoint?.url ?? "",
        problems: compareDestination(d, config, STRIPE_API_VERSION).map((m) => m.message),
      }),
    ),
  ];
}

function ofEndpoint(endpoint: WebhookEndpoint, config: Config): EndpointDrift {
  return {
    id: endpoint.id,
    url: endpoint.url,
    problems: compareEndpoint(endpoint, config, STRIPE_API_VERSION)
      .filter((m) => m.kind !== "unhandled_types")
      .map((m) => m.message),
  };
}

function none(config: Config, what: string, fix: string): EndpointDrift {
  const paths = config.endpoints.map((e) => e.path).join(", ");
  return {
    id: "none",
    url: "",
    problems: [`no ${what} at Stripe delivers to ${paths}: Stripe sends this payhook nothing ${fix}`],
  };
}
