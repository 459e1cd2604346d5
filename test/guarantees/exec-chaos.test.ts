/**
 * @module Exec chaos: programs that misbehave every way a hook runner's scripts do (exit at once without reading
 * stdin, close it, read one byte, write 100 MB to stdout and stderr, leave a child holding the pipes, die by a
 * signal, hang, exec into another program). One server runs them all on one event big enough to fill the stdin
 * pipe; serve stays up and each delivery ends as the exec outcome table in the docs says (exit 0 done; 75, a
 * timeout or a signal retried; any other exit failed). Runs on Deno too (`make test-deno`, PAYHOOK_CMD).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RunningServer, startServer, tempDir, testConfig, waitUntil } from "../helpers/server.ts";
import { queryStore } from "../helpers/store.ts";
import { deliver, event, idOf } from "../helpers/stripe.ts";

setDefaultTimeout(60_000);

/** Each program as a shell script; $1 is a folder for what a script wants the test to see. */
const PROGRAMS: Record<string, string> = {
  "exit-0": "exit 0",
  // Asks for a retry at once, then succeeds, never reading its input.
  "exit-75": '[ "$PAYHOOK_ATTEMPT" = 1 ] && exit 75\nexit 0',
  "exit-3": "exit 3",
  "close-stdin": "exec 0<&-\nsleep 0.2\nexit 0",
  "one-byte": "head -c 1 >/dev/null\nsleep 0.2\nexit 0",
  flood: "yes stdout | head -c 100000000\nyes stderr | head -c 100000000 >&2\nexit 0",
  // The child keeps stdin, stdout and stderr open long after the program exits.
  orphan: 'sleep 30 &\necho "$!" >"$1/orphan.$PAYHOOK_EVENT_ID"\nexit 0',
  signal: "kill -KILL $$",
  hang: "sleep 30",
  // wc reads the whole event and prints its size: the bytes reach the program that replaced the script.
  "exec-wc": "exec wc -c",
};

let server: RunningServer;
let dir: string;
let scripts: string;
let id: string;
let size: number;

beforeAll(async () => {
  scripts = tempDir("payhook-chaos-");
  const actions = Object.entries(PROGRAMS).map(([name, body]) => {
    const file = join(scripts, `${name}.sh`);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
    // Only the hang meets its timeout; 200 MB through two pipes may take seconds on a loaded machine.
    const timeout = name === "hang" ? "500ms" : "30s";
    return `    - name: ${name}\n      exec: { command: ["${file}", "${scripts}"], timeout: ${timeout} }`;
  });
  server = await startServer({
    config: testConfig(
      `handlers:\n  "*":\n${actions.join("\n")}\nretry: { attempts: 2, schedule: [10ms], jitter: 0 }\n`,
    ),
  });
  dir = server.dir;
  // Larger than a pipe's buffer (64 KiB): writing it blocks until the program reads, exits or closes stdin.
  const payload = event("payment_intent.succeeded", {
    data: { object: { id: "pi_chaos", object: "payment_intent", metadata: { pad: "x".repeat(300_000) } } },
  });
  size = new TextEncoder().encode(payload).byteLength;
  expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
  id = idOf(payload);
  const open = () =>
    queryStore<{ n: number }>(dir, "SELECT COUNT(*) AS n FROM deliveries WHERE status IN ('pending', 'running')")[0]?.n;
  await waitUntil(() => open() === 0, 45_000, "every chaos delivery finished");
});

afterAll(async () => {
  await server?.kill();
});

type Row = { status: string; attempts: number; error: string | null; output: string | null };

/** The delivery of `action` and its attempts, oldest first. */
function outcome(action: string): { status: string; attempts: Row[] } {
  const attempts = queryStore<Row>(
    dir,
    "SELECT d.status, d.attempts, a.error, a.output FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event_id = ? AND d.action = ? ORDER BY a.attempt",
    id,
    action,
  );
  return { status: attempts[0]?.status ?? "none", attempts };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("exec chaos", () => {
  test("serve stays up through every program and still takes events", async () => {
    const exited = await Promise.race([server.exited, Bun.sleep(100).then(() => "running")]);
    expect(exited).toBe("running");
    expect((await deliver(`${server.url}/webhook`, event("invoice.paid"))).status).toBe(200);
  });

  test("a program that exits 0 at once without reading its input is done", () => {
    expect(outcome("exit-0")).toMatchObject({ status: "done", attempts: [{ error: null }] });
  });

  test("exit 75 without reading its input is retried, then done", () => {
    const { status, attempts } = outcome("exit-75");
    expect(status).toBe("done");
    expect(attempts.map((a) => a.error)).toEqual([expect.stringContaining("exited with 75"), null]);
  });

  test("any other exit without reading its input fails at once, not retried", () => {
    const { status, attempts } = outcome("exit-3");
    expect(status).toBe("failed");
    expect(attempts).toHaveLength(1);
    expect(attempts[0]?.error).toContain("exited with 3");
  });

  test("a program that closes stdin, or reads one byte of it, is done", () => {
    expect(outcome("close-stdin")).toMatchObject({ status: "done", attempts: [{ error: null }] });
    expect(outcome("one-byte")).toMatchObject({ status: "done", attempts: [{ error: null }] });
  });

  test("100 MB on stdout and on stderr: done, with only the output cap kept", () => {
    const { status, attempts } = outcome("flood");
    expect(status).toBe("done");
    const output = attempts[0]?.output ?? "";
    expect(output.length).toBeLessThanOrEqual(64 * 1024 + 200);
    expect(output).toContain("stdout:\nstdout\n");
    expect(output).toContain("stderr:\nstderr\n");
    expect(output).toMatch(/more bytes not kept/);
  });

  test("a child left holding the pipes does not hold the delivery, and is ended", async () => {
    expect(outcome("orphan")).toMatchObject({ status: "done", attempts: [{ error: null }] });
    const pid = Number(readFileSync(join(scripts, `orphan.${id}`), "utf8").trim());
    await waitUntil(() => !alive(pid), 10_000, "the orphaned child ended");
  });

  test("death by a signal is retried", () => {
    const { status, attempts } = outcome("signal");
    expect(status).toBe("dead");
    expect(attempts.map((a) => a.error)).toEqual([
      expect.stringContaining("killed by SIGKILL"),
      expect.stringContaining("killed by SIGKILL"),
    ]);
  });

  test("a program that hangs is ended at its timeout and retried", () => {
    const { status, attempts } = outcome("hang");
    expect(status).toBe("dead");
    expect(attempts).toHaveLength(2);
    for (const a of attempts) expect(a.error).toContain("longer than its timeout of 500 ms");
  });

  test("a script that execs into another program hands it the whole event", () => {
    const { status, attempts } = outcome("exec-wc");
    expect(status).toBe("done");
    expect(attempts[0]?.output?.trim()).toBe(`stdout:\n${size}`);
  });
});
