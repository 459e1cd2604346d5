/**
 * @module The admin listener's request checks: a Host allowlist (DNS rebinding), the cross-origin check for
 * state-changing requests (Fetch Metadata, then Origin), who a client is behind trusted proxies, and the
 * headers every page response carries.
 */
import { isIP } from "node:net";
import { blockList, clientAddress, isLoopback } from "../utils/net.ts";
import { hasUsableHost } from "../utils/request-url.ts";

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

export interface Refusal {
  status: number;
  code: string;
  message: string;
}

/**
 * Why the admin listener refuses this request's Host, or undefined when it answers it. The ops routes also
 * answer an IP address (a load balancer's or Kubernetes' probe, a Prometheus scrape by pod IP): DNS rebinding
 * needs a name, so an address is never a rebound request.
 */
export function hostRefusal(request: Request, allowed: (host: string) => boolean, ops: boolean): Refusal | undefined {
  const host = request.headers.get("host");
  if (host === null || !hasUsableHost(request)) {
    return {
      status: 400,
      code: "bad_host",
      message: "the Host header is missing or malformed; send the name or address this listener is reached at",
    };
  }
  if (allowed(host) || (ops && isIP(normalise(hostname(host))) !== 0)) return undefined;
  return {
    status: 421,
    code: "host_not_allowed",
    message: `this host name is not one the ${ops ? "admin listener" : "operator page"} answers to; add it to admin.hosts`,
  };
}

/**
 * What to tell a browser whose form failed `sameOrigin`. With Referrer-Policy no-referrer a browser sends
 * `Origin: null`, and it sends Sec-Fetch-Site only to HTTPS or loopback origins: both missing means the page
 * was opened over plain HTTP under another name, where its Secure session cookie cannot work either.
 */
export function crossOriginMessage(headers: Headers): string {
  if (headers.get("sec-fetch-site") === null && headers.get("origin") === "null") {
    return "refused: the browser did not say where this form came from, as it does for a page opened over plain HTTP under a name other than localhost; open the operator page over HTTPS (a TLS proxy in front of the admin listener) or through an SSH tunnel to localhost (ssh -L 9090:127.0.0.1:9090 …)";
  }
  return "refused: this request did not come from the operator page";
}

/** Who is logging in: the TCP peer, or behind trusted proxies the client they forwarded for (X-Forwarded-For). */
export function loginClient(peer: string, forwardedFor: string | null, trustedProxies: readonly string[] = []): string {
  if (trustedProxies.length === 0) return peer;
  return clientAddress(peer, forwardedFor, blockList(trustedProxies));
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
