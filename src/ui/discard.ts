/**
 * @module The operator page's discard: the unfinished deliveries of an action that left the config (removed or
 * renamed) are thrown away from its row on the Actions screen, after a confirmation, as `payhook deliveries discard`
 * does from the command line. An action the config still has is refused: its deliveries are live work. The guards
 * have checked the session, the origin, the CSRF token and the operator's role before these run.
 */
import { discard, discardPreview } from "../ops/control.ts";
import type { DiscardSelection } from "../store/types.ts";
import { decodeId, get, page, post, type Route, redirect, text } from "./http.ts";
import type { ReplayDeps } from "./replay.ts";
import { confirmPage } from "./screens/layout.ts";

const DISCARD = /^\/actions\/([^/]+)\/discard$/;

export function discardRoutes(deps: ReplayDeps): Route[] {
  const { store, log } = deps;
  /** The action named in the path, if the config no longer has it; else the refusal to answer. */
  const removed = (segment: string | undefined) => {
    const name = decodeId(segment ?? "");
    if (name === undefined) return { refusal: text(404, "no such action") };
    if (deps.config().actions.has(name)) {
      return {
        refusal: text(
          409,
          `the config still has the action "${name}": its deliveries are live work and are not discarded (payhook deliveries discard --force does, from the command line)`,
        ),
      };
    }
    return { selection: { action: name, statuses: ["pending", "failed", "dead"] } satisfies DiscardSelection };
  };
  return [
    get(DISCARD, async ({ url, params: [segment], session: { csrf } }) => {
      const { refusal, selection } = removed(segment);
      if (!selection) return refusal;
      const n = (await discardPreview(store, selection)).discarded;
      return page(
        confirmPage({
          csrf,
          action: url.pathname,
          fields: {},
          question: `Discard ${n} pending, failed and dead deliver${n === 1 ? "y" : "ies"} of ${selection.action}? The config no longer has this action; discarded deliveries never run again. Running ones are left to finish.`,
          button: `Discard ${n}`,
          back: "/actions",
          screen: "actions",
          what: "discard",
        }),
      );
    }),
    post(DISCARD, async ({ params: [segment], session }) => {
      const { refusal, selection } = removed(segment);
      if (!selection) return refusal;
      const result = await discard(store, selection, session.who, deps.now());
      log.info("operator page: deliveries discarded", {
        action: selection.action,
        by: session.who,
        discarded: result.discarded,
        running: result.left.running,
      });
      deps.changes.notify();
      return redirect(`/actions?discarded=${result.discarded}&running=${result.left.running}`);
    }),
  ];
}

/** The notice after a discard, from the redirect's address (numbers, never text from the request). */
export function discardedNotice(url: URL): string | undefined {
  const discarded = url.searchParams.get("discarded");
  const running = url.searchParams.get("running") ?? "0";
  if (discarded === null || !/^\d+$/.test(discarded) || !/^\d+$/.test(running)) return undefined;
  const n = Number(discarded);
  const r = Number(running);
  return `${n} deliver${n === 1 ? "y" : "ies"} discarded${r > 0 ? `; ${r} running left to finish (discard again once they end)` : ""}.`;
}
