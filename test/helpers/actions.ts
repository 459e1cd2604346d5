/** @module Compiles one action the way the config loader does and runs attempts of it, for action unit tests. */
import { actionKinds } from "../../src/actions/index.ts";
import type { AttemptContext, Outcome } from "../../src/actions/types.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";

export type Run = (context: AttemptContext) => Promise<Outcome>;

/** The compiled run of `spec`, or throws with its problems. */
export function compile(spec: Record<string, unknown>, baseDir?: string): Run {
  const compiled = compileOrProblems(spec, baseDir);
  if (Array.isArray(compiled)) throw new Error(`not compiled: ${JSON.stringify(compiled)}`);
  return compiled;
}

/** The problems of `spec` as [path, message], or its run. */
export function compileOrProblems(spec: Record<string, unknown>, baseDir?: string): Run | [string, string][] {
  const kind = actionKinds.find((k) => Object.hasOwn(spec, k.kind));
  if (!kind) throw new Error("no kind");
  const compiled = kind.compile(spec, { baseDir });
  return "problems" in compiled ? compiled.problems : compiled.run;
}

/** An attempt context for `raw` event JSON. */
export function attemptOf(raw: string, attempt = 1, action = "test-action"): AttemptContext {
  const data = JSON.parse(raw) as Record<string, unknown>;
  const lines: string[] = [];
  return {
    event: { id: data.id as string, type: data.type as string, raw: new TextEncoder().encode(raw), data },
    attempt,
    idempotencyKey: `${data.id}:${action}`,
    runtime: bunRuntime,
    print: (line) => {
      lines.push(line);
    },
  };
}
