/** @module `payhook check`: validates a config and prints what it resolves to, with every secret redacted. */
import type { Action } from "../actions/types.ts";
import type { Command } from "../cli.ts";
import { resolveConfig } from "../config/resolve.ts";

export const configOption = {
  config: {
    type: "string",
    short: "c",
    arg: "FILE",
    help: "config file (default ./payhook.yaml if present, else the embedded default)",
  },
} as const;

export const check: Command = {
  name: "check",
  summary: "validate a config file and print its resolved routes (secrets redacted)",
  usage: "payhook check [--config FILE]",
  options: configOption,
  async run({ io, values }) {
    const config = resolveConfig(values.config as string | undefined, io.env);
    const describe = (a: Action) => `    - ${a.name}: ${a.kind}, up to ${a.retry.attempts} attempts`;
    io.out(`${config.source}: ok`);
    io.out(`listen: http://${config.listen.host}:${config.listen.port}`);
    io.out(`store: ${config.store}`);
    io.out("endpoints:");
    for (const e of config.endpoints) {
      io.out(
        `  POST ${e.path}: ${e.secrets.length} secret(s), redacted; tolerance ${e.tolerance}s; max_body ${e.maxBody} bytes`,
      );
    }
    io.out("routes:");
    for (const route of config.routes) io.out([`  ${route.pattern}`, ...route.actions.map(describe)].join("\n"));
    io.out(["  (unhandled)", ...config.unhandled.map(describe)].join("\n"));
    return 0;
  },
};
