/** @module The store's writer thread on Bun (bun:sqlite): started by bunRuntime.startStoreWriter. */
import { serveWriter, type WriterScope } from "../store/sqlite/writer.ts";
import { bunRuntime } from "./bun.ts";

serveWriter(self as unknown as WriterScope, bunRuntime.openDatabase);
