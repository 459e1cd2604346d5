/**
 * @module Start-up and footprint: time from exec to the first 200 for a signed event (a fresh store each time,
 * so it includes creating the database), resident memory once idle, and the executable's size.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { generateEvents } from "./events.ts";
import { benchDir, LOG_HANDLER, PATH, SECRET, startPayhook, writeConfig } from "./payhook.ts";
import { memoryBytes } from "./proc.ts";

/** Milliseconds from spawning `binary` to its first 200, once per run. */
export async function coldStarts(binary: string, cpu: string, runs: number): Promise<number[]> {
  // The stores of earlier runs are written back first: their write-back would make these fsyncs wait.
  Bun.spawnSync(["sync"]);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await coldStart(binary, cpu));
  return times;
}

async function coldStart(binary: string, cpu: string): Promise<number> {
  const dir = benchDir();
  const port = await freePort();
  writeConfig(dir, LOG_HANDLER, port);
  const [event] = generateEvents(1, SECRET);
  if (!event) throw new Error("no event generated");
  const url = `http://127.0.0.1:${port}${PATH}`;
  const init = {
    method: "POST",
    body: event.body,
    headers: { "content-type": "application/json; charset=utf-8", "stripe-signature": event.header },
  };
  const started = performance.now();
  const child = Bun.spawn(
    ["taskset", "-c", cpu, binary, "serve", "--config", join(dir, "payhook.yaml"), "--log-format", "json"],
    {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", STRIPE_WEBHOOK_SECRET: SECRET },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
    },
  );
  try {
    const deadline = started + 10_000;
    while (performance.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${binary} exited with ${child.exitCode} during start-up`);
      try {
        const response = await fetch(url, init);
        if (response.status === 200) return performance.now() - started;
        throw new Error(`${binary} answered ${response.status} to a correctly signed event: ${await response.text()}`);
      } catch (error) {
        if (!isRefused(error)) throw error;
      }
      await Bun.sleep(1);
    }
    throw new Error(`${binary} did not answer within 10 s`);
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
}

/**
 * Resident memory after start-up and one event, once the process has been idle for a second: the whole, and its
 * anonymous part (heap, JIT code, stacks: the process's own) apart from the pages of files it maps (mostly the
 * executable's: clean, shared with every other process running it, and dropped by the kernel under pressure).
 */
export async function idleRss(binary: string, cpu: string): Promise<{ rss: number; anon: number; file: number }> {
  const dir = benchDir();
  writeConfig(dir, LOG_HANDLER);
  const server = await startPayhook({ binary, dir, cpu });
  try {
    const [event] = generateEvents(1, SECRET);
    if (!event) throw new Error("no event generated");
    const response = await fetch(`http://127.0.0.1:${server.port}${PATH}`, {
      method: "POST",
      body: event.body,
      headers: { "content-type": "application/json; charset=utf-8", "stripe-signature": event.header },
    });
    if (response.status !== 200) throw new Error(`idle RSS: payhook answered ${response.status}`);
    await Bun.sleep(1_000);
    return {
      rss: memoryBytes(server.pid, "VmRSS"),
      anon: memoryBytes(server.pid, "RssAnon"),
      file: memoryBytes(server.pid, "RssFile"),
    };
  } finally {
    await server.kill();
  }
}

export function binarySize(binary: string): number {
  return statSync(binary).size;
}

async function freePort(): Promise<number> {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port as number;
  await server.stop(true);
  return port;
}

function isRefused(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === "ConnectionRefused" || code === "ECONNREFUSED" || code === "ECONNRESET";
}
