/** @module The operator control Store contract on Deno: the SQLite store on node:sqlite (`make test-deno`). */
import { denoRuntime } from "../../src/runtime/deno.ts";
import { sqliteSubject } from "./store.ts";
import { storeControlContract } from "./store-control.ts";

storeControlContract("SQLite on node:sqlite", () => sqliteSubject(denoRuntime.openDatabase));
