/**
 * @module A request's URL whatever its Host header says. The runtime builds `request.url` from the Host, so an
 * empty or malformed one ("", "a b", "[::1") leaves a URL that does not parse; the path and query, which are
 * all payhook routes on, are still there, so they are read from the text.
 */

/** The request's URL; when the Host made it unparsable, the same path and query on http://localhost. */
export function requestUrl(request: Request): URL {
  return URL.parse(request.url) ?? new URL(`http://localhost${pathAndQuery(request.url)}`);
}

/** True when the request's URL parses, i.e. its Host header is a usable host[:port]. */
export function hasUsableHost(request: Request): boolean {
  const host = request.headers.get("host");
  return host !== null && host.trim() !== "" && URL.parse(request.url) !== null;
}

/** The path (and query) of an absolute or origin-form URL text: from the first "/" after the scheme's "//". */
function pathAndQuery(text: string): string {
  const scheme = text.indexOf("//");
  const start = text.startsWith("/") ? 0 : scheme < 0 ? text.indexOf("/") : text.indexOf("/", scheme + 2);
  if (start < 0) return "/";
  const path = text.slice(start);
  // A path that still does not parse on a good host (a stray "%" or space) is no path payhook serves.
  return URL.parse(`http://localhost${path}`) === null ? "/" : path;
}
