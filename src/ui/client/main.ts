/**
 * @module The operator page's script (bundled by `make`, served from the binary): live refresh of the
 * [data-live] regions over server-sent events, the copy button, and `/` to focus search. Every page works
 * without it. It never writes HTML from data: refreshed regions come from the server's own escaped pages,
 * parsed inert by DOMParser, and the copy button reads textContent.
 */

const liveStatus = document.querySelector<HTMLElement>(".live-status");

function say(text: string): void {
  if (!liveStatus) return;
  liveStatus.hidden = false;
  liveStatus.textContent = text;
}

/** Fetches this page again and swaps each [data-live] region for its new version, keeping focus where it was. */
async function refresh(): Promise<void> {
  const response = await fetch(location.href, { headers: { accept: "text/html" }, credentials: "same-origin" });
  if (response.redirected) {
    say("Logged out (payhook restarted or the session ended); reload the page to log in");
    return;
  }
  if (!response.ok) return;
  const next = new DOMParser().parseFromString(await response.text(), "text/html");
  const focused = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const focusKey = focused ? keyOf(focused) : null;
  for (const region of document.querySelectorAll<HTMLElement>("[data-live]")) {
    const fresh = region.id ? next.getElementById(region.id) : null;
    if (fresh) region.replaceWith(document.importNode(fresh, true));
  }
  if (focusKey && !document.contains(focused)) {
    const again = [...document.querySelectorAll<HTMLElement>("a, button, input, select, pre[tabindex]")].find(
      (el) => keyOf(el) === focusKey,
    );
    again?.focus();
  }
}

function keyOf(el: HTMLElement): string {
  return `${el.tagName}|${el.id}|${el.getAttribute("href") ?? ""}|${el.getAttribute("aria-label") ?? el.textContent ?? ""}`;
}

function live(): void {
  if (document.body.dataset.live !== "on" || typeof EventSource === "undefined") return;
  let pending = false;
  let again = false;
  let stale = false;
  const update = () => {
    if (document.hidden) {
      stale = true; // refreshed when the tab is shown again
      return;
    }
    if (pending) {
      again = true; // a change during a refresh may not be in it: refresh once more after
      return;
    }
    pending = true;
    refresh()
      .catch(() => {})
      .finally(() => {
        pending = false;
        if (again) {
          again = false;
          update();
        }
      });
  };
  const source = new EventSource("/live");
  // Changes made between this page's render and the stream's (re)connection reach no stream, so every
  // connection starts with one refresh: after a replay's redirect, and after a server restart.
  source.addEventListener("open", () => {
    say("Live");
    update();
  });
  source.addEventListener("change", update);
  // EventSource reconnects by itself (the server asks for 1 s).
  // A refused stream (the session is gone) closes for good; a dropped one is retried.
  source.addEventListener("error", () =>
    say(source.readyState === EventSource.CLOSED ? "Live updates stopped; reload the page" : "Reconnecting…"),
  );
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && stale) {
      stale = false;
      update();
    }
  });
}

function copyButtons(): void {
  for (const button of document.querySelectorAll<HTMLButtonElement>("button[data-copy]")) {
    const target = document.getElementById(button.dataset.copy ?? "");
    if (!target || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(target.textContent ?? "");
        button.textContent = "Copied";
      } catch {
        button.textContent = "Copy failed";
      }
      setTimeout(() => {
        button.textContent = "Copy payload";
      }, 2000);
    });
  }
}

function shortcuts(): void {
  document.addEventListener("keydown", (event) => {
    const target = event.target as HTMLElement | null;
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName)) return;
    const search = document.getElementById("q");
    if (search) {
      event.preventDefault();
      search.focus();
    }
  });
}

live();
copyButtons();
shortcuts();
