/**
 * @module The command line as a function of its arguments: `run(runtime, argv)` resolves to the exit code
 * (0 ok, 1 runtime failure, 2 usage or config error). Each command lives in commands/<name>.ts.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { ConfigError, PayhookError, UsageError } from "../errors.ts";
import { createLogger, LEVELS, type Level, type LogFormat } from "../log.ts";
import type { Runtime } from "../runtime/types.ts";
import { actions } from "./commands/actions.ts";
import { alerts } from "./commands/alerts.ts";
import { audit } from "./commands/audit.ts";
import { backfill } from "./commands/backfill.ts";
import { catchUpCommand } from "./commands/catch-up.ts";
import { check } from "./commands/check.ts";
import { deliveries } from "./commands/deliveries.ts";
import { doctor } from "./commands/doctor.ts";
import { events } from "./commands/events.ts";
import { explain } from "./commands/explain.ts";
import { health } from "./commands/health.ts";
import { incidents } from "./commands/incidents.ts";
import { init } from "./commands/init.ts";
import { schema } from "./commands/schema.ts";
import { serve } from "./commands/serve.ts";
import { sign } from "./commands/sign.ts";
import { status } from "./commands/status.ts";
import { stripeCommand } from "./commands/stripe.ts";
import { trigger } from "./commands/trigger.ts";
import { version } from "./commands/version.ts";
import { escapingIo } from "./print/escaping-io.ts";
import type { Command, CommandContext, Io, OptionSpec } from "./types.ts";

const COMMON: Record<string, OptionSpec> = {
  help: { type: "boolean", short: "h", help: "show this help" },
  "log-level": { type: "string", arg: "LEVEL", help: `debug, info, warn or error (default info)` },
  "log-format": { type: "string", arg: "FORMAT", help: "json, or pretty (default: pretty on a terminal, else json)" },
};

export const COMMANDS: Command[] = [
  serve,
  check,
  explain,
  health,
  status,
  events,
  deliveries,
  actions,
  audit,
  backfill,
  catchUpCommand,
  stripeCommand,
  alerts,
  incidents,
  doctor,
  init,
  schema,
  trigger,
  sign,
  version,
];

export async function run(runtime: Runtime, argv: string[], io: Io = processIo(runtime)): Promise<number> {
  try {
    return await dispatch(runtime, argv, io);
  } catch (error) {
    // An error may quote what a service or a database said (a version read from the store, Stripe's message).
    return reportError(error, escapingIo(io));
  } finally {
    await io.flush?.();
  }
}

function reportError(error: unknown, io: Io): number {
  if (error instanceof ConfigError) {
    for (const line of error.problems) io.err(line);
    return error.exitCode;
  }
  if (error instanceof UsageError) {
    io.err(`payhook: ${error.message}`);
    io.err("Run `payhook --help` for usage.");
    return error.exitCode;
  }
  io.err(`payhook: ${error instanceof PayhookError || error instanceof Error ? error.message : String(error)}`);
  return error instanceof PayhookError ? error.exitCode : 1;
}

async function dispatch(runtime: Runtime, argv: string[], io: Io): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h" || first === "help") {
    io.out(mainHelp());
    return 0;
  }
  if (first === "--version" || first === "-v") return version.run(context(runtime, io, version, []));
  // With no command, or only options, payhook serves.
  const named = first !== undefined && !first.startsWith("-");
  const command = named ? COMMANDS.find((c) => c.name === first) : serve;
  if (!command) throw new UsageError(`unknown command "${first}"`);
  const ctx = context(runtime, io, command, named ? rest : argv);
  if (ctx.values.help) {
    io.out(commandHelp(command));
    return 0;
  }
  return command.run(ctx);
}

function context(runtime: Runtime, io: Io, command: Command, args: string[]): CommandContext {
  const options = { ...COMMON, ...command.options };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: Object.fromEntries(
        Object.entries(options).map(([k, { type, short, multiple }]) => [
          k,
          { type, multiple: multiple ?? false, ...(short ? { short } : {}) },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(`${command.name}: ${(error as Error).message}`);
  }
  const level = (parsed.values["log-level"] as string | undefined) ?? "info";
  if (!LEVELS.includes(level as Level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}`);
  const format = (parsed.values["log-format"] as string | undefined) ?? (process.stderr.isTTY ? "pretty" : "json");
  if (format !== "json" && format !== "pretty") throw new UsageError("--log-format must be json or pretty");
  return {
    runtime,
    io,
    values: parsed.values as CommandContext["values"],
    positionals: parsed.positionals,
    log: createLogger({ level: level as Level, format: format as LogFormat, write: io.err }),
  };
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "payhook: receives Stripe webhooks, verifies and stores them, then runs the actions your config maps to them.",
    "",
    "Usage: payhook [COMMAND] [OPTIONS]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "With no command, payhook serves. Run `payhook COMMAND --help` for a command's options.",
  ].join("\n");
}

export function commandHelp(command: Command): string {
  const options = { ...command.options, ...COMMON };
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.arg ? ` ${o.arg}` : ""}`;
    return [flag, o.help] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  return [
    `payhook ${command.name}: ${command.summary}`,
    "",
    `Usage: ${command.usage}`,
    "",
    "Options:",
    ...rows.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`),
  ].join("\n");
}

/**
 * Standard output through the runtime's writer, which waits while a pipe is full: process.stdout.write buffers
 * what a full pipe does not take and an exit drops it, so a listing read through `| wc -c` or a slow `| jq` was
 * cut. Lines given while a write is under way go out together in the next one.
 */
function processIo(runtime: Runtime): Io {
  let pending = "";
  let writing: Promise<void> = Promise.resolve();
  let closed = false;
  const drain = async () => {
    while (pending !== "" && !closed) {
      const text = pending;
      pending = "";
      // A reader that went away (`| head`) did not want the rest: that is not an error.
      await runtime.writeStdout(text).catch(() => {
        closed = true;
      });
    }
  };
  return {
    out: (line) => {
      const idle = pending === "";
      pending += `${line}\n`;
      if (idle) writing = writing.then(drain);
    },
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    flush: () => writing,
  };
}
