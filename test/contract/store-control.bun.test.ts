/** @module The operator control Store contract on Bun: the SQLite store on bun:sqlite. */
import { bunRuntime } from "../../src/runtime/bun.ts";
import { sqliteSubject } from "./store.ts";
import { storeControlContract } from "./store-control.ts";

storeControlContract("SQLite on bun:sqlite", () => sqliteSubject(bunRuntime.openDatabase));
