/**
 * @module The login screen: the token form, logging in (wrong tokens limited per client, behind trusted proxies the
 * client they forwarded for) and logging out (which ends the session's live streams). The given token is never
 * logged, not even in part.
 */
import type { Logger } from "../../log.ts";
import { html, type SafeHtml } from "../html.ts";
import { page, post, type Route, readForm, redirect } from "../http.ts";
import type { LiveStreams } from "../live.ts";
import { loginClient } from "../security.ts";
import { type Sessions, sessionCookie } from "../session.ts";
import { layout } from "./layout.ts";

export interface LoginDeps {
  sessions: Sessions;
  log: Logger;
  now: () => number;
  /** The config's trusted_proxies: behind them, the client is the one they forwarded for. */
  trustedProxies: () => readonly string[] | undefined;
  /** Ended at logout. */
  streams: LiveStreams;
}

export function loginRoutes({ sessions, log, now, trustedProxies, streams }: LoginDeps): Route[] {
  return [
    { method: "GET", path: "/login", access: "login", handle: () => page(loginPage()) },
    {
      method: "POST",
      path: "/login",
      access: "login",
      async handle({ request, client }) {
        const form = await readForm(request);
        const token = form?.get("token");
        const who = loginClient(client.address, request.headers.get("x-forwarded-for"), trustedProxies());
        const outcome = sessions.login(typeof token === "string" ? token : "", who, now());
        if (outcome.result === "ok") {
          log.info("operator page: logged in", { client: who });
          return redirect("/", { "set-cookie": sessionCookie(outcome.session, now()) });
        }
        log.warn("operator page: login refused", {
          code: outcome.result === "limited" ? "rate_limited" : "wrong_token",
          client: who,
        });
        if (outcome.result === "limited") {
          return page(loginPage(`Too many wrong tokens; try again in ${outcome.retryAfter} s.`), 429, {
            "retry-after": String(outcome.retryAfter),
          });
        }
        return page(loginPage("That token is not right."), 401);
      },
    },
    post("/logout", ({ session }) => {
      sessions.logout(session.id);
      streams.end(session.id);
      return redirect("/login", { "set-cookie": sessionCookie(null, now()) });
    }),
  ];
}

export function loginPage(problem?: string): SafeHtml {
  return layout(
    { title: "Log in", screen: "login" },
    html`<h1>Operator page</h1>
<form method="post" action="/login" class="login">
  <label for="token">Token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus ${problem ? html`aria-describedby="login-problem" aria-invalid="true"` : ""}>
  ${problem ? html`<p id="login-problem" class="error" role="alert">${problem}</p>` : ""}
  <button type="submit">Log in</button>
</form>
<p class="muted">The token is <code>admin.token</code> in payhook's config (often <code>PAYHOOK_ADMIN_TOKEN</code>).</p>`,
  );
}
