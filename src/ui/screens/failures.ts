/** @module The Failures screen: failed and dead deliveries grouped by action and error, with bulk replay. */
import type { FailureGroup } from "../../store/types.ts";
import { cleanText, time } from "../format.ts";
import { html, type SafeHtml } from "../html.ts";
import { get, page, post, type Route } from "../http.ts";
import { BULK_CAP, type ReplayDeps, replay, replayed, replayNotice } from "../replay.ts";
import { confirmPage, layout } from "./layout.ts";

/** The groups of failed and dead deliveries, and replaying a group (or all of them) after a confirmation. */
export function failuresRoutes(deps: ReplayDeps): Route[] {
  const { store } = deps;
  return [
    get("/failures", async ({ url, session: { csrf } }) => {
      const groups = await store.failureGroups(200);
      return page(failuresPage({ csrf, groups, notice: replayNotice(url) }));
    }),
    get("/failures/replay", async ({ url, session: { csrf } }) => {
      const group = url.searchParams.get("scope") === "all" ? null : failureGroup(url.searchParams);
      const found = (await store.failedDeliveries(group, BULK_CAP + 1)).length;
      const n = Math.min(found, BULK_CAP);
      const what = group ? `of ${group.action} that failed with the same error` : "in every group";
      const fields: Record<string, string> = group
        ? { action: group.action, ...(group.error === null ? {} : { error: group.error }) }
        : { scope: "all" };
      return page(
        confirmPage({
          csrf,
          action: "/failures/replay",
          fields,
          question:
            found > BULK_CAP
              ? `Replay the oldest ${n} of more than ${BULK_CAP} failed and dead deliveries ${what}?`
              : `Replay ${n} failed and dead deliver${n === 1 ? "y" : "ies"} ${what}?`,
          button: `Replay ${n} deliver${n === 1 ? "y" : "ies"}`,
          back: "/failures",
          screen: "failures",
        }),
      );
    }),
    post("/failures/replay", async ({ form, session }) => {
      const group = form.get("scope") === "all" ? null : failureGroup(form);
      const chosen = await store.failedDeliveries(group, BULK_CAP);
      const result = await replay(store, deps.config(), chosen, deps.now());
      return replayed(deps, "/failures", result, { action: group?.action ?? "(all)" }, session.who);
    }),
  ];
}

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

function failureGroup(source: URLSearchParams | FormData): { action: string; error: string | null } {
  const action = source.get("action");
  const error = source.get("error");
  return { action: typeof action === "string" ? action : "", error: typeof error === "string" ? error : null };
}
