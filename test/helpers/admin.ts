/** @module The operator page's handler in-process, for unit tests: the options every test sets the same way. */
import type { Config } from "../../src/config/types.ts";
import { createLogger } from "../../src/log.ts";
import type { Store } from "../../src/store/types.ts";
import { createChanges } from "../../src/ui/live.ts";
import { type AdminOptions, createAdminHandler } from "../../src/ui/server.ts";

/** The handler over `store`, as serve would make it on 127.0.0.1, quiet; `options` override the defaults. */
export function adminHandler(store: Store, options: Partial<AdminOptions> = {}) {
  return createAdminHandler({
    ops: {},
    host: "127.0.0.1",
    store,
    config: () => ({ file: {} }) as Config,
    changes: createChanges(),
    wake: () => {},
    log: createLogger({ level: "error", write: () => {} }),
    version: "test",
    runtime: "bun",
    storeKind: "SQLite",
    startedAt: 0,
    ...options,
  });
}

/** A request to the page's listener, with the Host header a browser sends. */
export function adminRequest(path: string, init: RequestInit = {}): Request {
  return new Request(`http://127.0.0.1:9000${path}`, { ...init, headers: { host: "127.0.0.1:9000", ...init.headers } });
}
