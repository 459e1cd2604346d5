/**
 * @module `payhook check`: validates a config, prints what it resolves to with every secret redacted, and lints
 * it (warnings on stderr; with --strict they make the exit code 2).
 */
import { readFileSync } from "node:fs";
import type { Action } from "../actions/types.ts";
import { formatFindings, lintConfig } from "../catalog/lint.ts";
import type { Command } from "../cli.ts";
import { DEFAULT_SOURCE } from "../config/default.ts";
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
  usage: "payhook check [--config FILE] [--strict]",
  options: {
    ...configOption,
    strict: { type: "boolean", help: "exit 2 when there are warnings, not only errors" },
  },
  async run({ io, values }) {
    const config = resolveConfig(values.config as string | undefined, io.env);
    const describe = (a: Action) => `    - ${a.name}: ${a.kind}, up to ${a.retry.attempts} attempts`;
    const findings = lintConfig(config);
    const text = config.source === DEFAULT_SOURCE ? undefined : readFileSync(config.source, "utf8");
    const warned = findings.length === 0 ? "" : `, ${findings.length} warning${findings.length > 1 ? "s" : ""}`;
    io.out(`${config.source}: ok${warned}`);
    io.out(`listen: ${config.listen.tls ? "https" : "http"}://${config.listen.host}:${config.listen.port}`);
    const { admin, allow_ips: allow, trusted_proxies: proxies } = config.file;
    if (admin) io.out(`admin: http://${admin.host}:${admin.port} (/healthz, /readyz, /metrics)`);
    if (allow?.length) io.out(`allow_ips: ${allow.join(", ")}${proxies?.length ? `; via ${proxies.join(", ")}` : ""}`);
    io.out(`store: ${config.store.label}`);
    io.out("endpoints:");
    for (const e of config.endpoints) {
      io.out(
        `  POST ${e.path}: ${e.secrets.length} secret(s), redacted; tolerance ${e.tolerance}s; max_body ${e.maxBody} bytes`,
      );
    }
    io.out("routes:");
    for (const route of config.routes) io.out([`  ${route.pattern}`, ...route.actions.map(describe)].join("\n"));
    io.out(["  (unhandled)", ...config.unhandled.map(describe)].join("\n"));
    for (const line of formatFindings(findings, config.source, text)) io.err(line);
    if (values.strict && findings.length > 0) {
      io.err(`${config.source}: --strict: ${findings.length} warning(s) count as errors`);
      return 2;
    }
    return 0;
  },
};
