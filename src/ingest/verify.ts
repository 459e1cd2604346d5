/**
 * @module Stripe-Signature verification with the official `stripe` package over WebCrypto.
 *
 * stripe-node does the HMAC and the constant-time compare; payhook checks first what stripe-node lets through
 * and Stripe never sends (docs/how-it-works.md#where-payhook-is-stricter-than-stripe-node): an empty body, a BOM or invalid UTF-8 (stripe-node
 * decodes leniently and would verify a different string than the bytes received), a `t` that is not all digits
 * or appears twice, a timestamp in the future, more than 16 signatures.
 */
import Stripe from "stripe";
import { VerificationError } from "../errors.ts";
import { describeEvent, isRecord, notAnEvent, type VerifiedEvent } from "../store/event.ts";

export interface VerifyOptions {
  /** Tried in order; a plain string is labelled by its position ("1", "2", …). */
  secrets: readonly (string | { label: string; secret: string })[];
  /** Seconds. */
  tolerance: number;
  /** Unix milliseconds; injectable so tests make stale and future timestamps by value. */
  now?: () => number;
}

export type Verifier = (raw: Uint8Array, header: string | null) => Promise<VerifiedEvent>;

const MAX_SIGNATURES = 16;
const TIMESTAMP = /^[0-9]{1,12}$/;
const SIGNATURE = /^[0-9a-f]{64}$/;
const RAW_BODY_HINT =
  "Is the raw request body forwarded unchanged, and is this endpoint's secret the one Stripe shows for it?";

const cryptoProvider = Stripe.createSubtleCryptoProvider();
// parseEventNotificationAsync is an instance method; this client only ever verifies and parses, never calls the API.
// Made on the first thin event: a client builds every API resource, memory that snapshot-only servers never need.
let offlineClient: Stripe | undefined;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function createVerifier(options: VerifyOptions): Verifier {
  const { tolerance } = options;
  const secrets = options.secrets.map((s, i) => (typeof s === "string" ? { label: String(i + 1), secret: s } : s));
  const now = options.now ?? Date.now;
  return async (raw, header) => {
    const { timestamp, canonical } = checkHeader(header);
    const age = Math.floor(now() / 1000) - timestamp;
    if (age > tolerance) {
      throw new VerificationError(
        "timestamp_too_old",
        `the signature's timestamp is ${age}s old, more than the tolerance of ${tolerance}s. A replayed request, or is this machine's clock wrong?`,
      );
    }
    if (-age > tolerance) {
      throw new VerificationError(
        "timestamp_in_future",
        `the signature's timestamp is ${-age}s in the future, more than the tolerance of ${tolerance}s. Is this machine's clock wrong?`,
      );
    }
    const text = decodeBody(raw);
    for (const { label, secret } of secrets) {
      const event = await verifyWith(text, canonical, secret, tolerance, now());
      // Known here at no cost, and stored with the event in the same commit.
      if (event) return Object.assign(event, { verifiedBy: label });
    }
    throw new VerificationError(
      "signature_mismatch",
      `no signature in the Stripe-Signature header matches the body under any configured secret. ${RAW_BODY_HINT}`,
    );
  };
}

/**
 * Checks the header's shape strictly. stripe-node gets only `canonical` (t and the well-formed v1 values), so
 * the values skipped here stay skipped: its lenient parse would read `v1=<sig>=extra` as `<sig>`.
 */
function checkHeader(header: string | null): { timestamp: number; canonical: string } {
  if (header === null || header === "") {
    throw new VerificationError(
      "missing_signature",
      "the request has no Stripe-Signature header. Is it coming from Stripe or `stripe listen`?",
    );
  }
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const item of header.split(",")) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    if (eq < 0) throw malformed(`"${item.slice(0, 8)}…" is not a key=value pair`);
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (key === "t") {
      if (timestamp !== undefined) throw malformed("it has more than one t= timestamp");
      if (!TIMESTAMP.test(value)) throw malformed("its t= timestamp is not a whole number of seconds");
      timestamp = value;
    } else if (key === "v1" && SIGNATURE.test(value)) {
      // Values that are not 64 lowercase hex digits can never match; like stripe-go, they are skipped.
      signatures.push(`v1=${value}`);
    }
  }
  if (timestamp === undefined) throw malformed("it has no t= timestamp");
  if (signatures.length === 0) {
    throw new VerificationError(
      "no_signatures",
      "the Stripe-Signature header has no v1= signature of 64 hex digits (other schemes such as v0 are ignored)",
    );
  }
  if (signatures.length > MAX_SIGNATURES) throw malformed(`it has more than ${MAX_SIGNATURES} v1= signatures`);
  return { timestamp: Number(timestamp), canonical: [`t=${timestamp}`, ...signatures].join(",") };
}

function malformed(why: string): VerificationError {
  return new VerificationError("malformed_signature", `the Stripe-Signature header is malformed: ${why}`);
}

function decodeBody(raw: Uint8Array): string {
  if (raw.byteLength === 0) {
    throw new VerificationError("empty_body", `the request body is empty. ${RAW_BODY_HINT}`);
  }
  if (raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf) {
    throw new VerificationError("invalid_encoding", `the body starts with a byte order mark. ${RAW_BODY_HINT}`);
  }
  try {
    return utf8.decode(raw);
  } catch {
    throw new VerificationError("invalid_encoding", `the body is not valid UTF-8. ${RAW_BODY_HINT}`);
  }
}

/** The event if `secret` verifies it, null if the signature does not match under this secret. */
async function verifyWith(
  text: string,
  header: string,
  secret: string,
  tolerance: number,
  receivedAt: number,
): Promise<VerifiedEvent | null> {
  let event: Stripe.Event;
  try {
    event = await Stripe.webhooks.constructEventAsync(text, header, secret, tolerance, cryptoProvider, receivedAt);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeSignatureVerificationError) return null;
    // stripe-node verifies the signature before it parses, so from here on the body is authentic.
    return verifiedButNotSnapshot(text, header, secret, tolerance, receivedAt);
  }
  // A signed `null`, number or array parses without error in stripe-node, and is no event.
  if (!isRecord(event)) throw notAnEvent();
  return describeEvent(event, "event");
}

/** A signed body that constructEventAsync refused: a thin event, or not an event at all. */
async function verifiedButNotSnapshot(
  text: string,
  header: string,
  secret: string,
  tolerance: number,
  receivedAt: number,
): Promise<VerifiedEvent> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new VerificationError("invalid_json", "the body is correctly signed but is not valid JSON");
  }
  if (!isRecord(parsed) || parsed.object !== "v2.core.event") throw notAnEvent();
  // The matching API for thin events: it verifies again and checks the notification's shape. It throws plain
  // errors (a TypeError for a non-string context) on shapes it does not expect: those are not events either.
  try {
    offlineClient ??= new Stripe("sk_test_payhook_offline_verification_only");
    await offlineClient.parseEventNotificationAsync(text, header, secret, tolerance, cryptoProvider, receivedAt);
  } catch {
    throw notAnEvent();
  }
  return describeEvent(parsed, "v2.core.event");
}
