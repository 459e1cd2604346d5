/**
 * End to end: `payhook explain` and `serve --dry-run` from the compiled binary, with a config that has every
 * handler kind and every action kind pointed at real stand-ins (a sink, a recording script, a file), which must
 * receive nothing; and secrets in the environment that must never be shown.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type RunningServer, runPayhook, startServer, tempDir } from "../helpers/server.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import { deliver, event, idOf } from "../helpers/stripe.ts";

const RECORDER = resolve(import.meta.dir, "../fixtures/recorder.sh");
const SENTINEL = "SENTINELexplain";
const SECRET = `whsec_${SENTINEL}signing`;
/** Tokens the config reads from the environment: a forward header, a forward query value, an exec variable. */
const ENV = { TOKEN: `tok_${SENTINEL}`, QUERY_KEY: `q_${SENTINEL}`, API_KEY: `key_${SENTINEL}`, SIGNING: SECRET };

/** Each test runs payhook a few times; under `deno run` (make test-deno) each run compiles it afresh. */
const SPAWNS_TIMEOUT = 60_000;

let sink: Sink;
let dir: string;
let out: string;

/** The config: an exact pattern, a prefix, unhandled, `when:` skips, and one action of every kind. */
function configText(port = 0): string {
  return `listen: { host: 127.0.0.1, port: ${port} }
store: ./payhook.db
endpoints:
  - path: /webhook
    secrets: ["\${SIGNING}"]
handlers:
  payment_intent.succeeded:
    - name: announce
      log: "PaymentIntent {{data.object.id}} for {{data.object.amount}}"
    - name: notify
      forward:
        url: "${sink.url}/paid/{{data.object.id}}?key=\${QUERY_KEY}&customer={{data.object.customer}}"
        headers: { Authorization: "Bearer \${TOKEN}" }
    - name: big-only
      log: "big payment"
      when: { data.object.amount: { gte: 100000 } }
  "charge.*":
    - name: fulfil
      exec: { command: ["${RECORDER}", "${out}", "exit:0", "{{data.object.id}}"], env: [API_KEY] }
    - name: archive
      file: { path: ./charges.jsonl }
unhandled:
  - name: fallback
    log: "Unhandled event type: {{type}}"
`;
}

beforeAll(async () => {
  sink = await startSink();
  dir = tempDir();
  out = tempDir("payhook-recorder-");
  writeFileSync(join(dir, "payhook.yaml"), configText());
});
afterAll(() => sink.close());

interface Explained {
  id: string;
  type: string;
  object: string;
  matched: string[];
  unhandled: boolean;
  actions: {
    name: string;
    status: string;
    reason: string | null;
    pattern: string | null;
    order_key: null;
    log?: { line: string };
    forward?: { url: string; headers: string[] };
    exec?: { argv: string[]; env: string[] };
    file?: { path: string };
    held?: { state: string; by?: string; since?: string; reason?: string | null };
  }[];
}

async function explainJson(args: string[], stdin?: string, cwd = dir): Promise<Explained[]> {
  const result = await runPayhook(["explain", "--json", "--config", "payhook.yaml", ...args], {
    cwd,
    env: ENV,
    ...(stdin === undefined ? {} : { stdin }),
  });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  expect(result.stdout).not.toContain(SENTINEL);
  return (JSON.parse(result.stdout) as { events: Explained[] }).events;
}

/** Nothing was sent, run or written: the sink saw nothing, the script never ran, the folder holds only inputs. */
function expectNothingDone(): void {
  expect(sink.requests).toEqual([]);
  expect(readdirSync(out)).toEqual([]);
  expect(readdirSync(dir).filter((f) => f !== "payhook.yaml" && !f.endsWith(".json"))).toEqual([]);
}

describe("payhook explain", () => {
  test(
    "an event file: every matched pattern and action, rendered, with a skip and its reason",
    async () => {
      const payload = event("payment_intent.succeeded");
      writeFileSync(join(dir, "event.json"), payload);
      const [explained] = await explainJson(["event.json"]);
      expect(explained).toMatchObject({ id: idOf(payload), matched: ["payment_intent.succeeded"], unhandled: false });
      const id = JSON.parse(payload).data.object.id;
      expect(explained?.actions).toEqual([
        {
          name: "announce",
          kind: "log",
          pattern: "payment_intent.succeeded",
          status: "run",
          reason: null,
          order_key: null,
          log: { line: `PaymentIntent ${id} for 2000` },
        },
        {
          name: "notify",
          kind: "forward",
          pattern: "payment_intent.succeeded",
          status: "run",
          reason: null,
          order_key: null,
          forward: {
            method: "POST",
            url: `${sink.url}/paid/${id}?key=[redacted]&customer=cus_test_0001`,
            headers: expect.arrayContaining(["authorization", "idempotency-key", "payhook-event-id"]),
            timeout_ms: 10000,
            signed: false,
          },
        },
        {
          name: "big-only",
          kind: "log",
          pattern: "payment_intent.succeeded",
          status: "skipped",
          reason: "when data.object.amount gte 100000 does not hold (it is 2000)",
          order_key: null,
        },
      ] as never);
      expectNothingDone();
    },
    SPAWNS_TIMEOUT,
  );

  test(
    "the human form says the same, and that nothing was done",
    async () => {
      writeFileSync(join(dir, "event.json"), event("payment_intent.succeeded"));
      const result = await runPayhook(["explain", "event.json", "--config", "payhook.yaml"], { cwd: dir, env: ENV });
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('matched "payment_intent.succeeded"');
      expect(result.stdout).toContain('1. announce (log, from "payment_intent.succeeded"): would run');
      expect(result.stdout).toContain("headers: ");
      expect(result.stdout).toContain("(values not shown)");
      expect(result.stdout).toContain(
        '3. big-only (log, from "payment_intent.succeeded"): skipped: when data.object.amount gte 100000 does not hold (it is 2000)',
      );
      expect(result.stdout.trimEnd().endsWith("Nothing was sent, run, written or stored.")).toBe(true);
      expect(`${result.stdout}${result.stderr}`).not.toContain(SENTINEL);
      expectNothingDone();
    },
    SPAWNS_TIMEOUT,
  );

  test(
    "an action paused in the store says who paused it, since when and why; the store is read, never written",
    async () => {
      const held = tempDir();
      const server = await startServer({ dir: held, config: configText(0), env: ENV });
      try {
        const pause = ["actions", "pause", "notify", "--reason", "crm down", "--config", "payhook.yaml"];
        expect((await runPayhook(pause, { cwd: held, env: ENV })).code).toBe(0);
      } finally {
        await server.stop();
      }
      writeFileSync(join(held, "event.json"), event("payment_intent.succeeded"));
      const files = readdirSync(held);
      const stored = readFileSync(join(held, "payhook.db"));
      const [explained] = await explainJson(["event.json"], undefined, held);
      const actions = explained?.actions ?? [];
      expect(actions.map((a) => [a.name, a.held?.state ?? null])).toEqual([
        ["announce", null],
        ["notify", "paused"],
        ["big-only", null],
      ]);
      const hold = actions[1]?.held;
      expect(hold?.reason).toBe("crm down");
      expect(hold?.by).toContain("(command line)");
      expect(Date.parse(hold?.since ?? "")).toBeLessThanOrEqual(Date.now());
      const text = await runPayhook(["explain", "event.json", "--config", "payhook.yaml"], { cwd: held, env: ENV });
      expect(text.stdout).toContain(`paused by ${hold?.by} since ${hold?.since}: crm down; its deliveries wait`);
      // SQLite opens a WAL database read only with its -wal and -shm files; a write would leave frames in -wal.
      expect(readdirSync(held).filter((f) => !files.includes(f) && !/-(wal|shm)$/.test(f))).toEqual([]);
      expect(readFileSync(join(held, "payhook.db"))).toEqual(stored);
      for (const wal of readdirSync(held).filter((f) => f.endsWith("-wal"))) {
        expect(readFileSync(join(held, wal)).byteLength).toBe(0);
      }
    },
    SPAWNS_TIMEOUT,
  );

  test(
    "stdin (-), a prefix pattern with exec and file actions, and an override of the amount",
    async () => {
      const payload = event("charge.refunded", { data: { object: { id: "ch_1", amount: 500 } } });
      const [explained] = await explainJson(["-"], payload);
      expect(explained?.matched).toEqual(["charge.*"]);
      const [fulfil, archive] = explained?.actions ?? [];
      expect(fulfil?.exec?.argv).toEqual([RECORDER, out, "exit:0", "ch_1"]);
      expect(fulfil?.exec?.env).toEqual([
        "PATH",
        "API_KEY",
        "PAYHOOK_EVENT_ID",
        "PAYHOOK_EVENT_TYPE",
        "PAYHOOK_ATTEMPT",
        "PAYHOOK_IDEMPOTENCY_KEY",
      ]);
      expect(archive?.file?.path).toBe(join(dir, "charges.jsonl"));
      const [big] = (
        await explainJson(["--trigger", "payment_intent.succeeded", "--override", "data.object.amount=250000"])
      ).slice(-1);
      expect(big?.actions.map((a) => [a.name, a.status])).toEqual([
        ["announce", "run"],
        ["notify", "run"],
        ["big-only", "run"],
      ]);
      expectNothingDone();
    },
    SPAWNS_TIMEOUT,
  );

  test.each([
    ["payment_intent.succeeded", ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]],
    [
      "charge.refunded",
      ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded", "charge.refunded", "refund.created"],
    ],
    ["customer.created", ["customer.created"]],
  ])(
    "--trigger %s: every event the trigger sends, in order",
    async (name, types) => {
      const explained = await explainJson(["--trigger", name]);
      expect(explained.map((e) => e.type).filter((t) => types.includes(t))).toEqual(types);
      for (const e of explained) {
        const expected =
          e.type === "payment_intent.succeeded"
            ? ["announce", "notify", "big-only"]
            : e.type.startsWith("charge.")
              ? ["fulfil", "archive"]
              : ["fallback"];
        expect(e.actions.map((a) => a.name)).toEqual(expected);
        expect(e.unhandled).toBe(expected[0] === "fallback");
      }
      expectNothingDone();
    },
    SPAWNS_TIMEOUT,
  );

  test(
    "thin events: --trigger --thin, and a thin event on stdin",
    async () => {
      const explained = await explainJson(["--trigger", "payment_intent.succeeded", "--thin"]);
      expect(explained.map((e) => [e.object, e.type, e.unhandled])).toEqual([
        ["v2.core.event", "v1.payment_intent.created", true],
        ["v2.core.event", "v1.charge.succeeded", true],
        ["v2.core.event", "v1.payment_intent.succeeded", true],
      ]);
      expect(explained[2]?.actions[0]?.log?.line).toBe("Unhandled event type: v1.payment_intent.succeeded");
      const thin = JSON.stringify({
        id: "evt_test_thin1",
        object: "v2.core.event",
        type: "v1.billing.meter.no_meter_found",
        created: "2026-01-01T00:00:00.000Z",
        livemode: false,
      });
      const [fromStdin] = await explainJson(["-"], thin);
      expect(fromStdin).toMatchObject({ id: "evt_test_thin1", object: "v2.core.event", unhandled: true });
      expectNothingDone();
    },
    SPAWNS_TIMEOUT,
  );

  test.each([
    ["not JSON", "{not json", "payhook: event.json: it is not JSON ("],
    [
      "not an event",
      '{"object":"customer","id":"cus_1"}',
      'payhook: event.json: it is not a Stripe event: expected "object": "event"',
    ],
    [
      "an event without a type",
      '{"object":"event","id":"evt_1"}',
      `payhook: event.json: the event's "type" must be 1 to 255 ASCII`,
    ],
  ])(
    "a bad event exits 2 with a clear message: %s",
    async (_, text, message) => {
      writeFileSync(join(dir, "event.json"), text);
      const result = await runPayhook(["explain", "event.json", "--config", "payhook.yaml"], { cwd: dir, env: ENV });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain(message);
    },
    SPAWNS_TIMEOUT,
  );

  test(
    "a * pattern matches every event, so unhandled no longer applies",
    async () => {
      const star = tempDir();
      writeFileSync(
        join(star, "payhook.yaml"),
        configText().replace("handlers:\n", 'handlers:\n  "*":\n    - { name: everything, log: "any {{type}}" }\n'),
      );
      const explained = await explainJson(["--trigger", "customer.created"], undefined, star);
      expect(explained.map((e) => [e.type, e.matched, e.unhandled])).toEqual([["customer.created", ["*"], false]]);
      expect(explained[0]?.actions.map((a) => [a.name, a.pattern, a.log?.line])).toEqual([
        ["everything", "*", "any customer.created"],
      ]);
    },
    SPAWNS_TIMEOUT,
  );

  test(
    "an event larger than every endpoint's max_body exits 2: serve would refuse it",
    async () => {
      const small = tempDir();
      const limited = configText().replace('secrets: ["${SIGNING}"]', 'secrets: ["${SIGNING}"]\n    max_body: 1kb');
      writeFileSync(join(small, "payhook.yaml"), limited);
      const big = event("customer.created", { padding: "x".repeat(2000) });
      const result = await runPayhook(["explain", "-", "--config", "payhook.yaml"], {
        cwd: small,
        env: ENV,
        stdin: big,
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        `payhook: stdin: it is ${big.length} bytes, more than the largest max_body of payhook.yaml (1024 bytes), so serve would refuse it with 413`,
      );
    },
    SPAWNS_TIMEOUT,
  );

  test(
    "a missing event file, and no input at all, exit 2",
    async () => {
      const missing = await runPayhook(["explain", "nope.json", "--config", "payhook.yaml"], { cwd: dir, env: ENV });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain("payhook: nope.json: cannot read it");
      const none = await runPayhook(["explain", "--config", "payhook.yaml"], { cwd: dir, env: ENV });
      expect(none.code).toBe(2);
      expect(none.stderr).toContain("explain: give an event's JSON file, - for stdin, or --trigger NAME");
      const unknown = await runPayhook(["explain", "--trigger", "no.such", "--config", "payhook.yaml"], {
        cwd: dir,
        env: ENV,
      });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('"no.such" is not an event `stripe trigger` supports');
    },
    SPAWNS_TIMEOUT,
  );

  test(
    "a bad config exits 2 naming the file and the key; a missing variable names the variable",
    async () => {
      const bad = tempDir();
      writeFileSync(join(bad, "payhook.yaml"), `${configText()}\nretyr: { attempts: 3 }\n`);
      const result = await runPayhook(["explain", "--trigger", "customer.created", "--config", "payhook.yaml"], {
        cwd: bad,
        env: ENV,
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('payhook.yaml: retyr: unknown key "retyr"');
      const unset = await runPayhook(
        ["explain", "--trigger", "customer.created", "--config", join(dir, "payhook.yaml")],
        {
          env: { ...ENV, TOKEN: "" },
        },
      );
      expect(unset.code).toBe(2);
      expect(unset.stderr).toContain("environment variable TOKEN is not set");
      expect(`${unset.stderr}${result.stderr}`).not.toContain(SENTINEL);
    },
    SPAWNS_TIMEOUT,
  );
});

describe("serve --dry-run", () => {
  let server: RunningServer;
  let serveDir: string;
  beforeAll(async () => {
    serveDir = tempDir();
    server = await startServer({ dir: serveDir, config: configText(0), env: ENV, args: ["--dry-run"] });
  }, SPAWNS_TIMEOUT);
  afterAll(async () => {
    await server?.kill();
  });

  test(
    "verifies and answers 200, logs what explain prints, stores nothing and runs nothing",
    async () => {
      const payloads = [
        event("payment_intent.succeeded"),
        event("charge.succeeded", { data: { object: { id: "ch_dry" } } }),
        event("customer.created"),
      ];
      for (const payload of payloads) {
        const response = await deliver(`${server.url}/webhook`, payload, { secret: SECRET });
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({ received: true });
      }
      // Still verified: a wrong signature is refused as usual.
      expect((await deliver(`${server.url}/webhook`, event(), { secret: "whsec_wrong" })).status).toBe(400);

      const logged = await Promise.all(payloads.map((p) => server.waitForStderr(`"event_id":"${idOf(p)}","type"`)));
      for (const [i, payload] of payloads.entries()) {
        const line = JSON.parse(logged[i] as string) as { msg: string; actions: unknown[] };
        expect(line.msg).toMatch(/^dry run: \d of \d actions would run; nothing stored or run$/);
        // The same plan `payhook explain` gives for the same event.
        const [explained] = await explainJson(["-"], payload, serveDir);
        expect(line.actions).toEqual(explained?.actions as unknown[]);
      }
      const listening = JSON.parse(server.stderr.find((l) => l.includes('"msg":"listening"')) as string);
      expect(listening).toMatchObject({ dry_run: true, store: null });

      expect(await server.stop()).toBe(0);
      // No store file was created or opened, no action ran: no log line on stdout, no request, no script, no file.
      expect(readdirSync(serveDir).sort()).toEqual(["payhook.yaml"]);
      expect(server.stdout.filter((l) => l !== "")).toEqual([]);
      expect(sink.requests).toEqual([]);
      expect(readdirSync(out)).toEqual([]);
      expect([...server.stdout, ...server.stderr].join("\n")).not.toContain(SENTINEL);
    },
    SPAWNS_TIMEOUT,
  );
});
