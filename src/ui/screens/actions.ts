/**
 * @module The Actions screen: each action's queue and state (paused, breaker, rate) with pause, resume and
 * "retry all" buttons, "discard" for an action the config no longer has, and below it the audit trail of
 * operators' acts.
 */
import type { ActionState } from "../../ops/control.ts";
import type { AuditEntry } from "../../store/types.ts";
import { duration, time } from "../format.ts";
import { html, type SafeHtml } from "../html.ts";
import { layout } from "./layout.ts";

export function actionsPage(options: {
  csrf: string;
  states: readonly ActionState[];
  audit: readonly AuditEntry[];
  now: number;
  notice?: string | undefined;
}): SafeHtml {
  const { csrf, now } = options;
  const hidden = html`<input type="hidden" name="csrf" value="${csrf}">`;
  const row = (s: ActionState) => {
    const base = `/actions/${encodeURIComponent(s.action)}`;
    const state =
      s.state === "removed"
        ? html`No longer in the config`
        : s.state === "paused"
          ? html`Paused by ${s.paused?.by}${s.paused?.reason ? html`: ${s.paused.reason}` : ""}`
          : s.state === "breaker open"
            ? html`Breaker open after ${s.failures} failures; next probe ${time(s.breaker?.probeAt ?? null)}`
            : html`Running`;
    const waiting = s.pending + s.failed + s.dead;
    const toggle =
      s.state === "removed"
        ? ""
        : s.state === "running"
          ? html`<form method="post" action="${base}/pause" class="inline">${hidden}<label class="sr-only" for="reason-${s.action}">Reason to pause ${s.action}</label><input id="reason-${s.action}" name="reason" placeholder="reason (optional)" maxlength="200"> <button type="submit" aria-label="Pause ${s.action}">Pause</button></form>`
          : html`<form method="post" action="${base}/resume" class="inline">${hidden}<button type="submit" aria-label="${s.state === "paused" ? "Resume" : "Close the breaker of"} ${s.action}">${s.state === "paused" ? "Resume" : "Close breaker"}</button></form>`;
    const bulk =
      waiting === 0
        ? ""
        : s.state === "removed"
          ? html`<a class="button" href="${base}/discard">Discard…</a>`
          : html`<a class="button" href="${base}/retry">Retry all…</a>`;
    return html`<tr>
  <th scope="row">${s.action}</th>
  <td>${state}</td>
  <td>${s.pending}</td><td>${s.running}</td><td>${s.failed}</td><td>${s.dead}</td>
  <td>${s.oldestPendingAt === null ? "—" : duration(now - s.oldestPendingAt)}</td>
  <td>${s.rate ?? "—"}</td>
  <td>${toggle} ${bulk}</td>
</tr>`;
  };
  return layout(
    { title: "Actions", screen: "actions", csrf, notice: options.notice },
    html`<h1>Actions</h1>
<div class="scroll"><table class="actions">
  <caption class="sr-only">Actions and their queues</caption>
  <thead><tr><th scope="col">Action</th><th scope="col">State</th><th scope="col">Pending</th><th scope="col">Running</th><th scope="col">Failed</th><th scope="col">Dead</th><th scope="col">Oldest pending</th><th scope="col">Rate</th><th scope="col"><span class="sr-only">Controls</span></th></tr></thead>
  <tbody>${options.states.map(row)}</tbody>
</table></div>
<h2>Audit trail</h2>
${
  options.audit.length === 0
    ? html`<p class="muted">No acts recorded yet.</p>`
    : html`<div class="scroll"><table class="audit">
  <caption class="sr-only">Operators' acts, newest first</caption>
  <thead><tr><th scope="col">When (UTC)</th><th scope="col">Who</th><th scope="col">Act</th><th scope="col">Deliveries</th><th scope="col">On</th></tr></thead>
  <tbody>${options.audit.map((a) => html`<tr><td>${time(a.at)}</td><td>${a.who}</td><td>${a.act}</td><td>${a.count}</td><td>${a.target}</td></tr>`)}</tbody>
</table></div>`
}`,
  );
}
