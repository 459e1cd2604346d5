/**
 * @module How much of payhook's cost per event the accept path's required steps take on their own: the ceiling,
 * then verification, then a durable commit on the serving thread, then on a worker thread (floor-server.ts),
 * then payhook itself with no action and with the quick-start config, in rounds, each with fresh events, the
 * server pinned to one CPU and wrk to the other, as the throughput bench runs them.
 * `bun scripts/bench/floor.ts [BINARY…]` (default dist/payhook; several builds are measured in the same rounds, in
 * turn, for an A/B against the same floor); FLOOR_ROUNDS (2), FLOOR_SECONDS (10). docs/performance.md.
 */
import { join, resolve } from "node:path";
import { generateEvents, writeEventsFile } from "./events.ts";
import { benchDir, LOG_HANDLER, PATH, removeBenchDirs, SECRET } from "./payhook.ts";
import { cpuMicros, plainListening, startPinned } from "./proc.ts";
import { int, median, ms, pct, table } from "./report.ts";
import { measure, type Setup } from "./throughput.ts";
import { failures, runWrk } from "./wrk.ts";

const STAGES = ["verify", "commit", "thread"] as const;
const NAMES: Record<(typeof STAGES)[number], string> = {
  verify: "+ verify (stripe, WebCrypto)",
  commit: "+ commit id and body (fsync), same thread",
  thread: "+ commit on a worker thread",
};
/** payhook with no action (each event stored, nothing to deliver), then with the quick-start config. */
const PAYHOOK: [name: string, handlers: string][] = [
  ["payhook, no action", "handlers: {}\n"],
  ["payhook, quick-start config (a `log` action)", LOG_HANDLER],
];
const setup: Setup = {
  binary: "",
  serverCpu: "0",
  clientCpu: "1",
  events: 60_000,
  connections: 32,
  seconds: Number(process.env.FLOOR_SECONDS ?? 10),
};
const rounds = Number(process.env.FLOOR_ROUNDS ?? 2);
const binaries = (process.argv.length > 2 ? process.argv.slice(2) : ["dist/payhook"]).map((b) => resolve(b));

type Row = { name: string; rate: number; cpuUs: number; p99Us: number };
const rows: Row[][] = [];
for (let round = 0; round < rounds; round++) {
  const row: Row[] = [];
  const ceiling = await measure("ceiling", setup);
  row.push({ name: "ceiling (bare Bun.serve)", ...figures(ceiling.wrk, ceiling.cpuUsPerRequest) });
  for (const stage of STAGES) row.push(await floorStage(stage));
  for (const [name, handlers] of PAYHOOK) {
    for (const binary of binaries) {
      const payhook = await measure("payhook", { ...setup, binary }, { handlers });
      if (!payhook.store?.ok) throw new Error("payhook lost or changed an acknowledged event");
      const label = binaries.length > 1 ? `${name} [${binary}]` : name;
      row.push({ name: label, ...figures(payhook.wrk, payhook.cpuUsPerRequest) });
    }
  }
  rows.push(row);
}
removeBenchDirs();

console.log(`the accept path's steps alone, -c${setup.connections}, ${rounds} rounds (median):`);
const ceilingRate = median(rows.map((r) => (r[0] as Row).rate));
// The floor: a durable commit of id and body on the serving thread (the row after verify), in the same round.
const FLOOR = 2;
const floorOf = (index: number, pick: (r: Row) => number) =>
  median(rows.map((r) => pick(r[index] as Row) / pick(r[FLOOR] as Row)));
const lines = (rows[0] ?? []).map((first, index) => {
  const of = rows.map((r) => r[index] as Row);
  const rate = median(of.map((r) => r.rate));
  return [
    first.name,
    int(rate),
    pct(rate / ceilingRate),
    index > FLOOR ? pct(floorOf(index, (r) => r.rate)) : "",
    median(of.map((r) => r.cpuUs)).toFixed(1),
    ms(median(of.map((r) => r.p99Us))),
    index > FLOOR ? `${floorOf(index, (r) => r.p99Us).toFixed(2)}×` : "",
  ];
});
console.log(
  table([["server", "req/s", "of the ceiling", "of the floor", "CPU µs/req", "p99", "p99 / floor's"], ...lines]),
);

async function floorStage(stage: (typeof STAGES)[number]): Promise<Row> {
  const dir = benchDir();
  const eventsFile = join(dir, "events.txt");
  writeEventsFile(eventsFile, generateEvents(setup.events, SECRET));
  const server = await startPinned({
    cpu: setup.serverCpu,
    argv: [process.execPath, join(import.meta.dir, "floor-server.ts")],
    env: { FLOOR_STAGE: stage, FLOOR_DB: join(dir, "floor.db") },
    listening: plainListening,
  });
  try {
    const before = cpuMicros(server.pid);
    const wrk = await runWrk({
      url: `http://127.0.0.1:${server.port}${PATH}`,
      eventsFile,
      connections: setup.connections,
      seconds: setup.seconds,
      cpu: setup.clientCpu,
    });
    const cpu = cpuMicros(server.pid) - before;
    if (failures(wrk) > 0) throw new Error(`floor stage ${stage}: ${failures(wrk)} failed requests`);
    return { name: NAMES[stage], ...figures(wrk, cpu / Math.max(wrk.requests, 1)) };
  } finally {
    await server.kill();
  }
}

function figures(wrk: { requestsPerSecond: number; latencyUs: { p99: number } }, cpuUs: number) {
  return { rate: wrk.requestsPerSecond, cpuUs, p99Us: wrk.latencyUs.p99 };
}
