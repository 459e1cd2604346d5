/**
 * @module `payhook catch-up`: fetches the events of a time window from Stripe's Events API and stores the ones
 * payhook does not have yet, as if Stripe had pushed them; a running (or the next) `payhook serve` runs their
 * actions. Safe to repeat and to run while serve runs: the event id deduplicates.
 */
import process from "node:process";
import { resolveConfig } from "../../config/resolve.ts";
import { STRIPE_RETENTION_MS } from "../../config/schema.ts";
import { UsageError } from "../../errors.ts";
import { VERSION } from "../../ops/build.ts";
import { openStore } from "../../store/open.ts";
import { apiFor } from "../../stripe/access.ts";
import { CatchUpError, type CatchUpSummary, catchUp } from "../../stripe/catchup.ts";
import { parseDuration } from "../../utils/units.ts";
import { configOption } from "../options.ts";
import type { Command } from "../types.ts";

const DEFAULT_SINCE = "3d";

export const catchUpCommand: Command = {
  name: "catch-up",
  summary: "fetch the events of a time window from Stripe's API and store the ones payhook missed",
  usage: "payhook catch-up [--since DURATION | --from TIME] [--dry-run] [--json] [--config FILE]",
  options: {
    ...configOption,
    since: {
      type: "string",
      arg: "DURATION",
      help: `events created within this long, such as 24h or 7d (default ${DEFAULT_SINCE}, at most 30d)`,
    },
    from: {
      type: "string",
      arg: "TIME",
      help: "events created at or after this time (ISO 8601 such as 2026-11-30T12:00:00Z, or unix seconds)",
    },
    "dry-run": { type: "boolean", help: "list and count what would be stored, store nothing" },
    json: { type: "boolean", help: "print a JSON summary on stdout" },
  },
  async run({ runtime, io, values, positionals, log }) {
    if (positionals.length > 0) throw new UsageError(`catch-up takes no arguments (got "${positionals[0]}")`);
    const nowMs = Date.now();
    const from = windowStart(values.since as string | undefined, values.from as string | undefined, nowMs);
    const config = resolveConfig(values.config as string | undefined, io.env);
    const api = apiFor(config, "catch-up", runtime, log);
    // A dry run compares with the store and writes nothing, so there must be one: it does not create a SQLite file.
    const { store, close } = await openStore(runtime, config.store, {
      mustExist: values["dry-run"] === true,
      readOnly: values["dry-run"] === true,
      version: VERSION,
    });
    const tty = process.stderr.isTTY === true && !values.json;
    try {
      const summary = await catchUp({
        api,
        store,
        routes: config.routes,
        router: config.router,
        unhandled: config.unhandled,
        from: Math.floor(from / 1000),
        to: Math.floor(nowMs / 1000),
        dryRun: values["dry-run"] === true,
        onProgress: (p) => {
          if (tty) {
            io.err(`catch-up: page ${p.pages}, ${p.seen} events seen, ${p.stored} new, ${p.duplicates} already stored`);
          }
        },
      });
      report(summary, values.json === true, io.out);
      return 0;
    } catch (error) {
      if (!(error instanceof CatchUpError)) throw error;
      const s = error.summary;
      report(s, values.json === true, io.out);
      io.err(`payhook: catch-up stopped part way: ${s.error}`);
      io.err(
        `Every event created before ${s.resume_from} that needed storing is stored; run \`payhook catch-up --from ${s.resume_from}\` to finish (it is safe to repeat).`,
      );
      return 1;
    } finally {
      await close();
    }
  },
};

/** The window's start in unix ms, refusing one that reaches past Stripe's 30 days. */
function windowStart(since: string | undefined, from: string | undefined, now: number): number {
  if (since !== undefined && from !== undefined) throw new UsageError("give --since or --from, not both");
  let start: number;
  if (from !== undefined) {
    start = /^[0-9]{1,12}$/.test(from) ? Number(from) * 1000 : Date.parse(from);
    if (!Number.isFinite(start) || !/^[0-9]/.test(from)) {
      throw new UsageError(`--from expects a time such as 2026-11-30T12:00:00Z or unix seconds, got "${from}"`);
    }
    if (start > now) throw new UsageError(`--from ${from} is in the future`);
  } else {
    let ms: number;
    try {
      ms = parseDuration(since ?? DEFAULT_SINCE);
    } catch {
      throw new UsageError(`--since expects a duration such as 24h or 7d, got "${since}"`);
    }
    start = now - ms;
  }
  if (now - start > STRIPE_RETENTION_MS) {
    throw new UsageError(
      "the window reaches back more than 30 days, and Stripe's Events API keeps events for 30 days only; use --since 30d or less (older events can only come from Stripe's Dashboard exports)",
    );
  }
  return start;
}

function report(summary: CatchUpSummary, json: boolean, out: (line: string) => void): void {
  if (json) {
    out(JSON.stringify(summary));
    return;
  }
  const verb = summary.dry_run ? "would store" : "stored";
  out(
    `catch-up ${summary.complete ? "complete" : "incomplete"}: ${summary.from} to ${summary.to}; ${summary.pages} pages, ${summary.seen} events seen, ${verb} ${summary.stored} new, ${summary.duplicates} already stored, ${summary.ignored} not handled`,
  );
  if (summary.stored > 0 && !summary.dry_run) {
    out("a running payhook serve on this store runs their actions within a second; otherwise the next start does");
  }
}
