/** The hot path as a function: no socket, a stub store, the real verifier. */
import { describe, expect, test } from "bun:test";
import type { Action } from "../../src/actions/types.ts";
import { compileRouter } from "../../src/config/routes.ts";
import { StoreUnavailableError } from "../../src/errors.ts";
import { createAccept } from "../../src/ingest/accept.ts";
import { createLogger } from "../../src/log.ts";
import type { ClaimedDelivery, Ingested, Store } from "../../src/store/types.ts";
import { event, SECRET, sign } from "../helpers/stripe.ts";

const endpoint = {
  path: "/webhook",
  secrets: [SECRET],
  signing: [{ label: "1", secret: SECRET, retiring: false }],
  tolerance: 300,
  maxBody: 64 * 1024,
};
const action = { name: "a", digest: "d" } as Action;

const STORED: Ingested = { status: "stored", claims: [] };

/** The accept path over a stub store, with a worker that has `room` free slots and records what it is given. */
function accept(ingest: Store["ingest"], room = 0) {
  const wakes: number[] = [];
  const runs: ClaimedDelivery[] = [];
  const cancels: string[] = [];
  let free = room;
  const handler = createAccept({
    endpoints: [endpoint],
    router: compileRouter([{ pattern: "*", actions: [action] }], []),
    store: { ingest } as Store,
    log: createLogger({ write: () => {} }),
    worker: {
      wake: () => wakes.push(1),
      reserve: () => free-- > 0,
      cancel: (name) => cancels.push(name),
      run: (delivery) => runs.push(delivery),
    },
  });
  return { handler, wakes, runs, cancels };
}

async function signedRequest(payload = event()) {
  return new Request("http://127.0.0.1/webhook", {
    method: "POST",
    body: payload,
    headers: { "stripe-signature": await sign(payload) },
  });
}

describe("accept", () => {
  test("answers 200 only after the store's commit resolves", async () => {
    let commit: (value: Ingested) => void = () => {};
    let reached: () => void = () => {};
    const storeReached = new Promise<void>((resolve) => (reached = resolve));
    const { handler, wakes } = accept(
      () =>
        new Promise((resolve) => {
          commit = resolve;
          reached();
        }),
    );
    let answered = false;
    const response = handler(await signedRequest()).then((r) => {
      answered = true;
      return r;
    });
    await storeReached;
    await new Promise((resolve) => setTimeout(resolve, 0)); // one turn of the event loop, not a wait for time
    expect(answered).toBe(false);
    commit(STORED);
    expect((await response).status).toBe(200);
    expect(wakes).toHaveLength(1);
  });

  test("stores the raw bytes, the event's fields and one delivery per routed action", async () => {
    const calls: Parameters<Store["ingest"]>[] = [];
    const { handler } = accept(async (...args) => {
      calls.push(args);
      return STORED;
    });
    const payload = event("invoice.paid");
    await handler(await signedRequest(payload));
    const [incoming, deliveries] = calls[0] ?? [];
    expect(new TextDecoder().decode(incoming?.body)).toBe(payload);
    expect(incoming).toMatchObject({ type: "invoice.paid", object: "event", livemode: false, endpoint: "/webhook" });
    expect(deliveries).toEqual([{ action: "a", digest: "d", claimed: false }]);
  });

  test("a store failure is a 503, never a 2xx", async () => {
    const { handler, wakes } = accept(() => Promise.reject(new StoreUnavailableError(new Error("disk I/O error"))));
    const response = await handler(await signedRequest());
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("store_unavailable");
    expect(wakes).toHaveLength(0);
  });

  test("an unexpected error is a 500 with a fixed message, no stack", async () => {
    const { handler } = accept(() => Promise.reject(new TypeError("secret internals")));
    const response = await handler(await signedRequest());
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain("secret internals");
  });

  test("a refused request never reaches the store", async () => {
    let called = false;
    const { handler } = accept(async () => {
      called = true;
      return STORED;
    });
    const response = await handler(
      new Request("http://127.0.0.1/webhook", {
        method: "POST",
        body: event(),
        headers: { "stripe-signature": "t=1,v1=00" },
      }),
    );
    expect(response.status).toBe(400);
    expect(called).toBe(false);
  });

  test("a delivery the worker has room for is stored claimed and handed over with the parsed event", async () => {
    const calls: Parameters<Store["ingest"]>[] = [];
    const { handler, wakes, runs } = accept(async (...args) => {
      calls.push(args);
      return { status: "stored", claims: [{ id: 7, token: 3 }] };
    }, 1);
    const payload = event("invoice.paid");
    expect((await handler(await signedRequest(payload))).status).toBe(200);
    expect(calls[0]?.[1]).toEqual([{ action: "a", digest: "d", claimed: true }]);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id: 7, token: 3, action: "a", digest: "d", attempt: 1, eventType: "invoice.paid" });
    expect(runs[0]?.data).toEqual(JSON.parse(payload));
    expect(new TextDecoder().decode(runs[0]?.body)).toBe(payload);
    // Nothing was stored pending, so the worker has nothing to look for.
    expect(wakes).toHaveLength(0);
  });

  test("without room the delivery is stored pending and the worker woken", async () => {
    const calls: Parameters<Store["ingest"]>[] = [];
    const { handler, wakes, runs } = accept(async (...args) => {
      calls.push(args);
      return STORED;
    }, 0);
    expect((await handler(await signedRequest())).status).toBe(200);
    expect(calls[0]?.[1]).toEqual([{ action: "a", digest: "d", claimed: false }]);
    expect(runs).toHaveLength(0);
    expect(wakes).toHaveLength(1);
  });

  test("a duplicate or a failed commit gives the reserved slots back", async () => {
    const duplicate = accept(async () => ({ status: "duplicate", claims: [] }), 1);
    expect((await duplicate.handler(await signedRequest())).status).toBe(200);
    expect(duplicate.cancels).toEqual(["a"]);
    expect(duplicate.runs).toHaveLength(0);
    const failed = accept(() => Promise.reject(new StoreUnavailableError(new Error("disk I/O error"))), 1);
    expect((await failed.handler(await signedRequest())).status).toBe(503);
    expect(failed.cancels).toEqual(["a"]);
  });

  test("a pretty-printed body with CRLF and trailing spaces verifies as sent (B1)", async () => {
    const { handler } = accept(async () => STORED);
    const payload = `${event().replaceAll("\n", "\r\n")}  \r\n`;
    expect((await handler(await signedRequest(payload))).status).toBe(200);
  });
});
