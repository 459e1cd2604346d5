/**
 * @module What the build stamped in: the version, the git commit and its date, and the target it was compiled
 * for. The Bun builds replace PAYHOOK_BUILD with `--define` (values from scripts/build-stamp.sh, see the
 * Makefile); `deno compile` has no `--define`, so the Deno release build maps this file to a generated one
 * through deno.release-imports.json. Run from source, there is no stamp.
 */
export interface BuildStamp {
  version: string;
  /** Twelve hex digits, `-dirty` when the tree had uncommitted changes; "unknown" outside a git checkout. */
  commit: string;
  /** The commit's date in UTC (not the build's, so two builds of one commit match); "unknown" without git. */
  commit_date: string;
  /** The compile target (`linux-arm64-musl`); absent for a build for the machine it was built on. */
  target?: string;
}

declare const PAYHOOK_BUILD: BuildStamp | undefined;

export const STAMP: BuildStamp | undefined = typeof PAYHOOK_BUILD === "object" ? PAYHOOK_BUILD : undefined;
