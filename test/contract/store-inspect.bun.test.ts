/** @module The inspect/replay/prune Store contract on Bun: the SQLite store on bun:sqlite. */
import { bunRuntime } from "../../src/runtime/bun.ts";
import { sqliteSubject } from "./store.ts";
import { storeInspectContract } from "./store-inspect.ts";

storeInspectContract("SQLite on bun:sqlite", () => sqliteSubject(bunRuntime.openDatabase));
