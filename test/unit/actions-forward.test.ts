/** forward: every outcome against a real 127.0.0.1 sink, URL and header injection, and the Standard Webhooks signature. */
import { afterAll, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { createHmac } from "node:crypto";
import Stripe from "stripe";
import { compileUrl } from "../../src/actions/forward-url.ts";
import { createSigner, decodeSecret, webhookId } from "../../src/actions/standard-webhooks.ts";
import { attemptOf, compile, compileOrProblems } from "../helpers/actions.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import { event } from "../helpers/stripe.ts";

let sink: Sink;
beforeAll(async () => {
  sink = await startSink();
});
afterAll(() => sink.close());

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

function forwardTo(path: string, extra: Record<string, unknown> = {}) {
  return compile({ forward: { url: `${sink.url}${path}`, timeout: "300ms", ...extra } });
}

describe("forward outcomes", () => {
  test("2xx: done; the raw bytes, the idempotency key and the event headers arrive", async () => {
    // Pretty-printed with a number beyond double precision: only the original bytes keep it.
    const raw = event("payment_intent.succeeded", { big: "BIG" }).replace('"BIG"', "12345678901234567890123");
    const outcome = await forwardTo("/ok")(attemptOf(raw, 3));
    expect(outcome).toMatchObject({ ok: true });
    const [request] = sink.to("/ok");
    expect(new TextDecoder().decode(request?.body)).toBe(raw);
    const id = JSON.parse(raw).id;
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.headers["idempotency-key"]).toBe(`${id}:test-action`);
    expect(request?.headers["payhook-event-id"]).toBe(id);
    expect(request?.headers["payhook-event-type"]).toBe("payment_intent.succeeded");
    expect(request?.headers["payhook-attempt"]).toBe("3");
  });

  test.each([
    ["500", { ok: false, retry: true }],
    ["429", { ok: false, retry: true }],
    ["410", { ok: false, retry: false, dead: true }],
    ["404", { ok: false, retry: false }],
  ] as const)("HTTP %s", async (mode, expected) => {
    sink.plan(`/status-${mode}`, [mode]);
    const outcome = await forwardTo(`/status-${mode}`)(attemptOf(event()));
    expect(outcome).toMatchObject(expected);
    expect(outcome.ok ? "" : outcome.error).toContain(`answered ${mode}`);
    // Only a 429 (or 503) asks to slow the whole action; this one says for how long no more than a 500 does.
    expect(outcome.ok ? undefined : [outcome.slowDown, outcome.notBefore]).toEqual(
      mode === "429" ? [true, undefined] : [undefined, undefined],
    );
  });

  test("503 with Retry-After: retried no sooner than it asks", async () => {
    sink.plan("/busy", ["503"]);
    const before = Date.now();
    const outcome = await forwardTo("/busy")(attemptOf(event()));
    expect(outcome).toMatchObject({ ok: false, retry: true, slowDown: true });
    expect(outcome.ok ? 0 : (outcome.notBefore ?? 0)).toBeGreaterThanOrEqual(before + 1000);
  });

  test("retry_on makes a 4xx retried", async () => {
    sink.plan("/missing", ["404"]);
    const outcome = await forwardTo("/missing", { retry_on: [404] })(attemptOf(event()));
    expect(outcome).toMatchObject({ ok: false, retry: true });
  });

  test("a redirect is a failure and is never followed", async () => {
    sink.plan("/moved", ["302"]);
    const outcome = await forwardTo("/moved")(attemptOf(event()));
    expect(outcome).toMatchObject({ ok: false, retry: false });
    expect(outcome.ok ? "" : outcome.error).toContain("redirects are never followed");
    expect(sink.to("/redirect-target")).toHaveLength(0);
  });

  test("a service that never answers ends at the timeout and is retried", async () => {
    sink.plan("/hang", ["hang"]);
    const outcome = await forwardTo("/hang")(attemptOf(event()));
    expect(outcome).toMatchObject({ ok: false, retry: true });
    expect(outcome.ok ? "" : outcome.error).toContain("no answer within 300 ms");
  });

  test("a reset connection and a refused one are retried", async () => {
    sink.plan("/reset", ["reset"]);
    expect(await forwardTo("/reset")(attemptOf(event()))).toMatchObject({ ok: false, retry: true });
    const refused = compile({ forward: { url: "http://127.0.0.1:9/x", timeout: "300ms" } });
    expect(await refused(attemptOf(event()))).toMatchObject({ ok: false, retry: true });
  });

  test("a 200 whose body never ends is done once the status is in, cut at the timeout", async () => {
    sink.plan("/slow", ["slow"]);
    const outcome = await forwardTo("/slow")(attemptOf(event()));
    expect(outcome).toMatchObject({ ok: true });
    expect(outcome.output).toContain("HTTP 200");
  });

  test("the idempotency key is the same on every attempt", async () => {
    sink.plan("/flaky", ["500", "500", "200"]);
    const raw = event();
    const run = forwardTo("/flaky");
    const outcomes = [await run(attemptOf(raw, 1)), await run(attemptOf(raw, 2)), await run(attemptOf(raw, 3))];
    expect(outcomes.map((o) => o.ok)).toEqual([false, false, true]);
    const keys = new Set(sink.to("/flaky").map((r) => r.headers["idempotency-key"]));
    expect(keys.size).toBe(1);
  });
});

describe("forward templates", () => {
  const customerEvent = (customer: unknown) =>
    JSON.stringify({ id: "evt_1", type: "customer.updated", data: { object: { id: "x", customer } } });

  test.each([
    ["$(rm -rf /)", "/c/%24(rm%20-rf%20%2F)/paid"],
    ["a; rm -rf ~", "/c/a%3B%20rm%20-rf%20~/paid"],
    ["../admin", "/c/..%2Fadmin/paid"],
    ["x?admin=1#frag", "/c/x%3Fadmin%3D1%23frag/paid"],
    ["@evil.example", "/c/%40evil.example/paid"],
    ["a\r\nX-Admin: 1", "/c/a%0D%0AX-Admin%3A%201/paid"],
  ])("a path value %p arrives percent-encoded in its segment", async (value, path) => {
    const url = compileUrl("http://127.0.0.1:3000/c/{{data.object.customer}}/paid");
    if (typeof url === "string") throw new Error(url);
    expect(url.render(JSON.parse(customerEvent(value)))).toEqual({ url: `http://127.0.0.1:3000${path}` });
  });

  test.each(["..", ".", "%2e%2e", "%2E.", "%252e%252e", ""])("a path value %p is refused", (value) => {
    const url = compileUrl("http://127.0.0.1:3000/c/{{data.object.customer}}/paid");
    if (typeof url === "string") throw new Error(url);
    expect(url.render(JSON.parse(customerEvent(value)))).toHaveProperty("error");
  });

  test("query values are encoded and keys stay static", () => {
    const url = compileUrl("http://127.0.0.1:3000/hook?customer={{data.object.customer}}&v=1");
    if (typeof url === "string") throw new Error(url);
    expect(url.render(JSON.parse(customerEvent("a&admin=1")))).toEqual({
      url: "http://127.0.0.1:3000/hook?customer=a%26admin%3D1&v=1",
    });
  });

  test.each([
    ["http://{{data.object.host}}/x", "scheme, host and port must be written out"],
    ["http://127.0.0.1:{{data.object.port}}/x", "scheme, host and port must be written out"],
    ["{{data.object.url}}", "expected an http(s) URL"],
    ["http://user:pass@127.0.0.1/x", "credentials in the URL are refused"],
    ["http://127.0.0.1/x?{{data.object.k}}=1", "query values only"],
    ["http://127.0.0.1/a/../b", "must not contain . or .."],
    ["ftp://127.0.0.1/x", "expected an http(s) URL"],
  ])("the config %p is refused", (text, message) => {
    expect(compileUrl(text)).toContain(message);
  });

  test("a header value with CR/LF is a permanent failure and nothing is sent", async () => {
    const run = forwardTo("/headers", { headers: { "X-Customer": "{{data.object.customer}}" } });
    const outcome = await run(attemptOf(customerEvent("a\r\nX-Admin: 1")));
    expect(outcome).toMatchObject({ ok: false, retry: false });
    expect(await run(attemptOf(customerEvent("a\u0000b")))).toMatchObject({ ok: false, retry: false });
    expect(sink.to("/headers")).toHaveLength(0);
    expect(await run(attemptOf(customerEvent("cus_ok")))).toMatchObject({ ok: true });
    expect(sink.to("/headers")[0]?.headers["x-customer"]).toBe("cus_ok");
  });

  test("headers payhook sets itself cannot be configured", () => {
    const problems = compileOrProblems({ forward: { url: "http://127.0.0.1/x", headers: { "Idempotency-Key": "x" } } });
    expect(JSON.stringify(problems)).toContain("payhook sets Idempotency-Key itself");
  });
});

describe("forward signing (Standard Webhooks)", () => {
  test("the known-answer vector from the Standard Webhooks test suite", async () => {
    const key = decodeSecret(SECRET);
    if (typeof key === "string") throw new Error(key);
    const headers = await createSigner(key)(
      "msg_p5jXN8AQM9LWM0D4loKWxJek",
      1614265330,
      new TextEncoder().encode('{"test": 2432232314}'),
    );
    expect(headers["webhook-signature"]).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  test("a receiver verifies what is forwarded with the shared secret", async () => {
    const raw = event();
    await forwardTo("/signed", { sign: { secret: SECRET } })(attemptOf(raw));
    const [request] = sink.to("/signed");
    const h = request?.headers ?? {};
    expect(h["webhook-id"]).toBe(webhookId(`${JSON.parse(raw).id}:test-action`));
    expect(h["webhook-id"]).not.toContain(".");
    const key = Buffer.from(SECRET.slice("whsec_".length), "base64");
    const mac = createHmac("sha256", key)
      .update(`${h["webhook-id"]}.${h["webhook-timestamp"]}.`)
      .update(request?.body ?? new Uint8Array())
      .digest("base64");
    expect(h["webhook-signature"]).toBe(`v1,${mac}`);
  });

  test("a secret that is not whsec_ + base64 of 24 to 64 bytes is refused without being shown", () => {
    const problems = JSON.stringify(
      compileOrProblems({ forward: { url: "http://127.0.0.1/x", sign: { secret: "whsec_short" } } }),
    );
    expect(problems).toContain("forward.sign.secret");
    expect(problems).not.toContain("whsec_short");
  });
});

describe("forward signing (Stripe's scheme, for an app that verifies Stripe's webhooks)", () => {
  const APP = "whsec_app_verifies_with_this";

  test("each attempt is signed at its own time, so a retry 10 minutes later still verifies at the app", async () => {
    const raw = event("invoice.paid");
    const run = forwardTo("/stripe-signed", { sign: { scheme: "stripe", secret: APP } });
    const start = Date.UTC(2030, 0, 1);
    const headers: string[] = [];
    try {
      for (const at of [start, start + 10 * 60_000]) {
        setSystemTime(new Date(at));
        expect(await run(attemptOf(raw, headers.length + 1))).toMatchObject({ ok: true });
        const request = sink.to("/stripe-signed").at(-1);
        const header = request?.headers["stripe-signature"] ?? "";
        headers.push(header);
        // What the app does on receipt, with Stripe's default tolerance of 300 s, on the same clock.
        const body = new TextDecoder().decode(request?.body);
        expect(body).toBe(raw);
        const verified = await Stripe.webhooks.constructEventAsync(body, header, APP, 300, undefined, at);
        expect(verified.id).toBe(JSON.parse(raw).id);
        await expect(
          Stripe.webhooks.constructEventAsync(body, header, "whsec_some_other_app", 300, undefined, at),
        ).rejects.toThrow(Stripe.errors.StripeSignatureVerificationError);
      }
    } finally {
      setSystemTime();
    }
    expect(headers[0]).toStartWith(`t=${start / 1000},v1=`);
    expect(headers[1]).toStartWith(`t=${start / 1000 + 600},v1=`);
    // The first attempt's signature is too old by then: reusing it would fail at the app.
    await expect(
      Stripe.webhooks.constructEventAsync(raw, headers[0] ?? "", APP, 300, undefined, start + 600_000),
    ).rejects.toThrow(/Timestamp outside the tolerance zone/);
  });

  test("scheme: stripe wants a whsec_ secret, never repeated; Stripe-Signature cannot also be set by hand", () => {
    const problems = compileOrProblems({
      forward: { url: "http://127.0.0.1/x", sign: { scheme: "stripe", secret: "not-a-secret-value" } },
    });
    expect(JSON.stringify(problems)).toContain("must start with whsec_");
    expect(JSON.stringify(problems)).not.toContain("not-a-secret-value");
    const header = compileOrProblems({
      forward: {
        url: "http://127.0.0.1/x",
        headers: { "Stripe-Signature": "t=1,v1=00" },
        sign: { scheme: "stripe", secret: APP },
      },
    });
    expect(JSON.stringify(header)).toContain("payhook sets Stripe-Signature itself");
  });
});
