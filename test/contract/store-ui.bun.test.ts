/** @module The operator page's Store contract on Bun: the SQLite store on bun:sqlite. */
import { bunRuntime } from "../../src/runtime/bun.ts";
import { sqliteSubject } from "./store.ts";
import { storeUiContract } from "./store-ui.ts";

storeUiContract("SQLite on bun:sqlite", () => sqliteSubject(bunRuntime.openDatabase));
