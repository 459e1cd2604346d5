/**
 * @module Preloaded by bunfig.toml: once every test file has run, servers a failed test left running are killed
 * and temporary folders removed (PAYHOOK_KEEP_TEMP=1 keeps the folders for a look). `bun test` runs no
 * process "exit" handlers, so this is a global afterAll.
 */
import { afterAll } from "bun:test";
import { rmSync } from "node:fs";

const children = new Set<{ kill(signal?: number | NodeJS.Signals): void }>();
const folders: string[] = [];

export function trackChild(child: { kill(signal?: number | NodeJS.Signals): void; exited: Promise<number> }): void {
  children.add(child);
  void child.exited.then(() => children.delete(child));
}

export function trackFolder(folder: string): void {
  folders.push(folder);
}

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  if (process.env.PAYHOOK_KEEP_TEMP) return;
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});
