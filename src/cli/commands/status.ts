/**
 * @module `payhook status`: the operator page's overview in a terminal: events per endpoint, each action's queue
 * and state (paused, breaker, rate), the store and its health, and on PostgreSQL the instances holding leases.
 */
import { resolveConfig } from "../../config/resolve.ts";
import { describe, UsageError } from "../../errors.ts";
import { VERSION } from "../../ops/build.ts";
import { actionStates } from "../../ops/control.ts";
import { retirementLine, retirements } from "../../ops/rotation.ts";
import { openStore } from "../../store/open.ts";
import { configOption } from "../options.ts";
import { table } from "../print/table.ts";
import type { Command } from "../types.ts";
import { actionTable, stateJson } from "./actions.ts";

const HOUR = 3_600_000;

export const status: Command = {
  name: "status",
  summary: "show events per endpoint, every action's queue and state, and the store's health",
  usage: "payhook status [--json]",
  options: { ...configOption, json: { type: "boolean", help: "print one JSON object" } },
  async run({ runtime, io, values, positionals }) {
    if (positionals.length > 0) throw new UsageError("status takes no arguments");
    const config = resolveConfig(values.config as string | undefined, io.env);
    const { store, close } = await openStore(runtime, config.store, { mustExist: true, version: VERSION });
    try {
      const now = Date.now();
      const [hour, day, states, holders, upgrades] = await Promise.all([
        store.endpointCounts(now - HOUR),
        store.endpointCounts(now - 24 * HOUR),
        actionStates(store, config.actions),
        store.leaseHolders(now),
        store.upgrades(),
      ]);
      let health = "ok";
      try {
        await store.checkWritable(2_000);
      } catch (error) {
        health = `not writable: ${describe(error)}`;
      }
      const retired = retirements(config.endpoints, upgrades);
      const labels = (path: string) => config.endpoints.find((e) => e.path === path)?.signing.map((s) => s.label) ?? [];
      const endpoints = config.endpoints.map((e) => {
        const r = retired.find((r) => r.endpoint === e.path);
        return {
          endpoint: e.path,
          last_hour: hour.find((c) => c.endpoint === e.path)?.events ?? 0,
          last_day: day.find((c) => c.endpoint === e.path)?.events ?? 0,
          // After an API-version cutover: its secrets verify until then (unix ms), and are refused from then on.
          ...(r ? { secrets_retire_at: r.until, secrets_retired: now >= r.until } : {}),
        };
      });
      if (values.json) {
        io.out(
          JSON.stringify({
            store: { kind: config.store.kind, label: config.store.label, health },
            endpoints,
            actions: states.map(stateJson),
            instances: holders,
          }),
        );
        return 0;
      }
      io.out(`Store: ${config.store.label} (${health})`);
      io.out("");
      const rows = endpoints.map((e) => [e.endpoint, String(e.last_hour), String(e.last_day)]);
      for (const line of table(["ENDPOINT", "LAST HOUR", "LAST DAY"], rows)) io.out(line);
      for (const r of retired) io.out(retirementLine(r, labels(r.endpoint), now));
      io.out("");
      for (const line of actionTable(states, now)) io.out(line);
      if (config.store.kind === "postgres") {
        io.out("");
        if (holders.length === 0) io.out("No instance holds a lease on a running delivery.");
        else
          for (const line of table(
            ["INSTANCE", "RUNNING"],
            holders.map((h) => [h.instance, String(h.running)]),
          ))
            io.out(line);
      }
      return 0;
    } finally {
      await close();
    }
  },
};
