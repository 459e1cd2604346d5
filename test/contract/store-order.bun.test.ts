/** @module The ordering Store contract on Bun: the SQLite store on bun:sqlite. */
import { bunRuntime } from "../../src/runtime/bun.ts";
import { sqliteSubject } from "./store.ts";
import { storeOrderContract } from "./store-order.ts";

storeOrderContract("SQLite on bun:sqlite", () => sqliteSubject(bunRuntime.openDatabase));
