/**
 * @module Every Store contract section, run against one store: each entry file (sqlite.bun, sqlite.deno,
 * sqlite-threaded.bun, postgres.bun, postgres.deno) calls this once with its way of opening a fresh store, as
 * River's driver test and Hono's runTest do. A store leaves out only the sections that do not apply to it.
 */
import { type OpenSubject, storeContract } from "./store.ts";
import { storeBackfillContract } from "./store-backfill.ts";
import { storeControlContract } from "./store-control.ts";
import { storeCopiesContract } from "./store-copies.ts";
import { storeInspectContract } from "./store-inspect.ts";
import { storeOrderContract } from "./store-order.ts";
import { storeSourceContract } from "./store-source.ts";
import { storeUiContract } from "./store-ui.ts";

const SECTIONS = {
  core: storeContract,
  inspect: storeInspectContract,
  order: storeOrderContract,
  source: storeSourceContract,
  backfill: storeBackfillContract,
  copies: storeCopiesContract,
  control: storeControlContract,
  ui: storeUiContract,
};

export type Section = keyof typeof SECTIONS;

export function storeContracts(name: string, open: OpenSubject, options: { skip?: readonly Section[] } = {}): void {
  for (const [section, contract] of Object.entries(SECTIONS)) {
    if (!options.skip?.includes(section as Section)) contract(name, open);
  }
}
