/** @module Runs wrk, pinned to the client CPU, with rotate.lua, and returns what its done() hook reports. */
import { join } from "node:path";

export interface WrkResult {
  requests: number;
  sent: number;
  durationUs: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: { p50: number; p90: number; p99: number; max: number; mean: number };
  requestsPerSecond: number;
  /** wrk's own CPU use as a share of the run: near 1 means the client, not the server, was the limit. */
  clientBusy: number;
}

export interface WrkOptions {
  url: string;
  /** Pre-signed events to POST in rotation; without it, plain GETs (the /healthz probe). */
  eventsFile?: string;
  connections: number;
  seconds: number;
  cpu: string;
}

const ROTATE = join(import.meta.dir, "rotate.lua");
const PROBE = join(import.meta.dir, "probe.lua");

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const argv = [
    "taskset",
    "-c",
    options.cpu,
    "wrk",
    "-t1",
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    // A request that takes this long is reported as an error rather than hidden in the percentiles.
    "--timeout",
    "5s",
    "-s",
    options.eventsFile ? ROTATE : PROBE,
    options.url,
    ...(options.eventsFile ? ["--", options.eventsFile] : []),
  ];
  const child = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH_JSON "));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${stdout}\n${stderr}`);
  const raw = JSON.parse(line.slice("BENCH_JSON ".length)) as {
    requests: number;
    sent: number;
    duration_us: number;
    errors: WrkResult["errors"];
    latency_us: WrkResult["latencyUs"];
  };
  const usage = child.resourceUsage();
  const clientCpuUs = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) : 0;
  return {
    requests: raw.requests,
    sent: raw.sent,
    durationUs: raw.duration_us,
    errors: raw.errors,
    latencyUs: raw.latency_us,
    requestsPerSecond: raw.requests / (raw.duration_us / 1_000_000),
    clientBusy: clientCpuUs / raw.duration_us,
  };
}

/** Everything wrk counts as a failure: socket errors, timeouts and responses with status ≥ 400. */
export function failures(result: WrkResult): number {
  const e = result.errors;
  return e.connect + e.read + e.write + e.status + e.timeout;
}
