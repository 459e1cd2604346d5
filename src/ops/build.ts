/**
 * @module Which payhook is running: the build's stamp (version, commit, commit date, target) and the runtime
 * under it. `payhook version`, the `payhook_build_info` metric and the start-up log line all say the same.
 */
import process from "node:process";
import pkg from "../../package.json" with { type: "json" };
import type { Runtime } from "../runtime/types.ts";
import { STAMP } from "./build-stamp.ts";

export interface BuildInfo {
  version: string;
  commit: string;
  commit_date: string;
  /** `<os>-<arch>[-musl]`, as in the release file names. */
  target: string;
  runtime: string;
  runtime_version: string;
}

/** The version alone: the stamped one (`make release VERSION=…`), else package.json's. */
export const VERSION: string = STAMP?.version ?? pkg.version;

export function buildInfo(runtime: Pick<Runtime, "name" | "version">): BuildInfo {
  return {
    version: VERSION,
    commit: STAMP?.commit ?? "unknown",
    commit_date: STAMP?.commit_date ?? "unknown",
    target: STAMP?.target ?? `${process.platform}-${process.arch}`,
    runtime: runtime.name,
    runtime_version: runtime.version,
  };
}

/** `payhook 0.1.0 (0123456789ab, 2026-11-30T12:00:00Z, linux-arm64, bun 1.4.5)`: GNU style, version after the name. */
export function versionLine(info: BuildInfo): string {
  return `payhook ${info.version} (${info.commit}, ${info.commit_date}, ${info.target}, ${info.runtime} ${info.runtime_version})`;
}
