/** @module The secrets guarantee suite (secrets.ts) on the SQLite store. */
import { sqliteStore } from "../helpers/stores.ts";
import { secretsSuite } from "./secrets.ts";

secretsSuite(sqliteStore());
