/**
 * @module The Store contract and the shared-store cases on PostgreSQL, under Deno (one cluster for the file).
 * Run with `deno test -A test/contract/postgres.deno.test.ts` (`make test-deno`); `bun test` skips it.
 */
import { postgresContracts } from "./postgres.ts";

await postgresContracts("Deno");
