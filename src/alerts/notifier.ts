/**
 * @module Sends queued notifications: claims the due ones from the store (leased, so an instance that dies
 * mid-send leaves them to another), sends each through its channel, and records the result. A failure is retried
 * with backoff (1 s, 2 s, 4 s … up to 10 minutes, with jitter) until the channel answers or three days pass: an
 * alert to a channel that is down arrives once it is back, and a restart loses none.
 */

import type { AlertSettings } from "../config/alerts.ts";
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Notification, Store } from "../store/types.ts";
import { type Channel, createChannel } from "./channels.ts";

const BATCH = 16;
/** Longer than a send can take (10 s for HTTP, the exec timeout): a claim outlives its attempt. */
const LEASE_MS = 5 * 60_000;
const MAX_BACKOFF_MS = 10 * 60_000;
const MAX_POLL_MS = 5_000;

export interface NotifierOptions {
  store: Store;
  runtime: Runtime;
  log: Logger;
  settings: () => AlertSettings | undefined;
  /** After each attempt: for metrics. */
  onResult?(channel: string, ok: boolean): void;
  now?: () => number;
}

export interface Notifier {
  /** Looks for due notifications now (the evaluation just queued some). */
  wake(): void;
  stop(): Promise<void>;
}

export function startNotifier(options: NotifierOptions): Notifier {
  const { store, log } = options;
  const now = options.now ?? Date.now;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let channels = new Map<string, Channel>();
  let built: AlertSettings | undefined;

  const channelFor = (name: string): Channel | undefined => {
    const settings = options.settings();
    if (settings !== built) {
      built = settings;
      channels = new Map((settings?.channels ?? []).map((c) => [c.name, createChannel(c, options.runtime)]));
    }
    return channels.get(name);
  };

  async function send(n: Notification): Promise<void> {
    const channel = channelFor(n.channel);
    const result = channel
      ? await channel.send(n.body, `${n.body.id}:${n.body.state}:${n.id}`)
      : { ok: false as const, error: "the channel is no longer in the config" };
    options.onResult?.(n.channel, result.ok);
    const t = now();
    if (result.ok) {
      await store.finishNotification({ id: n.id, attempt: n.attempt, status: "sent" }, t);
      log.info("alert sent", { channel: n.channel, incident: n.body.id, rule: n.body.rule, state: n.body.state });
      return;
    }
    const dropped = !channel;
    await store.finishNotification(
      dropped
        ? { id: n.id, attempt: n.attempt, status: "dropped", error: result.error }
        : { id: n.id, attempt: n.attempt, status: "retry", nextAt: t + backoff(n.attempt), error: result.error },
      t,
    );
    log.warn(dropped ? "alert dropped" : "alert not sent; it will be retried", {
      channel: n.channel,
      incident: n.body.id,
      attempt: n.attempt,
      error: result.error,
    });
  }

  async function round(): Promise<void> {
    if (!options.settings()) return;
    do {
      again = false;
      try {
        const due = await store.claimNotifications(now(), BATCH, LEASE_MS);
        // One channel's notifications in order; channels in parallel, so one slow channel delays no other.
        const byChannel = new Map<string, Notification[]>();
        for (const n of due) byChannel.set(n.channel, [...(byChannel.get(n.channel) ?? []), n]);
        await Promise.all(
          [...byChannel.values()].map(async (list) => {
            for (const n of list) await send(n);
          }),
        );
        if (due.length === BATCH) again = true;
      } catch (error) {
        log.warn("alerts: could not send notifications", { error: describe(error) });
      }
    } while (again && !stopped);
  }

  function schedule(delay: number): void {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (running) {
        again = true;
        return;
      }
      running = round().finally(() => {
        running = undefined;
        schedule(Math.min(options.settings()?.intervalMs ?? MAX_POLL_MS, MAX_POLL_MS));
      });
    }, delay);
  }

  schedule(0);
  return {
    wake: () => schedule(0),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/** 1 s after the first failure, doubling up to 10 minutes, each between 80 % and 100 % of it. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const full = Math.min(1_000 * 2 ** Math.max(0, attempt - 1), MAX_BACKOFF_MS);
  return Math.round(full * (0.8 + 0.2 * random()));
}
