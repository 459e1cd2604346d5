/**
 * @module The ordering Store contract on Deno: the SQLite store on node:sqlite.
 * Run with `deno test -A test/contract/store-order.deno.test.ts` (`make test-deno`); `bun test` skips it.
 */
import { denoRuntime } from "../../src/runtime/deno.ts";
import { sqliteSubject } from "./store.ts";
import { storeOrderContract } from "./store-order.ts";

storeOrderContract("SQLite on node:sqlite", () => sqliteSubject(denoRuntime.openDatabase));
