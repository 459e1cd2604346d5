/**
 * @module The handler map against Stripe's webhook endpoints: which types the map takes (prefixes expanded through
 * the event catalog), which endpoints are payhook's, and what disagrees between them. Pure: no API calls.
 */
import { SNAPSHOT_EVENT_TYPES } from "../catalog/event-types.ts";
import { isThinPattern, matches } from "../config/routes.ts";
import type { Config } from "../config/types.ts";
import type { EventDestination, WebhookEndpoint } from "./api.ts";

/** What a webhook endpoint for this config should send: exact types, or every type. */
export interface WantedTypes {
  /** `*` or unhandled actions: every type is taken. */
  everything: boolean;
  /** Sorted snapshot types the handler map names (prefix patterns expanded). */
  types: string[];
  /** Thin patterns: they are delivered to event destinations, never to webhook endpoints. */
  thin: string[];
}

export function wantedTypes(config: Pick<Config, "routes" | "unhandled">): WantedTypes {
  const patterns = config.routes.map((r) => r.pattern);
  const snapshot = patterns.filter((p) => !isThinPattern(p) && p !== "*");
  const types = new Set<string>();
  for (const pattern of snapshot) {
    if (!pattern.endsWith(".*")) types.add(pattern);
    else for (const t of SNAPSHOT_EVENT_TYPES.filter((t) => matches(pattern, t))) types.add(t);
  }
  return {
    everything: patterns.includes("*") || config.unhandled.length > 0,
    types: [...types].sort(),
    thin: patterns.filter(isThinPattern),
  };
}

/** The endpoints that deliver to this config: the one with `id`, else those whose URL path ends with an endpoint path. */
export function payhookEndpoints(
  all: readonly WebhookEndpoint[],
  config: Pick<Config, "endpoints">,
  id?: string,
): WebhookEndpoint[] {
  if (id !== undefined) return all.filter((e) => e.id === id);
  return all.filter((e) => config.endpoints.some((c) => pathOf(e.url).endsWith(c.path)));
}

/** The event destinations that deliver to this config: webhook destinations whose URL path ends with an endpoint path. */
export function payhookDestinations(
  all: readonly EventDestination[],
  config: Pick<Config, "endpoints">,
): EventDestination[] {
  return all.filter((d) => {
    const url = d.webhook_endpoint?.url;
    return (
      d.type === "webhook_endpoint" && url !== undefined && config.endpoints.some((c) => pathOf(url).endsWith(c.path))
    );
  });
}

/**
 * What disagrees between one event destination and the handler map: disabled, handlers of its payload kind (thin
 * or snapshot) whose types it never sends, and for snapshot payloads another API version. Types it sends with no
 * handler are not reported: they are acknowledged.
 */
export function compareDestination(
  destination: EventDestination,
  config: Pick<Config, "routes">,
  apiVersion: string,
): Mismatch[] {
  const out: Mismatch[] = [];
  const thin = destination.event_payload === "thin";
  const sent = destination.enabled_events;
  const never = config.routes
    .map((r) => r.pattern)
    .filter((p) => p !== "*" && isThinPattern(p) === thin && !sent.some((t) => t === "*" || matches(p, t)));
  if (never.length > 0) {
    out.push({
      kind: "never_sent",
      message: `handlers for ${thin ? "thin " : ""}type(s) this destination never sends: ${list([...new Set(never)])}; add them to its enabled events in the Dashboard or remove the handlers`,
    });
  }
  if (destination.status !== "enabled") {
    const reason = destination.status_details?.disabled?.reason;
    out.push({
      kind: "disabled",
      message: `the event destination is ${destination.status}${reason ? ` (reason: ${reason})` : ""}: Stripe sends it nothing (enable it in the Dashboard${thin ? "" : ", then run `payhook catch-up`"})`,
    });
  }
  const version = destination.snapshot_api_version;
  if (!thin && version && version !== apiVersion) {
    out.push({
      kind: "api_version",
      message: `the destination renders events with API version ${version}, but payhook's stripe package uses ${apiVersion}; payload shapes can differ between versions`,
    });
  }
  return out;
}

export type MismatchKind = "unhandled_types" | "never_sent" | "disabled" | "api_version";

export interface Mismatch {
  kind: MismatchKind;
  message: string;
}

/** What disagrees between one endpoint at Stripe and the handler map. */
export function compareEndpoint(
  endpoint: WebhookEndpoint,
  config: Pick<Config, "routes" | "unhandled">,
  apiVersion: string,
): Mismatch[] {
  const out: Mismatch[] = [];
  const all = endpoint.enabled_events.includes("*");
  const sent = all ? SNAPSHOT_EVENT_TYPES : endpoint.enabled_events;
  const patterns = config.routes.map((r) => r.pattern);
  const taken = (type: string) => patterns.some((p) => matches(p, type));
  const orphans = sent.filter((t) => !taken(t));
  if (orphans.length > 0) {
    const where =
      config.unhandled.length > 0
        ? "they run the unhandled actions"
        : "they are stored and acknowledged, and nothing runs";
    out.push({
      kind: "unhandled_types",
      message: `Stripe sends ${orphans.length} type(s) here that no handler takes (${where}): ${list(orphans)}${all ? ' (the endpoint has enabled_events ["*"])' : ""}`,
    });
  }
  if (!all) {
    const never = patterns.filter((p) => p !== "*" && !isThinPattern(p) && !sent.some((t) => matches(p, t)));
    if (never.length > 0) {
      out.push({
        kind: "never_sent",
        message: `handlers for type(s) Stripe never sends here: ${list(never)}; add them to the endpoint (\`payhook stripe endpoint sync\`) or remove the handlers`,
      });
    }
  }
  if (endpoint.status !== "enabled") {
    out.push({
      kind: "disabled",
      message: `the endpoint is ${endpoint.status}: Stripe sends it nothing, and events created meanwhile are never sent (enable it in the Dashboard, then run \`payhook catch-up\`)`,
    });
  }
  if (endpoint.api_version !== apiVersion) {
    out.push({
      kind: "api_version",
      message: `the endpoint renders events with API version ${endpoint.api_version ?? "(the account's default)"}, but payhook's stripe package uses ${apiVersion}; payload shapes can differ between versions`,
    });
  }
  return out;
}

/** The difference between an endpoint's enabled_events and the wanted ones. */
export function eventsDiff(current: readonly string[], wanted: readonly string[]): { add: string[]; remove: string[] } {
  return {
    add: wanted.filter((t) => !current.includes(t)),
    remove: current.filter((t) => !wanted.includes(t)),
  };
}

function list(items: readonly string[]): string {
  const shown = items.slice(0, 10).join(", ");
  return items.length > 10 ? `${shown} and ${items.length - 10} more` : shown;
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}
