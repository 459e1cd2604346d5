/**
 * @module The /metrics gauges of operator control, read from the store at each scrape: which actions are paused
 * or have their breaker open, and how many pending deliveries each holds.
 */
import type { ActionControl, ActionStats } from "../store/types.ts";
import { Exposition } from "./metrics.ts";

export function renderControl(controls: readonly ActionControl[], stats: readonly ActionStats[]): string {
  const out = new Exposition();
  const held = controls.filter((c) => c.paused || c.breaker);
  out.family("payhook_action_paused", "gauge", "1 while an operator has paused the action.");
  for (const c of held) out.sample("payhook_action_paused", { action: c.action }, c.paused ? 1 : 0);
  out.family("payhook_action_breaker_open", "gauge", "1 while the action's breaker is open.");
  for (const c of held) out.sample("payhook_action_breaker_open", { action: c.action }, c.breaker ? 1 : 0);
  out.family("payhook_action_held_deliveries", "gauge", "Pending deliveries a paused action or open breaker holds.");
  for (const c of held) {
    const pending = stats.find((s) => s.action === c.action)?.byStatus.pending ?? 0;
    out.sample("payhook_action_held_deliveries", { action: c.action }, pending);
  }
  return out.text();
}
