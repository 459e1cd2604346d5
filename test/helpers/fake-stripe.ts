/**
 * @module Stripe's side of the Stripe CLI, on 127.0.0.1, for end-to-end tests with the real CLI binary: the
 * `stripe listen` session endpoint, the websocket (subprotocol stripecli-devproxy-v1) that carries signed
 * events to the CLI and its acks and responses back, and the one API call `stripe trigger
 * payment_intent.succeeded` makes, which raises the events Stripe would. Protocol: ../shared notes, from the
 * CLI's source (pkg/stripeauth, pkg/websocket, pkg/proxy) and checked against the 1.52.0 binary.
 */
import { arch, platform } from "node:os";
import { join, resolve } from "node:path";
import type { ServerWebSocket } from "bun";
import { signatureHeader } from "../../src/actions/stripe-signature.ts";
import { buildEvents } from "../../src/fixtures/index.ts";
import { stripeId } from "../../src/fixtures/world.ts";
import { freePort, tempDir } from "./server.ts";

const ROOT = resolve(import.meta.dir, "../..");
const SUBPROTOCOL = "stripecli-devproxy-v1";

/** The headers Stripe's deliveries carry; the CLI forwards them verbatim. */
const DELIVERY_HEADERS = {
  "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
  Accept: "*/*; q=0.5, application/xml",
  "Cache-Control": "no-cache",
  "Content-Type": "application/json; charset=utf-8",
};

/** What the CLI sends back after forwarding an event (`webhook_response`). */
export interface WebhookResponse {
  type: "webhook_response";
  status: number;
  body: string;
  forward_url: string;
  notification_id: string;
  request_body: string;
}

export interface ApiCall {
  method: string;
  path: string;
  params: URLSearchParams;
}

export interface FakeStripe {
  /** For `--api-base`: the CLI accepts only http://127.0.0.1[:port] (not localhost) as a non-Stripe base. */
  apiBase: string;
  /** The session's signing secret, what `stripe listen --print-secret` prints. */
  secret: string;
  /** Form bodies of the session requests. */
  sessions: URLSearchParams[];
  apiCalls: ApiCall[];
  /** Every message the CLI sent on the websocket (event_ack, webhook_response). */
  messages: Record<string, unknown>[];
  /** Signs `payload` with the session secret and sends it to every connected CLI as a snapshot event. */
  sendEvent(payload: string): Promise<void>;
  /** The same for a thin event (`v2_event`). */
  sendThinEvent(payload: string): Promise<void>;
  /** Resolves with the CLI's webhook_response for `eventId`, or rejects after `ms`. */
  response(eventId: string, ms?: number): Promise<WebhookResponse>;
  /** Resolves once `count` CLIs are connected. */
  connected(count?: number, ms?: number): Promise<void>;
  stop(): void;
}

type Socket = ServerWebSocket<{ id: string }>;

export async function startFakeStripe(): Promise<FakeStripe> {
  const secret = `whsec_${stripeId("x", 40).slice(2)}`;
  const sockets = new Set<Socket>();
  const sessions: URLSearchParams[] = [];
  const apiCalls: ApiCall[] = [];
  const messages: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of listeners) listener();
  };

  const broadcast = async (payload: string, thin: boolean) => {
    const header = await signatureHeader(payload, secret, Math.floor(Date.now() / 1000));
    const http_headers = { ...DELIVERY_HEADERS, "Stripe-Signature": header };
    const message = thin
      ? { type: "v2_event", payload, http_headers, destination_id: stripeId("ed") }
      : {
          type: "webhook_event",
          webhook_id: stripeId("we"),
          webhook_conversation_id: stripeId("wc"),
          event_payload: payload,
          http_headers,
          endpoint: { api_version: null },
        };
    for (const socket of sockets) socket.send(JSON.stringify(message));
  };

  const server = Bun.serve<{ id: string }>({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request, srv) {
      const url = new URL(request.url);
      if (url.pathname === "/subscribe") {
        // The CLI asks for its subprotocol and sends the session's websocket id; Stripe checks both.
        const protocols = request.headers.get("sec-websocket-protocol") ?? "";
        if (!protocols.split(",").some((p) => p.trim() === SUBPROTOCOL) || !request.headers.get("websocket-id")) {
          return new Response("expected the stripecli-devproxy-v1 subprotocol and a Websocket-Id", { status: 400 });
        }
        const upgraded = srv.upgrade(request, {
          headers: { "Sec-WebSocket-Protocol": SUBPROTOCOL },
          data: { id: request.headers.get("websocket-id") ?? "" },
        });
        return upgraded ? undefined : new Response("upgrade failed", { status: 400 });
      }
      if (!request.headers.get("authorization")?.startsWith("Bearer sk_test_")) {
        return Response.json({ error: { type: "invalid_request_error", message: "Invalid API Key" } }, { status: 401 });
      }
      const params = new URLSearchParams(await request.text());
      if (request.method === "POST" && url.pathname === "/v1/stripecli/sessions") {
        sessions.push(params);
        const id = stripeId("ws", 16);
        return Response.json({
          websocket_url: `ws://127.0.0.1:${srv.port}/subscribe`,
          websocket_id: id,
          websocket_authorized_feature: "webhook-payloads",
          secret,
          reconnect_delay: 3600,
          display_connect_filter_warning: false,
          default_version: "2025-09-30.clover",
          latest_version: "2025-09-30.clover",
          device_token: stripeId("dt", 24),
        });
      }
      apiCalls.push({ method: request.method, path: url.pathname, params });
      if (request.method === "POST" && url.pathname === "/v1/payment_intents") {
        // What Stripe raises for a confirmed card PaymentIntent: created, charge.succeeded, succeeded.
        const amount = Number(params.get("amount") ?? 2000);
        const currency = params.get("currency") ?? "usd";
        const events = buildEvents("payment_intent.succeeded", {
          overrides: ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"].flatMap((type) => [
            { type, path: ["data", "object", "amount"], value: amount },
            { type, path: ["data", "object", "currency"], value: currency },
          ]),
        });
        const last = JSON.parse(events.at(-1)?.body ?? "{}") as { data: { object: unknown } };
        queueMicrotask(async () => {
          for (const event of events) await broadcast(event.body, false);
        });
        return Response.json(last.data.object);
      }
      return Response.json(
        {
          error: {
            type: "invalid_request_error",
            message: `Unrecognized request URL (${request.method}: ${url.pathname})`,
          },
        },
        { status: 404 },
      );
    },
    websocket: {
      open(socket) {
        sockets.add(socket);
        changed();
      },
      message(_socket, data) {
        messages.push(JSON.parse(String(data)) as Record<string, unknown>);
        changed();
      },
      close(socket) {
        sockets.delete(socket);
        changed();
      },
    },
  });

  const until = <T>(find: () => T | undefined, ms: number, what: string) =>
    new Promise<T>((resolvePromise, reject) => {
      const check = () => {
        const found = find();
        if (found === undefined) return false;
        listeners.delete(check);
        clearTimeout(timer);
        resolvePromise(found);
        return true;
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`${what} did not happen within ${ms} ms; CLI messages: ${JSON.stringify(messages)}`));
      }, ms);
      if (!check()) listeners.add(check);
    });

  return {
    apiBase: `http://127.0.0.1:${server.port}`,
    secret,
    sessions,
    apiCalls,
    messages,
    sendEvent: (payload) => broadcast(payload, false),
    sendThinEvent: (payload) => broadcast(payload, true),
    response: (eventId, ms = 20_000) =>
      until(
        () =>
          messages.find((m) => m.type === "webhook_response" && m.notification_id === eventId) as
            | WebhookResponse
            | undefined,
        ms,
        `a webhook_response for ${eventId}`,
      ),
    connected: async (count = 1, ms = 20_000) => {
      await until(() => (sockets.size >= count ? true : undefined), ms, `${count} CLI websocket connection(s)`);
    },
    stop: () => server.stop(true),
  };
}

/** The Stripe CLI binary from the @stripe/cli devDependency's platform package. */
export function stripeCliBinary(): string {
  const os = platform() === "win32" ? "win32" : platform();
  return join(ROOT, "node_modules", "@stripe", `cli-${os}-${arch()}`, "bin", os === "win32" ? "stripe.exe" : "stripe");
}

export interface CliProcess {
  stdout: string[];
  stderr: string[];
  waitFor(stream: "stdout" | "stderr", match: RegExp | string, ms?: number): Promise<string>;
  exited: Promise<number>;
  kill(): Promise<void>;
}

/**
 * Runs the Stripe CLI fully offline: its own empty HOME (no config, no login), a fake key, telemetry off
 * (STRIPE_CLI_TELEMETRY_OPTOUT, DO_NOT_TRACK), and every non-loopback request (the GitHub version check
 * `trigger` always makes, telemetry) sent to a proxy on a closed loopback port, so it fails at once.
 * Go never proxies 127.0.0.1, so the fake and payhook are reached directly.
 */
export async function runStripeCli(args: string[]): Promise<CliProcess> {
  const home = tempDir("stripe-cli-home-");
  const deadProxy = `http://127.0.0.1:${await freePort()}`;
  const child = Bun.spawn([stripeCliBinary(), ...args], {
    cwd: home,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      XDG_CONFIG_HOME: home,
      TZ: "UTC",
      STRIPE_API_KEY: "sk_test_payhookfakestripekey000000",
      STRIPE_DEVICE_NAME: "payhook-e2e",
      STRIPE_CLI_TELEMETRY_OPTOUT: "1",
      DO_NOT_TRACK: "1",
      HTTPS_PROXY: deadProxy,
      HTTP_PROXY: deadProxy,
      https_proxy: deadProxy,
      http_proxy: deadProxy,
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const waiters = new Set<() => void>();
  const collect = async (stream: ReadableStream<Uint8Array>, into: string[]) => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of stream) {
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split(/\r?\n/);
      pending = parts.pop() ?? "";
      into.push(...parts);
      for (const waiter of [...waiters]) waiter();
    }
    if (pending) into.push(pending);
    for (const waiter of [...waiters]) waiter();
  };
  const done = Promise.all([collect(child.stdout, lines.stdout), collect(child.stderr, lines.stderr)]);
  const exited = done.then(() => child.exited);
  return {
    ...lines,
    exited,
    waitFor: (stream, match, ms = 20_000) =>
      new Promise<string>((resolvePromise, reject) => {
        const test = (line: string) => (typeof match === "string" ? line.includes(match) : match.test(line));
        const check = () => {
          const found = lines[stream].find(test);
          if (found === undefined) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolvePromise(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `stripe ${args[0]}: no ${stream} line matching ${match} within ${ms} ms.\nstdout:\n${lines.stdout.join("\n")}\nstderr:\n${lines.stderr.join("\n")}`,
            ),
          );
        }, ms);
        if (!check()) waiters.add(check);
      }),
    kill: async () => {
      child.kill("SIGTERM");
      await child.exited;
    },
  };
}
