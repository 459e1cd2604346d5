/** @module The operator page's Store contract on Deno: the SQLite store on node:sqlite (`make test-deno`). */
import { denoRuntime } from "../../src/runtime/deno.ts";
import { sqliteSubject } from "./store.ts";
import { storeUiContract } from "./store-ui.ts";

storeUiContract("SQLite on node:sqlite", () => sqliteSubject(denoRuntime.openDatabase));
