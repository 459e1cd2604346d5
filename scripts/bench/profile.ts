/**
 * @module Where a request's time goes: `bun scripts/bench/profile.ts [seconds]` starts payhook pinned to CPU 0
 * with the quick-start config (PROFILE_HANDLERS replaces its handlers), loads it with wrk from CPU 1 as the
 * throughput bench does, and prints per request: CPU time, bytes written and write calls (/proc/<pid>/io). With
 * PROFILE_PERF=1 it also records the run with `perf record -g` (per thread: `perf report --sort comm,dso`).
 * The CPU is also split by thread (the serving thread, the store's writer, the runtime's own). PROFILE_BINARY
 * runs another build (or a script that execs one with settings), for A/B runs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { generateEvents, writeEventsFile } from "./events.ts";
import { benchDir, LOG_HANDLER, PATH, removeBenchDirs, SECRET, startPayhook, writeConfig } from "./payhook.ts";
import { cpuMicros, threadCpuMicros } from "./proc.ts";
import { runWrk } from "./wrk.ts";

const seconds = Number(process.argv[2] ?? 10);
const binary = process.env.PROFILE_BINARY ?? join(import.meta.dir, "../../dist/payhook");
const dir = benchDir();
const events = generateEvents(5_000 * seconds, SECRET);
const eventsFile = join(dir, "events.txt");
writeEventsFile(eventsFile, events);
writeConfig(dir, process.env.PROFILE_HANDLERS ?? LOG_HANDLER);
// PROFILE_FSYNC_MS=20: the bench's slow disk (every fsync that much longer), with strace counting the calls.
const fsyncMs = Number(process.env.PROFILE_FSYNC_MS ?? 0);
const straceSummary = join(dir, "strace.txt");
const wrap = fsyncMs
  ? ["strace", "-f", "-qq", "--seccomp-bpf", "-c", "-o", straceSummary, "-e", "trace=fsync,fdatasync"]
  : undefined;
if (wrap) wrap.push("-e", `inject=fsync,fdatasync:delay_exit=${fsyncMs * 1000}`);
const proc = await startPayhook({ binary, dir, cpu: "0", wrap });

/** The process's I/O counters: wchar (bytes passed to write calls), syscw (write calls), write_bytes (to disk). */
const io = (): Record<string, number> =>
  Object.fromEntries(
    readFileSync(`/proc/${proc.pid}/io`, "utf8")
      .trim()
      .split("\n")
      .map((line) => {
        const [key, value] = line.split(": ");
        return [key, Number(value)];
      }),
  );

const perfData = join(dir, "perf.data");
const perf = process.env.PROFILE_PERF
  ? Bun.spawn(["perf", "record", "-F", "2000", "-g", "-p", String(proc.pid), "-o", perfData], { stderr: "ignore" })
  : undefined;
const cpuBefore = cpuMicros(proc.pid);
const threadsBefore = threadCpuMicros(proc.pid);
const ioBefore = io();
const wrk = await runWrk({
  seconds,
  cpu: "1",
  url: `http://127.0.0.1:${proc.port}${PATH}`,
  eventsFile,
  connections: 32,
});
const cpu = cpuMicros(proc.pid) - cpuBefore;
const threads = threadCpuMicros(proc.pid);
const ioAfter = io();
perf?.kill("SIGINT");
await perf?.exited;
await proc.stop();
const per = (key: string) => ((ioAfter[key] ?? 0) - (ioBefore[key] ?? 0)) / wrk.requests;
console.log(
  `${Math.round(wrk.requests / seconds)} req/s; per request: ${(cpu / wrk.requests).toFixed(1)} µs CPU, ` +
    `${per("wchar").toFixed(0)} B written in ${per("syscw").toFixed(1)} write calls, ${per("write_bytes").toFixed(0)} B to disk`,
);
// The serving thread is named after the executable; the store's writer is a "Worker"; the rest is the runtime's.
const split = [...threads]
  .map(([name, us]) => [name, (us - (threadsBefore.get(name) ?? 0)) / wrk.requests] as const)
  .filter(([, us]) => us >= 0.5)
  .sort((a, b) => b[1] - a[1]);
console.log(`CPU µs per request by thread: ${split.map(([name, us]) => `${name} ${us.toFixed(1)}`).join(", ")}`);
if (wrap) console.log(readFileSync(straceSummary, "utf8"));
// The run's folder holds hundreds of MB of events; it stays only for perf's data.
if (perf) console.log(`perf report -i ${perfData} --sort comm,dso`);
else removeBenchDirs();
