/**
 * @module Where notifications go: Slack (and Mattermost, Rocket.Chat) as `{"text"}`, Discord as `{"content"}`, a
 * webhook as the notification's JSON (optionally signed with Standard Webhooks headers), a program with the JSON
 * on stdin. A channel's URL is a secret: errors never show it, only the channel's name and kind.
 */
import process from "node:process";
import pkg from "../../package.json" with { type: "json" };
import { createSigner, decodeSecret, webhookId } from "../actions/standard-webhooks.ts";
import type { ChannelSettings } from "../config/alerts.ts";
import { describe } from "../errors.ts";
import type { Runtime } from "../runtime/types.ts";
import type { NotificationBody } from "../store/types.ts";
import { parseDuration } from "../utils/units.ts";

const SEND_TIMEOUT_MS = 10_000;
const DEFAULT_EXEC_TIMEOUT = "30s";
const OUTPUT_CAP = 2048;

export type SendResult = { ok: true } | { ok: false; error: string };

export interface Channel {
  name: string;
  kind: ChannelSettings["kind"];
  /** Sends one notification; `key` is the same on every attempt of it (the webhook-id a receiver dedupes on). */
  send(body: NotificationBody, key: string): Promise<SendResult>;
}

export function createChannel(settings: ChannelSettings, runtime: Runtime): Channel {
  const { name, kind, spec } = settings;
  const base = { name, kind };
  if (spec.exec) {
    const { command } = spec.exec;
    const timeoutMs = parseDuration(spec.exec.timeout ?? DEFAULT_EXEC_TIMEOUT);
    return { ...base, send: (body) => run(runtime, command, body, timeoutMs) };
  }
  const url = (spec.slack ?? spec.discord ?? spec.webhook)?.url ?? "";
  const hide = (text: string) => hideUrl(text, url);
  if (spec.slack) return { ...base, send: (body) => post(runtime, url, { text: renderText(body) }, {}, hide) };
  if (spec.discord) {
    // Discord cuts content at 2000 characters.
    return { ...base, send: (body) => post(runtime, url, { content: renderText(body).slice(0, 2000) }, {}, hide) };
  }
  const headers = spec.webhook?.headers ?? {};
  const key = spec.webhook?.sign ? decodeSecret(spec.webhook.sign.secret) : undefined;
  const signer = key instanceof Uint8Array ? createSigner(key) : undefined;
  return {
    ...base,
    async send(body, id) {
      const bytes = new TextEncoder().encode(JSON.stringify(body));
      const signed = signer ? await signer(webhookId(id), Math.floor(Date.now() / 1000), bytes) : {};
      return post(runtime, url, bytes, { ...headers, ...signed }, hide);
    },
  };
}

/** The notification as one message for a chat: what, how many, since when, and the details. */
export function renderText(body: NotificationBody): string {
  const head =
    body.state === "open"
      ? `[payhook] ALERT ${body.rule}: ${body.summary}`
      : `[payhook] RESOLVED ${body.rule}: ${body.summary}`;
  const since = `incident ${body.id}, opened ${body.opened_at}, count ${body.count}`;
  return [head, body.details, since].filter((l) => l !== "").join("\n");
}

async function post(
  runtime: Runtime,
  url: string,
  payload: Uint8Array | Record<string, unknown>,
  headers: Record<string, string>,
  hide: (text: string) => string,
): Promise<SendResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), SEND_TIMEOUT_MS);
  try {
    const body = payload instanceof Uint8Array ? payload : new TextEncoder().encode(JSON.stringify(payload));
    const response = await runtime.fetch(url, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", "user-agent": `payhook/${pkg.version}` },
      body: body as Uint8Array<ArrayBuffer>,
      redirect: "manual",
      signal: controller.signal,
    });
    await response.body?.cancel().catch(() => {});
    if (response.status >= 200 && response.status < 300) return { ok: true };
    return { ok: false, error: `the channel answered HTTP ${response.status}` };
  } catch (error) {
    const why = controller.signal.aborted ? `no answer within ${SEND_TIMEOUT_MS} ms` : hide(describe(error));
    return { ok: false, error: `the channel could not be reached: ${why}` };
  } finally {
    clearTimeout(timer);
  }
}

async function run(
  runtime: Runtime,
  command: string[],
  body: NotificationBody,
  timeoutMs: number,
): Promise<SendResult> {
  // Only PATH is passed on: the program gets the notification, not payhook's secrets.
  const env: Record<string, string> = process.env.PATH ? { PATH: process.env.PATH } : {};
  try {
    const result = await runtime.spawn(command, {
      env,
      stdin: new TextEncoder().encode(`${JSON.stringify(body)}\n`),
      timeoutMs,
      outputCap: OUTPUT_CAP,
    });
    if (result.exitCode === 0) return { ok: true };
    const how = result.timedOut
      ? `did not finish within ${timeoutMs} ms`
      : result.signal
        ? `was killed by ${result.signal}`
        : `exited with ${result.exitCode}`;
    const said = result.stderr.trim().split("\n").at(-1)?.slice(0, 200);
    return { ok: false, error: `${command[0]} ${how}${said ? `: ${said}` : ""}` };
  } catch (error) {
    return { ok: false, error: `${command[0]} could not start: ${describe(error)}` };
  }
}

/** `text` without the channel's URL, nor its host and path (runtimes quote the URL in connection errors). */
export function hideUrl(text: string, url: string): string {
  let out = text.replaceAll(url, "[channel URL]");
  try {
    const parsed = new URL(url);
    out = out.replaceAll(parsed.href, "[channel URL]");
    if (parsed.pathname.length > 1) out = out.replaceAll(parsed.pathname, "[path]");
    out = out.replaceAll(parsed.host, "[host]");
  } catch {
    // Not a URL: nothing more to hide.
  }
  return out;
}
