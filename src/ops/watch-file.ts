/**
 * @module Watching the config file for `serve --watch`, however it is replaced. Editors and config tools rename a
 * new file over the old one, which ends a watch on the old inode, so the file's folder is watched. A Kubernetes
 * ConfigMap volume goes further: the file is a symlink through `..data`, itself a symlink to a timestamped folder,
 * and an update makes a new folder and swaps `..data`, so nothing named like the file changes. So a change of
 * where the path leads counts too, and the folder of the file it leads to is watched as well (in-place edits).
 */
import { type FSWatcher, realpathSync, watch } from "node:fs";
import { basename, dirname } from "node:path";
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface WatchOptions {
  /** Quiet time after the last change before `onChange`: editors write a file in several steps. */
  debounceMs: number;
  log: Logger;
}

/** Calls `onChange` after the file at `path` changes; returns a function that stops watching. */
export function watchFile(path: string, onChange: () => void, options: WatchOptions): () => void {
  const { debounceMs, log } = options;
  const name = basename(path);
  let target = leadsTo(path);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let check: ReturnType<typeof setTimeout> | undefined;
  let targetWatcher: FSWatcher | undefined;

  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  // Any change in the folder may be a symlink swap: once it settles, see whether the path leads elsewhere.
  const recheck = () => {
    clearTimeout(check);
    check = setTimeout(() => {
      const now = leadsTo(path);
      if (now === target) return;
      target = now;
      watchTarget();
      changed();
    }, debounceMs);
  };
  function watchTarget(): void {
    targetWatcher?.close();
    targetWatcher = undefined;
    if (target === undefined || dirname(target) === dirname(path)) return;
    const file = basename(target);
    try {
      targetWatcher = watch(dirname(target), (_event, f) => {
        if (f === null || String(f) === file) changed();
      });
      // The old folder of a swapped ConfigMap is deleted: the next recheck watches the new one.
      targetWatcher.on("error", () => {});
    } catch {
      // The folder is gone already; the watch on the path's own folder still sees the next swap.
    }
  }

  try {
    const watcher = watch(dirname(path), (_event, f) => {
      if (f === null || String(f) === name) changed();
      recheck();
    });
    watcher.on("error", (error) => log.error("--watch stopped", { config: path, error: describe(error) }));
    watchTarget();
    log.info("watching the config file for changes", {
      config: path,
      ...(target !== undefined && target !== path ? { target } : {}),
    });
    return () => {
      clearTimeout(timer);
      clearTimeout(check);
      targetWatcher?.close();
      watcher.close();
    };
  } catch (error) {
    log.error("--watch cannot watch the config file; reload with SIGHUP instead", {
      config: path,
      error: describe(error),
    });
    return () => {};
  }
}

/** The file `path` leads to through every symlink, or undefined while it leads nowhere. */
function leadsTo(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}
