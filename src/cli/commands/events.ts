/**
 * @module `payhook events list|show|replay`: inspects the store and re-queues deliveries, safely while `serve` runs
 * on the same file (WAL readers never block the server; writes wait their turn through busy_timeout).
 */

import { orderKey } from "../../actions/order.ts";
import type { Action } from "../../actions/types.ts";
import { resolveConfig } from "../../config/resolve.ts";
import { patternProblem } from "../../config/routes.ts";
import type { Config } from "../../config/types.ts";
import { UsageError } from "../../errors.ts";
import { VERSION } from "../../ops/build.ts";
import { localUser } from "../../ops/control.ts";
import { openStore } from "../../store/open.ts";
import { resolveStore, type StoreSettings } from "../../store/settings.ts";
import {
  DELIVERY_STATUSES,
  type DeliveryStatus,
  type EventDetail,
  type EventQuery,
  type EventView,
  type Requeue,
} from "../../store/types.ts";
import { parseDuration } from "../../utils/units.ts";
import { configOption } from "../options.ts";
import { eventJson, formatEvent, formatTable } from "../print/events.ts";
import type { Command, CommandContext } from "../types.ts";

const DEFAULT_LIMIT = 50;
const REPLAYABLE: readonly DeliveryStatus[] = ["done", "failed", "dead"];

export const events: Command = {
  name: "events",
  summary: "list, show and replay stored events and their deliveries (safe while serve runs)",
  usage: [
    "payhook events list [--status STATUS] [--type TYPE] [--since DURATION] [--source SOURCE] [--account acct_…] [--search ID] [--limit N] [--json]",
    "       payhook events show EVENT_ID [--json]",
    "       payhook events replay EVENT_ID [--status STATUS]",
    "       payhook events replay --status STATUS [--type TYPE] [--since DURATION]",
  ].join("\n"),
  options: {
    ...configOption,
    store: {
      type: "string",
      arg: "STORE",
      help: "read this store (a SQLite file or a postgres:// URL) instead of the config's (list and show)",
    },
    status: { type: "string", arg: "STATUS", help: `only deliveries in this status: ${DELIVERY_STATUSES.join(", ")}` },
    type: { type: "string", arg: "TYPE", help: 'only this event type, a prefix such as "invoice.*", or "*"' },
    since: { type: "string", arg: "DURATION", help: "only events received within this long, such as 24h or 7d" },
    source: {
      type: "string",
      arg: "SOURCE",
      help: "only events Stripe pushed (pushed) or payhook catch-up fetched from Stripe's API (fetched)",
    },
    account: { type: "string", arg: "ACCT", help: "only the events of this connected account (Connect)" },
    search: {
      type: "string",
      arg: "ID",
      help: "only the event with this id, or the events about this object or customer id (as the page searches)",
    },
    limit: { type: "string", arg: "N", help: `list at most N events, newest first (default ${DEFAULT_LIMIT})` },
    json: { type: "boolean", help: "print JSON, one object per line" },
  },
  async run(context) {
    const [sub, ...rest] = context.positionals;
    if (sub === "list") return list(context, rest);
    if (sub === "show") return show(context, rest);
    if (sub === "replay") return replay(context, rest);
    throw new UsageError(
      sub === undefined ? "events needs a subcommand: list, show or replay" : `unknown events subcommand "${sub}"`,
    );
  },
};

async function list({ runtime, io, values }: CommandContext, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError(`events list takes no arguments (got "${args[0]}")`);
  const query = filters(values);
  if (values.search !== undefined) query.search = String(values.search).trim();
  const limit = values.limit === undefined ? DEFAULT_LIMIT : positiveInteger(values.limit as string);
  const { store, close } = await openStore(runtime, storeSettings(values, io.env), {
    mustExist: true,
    readOnly: true,
    version: VERSION,
  });
  try {
    const found = await store.listEvents({ ...query, limit });
    if (values.json) for (const e of found) io.out(JSON.stringify(eventJson(e)));
    else if (found.length === 0) io.out("No events match.");
    else for (const line of formatTable(found)) io.out(line);
    if (found.length === limit) io.err(`(the newest ${limit} shown; --limit N shows more)`);
    return 0;
  } finally {
    await close();
  }
}

async function show({ runtime, io, values }: CommandContext, args: string[]): Promise<number> {
  const [id, ...extra] = args;
  if (id === undefined) throw new UsageError("events show needs an EVENT_ID, such as evt_1NG8Du2eZvKYlo2CUI79vXWy");
  if (extra.length > 0) throw new UsageError("events show takes one EVENT_ID");
  for (const flag of ["status", "type", "since", "source", "account", "search", "limit"]) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} does not apply to events show`);
  }
  const { store, close } = await openStore(runtime, storeSettings(values, io.env), {
    mustExist: true,
    readOnly: true,
    version: VERSION,
  });
  try {
    const event = await store.getEvent(id);
    if (!event) {
      io.err(`payhook: no event ${id} in the store (it may have been pruned by retention)`);
      return 1;
    }
    if (values.json) io.out(JSON.stringify(eventJson(event)));
    else for (const line of formatEvent(event)) io.out(line);
    return 0;
  } finally {
    await close();
  }
}

async function replay({ runtime, io, values }: CommandContext, args: string[]): Promise<number> {
  const [id, ...extra] = args;
  if (extra.length > 0) throw new UsageError("events replay takes at most one EVENT_ID");
  if (values.limit !== undefined) throw new UsageError("--limit does not apply to events replay");
  if (values.search !== undefined) throw new UsageError("--search goes with events list; replay takes the EVENT_ID");
  if (values.store !== undefined) {
    throw new UsageError("events replay resolves actions from the config, so it takes --config, not --store");
  }
  const query = filters(values);
  if (query.status !== undefined && !REPLAYABLE.includes(query.status)) {
    throw new UsageError(
      `only ${REPLAYABLE.join(", ")} deliveries can be replayed; pending and running ones are queued`,
    );
  }
  if (id === undefined && query.status === undefined) {
    throw new UsageError("events replay needs an EVENT_ID, or --status (e.g. --status dead) to replay many");
  }
  if (id !== undefined && (query.type !== undefined || query.since !== undefined)) {
    throw new UsageError("--type and --since select events; with an EVENT_ID, leave them out");
  }
  const config = resolveConfig(values.config as string | undefined, io.env);
  const { store, close } = await openStore(runtime, config.store, { mustExist: true, version: VERSION });
  try {
    const chosen = id === undefined ? await store.listEvents(query) : [await store.getEvent(id)];
    if (id !== undefined && chosen[0] === null) {
      io.err(`payhook: no event ${id} in the store (it may have been pruned by retention)`);
      return 1;
    }
    const items: Requeue[] = [];
    const skipped: { event_id: string; action: string; reason: string }[] = [];
    const stale: { event_id: string; action: string; order_key: string; newer: string }[] = [];
    for (const listed of chosen) {
      if (!listed) continue;
      const current = config.router(listed.type);
      // An ordered action's key comes from the body, which a listed event does not carry.
      const event: EventView | EventDetail | null =
        current.some((a) => a.order) && !("body" in listed) ? await store.getEvent(listed.id) : listed;
      if (!event) continue;
      const payload = "body" in event ? parseBody(event.body as Uint8Array) : undefined;
      const wanted =
        id !== undefined && query.status === undefined
          ? // One event by id: every action the current config runs for it, and its old deliveries' fate.
            current.map((a) => a.name)
          : event.deliveries.filter((d) => d.status === query.status).map((d) => d.action);
      for (const name of wanted) {
        const action = current.find((a: Action) => a.name === name);
        if (action) {
          const orderKey = action.order ? renderKey(action, payload) : undefined;
          items.push({
            eventId: event.id,
            action: action.name,
            digest: action.digest,
            ...(orderKey ? { orderKey } : {}),
          });
          if (orderKey && action.order?.stale === "skip") {
            const newest = await store.newestDelivered(action.name, orderKey);
            if (newest && newest.created > event.created) {
              stale.push({ event_id: event.id, action: action.name, order_key: orderKey, newer: newest.eventId });
            }
          }
        } else skipped.push({ event_id: event.id, action: name, reason: notInConfig(config, name, event.type) });
      }
      if (id !== undefined && query.status === undefined) {
        for (const d of event.deliveries) {
          if (!current.some((a) => a.name === d.action)) {
            skipped.push({ event_id: event.id, action: d.action, reason: notInConfig(config, d.action, event.type) });
          }
        }
      }
    }
    const queued = items.length === 0 ? 0 : await store.requeue(items, Date.now(), query.status);
    await store.audit({
      at: Date.now(),
      who: localUser(),
      act: "replay",
      target: id ?? replayFilter(query),
      count: queued,
    });
    const events = new Set(items.map((i) => i.eventId)).size;
    if (values.json) {
      io.out(JSON.stringify({ requeued: queued, events, skipped, ...(stale.length > 0 ? { stale } : {}) }));
    } else {
      io.out(
        `re-queued ${queued} ${queued === 1 ? "delivery" : "deliveries"} of ${events} ${events === 1 ? "event" : "events"}${queued > 0 ? "; a running payhook starts them within a second" : ""}`,
      );
      const busy = items.length - queued;
      if (busy > 0) io.out(`${busy} left as they are: already pending or running`);
      for (const s of skipped) io.out(`skipped ${s.event_id} ${s.action}: ${s.reason}`);
      for (const s of stale) {
        io.out(
          `${s.event_id} ${s.action}: runs although ${s.newer}, created later, was already delivered for order key ${s.order_key} (stale: skip does not apply to a replay)`,
        );
      }
    }
    return 0;
  } finally {
    await close();
  }
}

/** A bulk replay's filter, for the audit trail. */
function replayFilter(query: EventQuery): string {
  return Object.entries(query)
    .map(([k, v]) => `${k}=${k === "since" ? new Date(v as number).toISOString() : String(v)}`)
    .join(" ");
}

function parseBody(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}

function renderKey(action: Action, payload: unknown): string | undefined {
  return orderKey(action.order, payload);
}

function filters(values: CommandContext["values"]): EventQuery {
  const out: EventQuery = {};
  if (values.account !== undefined) {
    if (!/^acct_[A-Za-z0-9]+$/.test(String(values.account))) {
      throw new UsageError(`--account "${values.account}" is not a connected account id like acct_1032D82eZvKYlo2C`);
    }
    out.account = String(values.account);
  }
  if (values.source !== undefined) {
    if (values.source !== "pushed" && values.source !== "fetched") {
      throw new UsageError(`--source must be pushed or fetched, got "${values.source}"`);
    }
    out.source = values.source;
  }
  if (values.status !== undefined) {
    const status = values.status as DeliveryStatus;
    if (!DELIVERY_STATUSES.includes(status)) {
      throw new UsageError(`--status must be one of ${DELIVERY_STATUSES.join(", ")}, got "${values.status}"`);
    }
    out.status = status;
  }
  if (values.type !== undefined) {
    const type = values.type as string;
    const problem = patternProblem(type);
    if (problem) throw new UsageError(`--type: ${problem}`);
    out.type = type;
  }
  if (values.since !== undefined) {
    let ms: number;
    try {
      ms = parseDuration(values.since as string);
    } catch {
      throw new UsageError(`--since expects a duration such as 30m, 24h or 7d, got "${values.since}"`);
    }
    out.since = Date.now() - ms;
  }
  return out;
}

function positiveInteger(text: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(text)) throw new UsageError(`--limit expects a whole number from 1, got "${text}"`);
  return Number(text);
}

function notInConfig(config: Config, action: string, type: string): string {
  return config.actions.has(action)
    ? `the current config no longer runs ${action} for ${type}`
    : `the current config has no action named ${action}`;
}

function storeSettings(values: CommandContext["values"], env: Record<string, string | undefined>): StoreSettings {
  if (values.store === undefined) return resolveConfig(values.config as string | undefined, env).store;
  const problems: [readonly (string | number)[], string][] = [];
  const settings = resolveStore(values.store as string, undefined, problems);
  if (problems[0]) throw new UsageError(`--store: ${problems[0][1]}`);
  return settings;
}
