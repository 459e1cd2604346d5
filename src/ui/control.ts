/**
 * @module The operator page's control routes: the Actions screen with the audit trail, pause and resume, retry
 * now for one delivery, an action or a failure group. The server has checked the session, the origin and the
 * CSRF token before these run, and refused viewers every state-changing route (refuse()). Every act is recorded
 * with the token's name through src/ops/control.ts, as the command line records the local user.
 */
import type { Config } from "../config/load.ts";
import type { Logger } from "../log.ts";
import { actionStates, pause, RETRY_STATUSES, resume, retryNow } from "../ops/control.ts";
import type { RetryResult, RetrySelection, Store } from "../store/types.ts";
import type { SafeHtml } from "./html.ts";
import type { Changes } from "./live.ts";
import { BULK_CAP } from "./replay.ts";
import { actionsPage } from "./screens/actions.ts";
import { confirmPage } from "./screens/layout.ts";
import type { Session } from "./session.ts";

const AUDIT_SHOWN = 100;

export interface ControlContext {
  store: Store;
  config: () => Config;
  changes: Changes;
  wake(): void;
  log: Logger;
  now: () => number;
  page(body: SafeHtml, status?: number): Response;
  text(status: number, message: string): Response;
  redirect(location: string): Response;
}

export interface ControlRoutes {
  /** Answers the GET routes it owns, else undefined. */
  get(url: URL, session: Session): Promise<Response | undefined>;
  /** Answers the POST routes it owns, else undefined. */
  post(path: string, form: FormData, session: Session): Promise<Response | undefined>;
  /** The answer to a viewer's state-changing request. */
  refuse(path: string, session: Session, client: string): Response;
}

export function createControlRoutes(ctx: ControlContext): ControlRoutes {
  const { store, log } = ctx;
  const ACTION = /^\/actions\/([^/]+)\/(retry|pause|resume)$/;

  async function get(url: URL, session: Session): Promise<Response | undefined> {
    const path = url.pathname;
    const csrf = session.csrf;
    if (path === "/actions") {
      const [states, audit] = await Promise.all([
        actionStates(store, ctx.config().actions),
        store.auditTrail(AUDIT_SHOWN),
      ]);
      return ctx.page(actionsPage({ csrf, states, audit, now: ctx.now(), notice: retriedNotice(url) }));
    }
    const match = ACTION.exec(path);
    if (match?.[2] === "retry") {
      const name = decode(match[1] as string);
      if (name === undefined) return ctx.text(404, "no such action");
      const stats = (await store.actionStats()).find((s) => s.action === name);
      const n = (stats?.byStatus.pending ?? 0) + (stats?.byStatus.failed ?? 0) + (stats?.byStatus.dead ?? 0);
      return ctx.page(
        confirmPage({
          csrf,
          action: path,
          fields: {},
          question: `Retry ${n} waiting, failed and dead deliver${n === 1 ? "y" : "ies"} of ${name} now? Failed and dead ones start a fresh round of attempts; order keys keep their order.`,
          button: `Retry ${n} now`,
          back: "/actions",
          screen: "actions",
          what: "retry",
        }),
      );
    }
    if (path === "/failures/retry") {
      const group = failureGroup(url.searchParams);
      const n = (await store.failedDeliveries(group, BULK_CAP)).length;
      const fields: Record<string, string> = {
        action: group.action,
        ...(group.error === null ? {} : { error: group.error }),
      };
      return ctx.page(
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
    }
    return undefined;
  }

  async function post(path: string, form: FormData, session: Session): Promise<Response | undefined> {
    const one = /^\/deliveries\/(\d{1,15})\/retry$/.exec(path);
    if (one) {
      const id = Number(one[1]);
      const back = typeof form.get("back") === "string" ? String(form.get("back")) : "/actions";
      const result = await retry({ ids: [id], statuses: RETRY_STATUSES }, session, `delivery ${id}`);
      return ctx.redirect(`${safeBack(back)}?retried=${result.moved}`);
    }
    if (path === "/failures/retry") {
      const group = failureGroup(form);
      const chosen = await store.failedDeliveries(group, BULK_CAP);
      const selection: RetrySelection = {
        eventIds: [...new Set(chosen.map((d) => d.eventId))],
        action: group.action,
        statuses: ["failed", "dead"],
      };
      const result =
        chosen.length === 0 ? empty() : await retry(selection, session, `failure group of ${group.action}`);
      return ctx.redirect(`/failures?retried=${result.moved}`);
    }
    const match = ACTION.exec(path);
    if (!match) return undefined;
    const name = decode(match[1] as string);
    if (name === undefined) return ctx.text(404, "no such action");
    if (match[2] === "retry") {
      const result = await retry({ action: name, statuses: RETRY_STATUSES }, session, `action ${name}`);
      return ctx.redirect(`/actions?retried=${result.moved}`);
    }
    if (!ctx.config().actions.has(name)) return ctx.text(404, `the config has no action "${name}"`);
    if (match[2] === "pause") {
      const reason = String(form.get("reason") ?? "")
        .trim()
        .slice(0, 200);
      const changed = await pause(store, name, session.who, reason || undefined, ctx.now());
      log.info("operator page: action paused", { action: name, by: session.who, changed });
    } else {
      const changed = await resume(store, name, session.who, ctx.now());
      log.info("operator page: action resumed", { action: name, by: session.who, changed });
      ctx.wake();
    }
    ctx.changes.notify();
    return ctx.redirect("/actions");
  }

  async function retry(selection: RetrySelection, session: Session, target: string): Promise<RetryResult> {
    const result = await retryNow(store, selection, session.who, target, ctx.now());
    log.info("operator page: retry now", { target, by: session.who, moved: result.moved });
    if (result.moved > 0) {
      ctx.wake();
      ctx.changes.notify();
    }
    return result;
  }

  function refuse(path: string, session: Session, client: string): Response {
    log.warn("operator page: request refused", { code: "viewer", who: session.who, client, path });
    return ctx.text(403, "refused: this token is a viewer's; replay, retry, pause and resume need an operator's");
  }

  return { get, post, refuse };
}

/** The notice after a retry now, from the redirect's query (a number, never text from the request). */
export function retriedNotice(url: URL): string | undefined {
  const moved = url.searchParams.get("retried");
  if (moved === null || !/^\d+$/.test(moved)) return undefined;
  const n = Number(moved);
  return `${n} deliver${n === 1 ? "y is" : "ies are"} due now${n === 0 ? " (running, done, or waiting behind their order key)" : ""}.`;
}

function empty(): RetryResult {
  return { moved: 0, left: { running: 0, done: 0, ordered: 0, unchosen: 0 } };
}

/** Only a path of this page: never an address elsewhere (an open redirect). */
function safeBack(back: string): string {
  return /^\/events\/[^/?#]+$/.test(back) ? back : "/actions";
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function failureGroup(source: URLSearchParams | FormData): { action: string; error: string | null } {
  const action = source.get("action");
  const error = source.get("error");
  return { action: typeof action === "string" ? action : "", error: typeof error === "string" ? error : null };
}
