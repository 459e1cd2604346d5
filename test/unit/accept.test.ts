/** The hot path as a function: no socket, a stub store, the real verifier. */
import { describe, expect, test } from "bun:test";
import { createAccept } from "../../src/accept.ts";
import type { Action } from "../../src/actions/types.ts";
import { StoreUnavailableError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { compileRouter } from "../../src/route.ts";
import type { Store } from "../../src/store/types.ts";
import { event, SECRET, sign } from "../helpers/stripe.ts";

const endpoint = { path: "/webhook", secrets: [SECRET], tolerance: 300, maxBody: 64 * 1024 };
const action = { name: "a", digest: "d" } as Action;

function accept(ingest: Store["ingest"]) {
  const wakes: number[] = [];
  const handler = createAccept({
    endpoints: [endpoint],
    router: compileRouter([{ pattern: "*", actions: [action] }], []),
    store: { ingest } as Store,
    log: createLogger({ write: () => {} }),
    onStored: () => wakes.push(1),
  });
  return { handler, wakes };
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
    let commit: (value: "stored") => void = () => {};
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
    commit("stored");
    expect((await response).status).toBe(200);
    expect(wakes).toHaveLength(1);
  });

  test("stores the raw bytes, the event's fields and one delivery per routed action", async () => {
    const calls: Parameters<Store["ingest"]>[] = [];
    const { handler } = accept(async (...args) => {
      calls.push(args);
      return "stored";
    });
    const payload = event("invoice.paid");
    await handler(await signedRequest(payload));
    const [incoming, deliveries] = calls[0] ?? [];
    expect(new TextDecoder().decode(incoming?.body)).toBe(payload);
    expect(incoming).toMatchObject({ type: "invoice.paid", object: "event", livemode: false, endpoint: "/webhook" });
    expect(deliveries).toEqual([{ action: "a", digest: "d" }]);
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
      return "stored";
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

  test("a pretty-printed body with CRLF and trailing spaces verifies as sent (B1)", async () => {
    const { handler } = accept(async () => "stored");
    const payload = `${event().replaceAll("\n", "\r\n")}  \r\n`;
    expect((await handler(await signedRequest(payload))).status).toBe(200);
  });
});
