/** @module The `alerts:` section in one line for `payhook check`: channel names and kinds, never their URLs. */
import type { AlertSettings } from "../config/alerts.ts";

export function alertsLine(alerts: AlertSettings): string {
  const channels = alerts.channels.map((c) => `${c.name} (${c.kind})`).join(", ");
  const r = alerts.rules;
  const minutes = (ms: number) => `${Math.round(ms / 60_000)}m`;
  const rules = [
    r.dead && "dead",
    r.failing && `failing (${r.failing.failures} in a row)`,
    r.backlog && `backlog (older than ${minutes(r.backlog.olderThanMs)})`,
    r.store && `store (below ${r.store.minFreePercent}% free)`,
    r.signatures && `signatures (${r.signatures.perMinute}/min)`,
    r.silence && `silence (${r.silence.endpoint ?? "any endpoint"}, ${minutes(r.silence.forMs)})`,
    r.missed && "missed",
    r.stripeEndpoint && "stripe_endpoint",
    r.certificate && "certificate",
  ].filter(Boolean);
  return `alerts: to ${channels}, URLs redacted; rules ${rules.join(", ")}; every ${alerts.intervalMs}ms, again every ${minutes(alerts.renotifyMs)} while open`;
}
