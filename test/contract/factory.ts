/**
 * @module Builders for what the Store contract suites store (River's testfactory): an event as the accept path
 * hands it over, and deliveries of named actions. Defaults are a plain invoice.paid pushed to /webhook; each suite
 * overrides only what its test is about.
 */
import type { IncomingEvent, NewDelivery } from "../../src/store/types.ts";

/** The clock most contract tests run at. */
export const NOW = 1_760_000_000_000;

/** An event with id `id`, received at NOW (`created` follows `receivedAt` unless given), its body `{"id":…}`. */
export function incoming(id: string, overrides: Partial<IncomingEvent> = {}): IncomingEvent {
  const receivedAt = overrides.receivedAt ?? NOW;
  return {
    id,
    type: "invoice.paid",
    object: "event",
    livemode: false,
    account: null,
    apiVersion: "2025-09-30.clover",
    created: Math.floor(receivedAt / 1000),
    receivedAt,
    endpoint: "/webhook",
    body: new TextEncoder().encode(`{"id":"${id}"}`),
    ...overrides,
  };
}

/** Deliveries of the named actions, each with its own digest. */
export function deliveries(...actions: string[]): NewDelivery[] {
  return actions.map((action) => ({ action, digest: `digest-${action}` }));
}
