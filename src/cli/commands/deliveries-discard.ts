/**
 * @module `payhook deliveries discard --action NAME`: throws away the unfinished deliveries of an action that left
 * the config (removed or renamed), which otherwise wait in `status`, the page and the metrics for an action that
 * will never come back. Discarded deliveries never run again. An action still in the config is refused unless
 * --force, so a typo cannot throw away live work. Safe while serve runs, on every instance of a shared store.
 */
import { resolveConfig } from "../../config/resolve.ts";
import { UsageError } from "../../errors.ts";
import { VERSION } from "../../ops/build.ts";
import { discard, discardPreview, localUser } from "../../ops/control.ts";
import { openStore } from "../../store/open.ts";
import type { DiscardResult, DiscardSelection } from "../../store/types.ts";
import { askYes } from "../ask.ts";
import type { CommandContext } from "../types.ts";

export async function discardCommand(
  { runtime, io, values }: CommandContext,
  args: string[],
  statuses: DiscardSelection["statuses"],
): Promise<number> {
  const action = values.action as string | undefined;
  if (args.length > 0) throw new UsageError("deliveries discard takes --action NAME, not event ids");
  if (action === undefined) throw new UsageError("deliveries discard needs --action NAME");
  const config = resolveConfig(values.config as string | undefined, io.env);
  if (config.actions.has(action) && !values.force) {
    throw new UsageError(
      `${config.source} still has the action "${action}", so its deliveries are live work; nothing discarded. Remove or rename the action first (pass --force to discard them anyway)`,
    );
  }
  const selection: DiscardSelection = { action, statuses };
  const { store, close } = await openStore(runtime, config.store, { mustExist: true, version: VERSION });
  try {
    const preview = await discardPreview(store, selection);
    const what = `${count(preview.discarded)} of ${action} (${statuses.join(",")})`;
    if (values["dry-run"] || preview.discarded === 0) {
      if (values.json) io.out(JSON.stringify({ ...preview, dry_run: values["dry-run"] === true }));
      else for (const line of describeDiscard(preview, action, true)) io.out(line);
      return 0;
    }
    if (!(await askYes(io, values.yes === true, `Discard ${what}? They never run again.`, "nothing discarded"))) {
      return 1;
    }
    const result = await discard(store, selection, localUser());
    if (values.json) io.out(JSON.stringify(result));
    else for (const line of describeDiscard(result, action, false)) io.out(line);
    return 0;
  } finally {
    await close();
  }
}

const count = (n: number) => `${n} ${n === 1 ? "delivery" : "deliveries"}`;

/** What a discard did (or, as a dry run, would do), for people (the page says the same). */
export function describeDiscard(result: DiscardResult, action: string, dryRun: boolean): string[] {
  const { discarded, left } = result;
  const lines = [
    discarded === 0
      ? `no deliveries of ${action} to discard`
      : dryRun
        ? `would discard ${count(discarded)} of ${action}`
        : `discarded ${count(discarded)} of ${action}: they never run again`,
  ];
  if (left.running > 0) lines.push(`${left.running} left: running now (discard again once they end)`);
  if (left.unchosen > 0) lines.push(`${left.unchosen} left: not in --status`);
  if (dryRun && discarded > 0) lines.push("(dry run: nothing changed)");
  return lines;
}
