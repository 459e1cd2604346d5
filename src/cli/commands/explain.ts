/**
 * @module `payhook explain`: for an event (a JSON file, stdin, or the events `payhook trigger NAME` would send),
 * which handler patterns match and what each action would do, with its rendered values, and which actions a
 * running payhook holds (paused, breaker open) when the config's store can be read; nothing is sent, run, written
 * or stored. `--json` gives the same for tests. Exit 2 when the event or the config is bad.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolveConfig } from "../../config/resolve.ts";
import type { Config } from "../../config/types.ts";
import { describe, EventInputError, UsageError } from "../../errors.ts";
import { type EventExplanation, explainEvent, formatExplanation, readEvent } from "../../explain/plan.ts";
import { buildEvents } from "../../fixtures/index.ts";
import type { Runtime } from "../../runtime/types.ts";
import { openStoreReadOnly } from "../../store/readonly.ts";
import type { ActionControl } from "../../store/types.ts";
import { buildOptions, configOption, fixtureOptions, readStdin } from "../options.ts";
import type { Command } from "../types.ts";
import { whatIf, whatIfOptions } from "./explain-whatif.ts";

const encoder = new TextEncoder();

export const explain: Command = {
  name: "explain",
  summary: "show which actions an event would run or skip, with their rendered values; does nothing",
  usage: [
    "payhook explain [--config FILE] [--json] (EVENT.json | - | --trigger NAME [--override [TYPE:]path=value …] [--data FILE] [--account acct_…] [--thin] [--api-version VERSION])",
    "       payhook explain --since DURATION --config CANDIDATE.yaml [--against RUNNING.yaml] [--type PATTERN] [--json]",
  ].join("\n"),
  options: {
    ...configOption,
    json: { type: "boolean", help: "print the explanation as JSON (for tests)" },
    trigger: {
      type: "string",
      arg: "NAME",
      help: "explain every event `payhook trigger NAME` would send, in order (`payhook trigger --list`)",
    },
    ...fixtureOptions,
    ...whatIfOptions,
  },
  async run({ runtime, io, values, positionals }) {
    if (values.since !== undefined) return whatIf({ runtime, io, values, positionals });
    for (const flag of ["against", "type"]) {
      if (values[flag] !== undefined) throw new UsageError(`explain: --${flag} goes with --since`);
    }
    const name = values.trigger as string | undefined;
    const inputs =
      name === undefined ? await fromArguments(values, positionals) : fromTrigger(name, values, positionals);
    const config = resolveConfig(values.config as string | undefined, io.env);
    // serve refuses a body over the endpoint's max_body with 413 before reading it; the largest one decides.
    const maxBody = Math.max(...config.endpoints.map((e) => e.maxBody));
    const explanations: EventExplanation[] = [];
    const controls = await storeControls(runtime, config, io);
    for (const input of inputs) {
      if (input.bytes.byteLength > maxBody) {
        throw new EventInputError(
          `${input.source}: it is ${input.bytes.byteLength} bytes, more than the largest max_body of ${config.source} (${maxBody} bytes), so serve would refuse it with 413`,
        );
      }
      explanations.push(explainEvent(config, await readEvent(input.bytes, input.source), controls));
    }
    if (values.json) {
      io.out(JSON.stringify({ config: config.source, events: explanations }, null, 2));
      return 0;
    }
    io.out(`config: ${config.source}\n`);
    for (const explanation of explanations) io.out(`${formatExplanation(explanation).join("\n")}\n`);
    io.out("Nothing was sent, run, written or stored.");
    return 0;
  },
};

/**
 * The store's pauses and breakers, read only (nothing migrated or written), so the plan says which actions would
 * wait. None before payhook has served with the config (no SQLite file yet), or when the store cannot be read: the
 * plan is still worth having, so that is a note, not an error.
 */
async function storeControls(
  runtime: Runtime,
  config: Config,
  io: { err(line: string): void },
): Promise<ActionControl[]> {
  if (config.store.kind === "sqlite" && !existsSync(config.store.path)) return [];
  try {
    const reader = await openStoreReadOnly(runtime, config.store);
    try {
      return await reader.controls();
    } finally {
      await reader.close();
    }
  } catch (error) {
    io.err(`explain: paused actions and breakers not shown: ${describe(error)}`);
    return [];
  }
}

interface Input {
  /** How messages name it: the file, "stdin", or the trigger and the event's place. */
  source: string;
  bytes: Uint8Array;
}

async function fromArguments(values: Record<string, unknown>, positionals: string[]): Promise<Input[]> {
  const given = Object.keys(fixtureOptions).filter((k) => values[k] !== undefined);
  if (given.length > 0) throw new UsageError(`explain: --${given[0]} goes with --trigger NAME`);
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "explain: give an event's JSON file, - for stdin, or --trigger NAME (e.g. `payhook explain --trigger payment_intent.succeeded`)"
        : `explain: one event file at a time (got ${positionals.join(", ")})`,
    );
  }
  const file = positionals[0] as string;
  if (file === "-") {
    return [
      { source: "stdin", bytes: await readStdin("explain: pipe the event in, e.g. `payhook explain - < event.json`") },
    ];
  }
  try {
    return [{ source: file, bytes: readFileSync(file) }];
  } catch (error) {
    throw new EventInputError(`${file}: cannot read it (${describe(error)})`);
  }
}

function fromTrigger(name: string, values: Record<string, unknown>, positionals: string[]): Input[] {
  if (positionals.length > 0) {
    throw new UsageError(`explain: --trigger NAME or an event file, not both (got ${positionals.join(", ")})`);
  }
  return buildEvents(name, buildOptions(values)).map((event, i) => ({
    source: `--trigger ${name}, event ${i + 1} (${event.type})`,
    bytes: encoder.encode(event.body),
  }));
}
