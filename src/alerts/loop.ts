/**
 * @module The alert evaluator in `serve`: every `alerts.interval` it reads cheap aggregates from the store (and,
 * less often, Stripe's endpoints), runs the rules, and records the result as incidents, which queue the
 * notifications. Instances sharing a store take turns through a lease for the rules about the shared state; each
 * reports its own signature failures. When the store itself fails, the channels are told directly (there is
 * nowhere durable to queue it), once, and again when it is back.
 */
import { randomUUID } from "node:crypto";
import type { Config } from "../config/types.ts";
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import { certificateExpiry, diskFree } from "../ops/host.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Condition, IncidentReport, Store } from "../store/types.ts";
import type { StripeApi } from "../stripe/api.ts";
import { createChannel } from "./channels.ts";
import { type EndpointDrift, evaluate, type Observed, signatureCondition } from "./rules.ts";
import { stripeDrift } from "./stripe-watch.ts";

export const ALERTS_LEASE = "alerts";
/** Rejections that mean a request's signature did not verify (src/ingest/verify.ts). */
export const SIGNATURE_FAILURES = [
  "signature_mismatch",
  "missing_signature",
  "no_signatures",
  "malformed_signature",
  "timestamp_too_old",
  "timestamp_in_future",
];

export interface AlertLoopOptions {
  config: () => Config;
  store: Store;
  runtime: Runtime;
  log: Logger;
  /** This instance's requests rejected so far, by reason, summed over endpoints. */
  rejected: () => Record<string, number>;
  /** Actions whose breaker is open, when the store keeps breakers. */
  breakers?: () => Promise<string[]>;
  /** Stripe's API, when the config has a key. */
  api?: StripeApi;
  /** Names this instance in per-instance incidents (its host). */
  instance: string;
  /** Notifications were queued. */
  onQueued(): void;
  /** After each evaluation: open incidents by rule, for metrics. */
  onOpen?(byRule: Record<string, number>): void;
  now?: () => number;
}

export interface AlertLoop {
  stop(): Promise<void>;
}

export function startAlertLoop(options: AlertLoopOptions): AlertLoop {
  const { store, log } = options;
  const now = options.now ?? Date.now;
  const holder = randomUUID();
  const startedAt = now();
  const signatures = new SlidingCount(60_000);
  signatures.add(startedAt, sum(options.rejected(), SIGNATURE_FAILURES));
  let drift: EndpointDrift[] | undefined;
  let nextStripeAt = 0;
  let stripeCheck: Promise<void> | undefined;
  let storeDown: Condition | undefined;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;

  /**
   * Stripe's webhook endpoints and event destinations, checked in the background every `every`: a slow API never
   * holds the evaluation.
   */
  function checkStripe(config: Config, everyMs: number): void {
    if (!options.api || stripeCheck || now() < nextStripeAt) return;
    nextStripeAt = now() + everyMs;
    stripeCheck = stripeDrift(options.api, config)
      .then((found) => {
        drift = found;
      })
      .catch((error: unknown) => log.warn("alerts: could not check Stripe's endpoints", { error: describe(error) }))
      .finally(() => {
        stripeCheck = undefined;
      });
  }

  async function tick(): Promise<void> {
    const config = options.config();
    const settings = config.alerts;
    if (!settings) return;
    const t = now();
    const badPerMinute = signatures.add(t, sum(options.rejected(), SIGNATURE_FAILURES));
    const own = `signatures@${options.instance}`;
    const report: IncidentReport = {
      scope: [own],
      open: [],
      channels: settings.channels.map((c) => c.name),
      renotifyMs: settings.renotifyMs,
    };
    const sig = settings.rules.signatures
      ? signatureCondition(options.instance, settings.rules.signatures.perMinute, badPerMinute)
      : undefined;
    if (sig) report.open = [sig];
    try {
      if (settings.rules.stripeEndpoint) checkStripe(config, settings.rules.stripeEndpoint.everyMs);
      const leader = await store.acquireLease(ALERTS_LEASE, holder, Math.max(3 * settings.intervalMs, 5_000), t);
      if (leader) {
        const found = evaluate(settings.rules, await observe(options, config, t, startedAt, drift));
        report.scope = [...found.scope, own];
        report.open = [...found.open, ...report.open];
      }
      const queued = await store.recordIncidents(report, t);
      if (queued > 0) options.onQueued();
      if (storeDown) await tellDirectly(options, config, storeDown, "resolved", startedAt);
      storeDown = undefined;
      const open = await store.incidents({ open: true, limit: 1000 });
      const byRule: Record<string, number> = {};
      for (const i of open) byRule[i.rule] = (byRule[i.rule] ?? 0) + 1;
      options.onOpen?.(byRule);
    } catch (error) {
      log.warn("alerts: could not evaluate the rules", { error: describe(error) });
      if (!storeDown && settings.rules.store) {
        storeDown = {
          key: "store:unavailable",
          rule: "store",
          summary: `the store is unavailable on ${options.instance}`,
          details: `payhook could not read or write its store: ${describe(error)}. Webhooks are answered 503 meanwhile, so Stripe retries them.`,
          count: 1,
        };
        await tellDirectly(options, config, storeDown, "open", startedAt);
      }
    }
  }

  function schedule(delay: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick()
        .catch((error: unknown) => log.error("alerts: evaluation failed", { error: describe(error) }))
        .finally(() => {
          running = undefined;
          schedule(options.config().alerts?.intervalMs ?? 30_000);
        });
    }, delay);
  }

  schedule(options.config().alerts?.intervalMs ?? 30_000);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await stripeCheck;
      await store.releaseLease(ALERTS_LEASE, holder).catch(() => {});
    },
  };
}

/** What the rules look at, read in one round: the store's aggregates, the queue, breakers, disk, certificate. */
async function observe(
  options: AlertLoopOptions,
  config: Config,
  t: number,
  startedAt: number,
  drift: EndpointDrift[] | undefined,
): Promise<Observed> {
  const { store } = options;
  const rules = config.alerts?.rules ?? {};
  const day = 86_400_000;
  const [facts, queue, breakers] = await Promise.all([
    store.alertFacts({
      dead: t - (rules.dead?.withinMs ?? day),
      attempts: t - day,
      events: t - (rules.silence?.forMs ?? day),
      fetched: t - (rules.missed?.withinMs ?? day),
    }),
    store.queueStats(),
    options.breakers?.() ?? Promise.resolve([]),
  ]);
  const disk = config.store.kind === "sqlite" ? diskFree(config.store.path) : undefined;
  const tls = config.listen.tls?.cert;
  const expires = tls ? certificateExpiry(tls) : undefined;
  return {
    now: t,
    facts,
    queue,
    breakers,
    endpoints: config.endpoints.map((e) => e.path),
    startedAt,
    ...(disk && config.store.kind === "sqlite"
      ? { disk: { freePercent: disk.freePercent, path: config.store.path } }
      : {}),
    ...(expires === undefined ? {} : { certificateExpiresAt: expires }),
    ...(drift === undefined ? {} : { stripe: drift }),
  };
}
/** Sends to every channel now, without the store: for the one incident the store cannot keep. */
async function tellDirectly(
  options: AlertLoopOptions,
  config: Config,
  condition: Condition,
  state: "open" | "resolved",
  startedAt: number,
): Promise<void> {
  const now = options.now ?? Date.now;
  const body = {
    id: `store@${options.instance}`,
    rule: condition.rule,
    state,
    summary: state === "open" ? condition.summary : `the store is available again on ${options.instance}`,
    details: condition.details,
    opened_at: new Date(startedAt).toISOString(),
    count: condition.count,
  };
  await Promise.all(
    (config.alerts?.channels ?? []).map(async (c) => {
      const result = await createChannel(c, options.runtime).send(body, `${body.id}:${state}:${now()}`);
      if (!result.ok) options.log.warn("alert not sent", { channel: c.name, rule: "store", error: result.error });
    }),
  );
}
function sum(counts: Record<string, number>, keys: readonly string[]): number {
  return keys.reduce((total, k) => total + (counts[k] ?? 0), 0);
}

/** How much a running total grew over the last `windowMs`. */
export class SlidingCount {
  private readonly windowMs: number;
  private samples: [number, number][] = [];
  constructor(windowMs: number) {
    this.windowMs = windowMs;
  }
  /** Records the total at `t`; returns its growth since the oldest sample within the window. */
  add(t: number, total: number): number {
    this.samples.push([t, total]);
    while (this.samples.length > 1 && (this.samples[1]?.[0] ?? t) <= t - this.windowMs) this.samples.shift();
    return total - (this.samples[0]?.[1] ?? total);
  }
}
