/**
 * @module `payhook incidents [--open] [--json]`: the alert incidents in the store, newest first: what opened,
 * how many times it was seen, and whether it is resolved. Safe while serve runs.
 */
import { resolveConfig } from "../../config/resolve.ts";
import { UsageError } from "../../errors.ts";
import { VERSION } from "../../ops/build.ts";
import { openStore } from "../../store/open.ts";
import type { Incident } from "../../store/types.ts";
import { configOption } from "../options.ts";
import type { Command } from "../types.ts";

const DEFAULT_LIMIT = 50;

export const incidents: Command = {
  name: "incidents",
  summary: "list alert incidents, open and resolved (safe while serve runs)",
  usage: "payhook incidents [--open] [--limit N] [--json] [--config FILE]",
  options: {
    ...configOption,
    open: { type: "boolean", help: "only incidents still open" },
    limit: { type: "string", arg: "N", help: `at most N incidents, newest first (default ${DEFAULT_LIMIT})` },
    json: { type: "boolean", help: "print JSON, one object per line" },
  },
  async run({ runtime, io, values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`incidents takes no arguments (got "${positionals[0]}")`);
    const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new UsageError(`--limit expects a positive integer, got "${values.limit}"`);
    const { store, close } = await openStore(
      runtime,
      resolveConfig(values.config as string | undefined, io.env).store,
      { mustExist: true, version: VERSION },
    );
    try {
      const found = await store.incidents({ open: values.open === true, limit });
      if (values.json) for (const i of found) io.out(JSON.stringify(incidentJson(i)));
      else if (found.length === 0) io.out(values.open ? "No incident is open." : "No incidents.");
      else for (const i of found) io.out(incidentLine(i));
      return 0;
    } finally {
      await close();
    }
  },
};

export function incidentJson(i: Incident): Record<string, unknown> {
  return {
    id: `inc_${i.id}`,
    key: i.key,
    rule: i.rule,
    state: i.resolvedAt === null ? "open" : "resolved",
    summary: i.summary,
    details: i.details,
    count: i.count,
    opened_at: new Date(i.openedAt).toISOString(),
    resolved_at: i.resolvedAt === null ? null : new Date(i.resolvedAt).toISOString(),
    updated_at: new Date(i.updatedAt).toISOString(),
  };
}

function incidentLine(i: Incident): string {
  const state = i.resolvedAt === null ? "OPEN    " : "resolved";
  const when = new Date(i.openedAt).toISOString();
  return `${state} inc_${i.id}  ${when}  ${i.rule.padEnd(15)} ${i.summary} (count ${i.count})`;
}
