/** @module The Store contract on Bun: the SQLite store on bun:sqlite, through the Bun runtime. */
import { bunRuntime } from "../../src/runtime/bun.ts";
import { storeContracts } from "./index.ts";
import { sqliteOpenContract, sqliteSubject } from "./store.ts";

storeContracts("SQLite on bun:sqlite", () => sqliteSubject(bunRuntime.openDatabase));
sqliteOpenContract("bun:sqlite", bunRuntime.openDatabase);
