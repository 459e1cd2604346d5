/**
 * @module The Store contract on Deno: the SQLite store on node:sqlite, through the Deno runtime.
 * Run with `deno test -A test/contract/store.deno.test.ts` (`make test-deno`); `bun test` skips it (bunfig.toml).
 */
import { denoRuntime } from "../../src/runtime/deno.ts";
import { sqliteOpenContract, sqliteSubject, storeContract } from "./store.ts";
import { storeInspectContract } from "./store-inspect.ts";
import { storeSourceContract } from "./store-source.ts";

storeContract("SQLite on node:sqlite", () => sqliteSubject(denoRuntime.openDatabase));
sqliteOpenContract("node:sqlite", denoRuntime.openDatabase);
storeInspectContract("SQLite on node:sqlite", () => sqliteSubject(denoRuntime.openDatabase));
storeSourceContract("SQLite on node:sqlite", () => sqliteSubject(denoRuntime.openDatabase));
