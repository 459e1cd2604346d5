/**
 * @module Processes under measurement: start one pinned to a CPU, wait until it listens, and read what Linux
 * knows about it (/proc/<pid>/stat CPU time, /proc/<pid>/status memory).
 */
import { readdirSync, readFileSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux

export interface Pinned {
  pid: number;
  port: number;
  /** Every stdout line so far, kept only when `keepStdout` was set. */
  stdout: string[];
  stop(): Promise<number>;
  kill(): Promise<void>;
}

export interface StartOptions {
  /** CPU list for taskset, e.g. "0". */
  cpu: string;
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Finds the listening port in a line of stdout or stderr; undefined until that line arrives. */
  listening(line: string): number | undefined;
  keepStdout?: boolean;
  timeoutMs?: number;
  /** argv starts with a tracer (strace) that runs the measured process as its child: pid and signals go to it. */
  traced?: boolean;
}

/** Starts `argv` under `taskset` (which execs, so the pid is the measured process itself). */
export async function startPinned(options: StartOptions): Promise<Pinned> {
  const child = Bun.spawn(["taskset", "-c", options.cpu, ...options.argv], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...options.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stdout: string[] = [];
  const tail: string[] = [];
  let found: (port: number) => void = () => {};
  const port = new Promise<number>((resolve) => {
    found = resolve;
  });
  const consume = async (stream: ReadableStream<Uint8Array>, keep: boolean) => {
    const decoder = new TextDecoder();
    let pending = "";
    let searching = true;
    // Always read to the end: a full pipe would block (or buffer without bound in) the measured process.
    for await (const chunk of stream) {
      if (!searching && !keep) continue;
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (keep) stdout.push(line);
        if (!searching) continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        const p = options.listening(line);
        if (p !== undefined) {
          searching = false;
          found(p);
        }
      }
      if (!searching && !keep) pending = "";
    }
  };
  void consume(child.stdout, options.keepStdout ?? false);
  void consume(child.stderr, false);
  const timeoutMs = options.timeoutMs ?? 15_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    port,
    child.exited.then(
      (code) => new Error(`${options.argv[0]} exited with ${code} before listening:\n${tail.join("\n")}`),
    ),
    new Promise<Error>((resolve) => {
      timer = setTimeout(
        () => resolve(new Error(`${options.argv[0]} did not listen within ${timeoutMs} ms`)),
        timeoutMs,
      );
    }),
  ]);
  clearTimeout(timer);
  if (result instanceof Error) {
    child.kill("SIGKILL");
    throw result;
  }
  // strace would answer SIGTERM by killing its tracee at once; the measured process gets it instead, and strace
  // ends when it ends.
  const pid = options.traced ? childOf(child.pid) : child.pid;
  return {
    pid,
    port: result,
    stdout,
    stop: async () => {
      process.kill(pid, "SIGTERM");
      return child.exited;
    },
    kill: async () => {
      child.kill("SIGKILL");
      await child.exited;
    },
  };
}

/** The one child of `parent` (Linux lists them in /proc/<pid>/task/<pid>/children). */
function childOf(parent: number): number {
  const children = readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim().split(/\s+/);
  if (children.length !== 1 || !children[0]) throw new Error(`expected one child of ${parent}, found ${children}`);
  return Number(children[0]);
}

/** payhook's `listening` log line carries its URL. */
export function payhookListening(line: string): number | undefined {
  if (!line.includes('"msg":"listening"')) return undefined;
  return Number(new URL((JSON.parse(line) as { url: string }).url).port);
}

/** The bench servers print `listening <port>`. */
export function plainListening(line: string): number | undefined {
  const match = /^listening (\d+)$/.exec(line);
  return match ? Number(match[1]) : undefined;
}

/** User + system CPU time the process has used so far, in microseconds. */
export function cpuMicros(pid: number): number {
  return statCpuMicros(readFileSync(`/proc/${pid}/stat`, "utf8"));
}

function statCpuMicros(stat: string): number {
  // The command name (field 2) may contain spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

/** CPU time (µs) of each of the process's threads by name (the same name's threads added up): /proc/<pid>/task. */
export function threadCpuMicros(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let name: string;
    let stat: string;
    try {
      name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended
    }
    byName.set(name, (byName.get(name) ?? 0) + statCpuMicros(stat));
  }
  return byName;
}

/** A `Vm…` line of /proc/<pid>/status in bytes: VmHWM is the peak resident set, VmRSS the current one. */
export function memoryBytes(pid: number, field: "VmHWM" | "VmRSS" | "RssAnon" | "RssFile"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}
