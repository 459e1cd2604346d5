/**
 * @module The secrets guarantee suite (secrets.ts) on PostgreSQL: one cluster for the file, checking passwords,
 * the database password one more sentinel.
 */
import { postgresStore } from "../helpers/stores.ts";
import { DATABASE_PASSWORD, secretsSuite } from "./secrets.ts";

secretsSuite(postgresStore(DATABASE_PASSWORD));
