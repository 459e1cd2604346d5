/**
 * @module Downstream faults (E-3, F15–F24, F6 in docs/guarantees.md#test-ids): events over two forward actions against a
 * service failing half the time all arrive, none lost or dead, every retry under one idempotency key; and each
 * fault row (hang, reset, refused, redirect, 410, slow body, huge body, an exec grandchild ignoring SIGTERM)
 * ends as docs/actions.md says. `make test` runs 1,000 events; `make soak` (PAYHOOK_SOAK=full) 10,000.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { freePort, type RunningServer, startServer, tempDir, testConfig, waitUntil } from "../helpers/server.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import { queryStore } from "../helpers/store.ts";
import { deliver, event, idOf, SECRET } from "../helpers/stripe.ts";

const FULL = process.env.PAYHOOK_SOAK === "full";
// Timeouts and the exec kill grace (SIGTERM, then SIGKILL) take real seconds; these are bounds, not assertions.
setDefaultTimeout(60_000);
const STUBBORN = resolve(import.meta.dir, "fixtures/stubborn.sh");

let server: RunningServer | undefined;
let sink: Sink | undefined;
const closers: (() => void)[] = [];
afterEach(async () => {
  await server?.kill();
  server = undefined;
  await sink?.close();
  sink = undefined;
  for (const close of closers.splice(0)) close();
});

const query = queryStore;

/** A service that fails half its requests at random, recording each by idempotency key. */
async function flakyService(): Promise<{ url: string; byKey: Map<string, { event: string; ok: boolean }[]> }> {
  const byKey = new Map<string, { event: string; ok: boolean }[]>();
  const http: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const key = String(req.headers["idempotency-key"]);
      const ok = Math.random() < 0.5;
      const seen = byKey.get(key) ?? [];
      seen.push({ event: String(req.headers["payhook-event-id"]), ok });
      byKey.set(key, seen);
      res.writeHead(ok ? 200 : 500).end(ok ? "ok" : "flaky");
    });
  });
  await new Promise<void>((done) => http.listen(0, "127.0.0.1", done));
  closers.push(() => http.close());
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, byKey };
}

function signed(body: string): string {
  const t = Math.floor(Date.now() / 1000);
  return `t=${t},v1=${createHmac("sha256", SECRET).update(`${t}.${body}`).digest("hex")}`;
}

describe("E-3 flaky downstream", () => {
  const events = FULL ? 10_000 : 1_000;

  test(
    `E-3 ${events} events × 2 forward actions at 50 % failures, compressed schedule: 100 % delivered, none lost, none dead, one key per delivery (F15)`,
    async () => {
      const service = await flakyService();
      server = await startServer({
        config: testConfig(`handlers:
  "*":
    - name: left
      forward: { url: "${service.url}/left", timeout: 10s }
    - name: right
      forward: { url: "${service.url}/right", timeout: 10s }
retry: { attempts: 40, schedule: [5ms, 10ms, 20ms], jitter: 0.2 }
`),
      });
      const url = `${server.url}/webhook`;
      const ids: string[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < events) {
            next += 1;
            const payload = event("payment_intent.succeeded");
            const response = await fetch(url, {
              method: "POST",
              body: payload,
              headers: { "stripe-signature": signed(payload) },
            });
            expect(response.status).toBe(200);
            ids.push(idOf(payload));
          }
        }),
      );
      const dir = server.dir;
      await waitUntil(
        () =>
          query<{ n: number }>(dir, "SELECT COUNT(*) AS n FROM deliveries WHERE status IN ('pending', 'running')")[0]
            ?.n === 0,
        FULL ? 900_000 : 120_000,
        "every delivery finished",
      );
      const rows = query<{ key: string; status: string; attempts: number }>(
        dir,
        "SELECT event_id || ':' || action AS key, status, attempts FROM deliveries",
      );
      expect(rows).toHaveLength(events * 2);
      expect(rows.filter((r) => r.status !== "done")).toEqual([]);
      let requests = 0;
      let failures = 0;
      for (const id of ids) {
        for (const action of ["left", "right"]) {
          const key = `${id}:${action}`;
          const seen = service.byKey.get(key) ?? [];
          // Delivered exactly once successfully; every attempt under the same key and event id.
          expect(seen.filter((s) => s.ok)).toHaveLength(1);
          expect(seen.every((s) => s.event === id)).toBe(true);
          expect(seen.at(-1)?.ok).toBe(true);
          requests += seen.length;
          failures += seen.filter((s) => !s.ok).length;
        }
      }
      const attempts = rows.reduce((sum, r) => sum + r.attempts, 0);
      expect(attempts).toBe(requests);
      expect(service.byKey.size).toBe(events * 2);
      console.log(
        `E-3 flaky downstream: ${events} events, ${events * 2} deliveries, ${requests} requests, ${failures} failed (${Math.round((100 * failures) / requests)} %), 100 % done, 0 dead`,
      );
      expect(failures).toBeGreaterThan(0);
    },
    FULL ? 1_200_000 : 180_000,
  );
});

describe("E-3 fault rows", () => {
  async function run(actionYaml: string, extraEnv: Record<string, string> = {}) {
    server = await startServer({
      config: testConfig(`handlers:
  "*":
${actionYaml}
retry: { attempts: 3, schedule: [10ms, 10ms], jitter: 0 }
`),
      env: extraEnv,
    });
    const payload = event("payment_intent.succeeded");
    expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
    const id = idOf(payload);
    const dir = server.dir;
    await waitUntil(
      () =>
        query(dir, "SELECT id FROM deliveries WHERE event_id = ? AND status NOT IN ('pending', 'running')", id)
          .length === 1,
      30_000,
      "the delivery finished",
    );
    const [delivery] = query<{ status: string; attempts: number; last_error: string | null }>(
      dir,
      "SELECT status, attempts, last_error FROM deliveries WHERE event_id = ?",
      id,
    );
    const attempts = query<{ status: string; error: string | null; output: string | null }>(
      dir,
      "SELECT a.status, a.error, a.output FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event_id = ? ORDER BY a.attempt",
      id,
    );
    return { id, delivery, attempts };
  }

  test("F16 a service that accepts and never answers: the attempt ends at the timeout and is retried", async () => {
    sink = await startSink();
    sink.plan("/hang", ["hang", "200"]);
    const { delivery, attempts } = await run(
      `    - name: hang\n      forward: { url: "${sink.url}/hang", timeout: 500ms }`,
    );
    expect(delivery).toMatchObject({ status: "done", attempts: 2 });
    expect(attempts[0]?.error).toContain("no answer within 500 ms");
  });

  test("F17 a connection reset mid-request is retried", async () => {
    sink = await startSink();
    sink.plan("/reset", ["reset", "200"]);
    const { delivery } = await run(`    - name: reset\n      forward: { url: "${sink.url}/reset" }`);
    expect(delivery).toMatchObject({ status: "done", attempts: 2 });
  });

  test("F17/F24 connection refused is retried until attempts run out: exactly 1 + len(schedule) attempts, then dead with the last error", async () => {
    const port = await freePort();
    const { delivery, attempts } = await run(
      `    - name: refused\n      forward: { url: "http://127.0.0.1:${port}/x" }`,
    );
    expect(delivery?.status).toBe("dead");
    expect(delivery?.attempts).toBe(3);
    expect(attempts).toHaveLength(3);
    expect(delivery?.last_error).toBeTruthy();
  });

  test("F19 a 302 is a failure and never followed: nothing reaches the Location target", async () => {
    sink = await startSink();
    sink.plan("/moved", ["302"]);
    const { delivery } = await run(`    - name: moved\n      forward: { url: "${sink.url}/moved" }`);
    expect(delivery?.status).toBe("failed");
    expect(sink.to("/redirect-target")).toHaveLength(0);
  });

  test("F20 a 410 is dead at once: exactly 1 attempt", async () => {
    sink = await startSink();
    sink.plan("/gone", ["410"]);
    const { delivery } = await run(`    - name: gone\n      forward: { url: "${sink.url}/gone" }`);
    expect(delivery).toMatchObject({ status: "dead", attempts: 1 });
    expect(sink.to("/gone")).toHaveLength(1);
  });

  test("F18 a 200 whose body trickles forever: the attempt still ends, with the response kept small", async () => {
    sink = await startSink();
    sink.plan("/slow", ["slow"]);
    const { delivery, attempts } = await run(
      `    - name: slow\n      forward: { url: "${sink.url}/slow", timeout: 500ms }`,
    );
    expect(["done", "pending", "dead"]).toContain(delivery?.status as string);
    for (const a of attempts) expect((a.output ?? "").length).toBeLessThanOrEqual(64 * 1024);
  });

  test("F18 a 100 MB response body: the delivery is done and at most the response cap is kept", async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const huge = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain" });
      let sent = 0;
      const pump = () => {
        while (sent < 100 && res.write(chunk)) sent += 1;
        if (sent >= 100) res.end();
        else res.once("drain", pump);
      };
      res.on("close", () => {
        sent = 100;
      });
      pump();
    });
    await new Promise<void>((done) => huge.listen(0, "127.0.0.1", done));
    closers.push(() => huge.close());
    const port = (huge.address() as AddressInfo).port;
    const { delivery, attempts } = await run(
      `    - name: huge\n      forward: { url: "http://127.0.0.1:${port}/big", timeout: 30s }`,
    );
    expect(delivery).toMatchObject({ status: "done", attempts: 1 });
    expect((attempts[0]?.output ?? "").length).toBeLessThanOrEqual(64 * 1024);
  });

  test("F6/F23 an exec whose grandchild ignores SIGTERM: at the timeout the whole process group is gone, and the attempt is retried", async () => {
    const out = tempDir("payhook-stubborn-");
    const { id, delivery, attempts } = await run(
      `    - name: stubborn\n      exec: { command: ["${STUBBORN}", "${out}"], timeout: 500ms }\n      retry: { attempts: 2, schedule: [10ms] }`,
    );
    expect(delivery).toMatchObject({ status: "dead", attempts: 2 });
    expect(attempts[0]?.error).toContain("timeout");
    const [child, grandchild] = readFileSync(join(out, `pids.${id}`), "utf8")
      .trim()
      .split(" ")
      .map(Number);
    const alive = (pid: number | undefined) => {
      try {
        process.kill(pid as number, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitUntil(() => !alive(child) && !alive(grandchild), 10_000, "the stubborn process group ended");
  });
});
