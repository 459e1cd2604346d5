/** @module The store's writer thread on Bun (bun:sqlite): started by bunRuntime.startStoreWriter. */

import { bunRuntime } from "./runtime/bun.ts";
import { serveWriter, type WriterScope } from "./store/sqlite/writer.ts";

serveWriter(self as unknown as WriterScope, bunRuntime.openDatabase);
