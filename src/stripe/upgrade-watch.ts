/**
 * @module The server's view of API-version upgrades: it reads the upgrades the store records every few seconds
 * (the accept path's copy rule follows it), and when it first sees a cutover, promotes the shadow path's unmatched
 * copies, then does so again for a while: a copy this server kept apart just before it saw the cutover is
 * promoted too (see upgrade.ts). It logs once that the old endpoint's secrets are retiring (until when), and once
 * that they retired. Nothing here runs on the accept path.
 */
import type { Config } from "../config/types.ts";
import { describe } from "../errors.ts";
import type { UpgradeState } from "../ingest/copies.ts";
import type { Logger } from "../log.ts";
import { iso, removalAdvice, retirements } from "../ops/rotation.ts";
import type { Store, Upgrade } from "../store/types.ts";
import { promoteCopies } from "./upgrade.ts";

export const WATCH_EVERY_MS = 2_000;
/** How long after a cutover this server keeps promoting copies it may have kept apart before it saw it. */
const SETTLE_MS = 60_000;

export interface UpgradeWatchOptions {
  store: Store;
  state: UpgradeState;
  config: () => Config;
  log: Logger;
  onStored(): void;
  everyMs?: number;
  now?: () => number;
}

export interface UpgradeWatch {
  /** Reads the upgrades once (before the server takes requests, so a restart starts with the right roles), then every few seconds. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createUpgradeWatch(options: UpgradeWatchOptions): UpgradeWatch {
  const { store, state, log } = options;
  const now = options.now ?? Date.now;
  const seenAt = new Map<string, number>();
  /** The old endpoints whose retirement this server has logged: "retiring", then "retired". */
  const told = new Map<string, "retiring" | "retired">();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;

  async function tick(): Promise<void> {
    const config = options.config();
    // Only a config with a shadow endpoint takes part; the others never read the table again.
    if (!config.endpoints.some((e) => e.shadowOf !== undefined)) return;
    try {
      const upgrades = await store.upgrades();
      state.set(upgrades);
      logRetirements(config, upgrades);
      for (const u of upgrades) {
        if (u.cutOverAt === null || !config.endpoints.some((e) => e.path === u.shadowPath)) continue;
        const first = seenAt.get(u.shadowPath) ?? now();
        if (!seenAt.has(u.shadowPath)) {
          log.info("API-version upgrade cut over: the shadow endpoint's events run the actions", {
            endpoint: u.shadowPath,
            kept_apart: u.livePath,
          });
        }
        seenAt.set(u.shadowPath, first);
        if (now() - first > SETTLE_MS) continue;
        const promoted = await promoteCopies(store, config.router, u, u.cutOverAt - SETTLE_MS);
        if (promoted > 0) {
          log.info("cutover: copies received before it now run", { endpoint: u.shadowPath, events: promoted });
          options.onStored();
        }
      }
    } catch (error) {
      log.warn("could not read the API-version upgrades; the next try follows", { error: describe(error) });
    }
  }

  /** Says once that an old endpoint's secrets are retiring (until when), and once that they are retired. */
  function logRetirements(config: Config, upgrades: readonly Upgrade[]): void {
    for (const r of retirements(config.endpoints, upgrades)) {
      const stage = now() < r.until ? "retiring" : "retired";
      if (told.get(r.endpoint) === stage) continue;
      told.set(r.endpoint, stage);
      const fields = { endpoint: r.endpoint, shadow: r.shadow, until: iso(r.until), todo: removalAdvice(r) };
      if (stage === "retiring") {
        log.info("the old endpoint's signing secrets are retiring: they verify Stripe's retries until then", fields);
      } else log.warn("the old endpoint's signing secrets are retired: events signed with them are refused", fields);
    }
  }

  function schedule(delay: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(() => {
        running = undefined;
        schedule(options.everyMs ?? WATCH_EVERY_MS);
      });
    }, delay);
  }

  return {
    async start() {
      await tick();
      schedule(options.everyMs ?? WATCH_EVERY_MS);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
