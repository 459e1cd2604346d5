/**
 * End to end, from the compiled binary, on SQLite and on PostgreSQL: payhook in front of an app that verifies
 * Stripe's signatures (stripe-node's constructEvent and python3-stripe's construct_event, the app's own secret, a
 * retry with a fresh timestamp, a wrong secret as the negative control); labelled secrets counted per label and `check --rotation` answering both ways;
 * a what-if over stored events that reports exactly the candidate's changes and writes nothing; and a backfill
 * that runs a new ordered action once per stored event, oldest first, and nothing the second time — with two
 * instances on PostgreSQL, still once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Stripe from "stripe";
import { type Cluster, startCluster } from "../helpers/postgres.ts";
import { type RunningServer, runPayhook, startServer, tempDir, waitUntil } from "../helpers/server.ts";
import { type Sink, type SinkRequest, startSink } from "../helpers/sink.ts";
import { deliver, event, idOf } from "../helpers/stripe.ts";

const APP_SECRET = "whsec_app_own_secret";
const CURRENT = "whsec_current_one";
const PREVIOUS = "whsec_previous_one";
const T = Math.floor(Date.now() / 1000) - 600;
/** Amounts of the five stored invoices, oldest first: `big` runs for 2000 and up, the candidate's for 5000 and up. */
const AMOUNTS = [500, 2000, 2000, 6000, 7000];

let sink: Sink;
beforeAll(async () => {
  sink = await startSink();
});
afterAll(async () => {
  await sink.close();
});

function running(store: string, port = "{{port}}"): string {
  return `listen: { host: 127.0.0.1, port: ${port} }
store: ${store}
endpoints:
  - path: /webhook
    secrets:
      - { label: current, secret: "${CURRENT}" }
      - { label: previous, secret: "${PREVIOUS}", retiring: true }
      - { label: oldest, secret: "\${OLDEST_SECRET:-}", retiring: true }
handlers:
  invoice.paid:
    - name: app
      forward: { url: "${sink.url}/app", sign: { scheme: stripe, secret: "${APP_SECRET}" } }
      retry: { attempts: 3, schedule: [1s], jitter: 0 }
    - name: audit
      log: "paid {{data.object.id}}"
    - name: big
      log: "big {{data.object.id}}"
      when: { data.object.amount: { gte: 2000 } }
`;
}

/** The running map changed: `crm` added (ordered per customer), `audit` removed, `big`'s threshold raised. */
function candidate(store: string, port = "{{port}}"): string {
  return `listen: { host: 127.0.0.1, port: ${port} }
store: ${store}
endpoints:
  - path: /webhook
    secrets: ["${CURRENT}"]
handlers:
  invoice.paid:
    - name: app
      forward: { url: "${sink.url}/app", sign: { scheme: stripe, secret: "${APP_SECRET}" } }
    - name: big
      log: "big {{data.object.id}}"
      when: { data.object.amount: { gte: 5000 } }
    - name: crm
      forward: { url: "${sink.url}/crm-{{store}}" }
      order: { key: "{{data.object.customer}}" }
`;
}

function invoices(): string[] {
  return AMOUNTS.map((amount, i) =>
    event("invoice.paid", {
      created: T + i,
      data: { object: { id: `in_${i}`, object: "invoice", amount, customer: "cus_one" } },
    }),
  );
}

const text = (r: SinkRequest) => new TextDecoder().decode(r.body);
const eventIdOf = (r: SinkRequest) => idOf(text(r));

/** Writes `body` as a config file in `dir` and returns its path. */
function configFile(dir: string, name: string, body: string, port: number, tag: string): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    body.replaceAll("{{port}}", String(port)).replaceAll("{{dir}}", dir).replaceAll("{{store}}", tag),
  );
  return file;
}

/**
 * Hashes of every file in `dir`, to show a command changed none of them. The -shm file is left out: it is
 * SQLite's shared-memory index, where every reader, read-only ones included, takes its read lock; so is an empty
 * -wal, which a reader may create and which holds nothing (the same as none).
 */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const size = readFileSync(join(dir, name)).byteLength;
    if (name.endsWith("-shm") || (name.endsWith("-wal") && size === 0)) continue;
    out[name] = createHash("sha256")
      .update(readFileSync(join(dir, name)))
      .digest("hex");
  }
  return out;
}

/** What a Python app using `stripe.Webhook.construct_event` makes of each request: its event id, or the error. */
function verifyInPython(requests: SinkRequest[], secret: string): unknown[] {
  const job = {
    secret,
    requests: requests.map((r) => ({
      body: Buffer.from(r.body).toString("base64"),
      header: r.headers["stripe-signature"] ?? "",
    })),
  };
  // Debian's python3 and its python3-stripe (make test-tools installs it), not whatever python3 is first on PATH.
  const output = execFileSync("/usr/bin/python3", [join(import.meta.dir, "../helpers/stripe-python-verify.py")], {
    input: JSON.stringify(job),
  });
  return JSON.parse(output.toString()) as unknown[];
}

/** The whole story on one store; `setting` is its `store:` value, `env` what payhook needs to reach it. */
async function story(tag: string, setting: string, env: Record<string, string>, instances: number): Promise<void> {
  const dir = tempDir();
  const runningFile = configFile(dir, "running.yaml", running(setting), 0, tag);
  const candidateFile = configFile(dir, "candidate.yaml", candidate(setting), 0, tag);
  const run = (args: string[]) => runPayhook(args, { cwd: dir, env });
  sink.plan("/app", ["500", "200"]);
  const before = sink.to("/app").length;

  // 1. Running config: five invoices, the second signed with the retiring secret.
  const server: RunningServer = await startServer({ config: running(setting).replaceAll("{{store}}", tag), dir, env });
  const payloads = invoices();
  for (const [i, payload] of payloads.entries()) {
    const response = await deliver(`${server.url}/webhook`, payload, { secret: i === 1 ? PREVIOUS : CURRENT });
    expect(response.status).toBe(200);
  }
  const app = (await sink.waitFor("/app", before + 6)).slice(before);

  // Drop-in: every forwarded request verifies at the app with its own secret, body byte for byte as Stripe signed
  // it; the retried attempt carries a later timestamp; a wrong secret fails.
  const sent = new Map(payloads.map((p) => [idOf(p), p]));
  for (const request of app) {
    const header = request.headers["stripe-signature"] ?? "";
    const verified = await Stripe.webhooks.constructEventAsync(text(request), header, APP_SECRET);
    expect(Buffer.from(request.body).equals(Buffer.from(sent.get(verified.id) ?? ""))).toBe(true);
    await expect(Stripe.webhooks.constructEventAsync(text(request), header, "whsec_not_the_apps")).rejects.toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );
  }
  // The same requests verify in a Python app (Debian's python3-stripe), and fail there with a wrong secret.
  expect(verifyInPython(app, APP_SECRET)).toEqual(app.map((r) => eventIdOf(r)));
  expect(verifyInPython(app, "whsec_not_the_apps")).toEqual(app.map(() => ({ error: "SignatureVerificationError" })));
  const first = app.filter((r) => eventIdOf(r) === eventIdOf(app[0] as SinkRequest));
  expect(first.map((r) => r.status)).toEqual([500, 200]);
  const stamps = first.map((r) => Number(/t=(\d+)/.exec(r.headers["stripe-signature"] ?? "")?.[1]));
  expect(stamps[1]).toBeGreaterThan(stamps[0] as number);

  // Rotation: counted per label; events show names it; check --rotation answers both ways.
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(metrics).toContain('payhook_events_verified_total{endpoint="/webhook",secret="current"} 4');
  expect(metrics).toContain('payhook_events_verified_total{endpoint="/webhook",secret="previous"} 1');
  expect(metrics).not.toContain(PREVIOUS);
  const shown = await run(["events", "show", idOf(payloads[1] as string), "--config", runningFile]);
  expect(shown.stdout).toContain("verified by secret previous");
  const rotation = await run(["check", "--rotation", "--days", "7", "--config", runningFile]);
  expect(rotation.code).toBe(0);
  expect(rotation.stdout).toMatch(/\/webhook secret previous: verified 1 event in the last 7 days.*not yet safe/);
  expect(rotation.stdout).not.toContain("secret oldest");
  const withOldest = await runPayhook(["check", "--rotation", "--strict", "--config", runningFile], {
    cwd: dir,
    env: { ...env, OLDEST_SECRET: "whsec_oldest_one" },
  });
  expect(withOldest.stdout).toContain("/webhook secret oldest: verified no event in the last 7 days: safe to remove");
  expect(withOldest.code).toBe(2);
  await server.stop();

  // 2. What-if: exactly the candidate's three changes, counted over the five events, and nothing written.
  const files = tag === "sqlite" ? snapshot(dir) : undefined;
  const whatIf = await run(["explain", "--since", "1h", "--config", candidateFile, "--against", runningFile, "--json"]);
  expect(whatIf.stderr).toBe("");
  const report = JSON.parse(whatIf.stdout) as {
    events: number;
    unchanged: number;
    differences: { kind: string; action: string; events: number; examples: string[] }[];
  };
  expect(report.events).toBe(5);
  const summary = report.differences.map((d) => [d.kind, d.action, d.events]).sort();
  expect(summary).toEqual([
    ["added", "crm", 5],
    ["removed", "audit", 5],
    ["when", "big", 2],
  ]);
  expect(report.differences.find((d) => d.kind === "when")?.examples).toEqual([
    idOf(payloads[1] as string),
    idOf(payloads[2] as string),
  ]);
  if (files) expect(snapshot(dir)).toEqual(files);

  // 3. Backfill under the candidate, served by `instances` instances: five deliveries, oldest first, once each.
  const servers: RunningServer[] = [];
  for (let i = 0; i < instances; i++) {
    servers.push(await startServer({ config: candidate(setting).replaceAll("{{store}}", tag), dir, env }));
  }
  try {
    const dry = await run(["backfill", "--action", "crm", "--since", "1h", "--dry-run", "--config", candidateFile]);
    expect(dry.stdout).toContain("would queue 5 deliveries of crm");
    const round = await run(["backfill", "--action", "crm", "--since", "1h", "--json", "--config", candidateFile]);
    expect(JSON.parse(round.stdout)).toMatchObject({ queued: 5, already: 0, event_ids: [...sent.keys()] });
    const crm = await sink.waitFor(`/crm-${tag}`, 5);
    const again = await run(["backfill", "--action", "crm", "--since", "1h", "--config", candidateFile]);
    expect(again.stdout).toContain("queued 0 deliveries of crm");
    expect(again.stdout).toContain("5 matching events already have one");
    const last = idOf(payloads[4] as string);
    await waitUntil(async () =>
      (await run(["events", "show", last, "--config", candidateFile])).stdout.includes("done"),
    );
    expect(crm.map(eventIdOf)).toEqual([...sent.keys()]);
    expect(sink.to(`/crm-${tag}`)).toHaveLength(5);
    const detail = await run(["events", "show", last, "--config", candidateFile]);
    expect(detail.stdout).toMatch(/delivery {2}crm: done[\s\S]*created by the backfill round of/);
  } finally {
    for (const s of servers) await s.stop();
  }
}

describe("changing a Stripe integration without fear", () => {
  test("SQLite: drop-in signing, rotation, what-if and backfill", async () => {
    await story("sqlite", "{{dir}}/payhook.db", {}, 1);
  });

  describe("PostgreSQL", () => {
    let cluster: Cluster;
    beforeAll(async () => {
      cluster = await startCluster();
    });
    afterAll(() => cluster?.stop());

    test("the same story, with two instances running the backfill: each delivery runs once", async () => {
      const database = cluster.createDatabase();
      await story("postgres", "${DATABASE_URL}", { DATABASE_URL: `${cluster.url(database)}?sslmode=disable` }, 2);
    });
  });
});
