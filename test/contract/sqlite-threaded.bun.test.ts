/**
 * @module The Store contract on the threaded SQLite store (what `serve` uses): every write crosses a message
 * channel to the writer, as it crosses to the writer thread in the binary, so the cases check the messages,
 * the group commit behind them and the errors that come back (a failed commit is still a 503).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bunRuntime } from "../../src/runtime/bun.ts";
import type { SqlDatabase, StoreWriterThread } from "../../src/runtime/types.ts";
import { threadedStore } from "../../src/store/sqlite/threaded.ts";
import { serveWriter, type WriterScope } from "../../src/store/sqlite/writer.ts";
import { storeContracts } from "./index.ts";
import type { StoreSubject } from "./store.ts";

storeContracts("SQLite through the writer's messages", threadedSubject);

function threadedSubject(): StoreSubject {
  const dir = mkdtempSync(join(tmpdir(), "payhook-store-"));
  const path = join(dir, "payhook.db");
  const db = bunRuntime.openDatabase(path);
  let commits = 0;
  let failing = false;
  // The writer's connection, watched as in sqliteSubject: commits counted, and made to fail on demand.
  const watched: SqlDatabase = {
    exec(sql) {
      if (/^\s*COMMIT\b/i.test(sql)) {
        if (failing) throw new Error("disk I/O error");
        db.exec(sql);
        commits += 1;
        return;
      }
      db.exec(sql);
    },
    prepare: (sql) => db.prepare(sql),
    close: () => db.close(),
  };
  const store = threadedStore(
    { openDatabase: bunRuntime.openDatabase, startStoreWriter: () => channel(watched) },
    path,
  );
  const reads = bunRuntime.openDatabase(path);
  return {
    store,
    query: async (sql) => reads.prepare(sql).all(),
    commits: async () => commits,
    failCommits: async (on) => {
      failing = on;
    },
    dispose: () => {
      reads.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A writer on the other end of a MessageChannel (structured clone, like a worker's messages), on `db`. */
function channel(db: SqlDatabase): StoreWriterThread {
  const { port1, port2 } = new MessageChannel();
  serveWriter(port2 as unknown as WriterScope, () => db);
  return {
    post: (message) => port1.postMessage(message),
    listen(onMessage) {
      port1.onmessage = (event) => onMessage(event.data);
    },
    terminate: () => {
      port1.close();
      port2.close();
    },
  };
}
