#!/usr/bin/env bun
/** @module The Bun entry point: runs the CLI with the Bun runtime. */
import { run } from "./cli/run.ts";
import { bunRuntime } from "./runtime/bun.ts";

// No top-level await: `bun build --bytecode` compiles to CommonJS.
void run(bunRuntime, process.argv.slice(2)).then((code) => bunRuntime.exit(code));
