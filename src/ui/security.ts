/**
 * @module The operator page's request checks: a Host allowlist (DNS rebinding), the cross-origin check for
 * state-changing requests (Fetch Metadata, then Origin), and the headers every page response carries.
 */
import { isLoopback } from "../utils/net.ts";

/** No inline script or style, nothing from another origin, no framing. */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const PAGE_HEADERS: Record<string, string> = {
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "x-frame-options": "DENY",
  "x-robots-tag": "noindex",
};

/**
 * The Host names the page answers to: the bound address, loopback names when bound to loopback, and the
 * configured extra names. A DNS-rebinding page reaches the listener under its own name, which is not listed.
 */
export function hostAllowlist(bound: string, extra: readonly string[] = []): (host: string | null) => boolean {
  const names = new Set([bound, ...extra].map(normalise));
  if (isLoopback(bound) || bound === "0.0.0.0" || bound === "::") {
    for (const name of ["localhost", "127.0.0.1", "::1"]) names.add(name);
  }
  names.delete("0.0.0.0");
  names.delete("::");
  return (host) => host !== null && names.has(normalise(hostname(host)));
}

/**
 * True when a state-changing request comes from the page itself. Browsers send Sec-Fetch-Site; a request
 * without it must carry an Origin naming this host. Requests with neither (scripts, curl) pass this check and
 * still need the session and the form's CSRF token.
 */
export function sameOrigin(headers: Headers): boolean {
  const site = headers.get("sec-fetch-site");
  if (site !== null) return site === "same-origin" || site === "none";
  const origin = headers.get("origin");
  if (origin === null) return true;
  try {
    return new URL(origin).host === headers.get("host");
  } catch {
    return false; // "null" and other opaque origins
  }
}

function hostname(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]"));
  const colon = host.lastIndexOf(":");
  return colon > 0 && host.indexOf(":") === colon ? host.slice(0, colon) : host;
}

function normalise(name: string): string {
  return name
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "")
    .toLowerCase();
}
