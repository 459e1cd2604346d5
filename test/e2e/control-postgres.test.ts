/** @module Operator control end to end on PostgreSQL (the cases: control-cases.ts), one cluster for the file. */
import { postgresStore } from "../helpers/stores.ts";
import { controlCases } from "./control-cases.ts";

controlCases(postgresStore("control-password"));
