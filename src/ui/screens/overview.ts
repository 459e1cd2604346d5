/** @module The Overview screen: activity charts over the last hour and day, the queue, and what is running. */
import type { Config } from "../../config/types.ts";
import { iso, type Retirement, removalAdvice, retirements } from "../../ops/rotation.ts";
import type { ActivityBucket, Incident, QueueStats, Store, Upgrade } from "../../store/types.ts";
import { chart, duration, series } from "../format.ts";
import { html, type SafeHtml } from "../html.ts";
import { get, page, type Route } from "../http.ts";
import { createOverviewSource } from "../overview-data.ts";
import { openIncidents } from "./incidents.ts";
import { layout } from "./layout.ts";

const MINUTE = 60_000;

/** What the Overview says about this server besides the store's numbers. */
export interface ServerFacts {
  storeKind: string;
  version: string;
  runtime: string;
  startedAt: number;
}

export function overviewRoutes(
  deps: ServerFacts & {
    store: Pick<Store, "activity" | "queueStats" | "upgrades" | "incidents">;
    now: () => number;
    /** The current config: which old endpoints' secrets a cutover retires. */
    config?: () => Pick<Config, "endpoints">;
  },
): Route[] {
  // Shared by every open Overview for a couple of seconds: N tabs cost one reading of the store.
  const overview = createOverviewSource(deps.store, deps.now);
  return [
    get("/overview", async ({ session: { csrf } }) => {
      // One query for the day; the last hour is its last 60 buckets.
      const { at: t, day, queue, upgrades, incidents } = await overview();
      return page(
        overviewPage({
          csrf,
          hour: series(day, t - 59 * MINUTE, t + 1, MINUTE),
          day: series(day, t - 1439 * MINUTE, t + 1, MINUTE),
          queue,
          upgrades,
          retirements: deps.config ? retirements(deps.config().endpoints, upgrades) : [],
          incidents,
          now: t,
          storeKind: deps.storeKind,
          version: deps.version,
          runtime: deps.runtime,
          startedAt: deps.startedAt,
        }),
      );
    }),
  ];
}

export function overviewPage(options: {
  csrf: string;
  hour: ActivityBucket[];
  day: ActivityBucket[];
  queue: QueueStats;
  upgrades?: Upgrade[];
  /** Old endpoints whose secrets a cutover retires. */
  retirements?: Retirement[];
  /** Alert incidents open now; shown first. */
  incidents?: Incident[];
  now: number;
  storeKind: string;
  version: string;
  runtime: string;
  startedAt: number;
}): SafeHtml {
  const { queue, now } = options;
  const sum = (points: ActivityBucket[], pick: (b: ActivityBucket) => number) =>
    points.reduce((n, b) => n + pick(b), 0);
  const depth = (queue.byStatus.pending ?? 0) + (queue.byStatus.running ?? 0);
  const stat = (label: string, value: string | number) => html`<div><dt>${label}</dt><dd>${value}</dd></div>`;
  return layout(
    { title: "Overview", screen: "overview", csrf: options.csrf, live: true },
    html`<h1>Overview</h1>
<div id="overview" data-live>
${openIncidents(options.incidents ?? [], now)}
<dl class="stats">
  ${stat(
    "Events, last hour",
    sum(options.hour, (b) => b.events),
  )}
  ${stat(
    "Failed attempts, last hour",
    sum(options.hour, (b) => b.failures),
  )}
  ${stat(
    "Events, last day",
    sum(options.day, (b) => b.events),
  )}
  ${stat(
    "Failed attempts, last day",
    sum(options.day, (b) => b.failures),
  )}
  ${stat("Queue depth", depth)}
  ${stat("Oldest pending", queue.oldestPendingAt === null ? "—" : duration(now - queue.oldestPendingAt))}
  ${stat("Failed deliveries", queue.byStatus.failed ?? 0)}
  ${stat("Dead deliveries", queue.byStatus.dead ?? 0)}
</dl>
${upgradeNotes(options.upgrades ?? [], options.retirements ?? [], now)}
${chart("Last hour, per minute", options.hour)}
${chart("Last day, per minute", options.day)}
<dl class="facts">
  ${stat("Store", options.storeKind)}
  ${stat("Version", options.version)}
  ${stat("Runtime", options.runtime)}
  ${stat("Uptime", duration(now - options.startedAt))}
</dl>
</div>`,
  );
}

/** One line per API-version upgrade in progress (or cut over lately), with its old endpoint's retiring secrets. */
function upgradeNotes(upgrades: readonly Upgrade[], retired: readonly Retirement[], now: number): SafeHtml {
  const secrets = (u: Upgrade) => {
    const r = retired.find((r) => r.shadow === u.shadowPath && r.endpoint === u.livePath);
    if (!r) return html``;
    return now < r.until
      ? html`; its signing secrets are retiring: they verify Stripe's retries until <time>${iso(r.until)}</time>, then are refused; after that, ${removalAdvice(r)}`
      : html`; its signing secrets retired at <time>${iso(r.until)}</time>: events signed with them are refused; ${removalAdvice(r)}`;
  };
  const line = (u: Upgrade) =>
    u.cutOverAt === null
      ? html`<li>API upgrade in progress: <code>${u.shadowPath}</code> (API ${u.apiVersion}) shadows <code>${u.livePath}</code> since ${duration(now - u.startedAt)} ago; its events run no action until <code>payhook stripe endpoint cutover</code></li>`
      : html`<li>API upgrade cut over ${duration(now - u.cutOverAt)} ago: <code>${u.shadowPath}</code> (API ${u.apiVersion}) runs the actions; <code>${u.livePath}</code>'s copies are kept apart${secrets(u)}</li>`;
  return upgrades.length === 0 ? html`` : html`<ul class="upgrades">${upgrades.map(line)}</ul>`;
}
