#!/usr/bin/env -S deno run -A
/** @module The Deno entry point: runs the CLI with the Deno runtime (`deno run -A src/main.deno.ts`, or `deno compile`). */
import { run } from "./cli/run.ts";
import { denoArgs, denoRuntime } from "./runtime/deno.ts";

void run(denoRuntime, denoArgs).then((code) => denoRuntime.exit(code));
