/**
 * @module Config reload on SIGHUP and, with --watch, when the file changes. A new config is used only if it is
 * valid as a whole; otherwise its errors are logged and the running one keeps serving. Deliveries keep the
 * action they were created with: every action this process has loaded stays resolvable by name and digest.
 */
import type { Action } from "../actions/types.ts";
import { runtimeBodyCap } from "../config/body-cap.ts";
import type { Config } from "../config/types.ts";
import { ConfigError, describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Runtime } from "../runtime/types.ts";
import { sameStore } from "../store/settings.ts";
import type { Runnable } from "../store/types.ts";
import { watchFile } from "./watch-file.ts";

/** Every action seen by this process, keyed by name and settings digest. */
export class ActionRegistry {
  private readonly seen = new Map<string, Action>();
  private current: Config;
  private cached: Runnable | undefined;

  constructor(config: Config) {
    this.current = config;
    this.add(config);
  }

  /** Makes `config` the current one and remembers its actions. */
  use(config: Config): void {
    this.current = config;
    this.add(config);
  }

  /**
   * The action a delivery was created with; when this process never loaded that version (it was created
   * before a restart), the current config's action of that name.
   */
  resolve(name: string, digest: string): Action | undefined {
    return this.seen.get(key(name, digest)) ?? this.current.actions.get(name);
  }

  /** The current config's action of this name: its rate and breaker apply to every delivery of it. */
  latest(name: string): Action | undefined {
    return this.current.actions.get(name);
  }

  /** What the worker may claim: every version loaded, and the current names (see Runnable). */
  runnable(): Runnable {
    if (!this.cached) {
      const versions = [...this.seen.values()].map((a) => [a.name, a.digest] as const);
      this.cached = { versions, names: [...this.current.actions.keys()] };
    }
    return this.cached;
  }

  private add(config: Config): void {
    for (const action of config.actions.values()) this.seen.set(key(action.name, action.digest), action);
    this.cached = undefined;
  }
}

export interface ReloaderOptions {
  /** The config file, or undefined for the embedded default (which cannot change). */
  path: string | undefined;
  /** Reads and validates the file; throws ConfigError. */
  load(path: string): Config;
  /** Puts a valid new config into service. */
  apply(next: Config): void;
  /** Told of every attempt, for metrics. */
  onResult?(ok: boolean): void;
  runtime: Runtime;
  log: Logger;
  watch: boolean;
  /** Quiet time after the last file change before reloading: editors write a file in several steps. */
  debounceMs?: number;
}

export interface Reloader {
  /** Reloads now; resolves true when the new config was applied. */
  reload(trigger: string): Promise<boolean>;
  stop(): void;
}

export function startReloader(options: ReloaderOptions): Reloader {
  const { path, log } = options;
  let running: Promise<boolean> | undefined;
  let again: string | undefined;

  async function reload(trigger: string): Promise<boolean> {
    if (path === undefined) {
      log.warn("the embedded default config cannot be reloaded; start payhook with --config FILE", { trigger });
      return false;
    }
    // One reload at a time; a request that arrives meanwhile runs once afterwards, on the newest file.
    if (running) {
      again = trigger;
      return running;
    }
    running = (async () => {
      try {
        const next = options.load(path);
        options.apply(next);
        options.onResult?.(true);
        log.info("config reloaded", {
          config: path,
          trigger,
          endpoints: next.endpoints.map((e) => e.path),
          routes: next.routes.length,
        });
        return true;
      } catch (error) {
        options.onResult?.(false);
        const errors = error instanceof ConfigError ? error.problems : [describe(error)];
        log.error("config reload refused; the previous config keeps serving", { config: path, trigger, errors });
        return false;
      }
    })();
    try {
      return await running;
    } finally {
      running = undefined;
      if (again !== undefined) {
        const next = again;
        again = undefined;
        void reload(next);
      }
    }
  }

  const offSignal = options.runtime.onSignal("SIGHUP", () => void reload("SIGHUP"));
  const stopWatching =
    options.watch && path !== undefined
      ? watchFile(path, () => void reload("watch"), { debounceMs: options.debounceMs ?? 200, log })
      : () => {};
  if (options.watch && path === undefined) log.warn("--watch has no file to watch: the embedded default is in use");

  return {
    reload,
    stop() {
      offSignal();
      stopWatching();
    },
  };
}

function key(name: string, digest: string): string {
  return `${digest}\u0000${name}`;
}

/** What a running server cannot change: settings of `next` that differ and wait for the next restart. */
export function restartOnly(previous: Config, next: Config): string[] {
  const changed: string[] = [];
  if (JSON.stringify(previous.listen) !== JSON.stringify(next.listen)) changed.push("listen");
  if (!sameStore(previous.store, next.store)) changed.push("store");
  if (previous.concurrency !== next.concurrency) changed.push("concurrency");
  if (JSON.stringify(previous.file.admin) !== JSON.stringify(next.file.admin)) changed.push("admin");
  // Compared whole, key included; only the section's name is ever reported.
  if (JSON.stringify(previous.stripe) !== JSON.stringify(next.stripe)) changed.push("stripe");
  const largest = Math.max(...next.endpoints.map((e) => e.maxBody));
  if (largest > runtimeBodyCap(previous.endpoints))
    changed.push("endpoints[].max_body (raised past the runtime's cap)");
  return changed;
}
