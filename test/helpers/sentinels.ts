/**
 * @module Sentinel secrets (E-6 in docs/guarantees.md#test-ids): recognisable secret values for suites to run payhook with,
 * and a scan of what payhook wrote (captured output, the files in its folder, the database) that finds any of
 * them. A suite that runs with a sentinel and ends with an empty scan shows no secret leaked through it.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** The marker every sentinel contains; payhook has no reason to ever write it. */
export const SENTINEL = "SENTINEL";

/** A valid signing secret that contains the marker: `whsec_SENTINEL<label>`. */
export function sentinelSecret(label: string): string {
  return `whsec_${SENTINEL}${label}`;
}

export interface ScanOptions {
  /** Strings to look for (default: the marker, which every sentinelSecret contains). */
  needles?: readonly string[];
  /** File names in the folder that are not payhook's output (default: the config file, which names the secrets). */
  skip?: readonly string[];
}

/**
 * Every needle occurrence, as "<needle> in <where>", in `texts` (name → captured text) and in the regular files of
 * `dir` (the store, its WAL, log files), read as bytes so a secret inside a binary page is found too.
 */
export function scanForSentinels(texts: Record<string, string>, dir: string, options: ScanOptions = {}): string[] {
  const needles = options.needles ?? [SENTINEL];
  const skip = new Set(options.skip ?? ["payhook.yaml"]);
  const sources: [string, string][] = Object.entries(texts);
  for (const file of readdirSync(dir)) {
    const path = join(dir, file);
    if (skip.has(file) || !statSync(path).isFile()) continue;
    sources.push([file, readFileSync(path).toString("latin1")]);
  }
  const found: string[] = [];
  for (const [where, text] of sources) {
    for (const needle of needles) if (text.includes(needle)) found.push(`${needle} in ${where}`);
  }
  return found;
}
