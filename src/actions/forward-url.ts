/**
 * @module Forward URLs with templates. The scheme, host and port are static config; placeholders may appear only
 * in path segments and query values, are always percent-encoded, and a rendered URL that would leave the
 * configured origin or path prefix (`..`, `%2e%2e`, an `@` or `?` smuggled in a value) is refused.
 */
import { compileTemplate, hasPlaceholder, type Template } from "../utils/template.ts";

export interface UrlTemplate {
  /** The configured origin, e.g. http://127.0.0.1:3000. */
  readonly origin: string;
  /** The URL for an event, or why it cannot be built (a permanent failure). */
  render(event: unknown): { url: string } | { error: string };
  /**
   * A rendered URL as it may be shown (`payhook explain`): query values written in the config, which may be
   * tokens from the environment, are `[redacted]`; values that are only placeholders into the event are kept.
   */
  redact(url: string): string;
}

type Piece = { text: string } | { template: Template; source: string };

/** A query value that is nothing but placeholders shows event data only, never text from the config. */
const ONLY_PLACEHOLDERS = /^(\{\{[^{}]*\}\})+$/;
const URL_SHAPE = /^(https?):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i;

/** Compiles `text`, or returns why it is not a usable forward URL. */
export function compileUrl(text: string): UrlTemplate | string {
  const shape = URL_SHAPE.exec(text);
  if (!shape) return `expected an http(s) URL such as http://127.0.0.1:3000/paid, got ${JSON.stringify(text)}`;
  const [, scheme = "", authority = "", path = "", query, fragment] = shape;
  if (hasPlaceholder(authority)) {
    return "the scheme, host and port must be written out; templates are allowed only in path segments and query values";
  }
  if (authority.includes("@")) {
    return "credentials in the URL are refused (they would show in logs); send them in a header such as Authorization";
  }
  if (fragment !== undefined) return "a URL fragment (#…) is never sent to the server; remove it";
  let origin: string;
  try {
    origin = new URL(`${scheme}://${authority}/`).origin;
  } catch {
    return `"${scheme}://${authority}" is not a valid scheme, host and port`;
  }

  const segments: Piece[] = [];
  const written = path === "" ? [] : path.slice(1).split("/");
  for (const segment of written) {
    if (!hasPlaceholder(segment)) {
      if (segment === "." || segment === "..") return "the path must not contain . or .. segments";
      segments.push({ text: segment });
      continue;
    }
    const template = compileTemplate(segment, encodeURIComponent);
    if (typeof template === "string") return template;
    segments.push({ template, source: segment });
  }
  const firstTemplated = segments.findIndex((s) => "template" in s);
  // The part of the path that no event can change: every rendered URL must still start with it.
  const prefix =
    firstTemplated < 0
      ? `/${written.join("/")}`
      : `/${segments
          .slice(0, firstTemplated)
          .map((s) => `${(s as { text: string }).text}/`)
          .join("")}`;

  const params: { key: string; value: Piece | undefined }[] = [];
  for (const part of query === undefined || query === "?" ? [] : query.slice(1).split("&")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    if (hasPlaceholder(key)) return "templates are allowed in query values only, not in query keys";
    if (eq < 0) {
      params.push({ key, value: undefined });
      continue;
    }
    const raw = part.slice(eq + 1);
    if (!hasPlaceholder(raw)) {
      params.push({ key, value: { text: raw } });
      continue;
    }
    const template = compileTemplate(raw, encodeURIComponent);
    if (typeof template === "string") return template;
    params.push({ key, value: { template, source: raw } });
  }

  const probe = checkUrl(`${origin}${path || "/"}${query ?? ""}`, origin, prefix);
  if ("error" in probe) return probe.error;

  return {
    origin,
    render(event) {
      try {
        const parts: string[] = [];
        for (const piece of segments) {
          if ("text" in piece) {
            parts.push(piece.text);
            continue;
          }
          const rendered = piece.template(event);
          const problem = segmentProblem(rendered);
          if (problem) return { error: `the path segment ${JSON.stringify(piece.source)} ${problem}` };
          parts.push(rendered);
        }
        let url = `${origin}/${parts.join("/")}`;
        if (query !== undefined) {
          const rendered = params.map(({ key, value }) => {
            if (value === undefined) return key;
            return `${key}=${"text" in value ? value.text : value.template(event)}`;
          });
          url += `?${rendered.join("&")}`;
        }
        return checkUrl(url, origin, prefix);
      } catch {
        // encodeURIComponent throws on lone surrogates, which JSON strings may carry.
        return { error: "a templated value is not valid Unicode" };
      }
    },
    redact(url) {
      const start = url.indexOf("?");
      if (start < 0) return url;
      const parts = url.slice(start + 1).split("&");
      // Rendered values are percent-encoded, so each "&" still separates the configured parameters; if that ever
      // failed to hold, every value is hidden.
      const aligned = parts.length === params.length;
      const shown = parts.map((part, i) => {
        const param = aligned ? params[i] : undefined;
        const eq = part.indexOf("=");
        if (eq < 0 || (param?.value && "template" in param.value && ONLY_PLACEHOLDERS.test(param.value.source))) {
          return part;
        }
        return `${part.slice(0, eq)}=[redacted]`;
      });
      return `${url.slice(0, start)}?${shown.join("&")}`;
    },
  };
}

/** The URL as it will be sent, or why it is refused: it must keep the origin and path prefix, unnormalised. */
function checkUrl(text: string, origin: string, prefix: string): { url: string } | { error: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: "the URL is not valid" };
  }
  if (url.origin !== origin || url.username !== "" || url.password !== "") {
    return { error: `the URL leaves the configured origin ${origin}` };
  }
  if (!url.pathname.startsWith(prefix)) return { error: `the URL leaves the configured path prefix ${prefix}` };
  return { url: url.href };
}

/** Why a rendered path segment is refused, or undefined. Values are encoded, so only the dot forms remain. */
function segmentProblem(rendered: string): string | undefined {
  if (rendered === "") return "rendered empty (is the field missing from the event?)";
  let decoded = rendered;
  // Decode repeatedly: %252e%252e is %2e%2e once decoded, and a server that decodes twice sees "..".
  for (let i = 0; i < 4; i++) {
    let next: string;
    try {
      next = decodeURIComponent(decoded);
    } catch {
      break;
    }
    if (next === decoded) break;
    decoded = next;
  }
  if (decoded === "." || decoded === "..") return `rendered as ${JSON.stringify(rendered)}, a dot segment`;
  return undefined;
}
