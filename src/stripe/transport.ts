/**
 * @module How payhook's Stripe client reaches the API: through the runtime's fetch, never following a redirect,
 * cancelled as soon as payhook stops, and never reading an answer past a size cap. What catch-up stores comes
 * from these answers unverified (Stripe does not sign them), so they come only from the configured address.
 */
import type { Runtime } from "../runtime/types.ts";

/** The largest answer read: a page of 100 large events fits many times over; a runaway answer is cut short. */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/** A refusal decided here, not by Stripe: the client reports it as it is and never retries it. */
export class TransportRefusal extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = "TransportRefusal";
  }
}

export interface TransportOptions {
  fetch: Runtime["fetch"];
  /** Aborted when payhook stops: every request in flight ends at once. */
  signal?: AbortSignal;
  maxBytes?: number;
}

export function guardedFetch(options: TransportOptions): (url: string, init: RequestInit) => Promise<Response> {
  const maxBytes = options.maxBytes ?? MAX_ANSWER_BYTES;
  const stop = options.signal;
  return async (url, init) => {
    const signals = [init.signal, stop].filter((s): s is AbortSignal => s !== undefined && s !== null);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    // "manual": a redirect is answered as it is, so it can be refused rather than followed to another host.
    const response = await options.fetch(url, { ...init, redirect: "manual", ...(signal ? { signal } : {}) });
    if ((response.status >= 300 && response.status < 400) || response.type === "opaqueredirect") {
      await response.body?.cancel().catch(() => {});
      throw new TransportRefusal(
        "stripe_redirect",
        `the API answered with a redirect (${response.status}${where(response)}), which payhook does not follow; set stripe.api_base to the API's own address`,
      );
    }
    return await capped(response, maxBytes);
  };
}

/** The response with its body read whole, or a refusal once it passes `maxBytes` (declared or actually sent). */
async function capped(response: Response, maxBytes: number): Promise<Response> {
  const tooLarge = () =>
    new TransportRefusal(
      "stripe_answer_too_large",
      `the API's answer is larger than ${Math.round(maxBytes / 1024 / 1024)} MiB; payhook stopped reading it`,
    );
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!response.body) return response;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  const headers = new Headers(response.headers);
  // The body is already decoded: these would describe the bytes on the wire, not the ones passed on.
  headers.delete("content-encoding");
  headers.delete("content-length");
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

function where(response: Response): string {
  const location = response.headers.get("location");
  if (!location) return "";
  try {
    return ` to ${new URL(location).host}`;
  } catch {
    return "";
  }
}
