/**
 * @module The bad-input guarantee suite (bad-input.ts) on PostgreSQL: one cluster for the file, checking
 * passwords, with a sentinel database password that the suite's final scan (outputs, /metrics, every row) never finds.
 */
import { sentinelSecret } from "../helpers/sentinels.ts";
import { postgresStore } from "../helpers/stores.ts";
import { badInputSuite } from "./bad-input.ts";

badInputSuite(postgresStore(sentinelSecret("badinput0dbpassword")));
