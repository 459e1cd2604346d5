/**
 * @module `make bench`: payhook's accept path against a bare Bun.serve ceiling on this machine, plus latency at
 * one connection, cold start, idle memory, size and the worker's drain rate, each printed against its target.
 * Settings come from the environment (see README "Performance"); the exit code is 1 only when a run broke a
 * guarantee (a non-2xx answer, an acknowledged event missing from the store), never for a missed target.
 */
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg, release } from "node:os";
import { join, resolve } from "node:path";
import { type Drain, measureDrain, ORDER_CUSTOMERS } from "./drain.ts";
import { benchDir, forwardHandler, orderedLogHandler, removeBenchDirs, writeConfig } from "./payhook.ts";
import { measurePostgres } from "./postgres.ts";
import { int, mb, median, ms, pct, runTable, type Target, table, targetLine } from "./report.ts";
import { binarySize, coldStarts, idleRss } from "./startup.ts";
import { measureTabs } from "./tabs.ts";
import { measure, type Run, type Setup } from "./throughput.ts";
import { failures } from "./wrk.ts";

const ROOT = resolve(import.meta.dir, "../..");
const env = process.env;
const number = (name: string, fallback: number): number => (env[name] ? Number(env[name]) : fallback);

const binary = resolve(env.BENCH_BINARY ?? join(ROOT, "dist/payhook"));
const holdBinary = resolve(env.BENCH_TEST_BINARY ?? join(ROOT, "dist/payhook-test"));
const rounds = number("BENCH_ROUNDS", 3);
const only = new Set((env.BENCH_ONLY ?? "throughput,latency,slowdisk,tabs,startup,drain,postgres").split(","));
/** How much longer every fsync takes on the simulated slow disk, in ms (BENCH_FSYNC_DELAY_MS). */
const fsyncDelayMs = number("BENCH_FSYNC_DELAY_MS", 20);
/** The slow disk without root: strace adds the delay to every fsync and fdatasync of every thread. */
const SLOW_DISK = [
  "strace",
  "-f",
  "-qq",
  "--seccomp-bpf",
  "-o",
  "/dev/null",
  "-e",
  "trace=fsync,fdatasync",
  "-e",
  `inject=fsync,fdatasync:delay_exit=${fsyncDelayMs * 1000}`,
];
const cpus = availableParallelism();
const setup: Setup = {
  binary,
  serverCpu: "0",
  clientCpu: cpus > 1 ? "1" : "0",
  events: number("BENCH_EVENTS", 10_000),
  connections: number("BENCH_CONNECTIONS", 32),
  seconds: number("BENCH_SECONDS", 10),
};

let broken = false;
const targets: Target[] = [];
/** The median SQLite payhook rate of this run's throughput rounds, which the PostgreSQL row is compared with. */
let sqliteRate: number | undefined;

header();
if (only.has("throughput")) await throughput();
if (only.has("latency")) await latency();
if (only.has("slowdisk")) await slowDisk();
if (only.has("tabs")) await overviewTabs();
if (only.has("startup")) await startup();
if (only.has("drain")) await drain();
if (only.has("postgres")) await postgresRows();
footer();
if (!broken) removeBenchDirs();
process.exit(broken ? 1 : 0);

function header(): void {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown CPU";
  console.log(`payhook bench: ${binary}`);
  console.log(`machine: ${cpus} CPUs (${model}), Linux ${release()}, Bun ${Bun.version}`);
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  if (cpus < 2) console.log("WARNING: one CPU only, so server and wrk share it; the figures mean little.");
  console.log(
    `server on CPU ${setup.serverCpu}, wrk on CPU ${setup.clientCpu}: wrk -t1 -c${setup.connections} -d${setup.seconds}s, ${rounds} rounds, ceiling and payhook interleaved`,
  );
  console.log("");
}

async function throughput(): Promise<void> {
  // Each payhook request should carry an event it has not stored yet (Stripe's traffic is almost all new events),
  // so its runs get as many freshly signed events as the last runs suggest it can take; a short calibration run
  // gives the first estimate. The ceiling does not care and rotates through BENCH_EVENTS.
  const calibration = await measure("payhook", { ...setup, seconds: 2 });
  let estimate = calibration.wrk.requestsPerSecond;
  console.log(
    `calibration: payhook ~${int(estimate)} req/s, so each payhook run gets enough events to never repeat one`,
  );
  const rows: { round: string; run: Run; ratio?: number }[] = [];
  const ratios: number[] = [];
  const ceilings: Run[] = [];
  const payhooks: Run[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Alternate which goes first, so neither always runs on a machine the other just warmed (or heated).
    const order = round % 2 === 1 ? (["ceiling", "payhook"] as const) : (["payhook", "ceiling"] as const);
    const runs: Partial<Record<"ceiling" | "payhook", Run>> = {};
    for (const server of order) {
      const events = server === "payhook" ? eventsFor(estimate) : setup.events;
      const run = await measure(server, { ...setup, events });
      runs[server] = run;
      if (server === "payhook") estimate = Math.max(estimate, run.wrk.requestsPerSecond);
      check(run, `round ${round} ${server}`);
    }
    const ceiling = runs.ceiling as Run;
    const payhook = runs.payhook as Run;
    const ratio = payhook.wrk.requestsPerSecond / ceiling.wrk.requestsPerSecond;
    ratios.push(ratio);
    ceilings.push(ceiling);
    payhooks.push(payhook);
    rows.push({ round: String(round), run: ceiling }, { round: String(round), run: payhook, ratio });
    console.log(
      runTable(rows.slice(-2))
        .split("\n")
        .slice(round === 1 ? 0 : 1)
        .join("\n"),
    );
  }
  console.log("");
  console.log("medians");
  console.log(
    table([
      ["server", "req/s", "ratio", "p50", "p99", "CPU µs/req", "peak RSS"],
      medianRow("ceiling", ceilings),
      medianRow("payhook", payhooks, median(ratios)),
    ]),
  );
  const busiest = Math.max(...ceilings.map((r) => r.wrk.clientBusy));
  if (busiest > 0.9) {
    console.log(
      `NOTE: wrk used ${pct(busiest)} of its CPU during a ceiling run, so the ceiling may be limited by the client and the ratio overstated.`,
    );
  }
  console.log("");
  sqliteRate = median(payhooks.map((r) => r.wrk.requestsPerSecond));
  targets.push({
    name: "throughput, payhook / ceiling (median of rounds)",
    value: median(ratios),
    limit: 0.2,
    kind: "min",
    show: pct,
    showGap: (gap) => `${(gap * 100).toFixed(1)} percentage points`,
  });
  targets.push({
    name: `p99 at ${setup.connections} connections (median of rounds)`,
    value: median(payhooks.map((r) => r.wrk.latencyUs.p99)) / 1000,
    limit: 20,
    kind: "max",
    show: (v) => `${v.toFixed(1)} ms`,
  });
}

/** Enough events for a payhook run at up to 1.3 × the best rate seen so far. */
function eventsFor(rate: number): number {
  return Math.max(setup.events, Math.ceil(rate * setup.seconds * 1.3));
}

function medianRow(server: string, runs: Run[], ratio?: number): string[] {
  const m = (f: (r: Run) => number) => median(runs.map(f));
  return [
    server,
    int(m((r) => r.wrk.requestsPerSecond)),
    ratio === undefined ? "" : pct(ratio),
    ms(m((r) => r.wrk.latencyUs.p50)),
    ms(m((r) => r.wrk.latencyUs.p99)),
    m((r) => r.cpuUsPerRequest).toFixed(1),
    mb(m((r) => r.peakRssBytes)),
  ];
}

async function latency(): Promise<void> {
  const ceiling = await measure("ceiling", { ...setup, connections: 1 });
  const payhook = await measure("payhook", { ...setup, connections: 1 });
  check(ceiling, "one connection, ceiling");
  check(payhook, "one connection, payhook");
  console.log("latency at one connection (each request waits for its own commit)");
  console.log(
    table([
      ["server", "req/s", "p50", "p99"],
      ["ceiling", int(ceiling.wrk.requestsPerSecond), ms(ceiling.wrk.latencyUs.p50), ms(ceiling.wrk.latencyUs.p99)],
      ["payhook", int(payhook.wrk.requestsPerSecond), ms(payhook.wrk.latencyUs.p50), ms(payhook.wrk.latencyUs.p99)],
    ]),
  );
  console.log("");
}

/**
 * A disk whose every fsync takes BENCH_FSYNC_DELAY_MS more: the events/s group commit still reaches at 32
 * connections, and how fast /healthz answers (one more connection) while 8 connections send webhooks.
 */
async function slowDisk(): Promise<void> {
  const load = await measure("payhook", setup, { wrap: SLOW_DISK });
  const probed = await measure("payhook", { ...setup, connections: 8 }, { wrap: SLOW_DISK, probe: true });
  const normal = await measure("payhook", { ...setup, connections: 8 }, { probe: true });
  check(load, "slow disk, 32 connections");
  check(probed, "slow disk, 8 connections and /healthz");
  check(normal, "8 connections and /healthz");
  const probe = (r: Run) => r.probe as Run["wrk"];
  for (const r of [probed, normal]) {
    if (failures(probe(r)) > 0) {
      broken = true;
      console.log(`FAILED: /healthz answered non-2xx or not at all: ${JSON.stringify(probe(r).errors)}`);
    }
  }
  console.log(`slow disk: every fsync takes ${fsyncDelayMs} ms more (strace fault injection)`);
  console.log(
    table([
      ["disk", "webhook connections", "events/s", "p50", "p99", "/healthz p50", "/healthz p99", "/healthz max"],
      [
        "slow",
        String(setup.connections),
        int(load.wrk.requestsPerSecond),
        ms(load.wrk.latencyUs.p50),
        ms(load.wrk.latencyUs.p99),
        "",
        "",
        "",
      ],
      ...[
        ["slow", probed],
        ["normal", normal],
      ].map(([disk, r]) => {
        const run = r as Run;
        return [
          disk as string,
          "8",
          int(run.wrk.requestsPerSecond),
          ms(run.wrk.latencyUs.p50),
          ms(run.wrk.latencyUs.p99),
          ms(probe(run).latencyUs.p50),
          ms(probe(run).latencyUs.p99),
          ms(probe(run).latencyUs.max),
        ];
      }),
    ]),
  );
  console.log("");
  targets.push(
    {
      name: `/healthz p99 under 8 webhook connections, slow disk`,
      value: probe(probed).latencyUs.p99 / 1000,
      limit: 5,
      kind: "max",
      show: (v) => `${v.toFixed(2)} ms`,
    },
    {
      name: `events/s at ${setup.connections} connections, slow disk`,
      value: load.wrk.requestsPerSecond,
      limit: 1_000,
      kind: "min",
      show: int,
    },
  );
}

/** Webhook latency with no operator page open, then with 8 Overview tabs refreshing on every change. */
async function overviewTabs(): Promise<void> {
  const runs = [await measureTabs(setup, 0), await measureTabs(setup, 8)];
  for (const run of runs) {
    if (failures(run.wrk) > 0) {
      broken = true;
      console.log(
        `FAILED: with ${run.tabs} tabs, webhooks answered non-2xx or not at all: ${JSON.stringify(run.wrk.errors)}`,
      );
    }
  }
  console.log("Overview tabs open: 8 webhook connections; each tab fetches /overview again after every live change");
  console.log(
    table([
      ["tabs", "events/s", "p50", "p99", "max", "/overview pages"],
      ...runs.map((r) => [
        String(r.tabs),
        int(r.wrk.requestsPerSecond),
        ms(r.wrk.latencyUs.p50),
        ms(r.wrk.latencyUs.p99),
        ms(r.wrk.latencyUs.max),
        int(r.overviews),
      ]),
    ]),
  );
  console.log("");
  targets.push({
    name: "webhook p99 with 8 Overview tabs open, 8 connections",
    value: (runs[1] as { wrk: { latencyUs: { p99: number } } }).wrk.latencyUs.p99 / 1000,
    limit: 20,
    kind: "max",
    show: (v) => `${v.toFixed(1)} ms`,
  });
}

async function startup(): Promise<void> {
  const times = await coldStarts(binary, setup.serverCpu, number("BENCH_COLD_STARTS", 10));
  const coldMs = median(times);
  const { rss, anon, file } = await idleRss(binary, setup.serverCpu);
  const size = binarySize(binary);
  console.log(
    `cold start to the first 200 (fresh store, median of ${times.length}): ${coldMs.toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)})`,
  );
  console.log(
    `idle RSS (after one event, 1 s idle): ${mb(rss)}: ${mb(anon)} anonymous, ${mb(file)} pages of files (the executable's)`,
  );
  console.log(`binary size: ${mb(size)}`);
  console.log("");
  targets.push(
    { name: "cold start", value: coldMs, limit: 60, kind: "max", show: (v) => `${v.toFixed(1)} ms` },
    { name: "idle RSS", value: rss, limit: 45 * 1024 * 1024, kind: "max", show: mb },
  );
}

async function drain(): Promise<void> {
  const drainSetup = {
    binary,
    holdBinary,
    serverCpu: setup.serverCpu,
    clientCpu: setup.clientCpu,
    count: number("BENCH_DRAIN_EVENTS", 20_000),
  };
  const results: Drain[] = [await measureDrain("log", drainSetup)];
  // order: against none, same run: every key distinct (the claim's rule alone), then keys shared by customer.
  const ordered = await orderSupport();
  if (ordered === true) {
    results.push(await measureDrain("log-ordered", drainSetup), await measureDrain("log-by-customer", drainSetup));
  }
  const forward = await forwardSupport();
  if (forward === true) results.push(await measureDrain("forward", drainSetup));
  console.log("worker drain rate (a backlog stored with the worker held, then run by a fresh start)");
  const log = results.find((d) => d.kind === "log");
  const labels: Record<Drain["kind"], string> = {
    log: "log",
    "log-ordered": "log, order: by data.object.id (all keys distinct)",
    "log-by-customer": `log, order: by data.object.customer (${ORDER_CUSTOMERS} keys)`,
    forward: "forward",
  };
  for (const d of results) {
    const sink = d.received === undefined ? "" : `; the sink received ${int(d.received)}`;
    const ratio =
      d.kind.startsWith("log-") && log
        ? `; ${((100 * d.perSecond) / log.perSecond).toFixed(0)} % of log without order:`
        : "";
    console.log(
      `  ${labels[d.kind].padEnd(7)} ${int(d.perSecond)} deliveries/s (${int(d.deliveries)} in ${d.seconds.toFixed(2)} s${sink}${ratio})`,
    );
  }
  if (ordered !== true) console.log(`  order: not measured, ${ordered}`);
  if (forward !== true) console.log(`  forward: not measured, ${forward}`);
  console.log("");
  const rate = (kind: string) => results.find((d) => d.kind === kind)?.perSecond ?? Number.NaN;
  targets.push(
    { name: "drain, log", value: rate("log"), limit: 10_000, kind: "min", show: (v) => `${int(v)}/s` },
    {
      name: "drain, forward to a local sink",
      value: rate("forward"),
      limit: 8_000,
      kind: "min",
      show: (v) => `${int(v)}/s`,
    },
  );
}

async function postgresRows(): Promise<void> {
  const instances = 3;
  const result = await measurePostgres({
    binary,
    holdBinary,
    serverCpu: setup.serverCpu,
    clientCpu: setup.clientCpu,
    connections: setup.connections,
    seconds: setup.seconds,
    events: eventsFor(sqliteRate ?? 5_000),
    drainCount: number("BENCH_DRAIN_EVENTS", 20_000),
    instances,
  });
  const { wrk } = result.ingest;
  if (failures(wrk) > 0 || !result.ingest.storedOk) {
    broken = true;
    console.log(
      `FAILED (PostgreSQL ingest): ${failures(wrk)} non-2xx; store ${JSON.stringify({ ...result.ingest, wrk: undefined })}`,
    );
  }
  console.log("PostgreSQL store (a local cluster with fsync and synchronous_commit on, not pinned to a CPU)");
  console.log(
    table([
      ["run", "rate", "p50", "p99"],
      [
        `ingest, ${setup.connections} connections`,
        `${int(wrk.requestsPerSecond)} req/s`,
        ms(wrk.latencyUs.p50),
        ms(wrk.latencyUs.p99),
      ],
      [`drain, ${instances} instances, log`, `${int(result.drain.perSecond)} deliveries/s`, "", ""],
    ]),
  );
  console.log(
    `  (drain: ${int(result.drain.deliveries)} deliveries in ${result.drain.seconds.toFixed(2)} s; SQLite payhook in this run: ${sqliteRate === undefined ? "not measured" : `${int(sqliteRate)} req/s`})`,
  );
  console.log("  drain statements (pg_stat_statements): calls per delivery, rows per call, ms per call");
  for (const st of result.drain.statements) {
    console.log(
      `    ${st.callsPerDelivery.toFixed(3)}  ${st.rowsPerCall.toFixed(1)}  ${st.msPerCall.toFixed(2)}  ${st.statement}`,
    );
  }
  console.log("");
  targets.push(
    {
      name: "PostgreSQL ingest / SQLite ingest (same run)",
      value: sqliteRate === undefined ? Number.NaN : wrk.requestsPerSecond / sqliteRate,
      limit: 0.5,
      kind: "min",
      show: pct,
    },
    {
      name: "PostgreSQL drain, 3 instances",
      value: result.drain.perSecond,
      limit: 2_000,
      kind: "min",
      show: (v) => `${int(v)}/s`,
    },
  );
}

/** true when this binary accepts a `forward` action, else why not (the config check's first line). */
function forwardSupport(): Promise<true | string> {
  return accepts(forwardHandler(9), "a forward action");
}

/** true when this binary accepts `order:` on an action (a build before it is benched too), else why not. */
function orderSupport(): Promise<true | string> {
  return accepts(orderedLogHandler("data.object.id"), "order:");
}

async function accepts(handlers: string, what: string): Promise<true | string> {
  const dir = benchDir();
  writeConfig(dir, handlers);
  const child = Bun.spawn([binary, "check", "--config", join(dir, "payhook.yaml")], {
    env: { PATH: env.PATH ?? "/usr/bin:/bin", STRIPE_WEBHOOK_SECRET: "whsec_check" },
    stdout: "ignore",
    stderr: "pipe",
  });
  const [stderr, code] = await Promise.all([new Response(child.stderr).text(), child.exited]);
  return code === 0 ? true : `this build refuses ${what}: ${stderr.split("\n")[0]}`;
}

/** A run that answered anything but 2xx or lost an acknowledged event broke a guarantee, whatever its speed. */
function check(run: Run, what: string): void {
  const failed = failures(run.wrk);
  if (failed > 0) {
    broken = true;
    console.log(`FAILED (${what}): ${failed} requests were not answered 2xx: ${JSON.stringify(run.wrk.errors)}`);
  }
  if (run.store && !run.store.ok) {
    broken = true;
    console.log(`FAILED (${what}): acknowledged events missing from the store: ${JSON.stringify(run.store)}`);
  }
}

function footer(): void {
  console.log("targets");
  for (const t of targets) console.log(`  ${targetLine(t)}`);
  console.log("");
  console.log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(
    broken
      ? "FAILED: a guarantee was broken (see above)"
      : "guarantees held: every request answered 2xx, every acknowledged event in the store",
  );
}
