/**
 * @module The `alerts:` section resolved: its channels (each exactly one kind, its secrets checked) and each rule
 * with its defaults filled in. A rule set to false is off; `silence` is off unless written.
 */
import { decodeSecret } from "../actions/standard-webhooks.ts";
import { parseDuration } from "../utils/units.ts";
import type { Path } from "./path.ts";
import type { AlertChannelFile, AlertsFile } from "./schema.ts";

export const CHANNEL_KINDS = ["slack", "discord", "webhook", "exec"] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

export interface ChannelSettings {
  name: string;
  kind: ChannelKind;
  /** The channel's settings as written (expanded): its URL is a secret, never shown. */
  spec: AlertChannelFile;
}

export interface RuleSettings {
  dead?: { withinMs: number };
  failing?: { failures: number };
  backlog?: { olderThanMs: number };
  store?: { minFreePercent: number };
  signatures?: { perMinute: number };
  silence?: { endpoint?: string; forMs: number };
  missed?: { withinMs: number };
  stripeEndpoint?: { everyMs: number };
  certificate?: { withinMs: number };
}

export interface AlertSettings {
  channels: ChannelSettings[];
  intervalMs: number;
  renotifyMs: number;
  rules: RuleSettings;
}

export const RULE_DEFAULTS = {
  dead: { within: "24h" },
  failing: { failures: 10 },
  backlog: { older_than: "15m" },
  store: { min_free: "10%" },
  signatures: { per_minute: 20 },
  missed: { within: "24h" },
  stripe_endpoint: { every: "15m" },
  certificate: { within: "14d" },
} as const;

export function resolveAlerts(
  file: AlertsFile | undefined,
  endpoints: readonly string[],
  problems: [Path, string][],
): AlertSettings | undefined {
  if (!file) return undefined;
  const seen = new Set<string>();
  const channels = file.notify.flatMap((spec, i): ChannelSettings[] => {
    const kinds = CHANNEL_KINDS.filter((k) => spec[k] !== undefined);
    if (seen.has(spec.name))
      problems.push([["alerts", "notify", i, "name"], `the channel name "${spec.name}" is already used`]);
    seen.add(spec.name);
    if (kinds.length !== 1) {
      problems.push([
        ["alerts", "notify", i],
        `a channel has exactly one of ${CHANNEL_KINDS.join(", ")}${kinds.length > 1 ? `, but this one has ${kinds.join(" and ")}` : ""}`,
      ]);
      return [];
    }
    const secret = spec.webhook?.sign?.secret;
    const bad = secret === undefined ? undefined : decodeSecret(secret);
    if (typeof bad === "string") problems.push([["alerts", "notify", i, "webhook", "sign", "secret"], bad]);
    return [{ name: spec.name, kind: kinds[0] as ChannelKind, spec }];
  });
  const silent = file.rules.silence?.endpoint;
  if (silent !== undefined && !endpoints.includes(silent)) {
    problems.push([
      ["alerts", "rules", "silence", "endpoint"],
      `no endpoint has the path ${silent}; expected one of ${endpoints.join(", ")}`,
    ]);
  }
  const intervalMs = parseDuration(file.interval);
  if (intervalMs < 100) problems.push([["alerts", "interval"], "must be at least 100ms"]);
  const r = file.rules;
  const on = <K extends keyof typeof RULE_DEFAULTS>(key: K) =>
    r[key] === false ? undefined : { ...RULE_DEFAULTS[key], ...(r[key] as object | undefined) };
  const dead = on("dead");
  const failing = on("failing");
  const backlog = on("backlog");
  const store = on("store");
  const signatures = on("signatures");
  const missed = on("missed");
  const stripeEndpoint = on("stripe_endpoint");
  const certificate = on("certificate");
  return {
    channels,
    intervalMs,
    renotifyMs: parseDuration(file.renotify),
    rules: {
      ...(dead ? { dead: { withinMs: parseDuration(dead.within) } } : {}),
      ...(failing ? { failing: { failures: failing.failures } } : {}),
      ...(backlog ? { backlog: { olderThanMs: parseDuration(backlog.older_than) } } : {}),
      ...(store ? { store: { minFreePercent: Number.parseInt(store.min_free, 10) } } : {}),
      ...(signatures ? { signatures: { perMinute: signatures.per_minute } } : {}),
      ...(r.silence
        ? {
            silence: {
              forMs: parseDuration(r.silence.for),
              ...(r.silence.endpoint ? { endpoint: r.silence.endpoint } : {}),
            },
          }
        : {}),
      ...(missed ? { missed: { withinMs: parseDuration(missed.within) } } : {}),
      ...(stripeEndpoint ? { stripeEndpoint: { everyMs: parseDuration(stripeEndpoint.every) } } : {}),
      ...(certificate ? { certificate: { withinMs: parseDuration(certificate.within) } } : {}),
    },
  };
}
