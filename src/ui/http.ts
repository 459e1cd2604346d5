/**
 * @module What the operator page's routes are made of: a visit (the request, its client, its session and form once
 * the guards have them), the route table's entries, and the responses they answer with. Every response carries
 * the page's security headers.
 */
import type { SafeHtml } from "./html.ts";
import { PAGE_HEADERS } from "./security.ts";
import type { Session } from "./session.ts";

export interface Client {
  address: string;
  /** Lifts the runtime's idle timeout for this request (a long-lived stream). */
  keepOpen?: () => void;
}

/** A request to the operator page, as every route sees it. */
export interface Visit {
  request: Request;
  url: URL;
  client: Client;
  /** The groups of the route's path pattern. */
  params: string[];
}

/** A visit by a logged-in operator. */
export interface SignedIn extends Visit {
  session: Session;
}

/** A form posted by a logged-in operator, its CSRF token checked. */
export interface Posted extends SignedIn {
  form: FormData;
}

type Handler<V> = (visit: V) => Response | Promise<Response>;

/**
 * An entry of the route table: a method, a path (exact, or a pattern whose groups become `params`), and who may
 * call it: anyone on an allowed host (`public`: the assets), anyone from the page's origin (`login`), or a
 * session (every screen; a POST also needs the session's CSRF token).
 */
export type Route =
  | { method: "GET" | "POST"; path: string | RegExp; access: "public" | "login"; handle: Handler<Visit> }
  | { method: "GET"; path: string | RegExp; access: "session"; handle: Handler<SignedIn> }
  | { method: "POST"; path: string | RegExp; access: "session"; handle: Handler<Posted> };

/** A screen's GET route, for a session. */
export function get(path: string | RegExp, handle: Handler<SignedIn>): Route {
  return { method: "GET", path, access: "session", handle };
}

/** A screen's POST route, for a session with its CSRF token. */
export function post(path: string | RegExp, handle: Handler<Posted>): Route {
  return { method: "POST", path, access: "session", handle };
}

/** The route for the method and path, with its path's groups; undefined when none matches. */
export function findRoute(
  routes: readonly Route[],
  method: string,
  path: string,
): { route: Route; params: string[] } | undefined {
  for (const route of routes) {
    if (route.method !== method) continue;
    if (typeof route.path === "string") {
      if (route.path === path) return { route, params: [] };
      continue;
    }
    const match = route.path.exec(path);
    if (match) return { route, params: match.slice(1) };
  }
  return undefined;
}

export function page(body: SafeHtml, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(body.text, {
    status,
    headers: { ...PAGE_HEADERS, "content-type": "text/html; charset=utf-8", ...headers },
  });
}

export function text(status: number, message: string): Response {
  return new Response(`${message}\n`, {
    status,
    headers: { ...PAGE_HEADERS, "content-type": "text/plain; charset=utf-8" },
  });
}

export function redirect(location: string, headers: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: { ...PAGE_HEADERS, location, ...headers } });
}

export function asset(a: { type: string; body: string }): Response {
  return new Response(a.body, {
    headers: {
      "content-type": a.type,
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    },
  });
}

/** The form of a POST, or null when the body is not one. */
export async function readForm(request: Request): Promise<FormData | null> {
  try {
    return await request.formData();
  } catch {
    return null;
  }
}

/** A path segment's text; undefined for a malformed %-escape, which names nothing. */
export function decodeId(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
