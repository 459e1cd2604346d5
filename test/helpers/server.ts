/**
 * @module Runs payhook as a separate process for end-to-end tests, on a free 127.0.0.1 port, and always
 * stops it. Which payhook runs is chosen in one place: PAYHOOK_CMD (a command line, e.g.
 * "bun src/main.ts" or "deno run -A src/main.deno.ts"), else PAYHOOK_BINARY, else dist/payhook.
 * Tests that set PAYHOOK_TEST_HOOK run PAYHOOK_TEST_BINARY (default dist/payhook-test) instead, since the
 * release build compiles the hooks away.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { trackChild, trackFolder } from "./cleanup.ts";

const ROOT = resolve(import.meta.dir, "../..");

/** The command that starts payhook, as argv. */
export function payhookCommand(env: Record<string, string> = {}): string[] {
  const cmd = process.env.PAYHOOK_CMD;
  if (cmd) return cmd.split(" ").filter(Boolean);
  if (env.PAYHOOK_TEST_HOOK) return [process.env.PAYHOOK_TEST_BINARY ?? join(ROOT, "dist/payhook-test")];
  return [process.env.PAYHOOK_BINARY ?? join(ROOT, "dist/payhook")];
}

/** A fresh temporary folder for one test's config, store and files. */
export function tempDir(prefix = "payhook-"): string {
  const folder = mkdtempSync(join(tmpdir(), prefix));
  trackFolder(folder);
  return folder;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a payhook command to completion (check, version, trigger, …). */
export async function runPayhook(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: string } = {},
): Promise<RunResult> {
  const child = Bun.spawn([...payhookCommand(options.env), ...args], {
    cwd: options.cwd ?? tempDir(),
    env: { ...baseEnv(), ...options.env },
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}

export interface RunningServer {
  url: string;
  port: number;
  dir: string;
  /** Every stdout line so far (the `log` action's output). */
  stdout: string[];
  /** Every stderr line so far (JSON logs). */
  stderr: string[];
  /** Resolves with the first stdout line matching, or rejects after `ms` (a bound on the wait, not an assertion). */
  waitForStdout(match: RegExp | string, ms?: number): Promise<string>;
  waitForStderr(match: RegExp | string, ms?: number): Promise<string>;
  /** SIGTERM, then wait for exit; resolves with the exit code. */
  stop(): Promise<number>;
  /** SIGKILL, then wait for exit. */
  kill(): Promise<void>;
  exited: Promise<number>;
}

export interface StartOptions {
  /** Config file text; `{{port}}` and `{{dir}}` are replaced. Omit to use the embedded default. */
  config?: string;
  /** Reuse a folder (to restart on the same store). */
  dir?: string;
  env?: Record<string, string>;
  args?: string[];
  /** Config file name inside dir. */
  configName?: string;
  /** Run exactly this argv instead of the one payhookCommand picks (e.g. the release build with a test hook set). */
  command?: string[];
  /** How long to wait for it to listen (default 15 s; an emulated CPU needs longer). A bound, not an assertion. */
  listenWithinMs?: number;
}

/** Starts `payhook serve` and resolves once it logs that it is listening. */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const dir = options.dir ?? tempDir();
  const port = await freePort();
  const args = ["serve", ...(options.args ?? [])];
  if (options.config !== undefined) {
    const file = join(dir, options.configName ?? "payhook.yaml");
    writeFileSync(file, options.config.replaceAll("{{port}}", String(port)).replaceAll("{{dir}}", dir));
    args.push("--config", file);
  }
  const child = Bun.spawn([...(options.command ?? payhookCommand(options.env)), ...args, "--log-format", "json"], {
    cwd: dir,
    env: { ...baseEnv(), PAYHOOK_TEST_PORT: String(port), ...options.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  trackChild(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: { lines: string[]; match: RegExp | string; resolve: (line: string) => void }[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>, lines: string[]) => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of stream) {
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.lines === lines && matches(line, w.match)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  };
  void collect(child.stdout, stdout);
  void collect(child.stderr, stderr);
  const waitFor = (lines: string[], match: RegExp | string, ms = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const found = lines.find((l) => matches(l, match));
      if (found !== undefined) return resolve(found);
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(
          new Error(
            `no line matching ${match} within ${ms} ms.\nstdout:\n${stdout.join("\n")}\nstderr:\n${stderr.join("\n")}`,
          ),
        );
      }, ms);
      const waiter = {
        lines,
        match,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      waiters.push(waiter);
    });

  const exited = child.exited;
  const listening = waitFor(stderr, '"msg":"listening"', options.listenWithinMs);
  const early = exited.then((code) => {
    throw new Error(`payhook exited with ${code} before listening.\nstderr:\n${stderr.join("\n")}`);
  });
  const line = await Promise.race([listening, early]);
  const url = (JSON.parse(line) as { url: string }).url;
  const actualPort = Number(new URL(url).port);
  return {
    url,
    port: actualPort,
    dir,
    stdout,
    stderr,
    waitForStdout: (match, ms) => waitFor(stdout, match, ms),
    waitForStderr: (match, ms) => waitFor(stderr, match, ms),
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
    exited,
  };
}

/** A config that listens on the test's free port and stores in the test's folder. */
export function testConfig(body: string, secret = "whsec_test_secret"): string {
  return `listen: { host: 127.0.0.1, port: {{port}} }
store: {{dir}}/payhook.db
endpoints:
  - path: /webhook
    secrets: ["${secret}"]
${body}`;
}

export async function freePort(): Promise<number> {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port as number;
  server.stop(true);
  return port;
}

function baseEnv(): Record<string, string> {
  // Only what a process needs to run: tests never leak the developer's environment (or secrets) into payhook.
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", TZ: "UTC" };
}

function matches(line: string, match: RegExp | string): boolean {
  return typeof match === "string" ? line.includes(match) : match.test(line);
}

/** Polls `check` until it returns true; rejects after `ms`. A bound on waiting for a state, never an assertion on time. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  ms = 15_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
