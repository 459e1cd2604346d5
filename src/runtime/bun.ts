/** @module The Bun runtime: Bun.serve, bun:sqlite, Bun.spawn and process signals. */
import { Database } from "bun:sqlite";
import { readCapped } from "./output.ts";
import type { Runtime, ServeOptions, Server, SpawnOptions, SpawnResult, SqlDatabase } from "./types.ts";

export const bunRuntime: Runtime = {
  name: "bun",
  version: Bun.version,

  async serve(options: ServeOptions): Promise<Server> {
    const server = Bun.serve({
      hostname: options.hostname,
      port: options.port,
      maxRequestBodySize: options.maxRequestBodySize,
      tls: options.tls ? { cert: Bun.file(options.tls.cert), key: Bun.file(options.tls.key) } : undefined,
      fetch: (request, srv) => options.fetch(request, { address: srv.requestIP(request)?.address ?? "" }),
      // Answer with a bare 500 instead of Bun's HTML error page if a handler ever throws.
      error: () => new Response('{"error":{"code":"internal","message":"internal error"}}', { status: 500 }),
    });
    return {
      hostname: server.hostname ?? options.hostname,
      port: server.port ?? options.port,
      stop: () => server.stop(false),
    };
  },

  openDatabase(path: string): SqlDatabase {
    const db = new Database(path, { create: true, strict: false });
    return {
      exec: (sql) => db.run(sql),
      prepare: (sql) => db.prepare(sql) as never,
      close: () => db.close(),
    };
  },

  async spawn(argv: string[], options: SpawnOptions): Promise<SpawnResult> {
    const child = Bun.spawn(argv, {
      cwd: options.cwd,
      env: options.env,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      // A new session makes the child a process-group leader, so a timeout can kill its grandchildren too.
      detached: true,
    });
    let timedOut = false;
    let hardKill: ReturnType<typeof setTimeout> | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      // SIGTERM first so the program can clean up; whatever is left of the group gets SIGKILL after the grace.
      signalGroup(child.pid, "SIGTERM");
      hardKill = setTimeout(() => signalGroup(child.pid, "SIGKILL"), KILL_GRACE_MS);
    }, options.timeoutMs);
    // Output is read while the input is written: a child that prints before it reads must not deadlock us.
    const stdout = readCapped(child.stdout, options.outputCap);
    const stderr = readCapped(child.stderr, options.outputCap);
    const input = (async () => {
      child.stdin.write(options.stdin);
      await child.stdin.end();
    })().catch(() => {
      // The child may exit without reading its input; that is its choice, not an error.
    });
    await child.exited;
    clearTimeout(timer);
    clearTimeout(hardKill);
    // No orphans: grandchildren that outlive the child (and would hold its output pipes open) are ended too.
    signalGroup(child.pid, "SIGKILL");
    const [out, err] = await Promise.all([stdout, stderr, input]);
    return {
      exitCode: child.exitCode,
      signal: child.signalCode === null ? null : String(child.signalCode),
      timedOut,
      stdout: out,
      stderr: err,
    };
  },

  // Bun's fetch never re-sends a request on its own.
  fetch: (url, init) => fetch(url, init),

  onSignal(signal, handler) {
    process.on(signal, handler);
    return () => process.off(signal, handler);
  },

  exit(code: number): never {
    process.exit(code);
  },
};

/** After a timeout's SIGTERM, how long the process group has before SIGKILL. */
const KILL_GRACE_MS = 2_000;

function signalGroup(pid: number, signal: "SIGTERM" | "SIGKILL"): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}
