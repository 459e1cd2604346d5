/** @module Small renderers shared by the pages: times, durations, statuses, captured text, highlighted JSON, charts. */
import type { ActivityBucket, DeliveryStatus, EventView } from "../store/types.ts";
import { isoTime } from "../utils/time.ts";
import { html, type SafeHtml } from "./html.ts";

/** Control characters (but tab and newline) and bidi overrides: captured output must not reorder or hide text. */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

export function time(ms: number | null): SafeHtml {
  if (ms === null) return html`<span class="muted">—</span>`;
  const iso = isoTime(ms);
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace("T", " ")}</time>`;
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export type EventState =
  | "delivered"
  | "pending"
  | "retrying"
  | "running"
  | "failed"
  | "dead"
  | "discarded"
  | "no actions";

/** One word for an event from its deliveries: the worst state wins. */
export function eventState(event: EventView): EventState {
  const ds = event.deliveries;
  if (ds.length === 0) return "no actions";
  if (ds.some((d) => d.status === "dead")) return "dead";
  if (ds.some((d) => d.status === "failed")) return "failed";
  if (ds.some((d) => d.status === "running")) return "running";
  if (ds.some((d) => d.status === "pending" && d.attempts > 0)) return "retrying";
  if (ds.some((d) => d.status === "pending")) return "pending";
  // Every delivery ended; one an operator threw away was not delivered.
  if (ds.some((d) => d.status === "discarded")) return "discarded";
  return "delivered";
}

export function badge(state: DeliveryStatus | EventState): SafeHtml {
  return html`<span class="badge s-${state.replace(" ", "-")}">${state}</span>`;
}

/** Captured output or an error as plain text: escape sequences and control characters removed, size capped. */
export function cleanText(text: string, cap = 8192): string {
  const cleaned = text.replace(ANSI, "").replace(UNSAFE, "\uFFFD");
  return cleaned.length > cap ? `${cleaned.slice(0, cap)}\n… (${cleaned.length - cap} more characters)` : cleaned;
}

const TOKEN = /("(?:[^"\\]|\\.)*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b/g;

/** The body pretty-printed with each token in a span; every token escaped by html. Non-JSON is shown as text. */
export function highlightJson(body: Uint8Array): SafeHtml {
  const text = new TextDecoder().decode(body);
  let pretty: string;
  try {
    pretty = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return html`${text}`;
  }
  const parts: SafeHtml[] = [];
  let last = 0;
  for (const m of pretty.matchAll(TOKEN)) {
    const at = m.index ?? 0;
    parts.push(html`${pretty.slice(last, at)}`);
    if (m[1] !== undefined) {
      parts.push(m[2] ? html`<span class="j-key">${m[1]}</span>${m[2]}` : html`<span class="j-str">${m[1]}</span>`);
    } else if (m[3] !== undefined) parts.push(html`<span class="j-num">${m[3]}</span>`);
    else parts.push(html`<span class="j-lit">${m[4]}</span>`);
    last = at + m[0].length;
  }
  parts.push(html`${pretty.slice(last)}`);
  return html`${parts}`;
}

/** Fills the empty buckets between `from` and `to` with zeros. */
export function series(buckets: readonly ActivityBucket[], from: number, to: number, step: number): ActivityBucket[] {
  const byAt = new Map(buckets.map((b) => [b.at, b]));
  const out: ActivityBucket[] = [];
  for (let at = from - (from % step); at < to; at += step) out.push(byAt.get(at) ?? { at, events: 0, failures: 0 });
  return out;
}

/** An SVG chart of events and failures per bucket: two lines on a shared scale, described for screen readers. */
export function chart(title: string, points: readonly ActivityBucket[]): SafeHtml {
  const width = 600;
  const height = 140;
  const top = Math.max(1, ...points.map((p) => Math.max(p.events, p.failures)));
  const x = (i: number) => ((i / Math.max(1, points.length - 1)) * (width - 40) + 36).toFixed(1);
  const y = (v: number) => (height - 20 - (v / top) * (height - 30)).toFixed(1);
  const line = (pick: (p: ActivityBucket) => number) => points.map((p, i) => `${x(i)},${y(pick(p))}`).join(" ");
  const events = points.reduce((n, p) => n + p.events, 0);
  const failures = points.reduce((n, p) => n + p.failures, 0);
  const summary = `${title}: ${events} events and ${failures} failed attempts; at most ${top} in one minute`;
  return html`<figure class="chart">
    <figcaption>${title} <span class="legend"><span class="k-events">events</span> <span class="k-failures">failures</span></span></figcaption>
    <svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${summary}">
      <title>${summary}</title>
      <line class="axis" x1="36" y1="${height - 20}" x2="${width - 4}" y2="${height - 20}"></line>
      <text class="tick" x="2" y="14">${top}</text><text class="tick" x="2" y="${height - 22}">0</text>
      <polygon class="a-events" points="${x(0)},${y(0)} ${line((p) => p.events)} ${x(points.length - 1)},${y(0)}"></polygon>
      <polyline class="l-failures" points="${line((p) => p.failures)}"></polyline>
    </svg>
  </figure>`;
}
