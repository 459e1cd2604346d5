/** @module The store's writer thread on Deno (node:sqlite): started by denoRuntime.startStoreWriter. */

import { denoRuntime } from "./runtime/deno.ts";
import { serveWriter, type WriterScope } from "./store/sqlite/writer.ts";

serveWriter(self as unknown as WriterScope, denoRuntime.openDatabase);
