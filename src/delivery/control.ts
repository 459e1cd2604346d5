/**
 * @module What the worker holds back before it claims: paused actions, actions whose breaker is open (but for one
 * probe per interval), and actions at their `rate:` or slowed by their target (Retry-After, or a 429 or 503). Pauses and breakers live in the
 * store, so every instance sharing it agrees; this instance reads them before claiming, at most every REFRESH_MS.
 * Held deliveries are simply not claimed: no attempt is used and none goes dead. While a breaker is open, a
 * retryable failure gives its attempt back, so the outage itself never sends a delivery dead.
 */
import type { Action, Outcome } from "../actions/types.ts";
import type { Logger } from "../log.ts";
import type { ActionControl, AttemptRecord, ClaimedDelivery } from "../store/types.ts";
import { type BreakerDeps, countOutcome, holdForBreaker } from "./breaker.ts";
import { RateLimiter } from "./rate.ts";

/** How stale this instance's view of pauses and breakers may be: a pause holds everywhere within it. */
export const REFRESH_MS = 500;

export interface GateOptions extends BreakerDeps {
  /** The current config's action of this name (its rate and breaker), or undefined. */
  action(name: string): Action | undefined;
  now?: () => number;
}

export interface Gate {
  /** The actions not to claim now; reads the store's pauses and breakers and takes probe turns when due. */
  held(): Promise<string[]>;
  /** The last answer of held(), for the worker's "when is the next delivery due". */
  skipped(): readonly string[];
  /** Takes a rate slot (or an open breaker's probe) for an attempt of `name` about to start; false: not now. */
  admit(name: string): boolean;
  /**
   * True when a delivery of `name` must not be stored already claimed at ingest: before the store was first read,
   * and for an action with a rate, whose attempts are counted when a claim starts them (an ingest's commit would
   * put time between the count and the request).
   */
  deferred(name: string): boolean;
  /** Counts an attempt for the breaker and the rate; returns the record to store (held rather than used up). */
  settle(delivery: ClaimedDelivery, outcome: Outcome, record: AttemptRecord): Promise<AttemptRecord>;
  /** The earliest time a held action may be claimed again (rate window, Retry-After, probe), or null. */
  wakeAt(): number | null;
  /** The store's view as last read: paused actions and open breakers. */
  controls(): readonly ActionControl[];
  /** Stops reading the store (before it closes). */
  stop(): void;
}

export function createGate(options: GateOptions): Gate {
  const { store, log } = options;
  const now = options.now ?? Date.now;
  const rates = new RateLimiter();
  let controls = new Map<string, ActionControl>();
  let readAt = Number.NEGATIVE_INFINITY;
  let last: string[] = [];
  /** Probe turns this instance took and has not used yet. */
  const probes = new Set<string>();

  /** An open breaker that the action's current config still has (a breaker taken out of the config holds nothing). */
  const openBreaker = (name: string) => (options.action(name)?.breaker ? controls.get(name)?.breaker : undefined);

  async function refresh(force = false): Promise<void> {
    if (!force && now() - readAt < REFRESH_MS) return;
    const rows = await store.controls();
    const before = controls;
    controls = new Map(rows.map((c) => [c.action, c]));
    sayChanges(log, before, controls, (name) => options.action(name)?.breaker !== undefined);
    readAt = now();
    for (const name of probes) if (!openBreaker(name)) probes.delete(name);
  }

  async function held(): Promise<string[]> {
    await refresh();
    const out = new Set<string>();
    const t = now();
    for (const [name, c] of controls) {
      if (c.paused) out.add(name);
      const breaker = openBreaker(name);
      const settings = options.action(name)?.breaker;
      if (c.paused || !breaker || !settings || probes.has(name)) continue;
      if (breaker.probeAt <= t && (await store.takeProbe(name, t, settings.probeMs))) {
        probes.add(name);
        breaker.probeAt = t + settings.probeMs;
        log.info("breaker open: trying one delivery as a probe", { action: name });
      } else out.add(name);
    }
    for (const name of rates.full(t)) out.add(name);
    last = [...out];
    return last;
  }

  function deferred(name: string): boolean {
    return readAt === Number.NEGATIVE_INFINITY || options.action(name)?.rate !== undefined;
  }

  function admit(name: string): boolean {
    const c = controls.get(name);
    if (c?.paused) return false;
    if (openBreaker(name) && !probes.delete(name)) return false;
    const rate = options.action(name)?.rate;
    return rates.take(name, rate, now());
  }

  async function settle(delivery: ClaimedDelivery, outcome: Outcome, record: AttemptRecord): Promise<AttemptRecord> {
    const name = delivery.action;
    slowAsAsked(rates, log, name, outcome, now());
    const breaker = options.action(name)?.breaker;
    const known = controls.get(name);
    const counts = !outcome.ok && outcome.retry && !outcome.dead;
    if (!breaker || (outcome.ok && !known?.failures && !known?.breaker) || (!outcome.ok && !counts)) return record;
    const open = await countOutcome(options, controls, name, outcome.ok, breaker, now());
    return open && !outcome.ok ? holdForBreaker(options, delivery, record) : record;
  }

  function wakeAt(): number | null {
    const times = [...rates.nextFree()];
    for (const name of last) {
      const b = openBreaker(name);
      if (b && !controls.get(name)?.paused) times.push(b.probeAt);
    }
    return times.length === 0 ? null : Math.min(...times);
  }

  // Read in the background too: the accept path admits deliveries it stores already claimed from this view, so
  // it must not grow staler than REFRESH_MS while the worker is idle. Store errors surface through the claim.
  const timer = setInterval(() => void refresh(true).catch(() => {}), REFRESH_MS);
  return {
    held,
    skipped: () => last,
    admit,
    deferred,
    settle,
    wakeAt,
    controls: () => [...controls.values()],
    stop: () => clearInterval(timer),
  };
}

/** Slows the action as its target's answer asks (rate.ts), and says so when a hold without Retry-After starts. */
function slowAsAsked(rates: RateLimiter, log: Logger, name: string, outcome: Outcome, now: number): void {
  const ms = rates.answered(name, outcome, now);
  if (ms === undefined) return;
  log.warn("target overloaded (429 or 503 without Retry-After): holding the action", {
    action: name,
    hold_ms: ms,
    until: new Date(now + ms).toISOString(),
  });
}

/**
 * Says in the log what this instance's view of pauses and breakers gained or lost since its last read: an act of
 * the command line, the page or another instance (and, at start, what the store already holds). A breaker this
 * instance opened or closed itself is already in `before` (countOutcome), so it is said once.
 */
function sayChanges(
  log: Logger,
  before: ReadonlyMap<string, ActionControl>,
  after: ReadonlyMap<string, ActionControl>,
  hasBreaker: (name: string) => boolean,
): void {
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const was = before.get(name);
    const is = after.get(name);
    if (is?.paused && !was?.paused) {
      const { at, by, reason } = is.paused;
      log.info("action paused", { action: name, by, reason, since: new Date(at).toISOString() });
    } else if (was?.paused && !is?.paused) log.info("action resumed", { action: name });
    if (!hasBreaker(name)) continue;
    if (is?.breaker && !was?.breaker) {
      log.warn("breaker opened: the action is not attempted until a probe succeeds or it is resumed", {
        action: name,
        failures: is.failures,
        since: new Date(is.breaker.openedAt).toISOString(),
      });
    } else if (was?.breaker && !is?.breaker) {
      log.info("breaker closed: a probe succeeded or the action was resumed; held deliveries start now", {
        action: name,
      });
    }
  }
}
