/**
 * @module `forward: { url, headers?, timeout?, sign?, retry_on? }`: POSTs the event's original bytes to a service.
 * 2xx → done; 408, 429, 5xx, a timeout or a connection failure → retried (Retry-After is a lower bound; a 429
 * or 503 also asks the worker to slow the whole action); 410 → dead at once; 3xx (never followed) and other 4xx → failed, unless listed in `retry_on`.
 */
import { Type } from "@sinclair/typebox";
import pkg from "../../package.json" with { type: "json" };
import { describe } from "../errors.ts";
import type { Runtime } from "../runtime/types.ts";
import { compileTemplate, type Template } from "../utils/template.ts";
import { Duration, parseDuration } from "../utils/units.ts";
import { ActionBase } from "./base.ts";
import { compileUrl } from "./forward-url.ts";
import { createStripeSigner, STRIPE_SIGNATURE_HEADERS, stripeSecretProblem } from "./sign-stripe.ts";
import { createSigner, decodeSecret, SIGNATURE_HEADERS, type Signer, webhookId } from "./standard-webhooks.ts";
import type { ActionKind, Outcome, PlanContext } from "./types.ts";

const closed = { additionalProperties: false } as const;

export const DEFAULT_FORWARD_TIMEOUT = "10s";
/** Bytes of the response body kept with the attempt, for `payhook events show`. */
const RESPONSE_CAP = 4096;
/** A Retry-After further away than this is not waited for; the schedule takes over from there. */
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BREAKS = /[\r\n\u0000]/;
/** Headers payhook sets itself, or that belong to the HTTP connection rather than the request. */
const RESERVED = new Set([
  "content-type",
  "content-length",
  "transfer-encoding",
  "host",
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "idempotency-key",
  "payhook-event-id",
  "payhook-event-type",
  "payhook-attempt",
  "webhook-id",
  "webhook-timestamp",
  "webhook-signature",
]);

export const ForwardSchema = Type.Object(
  {
    url: Type.String({
      description: "an http(s) URL such as http://127.0.0.1:3000/paid; {{path}} only in path segments and query values",
    }),
    headers: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description: 'a mapping of header names to values such as { Authorization: "Bearer ${INTERNAL_TOKEN}" }',
      }),
    ),
    timeout: Type.Optional(Duration),
    sign: Type.Optional(
      Type.Object(
        {
          scheme: Type.Optional(
            Type.Union([Type.Literal("standard"), Type.Literal("stripe")], {
              description:
                "standard (the default: Standard Webhooks headers) or stripe (a Stripe-Signature header, so an app that verifies Stripe's webhooks accepts it unchanged)",
            }),
          ),
          secret: Type.String({
            description:
              'a Standard Webhooks secret such as "${PAYHOOK_FORWARD_SECRET}"; with scheme: stripe, the app\'s own Stripe signing secret (whsec_…) such as "${APP_WEBHOOK_SECRET}"',
          }),
        },
        { ...closed, description: "signing of what is forwarded: { secret } or { scheme: stripe, secret }" },
      ),
    ),
    retry_on: Type.Optional(
      Type.Array(Type.Integer({ minimum: 300, maximum: 499, description: "an HTTP status from 300 to 499" }), {
        description: "a list of 3xx/4xx statuses to retry instead of failing, such as [404, 409]",
      }),
    ),
  },
  { ...closed, description: "a mapping with url and optional headers, timeout, sign and retry_on" },
);

type ForwardSpec = {
  url: string;
  headers?: Record<string, string>;
  timeout?: string;
  sign?: { scheme?: "standard" | "stripe"; secret: string };
  retry_on?: number[];
};

export const forward: ActionKind = {
  kind: "forward",
  schema: Type.Object({ forward: ForwardSchema, ...ActionBase }, closed),
  compile(spec, context) {
    const settings = spec.forward as ForwardSpec;
    const problems: [string, string][] = [];
    const url = compileUrl(settings.url, context?.fromEnv);
    if (typeof url === "string") problems.push(["forward.url", url]);
    const headers: [string, Template][] = [];
    const scheme = settings.sign?.scheme ?? "standard";
    for (const [name, value] of Object.entries(settings.headers ?? {})) {
      if (!TOKEN.test(name)) problems.push([`forward.headers.${name}`, "is not a valid HTTP header name"]);
      else if (RESERVED.has(name.toLowerCase()) || (scheme === "stripe" && name.toLowerCase() === "stripe-signature")) {
        problems.push([`forward.headers.${name}`, `payhook sets ${name} itself; remove it`]);
      }
      const template = compileTemplate(value);
      if (typeof template === "string") problems.push([`forward.headers.${name}`, template]);
      else headers.push([name, template]);
    }
    const timeoutMs = parseDuration(settings.timeout ?? DEFAULT_FORWARD_TIMEOUT);
    if (timeoutMs <= 0) problems.push(["forward.timeout", "expected a timeout above 0, such as 10s"]);
    const signing = settings.sign ? compileSigner(scheme, settings.sign.secret) : undefined;
    if (typeof signing === "string") problems.push(["forward.sign.secret", signing]);
    const signer = typeof signing === "string" ? undefined : signing?.signer;
    if (problems.length > 0 || typeof url === "string") return { problems };
    const retryOn = new Set(settings.retry_on ?? []);

    /** The URL and headers of an attempt, or why it is refused; `run` and `plan` share it, so they agree. */
    const prepare = ({ event, attempt, idempotencyKey }: PlanContext): Prepared | { error: string } => {
      const target = url.render(event.data);
      if ("error" in target) return { error: `forward refused: ${target.error}` };
      const request = new Headers();
      try {
        for (const [name, template] of headers) {
          const value = template(event.data);
          // A value with a line break could smuggle a header of its own: refuse the request, never send part of it.
          if (BREAKS.test(value)) return { error: `forward refused: the ${name} header rendered a line break or NUL` };
          request.set(name, value);
        }
        // Inside the try: an event id or type that HTTP cannot carry fails this delivery for good, never retried.
        request.set("content-type", "application/json");
        request.set("user-agent", `payhook/${pkg.version}`);
        request.set("idempotency-key", idempotencyKey);
        request.set("payhook-event-id", event.id);
        request.set("payhook-event-type", event.type);
        request.set("payhook-attempt", String(attempt));
      } catch {
        return {
          error: "forward refused: a header rendered a value HTTP cannot carry (only Latin-1 text is allowed)",
        };
      }
      return { url: target.url, headers: request };
    };

    return {
      plan(context) {
        const prepared = prepare(context);
        if ("error" in prepared) return { status: "refused", reason: prepared.error };
        // Header names only, and the URL without the config's query values: they may carry tokens.
        const names = [...prepared.headers.keys(), ...(typeof signing === "object" ? signing.headers : [])];
        return {
          status: "run",
          details: {
            method: "POST",
            url: url.redact(prepared.url),
            headers: names,
            timeout_ms: timeoutMs,
            signed: signer !== undefined,
            ...(signer ? { scheme } : {}),
          },
        };
      },
      async run(context): Promise<Outcome> {
        const prepared = prepare(context);
        if ("error" in prepared) return { ok: false, retry: false, error: prepared.error };
        const { event, idempotencyKey, runtime } = context;
        if (signer) {
          const signed = await signer(webhookId(idempotencyKey), Math.floor(Date.now() / 1000), event.raw);
          for (const [name, value] of Object.entries(signed)) prepared.headers.set(name, value);
        }
        const outcome = await post(runtime.fetch, prepared.url, prepared.headers, event.raw, timeoutMs, retryOn);
        // The error and the response are stored and shown: no part of the URL from the environment may be in them.
        const hide = (text: string) => url.hide(text, prepared.url);
        if (outcome.output !== undefined) outcome.output = hide(outcome.output);
        if (!outcome.ok) outcome.error = hide(outcome.error);
        return outcome;
      },
    };
  },
};

type Prepared = { url: string; headers: Headers };

/** The signer for `sign:` and the headers it adds, or why the secret cannot sign under `scheme`. */
function compileSigner(
  scheme: "standard" | "stripe",
  secret: string,
): { signer: Signer; headers: readonly string[] } | string {
  if (scheme === "stripe") {
    return stripeSecretProblem(secret) ?? { signer: createStripeSigner(secret), headers: STRIPE_SIGNATURE_HEADERS };
  }
  const key = decodeSecret(secret);
  return typeof key === "string" ? key : { signer: createSigner(key), headers: SIGNATURE_HEADERS };
}

async function post(
  send: Runtime["fetch"],
  url: string,
  headers: Headers,
  body: Uint8Array,
  timeoutMs: number,
  retryOn: ReadonlySet<number>,
): Promise<Outcome> {
  // Errors name the origin and path only: a query may carry a token from the config.
  const where = displayUrl(url);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    let response: Response;
    try {
      // The stored bytes, exactly as Stripe sent them: a re-serialisation would change numbers and key order.
      response = await send(url, {
        method: "POST",
        headers,
        body: body as Uint8Array<ArrayBuffer>,
        redirect: "manual",
        signal: controller.signal,
      });
    } catch (error) {
      const why = controller.signal.aborted ? `no answer within ${timeoutMs} ms` : describe(error);
      return { ok: false, retry: true, error: `POST ${where} failed: ${why}` };
    }
    const text = await readSome(response, controller.signal);
    const output = `HTTP ${response.status}${text ? `\n${text}` : ""}`;
    const status = response.status;
    if (status >= 200 && status < 300) return { ok: true, output };
    const error = `POST ${where} answered ${status}${response.statusText ? ` ${response.statusText}` : ""}`;
    if (status === 410) return { ok: false, retry: false, dead: true, error: `${error} (gone: not retried)`, output };
    if (status >= 300 && status < 400 && !retryOn.has(status)) {
      const location = response.headers.get("location");
      return {
        ok: false,
        retry: false,
        error: `${error}, a redirect${location ? ` to ${displayUrl(location, url)}` : ""}; redirects are never followed, so point the url at the final address`,
        output,
      };
    }
    if (status === 408 || status === 429 || status >= 500 || retryOn.has(status)) {
      const notBefore = retryAfter(response.headers.get("retry-after"), Date.now());
      const slowDown = status === 429 || status === 503;
      return {
        ok: false,
        retry: true,
        error,
        output,
        ...(notBefore === undefined ? {} : { notBefore }),
        ...(slowDown ? { slowDown } : {}),
      };
    }
    return { ok: false, retry: false, error: `${error}; not retried (list it in retry_on to retry it)`, output };
  } finally {
    clearTimeout(timer);
  }
}

/** Up to RESPONSE_CAP bytes of the body, as text; a slow or endless body is cut at the timeout. */
async function readSome(response: Response, signal: AbortSignal): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < RESPONSE_CAP && !signal.aborted) {
      const read = await reader.read();
      if (read.done) break;
      chunks.push(read.value);
      size += read.value.byteLength;
    }
  } catch {
    // The body failed or timed out after the status arrived; the status alone decides the outcome.
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(Math.min(size, RESPONSE_CAP));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, bytes.byteLength - offset);
    bytes.set(part, offset);
    offset += part.byteLength;
    if (offset >= bytes.byteLength) break;
  }
  return new TextDecoder().decode(bytes) + (size > RESPONSE_CAP ? "\n[… response body cut]" : "");
}

/** Retry-After as an absolute time in ms (delay-seconds or an HTTP date), capped, or undefined. */
export function retryAfter(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  const at = /^[0-9]+$/.test(value) ? now + Number(value) * 1000 : Date.parse(value);
  if (!Number.isFinite(at)) return undefined;
  return Math.min(at, now + MAX_RETRY_AFTER_MS);
}

function displayUrl(text: string, base?: string): string {
  try {
    const url = new URL(text, base);
    return `${url.origin}${url.pathname}`;
  } catch {
    return "(an invalid URL)";
  }
}
