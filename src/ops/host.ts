/**
 * @module What the machine says about payhook's files: free space on the disk that holds a path, and when a PEM
 * certificate expires. Both answer undefined rather than throw: a probe that cannot tell is not a failure.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync, statfsSync } from "node:fs";
import { dirname } from "node:path";

/** Free space for unprivileged users on the disk that holds `path` (its folder), as a percentage of the disk. */
export function diskFree(path: string): { freePercent: number; freeBytes: number } | undefined {
  try {
    const stats = statfsSync(dirname(path));
    const total = Number(stats.blocks) * Number(stats.bsize);
    const free = Number(stats.bavail) * Number(stats.bsize);
    if (!(total > 0)) return undefined;
    return { freePercent: (free / total) * 100, freeBytes: free };
  } catch {
    return undefined;
  }
}

/** When the first certificate in the PEM file at `path` stops being valid (unix ms). */
export function certificateExpiry(path: string): number | undefined {
  try {
    const at = Date.parse(new X509Certificate(readFileSync(path)).validTo);
    return Number.isFinite(at) ? at : undefined;
  } catch {
    return undefined;
  }
}
