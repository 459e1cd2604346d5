/**
 * @module `payhook backfill`: runs one action (usually one just added to the handler map) for the stored events
 * it matches and never ran for, oldest first, keeping `order:`. It only creates deliveries: a running payhook (any
 * instance on a shared store) runs them, paced so live events go first. Running it twice queues nothing the
 * second time. `--dry-run` prints what it would queue and writes nothing.
 */
import { resolveConfig } from "../../config/resolve.ts";
import { patternProblem } from "../../config/routes.ts";
import { UsageError } from "../../errors.ts";
import { planBackfill } from "../../ops/backfill.ts";
import { VERSION } from "../../ops/build.ts";
import { openStore } from "../../store/open.ts";
import { parseDuration } from "../../utils/units.ts";
import { configOption } from "../options.ts";
import type { Command } from "../types.ts";

const DEFAULT_RATE = 20;
/** Event ids printed at most, first and last of the round. */
const SHOWN = 10;

export const backfill: Command = {
  name: "backfill",
  summary: "run one action for stored events it never ran for, oldest first (a running payhook does the work)",
  usage:
    "payhook backfill --action NAME --since DURATION [--until DURATION] [--type PATTERN] [--rate N] [--dry-run] [--json]",
  options: {
    ...configOption,
    action: { type: "string", arg: "NAME", help: "the action to run, by its name in the config" },
    since: { type: "string", arg: "DURATION", help: "events received within this long, such as 7d" },
    until: { type: "string", arg: "DURATION", help: "only events received more than this long ago, such as 1h" },
    type: { type: "string", arg: "PATTERN", help: 'only this event type or prefix, such as "invoice.*"' },
    rate: {
      type: "string",
      arg: "N",
      help: `deliveries made due per second, so live events go first (default ${DEFAULT_RATE})`,
    },
    "dry-run": { type: "boolean", help: "print what would be queued; write nothing" },
    json: { type: "boolean", help: "print one JSON object" },
  },
  async run({ runtime, io, values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`backfill takes no arguments (got "${positionals[0]}")`);
    if (typeof values.action !== "string") {
      throw new UsageError("backfill needs --action NAME, the action to run (its name in the config)");
    }
    if (typeof values.since !== "string") throw new UsageError("backfill needs --since DURATION, such as 7d");
    const config = resolveConfig(values.config as string | undefined, io.env);
    const action = config.actions.get(values.action);
    if (!action) {
      throw new UsageError(
        `${config.source} has no action named ${values.action}; its actions: ${[...config.actions.keys()].join(", ") || "none"}`,
      );
    }
    const now = Date.now();
    const type = values.type as string | undefined;
    const problem = type === undefined ? undefined : patternProblem(type);
    if (problem) throw new UsageError(`--type: ${problem}`);
    const { store, close } = await openStore(runtime, config.store, { mustExist: true, version: VERSION });
    try {
      const plan = await planBackfill(config, store, {
        action,
        since: now - duration("since", values.since),
        ...(values.until === undefined ? {} : { until: now - duration("until", values.until as string) }),
        ...(type === undefined ? {} : { type }),
        rate: rate(values.rate as string | undefined),
        now,
      });
      const dry = values["dry-run"] === true;
      const queued = dry ? 0 : await store.backfill(plan.items, now);
      const ids = plan.items.map((i) => i.eventId);
      if (values.json) {
        const count = dry ? { would_queue: ids.length } : { queued };
        io.out(JSON.stringify({ action: action.name, ...count, already: plan.already, event_ids: ids }));
        return 0;
      }
      const n = dry ? ids.length : queued;
      const what = `${n} ${n === 1 ? "delivery" : "deliveries"} of ${action.name}`;
      io.out(dry ? `would queue ${what}, oldest event first (nothing written)` : `queued ${what}, oldest event first`);
      if (plan.already > 0) io.out(`${plan.already} matching events already have one (it ran, runs or is queued)`);
      if (ids.length > SHOWN)
        io.out(`events: ${ids.slice(0, SHOWN / 2).join(", ")} … ${ids.slice(-SHOWN / 2).join(", ")}`);
      else if (ids.length > 0) io.out(`events: ${ids.join(", ")}`);
      const last = plan.items.at(-1);
      if (!dry && queued > 0 && last) {
        io.out(
          `a running payhook runs them over about ${Math.ceil((last.dueAt - now) / 1000) + 1} s, live events first; \`payhook events show ID\` marks each as backfilled`,
        );
      }
      return 0;
    } finally {
      await close();
    }
  },
};

function duration(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new UsageError(`--${flag} expects a duration such as 30m, 24h or 7d, got "${text}"`);
  }
}

function rate(text: string | undefined): number {
  if (text === undefined) return DEFAULT_RATE;
  if (!/^[1-9][0-9]{0,4}$/.test(text)) throw new UsageError(`--rate expects a whole number from 1, got "${text}"`);
  return Number(text);
}
