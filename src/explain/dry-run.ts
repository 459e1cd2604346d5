/**
 * @module `serve --dry-run`: a Store that keeps nothing. The accept path runs unchanged (verify, route, "store",
 * answer 200); this store's ingest logs what `payhook explain` would print for the verified event instead of
 * writing it, so no file is opened and, with nothing queued, no action ever runs.
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/types.ts";
import { explainEvent } from "./plan.ts";

const utf8 = new TextDecoder();

/** A store for `config`'s handler map: a reload makes a new one, so each event is explained with the live config. */
export function createDryRunStore(config: Pick<Config, "routes" | "unhandled">, log: Logger): Store {
  return {
    async ingest(event) {
      // The body is verified, so it is JSON and an event; explain it exactly as `payhook explain` would.
      const data = JSON.parse(utf8.decode(event.body)) as Record<string, unknown>;
      const explained = explainEvent(config, { event, raw: event.body, data });
      const running = explained.actions.filter((a) => a.status === "run").length;
      log.info(`dry run: ${running} of ${explained.actions.length} actions would run; nothing stored or run`, {
        event_id: explained.id,
        type: explained.type,
        matched: explained.matched,
        unhandled: explained.unhandled,
        actions: explained.actions,
      });
      return { status: "stored", claims: [] };
    },
    claim: async () => [],
    // Nothing is ever claimed, so no claim is ever held.
    finish: async () => false,
    renew: async () => [],
    subscribe: () => () => {},
    nextDue: async () => null,
    recover: async () => 0,
    release: async () => 0,
    // Nothing is ever written, so the server is always ready to take events.
    checkWritable: async () => {},
    queueStats: async () => ({ byStatus: {}, oldestPendingAt: null }),
    backfill: async () => 0,
    secretUse: async () => [],
    listEvents: async () => [],
    getEvent: async () => null,
    requeue: async () => 0,
    newestDelivered: async () => null,
    failureGroups: async () => [],
    failedDeliveries: async () => [],
    activity: async () => [],
    prune: async () => 0,
    // The background catch-up, which leases use, only runs with a durable store.
    acquireLease: async () => false,
    releaseLease: async () => {},
    // A shadow copy runs nothing either way: only its arrival is worth saying.
    ingestCopy: async (event) => {
      log.info("dry run: a shadow copy; nothing stored", { event_id: event.id, type: event.type });
      return "stored";
    },
    copies: async () => [],
    upgrades: async () => [],
    saveUpgrade: async () => {},
    controls: async () => [],
    setPaused: async () => false,
    noteOutcome: async () => ({ change: null, failures: 0, open: false }),
    takeProbe: async () => false,
    refund: async () => {},
    retryNow: async () => ({ moved: 0, left: { running: 0, done: 0, ordered: 0, unchosen: 0 } }),
    discard: async () => ({ discarded: 0, left: { running: 0, unchosen: 0 } }),
    actionStats: async () => [],
    endpointCounts: async () => [],
    leaseHolders: async () => [],
    audit: async () => {},
    auditTrail: async () => [],
    // Alerts only run with a durable store.
    alertFacts: async () => ({ dead: [], streaks: [], events: [], fetched: 0 }),
    recordIncidents: async () => 0,
    incidents: async () => [],
    claimNotifications: async () => [],
    finishNotification: async () => false,
    close: async () => {},
  };
}
