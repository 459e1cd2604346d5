/** @module Options more than one command takes, and what they resolve to: the config file, the target to post to, the fixture's changes, stdin. */
import { readFileSync } from "node:fs";
import process from "node:process";
import { checkSecret } from "../actions/stripe-signature.ts";
import { resolveConfig } from "../config/resolve.ts";
import { describe, UsageError } from "../errors.ts";
import type { BuildOptions } from "../fixtures/index.ts";
import { parseOverride } from "../fixtures/index.ts";

export const configOption = {
  config: {
    type: "string",
    short: "c",
    arg: "FILE",
    help: "config file (default ./payhook.yaml if present, else the embedded default)",
  },
} as const;

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

/** All of stdin; a terminal there is a UsageError with `hint`, rather than a wait for input that never comes. */
export async function readStdin(hint: string): Promise<Uint8Array> {
  if (process.stdin.isTTY) throw new UsageError(hint);
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin)
    chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
