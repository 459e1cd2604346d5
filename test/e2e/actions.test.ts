/** End to end: the compiled payhook runs forward, exec and file actions against a real sink, script and file. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { type RunningServer, startServer, tempDir, testConfig, waitUntil } from "../helpers/server.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import { queryStore } from "../helpers/store.ts";
import { deliver, event, idOf } from "../helpers/stripe.ts";

const RECORDER = resolve(import.meta.dir, "../fixtures/recorder.sh");
const FORWARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

let server: RunningServer | undefined;
let sink: Sink;
beforeEach(async () => {
  sink = await startSink();
});
afterEach(async () => {
  await server?.kill();
  server = undefined;
  await sink.close();
});

function deliveries(dir: string): { action: string; status: string; attempts: number }[] {
  return queryStore(dir, "SELECT action, status, attempts FROM deliveries ORDER BY id");
}

describe("actions from the compiled binary", () => {
  test("an event reaches the service (signed), the script (argv, env, stdin) and the file", async () => {
    const out = tempDir("payhook-recorder-");
    server = await startServer({
      env: { FORWARD_SECRET, INTERNAL_TOKEN: "tok_123" },
      config: testConfig(`handlers:
  payment_intent.succeeded:
    - name: notify
      forward:
        url: "${sink.url}/customers/{{data.object.customer}}/paid"
        headers: { Authorization: "Bearer \${INTERNAL_TOKEN}" }
        sign: { secret: "\${FORWARD_SECRET}" }
    - name: fulfil
      exec: { command: ["${RECORDER}", "${out}", "exit:0", "--id", "{{data.object.id}}"] }
    - name: archive
      file: { path: ./events.jsonl }
`),
    });
    const payload = event("payment_intent.succeeded");
    expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
    const id = idOf(payload);

    const [request] = await sink.waitFor("/customers/cus_test_0001/paid", 1);
    expect(new TextDecoder().decode(request?.body)).toBe(payload);
    expect(request?.headers.authorization).toBe("Bearer tok_123");
    expect(request?.headers["idempotency-key"]).toBe(`${id}:notify`);
    const h = request?.headers ?? {};
    const mac = createHmac("sha256", Buffer.from(FORWARD_SECRET.slice(6), "base64"))
      .update(`${h["webhook-id"]}.${h["webhook-timestamp"]}.${payload}`)
      .digest("base64");
    expect(h["webhook-signature"]).toBe(`v1,${mac}`);

    await waitUntil(() => deliveries(server?.dir ?? "").every((d) => d.status === "done"));
    const argv = readFileSync(join(out, `${id}.1.argv`), "utf8")
      .split("\u0000")
      .slice(0, -1);
    const piId = JSON.parse(payload).data.object.id;
    expect(argv.slice(2)).toEqual(["--id", piId]);
    expect(readFileSync(join(out, `${id}.1.stdin`), "utf8")).toBe(payload);
    const env = readFileSync(join(out, `${id}.1.env`), "utf8");
    expect(env).toContain(`PAYHOOK_IDEMPOTENCY_KEY=${id}:fulfil`);
    expect(env).not.toContain("whsec_");
    expect(env).not.toContain("tok_123");

    const file = join(server.dir, "events.jsonl");
    expect(readFileSync(file, "utf8")).toBe(`${JSON.stringify(JSON.parse(payload))}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test("a failing service recovers: the event is delivered, with one idempotency key for every attempt", async () => {
    sink.plan("/flaky", ["500", "reset", "503", "200"]);
    server = await startServer({
      config: testConfig(`handlers:
  "*":
    - forward: { url: "${sink.url}/flaky" }
retry: { attempts: 6, schedule: [10ms], jitter: 0 }
`),
    });
    await deliver(`${server.url}/webhook`, event());
    const requests = await sink.waitFor("/flaky", 4, 20_000);
    await waitUntil(() => deliveries(server?.dir ?? "")[0]?.status === "done");
    expect(deliveries(server.dir)).toEqual([{ action: "*[0]", status: "done", attempts: 4 }]);
    expect(new Set(requests.map((r) => r.headers["idempotency-key"])).size).toBe(1);
    expect(requests.map((r) => r.headers["payhook-attempt"])).toEqual(["1", "2", "3", "4"]);
  });

  test("410 is dead at once, a redirect fails and is not followed, a timeout is retried until dead", async () => {
    sink.plan("/gone", ["410"]);
    sink.plan("/moved", ["302"]);
    sink.plan("/hang", ["hang"]);
    server = await startServer({
      config: testConfig(`handlers:
  "*":
    - { name: gone, forward: { url: "${sink.url}/gone" } }
    - { name: moved, forward: { url: "${sink.url}/moved" } }
    - { name: hang, forward: { url: "${sink.url}/hang", timeout: 200ms }, retry: { attempts: 2 } }
retry: { attempts: 5, schedule: [10ms], jitter: 0 }
`),
    });
    await deliver(`${server.url}/webhook`, event());
    await waitUntil(() => deliveries(server?.dir ?? "").every((d) => ["dead", "failed"].includes(d.status)));
    expect(deliveries(server.dir)).toEqual([
      { action: "gone", status: "dead", attempts: 1 },
      { action: "moved", status: "failed", attempts: 1 },
      { action: "hang", status: "dead", attempts: 2 },
    ]);
    expect(sink.to("/redirect-target")).toHaveLength(0);
  });

  test("exec: exit 75 is retried, other exits fail; the per-action concurrency cap holds", async () => {
    const out = tempDir("payhook-recorder-");
    server = await startServer({
      config: testConfig(`handlers:
  invoice.paid:
    - { name: tempfail, exec: { command: ["${RECORDER}", "${out}", "fail-first:1:75"] } }
    - { name: broken, exec: { command: ["${RECORDER}", "${out}", "exit:3"] } }
  charge.succeeded:
    - { name: one-at-a-time, exec: { command: ["${RECORDER}", "${out}", "exclusive"], concurrency: 1 } }
retry: { attempts: 3, schedule: [10ms], jitter: 0 }
`),
    });
    await deliver(`${server.url}/webhook`, event("invoice.paid"));
    for (let i = 0; i < 4; i++) await deliver(`${server.url}/webhook`, event("charge.succeeded"));
    await waitUntil(() => deliveries(server?.dir ?? "").every((d) => ["done", "failed", "dead"].includes(d.status)));
    const rows = deliveries(server.dir);
    expect(rows.slice(0, 2)).toEqual([
      { action: "tempfail", status: "done", attempts: 2 },
      { action: "broken", status: "failed", attempts: 1 },
    ]);
    // Every exclusive run found no other in progress: never two at once.
    expect(rows.slice(2)).toEqual(Array(4).fill({ action: "one-at-a-time", status: "done", attempts: 1 }));
  });

  test("when: an action whose conditions do not hold is skipped", async () => {
    server = await startServer({
      config: testConfig(`handlers:
  "*":
    - log: "big payment {{data.object.id}}"
      when: { data.object.amount: { gte: 5000 }, livemode: false }
    - log: "any payment {{data.object.id}}"
`),
    });
    const small = event("payment_intent.succeeded");
    const big = event("payment_intent.succeeded", {
      data: { object: { id: "pi_big", object: "payment_intent", amount: 9000 } },
    });
    await deliver(`${server.url}/webhook`, small);
    await deliver(`${server.url}/webhook`, big);
    await server.waitForStdout("big payment pi_big");
    await server.waitForStdout(`any payment ${JSON.parse(small).data.object.id}`);
    await waitUntil(() => deliveries(server?.dir ?? "").every((d) => d.status === "done"));
    expect(server.stdout.filter((l) => l.startsWith("big payment"))).toEqual(["big payment pi_big"]);
  });
});
