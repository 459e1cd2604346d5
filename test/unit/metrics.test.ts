/** Metrics: the exposition format's rules, and the values after a known sequence of calls. */
import { describe, expect, test } from "bun:test";
import { ACK_BUCKETS, Exposition, escapeLabel, formatValue, Histogram, Metrics } from "../../src/ops/metrics.ts";

/** One line of the text format: a comment, or a sample `name{labels} value`. */
const SAMPLE =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\["\\n])*",?)*\})? [-+]?(\d+(\.\d+)?([eE][-+]?\d+)?|Inf|NaN)$/;
const COMMENT =
  /^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$/;

function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("exposition format", () => {
  test("label values escape backslash, double quote and newline; HELP escapes backslash and newline", () => {
    expect(escapeLabel('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const out = new Exposition();
    out.family("x_total", "counter", "line one\nback\\slash");
    out.sample("x_total", { path: '/we"b\nhook' }, 1);
    expect(out.text()).toBe(
      '# HELP x_total line one\\nback\\\\slash\n# TYPE x_total counter\nx_total{path="/we\\"b\\nhook"} 1\n',
    );
  });

  test("special values are written as Go's ParseFloat reads them", () => {
    expect(formatValue(Number.POSITIVE_INFINITY)).toBe("+Inf");
    expect(formatValue(Number.NEGATIVE_INFINITY)).toBe("-Inf");
    expect(formatValue(Number.NaN)).toBe("NaN");
    expect(formatValue(0.25)).toBe("0.25");
    expect(formatValue(1e-7)).toBe("1e-7");
  });

  test("a histogram's buckets are cumulative, end in +Inf equal to _count, and observations equal to a bound fall in it", () => {
    const h = new Histogram([0.1, 1]);
    for (const v of [0.05, 0.1, 0.5, 3]) h.observe(v);
    const out = new Exposition();
    out.histogram("d_seconds", "d", { action: "a" }, h);
    expect(out.text().split("\n").slice(2, -1)).toEqual([
      'd_seconds_bucket{action="a",le="0.1"} 2',
      'd_seconds_bucket{action="a",le="1"} 3',
      'd_seconds_bucket{action="a",le="+Inf"} 4',
      'd_seconds_sum{action="a"} 3.65',
      'd_seconds_count{action="a"} 4',
    ]);
  });
});

describe("Metrics", () => {
  test("after a known sequence every series has the expected value, and every line follows the format", () => {
    const metrics = new Metrics({ version: "1.2.3", runtime: "bun 1" }, 1_000_000);
    const webhook = metrics.endpoint("/webhook");
    expect(metrics.endpoint("/webhook")).toBe(webhook); // the accept path keeps this object
    webhook.accepted += 2;
    webhook.duplicate += 1;
    webhook.rejected.signature_mismatch = 3;
    webhook.failed.store_unavailable = 1;
    metrics.event("invoice.paid");
    metrics.event("invoice.paid");
    metrics.event("charge.refunded");
    metrics.ack.observe(0.004);
    metrics.ack.observe(0.02);
    metrics.attempt("notify", "done", 0.002);
    metrics.attempt("notify", "retry", 2);
    metrics.attempt("notify", "dead", 0.5);
    metrics.reload(true, 1_005_000);
    metrics.reload(false, 1_006_000);
    const text = metrics.render({ byStatus: { pending: 4, dead: 1 }, oldestPendingAt: 1_000_000 }, 1_010_000);

    expect(sample(text, 'payhook_requests_total{endpoint="/webhook",outcome="accepted"}')).toBe(2);
    expect(sample(text, 'payhook_requests_total{endpoint="/webhook",outcome="duplicate"}')).toBe(1);
    expect(
      sample(text, 'payhook_requests_total{endpoint="/webhook",outcome="rejected",reason="signature_mismatch"}'),
    ).toBe(3);
    expect(
      sample(text, 'payhook_requests_total{endpoint="/webhook",outcome="failed",reason="store_unavailable"}'),
    ).toBe(1);
    expect(sample(text, 'payhook_events_total{type="invoice.paid"}')).toBe(2);
    expect(sample(text, 'payhook_events_total{type="charge.refunded"}')).toBe(1);
    expect(sample(text, "payhook_ack_duration_seconds_count")).toBe(2);
    expect(sample(text, 'payhook_ack_duration_seconds_bucket{le="0.005"}')).toBe(1);
    expect(sample(text, 'payhook_ack_duration_seconds_bucket{le="0.025"}')).toBe(2);
    expect(sample(text, 'payhook_deliveries_total{action="notify",outcome="done"}')).toBe(1);
    expect(sample(text, 'payhook_deliveries_total{action="notify",outcome="retry"}')).toBe(1);
    expect(sample(text, 'payhook_deliveries_total{action="notify",outcome="failed"}')).toBe(0);
    expect(sample(text, 'payhook_deliveries_total{action="notify",outcome="dead"}')).toBe(1);
    expect(sample(text, 'payhook_action_duration_seconds_count{action="notify"}')).toBe(3);
    expect(sample(text, 'payhook_action_duration_seconds_sum{action="notify"}')).toBe(2.502);
    expect(sample(text, 'payhook_deliveries{status="pending"}')).toBe(4);
    expect(sample(text, 'payhook_deliveries{status="running"}')).toBe(0);
    expect(sample(text, 'payhook_deliveries{status="dead"}')).toBe(1);
    expect(sample(text, "payhook_oldest_pending_delivery_age_seconds")).toBe(10);
    expect(sample(text, 'payhook_config_reloads_total{result="success"}')).toBe(1);
    expect(sample(text, 'payhook_config_reloads_total{result="failure"}')).toBe(1);
    expect(sample(text, "payhook_config_last_reload_successful")).toBe(0);
    expect(sample(text, "payhook_config_last_reload_timestamp_seconds")).toBe(1006);
    expect(sample(text, 'payhook_build_info{version="1.2.3",runtime="bun 1"}')).toBe(1);
    expect(sample(text, "process_start_time_seconds")).toBe(1000);
    expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0);

    expect(text.endsWith("\n")).toBe(true);
    const lines = text.trimEnd().split("\n");
    for (const line of lines) expect(line).toMatch(line.startsWith("#") ? COMMENT : SAMPLE);
    // Each family's HELP and TYPE appear once, before its samples.
    const types = lines.filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]);
    expect(new Set(types).size).toBe(types.length);
  });

  test("without queue figures the queue gauges are left out, not reported as zero", () => {
    const text = new Metrics().render(undefined);
    expect(text).not.toContain("payhook_deliveries{");
    expect(text).not.toContain("payhook_oldest_pending_delivery_age_seconds");
  });

  test("event types beyond the cap are counted as other", () => {
    const metrics = new Metrics();
    for (let i = 0; i < 1_001; i++) metrics.event(`made.up_${i}`);
    metrics.event("made.up_0");
    const text = metrics.render(undefined);
    expect(sample(text, 'payhook_events_total{type="other"}')).toBe(1);
    expect(sample(text, 'payhook_events_total{type="made.up_0"}')).toBe(2);
  });

  test("the ack buckets span 1 ms to 5 s", () => {
    expect(ACK_BUCKETS[0]).toBe(0.001);
    expect(ACK_BUCKETS.at(-1)).toBe(5);
  });
});
