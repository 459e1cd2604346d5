/** @module The backfill and verifying-secret Store contract on Bun: the SQLite store on bun:sqlite. */
import { bunRuntime } from "../../src/runtime/bun.ts";
import { sqliteSubject } from "./store.ts";
import { storeBackfillContract } from "./store-backfill.ts";

storeBackfillContract("SQLite on bun:sqlite", () => sqliteSubject(bunRuntime.openDatabase));
