/**
 * @module Prometheus metrics. The hot path increments plain numeric fields in place (no labels hashed, nothing
 * allocated per request); everything is turned into the text exposition format (version 0.0.4) only when
 * /metrics is scraped. No client library: prom-client hashes label sets on every increment and brings
 * Node-only default collectors, and the format is a few rules, tested in test/unit/metrics.test.ts.
 */
import process from "node:process";
import type { QueueStats } from "../store/types.ts";

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Seconds from the request's arrival to its 2xx: verification plus a group commit with fsync. */
export const ACK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Seconds an action's attempt took: from a log line to a slow downstream service. */
export const ACTION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Distinct event types counted by name; more than this (never seen from Stripe) count as "other". */
const MAX_EVENT_TYPES = 1_000;
/**
 * Connected accounts that get a label of their own in payhook_account_events_total: the first ones seen by this
 * process. A platform can have thousands of accounts; a label each would make every scrape and every series store
 * grow with them, so the rest count as "other" and `payhook events list --account` answers for any one of them.
 */
export const MAX_ACCOUNT_LABELS = 50;

export type DeliveryOutcome = "done" | "retry" | "failed" | "dead";
const DELIVERY_OUTCOMES: readonly DeliveryOutcome[] = ["done", "retry", "failed", "dead"];
const QUEUE_STATUSES = ["pending", "running", "failed", "dead"] as const;

export class Histogram {
  readonly bounds: readonly number[];
  /** Observations per bucket, not cumulative; the last slot is +Inf. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }
}

/** One endpoint's request counters, handed to the accept path once and incremented in place. */
export class EndpointCounters {
  accepted = 0;
  duplicate = 0;
  /** Copies kept apart during an API-version upgrade (a shadow endpoint's, or the old one's after cutover). */
  copies = 0;
  /** 4xx by error code. */
  readonly rejected: Record<string, number> = Object.create(null);
  /** 5xx by error code. */
  readonly failed: Record<string, number> = Object.create(null);
  /** New events stored, by the label of the secret that verified them (never the secret). */
  readonly verified: Record<string, number> = Object.create(null);
}

export class Metrics {
  readonly ack = new Histogram(ACK_BUCKETS);
  readonly startedAt: number;
  private readonly endpoints = new Map<string, EndpointCounters>();
  private readonly events = new Map<string, number>();
  /** New events by connected account ("platform" for the platform's own). */
  private readonly accounts = new Map<string, number>();
  private namedAccounts = 0;
  private readonly deliveries = new Map<string, Record<DeliveryOutcome, number>>();
  private readonly durations = new Map<string, Histogram>();
  private readonly skipped = new Map<string, number>();
  private readonly reloads = { success: 0, failure: 0 };
  /** Events catch-up fetched from Stripe's API, by what happened to them. */
  private readonly fetched = { stored: 0, duplicate: 0 };
  private readonly catchUps = { complete: 0, incomplete: 0 };
  /** Fetches of thin events' data (event, related object) by result. */
  private readonly thinFetches = { ok: 0, failed: 0 };
  private lastReload = { ok: true, at: 0 };
  /** Open incidents by rule, as the last alert evaluation read them. */
  private incidentsOpen: Record<string, number> = {};
  /** Alert notification attempts by channel name and result. */
  private readonly alerts = new Map<string, { sent: number; failed: number }>();
  private readonly info: Record<string, string>;

  constructor(info: Record<string, string> = {}, now: number = Date.now()) {
    this.info = info;
    this.startedAt = now;
    this.lastReload.at = now;
  }

  /** The counters for a path; the same object every time, so the accept path can keep it. */
  endpoint(path: string): EndpointCounters {
    let counters = this.endpoints.get(path);
    if (!counters) {
      counters = new EndpointCounters();
      this.endpoints.set(path, counters);
    }
    return counters;
  }

  /** Requests rejected so far (4xx), by reason, summed over endpoints. */
  rejectedTotals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.endpoints.values()) {
      for (const [reason, n] of Object.entries(c.rejected)) out[reason] = (out[reason] ?? 0) + n;
    }
    return out;
  }

  /** A new (not duplicate) event was stored. */
  event(type: string): void {
    const count = this.events.get(type);
    if (count !== undefined) this.events.set(type, count + 1);
    else if (this.events.size < MAX_EVENT_TYPES) this.events.set(type, 1);
    else this.events.set("other", (this.events.get("other") ?? 0) + 1);
  }

  /** A new event of a connected account (null: the platform's own) was stored. */
  account(account: string | null): void {
    const label = account ?? "platform";
    const count = this.accounts.get(label);
    if (count !== undefined) this.accounts.set(label, count + 1);
    else if (account === null || this.namedAccounts++ < MAX_ACCOUNT_LABELS) this.accounts.set(label, 1);
    else this.accounts.set("other", (this.accounts.get("other") ?? 0) + 1);
  }

  /** One attempt of `action` finished with `outcome` after `seconds`. */
  attempt(action: string, outcome: DeliveryOutcome, seconds: number): void {
    let byOutcome = this.deliveries.get(action);
    if (!byOutcome) {
      byOutcome = { done: 0, retry: 0, failed: 0, dead: 0 };
      this.deliveries.set(action, byOutcome);
    }
    byOutcome[outcome]++;
    let histogram = this.durations.get(action);
    if (!histogram) {
      histogram = new Histogram(ACTION_BUCKETS);
      this.durations.set(action, histogram);
    }
    histogram.observe(seconds);
  }

  /** A delivery of `action` was marked done without running: `stale: skip` found a newer event delivered. */
  skippedStale(action: string): void {
    this.skipped.set(action, (this.skipped.get(action) ?? 0) + 1);
  }

  /** A background catch-up run ended; `stored` and `duplicates` count its events. */
  catchUp(complete: boolean, stored: number, duplicates: number): void {
    this.catchUps[complete ? "complete" : "incomplete"]++;
    this.fetched.stored += stored;
    this.fetched.duplicate += duplicates;
  }

  /** The open incidents by rule, after an alert evaluation. */
  openIncidents(byRule: Record<string, number>): void {
    this.incidentsOpen = { ...byRule };
  }

  /** One attempt to send a notification to a channel (named; its URL is never a label). */
  alertSent(channel: string, ok: boolean): void {
    const counts = this.alerts.get(channel) ?? { sent: 0, failed: 0 };
    counts[ok ? "sent" : "failed"]++;
    this.alerts.set(channel, counts);
  }

  thinFetch(ok: boolean): void {
    this.thinFetches[ok ? "ok" : "failed"]++;
  }

  reload(ok: boolean, now: number = Date.now()): void {
    this.reloads[ok ? "success" : "failure"]++;
    this.lastReload = { ok, at: now };
  }

  /** The whole exposition, with queue gauges from the store when it could be asked. */
  render(queue: QueueStats | undefined, now: number = Date.now()): string {
    const out = new Exposition();
    out.family("payhook_requests_total", "counter", "Webhook requests by endpoint and outcome.");
    for (const [endpoint, c] of [...this.endpoints].sort(byKey)) {
      out.sample("payhook_requests_total", { endpoint, outcome: "accepted" }, c.accepted);
      out.sample("payhook_requests_total", { endpoint, outcome: "duplicate" }, c.duplicate);
      if (c.copies > 0) out.sample("payhook_requests_total", { endpoint, outcome: "copy" }, c.copies);
      for (const [reason, n] of Object.entries(c.rejected).sort(byKey)) {
        out.sample("payhook_requests_total", { endpoint, outcome: "rejected", reason }, n);
      }
      for (const [reason, n] of Object.entries(c.failed).sort(byKey)) {
        out.sample("payhook_requests_total", { endpoint, outcome: "failed", reason }, n);
      }
    }
    out.family(
      "payhook_events_verified_total",
      "counter",
      "New events stored, by endpoint and the label of the signing secret that verified them.",
    );
    for (const [endpoint, c] of [...this.endpoints].sort(byKey)) {
      for (const [secret, n] of Object.entries(c.verified).sort(byKey)) {
        out.sample("payhook_events_verified_total", { endpoint, secret }, n);
      }
    }
    out.family("payhook_events_total", "counter", "New events stored, by type.");
    for (const [type, n] of [...this.events].sort(byKey)) out.sample("payhook_events_total", { type }, n);
    out.family(
      "payhook_account_events_total",
      "counter",
      `New events stored, by connected account: "platform" for the platform's own, the first ${MAX_ACCOUNT_LABELS} accounts seen by name, "other" for the rest.`,
    );
    for (const [account, n] of [...this.accounts].sort(byKey)) {
      out.sample("payhook_account_events_total", { account }, n);
    }

    out.family(
      "payhook_fetched_events_total",
      "counter",
      "Events background catch-up fetched from Stripe's Events API: stored (missed until then) or duplicate.",
    );
    out.sample("payhook_fetched_events_total", { result: "stored" }, this.fetched.stored);
    out.sample("payhook_fetched_events_total", { result: "duplicate" }, this.fetched.duplicate);
    out.family("payhook_catch_up_runs_total", "counter", "Background catch-up runs by result.");
    out.sample("payhook_catch_up_runs_total", { result: "complete" }, this.catchUps.complete);
    out.sample("payhook_catch_up_runs_total", { result: "incomplete" }, this.catchUps.incomplete);
    out.family("payhook_thin_fetches_total", "counter", "Fetches of thin events' data from Stripe, by result.");
    out.sample("payhook_thin_fetches_total", { result: "ok" }, this.thinFetches.ok);
    out.sample("payhook_thin_fetches_total", { result: "failed" }, this.thinFetches.failed);

    out.histogram("payhook_ack_duration_seconds", "Seconds from a request's arrival to its 2xx.", {}, this.ack);

    out.family("payhook_deliveries_total", "counter", "Delivery attempts by action and outcome.");
    for (const [action, byOutcome] of [...this.deliveries].sort(byKey)) {
      for (const outcome of DELIVERY_OUTCOMES) {
        out.sample("payhook_deliveries_total", { action, outcome }, byOutcome[outcome]);
      }
    }
    out.family(
      "payhook_deliveries_skipped_total",
      "counter",
      "Deliveries marked done without running, by action and reason (stale: a newer event for the order key was delivered).",
    );
    for (const [action, n] of [...this.skipped].sort(byKey)) {
      out.sample("payhook_deliveries_skipped_total", { action, reason: "stale" }, n);
    }
    out.family("payhook_action_duration_seconds", "histogram", "Seconds one attempt of an action took.");
    for (const [action, histogram] of [...this.durations].sort(byKey)) {
      out.histogramSamples("payhook_action_duration_seconds", { action }, histogram);
    }

    if (queue) {
      out.family("payhook_deliveries", "gauge", "Deliveries not done, by status (the queue).");
      for (const status of QUEUE_STATUSES) out.sample("payhook_deliveries", { status }, queue.byStatus[status] ?? 0);
      out.family(
        "payhook_oldest_pending_delivery_age_seconds",
        "gauge",
        "Age of the oldest delivery still pending or running; 0 when there is none.",
      );
      const age = queue.oldestPendingAt === null ? 0 : Math.max(0, now - queue.oldestPendingAt) / 1000;
      out.sample("payhook_oldest_pending_delivery_age_seconds", {}, age);
    }

    out.family("payhook_incidents_open", "gauge", "Alert incidents open now, by rule.");
    for (const [rule, n] of Object.entries(this.incidentsOpen).sort(byKey)) {
      out.sample("payhook_incidents_open", { rule }, n);
    }
    out.family(
      "payhook_alert_notifications_total",
      "counter",
      "Attempts to send alert notifications, by channel and result.",
    );
    for (const [channel, counts] of [...this.alerts].sort(byKey)) {
      out.sample("payhook_alert_notifications_total", { channel, result: "sent" }, counts.sent);
      out.sample("payhook_alert_notifications_total", { channel, result: "failed" }, counts.failed);
    }

    out.family("payhook_config_reloads_total", "counter", "Config reloads by result.");
    out.sample("payhook_config_reloads_total", { result: "success" }, this.reloads.success);
    out.sample("payhook_config_reloads_total", { result: "failure" }, this.reloads.failure);
    out.family("payhook_config_last_reload_successful", "gauge", "1 if the last config reload was applied.");
    out.sample("payhook_config_last_reload_successful", {}, this.lastReload.ok ? 1 : 0);
    out.family("payhook_config_last_reload_timestamp_seconds", "gauge", "When the config was last (re)loaded.");
    out.sample("payhook_config_last_reload_timestamp_seconds", {}, this.lastReload.at / 1000);

    out.family("payhook_build_info", "gauge", "Always 1; the labels say which payhook and runtime run.");
    out.sample("payhook_build_info", this.info, 1);
    out.family("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
    out.sample("process_start_time_seconds", {}, this.startedAt / 1000);
    out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out.sample("process_resident_memory_bytes", {}, process.memoryUsage().rss);
    return out.text();
  }
}

/** Writes the text format: HELP and TYPE once per family, escaped label values, Go-parsable numbers. */
export class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): void {
    this.lines.push(
      `# HELP ${name} ${help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")}`,
      `# TYPE ${name} ${type}`,
    );
  }

  sample(name: string, labels: Record<string, string>, value: number): void {
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    this.lines.push(`${name}${pairs.length > 0 ? `{${pairs.join(",")}}` : ""} ${formatValue(value)}`);
  }

  histogram(name: string, help: string, labels: Record<string, string>, histogram: Histogram): void {
    this.family(name, "histogram", help);
    this.histogramSamples(name, labels, histogram);
  }

  /** Cumulative buckets ending in le="+Inf" (equal to _count), then _sum and _count. */
  histogramSamples(name: string, labels: Record<string, string>, histogram: Histogram): void {
    let cumulative = 0;
    histogram.bounds.forEach((bound, i) => {
      cumulative += histogram.counts[i] as number;
      this.sample(`${name}_bucket`, { ...labels, le: formatValue(bound) }, cumulative);
    });
    this.sample(`${name}_bucket`, { ...labels, le: "+Inf" }, histogram.count);
    this.sample(`${name}_sum`, labels, histogram.sum);
    this.sample(`${name}_count`, labels, histogram.count);
  }

  text(): string {
    return `${this.lines.join("\n")}\n`;
  }
}

export function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function byKey<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
