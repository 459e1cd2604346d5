/** Verification: stripe-node's behaviour where it is right, stricter where Stripe never sends the input. */
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import Stripe from "stripe";
import { VerificationError } from "../../src/errors.ts";
import { createVerifier } from "../../src/ingest/verify.ts";

const S = "whsec_test_secret";
const ROLLED = "whsec_rolled_secret";
const P = '{"id":"evt_test_webhook","object":"event"}';
const T = 1_700_000_000;
const at = (seconds: number) => () => seconds * 1000;
const bytes = (text: string) => new TextEncoder().encode(text);
const hmac = (secret: string, t: number | string, body: Uint8Array | string) =>
  createHmac("sha256", secret).update(`${t}.`).update(body).digest("hex");
const provider = Stripe.createSubtleCryptoProvider();

async function outcome(
  body: Uint8Array | string,
  header: string | null,
  options: { secrets?: string[]; now?: number; tolerance?: number } = {},
): Promise<string> {
  const verify = createVerifier({
    secrets: options.secrets ?? [S],
    tolerance: options.tolerance ?? 300,
    now: at(options.now ?? T),
  });
  try {
    const event = await verify(typeof body === "string" ? bytes(body) : body, header);
    return `ok:${event.id}`;
  } catch (error) {
    if (error instanceof VerificationError) return error.code;
    throw error;
  }
}

describe("A1 known-answer vectors (HMAC-SHA256 over the raw bytes, key = the whole whsec_ string)", () => {
  test.each([
    ["K1", S, P, "d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990"],
    ["K2", ROLLED, P, "73d94cc4a261effeb4192890b5339a177d16f10336f078f81bf5d2bade193da2"],
    [
      "K3",
      S,
      JSON.stringify(JSON.parse(P), null, 2),
      "4f1cd7feda9826e746b7d482c4badebb657398df1099e1046364f6196a230150",
    ],
    [
      "K4",
      S,
      '{"id":"evt_1","object":"event","name":"é😀"}',
      "7240aef5384ff15edbbb653decc6ec22bd7882cbe8b833301f84564406a27545",
    ],
  ])("%s: the signature verifies, and one wrong digit does not", async (_, secret, body, signature) => {
    expect(hmac(secret, T, body)).toBe(signature);
    // The vectors' bodies have no "type", so a verified one is then refused as not an event: after the HMAC.
    expect(await outcome(body, `t=${T},v1=${signature}`, { secrets: [secret] })).toBe("invalid_event");
    const wrong = `${signature.slice(0, -1)}${signature.endsWith("0") ? "1" : "0"}`;
    expect(await outcome(body, `t=${T},v1=${wrong}`, { secrets: [secret] })).toBe("signature_mismatch");
  });

  test("K1 is what the stripe package itself emits", async () => {
    const header = await Stripe.webhooks.generateTestHeaderStringAsync({
      payload: P,
      secret: S,
      timestamp: T,
      cryptoProvider: provider,
    });
    expect(header).toBe("t=1700000000,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990");
  });

  test("K5: a BOM-prefixed body is refused even with the signature over its raw bytes", async () => {
    const body = new Uint8Array([0xef, 0xbb, 0xbf, ...bytes(P)]);
    expect(hmac(S, T, body)).toBe("ebd532ddc4f6cc250e64cf91689e6e94a5d4f051ad0a78f8eefb2841419ec0c9");
    expect(await outcome(body, `t=${T},v1=${hmac(S, T, body)}`)).toBe("invalid_encoding");
    // stripe-node would accept this one (it strips the BOM before hashing); payhook does not.
    expect(await outcome(body, `t=${T},v1=${hmac(S, T, P)}`)).toBe("invalid_encoding");
  });

  test("K6: a thin event verifies and is recognised as one", async () => {
    const thin =
      '{"id":"evt_test_65R9","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered","created":"2026-01-01T00:00:00.000Z"}';
    expect(hmac(S, T, thin)).toBe("115acd319158c2ed7f3404472c99b4411e7d2e4969b9717f33ba44c629585836");
    const verify = createVerifier({ secrets: [S], tolerance: 300, now: at(T) });
    const event = await verify(bytes(thin), `t=${T},v1=${hmac(S, T, thin)}`);
    expect(event).toMatchObject({ id: "evt_test_65R9", object: "v2.core.event", created: 1767225600 });
  });
});

describe("verification table", () => {
  const P = '{"id":"evt_test_webhook","object":"event","type":"payment_intent.succeeded"}';
  const valid = `t=${T},v1=${hmac(S, T, P)}`;
  test.each<[string, () => [Uint8Array | string, string | null, Parameters<typeof outcome>[2]?], string]>([
    ["valid", () => [P, valid], "ok:evt_test_webhook"],
    [
      "two secrets, the second matches (rotation)",
      () => [P, `t=${T},v1=${hmac(ROLLED, T, P)}`, { secrets: [S, ROLLED] }],
      "ok:evt_test_webhook",
    ],
    ["several v1, one valid", () => [P, `t=${T},v1=${"0".repeat(64)},v1=${hmac(S, T, P)}`], "ok:evt_test_webhook"],
    ["v0 and unknown keys are ignored", () => [P, `${valid},v0=deadbeef,foo=bar`], "ok:evt_test_webhook"],
    ["a malformed extra v1 is skipped (stripe-go X4)", () => [P, `${valid},v1=bad_signature`], "ok:evt_test_webhook"],
    ["stale: 301 s old", () => [P, `t=${T - 301},v1=${hmac(S, T - 301, P)}`], "timestamp_too_old"],
    ["just in time: 299 s old", () => [P, `t=${T - 299},v1=${hmac(S, T - 299, P)}`], "ok:evt_test_webhook"],
    ["future beyond tolerance", () => [P, `t=${T + 301},v1=${hmac(S, T + 301, P)}`], "timestamp_in_future"],
    ["future within tolerance", () => [P, `t=${T + 60},v1=${hmac(S, T + 60, P)}`], "ok:evt_test_webhook"],
    ["tampered body", () => [P.replace("webhook", "webhooK"), valid], "signature_mismatch"],
    ["tampered t", () => [P, `t=${T + 1},v1=${hmac(S, T, P)}`], "signature_mismatch"],
    ["trailing newline added to the body", () => [`${P}\n`, valid], "signature_mismatch"],
    ["re-serialised body", () => [JSON.stringify(JSON.parse(P), null, 2), valid], "signature_mismatch"],
    ["space after a comma in the header", () => [P, `t=${T}, v1=${hmac(S, T, P)}`], "no_signatures"],
    ["uppercase hex", () => [P, `t=${T},v1=${hmac(S, T, P).toUpperCase()}`], "no_signatures"],
    ["v1 with a trailing =extra", () => [P, `t=${T},v1=${hmac(S, T, P)}=extra`], "no_signatures"],
    ["only v0", () => [P, `t=${T},v0=${hmac(S, T, P)}`], "no_signatures"],
    ["empty v1", () => [P, `t=${T},v1=`], "no_signatures"],
    ["empty body", () => ["", `t=${T},v1=${hmac(S, T, "")}`], "empty_body"],
    ["missing header", () => [P, null], "missing_signature"],
    ["empty header", () => [P, ""], "missing_signature"],
    ["not key=value", () => [P, "I'm not even a real signature header"], "malformed_signature"],
    ["no t", () => [P, `v1=${hmac(S, T, P)}`], "malformed_signature"],
    ["t not all digits (parseInt would accept it)", () => [P, `t=${T}abc,v1=${hmac(S, T, P)}`], "malformed_signature"],
    ["t with a sign", () => [P, `t=+${T},v1=${hmac(S, T, P)}`], "malformed_signature"],
    ["two t", () => [P, `t=${T},t=${T - 1},v1=${hmac(S, T, P)}`], "malformed_signature"],
    [
      "more than 16 v1",
      () => [P, `t=${T},${`v1=${"a".repeat(64)},`.repeat(16)}v1=${hmac(S, T, P)}`],
      "malformed_signature",
    ],
    [
      "invalid UTF-8",
      () => [
        new Uint8Array([...bytes('{"id":"evt_1","x":"'), 0xff, ...bytes('"}')]),
        `t=${T},v1=${hmac(S, T, new Uint8Array([...bytes('{"id":"evt_1","x":"'), 0xff, ...bytes('"}')]))}`,
      ],
      "invalid_encoding",
    ],
    ["signed, not JSON", () => ["} not json", `t=${T},v1=${hmac(S, T, "} not json")}`], "invalid_json"],
    [
      "signed, no id",
      () => ['{"object":"event","type":"x"}', `t=${T},v1=${hmac(S, T, '{"object":"event","type":"x"}')}`],
      "invalid_event",
    ],
    [
      "signed, unknown object",
      () => [
        '{"id":"evt_1","object":"charge","type":"x"}',
        `t=${T},v1=${hmac(S, T, '{"id":"evt_1","object":"charge","type":"x"}')}`,
      ],
      "invalid_event",
    ],
    [
      "signed with the secret lacking its whsec_ prefix (E26)",
      () => [P, `t=${T},v1=${hmac("test_secret", T, P)}`],
      "signature_mismatch",
    ],
  ])("%s", async (_, input, expected) => {
    const [body, header, options] = input();
    expect(await outcome(body, header, options)).toBe(expected);
  });
});

describe("what the verified event carries", () => {
  test("id, type, livemode, account, api_version, created and the parsed payload come from the one parse", async () => {
    const body = JSON.stringify({
      id: "evt_B",
      object: "event",
      type: "invoice.paid",
      livemode: true,
      account: "acct_123",
      api_version: "2025-09-30.clover",
      created: 1_699_999_999,
    });
    const verify = createVerifier({ secrets: [S], tolerance: 300, now: at(T) });
    expect(await verify(bytes(body), `t=${T},v1=${hmac(S, T, body)}`)).toEqual({
      id: "evt_B",
      type: "invoice.paid",
      object: "event",
      livemode: true,
      account: "acct_123",
      apiVersion: "2025-09-30.clover",
      created: 1_699_999_999,
      payload: JSON.parse(body),
      objectId: null,
      customerId: null,
      verifiedBy: "1",
    });
  });

  test.each([
    ["a charge names its customer", { object: "charge", id: "ch_1", customer: "cus_1" }, "ch_1", "cus_1"],
    [
      "an expanded customer gives its id",
      { object: "invoice", id: "in_1", customer: { id: "cus_2" } },
      "in_1",
      "cus_2",
    ],
    ["a customer is its own customer", { object: "customer", id: "cus_3" }, "cus_3", "cus_3"],
    ["non-string ids are ignored", { object: "charge", id: 5, customer: ["x"] }, null, null],
  ])("search ids: %s", async (_name, object, objectId, customerId) => {
    const body = JSON.stringify({ id: "evt_C", object: "event", type: "x.y", data: { object } });
    const verify = createVerifier({ secrets: [S], tolerance: 300, now: at(T) });
    const event = await verify(bytes(body), `t=${T},v1=${hmac(S, T, body)}`);
    expect([event.objectId, event.customerId]).toEqual([objectId, customerId]);
  });

  test("duplicate JSON keys: the id is the one the same parse gives actions (last wins)", async () => {
    const body = '{"id":"evt_A","id":"evt_B","object":"event","type":"x.y"}';
    expect(await outcome(body, `t=${T},v1=${hmac(S, T, body)}`)).toBe("ok:evt_B");
  });

  test("messages never contain the secret or the expected signature", async () => {
    const verify = createVerifier({ secrets: [S], tolerance: 300, now: at(T) });
    const error = await verify(bytes(P), `t=${T},v1=${"0".repeat(64)}`).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(VerificationError);
    expect((error as Error).message).toContain("raw request body");
    expect((error as Error).message).not.toContain(S);
    expect((error as Error).message).not.toContain(hmac(S, T, P));
  });
});

test("the event names the label of the secret that verified it, never the secret", async () => {
  const body = JSON.stringify({ id: "evt_L", object: "event", type: "invoice.paid", created: T });
  const verify = createVerifier({
    secrets: [
      { label: "current", secret: S },
      { label: "previous", secret: ROLLED },
    ],
    tolerance: 300,
    now: at(T),
  });
  expect((await verify(bytes(body), `t=${T},v1=${hmac(S, T, body)}`)).verifiedBy).toBe("current");
  expect((await verify(bytes(body), `t=${T},v1=${hmac(ROLLED, T, body)}`)).verifiedBy).toBe("previous");
  // Plain strings are labelled by their position.
  const plain = createVerifier({ secrets: [S, ROLLED], tolerance: 300, now: at(T) });
  expect((await plain(bytes(body), `t=${T},v1=${hmac(ROLLED, T, body)}`)).verifiedBy).toBe("2");
});
