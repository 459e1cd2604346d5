/** @module The Bun runtime: Bun.serve, bun:sqlite, Bun.spawn and process signals. */
import { Database } from "bun:sqlite";
import { supervise } from "./child.ts";
import { finishesWithin } from "./grace.ts";
import type { Runtime, ServeOptions, Server, SpawnOptions, SpawnResult, SqlDatabase } from "./types.ts";
import { workerThread } from "./worker-thread.ts";

export const bunRuntime: Runtime = {
  name: "bun",
  version: Bun.version,

  async serve(options: ServeOptions): Promise<Server> {
    const server = Bun.serve({
      hostname: options.hostname,
      port: options.port,
      maxRequestBodySize: options.maxRequestBodySize,
      tls: options.tls ? { cert: Bun.file(options.tls.cert), key: Bun.file(options.tls.key) } : undefined,
      fetch: (request, srv) =>
        options.fetch(request, {
          address: srv.requestIP(request)?.address ?? "",
          // Bun closes a connection idle for 10 s, and a stream between keep-alives is idle (bun.com/guides/http/sse).
          keepOpen: () => srv.timeout(request, 0),
        }),
      // Answer with a bare 500 instead of Bun's HTML error page if a handler ever throws.
      error: () => new Response('{"error":{"code":"internal","message":"internal error"}}', { status: 500 }),
    });
    return {
      hostname: server.hostname ?? options.hostname,
      port: server.port ?? options.port,
      async stop(graceMs) {
        if (await finishesWithin(server.stop(false), graceMs)) return;
        await server.stop(true); // closes every connection still open
      },
    };
  },

  openDatabase(path: string, options?: { readonly?: boolean }): SqlDatabase {
    const db = options?.readonly
      ? new Database(path, { readonly: true, strict: false })
      : new Database(path, { create: true, strict: false });
    return {
      exec: (sql) => db.run(sql),
      prepare: (sql) => db.prepare(sql) as never,
      close: () => db.close(),
    };
  },

  startStoreWriter: () => workerThread(storeWriterUrl()),

  async spawn(argv: string[], options: SpawnOptions): Promise<SpawnResult> {
    const child = Bun.spawn(argv, {
      cwd: options.cwd,
      env: options.env,
      // Bun writes the input itself: a FileSink write to a child that exited without reading raised EPIPE outside
      // any promise and ended the server; given here, a child may read all, some or none of it.
      stdin: options.stdin,
      stdout: "pipe",
      stderr: "pipe",
      // A new session makes the child a process-group leader, so a timeout can kill its grandchildren too.
      detached: true,
    });
    return supervise(
      {
        pid: child.pid,
        stdout: child.stdout,
        stderr: child.stderr,
        writeInput: async () => {},
        exited: child.exited.then(() => ({
          exitCode: child.exitCode,
          signal: child.signalCode === null ? null : String(child.signalCode),
        })),
        signalGroup: (signal) => {
          try {
            process.kill(-child.pid, signal);
          } catch {
            // The group is already gone.
          }
        },
      },
      options,
    );
  },

  // Bun's fetch never re-sends a request on its own.
  fetch: (url, init) => fetch(url, init),

  writeStdout(text) {
    // The callback runs once the text has left the process; write()'s own buffering would hide a full pipe.
    return new Promise((resolve, reject) => {
      process.stdout.write(text, (error) => (error ? reject(error) : resolve()));
    });
  },

  onSignal(signal, handler) {
    process.on(signal, handler);
    return () => process.off(signal, handler);
  },

  exit(code: number): never {
    process.exit(code);
  },
};

/**
 * The writer thread's module. In the compiled binary it is a second entry point (see the Makefile), named by its
 * path inside the executable: there import.meta.url is the build machine's source path (Bun 1.4.5 with --bytecode),
 * so a URL made from it would load the source files from disk where they exist and fail everywhere else.
 */
function storeWriterUrl(): URL {
  const compiled = Bun.main.startsWith(EMBEDDED_ROOT);
  return compiled
    ? new URL(`file://${EMBEDDED_ROOT}store-writer.bun.js`)
    : new URL("../store-writer.bun.ts", import.meta.url);
}

/** Where a compiled binary's entry points live, relative to src/. */
const EMBEDDED_ROOT = "/$bunfs/root/";
