/**
 * @module The Incidents screen: the alert incidents open now and the ones resolved lately, as `payhook incidents`
 * lists them; the open ones also head the Overview (openIncidents).
 */
import type { Incident, Store } from "../../store/types.ts";
import { cleanText, duration, time } from "../format.ts";
import { html, type SafeHtml } from "../html.ts";
import { get, page, type Route } from "../http.ts";
import { layout } from "./layout.ts";

/** The newest incidents the screen reads: the open ones and, of the rest, the resolved ones shown. */
const READ = 200;
const RESOLVED_SHOWN = 50;

export function incidentsRoutes(deps: { store: Pick<Store, "incidents">; now: () => number }): Route[] {
  return [
    get("/incidents", async ({ session: { csrf } }) => {
      const [open, recent] = await Promise.all([
        deps.store.incidents({ open: true, limit: READ }),
        deps.store.incidents({ limit: READ }),
      ]);
      const resolved = recent.filter((i) => i.resolvedAt !== null).slice(0, RESOLVED_SHOWN);
      return page(incidentsPage({ csrf, open, resolved, now: deps.now() }));
    }),
  ];
}

export function incidentsPage(options: {
  csrf: string;
  open: readonly Incident[];
  resolved: readonly Incident[];
  now: number;
}): SafeHtml {
  const { now } = options;
  return layout(
    { title: "Incidents", screen: "incidents", csrf: options.csrf, live: true },
    html`<h1>Incidents</h1>
<div id="incidents" data-live>
${openIncidents(options.open, now, false)}
<h2>Resolved lately</h2>
${
  options.resolved.length === 0
    ? html`<p class="empty">No resolved incidents in the store.</p>`
    : html`<div class="scroll"><table class="incidents">
  <caption class="sr-only">Resolved incidents, newest first</caption>
  <thead><tr><th scope="col">Rule</th><th scope="col">Summary</th><th scope="col">Count</th><th scope="col">Opened (UTC)</th><th scope="col">Resolved (UTC)</th><th scope="col">Lasted</th></tr></thead>
  <tbody>${options.resolved.map(
    (i) =>
      html`<tr><td>${i.rule}</td><td>${summary(i)}</td><td>${i.count}</td><td>${time(i.openedAt)}</td><td>${time(i.resolvedAt)}</td><td>${duration((i.resolvedAt ?? now) - i.openedAt)}</td></tr>`,
  )}</tbody>
</table></div>`
}
</div>`,
  );
}

/**
 * The open incidents as a table under its own heading, or a line saying there are none. On the Overview (`linked`)
 * it links to the Incidents screen.
 */
export function openIncidents(open: readonly Incident[], now: number, linked = true): SafeHtml {
  const more = linked ? html` <a href="/incidents">All incidents</a>` : "";
  if (open.length === 0) {
    return html`<section class="incidents" aria-labelledby="open-incidents"><h2 id="open-incidents">Open incidents</h2><p class="muted">No open incidents.${more}</p></section>`;
  }
  const ago = (at: number) => html`${time(at)} <span class="muted">(${duration(now - at)} ago)</span>`;
  return html`<section class="incidents open" aria-labelledby="open-incidents">
<h2 id="open-incidents">Open incidents: ${open.length}</h2>
<div class="scroll"><table class="incidents">
  <caption class="sr-only">Open incidents, newest first</caption>
  <thead><tr><th scope="col">Rule</th><th scope="col">Summary</th><th scope="col">Count</th><th scope="col">Opened (UTC)</th><th scope="col">Last notified (UTC)</th></tr></thead>
  <tbody>${open.map((i) => html`<tr><td>${i.rule}</td><td>${summary(i)}</td><td>${i.count}</td><td>${ago(i.openedAt)}</td><td>${ago(i.notifiedAt)}</td></tr>`)}</tbody>
</table></div>
${linked ? html`<p>${more}</p>` : ""}
</section>`;
}

/** The summary, and the details below it when there are any: text from the store, cleaned and escaped. */
function summary(i: Incident): SafeHtml {
  const details = cleanText(i.details, 1000);
  return html`${cleanText(i.summary, 500)}${details ? html`<br><span class="muted">${details}</span>` : ""}`;
}
