/**
 * @module What the config does with one event, worked out without doing any of it: the handler patterns that
 * match (the router's own matching), then each action's plan (the same code as its run, see actions/types.ts).
 * Used by `payhook explain` and `serve --dry-run`; nothing here sends, runs, writes or stores anything.
 */

import { orderKey as renderOrderKey } from "../actions/order.ts";
import { signatureHeader } from "../actions/stripe-signature.ts";
import {
  type Action,
  type ActionEvent,
  type ExecPlan,
  type FilePlan,
  type ForwardPlan,
  idempotencyKey,
  type LogPlan,
  type Plan,
} from "../actions/types.ts";
import { matchRoutes } from "../config/routes.ts";
import type { Config } from "../config/types.ts";
import { describe, EventInputError, VerificationError } from "../errors.ts";
import { createVerifier } from "../ingest/verify.ts";
import type { VerifiedEvent } from "../store/event.ts";
import type { ActionControl } from "../store/types.ts";
import { escapeControl } from "../utils/escape.ts";

export interface EventExplanation {
  id: string;
  type: string;
  /** "event" for a snapshot event, "v2.core.event" for a thin one. */
  object: VerifiedEvent["object"];
  livemode: boolean;
  account: string | null;
  /** The handler patterns that matched, in config order; empty when the `unhandled` actions apply. */
  matched: string[];
  unhandled: boolean;
  /** Every action the event gets, in the order its deliveries are created. */
  actions: ActionExplanation[];
}

export interface ActionExplanation {
  name: string;
  kind: string;
  /** The handler pattern the action is listed under, or null for `unhandled`. */
  pattern: string | null;
  /** `run`: it would act; `skipped`: its `when:` does not hold; `refused`: it would fail at once without acting. */
  status: Plan["status"];
  /** Why it is skipped or refused; null when it would run. */
  reason: string | null;
  /**
   * The `order:` key this action's delivery would be serialised under (one key per object), rendered for the
   * event; null for an action without `order:`. Filled in by `orderKey` below.
   */
  order_key: string | null;
  /**
   * For a thin event's action with `fetch:`: what the worker would fetch from Stripe before it runs. explain calls
   * no API, so templates and `when:` see `fetched.*` empty here.
   */
  fetch?: string[];
  /** With status `run`: the rendered values, under the action's kind (`log`, `forward`, `exec` or `file`). */
  log?: LogPlan;
  forward?: ForwardPlan;
  exec?: ExecPlan;
  file?: FilePlan;
  /** Set when the store (read for explain) holds the action's deliveries: paused, or its breaker open. */
  held?: Held;
}

/** Why a running payhook would hold the action's deliveries rather than attempt them; times as ISO 8601. */
export type Held =
  | { state: "paused"; by: string; since: string; reason: string | null }
  | { state: "breaker open"; since: string; failures: number };

/** An event read from input, checked exactly as `serve` checks a verified request body. */
export interface InputEvent {
  event: VerifiedEvent;
  raw: Uint8Array;
  data: Record<string, unknown>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Signs the input for the real verifier only; it is made here and never leaves this process. */
const INPUT_SECRET = "whsec_payhook_explain_input_check";
const checkInput = createVerifier({ secrets: [INPUT_SECRET], tolerance: 300 });

/**
 * Reads an event given as JSON (a file, stdin, a fixture). After explain's own checks, which name the problem in
 * the input's terms, the body goes through the server's verifier, signed here, so an event explain accepts is
 * one `serve` would accept and route. Throws EventInputError with `source` in the message.
 */
export async function readEvent(raw: Uint8Array, source: string): Promise<InputEvent> {
  const bad = (why: string) => new EventInputError(`${source}: ${why}`);
  if (raw.byteLength === 0) throw bad("it is empty; expected a Stripe event's JSON");
  if (raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf) {
    throw bad("it starts with a byte order mark, which Stripe never sends; save the JSON without one");
  }
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw bad("it is not UTF-8 text; Stripe's events always are");
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw bad(`it is not JSON (${describe(error)})`);
  }
  const object =
    data !== null && typeof data === "object" && !Array.isArray(data)
      ? (data as Record<string, unknown>).object
      : undefined;
  if (object !== "event" && object !== "v2.core.event") {
    throw bad(
      `it is not a Stripe event: expected "object": "event" (a snapshot event) or "v2.core.event" (a thin event)${object === undefined ? "" : `, got ${JSON.stringify(object)?.slice(0, 40)}`}`,
    );
  }
  let event: VerifiedEvent;
  try {
    event = await checkInput(raw, await signatureHeader(text, INPUT_SECRET, Math.floor(Date.now() / 1000)));
  } catch (error) {
    if (error instanceof VerificationError) throw bad(error.message.replace("the body is correctly signed but ", ""));
    throw error;
  }
  return { event, raw, data: data as Record<string, unknown> };
}

/**
 * Which actions the config runs for `input`, and what each would do; `controls` (the store's pauses and breakers,
 * when it could be read) marks the actions whose deliveries would wait.
 */
export function explainEvent(
  config: Pick<Config, "routes" | "unhandled">,
  input: InputEvent,
  controls: readonly ActionControl[] = [],
): EventExplanation {
  const { event } = input;
  const hits = matchRoutes(config.routes, event.type);
  // The same list, in the same order, as the router's: every matching pattern's actions, else `unhandled`.
  const groups: [string | null, readonly Action[]][] =
    hits.length > 0 ? hits.map((r) => [r.pattern, r.actions]) : [[null, config.unhandled]];
  const actionEvent: ActionEvent = { id: event.id, type: event.type, raw: input.raw, data: input.data };
  return {
    id: event.id,
    type: event.type,
    object: event.object,
    livemode: event.livemode,
    account: event.account,
    matched: hits.map((r) => r.pattern),
    unhandled: hits.length === 0,
    actions: groups.flatMap(([pattern, actions]) =>
      actions.map((a) => {
        const explained = explainAction(a, pattern, actionEvent);
        const held = explained.status === "skipped" ? undefined : heldBy(a, controls);
        return held ? { ...explained, held } : explained;
      }),
    ),
  };
}

/** The hold a running payhook would put on the action, as its gate decides (src/delivery/control.ts). */
function heldBy(action: Action, controls: readonly ActionControl[]): Held | undefined {
  const c = controls.find((x) => x.action === action.name);
  if (c?.paused) {
    const { by, at, reason } = c.paused;
    return { state: "paused", by, since: new Date(at).toISOString(), reason };
  }
  // A breaker the action's config no longer has holds nothing.
  if (c?.breaker && action.breaker) {
    return { state: "breaker open", since: new Date(c.breaker.openedAt).toISOString(), failures: c.failures };
  }
  return undefined;
}

function explainAction(action: Action, pattern: string | null, event: ActionEvent): ActionExplanation {
  let plan: Plan;
  try {
    plan = action.plan({ event, attempt: 1, idempotencyKey: idempotencyKey(event.id, action.name) });
  } catch (error) {
    plan = { status: "refused", reason: `the action failed unexpectedly: ${describe(error)}` };
  }
  return {
    name: action.name,
    kind: action.kind,
    pattern,
    status: plan.status,
    reason: plan.status === "run" ? null : plan.reason,
    order_key: orderKey(action, event),
    ...(action.fetch && event.data.object === "v2.core.event" ? { fetch: [...action.fetch] } : {}),
    ...(plan.status === "run" ? { [action.kind]: plan.details } : {}),
  };
}

/** The rendered `order:` key of `action` for `event`, as ingest would store it; null when it runs unordered. */
function orderKey(action: Action, event: ActionEvent): string | null {
  return renderOrderKey(action.order, event.data) ?? null;
}

/** The explanation as lines for a person; rendered values are escaped or quoted so they cannot drive a terminal. */
export function formatExplanation(e: EventExplanation): string[] {
  const kind = e.object === "event" ? "snapshot event" : "thin event";
  const mode = e.livemode ? "live mode" : "test mode";
  const lines = [`${e.id} ${e.type} (${kind}, ${mode}${e.account ? `, account ${e.account}` : ""})`];
  lines.push(
    e.unhandled
      ? "  matched no handler pattern: the unhandled actions apply"
      : `  matched ${e.matched.map((p) => JSON.stringify(p)).join(", ")}`,
  );
  if (e.actions.length === 0) lines.push("  no actions: it would be stored and acknowledged, and nothing run");
  e.actions.forEach((a, i) => {
    const from = a.pattern === null ? "unhandled" : JSON.stringify(a.pattern);
    const verdict =
      a.status === "run" ? "would run" : `${a.status === "skipped" ? "skipped" : "would fail"}: ${a.reason}`;
    lines.push(`  ${i + 1}. ${a.name} (${a.kind}, from ${from}): ${verdict}`);
    if (a.held) lines.push(`       ${holdLine(a.held)}`);
    if (a.order_key !== null) lines.push(`       order key: ${JSON.stringify(a.order_key)}`);
    if (a.fetch) {
      lines.push(
        `       first fetches ${a.fetch.join(" and ")} from Stripe (not here: fetched.* is empty in this explanation)`,
      );
    }
    lines.push(...details(a).map((line) => `       ${line}`));
  });
  return lines;
}

/** The hold in words; who and why were typed by an operator, so they are escaped. */
function holdLine(held: Held): string {
  if (held.state === "breaker open") {
    return `breaker open since ${held.since} after ${held.failures} failures: its deliveries wait for a probe to succeed`;
  }
  const why = held.reason === null ? "" : `: ${escapeControl(held.reason)}`;
  return `paused by ${escapeControl(held.by)} since ${held.since}${why}; its deliveries wait (payhook actions resume)`;
}

function details(a: ActionExplanation): string[] {
  if (a.log) return [`line: ${a.log.line}`];
  if (a.forward) {
    const { url, headers, timeout_ms, signed, scheme } = a.forward;
    return [
      `POST ${url}`,
      `headers: ${headers.join(", ")} (values not shown)`,
      `timeout: ${timeout_ms} ms${signed ? `; signed with ${scheme === "stripe" ? "a Stripe-Signature header, as Stripe signs" : "Standard Webhooks headers"}` : ""}`,
    ];
  }
  if (a.exec) {
    const { argv, env, cwd, timeout_ms } = a.exec;
    return [
      `argv: ${JSON.stringify(argv)}`,
      `env: ${env.join(", ")} (values not shown)`,
      `cwd: ${JSON.stringify(cwd)}; timeout: ${timeout_ms} ms; stdin: the event's JSON`,
    ];
  }
  if (a.file) return [`append one line to ${JSON.stringify(a.file.path)}${a.file.fsync ? ", flushed to disk" : ""}`];
  return [];
}
