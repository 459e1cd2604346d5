/** @module `payhook audit`: who replayed, retried, paused or resumed what, and when, newest first. */
import { resolveConfig } from "../../config/resolve.ts";
import { UsageError } from "../../errors.ts";
import { VERSION } from "../../ops/build.ts";
import { openStore } from "../../store/open.ts";
import { configOption } from "../options.ts";
import { table } from "../print/table.ts";
import type { Command } from "../types.ts";

const DEFAULT_LIMIT = 50;

export const audit: Command = {
  name: "audit",
  summary: "list operators' acts (replay, retry, pause, resume) with who, when, what and how many",
  usage: "payhook audit [--limit N] [--json]",
  options: {
    ...configOption,
    limit: { type: "string", arg: "N", help: `at most N acts, newest first (default ${DEFAULT_LIMIT})` },
    json: { type: "boolean", help: "print JSON, one object per act" },
  },
  async run({ runtime, io, values, positionals }) {
    if (positionals.length > 0) throw new UsageError("audit takes no arguments");
    const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new UsageError(`--limit must be a whole number from 1, got "${values.limit}"`);
    const config = resolveConfig(values.config as string | undefined, io.env);
    const { store, close } = await openStore(runtime, config.store, { mustExist: true, version: VERSION });
    try {
      const acts = await store.auditTrail(limit);
      const iso = (ms: number) => new Date(ms).toISOString();
      if (values.json) {
        for (const a of acts)
          io.out(JSON.stringify({ at: iso(a.at), who: a.who, act: a.act, target: a.target, count: a.count }));
      } else if (acts.length === 0) io.out("No acts recorded yet.");
      else {
        const rows = acts.map((a) => [iso(a.at), a.who, a.act, String(a.count), a.target]);
        for (const line of table(["AT", "WHO", "ACT", "COUNT", "TARGET"], rows)) io.out(line);
      }
      return 0;
    } finally {
      await close();
    }
  },
};
