/** @module An action's operator state as both stores keep it: one row of action_controls, read alike. */
import type { ActionControl } from "./types.ts";

type Row = Record<string, unknown>;

export function toControl(row: Row): ActionControl {
  return {
    action: String(row.action),
    paused:
      row.paused_at === null || row.paused_at === undefined
        ? null
        : {
            at: Number(row.paused_at),
            by: String(row.paused_by),
            reason: row.reason === null || row.reason === undefined ? null : String(row.reason),
          },
    failures: Number(row.failures),
    breaker:
      row.opened_at === null || row.opened_at === undefined
        ? null
        : { openedAt: Number(row.opened_at), probeAt: Number(row.probe_at) },
  };
}
