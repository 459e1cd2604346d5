/** @module The catch-up Store contract (source, leases) on Bun: the SQLite store on bun:sqlite. */
import { bunRuntime } from "../../src/runtime/bun.ts";
import { sqliteSubject } from "./store.ts";
import { storeSourceContract } from "./store-source.ts";

storeSourceContract("SQLite on bun:sqlite", () => sqliteSubject(bunRuntime.openDatabase));
