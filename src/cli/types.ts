/** @module What a command is and what it is given: the CLI's types, imported by run.ts and every command. */
import type { createLogger } from "../log.ts";
import type { Runtime } from "../runtime/types.ts";

export interface Io {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  /** Resolves once everything given to out() has been written: the process must not exit before. */
  flush?(): Promise<void>;
}

export interface CommandContext {
  runtime: Runtime;
  io: Io;
  /** The command's own options, parsed. */
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  log: ReturnType<typeof createLogger>;
}

export type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean; help: string; arg?: string };

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  run(context: CommandContext): Promise<number>;
}
