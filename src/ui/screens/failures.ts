/** @module The Failures screen: failed and dead deliveries grouped by action and error, with bulk replay. */
import type { FailureGroup } from "../../store/types.ts";
import { cleanText, time } from "../format.ts";
import { html, type SafeHtml } from "../html.ts";
import { layout } from "./layout.ts";

export function failuresPage(options: { csrf: string; groups: FailureGroup[]; notice?: string }): SafeHtml {
  const total = options.groups.reduce((n, g) => n + g.failed + g.dead, 0);
  return layout(
    { title: "Failures", screen: "failures", csrf: options.csrf, live: true, notice: options.notice },
    html`<h1>Failures</h1>
<div id="failures" data-live>
${
  options.groups.length === 0
    ? html`<p class="empty">No failed or dead deliveries.</p>`
    : html`<p>${total} failed or dead deliver${total === 1 ? "y" : "ies"} in ${options.groups.length} group${options.groups.length === 1 ? "" : "s"}. <a href="/failures/replay?scope=all">Replay all ${total}…</a></p>
<div class="scroll"><table class="failures">
  <caption class="sr-only">Failures by action and error</caption>
  <thead><tr><th scope="col">Action</th><th scope="col">Error</th><th scope="col">Failed</th><th scope="col">Dead</th><th scope="col">Oldest (UTC)</th><th scope="col">Newest (UTC)</th><th scope="col"><span class="sr-only">Replay</span></th></tr></thead>
  <tbody>${options.groups.map((g) => {
    const params = new URLSearchParams({ action: g.action });
    if (g.error !== null) params.set("error", g.error);
    const n = g.failed + g.dead;
    return html`<tr>
    <td>${g.action}</td>
    <td><pre class="out" tabindex="0">${g.error === null ? "(no error recorded)" : cleanText(g.error, 600)}</pre></td>
    <td>${g.failed}</td><td>${g.dead}</td><td>${time(g.oldestAt)}</td><td>${time(g.newestAt)}</td>
    <td><a class="button" href="/failures/replay?${params.toString()}">Replay ${n}…</a> <a class="button" href="/failures/retry?${params.toString()}">Retry all ${n}…</a></td>
  </tr>`;
  })}</tbody>
</table></div>`
}
</div>`,
  );
}
