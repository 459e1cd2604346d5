/** @module The Event detail screen: the payload, each delivery with its attempts, and replay buttons. */
import type { AttemptView, EventDetail } from "../../store/types.ts";
import { attemptOutcome, deliveryWord } from "../../store/words.ts";
import { badge, cleanText, duration, eventState, highlightJson, time } from "../format.ts";
import { html, type SafeHtml } from "../html.ts";
import { decodeId, get, page, post, type Route, text } from "../http.ts";
import { type ReplayDeps, replay, replayed, replayNotice } from "../replay.ts";
import { PAGE_HEADERS } from "../security.ts";
import { noEventPage } from "./events.ts";
import { confirmPage, layout } from "./layout.ts";

/** One event (`/events/ID`), its bytes as Stripe sent them (`/events/ID/raw`), and replaying its deliveries. */
export function eventRoutes(deps: ReplayDeps): Route[] {
  const { store } = deps;
  return [
    get(/^\/events\/([^/]+)(\/raw)?$/, async ({ url, params: [segment, raw], session: { csrf } }) => {
      const id = decodeId(segment as string);
      const event = id === undefined ? null : await store.getEvent(id);
      if (!event || id === undefined) return page(noEventPage(csrf, id), 404);
      if (raw) {
        return new Response(event.body as Uint8Array<ArrayBuffer>, {
          headers: {
            ...PAGE_HEADERS,
            "content-type": "application/octet-stream",
            "content-disposition": `attachment; filename="${id.replace(/[^A-Za-z0-9_-]/g, "_")}.json"`,
          },
        });
      }
      const kinds = new Map([...deps.config().actions].map(([name, a]) => [name, a.kind]));
      return page(eventPage({ csrf, event, kinds, notice: replayNotice(url) }));
    }),
    post(/^\/events\/([^/]+)\/replay$/, async ({ url, params: [segment], session, form }) => {
      const id = decodeId(segment as string);
      const event = id === undefined ? null : await store.getEvent(id);
      if (!event || id === undefined) return text(404, "no such event in the store");
      const action = form.get("action");
      const chosen =
        typeof action === "string"
          ? event.deliveries.filter((d) => d.action === action)
          : event.deliveries.filter((d) => d.status !== "pending" && d.status !== "running");
      if (typeof action !== "string" && form.get("confirmed") !== "1" && chosen.length > 1) {
        return page(
          confirmPage({
            csrf: session.csrf,
            action: url.pathname,
            fields: { all: "1", confirmed: "1" },
            question: `Replay all ${chosen.length} deliveries of ${id}?`,
            button: `Replay ${chosen.length} deliveries`,
            back: `/events/${encodeURIComponent(id)}`,
            screen: "events",
          }),
        );
      }
      const wanted = chosen.map((d) => ({ eventId: id, eventType: event.type, action: d.action }));
      const result = await replay(store, deps.config(), wanted, deps.now());
      return replayed(deps, `/events/${encodeURIComponent(id)}`, result, { event_id: id }, session.who);
    }),
  ];
}

type Delivery = EventDetail["deliveries"][number];

export function eventPage(options: {
  csrf: string;
  event: EventDetail;
  kinds: Map<string, string>;
  notice?: string;
}): SafeHtml {
  const { event, csrf } = options;
  const base = `/events/${encodeURIComponent(event.id)}`;
  const replayable = event.deliveries.filter((d) => d.status !== "pending" && d.status !== "running");
  return layout(
    { title: event.id, screen: "events", csrf, live: true, notice: options.notice },
    html`<p><a href="/">← Events</a></p>
<h1><code>${event.id}</code></h1>
<div id="event-summary" data-live>
<dl class="facts">
  <div><dt>Type</dt><dd>${event.type}</dd></div>
  <div><dt>State</dt><dd>${badge(eventState(event))}</dd></div>
  <div><dt>Received (UTC)</dt><dd>${time(event.receivedAt)}</dd></div>
  <div><dt>Created (UTC)</dt><dd>${time(event.created * 1000)}</dd></div>
  <div><dt>Mode</dt><dd>${event.livemode ? "live" : "test"}</dd></div>
  <div><dt>Object</dt><dd><code>${event.objectId ?? "—"}</code></dd></div>
  <div><dt>Customer</dt><dd><code>${event.customerId ?? "—"}</code></dd></div>
  <div><dt>Account</dt><dd><code>${event.account ?? "—"}</code></dd></div>
  <div><dt>API version</dt><dd>${event.apiVersion ?? "—"}</dd></div>
  <div><dt>Endpoint</dt><dd><code>${event.endpoint}</code></dd></div>
  <div><dt>Verified by</dt><dd>${event.verifiedBy === null ? "—" : html`secret <code>${event.verifiedBy}</code>`}</dd></div>
</dl>
</div>
<section aria-labelledby="deliveries-h">
<h2 id="deliveries-h">Deliveries</h2>
${
  replayable.length > 1
    ? html`<form method="post" action="${base}/replay" class="inline"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="all" value="1"><button type="submit">Replay all ${replayable.length} deliveries</button></form>`
    : ""
}
<div id="deliveries" data-live>
${event.deliveries.length === 0 ? html`<p class="empty">No action ran for this event.</p>` : event.deliveries.map((d) => delivery(d, options.kinds.get(d.action), base, csrf))}
</div>
</section>
<section aria-labelledby="payload-h">
<h2 id="payload-h">Payload</h2>
<p class="tools"><button type="button" class="copy" data-copy="payload" hidden>Copy payload</button> <a href="${base}/raw" download>Download the exact bytes</a> <span class="muted">(${event.body.byteLength} bytes)</span></p>
<pre id="payload" class="json" tabindex="0" aria-label="Payload">${highlightJson(event.body)}</pre>
</section>`,
  );
}

/** An attempt's outcome in the words `payhook events show` uses (`failed · retry`). */
function outcome(status: AttemptView["status"]): SafeHtml {
  const { state, retry } = attemptOutcome(status);
  return html`${badge(state)}${retry ? html` <span class="muted">· retry</span>` : ""}`;
}

function delivery(d: Delivery, kind: string | undefined, base: string, csrf: string): SafeHtml {
  const finished = d.status === "done" || d.status === "failed" || d.status === "dead";
  return html`<article class="delivery" aria-label="Delivery ${d.action}">
<header>
  <h3>${d.action} <span class="muted">${kind ?? "not in the current config"}</span></h3>
  ${badge(deliveryWord(d))}
  ${
    finished && kind
      ? html`<form method="post" action="${base}/replay" class="inline"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="${d.action}"><button type="submit" aria-label="Replay ${d.action}">Replay</button></form>`
      : ""
  }
  ${
    d.status === "pending" || d.status === "failed" || d.status === "dead"
      ? html`<form method="post" action="/deliveries/${d.id}/retry" class="inline"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="back" value="${base}"><button type="submit" aria-label="Retry now ${d.action}">Retry now</button></form>`
      : ""
  }
</header>
<p class="muted">${d.backfilledAt === null ? "" : html`Created by the backfill round of ${time(d.backfilledAt)}. `}${d.attempts} attempt${d.attempts === 1 ? "" : "s"} this round${d.status === "pending" && d.nextAt !== null ? html`; next attempt at ${time(d.nextAt)}` : ""}</p>
${d.lastError ? html`<p class="error-text">Last error: ${cleanText(d.lastError, 500)}</p>` : ""}
${
  d.history.length === 0
    ? ""
    : html`<div class="scroll"><table class="attempts">
  <caption class="sr-only">Attempts of ${d.action}</caption>
  <thead><tr><th scope="col">#</th><th scope="col">Started (UTC)</th><th scope="col">Duration</th><th scope="col">Outcome</th><th scope="col">Error</th><th scope="col">Output</th></tr></thead>
  <tbody>${d.history.map(
    (a) => html`<tr>
    <td>${a.attempt}</td><td>${time(a.startedAt)}</td><td>${duration(a.finishedAt - a.startedAt)}</td>
    <td>${outcome(a.status)}</td>
    <td>${a.error ? html`<pre class="out" tabindex="0">${cleanText(a.error)}</pre>` : ""}</td>
    <td>${a.output ? html`<pre class="out" tabindex="0">${cleanText(a.output)}</pre>` : ""}</td>
  </tr>`,
  )}</tbody>
</table></div>`
}
</article>`;
}
