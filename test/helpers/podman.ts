/**
 * @module podman for the package tests, with what works on a VM without systemd: root, runc, cgroupfs, vfs, and
 * explicit ulimits (the runtime may not raise them to its defaults). The archives come from `make package`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
export const PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--storage-driver", "vfs"];
/** Lower than any machine's hard limits, high enough for payhook. */
export const ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=1024:1024"];

export function packageVersion(): string {
  return (
    process.env.VERSION || (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version
  );
}

/** A file `make package` writes; a missing one fails the test with what to run (never a silent skip). */
export function packaged(name: string): string {
  const path = join(ROOT, "dist/packages", name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`make package\` first (make test does)`);
  return path;
}

export function podman(args: string[], input?: string): { code: number; out: string; err: string } {
  const result = spawnSync(PODMAN[0] as string, [...PODMAN.slice(1), ...args], {
    encoding: "utf8",
    input,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: result.status ?? -1, out: result.stdout, err: result.stderr };
}

/** podman, failing with its output unless it exits 0. */
export function mustPodman(args: string[]): string {
  const result = podman(args);
  if (result.code !== 0) throw new Error(`podman ${args.join(" ")} exited ${result.code}:\n${result.err}${result.out}`);
  return result.out;
}
