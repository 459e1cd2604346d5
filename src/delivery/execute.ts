/**
 * @module One attempt of a claimed delivery: decide whether its action runs at all (a stale event, an action gone
 * from the config, an attempt past the cap), fetch what a thin event's action asks from Stripe, run the action,
 * and turn its outcome into the attempt to record. Nothing here touches the store.
 */
import { replayNote, staleNote } from "../actions/order.ts";
import { nextAttemptAt } from "../actions/retry.ts";
import { type Action, type ActionEvent, type FetchTarget, idempotencyKey, type Outcome } from "../actions/types.ts";
import { describe } from "../errors.ts";
import type { Fields, Logger } from "../log.ts";
import type { Runtime } from "../runtime/types.ts";
import type { AttemptRecord, ClaimedDelivery } from "../store/types.ts";
import { attemptWord, nextAt as nextAtField } from "../store/words.ts";
import type { Gate } from "./control.ts";

/** What the actions of one thin event see as `fetched`: each requested target, null when the event has none. */
export type Fetched = Partial<Record<FetchTarget, Record<string, unknown> | null>>;

/**
 * Fetches what a thin event's actions name from Stripe (stripe/thin.ts). It rejects with an error whose
 * `retryable` says whether trying again later can help; an error without one may be tried again.
 */
export interface ThinFetcher {
  /** Fetches `targets` for the thin event `event` (its parsed notification). */
  fetch(event: Record<string, unknown>, targets: readonly FetchTarget[]): Promise<Fetched>;
}

export interface ExecuteOptions {
  /** The action a delivery was created with (by name and digest), or undefined when the config no longer has it. */
  resolve(name: string, digest: string): Action | undefined;
  runtime: Runtime;
  log: Logger;
  /** Writes a line for the `log` action; see AttemptContext.print. */
  print(line: string): void | Promise<void>;
  /** Fetches thin events' data for actions with `fetch:`; absent when the config has no stripe.api_key. */
  thin?: ThinFetcher;
  now: () => number;
  /** Pauses, breakers and rates: counts each attempt for its action's breaker and rate (src/delivery/control.ts). */
  gate?: Gate;
  /** Called after each attempt with its outcome, for metrics; `skipped` when `stale: skip` marked it done unrun. */
  onAttempt?(attempt: { action: string; status: AttemptRecord["status"]; durationMs: number; skipped?: "stale" }): void;
}

/** An attempt to record, with the fields every log line about it carries. */
export interface Executed {
  record: AttemptRecord;
  fields: Fields;
}

/**
 * What happens to a claimed delivery before anything runs: its action runs (with a note to put before its output),
 * or the attempt ends unrun with this outcome (`skipped` when it is a stale event marked done).
 */
export type Decision = { run: Action; note?: string } | { outcome: Outcome; skipped?: "stale" };

const utf8 = new TextDecoder();

/** Returns the function that runs one attempt of a claimed delivery (or decides not to) and says how it went. */
export function executor(options: ExecuteOptions): (delivery: ClaimedDelivery) => Promise<Executed> {
  const { log, now } = options;
  return async (delivery) => {
    const fields = {
      event_id: delivery.eventId,
      type: delivery.eventType,
      action: delivery.action,
      attempt: delivery.attempt,
    };
    const startedAt = now();
    const action = options.resolve(delivery.action, delivery.digest);
    const decision = decide(delivery, action);
    let outcome: Outcome;
    let fetched: string | undefined;
    if ("run" in decision) {
      ({ outcome, fetched } = await attempt(decision.run, delivery, options));
      const { note } = decision;
      if (note) outcome = { ...outcome, output: outcome.output ? `${note}\n${outcome.output}` : note };
    } else outcome = decision.outcome;
    const settled = { ...settle(delivery, action, outcome, startedAt, now()), ...(fetched ? { fetched } : {}) };
    const record = options.gate ? await options.gate.settle(delivery, outcome, settled) : settled;
    const skipped = "skipped" in decision ? decision.skipped : undefined;
    options.onAttempt?.({
      action: delivery.action,
      status: record.status,
      durationMs: record.finishedAt - startedAt,
      ...(skipped ? { skipped } : {}),
    });
    if (skipped)
      log.info("stale event skipped: a newer one for its order key was delivered", {
        ...fields,
        newer: delivery.newer?.eventId,
      });
    // One line per finished attempt, in the words `payhook events` and the operator page use.
    else if (record.status === "done") log.info("action done", { ...fields, ms: record.finishedAt - startedAt });
    else log.warn(`action ${attemptWord(record.status)}`, { ...fields, error: record.error, ...nextAtField(record) });
    return { record, fields };
  };
}

/** Whether the delivery's action runs; see Decision. */
export function decide(delivery: ClaimedDelivery, action: Action | undefined): Decision {
  // The claim ran this key's older deliveries first; a newer event for the key that was already delivered makes
  // this one stale. Serialised per key, nothing can deliver for the key between that read and this decision.
  const stale = action?.order?.stale === "skip" ? delivery.newer : undefined;
  if (stale && !delivery.replayed) return { outcome: { ok: true, output: staleNote(stale.eventId) }, skipped: "stale" };
  if (!action) {
    return {
      outcome: { ok: false, retry: false, error: `the action "${delivery.action}" is no longer in the config` },
    };
  }
  if (delivery.attempt > action.retry.attempts) {
    // Claims count attempts, so past the cap every attempt was claimed and none recorded an end: payhook died
    // while running them (a poison event that crashes it each time). Running it again could crash it forever.
    return {
      outcome: {
        ok: false,
        retry: false,
        dead: true,
        error: `not run again: its ${action.retry.attempts} attempts never finished, because payhook stopped while running each of them (a crash, kill -9 or out-of-memory kill); fix the action, then replay the event`,
      },
    };
  }
  return stale ? { run: action, note: replayNote(stale.eventId) } : { run: action };
}

/** Runs the action once for the delivery; a failure of any step is this attempt's outcome. */
async function attempt(
  action: Action,
  delivery: ClaimedDelivery,
  options: ExecuteOptions,
): Promise<{ outcome: Outcome; fetched?: string }> {
  let event: ActionEvent;
  try {
    event = {
      id: delivery.eventId,
      type: delivery.eventType,
      raw: delivery.body,
      data: delivery.data ?? JSON.parse(utf8.decode(delivery.body)),
    };
  } catch (error) {
    return { outcome: { ok: false, retry: false, error: `the stored event cannot be read: ${describe(error)}` } };
  }
  const step = await fetchStep(action, event, options.thin);
  if ("outcome" in step) return step;
  const { fetched } = step;
  try {
    const outcome = await action.run({
      event: step.event,
      attempt: delivery.attempt,
      idempotencyKey: idempotencyKey(delivery.eventId, delivery.action),
      runtime: options.runtime,
      print: options.print,
    });
    return { outcome, ...(fetched ? { fetched } : {}) };
  } catch (error) {
    return {
      outcome: { ok: false, retry: true, error: `the action failed unexpectedly: ${describe(error)}` },
      ...(fetched ? { fetched } : {}),
    };
  }
}

/**
 * For a thin event and an action with `fetch:`, adds what it names, fetched from Stripe, to the event (`fetched`
 * is that as JSON, recorded with the attempt). A step of this delivery: a failure is this attempt's outcome,
 * retried on the action's schedule when Stripe may answer later.
 */
export async function fetchStep(
  action: Action,
  event: ActionEvent,
  thin: ThinFetcher | undefined,
): Promise<{ event: ActionEvent; fetched?: string } | { outcome: Outcome }> {
  if (!action.fetch || event.data.object !== "v2.core.event") return { event };
  if (!thin) {
    return {
      outcome: {
        ok: false,
        retry: false,
        error: "this action fetches from Stripe, but the config has no stripe.api_key",
      },
    };
  }
  try {
    const data = { ...event.data, fetched: await thin.fetch(event.data, action.fetch) };
    const fetched = JSON.stringify(data.fetched);
    return { event: { ...event, data, raw: new TextEncoder().encode(JSON.stringify(data)) }, fetched };
  } catch (error) {
    const retry = (error as { retryable?: unknown } | null)?.retryable !== false;
    return {
      outcome: {
        ok: false,
        retry,
        error: `fetching ${action.fetch.join(" and ")} from Stripe failed: ${describe(error)}`,
      },
    };
  }
}

/** The attempt to record for an outcome: done, dead, failed, or pending until the retry schedule's next time. */
export function settle(
  delivery: ClaimedDelivery,
  action: Action | undefined,
  outcome: Outcome,
  startedAt: number,
  finishedAt: number,
): AttemptRecord {
  const base = {
    deliveryId: delivery.id,
    attempt: delivery.attempt,
    startedAt,
    finishedAt,
    output: outcome.output,
    ...(delivery.token === undefined ? {} : { token: delivery.token }),
  };
  if (outcome.ok) return { ...base, status: "done" };
  if (outcome.dead) return { ...base, status: "dead", error: outcome.error };
  if (!outcome.retry || !action) return { ...base, status: "failed", error: outcome.error };
  const nextAt = nextAttemptAt(action.retry, delivery.attempt, finishedAt, outcome.notBefore);
  return nextAt === null
    ? { ...base, status: "dead", error: outcome.error }
    : { ...base, status: "pending", nextAt, error: outcome.error };
}
