/** @module Durations ("5s", "2h") and sizes ("1mb") as written in the config file, and their parsers. */
import { Type } from "@sinclair/typebox";

const DURATION = /^([0-9]+)(ms|s|m|h|d)$/;
const SIZE = /^([0-9]+)(b|kb|kib|mb|mib)?$/i;
const MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const BYTES = { b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2 } as const;

export const Duration = Type.String({
  pattern: DURATION.source,
  description: "a duration such as 500ms, 30s, 5m, 2h or 1d",
});

export const Size = Type.String({
  pattern: SIZE.source,
  description: "a size such as 65536, 512kb or 1mb (1kb = 1024 bytes)",
});

/** Milliseconds in a duration that the schema has already checked. */
export function parseDuration(text: string): number {
  const [, amount, unit] = DURATION.exec(text) ?? [];
  if (!amount || !unit) throw new Error(`not a duration: ${text}`);
  return Number(amount) * MS[unit as keyof typeof MS];
}

/** Bytes in a size that the schema has already checked. */
export function parseSize(text: string): number {
  const [, amount, unit = "b"] = SIZE.exec(text) ?? [];
  if (!amount) throw new Error(`not a size: ${text}`);
  return Number(amount) * BYTES[unit.toLowerCase() as keyof typeof BYTES];
}
