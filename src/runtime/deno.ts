/** @module The Deno runtime: Deno.serve, node:sqlite, Deno.Command and Deno signal listeners. */
import { DatabaseSync } from "node:sqlite";
import { supervise } from "./child.ts";
import { finishesWithin } from "./grace.ts";
import type { Runtime, ServeOptions, Server, SpawnOptions, SpawnResult, SqlDatabase } from "./types.ts";
import { workerThread } from "./worker-thread.ts";

export const denoRuntime: Runtime = {
  name: "deno",
  version: Deno.version.deno,

  async serve(options: ServeOptions): Promise<Server> {
    const { promise: listening, resolve } = Promise.withResolvers<void>();
    const server = Deno.serve(
      {
        hostname: options.hostname,
        port: options.port,
        // Deno prints "Listening on …" to stdout by default; stdout belongs to the log action, so stay quiet.
        onListen: () => resolve(),
        // Answer with a bare 500 instead of Deno's plain-text error if a handler ever throws.
        onError: () => new Response('{"error":{"code":"internal","message":"internal error"}}', { status: 500 }),
        ...(options.tls
          ? { cert: Deno.readTextFileSync(options.tls.cert), key: Deno.readTextFileSync(options.tls.key) }
          : {}),
      },
      // Deno has no body-size option: accept() counts the bytes as it streams them and refuses past max_body.
      (request, info) => options.fetch(request, { address: info.remoteAddr.hostname }),
    );
    await listening;
    return {
      hostname: server.addr.hostname,
      port: server.addr.port,
      // shutdown() stops accepting and resolves once every in-flight request has been answered. Deno has no way
      // to close the connections still open after the grace period; the process exit that follows closes them.
      stop: async (graceMs) => {
        await finishesWithin(server.shutdown(), graceMs);
      },
    };
  },

  openDatabase(path: string, options?: { readonly?: boolean }): SqlDatabase {
    // node:sqlite has the same synchronous prepare/run/get/all shape as bun:sqlite. Its `get` answers
    // undefined for no row and rows are null-prototype objects; the store handles both.
    const db = new DatabaseSync(path, options?.readonly ? { readOnly: true } : {});
    return {
      exec: (sql) => db.exec(sql),
      prepare: (sql) => db.prepare(sql) as never,
      close: () => db.close(),
    };
  },

  // The worker file is a separate entry point of the compiled binary (see the Makefile).
  startStoreWriter: () => workerThread(new URL("../store-writer.deno.ts", import.meta.url)),

  async spawn(argv: string[], options: SpawnOptions): Promise<SpawnResult> {
    const [program, ...args] = argv;
    if (program === undefined) throw new Error("spawn needs a program to run");
    const child = new Deno.Command(program, {
      args,
      cwd: options.cwd,
      env: options.env,
      // options.env is the child's whole environment, as with Bun.spawn; Deno would otherwise add its own.
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      // A new session makes the child a process-group leader, so a timeout can kill its grandchildren too.
      detached: true,
    }).spawn();
    return supervise(
      {
        pid: child.pid,
        stdout: child.stdout,
        stderr: child.stderr,
        // A child that exits or closes stdin before reading it all makes the write fail with BrokenPipe: the
        // promise rejects (never an uncaught error), and supervise() takes that as the child's choice.
        async writeInput(bytes) {
          const writer = child.stdin.getWriter();
          await writer.write(bytes);
          await writer.close();
        },
        // Deno reports 128 + the signal number as the code of a killed child; Bun reports null, and so do we.
        exited: child.status.then((status) => ({
          exitCode: status.signal === null ? status.code : null,
          signal: status.signal,
        })),
        signalGroup: (signal) => {
          try {
            Deno.kill(-child.pid, signal);
          } catch {
            // The group is already gone.
          }
        },
      },
      options,
    );
  },

  // Deno's fetch re-sends a request by itself when a reused keep-alive connection is reset after the request was
  // written: the receiver would see one attempt twice. Fresh connections, never pooled, make it send once, as on Bun.
  fetch(url: string, init: RequestInit): Promise<Response> {
    unpooled ??= Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
    return fetch(url, { ...init, client: unpooled } as RequestInit);
  },

  async writeStdout(text) {
    // Deno.stdout.write waits while the pipe is full without blocking the event loop, and may write part only.
    const bytes = encoder.encode(text);
    for (let at = 0; at < bytes.length; ) at += await Deno.stdout.write(bytes.subarray(at));
  },

  onSignal(signal, handler) {
    Deno.addSignalListener(signal, handler);
    return () => Deno.removeSignalListener(signal, handler);
  },

  exit(code: number): never {
    Deno.exit(code);
  },
};

let unpooled: unknown;
const encoder = new TextEncoder();

/** The command-line arguments after the script (or the compiled binary's name). */
export const denoArgs: string[] = Deno.args;

// tsc type-checks the project with bun-types, which do not describe Deno: this is the part of the Deno
// namespace used above (see https://docs.deno.com/api/deno/), checked by running under Deno.
type Signal = "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGKILL";
interface DenoServer {
  readonly addr: { hostname: string; port: number };
  shutdown(): Promise<void>;
}
interface DenoChild {
  readonly pid: number;
  readonly stdin: WritableStream<Uint8Array>;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly status: Promise<{ code: number; signal: Signal | null }>;
}
declare const Deno: {
  readonly args: string[];
  readonly version: { deno: string };
  serve(
    options: {
      hostname: string;
      port: number;
      onListen: () => void;
      onError: (error: unknown) => Response;
      cert?: string;
      key?: string;
    },
    handler: (request: Request, info: { remoteAddr: { hostname: string } }) => Response | Promise<Response>,
  ): DenoServer;
  Command: new (
    program: string,
    options: {
      args: string[];
      cwd?: string;
      env: Record<string, string>;
      clearEnv: boolean;
      stdin: "piped";
      stdout: "piped";
      stderr: "piped";
      detached: boolean;
    },
  ) => { spawn(): DenoChild };
  createHttpClient(options: { poolMaxIdlePerHost: number }): unknown;
  readTextFileSync(path: string): string;
  readonly stdout: { write(bytes: Uint8Array): Promise<number> };
  kill(pid: number, signal: Signal): void;
  addSignalListener(signal: Signal, handler: () => void): void;
  removeSignalListener(signal: Signal, handler: () => void): void;
  exit(code: number): never;
};
