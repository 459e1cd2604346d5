/**
 * @module The hot path, as one web-standard function: read the body (capped), verify it, route it, store the
 * event with its deliveries in one durable commit, and only then answer 200. Nothing else happens here: the
 * deliveries the worker has room for are claimed by that same commit and handed to it, to run after the answer.
 */
import { Buffer } from "node:buffer";
import type { Router } from "../config/routes.ts";
import type { Endpoint } from "../config/types.ts";
import { newDelivery } from "../delivery/rows.ts";
import type { Runner } from "../delivery/worker.ts";
import { BodyIncompleteError, BodyTooLargeError, describe, PayhookError, VerificationError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { type EndpointCounters, Metrics } from "../ops/metrics.ts";
import { iso, type Retirement } from "../ops/rotation.ts";
import type { VerifiedEvent } from "../store/event.ts";
import type { Ingested, NewDelivery, Store } from "../store/types.ts";
import { testHook } from "../testhooks.ts";
import type { CopyRule, RetiredRule } from "./copies.ts";
import { createVerifier, type Verifier } from "./verify.ts";

export interface AcceptOptions {
  endpoints: readonly Endpoint[];
  router: Router;
  store: Store;
  log: Logger;
  /** Runs the deliveries: those it has room for are stored claimed and handed over; it is woken for the rest. */
  worker: Runner;
  /** Called after every commit of a new event, with or without deliveries (the operator page's live updates). */
  onNewEvent?(): void;
  /** During an API-version upgrade: which copies are kept apart, running nothing (ingest/copies.ts). */
  isCopy?: CopyRule;
  /** After a cutover's window: the old endpoint whose secrets are refused (ingest/copies.ts). */
  isRetired?: RetiredRule;
  /** Request counters and the ack latency histogram; a private, unscraped set when absent. */
  metrics?: Metrics;
  now?: () => number;
}

export type Accept = (request: Request) => Promise<Response>;

const JSON_HEADERS = { "content-type": "application/json" };
const RECEIVED = '{"received":true}';
const DUPLICATE = '{"received":true,"duplicate":true}';

export function createAccept(options: AcceptOptions): Accept {
  const { router, store, log, worker } = options;
  const now = options.now ?? Date.now;
  const metrics = options.metrics ?? new Metrics();
  const byPath = new Map<string, { endpoint: Endpoint; verify: Verifier; counters: EndpointCounters }>(
    options.endpoints.map((endpoint) => [
      endpoint.path,
      {
        endpoint,
        verify: createVerifier({ secrets: endpoint.signing, tolerance: endpoint.tolerance, now }),
        counters: metrics.endpoint(endpoint.path),
      },
    ]),
  );

  return async (request) => {
    const started = performance.now();
    const path = pathOf(request.url);
    const target = byPath.get(path);
    if (!target) return failure(404, "not_found", `no endpoint at ${path}`);
    const { endpoint, verify, counters } = target;
    if (request.method !== "POST") {
      counters.rejected.method_not_allowed = (counters.rejected.method_not_allowed ?? 0) + 1;
      return failure(405, "method_not_allowed", "webhook endpoints take POST only", { allow: "POST" });
    }
    let event: VerifiedEvent | undefined;
    try {
      const body = await readBody(request, endpoint.maxBody);
      event = await verify(body, request.headers.get("stripe-signature"));
      // Checked after the signature, so only a correctly signed request learns that the secret retired.
      const retired = options.isRetired?.(endpoint.path, now());
      if (retired) throw retiredError(retired, event.verifiedBy);
      if (options.isCopy?.(endpoint.path, event.created)) {
        const kept = await store.ingestCopy({ ...event, receivedAt: now(), endpoint: endpoint.path, body });
        counters.copies++;
        log.info("event copy kept apart (API-version upgrade); no action runs", {
          event_id: event.id,
          type: event.type,
        });
        return new Response(kept === "duplicate" ? DUPLICATE : RECEIVED, { headers: JSON_HEADERS });
      }
      const actions = router(event.type);
      const deliveries = actions.map((a) => newDelivery(a, event?.payload));
      for (const d of deliveries) if (d.orderKey === undefined) d.claimed = worker.reserve(d.action, d.digest);
      const verified = event; // a const, for the callback below
      const stored = store.ingest({ ...event, receivedAt: now(), endpoint: endpoint.path, body }, deliveries).then(
        (result) => handOver(worker, verified, body, deliveries, result),
        (error: unknown) => {
          for (const d of deliveries) if (d.claimed) worker.cancel(d.action);
          throw error;
        },
      );
      if (testHook === "ack-before-commit") {
        // The planted bug the crash suite must catch (test builds only): answer before the commit is durable.
        void stored.catch(() => {});
        return new Response(RECEIVED, { headers: JSON_HEADERS });
      }
      const result = await stored;
      if (result === "duplicate") {
        counters.duplicate++;
        metrics.ack.observe((performance.now() - started) / 1000);
        log.info("duplicate event acknowledged; nothing new stored", { event_id: event.id, type: event.type });
        return new Response(DUPLICATE, { headers: JSON_HEADERS });
      }
      counters.accepted++;
      if (event.verifiedBy !== undefined)
        counters.verified[event.verifiedBy] = (counters.verified[event.verifiedBy] ?? 0) + 1;
      metrics.event(event.type);
      metrics.account(event.account);
      metrics.ack.observe((performance.now() - started) / 1000);
      log.info("event accepted", { event_id: event.id, type: event.type, actions: actions.length });
      options.onNewEvent?.();
      return new Response(RECEIVED, { headers: JSON_HEADERS });
    } catch (error) {
      // A verified event's id and type go into the log line, so an operator can find the event Stripe retries.
      const about = event ? { event_id: event.id, type: event.type } : {};
      if (error instanceof PayhookError) {
        const tally = error.status < 500 ? counters.rejected : counters.failed;
        tally[error.code] = (tally[error.code] ?? 0) + 1;
        const fields = { ...about, endpoint: endpoint.path, code: error.code, reason: error.message };
        // Every client refusal (4xx) is a warning: anyone can send them, so they must not fill the error log.
        if (error.status < 500) log.warn("request refused", fields);
        else log.error("request failed", fields);
        // A body refused part-way is still on the wire: closing the connection is the only way to be rid of it.
        const close = error instanceof BodyTooLargeError ? { connection: "close" } : undefined;
        return failure(error.status, error.code, error.message, close);
      }
      counters.failed.internal = (counters.failed.internal ?? 0) + 1;
      log.error("unexpected error on the accept path", { ...about, endpoint: endpoint.path, error: String(error) });
      return failure(500, "internal", "internal error; the event was not stored, so Stripe will retry it");
    }
  };
}

function retiredError(r: Retirement, label: string | undefined): VerificationError {
  return new VerificationError(
    "secret_retired",
    `this endpoint's signing secret${label === undefined ? "" : ` ${label}`} retired at ${iso(r.until)}, after the API-version cutover to ${r.shadow}, which receives these events now`,
  );
}

/**
 * Gives the worker what the commit stored claimed for it (and back the slots of what it did not store: a duplicate),
 * and wakes it for deliveries stored pending.
 */
function handOver(
  worker: Runner,
  event: VerifiedEvent,
  body: Uint8Array,
  deliveries: NewDelivery[],
  result: Ingested,
): Ingested["status"] {
  const claims = result.claims.values();
  let pending = false;
  for (const d of deliveries) {
    const claim = d.claimed ? claims.next().value : undefined;
    if (claim) {
      worker.run({
        ...claim,
        eventId: event.id,
        eventType: event.type,
        action: d.action,
        digest: d.digest,
        attempt: 1,
        body,
        ...(event.payload ? { data: event.payload } : {}),
      });
    } else if (d.claimed) worker.cancel(d.action);
    else if (result.status === "stored") pending = true;
  }
  if (pending) worker.wake();
  return result.status;
}

/** Reads the whole body, refusing (not truncating) one larger than `limit`, without ever holding more. */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw new BodyTooLargeError(limit);
  if (declared !== null) {
    // The runtime delivers exactly Content-Length bytes, so this read is bounded by the check above.
    return new Uint8Array(await request.arrayBuffer());
  }
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (let read = await readMore(reader); !read.done; read = await readMore(reader)) {
    size += read.value.byteLength;
    if (size > limit) {
      // Not awaited: cancel() may never settle once the runtime has buffered the whole body, and the 413 (which
      // closes the connection) must not wait for it.
      reader.cancel().catch(() => {});
      throw new BodyTooLargeError(limit);
    }
    chunks.push(read.value);
  }
  return Buffer.concat(chunks, size);
}

/** The next chunk; a connection the client closed (or payhook cut at shutdown) is the client's failure, a 400. */
async function readMore(reader: ReadableStreamDefaultReader<Uint8Array>) {
  try {
    return await reader.read();
  } catch (error) {
    throw new BodyIncompleteError(describe(error));
  }
}

export function failure(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { ...JSON_HEADERS, ...headers },
  });
}

/** The path of an absolute request URL, without building a URL object on the hot path. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const end = url.search(/[?#]/);
  return url.slice(start, end < 0 ? undefined : end);
}
