/**
 * @module The crash soak (E-1 in docs/guarantees.md#test-ids): concurrent senders of distinct signed events against the
 * compiled payhook, `kill -9` at random moments, redelivery of every unacknowledged id (as Stripe would), then
 * a drain on a clean server and an audit of the store against what was acknowledged.
 */
import { createHmac } from "node:crypto";
import { sentinelSecret } from "./sentinels.ts";
import { type RunningServer, startServer, tempDir, testConfig, waitUntil } from "./server.ts";
import { queryStore } from "./store.ts";

/** A sentinel (E-6 in docs/guarantees.md#test-ids), so the crash suite can show no output or store file ever holds it. */
export const SOAK_SECRET = sentinelSecret("soak0secret");
export const SOAK_ACTIONS = ["soak-a", "soak-b"] as const;

export interface SoakOptions {
  /** kill -9 cycles before the final drain. */
  cycles: number;
  /** Each cycle ends with a kill once this many acknowledgements arrived in it: a random count in [min, max]. */
  killAfter: [number, number];
  /** Concurrent senders. */
  senders: number;
  /** Extra environment for payhook (e.g. PAYHOOK_TEST_HOOK). */
  env?: Record<string, string>;
  /** The payhook argv to run (default: what the test helpers pick). */
  command?: string[];
  /** Bound on the final drain (all deliveries done), in ms. */
  drainMs?: number;
  /** Another store than the SQLite file in the soak's folder (PostgreSQL), and how to read it. */
  store?: SoakStore;
}

export interface SoakStore {
  /** The value of `store:` in the config. */
  setting: string;
  /** Environment payhook needs for it (DATABASE_URL). */
  env: Record<string, string>;
  /** Rows of a read-only query on the store's tables. */
  query<T>(sql: string): Promise<T[]>;
  /**
   * Resolves once the store has nothing left of a killed process in progress. A database server finishes a
   * statement whose client died: its rows can appear after the kill (a SQLite file cannot change after it).
   */
  settled?(): Promise<void>;
}

export interface SoakReport {
  cycles: number;
  senders: number;
  /** Distinct event ids acknowledged with 200. */
  acked: number;
  /** Requests sent in all (first deliveries and redeliveries). */
  requests: number;
  /** Redeliveries of ids that had no 200 when the server died. */
  redelivered: number;
  /** 200s that said duplicate: events committed whose first 200 was lost to a kill (F3). */
  duplicateAcks: number;
  /** Acknowledged ids missing from the store. */
  lost: string[];
  /** Event ids stored more than once (must be none: the primary key). */
  duplicateRows: number;
  /** Deliveries in the store, and those not `done` after the drain. */
  deliveries: number;
  notDone: number;
  /** Deliveries whose count is not one per action for every stored event. */
  missingDeliveries: number;
  /** `<event id>:<action>` of deliveries that were `running` in the store right after a kill. */
  inFlightAtKills: Set<string>;
  /** Deliveries that ran (or were attempted) more than once, by idempotency key. */
  repeated: Map<string, number>;
  /** Repeated deliveries that were not in flight at any kill. */
  repeatedNotInFlight: string[];
  /** Statuses other than 200 (connection failures at a kill are not responses and not counted here). */
  unexpectedStatuses: Map<number, number>;
  /** The server of the final drain's store folder, for further checks. */
  dir: string;
  /** Every stdout line of every server run. */
  stdout: string[];
  /** Every stderr line (the JSON log) of every server run. */
  stderr: string[];
}

function config(store?: SoakStore): string {
  const actions = SOAK_ACTIONS.map((name) => `    - name: ${name}\n      log: "ran {{id}}:${name}"`).join("\n");
  return testConfig(
    `handlers:
  "*":
${actions}
retry: { attempts: 5, schedule: [20ms], jitter: 0 }
`,
    SOAK_SECRET,
  ).replace(/^store: .*$/m, store ? `store: ${store.setting}` : "$&");
}

function sign(body: string, secret = SOAK_SECRET): string {
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
  return `t=${t},v1=${v1}`;
}

function payload(id: string): string {
  return JSON.stringify({
    id,
    object: "event",
    api_version: "2025-09-30.clover",
    created: Math.floor(Date.now() / 1000),
    data: { object: { id: `pi_${id.slice(4)}`, object: "payment_intent", amount: 2000, currency: "usd" } },
    livemode: false,
    pending_webhooks: 1,
    type: "payment_intent.succeeded",
  });
}

function randomIn([min, max]: [number, number]): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const dir = tempDir("payhook-soak-");
  const query = async <T>(_: string, sql: string): Promise<T[]> =>
    options.store ? options.store.query<T>(sql) : queryStore<T>(dir, sql);
  const env = { ...options.env, ...options.store?.env };
  const run = Date.now().toString(36);
  const acked = new Set<string>();
  const redeliver: string[] = [];
  const inFlightAtKills = new Set<string>();
  const unexpectedStatuses = new Map<number, number>();
  const stdout: string[] = [];
  const stderr: string[] = [];
  let next = 0;
  let requests = 0;
  let redelivered = 0;
  let duplicateAcks = 0;

  let server: RunningServer | undefined;
  let url = "";
  // Senders wait on `gate` while the server is down; `cycleDone` fires when this cycle's kill point is reached.
  let open: () => void = () => {};
  let gate = Promise.resolve();
  let cycleAcks = 0;
  let killAt = Number.POSITIVE_INFINITY;
  let onKillPoint: () => void = () => {};
  let draining = false;

  const closeGate = () => {
    gate = new Promise<void>((resolve) => {
      open = resolve;
    });
  };

  async function send(id: string): Promise<boolean> {
    const body = payload(id);
    requests += 1;
    let response: Response;
    try {
      // Like Stripe, every attempt carries a fresh timestamp and signature.
      response = await fetch(`${url}/webhook`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json", "stripe-signature": sign(body) },
      });
    } catch {
      return false;
    }
    let text = "";
    try {
      text = await response.text();
    } catch {
      return false;
    }
    if (response.status !== 200) {
      unexpectedStatuses.set(response.status, (unexpectedStatuses.get(response.status) ?? 0) + 1);
      return false;
    }
    if (text.includes('"duplicate":true')) duplicateAcks += 1;
    acked.add(id);
    cycleAcks += 1;
    if (cycleAcks === killAt) onKillPoint();
    return true;
  }

  async function sender(): Promise<void> {
    for (;;) {
      await gate;
      const retry = redeliver.shift();
      if (retry === undefined && draining) return;
      const id = retry ?? `evt_soak_${run}_${(next++).toString(36)}`;
      if (retry !== undefined) redelivered += 1;
      if (!(await send(id))) redeliver.push(id);
    }
  }

  const collect = (s: RunningServer) => () => {
    stdout.push(...s.stdout);
    stderr.push(...s.stderr);
  };
  closeGate();
  const senders = Array.from({ length: options.senders }, () => sender());

  for (let cycle = 0; cycle < options.cycles; cycle++) {
    server = await startServer({ config: config(options.store), dir, env, command: options.command });
    url = server.url;
    cycleAcks = 0;
    killAt = randomIn(options.killAfter);
    const killPoint = new Promise<void>((resolve) => {
      onKillPoint = resolve;
    });
    open();
    await killPoint;
    closeGate();
    await server.kill();
    collect(server)();
    await options.store?.settled?.();
    // Deliveries claimed but not finished at the kill: the only ones allowed to run twice.
    for (const row of await query<{ key: string }>(
      dir,
      "SELECT event_id || ':' || action AS key FROM deliveries WHERE status = 'running'",
    )) {
      inFlightAtKills.add(row.key);
    }
  }

  // The drain: a clean server gets every id still unacknowledged, then finishes every delivery.
  server = await startServer({ config: config(options.store), dir, env, command: options.command });
  url = server.url;
  killAt = Number.POSITIVE_INFINITY;
  draining = true;
  open();
  await Promise.all(senders);
  await waitUntil(
    async () =>
      Number((await query<{ n: number }>(dir, "SELECT COUNT(*) AS n FROM deliveries WHERE status <> 'done'"))[0]?.n) ===
      0,
    options.drainMs ?? 60_000,
    "every delivery done after the drain",
  );
  await server.stop();
  collect(server)();

  const stored = new Set((await query<{ id: string }>(dir, "SELECT id FROM events")).map((r) => r.id));
  const lost = [...acked].filter((id) => !stored.has(id));
  const duplicateRows = Number(
    (
      await query<{ n: number }>(
        dir,
        "SELECT COUNT(*) AS n FROM (SELECT id FROM events GROUP BY id HAVING COUNT(*) > 1) AS duplicates",
      )
    )[0]?.n ?? 0,
  );
  const deliveries = await query<{ key: string; status: string; attempts: number }>(
    dir,
    "SELECT event_id || ':' || action AS key, status, attempts FROM deliveries",
  );
  const expected = new Set([...stored].flatMap((id) => SOAK_ACTIONS.map((a) => `${id}:${a}`)));
  const present = new Set(deliveries.map((d) => d.key));
  const missingDeliveries =
    [...expected].filter((k) => !present.has(k)).length + deliveries.filter((d) => !expected.has(d.key)).length;

  // A repeat shows as a second "ran" line or as more than one attempt on the delivery.
  const repeated = new Map<string, number>();
  const runs = new Map<string, number>();
  for (const line of stdout) {
    const match = /^ran (\S+)$/.exec(line);
    if (match?.[1]) runs.set(match[1], (runs.get(match[1]) ?? 0) + 1);
  }
  for (const [key, count] of runs) if (count > 1) repeated.set(key, count);
  for (const d of deliveries) if (d.attempts > 1) repeated.set(d.key, Math.max(repeated.get(d.key) ?? 0, d.attempts));

  return {
    cycles: options.cycles,
    senders: options.senders,
    acked: acked.size,
    requests,
    redelivered,
    duplicateAcks,
    lost,
    duplicateRows,
    deliveries: deliveries.length,
    notDone: deliveries.filter((d) => d.status !== "done").length,
    missingDeliveries,
    inFlightAtKills,
    repeated,
    repeatedNotInFlight: [...repeated.keys()].filter((k) => !inFlightAtKills.has(k)),
    unexpectedStatuses,
    dir,
    stdout,
    stderr,
  };
}

/** One line for the test log and docs/guarantees.md#measured. */
export function summary(report: SoakReport): string {
  return `${report.cycles} kill -9 cycles, ${report.senders} senders: ${report.acked} acked, ${report.lost.length} lost, ${report.requests} requests, ${report.redelivered} redeliveries, ${report.duplicateAcks} duplicate acks, ${report.deliveries} deliveries (${report.notDone} not done), ${report.inFlightAtKills.size} in flight at kills, ${report.repeated.size} repeated`;
}
