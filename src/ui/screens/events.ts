/** @module The Events screen: newest first, filters in the query string, keyset pages, live while on the first page. */
import { patternProblem } from "../../config/routes.ts";
import {
  DELIVERY_STATUSES,
  type DeliveryStatus,
  type EventCursor,
  type EventQuery,
  type EventView,
  type Store,
} from "../../store/types.ts";
import { badge, eventState, time } from "../format.ts";
import { html, type SafeHtml } from "../html.ts";
import { get, page, type Route } from "../http.ts";
import { layout } from "./layout.ts";

const PAGE_SIZE = 50;

export function eventsRoutes({ store }: { store: Pick<Store, "listEvents"> }): Route[] {
  return [
    get("/", async ({ url, session }) => {
      const { filters, query, problems } = readFilters(url.searchParams);
      const { csrf } = session;
      if (problems.length > 0) {
        return page(
          eventsPage({ csrf, filters, events: [], next: null, paged: false, problem: problems.join(" ") }),
          400,
        );
      }
      const found = await store.listEvents(query);
      const more = found.length > PAGE_SIZE;
      const shown = found.slice(0, PAGE_SIZE);
      const last = shown.at(-1);
      const next = more && last ? { receivedAt: last.receivedAt, id: last.id } : null;
      return page(eventsPage({ csrf, filters, events: shown, next, paged: query.after !== undefined }));
    }),
  ];
}

/** The Events screen with nothing but a problem: an event that is not (or no longer) in the store. */
export function noEventPage(csrf: string, id: string | undefined): SafeHtml {
  const problem = `No event ${id ?? "with that id"} in the store (it may have been pruned).`;
  return eventsPage({ csrf, filters: blank(), events: [], next: null, paged: true, problem });
}

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
  <div><label for="q">Search</label><input id="q" name="q" value="${filters.q}" placeholder="evt_…, ch_…, cus_…, acct_…" autocomplete="off"></div>
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

/** The filters of the address, as the form shows them, the query they make, and what is wrong with them. */
function readFilters(p: URLSearchParams): { filters: EventFilters; query: EventQuery; problems: string[] } {
  const filters: EventFilters = {
    type: p.get("type")?.trim() ?? "",
    status: p.get("status") ?? "",
    q: p.get("q")?.trim() ?? "",
    from: p.get("from") ?? "",
    to: p.get("to") ?? "",
  };
  const query: EventQuery = { limit: PAGE_SIZE + 1 };
  const problems: string[] = [];
  if (filters.type) {
    const problem = patternProblem(filters.type);
    if (problem) problems.push(`Type: ${problem}.`);
    else query.type = filters.type;
  }
  if (filters.status) {
    if (DELIVERY_STATUSES.includes(filters.status as DeliveryStatus)) query.status = filters.status as DeliveryStatus;
    else problems.push(`Delivery status: expected one of ${DELIVERY_STATUSES.join(", ")}.`);
  }
  if (filters.q) query.search = filters.q;
  for (const [key, label] of [
    ["from", "From"],
    ["to", "To"],
  ] as const) {
    if (!filters[key]) continue;
    const ms = Date.parse(`${filters[key]}Z`);
    if (Number.isNaN(ms)) problems.push(`${label}: expected a date and time such as 2026-01-31T09:00.`);
    else if (key === "from") query.since = ms;
    else query.until = ms;
  }
  const after = cursor(p.get("after"));
  if (after) query.after = after;
  return { filters, query, problems };
}

function cursor(text: string | null): EventCursor | undefined {
  const m = text === null ? null : /^(\d{1,16})\.(.+)$/.exec(text);
  return m ? { receivedAt: Number(m[1]), id: m[2] as string } : undefined;
}

function blank(): EventFilters {
  return { type: "", status: "", q: "", from: "", to: "" };
}
