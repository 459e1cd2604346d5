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
