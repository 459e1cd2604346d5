/**
 * @module `payhook explain --since DURATION --config CANDIDATE.yaml`: runs a candidate handler map over the
 * events stored in the store the candidate names (opened read-only: nothing is migrated or written) and prints
 * how it differs from the running config (`--against`, by default the config `payhook serve` would load).
 * No network, no side effects.
 */
import { LOCAL_CONFIG, resolveConfig } from "../../config/resolve.ts";
import { patternProblem } from "../../config/routes.ts";
import { UsageError } from "../../errors.ts";
import { compareConfigs, formatWhatIf } from "../../explain/whatif.ts";
import { openStoreReadOnly } from "../../store/readonly.ts";
import type { EventDetail } from "../../store/types.ts";
import { parseDuration } from "../../utils/units.ts";
import type { CommandContext } from "../types.ts";

export const whatIfOptions = {
  since: {
    type: "string",
    arg: "DURATION",
    help: "what-if: run --config (a candidate) over the events stored within this long, such as 7d",
  },
  against: {
    type: "string",
    arg: "FILE",
    help: `what-if: the running config to compare with (default ./${LOCAL_CONFIG}, else the embedded default)`,
  },
  type: { type: "string", arg: "PATTERN", help: 'what-if: only events of this type or prefix, such as "invoice.*"' },
} as const;

export async function whatIf({ runtime, io, values, positionals }: Omit<CommandContext, "log">): Promise<number> {
  if (positionals.length > 0 || values.trigger !== undefined) {
    throw new UsageError("explain: --since explains stored events; leave out the event file and --trigger");
  }
  if (values.config === undefined) {
    throw new UsageError("explain --since needs --config CANDIDATE.yaml, the handler map to try on stored events");
  }
  let window: number;
  try {
    window = parseDuration(values.since as string);
  } catch {
    throw new UsageError(`--since expects a duration such as 30m, 24h or 7d, got "${values.since}"`);
  }
  const type = values.type as string | undefined;
  const problem = type === undefined ? undefined : patternProblem(type);
  if (problem) throw new UsageError(`--type: ${problem}`);
  const candidate = resolveConfig(values.config as string, io.env);
  const running = resolveConfig(values.against as string | undefined, io.env);
  const reader = await openStoreReadOnly(runtime, candidate.store);
  let events: EventDetail[];
  try {
    const listed = await reader.listEvents({ since: Date.now() - window, ...(type === undefined ? {} : { type }) });
    events = [];
    // Oldest first, so examples read in the order things happened.
    for (const view of listed.reverse()) {
      const detail = await reader.getEvent(view.id);
      if (detail) events.push(detail);
    }
  } finally {
    await reader.close();
  }
  const result = compareConfigs(running, candidate, events);
  if (values.json) {
    io.out(
      JSON.stringify(
        { running: running.source, candidate: candidate.source, store: candidate.store.label, ...result },
        null,
        2,
      ),
    );
    return 0;
  }
  for (const line of formatWhatIf(result, running.source, candidate.source)) io.out(line);
  io.out(`Read from ${candidate.store.label}, read only; nothing was sent, run, written or stored.`);
  return 0;
}
