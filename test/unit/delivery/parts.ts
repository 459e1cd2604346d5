/** @module Builders for the delivery parts' unit tests: claimed deliveries, actions, a logger that keeps its lines. */
import type { Action, Outcome } from "../../../src/actions/types.ts";
import { createLogger, type Logger } from "../../../src/log.ts";
import type { ClaimedDelivery } from "../../../src/store/types.ts";

export function claimed(id: number, overrides: Partial<ClaimedDelivery> = {}): ClaimedDelivery {
  return {
    id,
    eventId: `evt_${id}`,
    eventType: "invoice.paid",
    action: "a",
    digest: "d",
    attempt: 1,
    body: new TextEncoder().encode(`{"id":"evt_${id}","object":"event","type":"invoice.paid","data":{}}`),
    ...overrides,
  };
}

export function action(overrides: Partial<Action> = {}, outcome: Outcome = { ok: true }): Action {
  return {
    name: "a",
    kind: "test",
    digest: "d",
    retry: { attempts: 3, schedule: [1_000], jitter: 0 },
    run: async () => outcome,
    plan: () => ({ status: "run", details: { line: "" } }),
    ...overrides,
  };
}

export interface Line {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A logger at debug level whose lines are kept, parsed, in `lines`. */
export function keptLog(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  return { log: createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) }), lines };
}
