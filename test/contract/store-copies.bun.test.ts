/** @module The upgrade-copies Store contract on Bun: the SQLite store on bun:sqlite. */
import { bunRuntime } from "../../src/runtime/bun.ts";
import { sqliteSubject } from "./store.ts";
import { storeCopiesContract } from "./store-copies.ts";

storeCopiesContract("SQLite on bun:sqlite", () => sqliteSubject(bunRuntime.openDatabase));
