/** @module The Events screen: newest first, filters in the query string, keyset pages, live while on the first page. */
import { DELIVERY_STATUSES, type EventCursor, type EventView } from "../../store/types.ts";
import { badge, eventState, time } from "../format.ts";
import { html, type SafeHtml } from "../html.ts";
import { layout } from "./layout.ts";

export interface EventFilters {
  type: string;
  status: string;
  q: string;
  from: string;
  to: string;
}

export function eventsPage(options: {
  csrf: string;
  filters: EventFilters;
  events: EventView[];
  next: EventCursor | null;
  paged: boolean;
  problem?: string;
}): SafeHtml {
  const { filters, events } = options;
  const query = (extra: Record<string, string>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...filters, ...extra })) if (v) params.set(k, v);
    const text = params.toString();
    return text ? `/?${text}` : "/";
  };
  const statuses = ["", ...DELIVERY_STATUSES];
  return layout(
    { title: "Events", screen: "events", csrf: options.csrf, live: !options.paged },
    html`<h1>Events</h1>
<form method="get" action="/" class="filters" role="search">
  <div><label for="q">Search</label><input id="q" name="q" value="${filters.q}" placeholder="evt_…, ch_…, cus_…" autocomplete="off"></div>
  <div><label for="type">Type</label><input id="type" name="type" value="${filters.type}" placeholder="invoice.* or invoice.paid"></div>
  <div><label for="status">Delivery status</label><select id="status" name="status">
    ${statuses.map((s) => html`<option value="${s}" ${s === filters.status ? "selected" : ""}>${s || "any"}</option>`)}
  </select></div>
  <div><label for="from">From (UTC)</label><input id="from" name="from" type="datetime-local" value="${filters.from}"></div>
  <div><label for="to">To (UTC)</label><input id="to" name="to" type="datetime-local" value="${filters.to}"></div>
  <div class="buttons"><button type="submit">Filter</button> <a href="/">Clear</a></div>
</form>
${options.problem ? html`<p class="error" role="alert">${options.problem}</p>` : ""}
<div id="events-list" data-live>
${
  events.length === 0
    ? html`<p class="empty">No events match.</p>`
    : html`<div class="scroll"><table class="events">
  <caption class="sr-only">Events, newest first</caption>
  <thead><tr><th scope="col">Received (UTC)</th><th scope="col">Event</th><th scope="col">Type</th><th scope="col">Object</th><th scope="col">Customer</th><th scope="col">State</th><th scope="col">Actions done</th></tr></thead>
  <tbody>${events.map(row)}</tbody>
</table></div>`
}
</div>
<nav class="pages" aria-label="Pages">
  ${options.paged ? html`<a href="${query({})}">Newest</a>` : ""}
  ${options.next ? html`<a href="${query({ after: `${options.next.receivedAt}.${options.next.id}` })}" rel="next">Older</a>` : ""}
</nav>`,
  );
}

function row(e: EventView): SafeHtml {
  const done = e.deliveries.filter((d) => d.status === "done").length;
  return html`<tr>
  <td>${time(e.receivedAt)}</td>
  <td><a href="/events/${encodeURIComponent(e.id)}"><code>${e.id}</code></a>${e.livemode ? "" : html` <span class="muted">test</span>`}</td>
  <td>${e.type}</td>
  <td><code>${e.objectId ?? ""}</code></td>
  <td><code>${e.customerId ?? ""}</code></td>
  <td>${badge(eventState(e))}</td>
  <td>${done}/${e.deliveries.length}</td>
</tr>`;
}
