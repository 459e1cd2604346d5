/**
 * @module `payhook actions pause|resume|list`: holds an action's deliveries during a known outage and lets them
 * go again. The state is in the store, so it holds across restarts, reloads and every instance sharing it.
 */

import { resolveConfig } from "../../config/resolve.ts";
import type { Config } from "../../config/types.ts";
import { UsageError } from "../../errors.ts";
import { VERSION } from "../../ops/build.ts";
import { type ActionState, actionStates, localUser, pause, resume } from "../../ops/control.ts";
import { openStore } from "../../store/open.ts";
import { configOption } from "../options.ts";
import { age, table } from "../print/table.ts";
import type { Command, CommandContext } from "../types.ts";

export const actions: Command = {
  name: "actions",
  summary: "pause, resume and list actions with their queues (safe while serve runs)",
  usage: [
    "payhook actions list [--json]",
    "       payhook actions pause NAME [--reason TEXT]",
    "       payhook actions resume NAME",
  ].join("\n"),
  options: {
    ...configOption,
    reason: { type: "string", arg: "TEXT", help: "why it is paused, shown with it (pause)" },
    json: { type: "boolean", help: "print JSON, one object per action (list)" },
  },
  async run(context) {
    const [sub, ...rest] = context.positionals;
    if (sub === "list") return list(context, rest);
    if (sub === "pause" || sub === "resume") return toggle(context, sub, rest);
    throw new UsageError(
      sub === undefined ? "actions needs a subcommand: list, pause or resume" : `unknown actions subcommand "${sub}"`,
    );
  },
};

async function withStore<T>(
  { runtime, io, values }: CommandContext,
  use: (store: Awaited<ReturnType<typeof openStore>>["store"], config: Config) => Promise<T>,
): Promise<T> {
  const config = resolveConfig(values.config as string | undefined, io.env);
  const { store, close } = await openStore(runtime, config.store, { mustExist: true, version: VERSION });
  try {
    return await use(store, config);
  } finally {
    await close();
  }
}

async function toggle(context: CommandContext, sub: "pause" | "resume", args: string[]): Promise<number> {
  const [name, ...extra] = args;
  if (name === undefined || extra.length > 0) throw new UsageError(`actions ${sub} takes one action NAME`);
  const reason = context.values.reason as string | undefined;
  if (sub === "resume" && reason !== undefined) throw new UsageError("--reason goes with actions pause");
  return withStore(context, async (store, config) => {
    if (!config.actions.has(name)) {
      const known = [...config.actions.keys()].join(", ");
      throw new UsageError(`${config.source} has no action "${name}"${known ? `; its actions: ${known}` : ""}`);
    }
    const who = localUser();
    if (sub === "pause") {
      const changed = await pause(store, name, who, reason);
      context.io.out(
        changed
          ? `paused ${name}: its deliveries wait, using no attempts, until payhook actions resume ${name}`
          : `${name} was already paused`,
      );
    } else {
      const changed = await resume(store, name, who);
      context.io.out(
        changed ? `resumed ${name}: its waiting deliveries start within a second` : `${name} was not paused`,
      );
    }
    return 0;
  });
}

async function list(context: CommandContext, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError("actions list takes no arguments");
  return withStore(context, async (store, config) => {
    const states = await actionStates(store, config.actions);
    if (context.values.json) for (const s of states) context.io.out(JSON.stringify(stateJson(s)));
    else for (const line of actionTable(states, Date.now())) context.io.out(line);
    return 0;
  });
}

export function stateJson(s: ActionState): Record<string, unknown> {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    action: s.action,
    state: s.state,
    pending: s.pending,
    running: s.running,
    failed: s.failed,
    dead: s.dead,
    oldest_pending_at: iso(s.oldestPendingAt),
    paused: s.paused ? { at: iso(s.paused.at), by: s.paused.by, reason: s.paused.reason } : null,
    breaker: s.breaker
      ? { opened_at: iso(s.breaker.openedAt), next_probe_at: iso(s.breaker.probeAt), failures: s.failures }
      : null,
    rate: s.rate,
  };
}

export function actionTable(states: readonly ActionState[], now: number): string[] {
  return table(
    ["ACTION", "STATE", "PENDING", "RUNNING", "FAILED", "DEAD", "OLDEST", "RATE", "NOTE"],
    states.map((s) => [
      s.action,
      s.state,
      String(s.pending),
      String(s.running),
      String(s.failed),
      String(s.dead),
      s.oldestPendingAt === null ? "-" : age(now - s.oldestPendingAt),
      s.rate ?? "-",
      s.state === "removed"
        ? `not in the config: payhook deliveries discard --action ${s.action}`
        : s.paused
          ? `by ${s.paused.by}${s.paused.reason ? `: ${s.paused.reason}` : ""}`
          : s.breaker
            ? `after ${s.failures} failures; next probe in ${age(s.breaker.probeAt - now)}`
            : "",
    ]),
  );
}
