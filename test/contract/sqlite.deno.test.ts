/**
 * @module The Store contract on Deno: the SQLite store on node:sqlite, through the Deno runtime.
 * Run with `deno test -A test/contract/sqlite.deno.test.ts` (`make test-deno`); `bun test` skips it (bunfig.toml).
 */
import { denoRuntime } from "../../src/runtime/deno.ts";
import { storeContracts } from "./index.ts";
import { sqliteOpenContract, sqliteSubject } from "./store.ts";

storeContracts("SQLite on node:sqlite", () => sqliteSubject(denoRuntime.openDatabase));
sqliteOpenContract("node:sqlite", denoRuntime.openDatabase);
