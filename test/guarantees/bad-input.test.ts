/** @module The bad-input guarantee suite (bad-input.ts) on the SQLite store. */
import { sqliteStore } from "../helpers/stores.ts";
import { badInputSuite } from "./bad-input.ts";

badInputSuite(sqliteStore());
