/**
 * @module `payhook doctor`'s checks of Stripe's side, with stripe.api_key: this clock against Stripe's Date
 * header (signatures carry a timestamp), the endpoints that deliver to this config, and the events Stripe failed
 * to deliver in the last 3 days (List Events with delivery_success=false).
 */
import type { Config } from "../config/types.ts";
import { describe } from "../errors.ts";
import type { Runtime } from "../runtime/types.ts";
import type { StripeApi } from "../stripe/api.ts";
import { redactKeys } from "../stripe/api.ts";
import { wantedTypes } from "../stripe/endpoints.ts";
import { type Check, fail, ok, warn } from "./doctor.ts";
import { endpointDrift } from "./stripe-watch.ts";

const THREE_DAYS_S = 3 * 86_400;

export async function stripeChecks(config: Config, runtime: Runtime, api: StripeApi): Promise<Check[]> {
  return [await clockCheck(config, runtime), ...(await endpointChecks(config, api)), await undeliveredCheck(api)];
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
  const thin = wantedTypes(config).thin;
  if (thin.length > 0) {
    out.push(
      warn(
        "thin events",
        `handlers for thin events (${thin.join(", ")}) are delivered by an event destination, not a webhook endpoint`,
        "check in the Dashboard that an event destination with event_payload thin points at this URL",
      ),
    );
  }
  return out;
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
