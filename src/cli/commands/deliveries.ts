/**
 * @module `payhook deliveries retry`: makes chosen deliveries due now (a downstream was fixed and the operator
 * will not wait for each delivery's own schedule). Safe while serve runs: a running payhook starts them within
 * a second, on every instance of a shared store. `deliveries discard` is in deliveries-discard.ts.
 */
import { resolveConfig } from "../../config/resolve.ts";
import { UsageError } from "../../errors.ts";
import { VERSION } from "../../ops/build.ts";
import { localUser, RETRY_STATUSES, type RetryStatus, retryNow } from "../../ops/control.ts";
import { openStore } from "../../store/open.ts";
import type { RetryResult } from "../../store/types.ts";
import { configOption } from "../options.ts";
import type { Command, CommandContext } from "../types.ts";
import { discardCommand } from "./deliveries-discard.ts";

const DEFAULT_STATUSES: readonly RetryStatus[] = ["pending", "failed"];

export const deliveries: Command = {
  name: "deliveries",
  summary: "retry deliveries now, or discard those of a removed action (safe while serve runs)",
  usage: [
    "payhook deliveries retry (EVENT_ID ... | --action NAME) [--status pending,failed,dead] [--json]",
    "       payhook deliveries discard --action NAME [--status pending,failed,dead] [--yes] [--dry-run] [--force] [--json]",
  ].join("\n"),
  options: {
    ...configOption,
    action: { type: "string", arg: "NAME", help: "every delivery of this action (with EVENT_IDs: of those events)" },
    status: {
      type: "string",
      arg: "LIST",
      help: `which deliveries, a comma-separated list of ${RETRY_STATUSES.join(", ")} (default: retry pending,failed; discard all three)`,
    },
    yes: { type: "boolean", help: "discard: go ahead without asking" },
    "dry-run": { type: "boolean", help: "discard: say what would be discarded, change nothing" },
    force: { type: "boolean", help: "discard: even deliveries of an action the config still has" },
    json: { type: "boolean", help: "print the result as one JSON object" },
  },
  async run(context) {
    const [sub, ...rest] = context.positionals;
    if (sub === "retry") return retry(context, rest);
    if (sub === "discard") {
      return discardCommand(context, rest, parseStatuses(context.values.status as string | undefined, RETRY_STATUSES));
    }
    throw new UsageError(
      sub === undefined ? "deliveries needs a subcommand: retry or discard" : `unknown deliveries subcommand "${sub}"`,
    );
  },
};

export function parseStatuses(text: string | undefined, defaults = DEFAULT_STATUSES): RetryStatus[] {
  if (text === undefined) return [...defaults];
  const list = text.split(",").map((s) => s.trim());
  for (const s of list) {
    if (!RETRY_STATUSES.includes(s as RetryStatus)) {
      throw new UsageError(
        `--status takes ${RETRY_STATUSES.join(", ")} (running and done deliveries are left as they are), got "${s}"`,
      );
    }
  }
  return list as RetryStatus[];
}

async function retry({ runtime, io, values }: CommandContext, ids: string[]): Promise<number> {
  const action = values.action as string | undefined;
  if (ids.length === 0 && action === undefined) {
    throw new UsageError("deliveries retry needs EVENT_IDs or --action NAME");
  }
  const statuses = parseStatuses(values.status as string | undefined);
  const config = resolveConfig(values.config as string | undefined, io.env);
  if (action !== undefined && !config.actions.has(action)) {
    io.err(`payhook: note: ${config.source} has no action "${action}"; retrying its stored deliveries anyway`);
  }
  const { store, close } = await openStore(runtime, config.store, { mustExist: true, version: VERSION });
  try {
    const target = [...ids, ...(action === undefined ? [] : [`action ${action}`])].join(" ");
    const result = await retryNow(
      store,
      { ...(ids.length > 0 ? { eventIds: ids } : {}), ...(action === undefined ? {} : { action }), statuses },
      localUser(),
      `${target} (${statuses.join(",")})`,
    );
    if (values.json) io.out(JSON.stringify(result));
    else for (const line of describeRetry(result)) io.out(line);
    return 0;
  } finally {
    await close();
  }
}

/** What a retry did, for people (the page says the same). */
export function describeRetry(result: RetryResult): string[] {
  const { moved, left } = result;
  const lines = [
    `${moved} ${moved === 1 ? "delivery" : "deliveries"} due now${moved > 0 ? "; a running payhook starts them within a second" : ""}`,
  ];
  if (left.running > 0) lines.push(`${left.running} left: running now`);
  if (left.done > 0) lines.push(`${left.done} left: done already (replay them with payhook events replay)`);
  if (left.ordered > 0) lines.push(`${left.ordered} left: waiting for an earlier delivery of their order key`);
  if (left.unchosen > 0) lines.push(`${left.unchosen} left: not in --status (add failed or dead to retry them)`);
  return lines;
}
