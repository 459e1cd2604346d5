/** @module The store's writer thread on Deno (node:sqlite): started by denoRuntime.startStoreWriter. */
import { serveWriter, type WriterScope } from "../store/sqlite/writer.ts";
import { denoRuntime } from "./deno.ts";

serveWriter(self as unknown as WriterScope, denoRuntime.openDatabase);
