/** One wording for a delivery waiting to retry: `payhook events list|show` and the operator page agree. */
import { expect, test } from "bun:test";
import { formatEvent, formatTable } from "../../src/cli/print/events.ts";
import type { EventDetail } from "../../src/store/types.ts";
import { eventPage } from "../../src/ui/screens/event.ts";

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);

/** An event whose one delivery failed once and waits for its second attempt. */
const waiting: EventDetail = {
  id: "evt_words",
  type: "invoice.paid",
  object: "event",
  livemode: false,
  account: null,
  apiVersion: null,
  created: NOW / 1000,
  receivedAt: NOW,
  endpoint: "/webhook",
  objectId: null,
  customerId: null,
  source: "pushed",
  verifiedBy: null,
  body: new TextEncoder().encode('{"id":"evt_words"}'),
  deliveries: [
    {
      id: 1,
      action: "notify",
      digest: "d",
      status: "pending",
      attempts: 1,
      nextAt: NOW + 5_000,
      lastError: "POST http://127.0.0.1:3000/x answered 503",
      orderKey: null,
      backfilledAt: null,
      createdAt: NOW,
      updatedAt: NOW,
      history: [
        {
          attempt: 1,
          startedAt: NOW,
          finishedAt: NOW + 7,
          status: "pending",
          error: "answered 503",
          output: null,
          fetched: null,
        },
      ],
    },
  ],
};

test("events list and show say retrying and failed · retry, as the page does; never pending", () => {
  const table = formatTable([waiting]).join("\n");
  expect(table).toContain("evt_words  invoice.paid  1 retrying");
  const shown = formatEvent(waiting).join("\n");
  expect(shown).toContain("delivery  notify: retrying, next attempt 2026-01-02T03:04:10Z (1 attempt so far)");
  expect(shown).toMatch(/#1 {2}2026-01-02T03:04:05Z {2}7 ms {2}failed · retry$/m);
  const page = eventPage({ csrf: "c", event: waiting, kinds: new Map([["notify", "forward"]]) }).text;
  expect(page).toContain('<span class="badge s-retrying">retrying</span>');
  expect(page).toContain('<span class="badge s-failed">failed</span> <span class="muted">· retry</span>');
  for (const text of [table, shown, page]) expect(text).not.toMatch(/\bpending\b/);
});
