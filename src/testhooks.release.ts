/**
 * @module The Deno release build's stand-in for testhooks.ts: no test hooks at all. `deno compile` has no
 * `--define`, so `make build-deno` maps ./testhooks.ts here with deno.release-imports.json instead.
 */
import type { TestHook } from "./testhooks.ts";

export const testHook: TestHook = "";
