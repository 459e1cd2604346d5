/** @module The runtime boundary: everything payhook needs from Bun or Deno, and nothing more. */

/** A prepared SQL statement with positional `?` parameters. */
export interface SqlStatement {
  run(...params: SqlValue[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: SqlValue[]): Record<string, SqlValue> | null | undefined;
  all(...params: SqlValue[]): Record<string, SqlValue>[];
}

export type SqlValue = string | number | bigint | null | Uint8Array;

/** The synchronous SQLite API that bun:sqlite and node:sqlite both offer. */
export interface SqlDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  close(): void;
}

export interface ServeOptions {
  hostname: string;
  port: number;
  /** Bodies larger than this are refused by the runtime itself, before payhook reads them. */
  maxRequestBodySize: number;
  fetch: (request: Request, client: ClientInfo) => Response | Promise<Response>;
  tls?: { cert: string; key: string };
}

export interface ClientInfo {
  address: string;
  /** Lifts the runtime's idle timeout for this request, for a long-lived stream (server-sent events). */
  keepOpen?: () => void;
}

export interface Server {
  readonly hostname: string;
  readonly port: number;
  /**
   * Stops accepting connections; resolves once in-flight requests are answered, or after `graceMs` at the latest,
   * closing whatever connections are still open then (a client that never finishes its request cannot hold the
   * process).
   */
  stop(graceMs: number): Promise<void>;
}

export interface SpawnOptions {
  cwd?: string;
  env: Record<string, string>;
  stdin: Uint8Array;
  /** Kills the child's whole process group after this many milliseconds. */
  timeoutMs: number;
  /** Bytes of stdout and of stderr kept; the rest is counted and dropped. */
  outputCap: number;
}

export interface SpawnResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** A thread running the store's writer (src/store/sqlite/writer.ts), spoken to with messages. */
export interface StoreWriterThread {
  post(message: unknown): void;
  /** Calls `onMessage` with each message from the thread, and `onError` if the thread fails. */
  listen(onMessage: (message: unknown) => void, onError: (error: unknown) => void): void;
  terminate(): void;
}

export interface Runtime {
  readonly name: "bun" | "deno";
  readonly version: string;
  serve(options: ServeOptions): Promise<Server>;
  /** Opens (creating) a SQLite file; with `readonly`, opens an existing one that nothing through it can change. */
  openDatabase(path: string, options?: { readonly?: boolean }): SqlDatabase;
  /** Starts a thread that runs the SQLite store's writer on this runtime's SQLite. */
  startStoreWriter(): StoreWriterThread;
  spawn(argv: string[], options: SpawnOptions): Promise<SpawnResult>;
  /** fetch() for outgoing requests; sends each request at most once (payhook counts and retries attempts itself). */
  fetch(url: string, init: RequestInit): Promise<Response>;
  /**
   * Writes `text` to stdout; resolves once it is written (handed to the pipe or file), waiting while a pipe is full,
   * so a reader that falls behind slows the writer down instead of filling memory. Rejects if it cannot be written.
   */
  writeStdout(text: string): Promise<void>;
  /** Calls `handler` on SIGTERM, SIGINT or SIGHUP; returns a function that removes it. */
  onSignal(signal: "SIGTERM" | "SIGINT" | "SIGHUP", handler: () => void): () => void;
  exit(code: number): never;
}
