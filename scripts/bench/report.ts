/** @module How the bench prints: tables of runs, medians, and each target as met or missed by how much. */
import type { Run } from "./throughput.ts";

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export const int = (n: number): string => Math.round(n).toLocaleString("en-US");
export const ms = (us: number): string => `${(us / 1000).toFixed(2)} ms`;
export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
export const pct = (ratio: number): string => `${(ratio * 100).toFixed(1)} %`;

const COLUMNS = ["round", "server", "req/s", "ratio", "p50", "p99", "CPU µs/req", "peak RSS", "non-2xx", "store"];

export function runTable(rows: { round: string; run: Run; ratio?: number }[]): string {
  const cells = rows.map(({ round, run, ratio }) => [
    round,
    run.server,
    int(run.wrk.requestsPerSecond),
    ratio === undefined ? "" : pct(ratio),
    ms(run.wrk.latencyUs.p50),
    ms(run.wrk.latencyUs.p99),
    run.cpuUsPerRequest.toFixed(1),
    mb(run.peakRssBytes),
    String(run.wrk.errors.status),
    storeCell(run),
  ]);
  return table([COLUMNS, ...cells]);
}

function storeCell(run: Run): string {
  const s = run.store;
  if (!s) return "";
  const fresh = run.wrk.sent <= s.distinctSent ? "every request a new event" : `${int(s.distinctSent)} distinct`;
  const verdict = s.ok ? "ok" : "FAILED";
  return `${verdict}: ${int(s.stored)}/${int(s.distinctSent)} stored, ${fresh}`;
}

/** Left-aligned text columns, numbers right-aligned. */
export function table(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) =>
          /^[0-9,.]+( %| ms| MB)?$/.test(cell) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
        )
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export interface Target {
  name: string;
  /** The measured value, in the unit `show` formats. */
  value: number;
  limit: number;
  /** "min": the value must be at least the limit; "max": at most. */
  kind: "min" | "max";
  show(value: number): string;
  /** How a shortfall is written, when it differs from a value (percentage points, not percent). */
  showGap?(gap: number): string;
}

/** `name: value (target ≥ limit): met` or `… MISSED by <difference> (<ratio>)`. */
export function targetLine(t: Target): string {
  const met = t.kind === "min" ? t.value >= t.limit : t.value <= t.limit;
  const sign = t.kind === "min" ? "≥" : "≤";
  if (Number.isNaN(t.value)) return `${t.name}: NOT MEASURED (target ${sign} ${t.show(t.limit)})`;
  const head = `${t.name}: ${t.show(t.value)} (target ${sign} ${t.show(t.limit)})`;
  if (met) return `${head}: met`;
  const gap = Math.abs(t.value - t.limit);
  const factor = t.kind === "min" ? t.limit / t.value : t.value / t.limit;
  return `${head}: MISSED by ${(t.showGap ?? t.show)(gap)} (${factor.toFixed(2)}× off)`;
}
