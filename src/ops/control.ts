/**
 * @module The operator's acts, shared by the command line and the page: retry now, pause, resume, discard, each recorded
 * in the store's audit trail with who did it, when, on what and how many deliveries it changed; and the queue's
 * state per action that `payhook status`, `payhook actions list` and the page show.
 */
import os from "node:os";
import type { Action } from "../actions/types.ts";
import type {
  ActionControl,
  ActionStats,
  DiscardResult,
  DiscardSelection,
  RetryResult,
  RetrySelection,
  Store,
} from "../store/types.ts";

/** Who acts from the command line: the local user, as the audit trail names them. */
export function localUser(): string {
  let name = "unknown";
  try {
    name = os.userInfo().username;
  } catch {
    // No passwd entry (a container's numeric user): the uid says enough.
    name = `uid ${process.getuid?.() ?? "?"}`;
  }
  return `${name}@${os.hostname()} (command line)`;
}

export const RETRY_STATUSES = ["pending", "failed", "dead"] as const;
export type RetryStatus = (typeof RETRY_STATUSES)[number];

/** Makes the chosen deliveries due now and records the act. */
export async function retryNow(
  store: Store,
  selection: RetrySelection,
  who: string,
  target: string,
  now = Date.now(),
): Promise<RetryResult> {
  const result = await store.retryNow(selection, now);
  await store.audit({ at: now, who, act: "retry", target, count: result.moved });
  return result;
}

/** Marks the chosen deliveries of an action discarded and records the act (also when none was). */
export async function discard(
  store: Store,
  selection: DiscardSelection,
  who: string,
  now = Date.now(),
): Promise<DiscardResult> {
  const result = await store.discard(selection, now);
  const target = `action ${selection.action} (${selection.statuses.join(",")})`;
  await store.audit({ at: now, who, act: "discard", target, count: result.discarded });
  return result;
}

/** What a discard would take now and what it would leave: the dry run's and the question's numbers. */
export async function discardPreview(store: Store, selection: DiscardSelection): Promise<DiscardResult> {
  const s = (await store.actionStats()).find((x) => x.action === selection.action);
  const all = ["pending", "failed", "dead"] as const;
  const count = (list: readonly string[]) =>
    all.filter((st) => list.includes(st)).reduce((n, st) => n + (s?.byStatus[st] ?? 0), 0);
  return {
    discarded: count(selection.statuses),
    left: { running: s?.byStatus.running ?? 0, unchosen: count(all.filter((st) => !selection.statuses.includes(st))) },
  };
}

/** Pauses an action; resolves false when it already was. */
export async function pause(store: Store, action: string, who: string, reason?: string, now = Date.now()) {
  const changed = await store.setPaused(action, { by: who, ...(reason ? { reason } : {}) }, now);
  if (changed) {
    const held = (await store.actionStats()).find((s) => s.action === action)?.byStatus.pending ?? 0;
    await store.audit({ at: now, who, act: "pause", target: reason ? `${action}: ${reason}` : action, count: held });
  }
  return changed;
}

/** Resumes an action and closes its breaker; resolves false when it was neither paused nor held by its breaker. */
export async function resume(store: Store, action: string, who: string, now = Date.now()) {
  const before = (await store.controls()).find((c) => c.action === action);
  const changed = await store.setPaused(action, null, now);
  if (changed) {
    const held = (await store.actionStats()).find((s) => s.action === action)?.byStatus.pending ?? 0;
    const act = before?.paused ? "resume" : "close breaker";
    await store.audit({ at: now, who, act, target: action, count: held });
  }
  return changed;
}

/** One action as status shows it. */
export interface ActionState {
  action: string;
  pending: number;
  running: number;
  failed: number;
  dead: number;
  /** Unix ms, or null. */
  oldestPendingAt: number | null;
  /** "running", "paused" or "breaker open"; "removed" when the config has no such action (only the store has). */
  state: "running" | "paused" | "breaker open" | "removed";
  paused: ActionControl["paused"];
  breaker: ActionControl["breaker"];
  failures: number;
  /** As configured, such as "20/s"; null when unlimited. */
  rate: string | null;
}

/** Every action the config has or the store holds deliveries of, with its queue and operator state. */
export async function actionStates(store: Store, actions: ReadonlyMap<string, Action>): Promise<ActionState[]> {
  const [stats, controls] = await Promise.all([store.actionStats(), store.controls()]);
  const names = new Set([...actions.keys(), ...stats.map((s) => s.action), ...controls.map((c) => c.action)]);
  return [...names].sort().map((name) => {
    const s: ActionStats | undefined = stats.find((x) => x.action === name);
    const c = controls.find((x) => x.action === name);
    const rate = actions.get(name)?.rate;
    return {
      action: name,
      pending: s?.byStatus.pending ?? 0,
      running: s?.byStatus.running ?? 0,
      failed: s?.byStatus.failed ?? 0,
      dead: s?.byStatus.dead ?? 0,
      oldestPendingAt: s?.oldestPendingAt ?? null,
      state: !actions.has(name) ? "removed" : c?.paused ? "paused" : c?.breaker ? "breaker open" : "running",
      paused: c?.paused ?? null,
      breaker: c?.breaker ?? null,
      failures: c?.failures ?? 0,
      rate: rate ? rate.text : null,
    };
  });
}
