/**
 * @module The admin listener's guard chain, in the order every request meets it: the Host allowlist (DNS
 * rebinding; every request, the ops routes too), then for the operator page the page's own origin on every POST (cross-site forms), a session (logged in with the token), and
 * the session's CSRF token on every POST. Each guard lets the visit on or answers it with the refusal; refusals
 * are logged with their code and the client, never with what was sent.
 */
import type { Logger } from "../log.ts";
import { readForm, redirect, text, type Visit } from "./http.ts";
import { crossOriginMessage, hostAllowlist, hostRefusal, sameOrigin } from "./security.ts";
import { type Session, type Sessions, sameSecret } from "./session.ts";

/**
 * The Host header names this listener (its address, localhost, or one of admin.hosts; for the ops routes also an
 * IP address); an empty or malformed one is a 400. Every request meets it, the ops routes included.
 */
export type HostGuard = (request: Request, client: Visit["client"], ops: boolean) => Response | undefined;

export function createHostGuard({ log, host, hosts }: Pick<GuardOptions, "log" | "host" | "hosts">): HostGuard {
  const allowedHost = hostAllowlist(host, hosts);
  return (request, client, ops) => {
    const refusal = hostRefusal(request, allowedHost, ops);
    if (!refusal) return undefined;
    const path = URL.parse(request.url)?.pathname;
    log.warn("admin listener: request refused", {
      code: refusal.code,
      client: client.address,
      ...(path ? { path } : {}),
    });
    return text(refusal.status, refusal.message);
  };
}

export interface Guards {
  /** A POST came from the operator page itself. */
  origin(visit: Visit): Response | undefined;
  /** The visit's session, or where to go without one: the login page for a page, 401 for the rest. */
  session(visit: Visit): Session | Response;
  /** A POST's form, its CSRF token the session's. */
  csrf(visit: Visit, session: Session): Promise<FormData | Response>;
  /** A POST that changes state comes from an operator's token: a viewer's gets 403 (logging out is not a change). */
  role(visit: Visit, session: Session): Response | undefined;
}

export interface GuardOptions {
  log: Logger;
  sessions: Sessions;
  now: () => number;
  /** The address the admin listener is bound to, and admin.hosts. */
  host: string;
  hosts?: readonly string[];
}

export function createGuards({ log, sessions, now }: GuardOptions): Guards {
  const refused = (code: string, fields: Record<string, string>) =>
    log.warn("operator page: request refused", { code, ...fields });
  return {
    origin({ request, client, url }) {
      if (request.method !== "POST" || sameOrigin(request.headers)) return undefined;
      refused("cross_origin", { client: client.address, path: url.pathname });
      return text(403, crossOriginMessage(request.headers));
    },
    session({ request, url }) {
      const session = sessions.get(request.headers.get("cookie"), now());
      if (session) return session;
      if (request.method === "GET" && !url.pathname.startsWith("/live")) return redirect("/login");
      return text(401, "log in first");
    },
    async csrf({ request, client, url }, session) {
      const form = await readForm(request);
      if (!form) return text(400, "expected a form (application/x-www-form-urlencoded)");
      const csrf = form.get("csrf");
      if (typeof csrf === "string" && sameSecret(csrf, session.csrf)) return form;
      refused("csrf_token", { client: client.address, path: url.pathname });
      return text(403, "refused: the form's CSRF token is missing or wrong; reload the page and try again");
    },
    role({ request, client, url }, session) {
      if (request.method !== "POST" || session.role === "operator" || url.pathname === "/logout") return undefined;
      refused("viewer", { client: client.address, path: url.pathname, who: session.who });
      return text(403, "refused: this token is a viewer's; replay, retry, pause and resume need an operator's");
    },
  };
}
