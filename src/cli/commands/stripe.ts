/**
 * @module `payhook stripe endpoint create|sync|list`: the webhook endpoint at Stripe, made from the handler map.
 * create prints the new signing secret once and never writes it anywhere; live-mode keys need --live.
 */
import process from "node:process";
import { resolveConfig } from "../../config/resolve.ts";
import type { Config } from "../../config/types.ts";
import { UsageError } from "../../errors.ts";
import { apiFor, isLiveKey, requireApiKey } from "../../stripe/access.ts";
import { STRIPE_API_VERSION, type StripeApi, type WebhookEndpoint } from "../../stripe/api.ts";
import { eventsDiff, payhookEndpoints, wantedTypes } from "../../stripe/endpoints.ts";
import { configOption } from "../options.ts";
import { escapingIo } from "../print/escaping-io.ts";
import type { Command, CommandContext } from "../types.ts";
import { cutover, report, upgrade } from "./stripe-upgrade.ts";

export const stripeCommand: Command = {
  name: "stripe",
  summary: "manage the webhook endpoint at Stripe from the handler map (create, sync, list, upgrade, cutover)",
  usage: [
    "payhook stripe endpoint create --url https://HOST/webhook [--live] [--yes]",
    "       payhook stripe endpoint sync [--endpoint we_…] [--dry-run] [--live] [--yes]",
    "       payhook stripe endpoint list [--json]",
    "       payhook stripe endpoint create --connect --url https://HOST/PATH [--live] [--yes]",
    "       payhook stripe endpoint upgrade --api-version VERSION [--endpoint we_…] [--live]",
    "       payhook stripe upgrade report [--json]",
    "       payhook stripe endpoint cutover [--yes] [--live]",
  ].join("\n"),
  options: {
    ...configOption,
    url: { type: "string", arg: "URL", help: "create: the public URL Stripe posts to, ending with an endpoint path" },
    endpoint: { type: "string", arg: "ID", help: "sync: this endpoint (we_…) instead of those matching the config" },
    "dry-run": { type: "boolean", help: "sync: show the difference, change nothing" },
    live: { type: "boolean", help: "confirm changes with a live-mode key (sk_live_…, rk_live_…)" },
    yes: {
      type: "boolean",
      help: "enable every event type without asking when the map takes them all (* or unhandled)",
    },
    json: { type: "boolean", help: "list: one JSON object per endpoint; upgrade report: the report as JSON" },
    connect: { type: "boolean", help: "create: the Connect endpoint, for the events of connected accounts" },
    "api-version": { type: "string", arg: "VERSION", help: "upgrade: the API version of the shadow endpoint" },
  },
  async run(given) {
    // Endpoint URLs, types and messages come from Stripe's API: printed, they must not reach the terminal raw.
    const context = { ...given, io: escapingIo(given.io) };
    const [group, sub, ...rest] = context.positionals;
    if (group !== "endpoint" && group !== "upgrade") {
      throw new UsageError(
        group === undefined ? "stripe needs a subcommand: endpoint or upgrade" : `unknown stripe subcommand "${group}"`,
      );
    }
    if (rest.length > 0) throw new UsageError(`stripe ${group} ${sub} takes no arguments (got "${rest[0]}")`);
    const config = resolveConfig(context.values.config as string | undefined, context.io.env);
    if (group === "upgrade") {
      if (sub === "report") return report(context, config);
      throw new UsageError(
        sub === undefined ? "stripe upgrade needs report" : `unknown stripe upgrade subcommand "${sub}"`,
      );
    }
    if (sub === "list") return list(context, config);
    if (sub === "create") return create(context, config);
    if (sub === "sync") return sync(context, config);
    if (sub === "upgrade") {
      liveGuard(config, context.values.live === true, "create a shadow endpoint");
      return upgrade(context, config);
    }
    if (sub === "cutover") {
      liveGuard(config, context.values.live === true, "disable the old endpoint");
      return cutover(context, config, () => confirm(context));
    }
    throw new UsageError(
      sub === undefined
        ? "stripe endpoint needs create, sync, list, upgrade or cutover"
        : `unknown stripe endpoint subcommand "${sub}"`,
    );
  },
};

async function list({ runtime, io, values, log }: CommandContext, config: Config): Promise<number> {
  const api = apiFor(config, "stripe endpoint list", runtime, log);
  const all = await api.listWebhookEndpoints();
  if (values.json) {
    for (const e of all) io.out(JSON.stringify(publicFields(e)));
    return 0;
  }
  if (all.length === 0) {
    io.out("No webhook endpoints on this account.");
    return 0;
  }
  const mine = new Set(payhookEndpoints(all, config).map((e) => e.id));
  for (const e of all) {
    const events = e.enabled_events.includes("*") ? "all types" : `${e.enabled_events.length} types`;
    io.out(
      `${e.id}  ${e.status}  ${e.url}  ${events}  api ${e.api_version ?? "(account default)"}${mine.has(e.id) ? "  (this config)" : ""}`,
    );
  }
  return 0;
}

async function create(context: CommandContext, config: Config): Promise<number> {
  const { io, values } = context;
  const url = values.url as string | undefined;
  if (!url) throw new UsageError("stripe endpoint create needs --url https://HOST/PATH (the URL Stripe will post to)");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url expects an http(s) URL such as https://payhook.example.com/webhook, got "${url}"`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw new UsageError("--url must be an https URL");
  if (!config.endpoints.some((e) => parsed.pathname.endsWith(e.path))) {
    throw new UsageError(
      `--url's path ${parsed.pathname} does not end with an endpoint path of ${config.source} (${config.endpoints.map((e) => e.path).join(", ")})`,
    );
  }
  liveGuard(config, values.live === true, "create an endpoint");
  const enabled = await enabledEvents(context, config);
  if (!enabled) return 1;
  const api = apiFor(config, "stripe endpoint create", context.runtime, context.log, 0);
  const made = await api.createWebhookEndpoint({
    url,
    enabled_events: enabled,
    api_version: STRIPE_API_VERSION,
    description: `payhook (${config.source})`,
    metadata: { created_by: "payhook" },
    ...(values.connect ? { connect: true } : {}),
  });
  const count = enabled.includes("*") ? "every event type" : `${enabled.length} event type(s)`;
  const kind = values.connect ? " (Connect: the events of connected accounts)" : "";
  io.out(`created ${made.id}${kind} for ${made.url}: ${count}, API version ${made.api_version ?? STRIPE_API_VERSION}`);
  if (made.secret) {
    const endpoint = config.endpoints.find((e) => parsed.pathname.endsWith(e.path));
    // A platform's own endpoint keeps STRIPE_WEBHOOK_SECRET: the Connect one must not suggest overwriting it.
    const variable = values.connect ? "STRIPE_CONNECT_WEBHOOK_SECRET" : "STRIPE_WEBHOOK_SECRET";
    io.out("");
    io.out(`Its signing secret, shown this once: ${made.secret}`);
    io.out(
      `Put it in the environment payhook serves with (for example ${variable}=${made.secret} in a systemd EnvironmentFile or your platform's secret store), referenced from ${endpoint?.path ?? "the endpoint"}'s secrets as "\${${variable}}"; payhook never writes it into the config.`,
    );
  }
  return 0;
}

async function sync(context: CommandContext, config: Config): Promise<number> {
  const { io, values } = context;
  const dryRun = values["dry-run"] === true;
  if (!dryRun) liveGuard(config, values.live === true, "change an endpoint");
  const api: StripeApi = apiFor(config, "stripe endpoint sync", context.runtime, context.log);
  const all = await api.listWebhookEndpoints();
  const targets = payhookEndpoints(all, config, values.endpoint as string | undefined);
  if (targets.length === 0) {
    io.err(
      values.endpoint
        ? `payhook: no webhook endpoint ${values.endpoint} on this account`
        : `payhook: no webhook endpoint on this account has a URL ending with ${config.endpoints.map((e) => e.path).join(" or ")}; create one with \`payhook stripe endpoint create --url …\``,
    );
    return 1;
  }
  const wanted = wantedTypes(config);
  const enabled = wanted.everything ? ["*"] : wanted.types;
  for (const target of targets) {
    const { add, remove } = eventsDiff(target.enabled_events, enabled);
    io.out(`${target.id} ${target.url}:`);
    if (add.length === 0 && remove.length === 0) {
      io.out("  up to date");
      continue;
    }
    for (const t of add) io.out(`  + ${t}`);
    for (const t of remove) io.out(`  - ${t}`);
    if (dryRun) continue;
    if (wanted.everything && add.includes("*") && !(await confirmEverything(context))) return 1;
    await api.updateWebhookEndpoint(target.id, { enabled_events: enabled });
    io.out(`  updated: ${add.length} added, ${remove.length} removed`);
  }
  if (dryRun) io.out("(dry run: nothing changed)");
  return 0;
}

/** The enabled_events for a new endpoint, or undefined when enabling every type was declined. */
async function enabledEvents(context: CommandContext, config: Config): Promise<string[] | undefined> {
  const wanted = wantedTypes(config);
  if (wanted.thin.length > 0) {
    context.io.err(
      `note: thin event types (${wanted.thin.join(", ")}) come from an event destination, not a webhook endpoint; create one in Workbench`,
    );
  }
  if (wanted.everything) return (await confirmEverything(context)) ? ["*"] : undefined;
  if (wanted.types.length === 0) {
    throw new UsageError(
      `${config.source} has no handler for a snapshot event type, so the endpoint would get nothing`,
    );
  }
  return wanted.types;
}

/** Takes --yes, or reads a yes on stdin after the question was asked. */
async function confirm({ io, values }: CommandContext): Promise<boolean> {
  if (values.yes) return true;
  if (/^y(es)?$/i.test((await readLine())?.trim() ?? "")) return true;
  io.err("payhook: nothing changed (answer y, or pass --yes)");
  return false;
}

/** Asks (or takes --yes) before an endpoint gets every event type. */
async function confirmEverything({ io, values }: CommandContext): Promise<boolean> {
  if (values.yes) return true;
  io.err(
    'The handler map takes every event type ("*" or unhandled), so the endpoint would get all of them. Enable every type? [y/N]',
  );
  const answer = await readLine();
  if (/^y(es)?$/i.test(answer?.trim() ?? "")) return true;
  io.err("payhook: not changed; name the types in handlers, or answer y (or pass --yes) to enable every type");
  return false;
}

function liveGuard(config: Config, live: boolean, what: string): void {
  const { apiKey } = requireApiKey(config, `stripe endpoint`);
  if (isLiveKey(apiKey) && !live) {
    throw new UsageError(`stripe.api_key is a live-mode key; to ${what} on the live account, pass --live`);
  }
}

/** The first line on stdin, or undefined at its end (a closed or empty stdin answers no). */
async function readLine(): Promise<string | undefined> {
  let text = "";
  for await (const chunk of process.stdin) {
    text += String(chunk);
    const end = text.indexOf("\n");
    if (end >= 0) return text.slice(0, end);
  }
  return text === "" ? undefined : text;
}

/** An endpoint without anything secret (the secret is only in create's answer anyway). */
function publicFields(e: WebhookEndpoint): Record<string, unknown> {
  return {
    id: e.id,
    url: e.url,
    status: e.status,
    enabled_events: e.enabled_events,
    api_version: e.api_version,
    description: e.description,
    livemode: e.livemode,
  };
}
