/** @module The interface every action kind implements, and the outcome of one attempt. */
import type { TObject } from "@sinclair/typebox";
import type { Runtime } from "../runtime/types.ts";
import type { BreakerPolicy, RateLimit } from "./limits.ts";
import type { OrderRule } from "./order.ts";
import type { RetryPolicy } from "./retry.ts";

/** What a thin event's action can have fetched from Stripe before it runs. */
export type FetchTarget = "event" | "related_object";

/**
 * The event as an action sees it: the parsed JSON and the exact bytes Stripe signed. For an action with `fetch:`
 * on a thin event, `data.fetched` holds what was fetched and `raw` is the event with that `fetched` key added.
 */
export interface ActionEvent {
  id: string;
  type: string;
  raw: Uint8Array;
  data: Record<string, unknown>;
}

/** What an action needs to work out an attempt without making it (`plan`). */
export interface PlanContext {
  event: ActionEvent;
  /** 1 for the first attempt. */
  attempt: number;
  /** `<event id>:<action name>`, the same on every attempt. */
  idempotencyKey: string;
}

export interface AttemptContext extends PlanContext {
  runtime: Runtime;
  /**
   * Where actions that print write their lines (stdout in the server); resolves once the line is written, so an
   * attempt is done only then, and rejects if it cannot be.
   */
  print(line: string): void | Promise<void>;
}

export type Outcome =
  | { ok: true; output?: string }
  /**
   * `retry: false` means retrying cannot help; `notBefore` is an absolute time in ms (e.g. from Retry-After);
   * `slowDown`: the target said it is overloaded (429, 503), so the worker slows the whole action.
   */
  | {
      ok: false;
      retry: boolean;
      error: string;
      output?: string;
      notBefore?: number;
      dead?: boolean;
      slowDown?: boolean;
    };

/**
 * What one attempt would do, worked out by the same code as `run` but doing nothing: `run` with its rendered values
 * (never a header value or an environment value: they carry tokens), `skipped` when `when:` does not hold (`run`
 * would be done at once with that note), `refused` when `run` would fail at once without acting (the reason is
 * `run`'s error). For `payhook explain` and `serve --dry-run`.
 */
export type Plan =
  | { status: "run"; details: PlanDetails }
  | { status: "skipped"; reason: string }
  | { status: "refused"; reason: string };

export interface LogPlan {
  line: string;
}
export interface ForwardPlan {
  method: "POST";
  /** As it would be sent, except static query values (they may carry tokens from the config): `[redacted]`. */
  url: string;
  /** The names of every header sent, values never shown. */
  headers: string[];
  timeout_ms: number;
  /** True when it would be signed. */
  signed: boolean;
  /** How, when signed: Standard Webhooks headers, or Stripe's own Stripe-Signature. */
  scheme?: "standard" | "stripe";
}
export interface ExecPlan {
  argv: string[];
  /** The names of the program's environment variables, values never shown. */
  env: string[];
  cwd: string;
  timeout_ms: number;
}
export interface FilePlan {
  path: string;
  fsync: boolean;
}
export type PlanDetails = LogPlan | ForwardPlan | ExecPlan | FilePlan;

/** A configured action, compiled once at load: `run` does one attempt and never throws. */
export interface Action {
  readonly name: string;
  readonly kind: string;
  /** A stable digest of the action's settings, so a delivery keeps the action it was created with. */
  readonly digest: string;
  readonly retry: RetryPolicy;
  /** How many attempts of this action may run at once; unset means only the worker's own limit applies. */
  readonly concurrency?: number;
  /** `order:`: its deliveries run one at a time per rendered key, in the events' created order. */
  readonly order?: OrderRule;
  /** `rate:`: at most so many attempts start per second or minute, on each instance. */
  readonly rate?: RateLimit;
  /** `breaker:` (its own or the top level's): stops attempting after so many consecutive failures. */
  readonly breaker?: BreakerPolicy;
  /** For thin events: what the worker fetches from Stripe before `run` (ActionEvent.data.fetched). */
  readonly fetch?: readonly FetchTarget[];
  run(context: AttemptContext): Promise<Outcome>;
  /** What `run` would do for this context, without doing any of it. */
  plan(context: PlanContext): Plan;
}

/** One kind of action: its config schema, and how to compile a validated spec into an Action. */
export interface ActionKind {
  readonly kind: string;
  readonly schema: TObject;
  /** Returns problems as `[relative path, message]` pairs, or the compiled run function. */
  compile(
    spec: Record<string, unknown>,
    context?: CompileContext,
  ): { problems: [string, string][] } | { run: Action["run"]; plan: Action["plan"]; concurrency?: number };
}

export interface CompileContext {
  /** The config file's folder, against which relative paths resolve; the working directory when unset. */
  baseDir?: string | undefined;
  /** The values the config took from the environment (`${…}`): wherever one lands in a URL, it is a secret. */
  fromEnv?: readonly string[];
}

/** `<event id>:<action name>`: the same on every attempt of one action for one event. */
export function idempotencyKey(eventId: string, action: string): string {
  return `${eventId}:${action}`;
}
