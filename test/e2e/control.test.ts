/** @module Operator control end to end on SQLite (the cases: control-cases.ts). */
import { sqliteStore } from "../helpers/stores.ts";
import { controlCases } from "./control-cases.ts";

controlCases(sqliteStore());
