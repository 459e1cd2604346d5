/**
 * @module How soon an action starts after the acknowledgement: `bun scripts/bench/ack-to-action.ts [binary]
 * [--slow-disk]` sends 60 events one at a time to payhook (pinned to CPU 0, the quick-start `log` action) and
 * measures, for each, the time from its 200 to its line on stdout. With --slow-disk every fsync takes 20 ms more
 * (strace, as in the bench).
 */
import { join } from "node:path";
import { generateEvents } from "./events.ts";
import { benchDir, LOG_HANDLER, PATH, SECRET, writeConfig } from "./payhook.ts";

const binary = process.argv[2] ?? join(import.meta.dir, "../../dist/payhook");
const slowDisk = process.argv.includes("--slow-disk");
const dir = benchDir();
writeConfig(dir, LOG_HANDLER);
const strace = ["strace", "-f", "-qq", "--seccomp-bpf", "-o", "/dev/null", "-e", "trace=fsync,fdatasync"];
const child = Bun.spawn(
  [
    ...(slowDisk ? [...strace, "-e", "inject=fsync,fdatasync:delay_exit=20000"] : []),
    ...["taskset", "-c", "0", binary, "serve", "--config", join(dir, "payhook.yaml"), "--log-format", "json"],
  ],
  { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", STRIPE_WEBHOOK_SECRET: SECRET }, stderr: "pipe" },
);

/** Calls `onLine` with each line of `stream` as it arrives. */
async function lines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    const parts = (pending + decoder.decode(chunk, { stream: true })).split("\n");
    pending = parts.pop() ?? "";
    for (const line of parts) onLine(line);
  }
}

let listening: (server: { url: string; pid: number }) => void = () => {};
const server = new Promise<{ url: string; pid: number }>((resolve) => {
  listening = resolve;
});
void lines(child.stderr, (line) => {
  if (line.includes('"msg":"listening"')) listening(JSON.parse(line));
});
/** Called with the time a PaymentIntent's line arrived. */
const waiting = new Map<string, (at: number) => void>();
void lines(child.stdout, (line) => {
  const id = /PaymentIntent (\S+) was successful/.exec(line)?.[1];
  if (id) waiting.get(id)?.(performance.now());
});

const { url: base, pid } = await server;
const url = `${base}${PATH}`;
const delays: number[] = [];
for (const event of generateEvents(60, SECRET)) {
  const id = (JSON.parse(event.body) as { data: { object: { id: string } } }).data.object.id;
  const printed = new Promise<number>((resolve) => waiting.set(id, resolve));
  const response = await fetch(url, {
    method: "POST",
    body: event.body,
    headers: { "stripe-signature": event.header },
  });
  const acked = performance.now();
  if (response.status !== 200) throw new Error(`payhook answered ${response.status}`);
  await response.text();
  delays.push(Math.max(0, (await printed) - acked));
}
// payhook itself, not strace (which would kill it at once): it stops cleanly, and strace ends with it.
process.kill(pid, "SIGTERM");
await child.exited;
delays.sort((a, b) => a - b);
const at = (q: number) => (delays[Math.floor(q * (delays.length - 1))] ?? 0).toFixed(2);
console.log(
  `${slowDisk ? "slow" : "normal"} disk, from the 200 to the log line: p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms`,
);
