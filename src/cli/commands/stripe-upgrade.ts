/**
 * @module `payhook stripe endpoint upgrade|cutover` and `payhook stripe upgrade report`: an API-version upgrade in
 * three commands. upgrade creates a shadow endpoint at the new version beside the live one (its secret printed
 * once, never stored), report compares the two renderings of each event through the handler map, and cutover
 * makes the shadow live: the switch by event id (stripe/upgrade.ts), then the old endpoint disabled at Stripe; its
 * secrets retire a while later (ops/rotation.ts).
 */
import type { Config, Endpoint } from "../../config/types.ts";
import { UsageError } from "../../errors.ts";
import { formatReport, upgradeReport } from "../../explain/upgrade-report.ts";
import { VERSION } from "../../ops/build.ts";
import { retirementLine, retirementOf } from "../../ops/rotation.ts";
import { openStore } from "../../store/open.ts";
import type { Store, Upgrade } from "../../store/types.ts";
import { apiFor } from "../../stripe/access.ts";
import type { WebhookEndpoint } from "../../stripe/api.ts";
import { payhookEndpoints } from "../../stripe/endpoints.ts";
import { promoteCopies } from "../../stripe/upgrade.ts";
import type { CommandContext } from "../types.ts";

const API_VERSION = /^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/;
/** The most event pairs one report reads. */
const REPORT_LIMIT = 5_000;

export async function upgrade(context: CommandContext, config: Config): Promise<number> {
  const { io, values } = context;
  const version = values["api-version"] as string | undefined;
  if (!version || !API_VERSION.test(version)) {
    throw new UsageError("stripe endpoint upgrade needs --api-version VERSION, such as 2026-10-28.endive");
  }
  const api = apiFor(config, "stripe endpoint upgrade", context.runtime, context.log, 0);
  const old = liveEndpoint(await api.listWebhookEndpoints(), config, values.endpoint as string | undefined);
  if (old.api_version === version) throw new UsageError(`${old.id} already renders events with API version ${version}`);
  const livePath = config.endpoints.find((e) => e.shadowOf === undefined && new URL(old.url).pathname.endsWith(e.path));
  if (!livePath) throw new UsageError(`${old.url} does not end with an endpoint path of ${config.source}`);
  const shadowPath = config.endpoints.find((e) => e.shadowOf === livePath.path)?.path ?? `${livePath.path}/shadow`;
  const url = new URL(old.url);
  url.pathname = url.pathname.slice(0, url.pathname.length - livePath.path.length) + shadowPath;
  const made = await api.createWebhookEndpoint({
    url: url.toString(),
    enabled_events: old.enabled_events,
    api_version: version,
    description: `payhook shadow of ${old.id} (API ${version})`,
    metadata: { created_by: "payhook", shadow_of: old.id },
  });
  await withStore(context, config, (store) =>
    store.saveUpgrade({
      shadowPath,
      livePath: livePath.path,
      apiVersion: version,
      oldEndpoint: old.id,
      newEndpoint: made.id,
      since: made.created ?? Math.floor(Date.now() / 1000),
      startedAt: Date.now(),
      cutOverAt: null,
    }),
  );
  io.out(
    `created ${made.id} for ${made.url}: the same ${old.enabled_events.length} event type(s) as ${old.id}, API version ${made.api_version ?? version}`,
  );
  io.out("");
  if (made.secret) io.out(`Its signing secret, shown this once: ${made.secret}`);
  io.out(
    `Put it in the environment payhook serves with (for example STRIPE_WEBHOOK_SECRET_SHADOW), add this endpoint to ${config.source} and reload:`,
  );
  io.out("  endpoints:");
  io.out(`    - { path: ${shadowPath}, shadow_of: ${livePath.path}, secrets: ["\${STRIPE_WEBHOOK_SECRET_SHADOW}"] }`);
  io.out("");
  io.out(
    "Its events are kept apart and run no action. Read `payhook stripe upgrade report`, then run `payhook stripe endpoint cutover`.",
  );
  return 0;
}

export async function report(context: CommandContext, config: Config): Promise<number> {
  const shadow = shadowEndpoint(config);
  const live = shadow.shadowOf as string;
  const pairs = await withStore(context, config, (store) =>
    store.copies({ endpoint: shadow.path, pairedWith: live, limit: REPORT_LIMIT }),
  );
  const result = upgradeReport(config, { live, shadow: shadow.path }, pairs);
  if (context.values.json) context.io.out(JSON.stringify(result));
  else for (const line of formatReport(result)) context.io.out(line);
  return 0;
}

export async function cutover(
  context: CommandContext,
  config: Config,
  confirm: () => Promise<boolean>,
): Promise<number> {
  const { io } = context;
  const shadow = shadowEndpoint(config);
  const api = apiFor(config, "stripe endpoint cutover", context.runtime, context.log);
  const done = await withStore(context, config, async (store) => {
    const recorded = (await store.upgrades()).find((u) => u.shadowPath === shadow.path);
    const upgrade: Upgrade = recorded ?? {
      shadowPath: shadow.path,
      livePath: shadow.shadowOf as string,
      apiVersion: "(unknown)",
      oldEndpoint: null,
      newEndpoint: null,
      since: 0,
      startedAt: Date.now(),
      cutOverAt: null,
    };
    if (upgrade.cutOverAt !== null) {
      io.out(`${shadow.path} was already cut over at ${new Date(upgrade.cutOverAt).toISOString()}`);
    } else {
      io.err(
        `Cut over: ${shadow.path} (API ${upgrade.apiVersion}) runs the actions from now on, ${upgrade.livePath}'s copies are kept apart, and ${upgrade.oldEndpoint ?? "the old endpoint"} is disabled at Stripe. Go on? [y/N]`,
      );
      if (!(await confirm())) return undefined;
      upgrade.cutOverAt = Date.now();
      // The marker first: from here on a server that reads it keeps the old path's copies apart; then every copy
      // the shadow kept whose event never ran is promoted, so none is skipped.
      await store.saveUpgrade(upgrade);
      const promoted = await promoteCopies(store, config.router, upgrade);
      io.out(`cut over ${shadow.path}: ${promoted} event(s) received only there so far now run`);
    }
    return upgrade;
  });
  if (!done) return 1;
  if (done.oldEndpoint) {
    const disabled = await api.updateWebhookEndpoint(done.oldEndpoint, { disabled: true });
    io.out(`disabled ${disabled.id} at Stripe (status ${disabled.status})`);
  }
  const retirement = retirementOf(done);
  if (retirement) {
    const labels = config.endpoints.find((e) => e.path === done.livePath)?.signing.map((s) => s.label) ?? [];
    io.out("");
    io.out(retirementLine(retirement, labels, Date.now()));
    io.out("`payhook check --rotation` and `payhook status` say so meanwhile.");
  }
  return 0;
}

/** The config's shadow endpoint, or a usage error saying how to get one. */
function shadowEndpoint(config: Config): Endpoint {
  const shadow = config.endpoints.find((e) => e.shadowOf !== undefined);
  if (!shadow) {
    throw new UsageError(
      `${config.source} has no shadow endpoint (an endpoint with shadow_of:); start with \`payhook stripe endpoint upgrade --api-version VERSION\``,
    );
  }
  return shadow;
}

function liveEndpoint(all: readonly WebhookEndpoint[], config: Config, id: string | undefined): WebhookEndpoint {
  const live = { ...config, endpoints: config.endpoints.filter((e) => e.shadowOf === undefined) };
  const found = payhookEndpoints(all, live, id).filter((e) => id !== undefined || e.status === "enabled");
  if (found.length === 1) return found[0] as WebhookEndpoint;
  if (found.length === 0) {
    throw new UsageError(
      id
        ? `no webhook endpoint ${id} on this account`
        : "no enabled webhook endpoint on this account delivers to this config",
    );
  }
  throw new UsageError(
    `several endpoints deliver to this config (${found.map((e) => e.id).join(", ")}); pick one with --endpoint we_…`,
  );
}

async function withStore<T>(context: CommandContext, config: Config, use: (store: Store) => Promise<T>): Promise<T> {
  const { store, close } = await openStore(context.runtime, config.store, { version: VERSION });
  try {
    return await use(store);
  } finally {
    await close();
  }
}
