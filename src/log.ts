/**
 * @module Operational logs: one JSON object per line on stderr (stdout belongs to the `log` action), or
 * readable lines for a terminal. Callers pass fields, never secrets or whole payloads.
 */
import { escapeControl } from "./utils/escape.ts";

export type Level = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "pretty";
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

export interface LoggerOptions {
  level?: Level;
  format?: LogFormat;
  write?: (line: string) => void;
  now?: () => number;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? "info"];
  const format = options.format ?? "json";
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const emit =
    (level: Level) =>
    (msg: string, fields: Fields = {}) => {
      if (RANK[level] < threshold) return;
      const time = new Date(now()).toISOString();
      if (format === "json") {
        write(JSON.stringify({ time, level, msg, ...fields }));
      } else {
        // Field values can come from outside (an event's type, a script's error): one line, nothing that drives
        // the terminal. JSON lines are safe as they are: JSON.stringify escapes every control character.
        // An unset field is left out, as JSON.stringify leaves it out of a JSON line.
        const rest = Object.entries(fields)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${escapeControl(k)}=${escapeControl(typeof v === "string" ? v : JSON.stringify(v))}`);
        write([time, level.toUpperCase().padEnd(5), escapeControl(msg), ...rest].join(" "));
      }
    };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

export const LEVELS = Object.keys(RANK) as Level[];
