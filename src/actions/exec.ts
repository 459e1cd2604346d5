/**
 * @module `exec: { command: [program, ...args], timeout?, env?, concurrency?, cwd?, allow_leading_dash? }`: runs a
 * program, never a shell, with the event JSON on stdin. Exit 0 → done; 75 (EX_TEMPFAIL), a timeout or a signal →
 * retried; any other exit, or a program that cannot be started → failed.
 */
import { isAbsolute, resolve } from "node:path";
import process from "node:process";
import { Type } from "@sinclair/typebox";
import { describe } from "../errors.ts";
import type { SpawnResult } from "../runtime/types.ts";
import { compileTemplate, hasPlaceholder, type Template } from "../utils/template.ts";
import { Duration, parseDuration } from "../utils/units.ts";
import { ActionBase } from "./base.ts";
import type { ActionKind, Outcome, PlanContext } from "./types.ts";

const closed = { additionalProperties: false } as const;

export const DEFAULT_EXEC_TIMEOUT = "30s";
export const DEFAULT_EXEC_CONCURRENCY = 4;
/** Exit status a program uses to ask for a retry (EX_TEMPFAIL in sysexits.h). */
export const EX_TEMPFAIL = 75;
/** Bytes of stdout and of stderr kept with each attempt; together they fit the store's 64 KiB. */
const OUTPUT_CAP = 32 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const ExecSchema = Type.Object(
  {
    command: Type.Array(Type.String(), {
      minItems: 1,
      description:
        'a list of the program and its arguments, such as ["./bin/fulfil", "--id", "{{data.object.id}}"]; one string is refused because payhook never runs a shell, so no event value can become shell syntax',
    }),
    timeout: Type.Optional(Duration),
    env: Type.Optional(
      Type.Array(Type.String({ pattern: ENV_NAME.source, description: "an environment variable name" }), {
        description: "a list of environment variable names passed on from payhook's environment, such as [HOME, LANG]",
      }),
    ),
    concurrency: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 64, description: "how many of this action may run at once, 1 to 64" }),
    ),
    cwd: Type.Optional(Type.String({ minLength: 1, description: "the working directory for the program" })),
    allow_leading_dash: Type.Optional(
      Type.Boolean({ description: 'true to let templated arguments start with "-" (refused by default)' }),
    ),
  },
  { ...closed, description: "a mapping with command and optional timeout, env, concurrency, cwd, allow_leading_dash" },
);

type ExecSpec = {
  command: string[];
  timeout?: string;
  env?: string[];
  concurrency?: number;
  cwd?: string;
  allow_leading_dash?: boolean;
};

type Arg = { text: string } | { template: Template; index: number };
type Prepared = { argv: string[]; env: Record<string, string> };

export const exec: ActionKind = {
  kind: "exec",
  schema: Type.Object({ exec: ExecSchema, ...ActionBase }, closed),
  compile(spec, context) {
    const settings = spec.exec as ExecSpec;
    const baseDir = resolve(context?.baseDir ?? ".");
    const problems: [string, string][] = [];
    const [program = "", ...rest] = settings.command;
    if (program === "") problems.push(["exec.command.0", "the program is empty; write its path, such as ./bin/fulfil"]);
    if (hasPlaceholder(program)) {
      problems.push(["exec.command.0", "the program must be written out; templates are allowed in its arguments only"]);
    }
    if (hasPlaceholder(settings.cwd ?? "")) problems.push(["exec.cwd", "the working directory must be written out"]);
    const args: Arg[] = rest.map((text, i) => {
      if (!hasPlaceholder(text)) return { text };
      const template = compileTemplate(text);
      if (typeof template === "string") {
        problems.push([`exec.command.${i + 1}`, template]);
        return { text };
      }
      return { template, index: i + 1 };
    });
    for (const [i, name] of (settings.env ?? []).entries()) {
      if (name.startsWith("PAYHOOK_")) {
        problems.push([`exec.env.${i}`, `${name}: PAYHOOK_ variables are set by payhook itself`]);
      } else if (/SECRET/i.test(name) && name.startsWith("STRIPE_")) {
        problems.push([`exec.env.${i}`, `${name}: signing secrets are never passed to programs`]);
      }
    }
    const timeoutMs = parseDuration(settings.timeout ?? DEFAULT_EXEC_TIMEOUT);
    if (timeoutMs <= 0) problems.push(["exec.timeout", "expected a timeout above 0, such as 30s"]);
    if (problems.length > 0) return { problems };
    const allowDash = settings.allow_leading_dash === true;
    // Like the store, relative paths belong to the config file's folder; a bare name is looked up on PATH.
    const cwd = resolve(baseDir, settings.cwd ?? ".");
    const executable = program.includes("/") && !isAbsolute(program) ? resolve(baseDir, program) : program;
    const passOn = ["PATH", ...(settings.env ?? []).filter((n) => n !== "PATH")];

    const prepare = preparer(executable, args, allowDash, passOn);

    return {
      concurrency: settings.concurrency ?? DEFAULT_EXEC_CONCURRENCY,
      plan(context) {
        const prepared = prepare(context);
        if ("error" in prepared) return { status: "refused", reason: prepared.error };
        // Names only: the values come from payhook's environment and may be tokens.
        const env = Object.keys(prepared.env);
        return { status: "run", details: { argv: prepared.argv, env, cwd, timeout_ms: timeoutMs } };
      },
      async run(context): Promise<Outcome> {
        const prepared = prepare(context);
        if ("error" in prepared) return { ok: false, retry: false, error: prepared.error };
        const { argv, env } = prepared;
        const { event, runtime } = context;
        let result: Awaited<ReturnType<typeof runtime.spawn>>;
        try {
          result = await runtime.spawn(argv, {
            env,
            stdin: event.raw,
            timeoutMs,
            outputCap: OUTPUT_CAP,
            cwd,
          });
        } catch (error) {
          return cannotStart(executable, error);
        }
        return finished(program, timeoutMs, result);
      },
    };
  },
};

/** The outcome of a program that ran: its exit, with what it printed. */
function finished(program: string, timeoutMs: number, result: SpawnResult): Outcome {
  const output = [result.stdout && `stdout:\n${result.stdout}`, result.stderr && `stderr:\n${result.stderr}`]
    .filter(Boolean)
    .join("\n");
  const withOutput = output === "" ? {} : { output };
  if (result.timedOut) {
    return {
      ok: false,
      retry: true,
      error: `${program} ran longer than its timeout of ${timeoutMs} ms; its process group was killed`,
      ...withOutput,
    };
  }
  if (result.signal !== null) {
    return { ok: false, retry: true, error: `${program} was killed by ${result.signal}`, ...withOutput };
  }
  if (result.exitCode === 0) return { ok: true, ...withOutput };
  if (result.exitCode === EX_TEMPFAIL) {
    return {
      ok: false,
      retry: true,
      error: `${program} exited with 75 (EX_TEMPFAIL): retry later`,
      ...withOutput,
    };
  }
  return {
    ok: false,
    retry: false,
    error: `${program} exited with ${result.exitCode}; not retried (exit 75 asks for a retry)`,
    ...withOutput,
  };
}

/** The argv and environment of an attempt, or why it is refused; `run` and `plan` share it, so they agree. */
function preparer(
  executable: string,
  args: readonly Arg[],
  allowDash: boolean,
  passOn: readonly string[],
): (context: PlanContext) => Prepared | { error: string } {
  return ({ event, attempt, idempotencyKey }) => {
    const argv = [executable];
    for (const arg of args) {
      if ("text" in arg) {
        argv.push(arg.text);
        continue;
      }
      const value = arg.template(event.data);
      if (value.includes("\u0000")) return { error: `exec refused: argument ${arg.index} rendered a NUL character` };
      if (value.startsWith("-") && !allowDash) {
        return {
          error: `exec refused: argument ${arg.index} rendered a value starting with "-", which the program could take for an option; set allow_leading_dash: true if it expects that`,
        };
      }
      argv.push(value);
    }
    const env: Record<string, string> = {};
    for (const name of passOn) {
      const value = process.env[name];
      // Belt and braces: whatever its name, a signing secret never reaches a program.
      if (value !== undefined && !value.startsWith("whsec_")) env[name] = value;
    }
    env.PAYHOOK_EVENT_ID = event.id;
    env.PAYHOOK_EVENT_TYPE = event.type;
    env.PAYHOOK_ATTEMPT = String(attempt);
    env.PAYHOOK_IDEMPOTENCY_KEY = idempotencyKey;
    // No environment can carry a NUL: the same event would fail to start the program on every attempt.
    const unfit = Object.keys(env).find((name) => env[name]?.includes("\u0000"));
    if (unfit !== undefined) return { error: `exec refused: ${unfit} would contain a NUL character` };
    return { argv, env };
  };
}

function cannotStart(program: string, error: unknown): Outcome {
  const code = (error as { code?: unknown }).code;
  if (code === "ENOENT" || code === "EACCES" || code === "ENOTDIR" || code === "EISDIR") {
    const hint = program.includes("/") ? "check that it exists and is executable" : "is it on PATH?";
    return { ok: false, retry: false, error: `${program} cannot be started (${code}): ${hint}` };
  }
  // Running out of processes or memory passes; try again later.
  return { ok: false, retry: true, error: `${program} could not be started: ${describe(error)}` };
}
