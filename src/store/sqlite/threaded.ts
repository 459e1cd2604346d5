/**
 * @module The SQLite store as `serve` uses it: writes go as messages to a writer thread (writer.ts), which
 * group-commits them and answers each once it is durable; reads (the worker's next due time, metrics, the CLI's
 * queries) use this thread's own connection, which in WAL mode never waits for a lock. A slow fsync or another
 * process holding the lock then delays only the acks that wait for it, never /healthz or the reading of requests.
 */
import { StoreUnavailableError } from "../../errors.ts";
import type { Runtime, StoreWriterThread } from "../../runtime/types.ts";
import type { Store } from "../types.ts";
import { openSqliteStore, type SqliteStore } from "./store.ts";
import { type Answer, type Call, revive, type WriteArgs, type WriteOp } from "./writer.ts";

/**
 * Opens the store at `path` (creating it and applying migrations on this thread, before serving starts), then
 * starts its writer thread and waits until the writer has opened it too.
 */
export async function openThreadedStore(runtime: WriterRuntime, path: string): Promise<Store> {
  const store = threadedStore(runtime, path);
  try {
    await store.opened;
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  return store;
}

/** What the threaded store needs from the runtime: its SQLite, and a thread to run the writer in. */
export type WriterRuntime = Pick<Runtime, "openDatabase" | "startStoreWriter">;

/** The store without waiting for its writer: writes made now run once the writer has opened the store. */
export function threadedStore(runtime: WriterRuntime, path: string): Store & { opened: Promise<unknown> } {
  const reader = openSqliteStore(runtime.openDatabase(path), path);
  const store = new ThreadedStore(reader, runtime.startStoreWriter());
  return Object.assign(store, { opened: store.send({ op: "open", args: [path] }) });
}

/** A message whose commit took this long (ms) makes the next one wait for more writes; a fast disk never does. */
const SLOW_COMMIT_MS = 4;
/** The longest the next message waits (ms). */
const MAX_HOLD_MS = 10;

type Pending = { resolve: (value: unknown) => void; reject: (error: unknown) => void };

class ThreadedStore implements Store {
  private readonly reader: SqliteStore;
  private readonly thread: StoreWriterThread;
  private readonly pending = new Map<number, Pending>();
  private outbox: Call[] = [];
  private lastId = 0;
  /** Calls sent to the writer and not answered yet. */
  private inFlight = 0;
  /** A flush of the outbox is scheduled for the next turn. */
  private flushing = false;
  /** When the last message was sent (performance.now()). */
  private sentAt = 0;
  /** Nothing is sent before this time (performance.now()): see answered(). */
  private holdUntil = 0;
  private holding: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Why the writer thread can take no more writes (it stopped); every write fails with it from then on. */
  private failure: Error | undefined;

  constructor(reader: SqliteStore, thread: StoreWriterThread) {
    this.reader = reader;
    this.thread = thread;
    thread.listen(
      (answers) => {
        for (const answer of answers as Answer[]) this.settle(answer);
        this.answered();
      },
      (error) => {
        this.failure = new StoreUnavailableError(`the store's writer thread stopped: ${String(error)}`);
        for (const { reject } of this.pending.values()) reject(this.failure);
        this.pending.clear();
      },
    );
  }

  // The parsed event stays on this thread: the writer stores columns and bytes, and cloning a whole Stripe object
  // into its message cost the serving thread more than the rest of the message.
  ingest: Store["ingest"] = ({ payload: _parsed, ...event }, deliveries) =>
    this.write("ingest", [event, deliveries]) as ReturnType<Store["ingest"]>;
  claim = (...args: WriteArgs<"claim">) => this.write("claim", args) as ReturnType<Store["claim"]>;
  finish = (...args: WriteArgs<"finish">) => this.write("finish", args) as Promise<boolean>;
  recover = (...args: WriteArgs<"recover">) => this.write("recover", args) as Promise<number>;
  release = (...args: WriteArgs<"release">) => this.write("release", args) as Promise<number>;
  checkWritable = (...args: WriteArgs<"checkWritable">) => this.write("checkWritable", args) as Promise<void>;
  requeue = (...args: WriteArgs<"requeue">) => this.write("requeue", args) as Promise<number>;
  backfill = (...args: WriteArgs<"backfill">) => this.write("backfill", args) as Promise<number>;
  prune = (...args: WriteArgs<"prune">) => this.write("prune", args) as Promise<number>;
  acquireLease = (...args: WriteArgs<"acquireLease">) => this.write("acquireLease", args) as Promise<boolean>;
  releaseLease = (...args: WriteArgs<"releaseLease">) => this.write("releaseLease", args) as Promise<void>;
  ingestCopy: Store["ingestCopy"] = ({ payload: _parsed, ...event }) =>
    this.write("ingestCopy", [event]) as ReturnType<Store["ingestCopy"]>;
  saveUpgrade = (...args: WriteArgs<"saveUpgrade">) => this.write("saveUpgrade", args) as Promise<void>;
  setPaused = (...args: WriteArgs<"setPaused">) => this.write("setPaused", args) as Promise<boolean>;
  noteOutcome = (...args: WriteArgs<"noteOutcome">) =>
    this.write("noteOutcome", args) as ReturnType<Store["noteOutcome"]>;
  takeProbe = (...args: WriteArgs<"takeProbe">) => this.write("takeProbe", args) as Promise<boolean>;
  refund = (...args: WriteArgs<"refund">) => this.write("refund", args) as Promise<void>;
  retryNow = (...args: WriteArgs<"retryNow">) => this.write("retryNow", args) as ReturnType<Store["retryNow"]>;
  discard = (...args: WriteArgs<"discard">) => this.write("discard", args) as ReturnType<Store["discard"]>;
  audit = (...args: WriteArgs<"audit">) => this.write("audit", args) as Promise<void>;
  recordIncidents = (...args: WriteArgs<"recordIncidents">) => this.write("recordIncidents", args) as Promise<number>;
  claimNotifications = (...args: WriteArgs<"claimNotifications">) =>
    this.write("claimNotifications", args) as ReturnType<Store["claimNotifications"]>;
  finishNotification = (...args: WriteArgs<"finishNotification">) =>
    this.write("finishNotification", args) as Promise<boolean>;

  renew: Store["renew"] = (claims) => this.reader.renew(claims);
  subscribe: Store["subscribe"] = () => this.reader.subscribe();
  nextDue: Store["nextDue"] = (runnable, now, skip) => this.reader.nextDue(runnable, now, skip);
  controls: Store["controls"] = () => this.reader.controls();
  actionStats: Store["actionStats"] = () => this.reader.actionStats();
  endpointCounts: Store["endpointCounts"] = (since) => this.reader.endpointCounts(since);
  leaseHolders: Store["leaseHolders"] = () => this.reader.leaseHolders();
  auditTrail: Store["auditTrail"] = (limit) => this.reader.auditTrail(limit);
  queueStats: Store["queueStats"] = () => this.reader.queueStats();
  listEvents: Store["listEvents"] = (query) => this.reader.listEvents(query);
  getEvent: Store["getEvent"] = (id) => this.reader.getEvent(id);
  newestDelivered: Store["newestDelivered"] = (action, orderKey) => this.reader.newestDelivered(action, orderKey);
  failureGroups: Store["failureGroups"] = (limit) => this.reader.failureGroups(limit);
  failedDeliveries: Store["failedDeliveries"] = (group, limit) => this.reader.failedDeliveries(group, limit);
  activity: Store["activity"] = (since, bucketMs) => this.reader.activity(since, bucketMs);
  secretUse: Store["secretUse"] = (since) => this.reader.secretUse(since);
  copies: Store["copies"] = (query) => this.reader.copies(query);
  upgrades: Store["upgrades"] = () => this.reader.upgrades();
  alertFacts: Store["alertFacts"] = (since) => this.reader.alertFacts(since);
  incidents: Store["incidents"] = (query) => this.reader.incidents(query);

  async close(): Promise<void> {
    if (this.closed) return;
    // Writes sent before close() still commit (the writer runs messages in order); later ones fail.
    const last = this.failure ? Promise.resolve() : this.send({ op: "close", args: [] }).catch(() => {});
    this.closed = true;
    await last;
    this.thread.terminate();
    await this.reader.close();
  }

  private write(op: WriteOp, args: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new StoreUnavailableError("the store is closed"));
    return this.send({ op, args });
  }

  /**
   * Queues a call for the writer. While the writer is busy with earlier calls (committing them), new calls wait
   * here and leave together when it answers: one message and one group commit for all of them, rather than a
   * message per turn of the event loop (each costs both threads a wake-up, on one CPU as much as the write).
   */
  send(call: Omit<Call, "id">): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.outbox.push({ ...call, id } as Call) > 1 || this.flushing) return;
      this.flushing = true;
      // setImmediate, not a microtask: requests whose verification finishes in this turn join the same message
      // (make bench: +12 % throughput at 32 connections over one commit per request, see docs/performance.md).
      setImmediate(() => {
        this.flushing = false;
        this.flushWhenFree();
      });
    });
  }

  /** Sends the queued calls once the writer has answered the last message and any hold has passed. */
  private flushWhenFree(): void {
    if (this.inFlight > 0 || this.holding) return;
    const wait = this.holdUntil - performance.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.holding = setTimeout(() => {
      this.holding = undefined;
      this.flush();
    }, wait);
  }

  /** Sends every queued call in one message. */
  private flush(): void {
    if (this.outbox.length === 0) return;
    const calls = this.outbox;
    this.outbox = [];
    this.inFlight += calls.length;
    this.sentAt = performance.now();
    this.thread.post(calls);
  }

  /**
   * The writer answered: what queued meanwhile goes now, as one message. After a slow commit (a slow disk) the
   * next waits a quarter as long first, so the requests this commit's answers release (their clients' next
   * events) join it. Otherwise the clients split into two groups that take turns, each commit carrying half of
   * them: on a disk whose fsync takes 20 ms, 32 connections got ~16 events per commit and ~500 events/s.
   */
  private answered(): void {
    if (this.inFlight > 0) return;
    const took = performance.now() - this.sentAt;
    this.holdUntil = took < SLOW_COMMIT_MS ? 0 : performance.now() + Math.min(took / 4, MAX_HOLD_MS);
    this.flushWhenFree();
  }

  private settle(answer: Answer): void {
    this.inFlight--;
    const pending = this.pending.get(answer.id);
    if (!pending) return;
    this.pending.delete(answer.id);
    if ("error" in answer) pending.reject(revive(answer.error));
    else pending.resolve(answer.value);
  }
}
