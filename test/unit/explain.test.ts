/** explain: routing, `when:`, every action kind's plan, plans that agree with runs, redaction, bad events. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";
import { EventInputError } from "../../src/errors.ts";
import { createDryRunStore } from "../../src/explain/dry-run.ts";
import { type EventExplanation, explainEvent, formatExplanation, readEvent } from "../../src/explain/plan.ts";
import { buildEvents } from "../../src/fixtures/index.ts";
import { createLogger } from "../../src/log.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";
import { attemptOf } from "../helpers/actions.ts";
import { tempDir } from "../helpers/server.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import { event } from "../helpers/stripe.ts";

const RECORDER = resolve(import.meta.dir, "../fixtures/recorder.sh");
const encoder = new TextEncoder();

function config(body: string, env: Record<string, string> = {}, baseDir?: string): Config {
  const text = `endpoints: [{ path: /webhook, secrets: [whsec_test] }]\n${body}`;
  return parseConfig(text, { source: "payhook.yaml", env, ...(baseDir ? { baseDir } : {}) });
}

async function explain(c: Config, json: string): Promise<EventExplanation> {
  return explainEvent(c, await readEvent(encoder.encode(json), "event.json"));
}

describe("routing: the same actions, in the same order, as the router", () => {
  const c = config(`handlers:
  payment_intent.succeeded:
    - { name: exact, log: "exact {{data.object.id}}" }
  "payment_intent.*":
    - { name: prefix, log: "prefix {{type}}" }
  "*":
    - { name: everything, log: "any {{type}}" }
`);
  const u = config(`handlers:
  invoice.paid:
    - { name: paid, log: "paid" }
unhandled:
  - { name: fallback, log: "unhandled {{type}}" }
  - { name: fallback-2, log: "again" }
`);
  const none = config("handlers:\n  invoice.paid:\n    - log: paid\n");

  test.each([
    ["exact, prefix and *", c, "payment_intent.succeeded", ["payment_intent.succeeded", "payment_intent.*", "*"]],
    ["prefix and *", c, "payment_intent.created", ["payment_intent.*", "*"]],
    ["* only", c, "customer.created", ["*"]],
    ["unhandled", u, "customer.created", []],
    ["exact, unhandled not used", u, "invoice.paid", ["invoice.paid"]],
    ["nothing at all", none, "customer.created", []],
  ] as const)("%s", async (_, conf, type, matched) => {
    const e = await explain(conf, event(type));
    expect(e.matched).toEqual([...matched]);
    expect(e.unhandled).toBe(matched.length === 0);
    expect(e.actions.map((a) => a.name)).toEqual(conf.router(type).map((a) => a.name));
    expect(
      e.actions.every((a) => a.pattern === null) || e.actions.every((a) => matched.includes(a.pattern as never)),
    ).toBe(true);
  });

  test("each action says which pattern it came from, and unhandled ones say null", async () => {
    const e = await explain(c, event("payment_intent.succeeded"));
    expect(e.actions.map((a) => [a.name, a.pattern, a.status])).toEqual([
      ["exact", "payment_intent.succeeded", "run"],
      ["prefix", "payment_intent.*", "run"],
      ["everything", "*", "run"],
    ]);
    const fallback = await explain(u, event("customer.created"));
    expect(fallback.actions.map((a) => [a.name, a.pattern])).toEqual([
      ["fallback", null],
      ["fallback-2", null],
    ]);
    expect(fallback.actions[0]?.log?.line).toBe("unhandled customer.created");
  });

  test("the human form names the patterns, each action's verdict, and the case of no actions", async () => {
    const text = formatExplanation(await explain(c, event("payment_intent.succeeded"))).join("\n");
    expect(text).toContain('matched "payment_intent.succeeded", "payment_intent.*", "*"');
    expect(text).toContain('1. exact (log, from "payment_intent.succeeded"): would run');
    expect(text).toMatch(/line: exact pi_test_\w+/);
    expect(formatExplanation(await explain(u, event("customer.created"))).join("\n")).toContain(
      "matched no handler pattern: the unhandled actions apply",
    );
    expect(formatExplanation(await explain(none, event("customer.created"))).join("\n")).toContain(
      "no actions: it would be stored and acknowledged, and nothing run",
    );
  });
});

describe("when: every operator, holding and not, with the reason a skip gives", () => {
  const paid = event("customer.subscription.updated", {
    account: "acct_1Abc",
    data: {
      object: { id: "sub_1", amount: 2000, currency: "usd", metadata: { order_id: "o_1" }, nothing: null },
      previous_attributes: { status: "trialing" },
    },
  });
  test.each([
    ["livemode: true", "skipped", "when livemode equals true does not hold (it is false)"],
    ["livemode: false", "run", null],
    ["data.object.currency: { equals: usd }", "run", null],
    [
      "data.object.currency: { equals: eur }",
      "skipped",
      'when data.object.currency equals "eur" does not hold (it is "usd")',
    ],
    ["data.object.currency: { one_of: [eur, usd] }", "run", null],
    [
      "data.object.currency: { one_of: [eur, gbp] }",
      "skipped",
      'when data.object.currency one_of ["eur","gbp"] does not hold (it is "usd")',
    ],
    ["data.object.metadata.order_id: { exists: true }", "run", null],
    [
      "data.object.metadata.missing: { exists: true }",
      "skipped",
      "when data.object.metadata.missing exists: true does not hold (it is missing)",
    ],
    ["data.object.nothing: { exists: false }", "run", null],
    [
      "data.object.metadata.order_id: { exists: false }",
      "skipped",
      'when data.object.metadata.order_id exists: false does not hold (it is "o_1")',
    ],
    ["data.object.amount: { gt: 1999 }", "run", null],
    ["data.object.amount: { gt: 2000 }", "skipped", "when data.object.amount gt 2000 does not hold (it is 2000)"],
    ["data.object.amount: { gte: 2000 }", "run", null],
    ["data.object.amount: { gte: 10000 }", "skipped", "when data.object.amount gte 10000 does not hold (it is 2000)"],
    ["data.object.amount: { lt: 2001 }", "run", null],
    ["data.object.amount: { lt: 2000 }", "skipped", "when data.object.amount lt 2000 does not hold (it is 2000)"],
    ["data.object.amount: { lte: 2000 }", "run", null],
    ["data.object.amount: { lte: 1999 }", "skipped", "when data.object.amount lte 1999 does not hold (it is 2000)"],
    ["account: { prefix: acct_1 }", "run", null],
    ["account: { prefix: acct_2 }", "skipped", 'when account prefix "acct_2" does not hold (it is "acct_1Abc")'],
    ["data.previous_attributes.status: trialing", "run", null],
    [
      "data.previous_attributes.status: active",
      "skipped",
      'when data.previous_attributes.status equals "active" does not hold (it is "trialing")',
    ],
  ] as const)("%s → %s", async (when, status, reason) => {
    const c = config(
      `handlers:\n  "*":\n    - name: guarded\n      log: "ran for {{data.object.id}}"\n      when: { ${when} }\n`,
    );
    const [action] = (await explain(c, paid)).actions;
    expect(action?.status).toBe(status);
    expect(action?.reason).toBe(reason);
    // Only an action that would run shows rendered values.
    expect(action?.log).toEqual(status === "run" ? { line: "ran for sub_1" } : undefined);
  });

  test("a skipped action reads as skipped, with its reason, among actions that run", async () => {
    const c = config(`handlers:
  "*":
    - { name: always, log: "always" }
    - { name: big-only, log: "big", when: { data.object.amount: { gte: 10000 } } }
`);
    const e = await explain(c, event("payment_intent.succeeded"));
    expect(e.actions.map((a) => [a.name, a.status])).toEqual([
      ["always", "run"],
      ["big-only", "skipped"],
    ]);
    expect(formatExplanation(e).join("\n")).toContain(
      '2. big-only (log, from "*"): skipped: when data.object.amount gte 10000 does not hold (it is 2000)',
    );
  });

  test("actions the store holds: paused (who, since, why, escaped) or breaker open; a skipped one is not held", async () => {
    const c = config(`handlers:
  "*":
    - { name: paused, log: "p" }
    - { name: tripped, log: "t", breaker: { failures: 3, probe: 30s } }
    - { name: tripped-unset, log: "u" }
    - { name: skipped, log: "s", when: { data.object.amount: { gte: 10000 } } }
`);
    const at = Date.parse("2030-01-02T03:04:05Z");
    const e = explainEvent(c, await readEvent(encoder.encode(event("payment_intent.succeeded")), "event.json"), [
      { action: "paused", paused: { at, by: "ana", reason: "crm down\u001b[2J" }, failures: 0, breaker: null },
      { action: "tripped", paused: null, failures: 3, breaker: { openedAt: at, probeAt: at + 30_000 } },
      // Its config no longer has a breaker: a running payhook does not hold it.
      { action: "tripped-unset", paused: null, failures: 3, breaker: { openedAt: at, probeAt: at + 30_000 } },
      { action: "skipped", paused: { at, by: "ana", reason: null }, failures: 0, breaker: null },
    ]);
    expect(e.actions.map((a) => [a.name, a.held ?? null])).toEqual([
      ["paused", { state: "paused", by: "ana", since: "2030-01-02T03:04:05.000Z", reason: "crm down\u001b[2J" }],
      ["tripped", { state: "breaker open", since: "2030-01-02T03:04:05.000Z", failures: 3 }],
      ["tripped-unset", null],
      ["skipped", null],
    ]);
    const text = formatExplanation(e).join("\n");
    expect(text).toContain("paused by ana since 2030-01-02T03:04:05.000Z: crm down\\u001b[2J; its deliveries wait");
    expect(text).toContain("breaker open since 2030-01-02T03:04:05.000Z after 3 failures");
    expect(text).not.toContain("\u001b");
  });

  test("thin events: account is the context, the type is v1.*", async () => {
    const [thin] = buildEvents("payment_intent.succeeded", { thin: true, account: "acct_1Thin" }).slice(-1);
    const c = config(`handlers:
  "v1.payment_intent.*":
    - { name: connected, log: "thin {{related_object.id}}", when: { account: { prefix: acct_1 } } }
`);
    const e = await explain(c, thin?.body as string);
    expect(e).toMatchObject({ object: "v2.core.event", type: "v1.payment_intent.succeeded", account: "acct_1Thin" });
    expect(e.actions[0]).toMatchObject({
      name: "connected",
      status: "run",
      log: { line: expect.stringMatching(/^thin pi_/) },
    });
  });
});

describe("every action kind's plan", () => {
  let sink: Sink;
  beforeAll(async () => {
    sink = await startSink();
  });
  afterAll(() => sink.close());

  test("log: the rendered line, escaped as the action prints it", async () => {
    const c = config('handlers:\n  "*":\n    - log: "note {{data.object.note}}"\n');
    const e = await explain(c, event("charge.succeeded", { data: { object: { note: "two\nlines" } } }));
    expect(e.actions[0]?.log).toEqual({ line: "note two\\u000alines" });
  });

  test("file: the resolved path and fsync", async () => {
    const dir = tempDir();
    const c = config('handlers:\n  "*":\n    - file: { path: ./out/events.jsonl, fsync: true }\n', {}, dir);
    const e = await explain(c, event());
    expect(e.actions[0]?.file).toEqual({ path: join(dir, "out/events.jsonl"), fsync: true });
    expect(readdirSync(dir)).toEqual([]);
  });

  test("forward: the URL and header names exactly as a real attempt sends them", async () => {
    const c = config(`handlers:
  "*":
    - name: hook
      forward:
        url: "${sink.url}/pi/{{data.object.id}}?id={{data.object.id}}&flag"
        headers: { X-Customer: "{{data.object.customer}}" }
        sign: { secret: "whsec_${btoa("k".repeat(32))}" }
        timeout: 3s
`);
    const raw = event("payment_intent.succeeded");
    const e = await explain(c, raw);
    const plan = e.actions[0]?.forward;
    const action = c.actions.get("hook");
    expect(await action?.run({ ...attemptOf(raw, 1, "hook") })).toMatchObject({ ok: true });
    const [sent] = sink.to(`/pi/${JSON.parse(raw).data.object.id}`);
    expect(plan?.url).toBe(`${sink.url}${sent?.url}`);
    expect(plan?.timeout_ms).toBe(3000);
    expect(plan?.signed).toBe(true);
    // Every header the plan names was sent; what else arrived is the HTTP client's own.
    const received = Object.keys(sent?.headers ?? {});
    for (const name of plan?.headers ?? []) expect(received).toContain(name);
    expect(received.filter((h) => !plan?.headers.includes(h)).sort()).toEqual(
      ["accept", "accept-encoding", "connection", "content-length", "host"].filter((h) => received.includes(h)),
    );
  });

  test("exec: the argv and environment names exactly as a real attempt starts the program", async () => {
    const out = tempDir();
    const c = config(`handlers:
  "*":
    - name: script
      exec: { command: ["${RECORDER}", "${out}", "exit:0", "id={{data.object.id}}"], env: [HOME, NOT_SET_ANYWHERE] }
`);
    const raw = event("payment_intent.succeeded");
    const plan = (await explain(c, raw)).actions[0]?.exec;
    const attempt = { ...attemptOf(raw, 1, "script"), runtime: bunRuntime };
    expect(await c.actions.get("script")?.run(attempt)).toMatchObject({ ok: true });
    const base = join(out, `${JSON.parse(raw).id}.1`);
    const argv = readFileSync(`${base}.argv`, "utf8").split("\0").slice(0, -1);
    expect(plan?.argv).toEqual([RECORDER, ...argv]);
    const names = readFileSync(`${base}.env`, "utf8")
      .split("\n")
      .map((line) => line.split("=")[0]);
    for (const name of plan?.env ?? []) expect(names).toContain(name);
    expect(plan?.env).toEqual([
      "PATH",
      "HOME",
      "PAYHOOK_EVENT_ID",
      "PAYHOOK_EVENT_TYPE",
      "PAYHOOK_ATTEMPT",
      "PAYHOOK_IDEMPOTENCY_KEY",
    ]);
    expect(plan?.cwd).toBe(process.cwd());
  });

  test.each([
    [
      "a forward URL segment that renders empty",
      'forward: { url: "http://127.0.0.1:9/x/{{data.object.missing}}" }',
      'forward refused: the path segment "{{data.object.missing}}" rendered empty (is the field missing from the event?)',
    ],
    [
      "a header that renders a line break",
      'forward: { url: "http://127.0.0.1:9/x", headers: { X-Note: "{{data.object.note}}" } }',
      "forward refused: the X-Note header rendered a line break or NUL",
    ],
    [
      "an exec argument that renders a leading dash",
      'exec: { command: ["/bin/true", "{{data.object.note}}"] }',
      'exec refused: argument 1 rendered a value starting with "-", which the program could take for an option; set allow_leading_dash: true if it expects that',
    ],
  ])("refused, with the error the attempt would fail with: %s", async (_, spec, reason) => {
    const c = config(`handlers:\n  "*":\n    - name: doomed\n      ${spec}\n`);
    const raw = event("charge.succeeded", { data: { object: { note: "-rf\nx" } } });
    const [action] = (await explain(c, raw)).actions;
    expect(action).toMatchObject({ status: "refused", reason });
    expect(await c.actions.get("doomed")?.run(attemptOf(raw, 1, "doomed"))).toMatchObject({ ok: false, error: reason });
  });
});

describe("secrets are never shown", () => {
  const SENTINEL = "SENTINELvalue42";
  test("header values, query values from the config and exec environment values", async () => {
    process.env.EXPLAIN_API_KEY = `key-${SENTINEL}`;
    try {
      const c = config(
        `handlers:
  "*":
    - forward:
        url: "http://127.0.0.1:3000/hook/{{data.object.id}}?token=\${TOKEN}&mixed=\${TOKEN}{{data.object.id}}&id={{data.object.id}}"
        headers: { Authorization: "Bearer \${TOKEN}", X-Plain: "\${TOKEN}" }
    - exec: { command: ["/bin/true"], env: [EXPLAIN_API_KEY] }
`,
        { TOKEN: `tok-${SENTINEL}` },
      );
      const e = await explain(c, event("payment_intent.succeeded"));
      const shown = `${JSON.stringify(e)}\n${formatExplanation(e).join("\n")}`;
      expect(shown).not.toContain(SENTINEL);
      const id = JSON.parse(JSON.stringify(e)).actions[0].forward.url.match(/hook\/([^?]+)/)[1];
      expect(e.actions[0]?.forward?.url).toBe(
        `http://127.0.0.1:3000/hook/${id}?token=[redacted]&mixed=[redacted]&id=${id}`,
      );
      expect(e.actions[0]?.forward?.headers).toContain("authorization");
      expect(e.actions[0]?.forward?.headers).toContain("x-plain");
      expect(e.actions[1]?.exec?.env).toContain("EXPLAIN_API_KEY");
    } finally {
      delete process.env.EXPLAIN_API_KEY;
    }
  });

  test("a URL whose path carries a secret from the environment (Slack-style): explain, dry runs and failed attempts", async () => {
    // A service that answers 404 with the path it was asked for, as many do.
    const echo = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (request) => new Response(`no route for ${new URL(request.url).pathname}`, { status: 404 }),
    });
    try {
      const slack = `http://127.0.0.1:${echo.port}/services/T0001/B0002/${SENTINEL}`;
      const c = config(
        `handlers:
  "*":
    - name: whole
      forward: { url: "\${SLACK_WEBHOOK_URL}" }
    - name: part
      forward: { url: "http://127.0.0.1:${echo.port}/hooks/\${HOOK_PATH}/{{data.object.id}}?k=\${HOOK_PATH}" }
    - name: refused
      forward: { url: "http://127.0.0.1:9/hooks/\${HOOK_PATH}", timeout: 2s }
`,
        { SLACK_WEBHOOK_URL: slack, HOOK_PATH: `p-${SENTINEL}` },
      );
      const raw = event("payment_intent.succeeded");
      const e = await explain(c, raw);
      const logged: string[] = [];
      const dryRun = createDryRunStore(c, createLogger({ write: (line) => logged.push(line), format: "pretty" }));
      const data = JSON.parse(raw) as { id: string; type: string; created: number };
      const incoming = { ...data, object: "event" as const, livemode: false, account: null, apiVersion: null };
      await dryRun.ingest({ ...incoming, receivedAt: Date.now(), endpoint: "/webhook", body: encoder.encode(raw) }, []);
      const outcomes = await Promise.all(
        ["whole", "part", "refused"].map((name) => c.actions.get(name)?.run(attemptOf(raw, 1, name))),
      );
      const shown = [JSON.stringify(e), ...formatExplanation(e), ...logged, JSON.stringify(outcomes)].join("\n");
      expect(shown).not.toContain(SENTINEL);
      expect(e.actions[0]?.forward?.url).toBe(
        `http://127.0.0.1:${echo.port}/[redacted]/[redacted]/[redacted]/[redacted]`,
      );
      expect(e.actions[1]?.forward?.url).toMatch(/\/hooks\/\[redacted\]\/pi_\w+\?k=\[redacted\]$/);
      expect(outcomes[0]).toMatchObject({ ok: false, error: expect.stringContaining("answered 404") });
      expect(outcomes[0]?.ok === false && outcomes[0].output).toContain("no route for /");
      expect(logged.join("\n")).toContain("dry run");
    } finally {
      echo.stop(true);
    }
  });
});

describe("events payhook cannot route: a clear EventInputError", () => {
  const bytes = (text: string) => encoder.encode(text);
  test.each([
    ["empty", new Uint8Array(), "event.json: it is empty; expected a Stripe event's JSON"],
    ["a byte order mark", bytes(`\uFEFF${event()}`), "event.json: it starts with a byte order mark"],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), "event.json: it is not UTF-8 text"],
    ["not JSON", bytes("{nope"), "event.json: it is not JSON ("],
    ["a JSON array", bytes("[1]"), 'event.json: it is not a Stripe event: expected "object": "event"'],
    [
      "another object",
      bytes('{"object":"list","data":[]}'),
      'it is not a Stripe event: expected "object": "event" (a snapshot event) or "v2.core.event" (a thin event), got "list"',
    ],
    ["no id", bytes('{"object":"event","type":"x.y"}'), 'event.json: the event\'s "id" must be 1 to 255 ASCII'],
    [
      "a numeric type",
      bytes('{"object":"event","id":"evt_1","type":5}'),
      'event.json: the event\'s "type" must be 1 to 255 ASCII',
    ],
  ])("%s", async (_, raw, message) => {
    const error = await readEvent(raw, "event.json").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventInputError);
    expect((error as EventInputError).exitCode).toBe(2);
    expect((error as Error).message).toContain(message);
  });

  test("every event every trigger sends, snapshot and thin, is one payhook routes", async () => {
    for (const thin of [false, true]) {
      for (const built of buildEvents("invoice.paid", { thin })) {
        const { event: read } = await readEvent(encoder.encode(built.body), "trigger");
        expect([read.id, read.type]).toEqual([built.id, built.type]);
      }
    }
  });
});
