/** @module The Store contract and the shared-store cases on PostgreSQL, under Bun (one cluster for the file). */
import { postgresContracts } from "./postgres.ts";

await postgresContracts("Bun");
