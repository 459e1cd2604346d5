/**
 * @module `payhook doctor`'s checks of Stripe's side, with stripe.api_key: this clock against Stripe's Date
 * header (signatures carry a timestamp), the v1 webhook endpoints and v2 event destinations that deliver to this
 * config, and the events Stripe failed to deliver in the last 3 days (List Events with delivery_success=false).
 */

import { matches } from "../config/routes.ts";
import type { Config } from "../config/types.ts";
import { describe } from "../errors.ts";
import type { Runtime } from "../runtime/types.ts";
import type { EventDestination, StripeApi } from "../stripe/api.ts";
import { redactKeys, STRIPE_API_VERSION } from "../stripe/api.ts";
import { compareDestination, payhookDestinations, wantedTypes } from "../stripe/endpoints.ts";
import { type Check, fail, ok, warn } from "./doctor.ts";
import { endpointDrift } from "./stripe-watch.ts";

const THREE_DAYS_S = 3 * 86_400;

export async function stripeChecks(config: Config, runtime: Runtime, api: StripeApi): Promise<Check[]> {
  const destinations = await destinationChecks(config, api);
  let endpoints = await endpointChecks(config, api);
  // With no v1 endpoint, event destinations that deliver here are enough: their own checks say what is wrong.
  const none = endpoints.length === 1 && endpoints[0]?.message.startsWith("no webhook endpoint at Stripe");
  if (destinations.here.length > 0 && none) {
    endpoints = [
      ok(
        "stripe endpoint",
        `no v1 webhook endpoint delivers here; event destination(s) ${destinations.here.join(", ")} do`,
      ),
      ...endpoints.slice(1),
    ];
  }
  return [await clockCheck(config, runtime), ...endpoints, ...destinations.checks, await undeliveredCheck(api)];
}

async function clockCheck(config: Config, runtime: Runtime): Promise<Check> {
  try {
    const before = Date.now();
    const response = await runtime.fetch(`${config.stripe.apiBase}/v1/webhook_endpoints?limit=1`, {
      method: "GET",
      headers: { authorization: `Bearer ${config.stripe.apiKey}` },
    });
    await response.body?.cancel().catch(() => {});
    const date = Date.parse(response.headers.get("date") ?? "");
    if (!Number.isFinite(date))
      return warn(
        "clock",
        "Stripe's answer had no Date header",
        "check the clock with chronyc tracking or timedatectl",
      );
    // The header has whole seconds: the middle of the request against it, within a second either way.
    const skew = Math.round(((before + Date.now()) / 2 - date) / 1000);
    const tolerance = Math.min(...config.endpoints.map((e) => e.tolerance));
    const text = `this clock is ${Math.abs(skew)} s ${skew >= 0 ? "ahead of" : "behind"} Stripe's`;
    if (Math.abs(skew) >= tolerance) {
      return fail(
        "clock",
        text,
        `sync the clock (NTP): beyond ${tolerance} s every signature is refused as too old or in the future`,
      );
    }
    if (Math.abs(skew) > 30)
      return warn("clock", text, "sync the clock (NTP) before it drifts past the signature tolerance");
    return ok("clock", text);
  } catch (error) {
    return fail(
      "stripe api",
      `cannot reach Stripe's API: ${redactKeys(describe(error))}`,
      "check stripe.api_key and outbound HTTPS",
    );
  }
}

async function endpointChecks(config: Config, api: StripeApi): Promise<Check[]> {
  let drift: Awaited<ReturnType<typeof endpointDrift>>;
  try {
    drift = await endpointDrift(api, config);
  } catch (error) {
    return [
      fail(
        "stripe endpoint",
        `cannot list webhook endpoints: ${describe(error)}`,
        "give the key Webhook Endpoints: read",
      ),
    ];
  }
  const out = drift.map((d): Check => {
    const name = d.id === "none" ? "stripe endpoint" : `stripe endpoint ${d.id}`;
    if (d.problems.length === 0)
      return ok(name, `${d.url}: enabled, snapshot events, events and API version match the handler map`);
    const disabled = d.id === "none" || d.problems.some((p) => p.includes("the endpoint is disabled"));
    const text = `${d.url ? `${d.url}: ` : ""}${d.problems.join("; ")}`;
    const fix =
      "`payhook stripe endpoint sync` aligns its events; enable it in the Dashboard; `payhook check --stripe` details it";
    return disabled ? fail(name, text, fix) : warn(name, text, fix);
  });
  return out;
}

/**
 * The v2 event destinations whose URL ends in this config's paths, each checked like a webhook endpoint, and the
 * thin-event handlers against them: thin events reach payhook only through an enabled destination with
 * event_payload thin.
 */
async function destinationChecks(config: Config, api: StripeApi): Promise<{ checks: Check[]; here: string[] }> {
  const thin = wantedTypes(config).thin;
  let mine: EventDestination[];
  try {
    mine = payhookDestinations(await api.listEventDestinations(), config);
  } catch (error) {
    const text = `cannot list event destinations: ${describe(error)}`;
    const fix = "give the key Event Destinations: read";
    return {
      checks: [thin.length > 0 ? fail("event destinations", text, fix) : warn("event destinations", text, fix)],
      here: [],
    };
  }
  const checks = mine.map((d): Check => {
    const name = `stripe destination ${d.id}`;
    const url = d.webhook_endpoint?.url ?? "";
    const problems = compareDestination(d, config, STRIPE_API_VERSION);
    if (problems.length === 0)
      return ok(name, `${url}: enabled, ${d.event_payload} events, events cover the handler map`);
    const text = `${url}: ${problems.map((p) => p.message).join("; ")}`;
    const fix = "fix the destination in the Dashboard (Workbench, Webhooks); `payhook doctor` checks it again";
    return problems.some((p) => p.kind === "disabled") ? fail(name, text, fix) : warn(name, text, fix);
  });
  const uncovered = thin.filter(
    (p) =>
      !mine.some(
        (d) =>
          d.status === "enabled" &&
          d.event_payload === "thin" &&
          d.enabled_events.some((t) => t === "*" || matches(p, t)),
      ),
  );
  if (uncovered.length > 0) {
    checks.push(
      fail(
        "thin events",
        `no enabled event destination with event_payload thin sends ${uncovered.join(", ")} to this payhook: those handlers never run`,
        "create an event destination (payload style thin) for this URL with those event types in the Dashboard",
      ),
    );
  } else if (thin.length > 0) {
    checks.push(ok("thin events", `every thin-event handler (${thin.join(", ")}) has an enabled thin destination`));
  }
  return { checks, here: mine.map((d) => d.id) };
}

async function undeliveredCheck(api: StripeApi): Promise<Check> {
  const since = Math.floor(Date.now() / 1000) - THREE_DAYS_S;
  try {
    const page = await api.listEvents({ delivery_success: false, created: { gte: since }, limit: 100 });
    const count = `${page.data.length}${page.has_more ? "+" : ""}`;
    if (page.data.length === 0) return ok("undelivered events", "Stripe failed to deliver no event in the last 3 days");
    return warn(
      "undelivered events",
      `Stripe failed to deliver ${count} events in the last 3 days (e.g. ${String(page.data[0]?.id)})`,
      "run `payhook catch-up --since 3d` to fetch them, and find why deliveries fail (the listener, a proxy, the endpoint URL)",
    );
  } catch (error) {
    return fail("undelivered events", `cannot list events: ${describe(error)}`, "give the key Events: read");
  }
}
