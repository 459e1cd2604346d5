/**
 * @module The operator page's control routes: the Actions screen with the audit trail, pause and resume, retry
 * now for one delivery, an action or a failure group (discard: discard.ts). The guards have checked the session, the origin and the
 * CSRF token before these run, and refused viewers every state-changing route (guards.ts, role). Every act is recorded
 * with the token's name through src/ops/control.ts, as the command line records the local user.
 */
import { actionStates, pause, RETRY_STATUSES, resume, retryNow } from "../ops/control.ts";
import type { RetryResult, RetrySelection } from "../store/types.ts";
import { discardedNotice, discardRoutes } from "./discard.ts";
import { decodeId, get, page, post, type Route, redirect, text } from "./http.ts";
import { BULK_CAP, type ReplayDeps, retriedNotice } from "./replay.ts";
import { actionsPage } from "./screens/actions.ts";
import { confirmPage } from "./screens/layout.ts";
import type { Session } from "./session.ts";

const AUDIT_SHOWN = 100;
const ACTION = /^\/actions\/([^/]+)\/(retry|pause|resume)$/;
const ACTION_RETRY = /^\/actions\/([^/]+)\/retry$/;

export function controlRoutes(deps: ReplayDeps): Route[] {
  const { store, log } = deps;

  async function retry(selection: RetrySelection, session: Session, target: string): Promise<RetryResult> {
    const result = await retryNow(store, selection, session.who, target, deps.now());
    log.info("operator page: retry now", { target, by: session.who, moved: result.moved });
    if (result.moved > 0) {
      deps.wake();
      deps.changes.notify();
    }
    return result;
  }

  return [
    ...discardRoutes(deps),
    get("/actions", async ({ url, session: { csrf } }) => {
      const [states, audit] = await Promise.all([
        actionStates(store, deps.config().actions),
        store.auditTrail(AUDIT_SHOWN),
      ]);
      const notice = retriedNotice(url) ?? discardedNotice(url);
      return page(actionsPage({ csrf, states, audit, now: deps.now(), notice }));
    }),
    get(ACTION_RETRY, async ({ url, params: [segment], session: { csrf } }) => {
      const name = decodeId(segment as string);
      if (name === undefined) return text(404, "no such action");
      const stats = (await store.actionStats()).find((s) => s.action === name);
      const n = (stats?.byStatus.pending ?? 0) + (stats?.byStatus.failed ?? 0) + (stats?.byStatus.dead ?? 0);
      return page(
        confirmPage({
          csrf,
          action: url.pathname,
          fields: {},
          question: `Retry ${n} waiting, failed and dead deliver${n === 1 ? "y" : "ies"} of ${name} now? Failed and dead ones start a fresh round of attempts; order keys keep their order.`,
          button: `Retry ${n} now`,
          back: "/actions",
          screen: "actions",
          what: "retry",
        }),
      );
    }),
    get("/failures/retry", async ({ url, session: { csrf } }) => {
      const group = failureGroup(url.searchParams);
      const n = (await store.failedDeliveries(group, BULK_CAP)).length;
      const fields: Record<string, string> = {
        action: group.action,
        ...(group.error === null ? {} : { error: group.error }),
      };
      return page(
        confirmPage({
          csrf,
          action: "/failures/retry",
          fields,
          question: `Retry ${n} failed and dead deliver${n === 1 ? "y" : "ies"} of ${group.action} that failed with the same error now, each with a fresh round of attempts?`,
          button: `Retry ${n} now`,
          back: "/failures",
          screen: "failures",
          what: "retry",
        }),
      );
    }),
    post(/^\/deliveries\/(\d{1,15})\/retry$/, async ({ params: [id], form, session }) => {
      const back = typeof form.get("back") === "string" ? String(form.get("back")) : "/actions";
      const result = await retry({ ids: [Number(id)], statuses: RETRY_STATUSES }, session, `delivery ${id}`);
      return redirect(`${safeBack(back)}?retried=${result.moved}`);
    }),
    post("/failures/retry", async ({ form, session }) => {
      const group = failureGroup(form);
      const chosen = await store.failedDeliveries(group, BULK_CAP);
      const selection: RetrySelection = {
        eventIds: [...new Set(chosen.map((d) => d.eventId))],
        action: group.action,
        statuses: ["failed", "dead"],
      };
      const result =
        chosen.length === 0 ? empty() : await retry(selection, session, `failure group of ${group.action}`);
      return redirect(`/failures?retried=${result.moved}`);
    }),
    post(ACTION, async ({ params: [segment, act], form, session }) => {
      const name = decodeId(segment as string);
      if (name === undefined) return text(404, "no such action");
      if (act === "retry") {
        const result = await retry({ action: name, statuses: RETRY_STATUSES }, session, `action ${name}`);
        return redirect(`/actions?retried=${result.moved}`);
      }
      if (!deps.config().actions.has(name)) return text(404, `the config has no action "${name}"`);
      if (act === "pause") {
        const reason = String(form.get("reason") ?? "")
          .trim()
          .slice(0, 200);
        const changed = await pause(store, name, session.who, reason || undefined, deps.now());
        log.info("operator page: action paused", { action: name, by: session.who, changed });
      } else {
        const changed = await resume(store, name, session.who, deps.now());
        log.info("operator page: action resumed", { action: name, by: session.who, changed });
        deps.wake();
      }
      deps.changes.notify();
      return redirect("/actions");
    }),
  ];
}

function empty(): RetryResult {
  return { moved: 0, left: { running: 0, done: 0, ordered: 0, unchosen: 0 } };
}

/** Only a path of this page: never an address elsewhere (an open redirect). */
function safeBack(back: string): string {
  return /^\/events\/[^/?#]+$/.test(back) ? back : "/actions";
}

function failureGroup(source: URLSearchParams | FormData): { action: string; error: string | null } {
  const action = source.get("action");
  const error = source.get("error");
  return { action: typeof action === "string" ? action : "", error: typeof error === "string" ? error : null };
}
