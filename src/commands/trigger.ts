/**
 * @module `payhook trigger EVENT`: the offline `stripe trigger`. Builds the events Stripe raises for the
 * fixture, signs each as Stripe does and posts it, printing one `[status] POST url [evt_…] type` line each.
 */
import { readFileSync } from "node:fs";
import type { Command } from "../cli.ts";
import { resolveConfig } from "../config/resolve.ts";
import { describe, UsageError } from "../errors.ts";
import { type BuildOptions, buildEvents, parseOverride, TRIGGER_NAMES } from "../fixtures/index.ts";
import { checkSecret, signatureHeader } from "../sign.ts";
import { configOption } from "./check.ts";

/** Where to post and which secret to sign with: from the flags, else from the config's first endpoint. */
export interface Target {
  url: string;
  secret: string;
}

export const targetOptions = {
  ...configOption,
  url: { type: "string", arg: "URL", help: "post here instead of the config's first endpoint" },
  secret: { type: "string", arg: "WHSEC", help: "sign with this secret instead of the config's" },
} as const;

/** How the fixture's events are changed; `payhook explain --trigger` takes the same options. */
export const fixtureOptions = {
  override: {
    type: "string",
    multiple: true,
    arg: "[TYPE:]PATH=VALUE",
    help: "set a field of the named event (or of every TYPE event), e.g. data.object.amount=5000",
  },
  data: { type: "string", arg: "FILE", help: "JSON object deep-merged into the named event" },
  account: { type: "string", arg: "ACCT", help: "send them as Connect events of this connected account" },
  thin: { type: "boolean", help: "send thin (v2.core.event) notifications instead of snapshot events" },
} as const;

/** The fixture options from parsed flags; a bad --account, --override or --data is a UsageError. */
export function buildOptions(values: Record<string, unknown>): BuildOptions {
  return {
    account: account(values.account as string | undefined),
    thin: values.thin === true,
    overrides: ((values.override as string[] | undefined) ?? []).map(parseOverride),
    data: readData(values.data as string | undefined),
  };
}

/** The headers Stripe's deliveries carry (the CLI forwards the same set). */
const DELIVERY_HEADERS = {
  "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
  accept: "*/*; q=0.5, application/xml",
  "cache-control": "no-cache",
  "content-type": "application/json; charset=utf-8",
};

const TIMEOUT_MS = 30_000;

export const trigger: Command = {
  name: "trigger",
  summary: "send the signed events `stripe trigger EVENT` would cause, offline (--list shows all 123)",
  usage:
    "payhook trigger EVENT [--config FILE | --url URL --secret whsec_…] [--override [TYPE:]path=value …] [--data FILE] [--account acct_…] [--thin]",
  options: {
    ...targetOptions,
    list: { type: "boolean", help: "list every supported event name" },
    ...fixtureOptions,
  },
  async run({ io, values, positionals }) {
    if (values.list) {
      for (const name of TRIGGER_NAMES) io.out(name);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0
          ? "trigger: name the event to send, e.g. `payhook trigger payment_intent.succeeded` (`--list` shows all)"
          : `trigger: one event name at a time (got ${positionals.join(", ")})`,
      );
    }
    const events = buildEvents(positionals[0] as string, buildOptions(values));
    const target = resolveTarget(values, io.env);

    let failed = 0;
    for (const event of events) {
      const header = await signatureHeader(event.body, target.secret, Math.floor(Date.now() / 1000));
      const line = `POST ${target.url} [${event.id}] ${event.type}`;
      try {
        const response = await fetch(target.url, {
          method: "POST",
          body: event.body,
          headers: { ...DELIVERY_HEADERS, "stripe-signature": header },
          redirect: "manual",
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        const text = await response.text();
        io.out(`[${response.status}] ${line}`);
        if (response.status < 200 || response.status > 299) {
          failed += 1;
          io.err(`payhook: ${event.id}: ${reason(text)}`);
        }
      } catch (error) {
        failed += 1;
        io.out(`[ERROR] ${line}`);
        io.err(
          `payhook: cannot POST to ${target.url} (${describe(error)}). Is payhook serving there? Start it with \`payhook serve\``,
        );
      }
    }
    return failed === 0 ? 0 : 1;
  },
};

export function resolveTarget(values: Record<string, unknown>, env: Record<string, string | undefined>): Target {
  const urlFlag = values.url as string | undefined;
  const secretFlag = values.secret as string | undefined;
  if (urlFlag !== undefined) checkUrl(urlFlag);
  if (secretFlag !== undefined) checkSecret(secretFlag);
  if (urlFlag !== undefined && secretFlag !== undefined) return { url: urlFlag, secret: secretFlag };

  const config = resolveConfig(values.config as string | undefined, env);
  const path = urlFlag === undefined ? undefined : new URL(urlFlag).pathname;
  const endpoint = config.endpoints.find((e) => e.path === path) ?? config.endpoints[0];
  if (!endpoint) throw new UsageError(`${config.source} has no endpoints`);
  let url = urlFlag;
  if (url === undefined) {
    if (config.listen.port === 0) {
      throw new UsageError(
        `${config.source} listens on port 0 (a free port chosen at start); pass --url with the address payhook logged`,
      );
    }
    url = `http://${connectHost(config.listen.host)}:${config.listen.port}${endpoint.path}`;
  }
  return { url, secret: secretFlag ?? (endpoint.secrets[0] as string) };
}

/** A server listening on every interface is reached on loopback. */
function connectHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url "${url}" is not a URL; write it like http://127.0.0.1:4242/webhook`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UsageError(`--url must be http:// or https://, e.g. http://127.0.0.1:4242/webhook`);
  }
}

function account(value: string | undefined): string | undefined {
  if (value !== undefined && !/^acct_[A-Za-z0-9]{1,64}$/.test(value)) {
    throw new UsageError(`--account "${value}" is not a connected account id like acct_1032D82eZvKYlo2C`);
  }
  return value;
}

function readData(file: string | undefined): Record<string, unknown> | undefined {
  if (file === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new UsageError(`--data ${file}: cannot read it as JSON (${describe(error)})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new UsageError(
      `--data ${file}: expected a JSON object such as {"data":{"object":{"metadata":{"order":"42"}}}}`,
    );
  }
  return parsed as Record<string, unknown>;
}

/** The receiver's own explanation, when it gave one in payhook's or Stripe's error shape. */
function reason(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.message) return `${body.error.code ?? "error"}: ${body.error.message}`;
  } catch {
    // Not JSON: fall through to the text itself.
  }
  return text.slice(0, 200) || "no response body";
}
