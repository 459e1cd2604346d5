/**
 * @module Forward URLs with templates. The scheme, host and port are static config; placeholders may appear only
 * in path segments and query values, are always percent-encoded, and a rendered URL that would leave the
 * configured origin or path prefix (`..`, `%2e%2e`, an `@` or `?` smuggled in a value) is refused. Whatever part of
 * the path or query came from the environment (`${SLACK_WEBHOOK_URL}`, `/hooks/${HOOK_TOKEN}`) is a secret: Slack-style
 * URLs carry their credential in the path, so those parts are shown as `[redacted]` everywhere a URL is shown.
 */
import { compileTemplate, hasPlaceholder, type Template } from "../utils/template.ts";

export interface UrlTemplate {
  /** The configured origin, e.g. http://127.0.0.1:3000. */
  readonly origin: string;
  /** The URL for an event, or why it cannot be built (a permanent failure). */
  render(event: unknown): { url: string } | { error: string };
  /**
   * A rendered URL as it may be shown (`payhook explain`): query values written in the config, which may be
   * tokens from the environment, are `[redacted]`; values that are only placeholders into the event are kept;
   * path segments that came from the environment are `[redacted]`.
   */
  redact(url: string): string;
  /** `text` (an error, a response) with the rendered `url` and every part of the URL from the environment hidden. */
  hide(text: string, url: string): string;
}

/** A path segment or query value; `secret` when the config took any of it from the environment. */
type Piece = ({ text: string } | { template: Template; source: string }) & { secret?: boolean };

const REDACTED = "[redacted]";

/** A query value that is nothing but placeholders shows event data only, never text from the config. */
const ONLY_PLACEHOLDERS = /^(\{\{[^{}]*\}\})+$/;
const URL_SHAPE = /^(https?):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i;

/**
 * Compiles `text`, or returns why it is not a usable forward URL. `fromEnv` are the values the config took from the
 * environment: a path segment or query part of `text` that holds any of one is secret.
 */
export function compileUrl(text: string, fromEnv: readonly string[] = []): UrlTemplate | string {
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
  const secret = secretRanges(text, fromEnv);
  const pathStart = scheme.length + 3 + authority.length;
  const parsedPath = parsePath(path, (from, to) => secret(pathStart + from, pathStart + to));
  if (typeof parsedPath === "string") return parsedPath;
  const queryStart = pathStart + path.length;
  const params = parseQuery(query, (from, to) => secret(queryStart + from, queryStart + to));
  if (typeof params === "string") return params;
  const probe = checkUrl(`${origin}${path || "/"}${query ?? ""}`, origin, parsedPath.prefix);
  if ("error" in probe) return probe.error;
  return urlTemplate({ origin, ...parsedPath, params: query === undefined ? undefined : params });
}

/** Whether text[from, to) of a part of the URL came from the environment. */
type SecretAt = (from: number, to: number) => boolean;
type Param = { key: string; keySecret: boolean; value: Piece | undefined };
interface ParsedUrl {
  origin: string;
  segments: Piece[];
  /** The part of the path that no event can change: every rendered URL must still start with it. */
  prefix: string;
  /** Undefined when the URL has no "?". */
  params: Param[] | undefined;
}

/** The segments of a path ("" or "/…") and its fixed prefix, or why the path is refused. */
function parsePath(path: string, secret: SecretAt): { segments: Piece[]; prefix: string } | string {
  const segments: Piece[] = [];
  const written = path === "" ? [] : path.slice(1).split("/");
  let at = 1;
  for (const segment of written) {
    const isSecret = secret(at, at + segment.length);
    at += segment.length + 1;
    if (!hasPlaceholder(segment)) {
      if (segment === "." || segment === "..") return "the path must not contain . or .. segments";
      segments.push({ text: segment, secret: isSecret });
      continue;
    }
    const template = compileTemplate(segment, encodeURIComponent);
    if (typeof template === "string") return template;
    segments.push({ template, source: segment, secret: isSecret });
  }
  const firstTemplated = segments.findIndex((s) => "template" in s);
  const prefix =
    firstTemplated < 0
      ? `/${written.join("/")}`
      : `/${segments
          .slice(0, firstTemplated)
          .map((s) => `${(s as { text: string }).text}/`)
          .join("")}`;
  return { segments, prefix };
}

/** The parameters of a query (undefined, "?" or "?k=v&…"), or why it is refused. */
function parseQuery(query: string | undefined, secret: SecretAt): Param[] | string {
  const params: Param[] = [];
  let at = 1;
  for (const part of query === undefined || query === "?" ? [] : query.slice(1).split("&")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const keySecret = secret(at, at + key.length);
    const valueSecret = secret(at + key.length + 1, at + part.length);
    at += part.length + 1;
    if (hasPlaceholder(key)) return "templates are allowed in query values only, not in query keys";
    if (eq < 0) {
      params.push({ key, keySecret, value: undefined });
      continue;
    }
    const raw = part.slice(eq + 1);
    if (!hasPlaceholder(raw)) {
      params.push({ key, keySecret, value: { text: raw, secret: valueSecret } });
      continue;
    }
    const template = compileTemplate(raw, encodeURIComponent);
    if (typeof template === "string") return template;
    params.push({ key, keySecret, value: { template, source: raw, secret: valueSecret } });
  }
  return params;
}

function urlTemplate({ origin, segments, prefix, params }: ParsedUrl): UrlTemplate {
  /** The origin and path of a rendered URL with the segments from the environment `[redacted]`. */
  const redactPath = (shown: string): string => {
    if (!segments.some((s) => s.secret)) return shown;
    const rendered = shown.slice(origin.length + 1).split("/");
    // Rendered segments are percent-encoded, so they align with the configured ones; if not, all are hidden.
    const aligned = rendered.length === segments.length;
    const parts = rendered.map((part, i) => {
      const piece = aligned ? segments[i] : undefined;
      return piece && !piece.secret ? part : REDACTED;
    });
    return `${origin}/${parts.join("/")}`;
  };
  const redact = (url: string): string => {
    const start = url.indexOf("?");
    const shownPath = redactPath(start < 0 ? url : url.slice(0, start));
    return start < 0 ? shownPath : `${shownPath}?${redactQuery(url.slice(start + 1), params ?? [])}`;
  };
  // Each secret part as the config wrote it and as a URL spells it, for hiding them in any text (an error from the
  // network layer may quote the URL; a 404 page may quote its path). Parts under 3 characters would garble the text.
  const secretTexts = [
    ...segments.flatMap((s) => (s.secret && "text" in s ? [s.text] : [])),
    ...(params ?? []).flatMap((p) => (p.keySecret ? [p.key] : [])),
    ...(params ?? []).flatMap((p) => (p.value?.secret && "text" in p.value ? [p.value.text] : [])),
  ]
    .flatMap((part) => [part, encodeURI(part)])
    .filter((part) => part.length >= 3)
    .sort((a, b) => b.length - a.length);

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
        if (params !== undefined) {
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
    redact,
    hide(shown, url) {
      const path = url.split("?")[0] ?? url;
      let out = shown.replaceAll(url, redact(url)).replaceAll(path, redactPath(path));
      for (const part of secretTexts) out = out.replaceAll(part, REDACTED);
      return out;
    },
  };
}

/**
 * A rendered query with values written in the config (which may be tokens) and any key from the environment
 * `[redacted]`; values that are only placeholders into the event are kept.
 */
function redactQuery(query: string, params: readonly Param[]): string {
  const parts = query.split("&");
  // Rendered values are percent-encoded, so each "&" still separates the configured parameters; if that ever
  // failed to hold, every value is hidden.
  const aligned = parts.length === params.length;
  const shown = parts.map((part, i) => {
    const param = aligned ? params[i] : undefined;
    const eq = part.indexOf("=");
    const key = param?.keySecret ? REDACTED : part.slice(0, eq < 0 ? part.length : eq);
    if (eq < 0) return key;
    const value = param?.value;
    const onlyEvent = value && "template" in value && !value.secret && ONLY_PLACEHOLDERS.test(value.source);
    return `${key}=${onlyEvent ? part.slice(eq + 1) : REDACTED}`;
  });
  return shown.join("&");
}

/** Whether [start, end) of `text` overlaps a place where one of `values` occurs. */
function secretRanges(text: string, values: readonly string[]): (start: number, end: number) => boolean {
  const ranges: [number, number][] = [];
  for (const value of values) {
    if (value === "") continue;
    for (let at = text.indexOf(value); at >= 0; at = text.indexOf(value, at + 1)) ranges.push([at, at + value.length]);
  }
  return (start, end) => ranges.some(([from, to]) => from < end && start < to);
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
