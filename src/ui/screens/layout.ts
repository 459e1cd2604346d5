/** @module The frame of every page: head with the embedded assets, navigation, live status and the main region. */
import { ASSETS } from "../assets.ts";
import { html, type SafeHtml } from "../html.ts";

export type Screen = "events" | "failures" | "actions" | "overview" | "incidents" | "login";

export interface Frame {
  title: string;
  screen: Screen;
  /** The session's CSRF token, for the logout form; absent on the login page. */
  csrf?: string;
  /** The page refreshes its [data-live] regions when something changes. */
  live?: boolean;
  notice?: string | undefined;
}

export function layout(frame: Frame, main: SafeHtml): SafeHtml {
  const link = (screen: Screen, href: string, label: string) =>
    html`<a href="${href}" ${frame.screen === screen ? html`aria-current="page"` : ""}>${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${frame.title} · payhook</title>
<link rel="stylesheet" href="${ASSETS.style.path}">
<script type="module" src="${ASSETS.script.path}"></script>
</head>
<body ${frame.live ? html`data-live="on"` : ""}>
<a class="skip" href="#main">Skip to content</a>
<header>
  <span class="brand">payhook</span>
  ${
    frame.csrf
      ? html`<nav aria-label="Screens">${link("events", "/", "Events")} ${link("failures", "/failures", "Failures")} ${link("actions", "/actions", "Actions")} ${link("overview", "/overview", "Overview")} ${link("incidents", "/incidents", "Incidents")}</nav>
  <p class="live-status" role="status" aria-live="polite" hidden></p>
  <form method="post" action="/logout" class="logout"><input type="hidden" name="csrf" value="${frame.csrf}"><button type="submit">Log out</button></form>`
      : ""
  }
</header>
<main id="main">
${frame.notice ? html`<p class="notice" role="status">${frame.notice}</p>` : ""}
${main}
</main>
</body>
</html>`;
}

/** A page that asks before a replay of more than one delivery, saying how many. */
export function confirmPage(options: {
  csrf: string;
  action: string;
  fields: Record<string, string>;
  question: string;
  button: string;
  back: string;
  screen: Screen;
  /** What is confirmed, for the title: "replay" unless given. */
  what?: string;
}): SafeHtml {
  const title = `Confirm ${options.what ?? "replay"}`;
  return layout(
    { title, screen: options.screen, csrf: options.csrf },
    html`<h1>${title}</h1>
<form method="post" action="${options.action}" class="confirm">
  <p>${options.question}</p>
  <input type="hidden" name="csrf" value="${options.csrf}">
  ${Object.entries(options.fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
  <button type="submit" class="primary">${options.button}</button>
  <a href="${options.back}">Cancel</a>
</form>`,
  );
}
