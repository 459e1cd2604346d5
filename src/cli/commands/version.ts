/** @module `payhook version`: which payhook this is (version, commit, commit date, target) and its runtime. */
import { buildInfo, versionLine } from "../../ops/build.ts";
import type { Command } from "../types.ts";

export const version: Command = {
  name: "version",
  summary: "print payhook's version, commit, commit date, target and runtime",
  usage: "payhook version [--json]",
  options: {
    json: { type: "boolean", help: "print them as one JSON object" },
  },
  async run({ io, runtime, values }) {
    const info = buildInfo(runtime);
    io.out(values.json ? JSON.stringify(info) : versionLine(info));
    return 0;
  },
};
