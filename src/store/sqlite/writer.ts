/**
 * @module The SQLite writer thread's side: it owns the store's one writer connection and runs the writes the
 * serving thread sends it as messages, group-committed by SqliteStore, answering each once it is durable. Every
 * commit, fsync and lock wait happens here, so the thread that serves HTTP never waits on the disk
 * (docs/how-it-works.md#how-a-request-is-handled, step 4).
 */
import { StoreError, StoreUnavailableError } from "../../errors.ts";
import type { SqlDatabase } from "../../runtime/types.ts";
import type { Store } from "../types.ts";
import { openSqliteStore, type SqliteStore } from "./store.ts";

/** The Store methods that write (or wait for the write lock); reads stay on the serving thread. */
export const WRITES = [
  "ingest",
  "claim",
  "finish",
  "recover",
  "release",
  "checkWritable",
  "requeue",
  "backfill",
  "prune",
  "acquireLease",
  "releaseLease",
  "ingestCopy",
  "saveUpgrade",
  "setPaused",
  "noteOutcome",
  "takeProbe",
  "refund",
  "retryNow",
  "discard",
  "audit",
  "recordIncidents",
  "claimNotifications",
  "finishNotification",
  "close",
] as const;
export type WriteOp = (typeof WRITES)[number];

/** One message from the serving thread: calls in the order they were made. "open" comes first, alone. */
export type Call = { id: number; op: WriteOp; args: unknown[] } | { id: number; op: "open"; args: [path: string] };

/** One message to the serving thread: the answers, in the order the writes became durable or failed. */
export type Answer = { id: number; value: unknown } | { id: number; error: FlatError };

/** An error as it crosses the thread boundary (structured clone keeps neither its class nor its code). */
export interface FlatError {
  name: string;
  code?: string;
  message: string;
}

/** The writer thread's global scope, as much of it as the writer uses. */
export interface WriterScope {
  postMessage(message: Answer[]): void;
  onmessage: ((event: { data: Call[] }) => void) | null;
}

/** Runs in the writer thread: opens the store when asked, then runs every write it is sent. */
export function serveWriter(scope: WriterScope, openDatabase: (path: string) => SqlDatabase): void {
  let store: SqliteStore | undefined;
  let outbox: Answer[] = [];
  // Answers resolved by one group commit leave in one message, not one each.
  const send = (answer: Answer) => {
    if (outbox.push(answer) > 1) return;
    queueMicrotask(() => {
      const answers = outbox;
      outbox = [];
      scope.postMessage(answers);
    });
  };
  const run = (call: Call): Promise<unknown> => {
    if (call.op === "open") {
      store = openSqliteStore(openDatabase(call.args[0]), call.args[0]);
      return Promise.resolve(null);
    }
    if (!store) throw new StoreUnavailableError("the store is not open");
    const method = store[call.op] as (...args: unknown[]) => Promise<unknown>;
    return method.apply(store, call.args);
  };
  scope.onmessage = ({ data }) => {
    // Every write of this message joins the same group commit (SqliteStore commits on the next turn).
    for (const call of data) {
      let result: Promise<unknown>;
      try {
        result = run(call);
      } catch (error) {
        result = Promise.reject(error);
      }
      result.then(
        (value) => send({ id: call.id, value }),
        (error: unknown) => send({ id: call.id, error: flatten(error) }),
      );
    }
  };
}

export function flatten(error: unknown): FlatError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === "string" ? { code } : {}) };
  }
  return { name: "Error", message: String(error) };
}

/** The error again on the serving thread, with the class the HTTP and CLI surfaces map (503 for a store failure). */
export function revive(flat: FlatError): Error {
  if (flat.name === "StoreError") return new StoreError(flat.code ?? "store", flat.message);
  if (flat.name === "StoreUnavailableError") {
    const error = new StoreUnavailableError("");
    error.message = flat.message; // already says "could not be stored"; not wrapped twice
    return error;
  }
  return Object.assign(new Error(flat.message), { name: flat.name, code: flat.code });
}

/** The writes' argument lists, for the serving thread's typed calls. */
export type WriteArgs<K extends WriteOp> = Parameters<Store[K]>;
