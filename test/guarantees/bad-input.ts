/**
 * @module Bad input (B1–B40, E-5 in docs/guarantees.md#test-ids) against the running binary. Each refusal asserts its status
 * and code, that nothing was stored, that the answer leaks no stack or signature (B34), and that the server then
 * still accepts a valid event. Rows about forward/exec/file actions (B24–B30, B32, B37) live with those actions'
 * tests; B33 (secrets in logs) is secrets.test.ts; B5's constant-time compare is stripe-node's and is not timed.
 * The endpoint's secret is a sentinel, and the suite ends by scanning all it made payhook write for it (E-6).
 * The cases run on every store: bad-input.test.ts (SQLite) and bad-input-postgres.test.ts call badInputSuite().
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHmac } from "node:crypto";
import { connect } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { scanForSentinels, sentinelSecret } from "../helpers/sentinels.ts";
import { type RunningServer, runPayhook, startServer, tempDir, testConfig, waitUntil } from "../helpers/server.ts";
import type { TestStore } from "../helpers/stores.ts";
import { deliver as deliverWith, event, idOf, sign } from "../helpers/stripe.ts";

/** E-6: a sentinel, so the last test can show that no refusal made payhook write it anywhere. */
const SECRET = sentinelSecret("badinput0secret");
const deliver = (to: string, payload: string) => deliverWith(to, payload, { secret: SECRET });

export function badInputSuite(store: TestStore): void {
  /** Everything `payhook check` printed in this suite, for the final scan. */
  const checkOutputs: string[] = [];

  const CONFIG = testConfig(
    `handlers:
  "payment_intent.*":
    - name: line
      log: "ran {{id}} admin=[{{data.object.isAdmin}}] polluted=[{{data.object.polluted}}] name=[{{data.object.name}}]"
unhandled:
  - name: unhandled
    log: "unhandled {{id}} {{type}}"
retry: { attempts: 2, schedule: [10ms], jitter: 0 }
`,
    SECRET,
  ).replace("store: {{dir}}/payhook.db", `store: ${store.setting}`);

  // Bounds for a busy 2-core machine (the 1 MiB bodies, the 500,000-deep array), not timing assertions.
  setDefaultTimeout(30_000);

  let server: RunningServer;
  let url: string;
  beforeAll(async () => {
    await store.start();
    server = await startServer({ config: CONFIG, env: store.env });
    url = `${server.url}/webhook`;
  });
  afterAll(async () => {
    await server?.stop();
    await store.close();
  }, 30_000);

  function query<T>(sql: string, ...params: string[]): Promise<T[]> {
    return store.query<T>(server.dir, sql, ...params);
  }

  const eventCount = async () => (await query<{ n: number }>("SELECT COUNT(*) AS n FROM events"))[0]?.n ?? 0;

  function hmacHeader(body: string | Uint8Array, options: { t?: number; secret?: string | Uint8Array } = {}): string {
    const t = options.t ?? Math.floor(Date.now() / 1000);
    const mac = createHmac("sha256", options.secret ?? SECRET);
    mac.update(`${t}.`);
    mac.update(body);
    return `t=${t},v1=${mac.digest("hex")}`;
  }

  function post(body: BodyInit, headers: Record<string, string>): Promise<Response> {
    return fetch(url, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
  }

  /** Runs `send`, asserts the refusal, that nothing new was stored, and that a valid event still gets 200. */
  async function refused(status: number, code: string | null, send: () => Promise<Response>): Promise<string> {
    const before = await eventCount();
    const response = await send();
    const text = await response.text();
    expect(response.status).toBe(status);
    if (code !== null) expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe(code);
    expect(text).not.toMatch(/\n\s+at |\.ts:\d+|whsec_/); // B34: no stack, no source paths, no secret
    expect(await eventCount()).toBe(before);
    await stillServes();
    return text;
  }

  async function stillServes(): Promise<void> {
    const payload = event("payment_intent.succeeded");
    const response = await deliver(url, payload);
    expect(response.status).toBe(200);
    expect(await query("SELECT id FROM events WHERE id = ?", idOf(payload))).toHaveLength(1);
  }

  /** Sends raw bytes on one connection and returns what came back before the server closed it (or `ms` passed). */
  function raw(bytes: string | Uint8Array, ms = 15_000): Promise<string> {
    return new Promise((resolve, reject) => {
      let data = "";
      const socket = connect(server.port, "127.0.0.1", () => socket.write(bytes));
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(data);
      }, ms);
      socket.on("data", (chunk) => {
        data += chunk.toString("latin1");
      });
      socket.on("close", () => {
        clearTimeout(timer);
        resolve(data);
      });
      socket.on("error", reject);
    });
  }

  describe("B bad input", () => {
    test("B1 a pretty-printed body with \\r\\n and a trailing space verifies: the raw bytes are what is signed", async () => {
      const payload = `${event("payment_intent.succeeded").replaceAll("\n", "\r\n")} `;
      const response = await post(payload, { "stripe-signature": hmacHeader(payload) });
      expect(response.status).toBe(200);
      const [row] = await query<{ body: Uint8Array }>("SELECT body FROM events WHERE id = ?", idOf(payload));
      expect(new TextDecoder().decode(row?.body)).toBe(payload);
    });

    test("B2 a body re-serialised by a relay (keys reordered, whitespace changed) → 400 signature_mismatch", async () => {
      const payload = event("payment_intent.succeeded");
      const header = hmacHeader(payload);
      const parsed = JSON.parse(payload) as Record<string, unknown>;
      const reordered = JSON.stringify(Object.fromEntries(Object.entries(parsed).reverse()));
      await refused(400, "signature_mismatch", () => post(reordered, { "stripe-signature": header }));
      await refused(400, "signature_mismatch", () => post(JSON.stringify(parsed), { "stripe-signature": header }));
    });

    test("B3 no Stripe-Signature header → 400 missing_signature", async () => {
      await refused(400, "missing_signature", () => post(event(), {}));
    });

    test("B4 a forged v1 → 400 signature_mismatch, and the answer never contains the expected signature", async () => {
      const payload = event();
      const t = Math.floor(Date.now() / 1000);
      const expected = hmacHeader(payload, { t }).split("v1=")[1] as string;
      const forged = createHmac("sha256", "whsec_attacker_guess").update("x").digest("hex");
      const text = await refused(400, "signature_mismatch", () =>
        post(payload, { "stripe-signature": `t=${t},v1=${forged}` }),
      );
      expect(text).not.toContain(expected);
      expect(text).not.toContain(forged);
    });

    test("B5 a short or non-hex v1 is refused before any HMAC is computed → 400 no_signatures", async () => {
      const payload = event();
      const t = Math.floor(Date.now() / 1000);
      await refused(400, "no_signatures", () => post(payload, { "stripe-signature": `t=${t},v1=abc123` }));
      await refused(400, "no_signatures", () => post(payload, { "stripe-signature": `t=${t},v1=${"z".repeat(64)}` }));
    });

    test("B6 a captured request replayed 100× inside the window → 200 each time, one event row, the action once", async () => {
      const payload = event("payment_intent.succeeded");
      const header = hmacHeader(payload);
      const first = await post(payload, { "stripe-signature": header });
      expect(await first.json()).toEqual({ received: true });
      for (let i = 0; i < 99; i++) {
        const again = await post(payload, { "stripe-signature": header });
        expect(again.status).toBe(200);
        expect(await again.json()).toEqual({ received: true, duplicate: true });
      }
      const id = idOf(payload);
      expect(await query("SELECT id FROM events WHERE id = ?", id)).toHaveLength(1);
      expect(await query("SELECT id FROM deliveries WHERE event_id = ?", id)).toHaveLength(1);
      await waitUntil(
        async () => (await query("SELECT id FROM deliveries WHERE event_id = ? AND status = 'done'", id)).length === 1,
      );
      expect(server.stdout.filter((l) => l.startsWith(`ran ${id} `))).toHaveLength(1);
    });

    test("B7 the same request replayed after the window → 400 timestamp_too_old, even for a stored id (stale wins)", async () => {
      const payload = event("payment_intent.succeeded");
      const old = Math.floor(Date.now() / 1000) - 360;
      expect((await post(payload, { "stripe-signature": hmacHeader(payload) })).status).toBe(200);
      await refused(400, "timestamp_too_old", () =>
        post(payload, { "stripe-signature": hmacHeader(payload, { t: old }) }),
      );
      const fresh = event();
      await refused(400, "timestamp_too_old", () => post(fresh, { "stripe-signature": hmacHeader(fresh, { t: old }) }));
    });

    test("B8 a correctly signed timestamp an hour in the future → 400 timestamp_in_future", async () => {
      const payload = event();
      const t = Math.floor(Date.now() / 1000) + 3600;
      await refused(400, "timestamp_in_future", () =>
        post(payload, { "stripe-signature": hmacHeader(payload, { t }) }),
      );
    });

    test("B9 downgrade: only v0= or v2= signatures (even correct ones) → 400 no_signatures", async () => {
      const payload = event();
      const good = hmacHeader(payload);
      await refused(400, "no_signatures", () => post(payload, { "stripe-signature": good.replace("v1=", "v0=") }));
      await refused(400, "no_signatures", () => post(payload, { "stripe-signature": good.replace("v1=", "v2=") }));
    });

    test("B10 secret confusion: a signature keyed without whsec_ or with the base64-decoded secret → 400 signature_mismatch", async () => {
      const payload = event();
      const stripped = hmacHeader(payload, { secret: SECRET.slice("whsec_".length) });
      const decoded = hmacHeader(payload, { secret: Buffer.from(SECRET.slice("whsec_".length), "base64") });
      await refused(400, "signature_mismatch", () => post(payload, { "stripe-signature": stripped }));
      await refused(400, "signature_mismatch", () => post(payload, { "stripe-signature": decoded }));
    });

    test("B11 oversized body → 413: a declared Content-Length of 2,000,000 and a chunked body that never ends", async () => {
      const big = "x".repeat(2_000_000);
      // Refused from the declared Content-Length, before a byte of the body is read.
      await refused(413, "body_too_large", () => post(big, { "stripe-signature": hmacHeader(big) }));
      const chunk = new Uint8Array(64 * 1024).fill(0x20);
      let sent = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(controller) {
          // Bounded only as a safety net: 64 MiB, far beyond the 1 MiB cap the server must enforce first.
          if (sent++ < 1024) controller.enqueue(chunk);
          else controller.close();
        },
      });
      await refused(413, "body_too_large", () => post(endless, { "stripe-signature": hmacHeader("x") }));
    });

    test("B12 a body 1 byte over max_body (1 MiB) → 413, never truncated and stored; exactly 1 MiB → 200", async () => {
      const base = event("payment_intent.succeeded", { padding: "" });
      const fill = 1024 * 1024 - new TextEncoder().encode(base).byteLength;
      const exact = base.replace('"padding": ""', `"padding": "${"p".repeat(fill)}"`);
      expect(new TextEncoder().encode(exact).byteLength).toBe(1024 * 1024);
      const over = exact.replace('"padding": "', '"padding": "q');
      await refused(413, "body_too_large", () => post(over, { "stripe-signature": hmacHeader(over) }));
      expect((await post(exact, { "stripe-signature": hmacHeader(exact) })).status).toBe(200);
    });

    test("B13 a gzip body is never inflated: its raw bytes are not UTF-8 → 400 invalid_encoding, whatever was signed", async () => {
      const payload = event();
      const gz = gzipSync(payload);
      await refused(400, "invalid_encoding", () =>
        post(gz, { "content-encoding": "gzip", "stripe-signature": hmacHeader(payload) }),
      );
      await refused(400, "invalid_encoding", () =>
        post(gz, { "content-encoding": "gzip", "stripe-signature": hmacHeader(gz) }),
      );
    });

    test("B14 slow-loris: 200 sockets trickling headers or a body are all closed by the server, and valid events are served meanwhile", async () => {
      const sockets = Array.from({ length: 200 }, (_, i) => {
        const socket = connect(server.port, "127.0.0.1");
        const state = { closed: false };
        socket.on("error", () => {});
        socket.on("close", () => {
          state.closed = true;
        });
        socket.on("connect", () => {
          socket.write(
            i % 2 === 0
              ? "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              : `POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\nStripe-Signature: ${hmacHeader("{")}\r\n\r\n{`,
          );
        });
        // One more byte a second, the slow-loris pattern; ends when the server closes the socket.
        const trickle = setInterval(() => {
          if (!state.closed) socket.write(i % 2 === 0 ? "X" : " ");
        }, 1000);
        return { socket, state, trickle };
      });
      try {
        await waitUntil(() => sockets.every((s) => s.socket.readyState === "open" || s.state.closed), 10_000);
        for (let i = 0; i < 5; i++) await stillServes();
        await waitUntil(
          () => sockets.every((s) => s.state.closed),
          40_000,
          "every trickling socket closed by the server",
        );
        await stillServes();
      } finally {
        for (const s of sockets) {
          clearInterval(s.trickle);
          s.socket.destroy();
        }
      }
    }, 60_000);

    test("B15 header floods: one 17 KB header → 431; 300 headers → 431", async () => {
      const payload = event();
      await refused(431, null, () =>
        post(payload, { "stripe-signature": hmacHeader(payload), "x-big": "a".repeat(17_000) }),
      );
      const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`x-h${i}`, "value"]));
      await refused(431, null, () => post(payload, { "stripe-signature": hmacHeader(payload), ...many }));
    });

    test("B16 wrong method → 405 with Allow: POST; another path, or /webhook/../admin sent raw → 404", async () => {
      const text = await refused(405, "method_not_allowed", () => fetch(url));
      expect(text).toContain("POST");
      const payload = event();
      await refused(404, "not_found", () =>
        fetch(`${server.url}/admin`, {
          method: "POST",
          body: payload,
          headers: { "stripe-signature": hmacHeader(payload) },
        }),
      );
      const before = await eventCount();
      const answer = await raw(
        `POST /webhook/../admin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${payload.length}\r\nStripe-Signature: ${hmacHeader(payload)}\r\nConnection: close\r\n\r\n${payload}`,
      );
      expect(answer).toStartWith("HTTP/1.1 404");
      expect(await eventCount()).toBe(before);
      await stillServes();
    });

    test("B17 content-type games: a signed event sent as text/plain or multipart/form-data is verified on its raw bytes → 200", async () => {
      for (const type of ["text/plain", "multipart/form-data; boundary=xyz", "application/x-www-form-urlencoded"]) {
        const payload = event("payment_intent.succeeded");
        const response = await post(payload, { "content-type": type, "stripe-signature": hmacHeader(payload) });
        expect(response.status).toBe(200);
        expect(await query("SELECT id FROM events WHERE id = ?", idOf(payload))).toHaveLength(1);
      }
    });

    test("B18 a correctly signed body that is not JSON → 400 invalid_json", async () => {
      const body = "} not json";
      await refused(400, "invalid_json", () => post(body, { "stripe-signature": hmacHeader(body) }));
    });

    test("B19 a correctly signed array nested 500,000 deep (1 MB) → 400, no crash", async () => {
      const depth = 500_000;
      const body = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      const text = await refused(400, null, () => post(body, { "stripe-signature": hmacHeader(body) }));
      expect(["invalid_json", "invalid_event"]).toContain((JSON.parse(text) as { error: { code: string } }).error.code);
    });

    test("B20 prototype pollution: __proto__ and constructor keys stay the event's own data, Object.prototype is untouched", async () => {
      const hostile = `{"id":"evt_proto_${Date.now()}","object":"event","type":"payment_intent.succeeded","created":1,"livemode":false,"data":{"object":{"name":"mallory","__proto__":{"isAdmin":true,"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}}}`;
      expect((await post(hostile, { "stripe-signature": hmacHeader(hostile) })).status).toBe(200);
      await server.waitForStdout(`ran ${idOf(hostile)} admin=[] polluted=[] name=[mallory]`);
      // A later, ordinary event proves no prototype in the process picked the keys up.
      const later = event("payment_intent.succeeded");
      expect((await deliver(url, later)).status).toBe(200);
      await server.waitForStdout(`ran ${idOf(later)} admin=[] polluted=[] name=[]`);
    });

    test("B21 duplicate JSON keys: the id stored and the id actions see come from the same parse (the last one)", async () => {
      const a = `evt_dupkey_a_${Date.now()}`;
      const b = `evt_dupkey_b_${Date.now()}`;
      const body = `{"id":"${a}","object":"event","type":"payment_intent.succeeded","created":1,"livemode":false,"data":{"object":{}},"id":"${b}"}`;
      expect((await post(body, { "stripe-signature": hmacHeader(body) })).status).toBe(200);
      expect(await query("SELECT id FROM events WHERE id IN (?, ?)", a, b)).toEqual([{ id: b }]);
      await server.waitForStdout(`ran ${b} `);
      expect(server.stdout.some((l) => l.includes(a))).toBe(false);
    });

    test("B22 big integers and exact bytes: the stored body is byte-for-byte what was signed", async () => {
      const body = `{"id":"evt_bigint_${Date.now()}","object":"event","type":"invoice.paid","created":1,"livemode":false,"data":{"object":{"amount":123456789012345678901234567890,"ratio":1.0000000000000000001,"int64":"9223372036854775807"}}}`;
      expect((await post(body, { "stripe-signature": hmacHeader(body) })).status).toBe(200);
      const [row] = await query<{ body: Uint8Array }>("SELECT body FROM events WHERE id = ?", idOf(body));
      expect(new TextDecoder().decode(row?.body)).toBe(body);
    });

    test("B23 event id abuse: missing, not a string, 10 KB, with a NUL, or a path (../, /) → 400 invalid_event", async () => {
      const bodies = [
        `{"object":"event","type":"x.y","created":1}`,
        `{"id":42,"object":"event","type":"x.y","created":1}`,
        `{"id":"evt_${"a".repeat(10_000)}","object":"event","type":"x.y","created":1}`,
        `{"id":"evt_nul\\u0000x","object":"event","type":"x.y","created":1}`,
        `{"id":"../../etc/passwd/${Date.now()}","object":"event","type":"x.y","created":1,"data":{"object":{}}}`,
      ];
      for (const body of bodies) {
        await refused(400, "invalid_event", () => post(body, { "stripe-signature": hmacHeader(body) }));
      }
    });

    test("B41 what a store cannot hold (a NUL in account or api_version, a created past the date range) → 400 naming the field; good events sent with them all get 200", async () => {
      const bad = [
        ["account", event("payment_intent.succeeded", { account: "acct_\u0000x" })],
        ["api_version", event("payment_intent.succeeded", { api_version: "2025\u0000" })],
        ["created", event("payment_intent.succeeded", { created: 1e20 })],
        ["created", event("payment_intent.succeeded", { created: 9e15 })],
      ] as const;
      // A NUL in an object or customer id only loses the search aid; in the body itself it is stored as sent.
      const odd = event("payment_intent.succeeded", { data: { object: { id: "pi_\u0000", customer: "cus_\u0000" } } });
      const good = Array.from({ length: 40 }, () => event("payment_intent.succeeded"));
      const sent = await Promise.all([...bad.map(([, body]) => body), odd, ...good].map((body) => deliver(url, body)));
      const answers = await Promise.all(sent.map(async (r) => [r.status, await r.text()] as const));
      for (const [i, [field]] of bad.entries()) {
        expect(answers[i]?.[0]).toBe(400);
        expect(JSON.parse(answers[i]?.[1] ?? "{}").error.message).toContain(`"${field}"`);
      }
      expect(answers.slice(bad.length).map(([status]) => status)).toEqual(Array(good.length + 1).fill(200));
      const stored = await query<{ id: string }>("SELECT id FROM events WHERE id = ?", idOf(odd));
      expect(stored).toHaveLength(1);
      for (const body of good) expect(await query("SELECT id FROM events WHERE id = ?", idOf(body))).toHaveLength(1);
    });

    test("B42 an event stored with a created past the date range (before payhook checked it) still lists and shows", async () => {
      const payload = event("payment_intent.succeeded");
      expect((await deliver(url, payload)).status).toBe(200);
      const update = "UPDATE events SET created = 9000000000000000 WHERE id = ?";
      if (store.name === "sqlite") {
        // serve holds the store open and writes behind the ack (the search index): wait for its lock as it does.
        const db = new Database(join(server.dir, "payhook.db"));
        db.exec("PRAGMA busy_timeout=5000");
        db.prepare(update).run(idOf(payload));
        db.close();
      } else await query(update, idOf(payload));
      const file = join(server.dir, "payhook.yaml");
      const list = await runPayhook(["events", "list", "--json", "--config", file], {
        cwd: server.dir,
        env: store.env,
      });
      expect(list.code).toBe(0);
      expect(list.stdout).toContain(idOf(payload));
      const show = await runPayhook(["events", "show", idOf(payload), "--config", file], {
        cwd: server.dir,
        env: store.env,
      });
      expect(show.code).toBe(0);
      expect(show.stdout).toContain("9000000000000000000 ms");
    });

    test("B31 control and bidi characters in event values are escaped in log output: one event stays one line", async () => {
      const id = `evt_bidi_${Date.now()}`;
      const body = JSON.stringify({
        id,
        object: "event",
        type: "payment_intent.succeeded",
        created: 1,
        data: { object: { name: "a\nran forged\u2028b\u202ec\u0007" } },
      });
      expect((await post(body, { "stripe-signature": hmacHeader(body) })).status).toBe(200);
      const line = await server.waitForStdout(`ran ${id} `);
      expect(line).toContain("name=[a\\u000aran forged\\u2028b\\u202ec\\u0007]");
      expect(server.stdout.some((l) => l.startsWith("ran forged"))).toBe(false);
    });

    test("B38 an unknown event type → 200, stored, and the unhandled actions run (never a 4xx that Stripe would retry for days)", async () => {
      const payload = event("foo.bar");
      expect((await deliver(url, payload)).status).toBe(200);
      await server.waitForStdout(`unhandled ${idOf(payload)} foo.bar`);
    });

    test("B39 a test-mode event signed with another endpoint's secret → 400 signature_mismatch", async () => {
      const payload = event("payment_intent.succeeded", { livemode: false });
      const header = await sign(payload, { secret: "whsec_other_endpoint_secret" });
      await refused(400, "signature_mismatch", () => post(payload, { "stripe-signature": header }));
    });

    test("B40 thin events are told apart by object: v2.core.event → 200 as a thin event; an unknown object → 400 invalid_event", async () => {
      const thin = JSON.stringify({
        id: `evt_test_thin_${Date.now()}`,
        object: "v2.core.event",
        type: "v1.billing.meter.error_report_triggered",
        created: new Date().toISOString(),
        livemode: false,
        related_object: { id: "mtr_test_1", type: "billing.meter", url: "/v1/billing/meters/mtr_test_1" },
      });
      expect((await post(thin, { "stripe-signature": hmacHeader(thin) })).status).toBe(200);
      expect(await query<{ object: string }>("SELECT object FROM events WHERE id = ?", idOf(thin))).toEqual([
        { object: "v2.core.event" },
      ]);
      const odd = `{"id":"evt_odd_${Date.now()}","object":"charge","type":"x.y","created":1}`;
      await refused(400, "invalid_event", () => post(odd, { "stripe-signature": hmacHeader(odd) }));
    });
  });

  // `check` refusals of an endpoint's secrets do not depend on the store: they run once, with the SQLite suite.
  if (store.name === "sqlite")
    describe("B config refusals (payhook check exits 2)", () => {
      const check = async (endpoint: string) => {
        const dir = tempDir();
        const file = join(dir, "payhook.yaml");
        await Bun.write(file, `store: ${dir}/payhook.db\nendpoints:\n  - path: /webhook\n${endpoint}\n`);
        const result = await runPayhook(["check", "--config", file], { env: { EMPTY: "" } });
        checkOutputs.push(result.stdout, result.stderr);
        return result;
      };

      test.each([
        ["no secrets", "    secrets: []"],
        ["only an empty secret", '    secrets: ["${EMPTY:-}"]'],
        ["whsec_ alone", '    secrets: ["whsec_"]'],
        ["a secret with whitespace", '    secrets: ["whsec_abc def"]'],
        ["a secret with a trailing newline", '    secrets: ["whsec_abc\\n"]'],
      ])("B35 a weak or missing secret (%s) → refuse to start, exit 2", async (_, secrets) => {
        const result = await check(secrets);
        expect(result.code).toBe(2);
        expect(result.stderr).toContain("secrets");
      });

      test.each([["0"], ["-1"], ["86400"]])("B36 tolerance %s → refuse to start, exit 2", async (tolerance) => {
        const result = await check(`    secrets: ["${SECRET}"]\n    tolerance: ${tolerance}`);
        expect(result.code).toBe(2);
        expect(result.stderr).toContain("tolerance");
      });
    });

  describe("E-6 bad input leaks no secret", () => {
    test("E-6 after every refusal above, payhook's stdout, stderr, store files and check output hold no sentinel secret", async () => {
      // Refusals of its own, so the scan has refused traffic to look at even when this test runs alone.
      const payload = event();
      const t = Math.floor(Date.now() / 1000);
      for (const header of [
        hmacHeader(payload, { t: t - 3600 }),
        hmacHeader(`${payload} `),
        `t=${t},v1=${"0".repeat(64)}`,
      ]) {
        expect((await post(payload, { "stripe-signature": header })).status).toBe(400);
      }
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain("payhook_");
      expect(await server.stop()).toBe(0);
      const texts = {
        stdout: server.stdout.join("\n"),
        stderr: server.stderr.join("\n"),
        "check output": checkOutputs.join("\n"),
        metrics,
        ...(await store.dump()),
      };
      expect(server.stderr.filter((l) => l.includes('"msg":"request refused"')).length).toBeGreaterThanOrEqual(3);
      expect(scanForSentinels(texts, server.dir)).toEqual([]);
      // Control: the same scan of the same folder finds the secret where it is meant to be, in the config file.
      expect(scanForSentinels({}, server.dir, { skip: [] })).toEqual(["SENTINEL in payhook.yaml"]);
    });
  });
}
