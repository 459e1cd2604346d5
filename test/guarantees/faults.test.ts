/**
 * @module Fault rows (reliability notes F7, F9, F12, F13, F25) against the compiled binary: a poison event that
 * kills payhook every time it runs, a store whose disk fills up, senders with a skewed clock, SIGTERM under load,
 * and a burst. Each asserts the row's pass criterion: nothing acknowledged is lost, and payhook recovers.
 */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { type RunningServer, startServer, tempDir, testConfig, waitUntil } from "../helpers/server.ts";
import { deliver, event, idOf } from "../helpers/stripe.ts";

function query<T>(dir: string, sql: string, ...params: string[]): T[] {
  const db = new Database(join(dir, "payhook.db"), { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

const count = (dir: string, where: string) =>
  query<{ n: number }>(dir, `SELECT COUNT(*) AS n FROM deliveries WHERE ${where}`)[0]?.n ?? 0;

/** Every id in `ids` that the store does not hold. */
function missing(dir: string, ids: Iterable<string>): string[] {
  const stored = new Set(query<{ id: string }>(dir, "SELECT id FROM events").map((r) => r.id));
  return [...ids].filter((id) => !stored.has(id));
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers) await s.kill();
  servers = [];
});

async function start(config: string, dir: string): Promise<RunningServer> {
  const server = await startServer({ config, dir });
  servers.push(server);
  return server;
}

describe("F7 poison event", () => {
  const attempts = 3;

  /** Polls until payhook exits (a crash) or the delivery is dead, whichever comes first; bounded. */
  async function crashOrDead(server: RunningServer, dir: string, eventId: string): Promise<"crashed" | "dead"> {
    let exited = false;
    void server.exited.then(() => {
      exited = true;
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) return "crashed";
      const [row] = query<{ status: string }>(dir, "SELECT status FROM deliveries WHERE event_id = ?", eventId);
      if (row?.status === "dead") return "dead";
      if (Date.now() > deadline) throw new Error("payhook neither crashed nor gave the poison delivery up in 30 s");
      await pause(10);
    }
  }

  test(`F7 an action that kills payhook every time it runs: ${attempts} crashes, then the delivery is dead and payhook serves normally (stable within attempts + 1 restarts)`, async () => {
    const dir = tempDir("payhook-f7-");
    // The exec's parent is payhook itself: each run SIGKILLs it, as an OOM kill or a segfault in an action would.
    writeFileSync(join(dir, "poison.sh"), '#!/bin/sh\necho "$PAYHOOK_ATTEMPT" >> runs.txt\nkill -9 "$PPID"\n', {
      mode: 0o755,
    });
    const config = testConfig(`handlers:
  payment_intent.succeeded:
    - name: poison
      exec: { command: ["./poison.sh"] }
unhandled:
  - name: line
    log: "served {{id}}"
retry: { attempts: ${attempts}, schedule: [10ms], jitter: 0 }
`);
    const poison = event("payment_intent.succeeded");
    let crashes = 0;
    let restarts = -1;
    let stable: RunningServer | undefined;
    // Like systemd's Restart=on-failure: start again after every crash, but give up past attempts + 1 restarts.
    while (!stable && restarts < attempts + 1) {
      restarts += 1;
      let server: RunningServer;
      try {
        server = await start(config, dir);
      } catch (error) {
        // The worker starts before the listener, so a run can kill payhook before it says it is listening.
        if (!/exited with .* before listening/.test(String(error))) throw error;
        crashes += 1;
        continue;
      }
      if (restarts === 0) expect((await deliver(`${server.url}/webhook`, poison)).status).toBe(200);
      if ((await crashOrDead(server, dir, idOf(poison))) === "crashed") crashes += 1;
      else stable = server;
    }
    console.log(
      `F7 poison event: ${crashes} crashes, ${stable ? "stable" : "still crashing"} after ${restarts} restarts (attempts: ${attempts})`,
    );
    expect(stable).toBeDefined();
    expect(restarts).toBeLessThanOrEqual(attempts + 1);
    // Each crash used up one attempt: the action ran exactly `attempts` times, and never again.
    expect(crashes).toBe(attempts);
    expect((await Bun.file(join(dir, "runs.txt")).text()).trim().split("\n")).toEqual(["1", "2", "3"]);
    const [row] = query<{ status: string; last_error: string }>(
      dir,
      "SELECT status, last_error FROM deliveries WHERE event_id = ?",
      idOf(poison),
    );
    expect(row?.status).toBe("dead");
    expect(row?.last_error).toMatch(/never finished/);

    // And it serves normally: another event is acknowledged and its action runs, then a clean stop.
    const server = stable as RunningServer;
    const normal = event("customer.created");
    expect((await deliver(`${server.url}/webhook`, normal)).status).toBe(200);
    await server.waitForStdout(`served ${idOf(normal)}`);
    expect(await server.stop()).toBe(0);
  }, 120_000);
});

/** Mounts a tmpfs of `size` on `dir`; the reason it cannot, or null. */
function mountTmpfs(dir: string, size: string): string | null {
  const result = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" });
  if (result.error) return result.error.message;
  return result.status === 0 ? null : result.stderr.trim() || `mount exited with ${result.status}`;
}

function unmount(dir: string): void {
  spawnSync("umount", ["-l", dir]);
}

/** Why this machine cannot run the disk-full test (mounting a small tmpfs needs root), or null if it can. */
const cannotMount = (() => {
  const probe = tempDir("payhook-f9-probe-");
  const reason = mountTmpfs(probe, "64k");
  if (reason === null) unmount(probe);
  rmSync(probe, { recursive: true, force: true });
  return reason;
})();
if (cannotMount !== null) {
  console.warn(
    `F9 disk full is skipped: a small tmpfs cannot be mounted here (${cannotMount}); run as root to test it`,
  );
}

/** Writes to `path` until the file system is full; returns the bytes written. */
function fill(path: string): number {
  const fd = openSync(path, "w");
  let written = 0;
  try {
    for (const size of [64 * 1024, 4096, 512, 1]) {
      const chunk = new Uint8Array(size);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe("F9 disk full", () => {
  test.skipIf(cannotMount !== null)(
    "F9 the store's disk fills up: 503 (never 2xx) while full, an action's result is kept until it can be stored, nothing acknowledged lost, 200 again once space returns",
    async () => {
      const dir = tempDir("payhook-f9-");
      // Outside the small file system: an action that waits for a gate file, and the log of its runs.
      const outside = tempDir("payhook-f9-gate-");
      const gate = join(outside, "go");
      const runs = join(outside, "runs.txt");
      writeFileSync(
        join(outside, "held.sh"),
        `#!/bin/sh\nwhile [ ! -e "$1" ]; do sleep 0.01; done\necho "$PAYHOOK_IDEMPOTENCY_KEY" >> "$2"\n`,
        { mode: 0o755 },
      );
      expect(mountTmpfs(dir, "2m")).toBeNull();
      try {
        const config = testConfig(`handlers:
  customer.held:
    - name: held
      exec: { command: ["${join(outside, "held.sh")}", "${gate}", "${runs}"] }
unhandled:
  - name: line
    log: "ran {{id}}"
retry: { attempts: 3, schedule: [10ms], jitter: 0 }
`);
        let server = await start(config, dir);
        const url = () => `${server.url}/webhook`;
        const acked = new Set<string>();
        // A big event needs fresh pages in the WAL, which a full disk cannot give.
        const big = () =>
          event("customer.updated", { data: { object: { id: "cus_f9", note: "x".repeat(48 * 1024) } } });
        const send = async (payload: string) => {
          const response = await deliver(url(), payload);
          const body = (await response.json()) as { error?: { code: string } };
          if (response.status === 200) acked.add(idOf(payload));
          return { status: response.status, code: body.error?.code };
        };
        for (let i = 0; i < 5; i++) expect((await send(big())).status).toBe(200);
        await waitUntil(() => count(dir, "status <> 'done'") === 0, 15_000, "the first deliveries done");
        // An action in flight when the disk fills: it ends while full, so its result cannot be stored yet.
        const held = event("customer.held");
        expect((await send(held)).status).toBe(200);
        await waitUntil(() => count(dir, "status = 'running'") === 1, 15_000, "the held action running");

        const filler = join(dir, "filler");
        const filled = fill(filler);
        const whileFull = [];
        for (let i = 0; i < 20; i++) whileFull.push(await send(i % 2 ? big() : event("customer.created")));
        const ready = await fetch(`${server.url}/readyz`);
        console.log(
          `F9 disk full: filled ${filled} bytes; while full: ${JSON.stringify(whileFull.map((r) => r.status))}, readyz ${ready.status}`,
        );
        // Never a 2xx without a commit: a refusal is a 503 naming the store, so Stripe delivers it again.
        for (const r of whileFull) {
          if (r.status !== 200) expect(r).toEqual({ status: 503, code: "store_unavailable" });
        }
        expect(whileFull.filter((r) => r.status === 503).length).toBeGreaterThan(0);
        expect(ready.status).toBe(503);
        writeFileSync(gate, "");
        await server.waitForStderr("could not record an attempt");
        expect(count(dir, "status = 'running'")).toBe(1);

        rmSync(filler);
        // Space is back: Stripe's redeliveries and new events are accepted again, and their actions run.
        for (let i = 0; i < 10; i++) expect((await send(i % 2 ? big() : event("customer.created"))).status).toBe(200);
        expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
        await waitUntil(() => count(dir, "status <> 'done'") === 0, 30_000, "every delivery done once space returned");
        // The held action's result was stored without a restart, and it was not run again for it.
        expect(
          query<{ attempts: number }>(dir, "SELECT attempts FROM deliveries WHERE event_id = ?", idOf(held)),
        ).toEqual([{ attempts: 1 }]);
        expect((await Bun.file(runs).text()).trim().split("\n")).toEqual([`${idOf(held)}:held`]);

        // Acknowledged means durable: after a kill -9 and a restart, every acknowledged event is there.
        await server.kill();
        server = await start(config, dir);
        expect(missing(dir, acked)).toEqual([]);
        expect(query<{ integrity_check: string }>(dir, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }]);
        expect(await server.stop()).toBe(0);
      } finally {
        for (const s of servers) await s.kill();
        servers = [];
        unmount(dir);
      }
    },
    60_000,
  );
});
