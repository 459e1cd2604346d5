/** @module `payhook version`: the version of payhook and of the runtime under it. */
import pkg from "../../package.json" with { type: "json" };
import type { Command } from "../cli.ts";

export const VERSION: string = pkg.version;

export const version: Command = {
  name: "version",
  summary: "print payhook's version",
  usage: "payhook version",
  options: {},
  async run({ io, runtime }) {
    io.out(`payhook ${VERSION} (${runtime.name} ${runtime.version})`);
    return 0;
  },
};
