/**
 * @module Probes of the compiled binary, each kept as a guarantee (docs/guarantees.md#measured, "Probes"): what a hostile client, a hostile
 * (but correctly signed) event or a careless operator did to payhook, and what payhook must do instead.
 */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { createLogger } from "../../src/log.ts";
import { attemptOf, compile } from "../helpers/actions.ts";
import { trackChild } from "../helpers/cleanup.ts";
import { SENTINEL } from "../helpers/sentinels.ts";
import {
  freePort,
  payhookCommand,
  type RunningServer,
  runPayhook,
  startServer,
  tempDir,
  testConfig,
  waitUntil,
} from "../helpers/server.ts";
import { queryStore } from "../helpers/store.ts";
import { deliver, event, idOf, sign } from "../helpers/stripe.ts";

// Bounds for a busy 2-core machine, not timing assertions.
setDefaultTimeout(60_000);

let servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers) await s.kill();
  servers = [];
});

async function start(config: string, options: { dir?: string; env?: Record<string, string> } = {}) {
  const server = await startServer({ config, ...options });
  servers.push(server);
  return server;
}

/** Whether the payhook under test runs on Deno (PAYHOOK_CMD, or a deno compile binary). */
const ON_DENO = /deno/.test(`${process.env.PAYHOOK_CMD ?? ""} ${process.env.PAYHOOK_BINARY ?? ""}`);

const LOG_CONFIG = testConfig(`handlers:
  "*":
    - name: line
      log: "got {{id}}"
`);

/** A raw HTTP/1.1 connection to the server, collecting everything it answers. */
function rawConnection(port: number): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = connect(port, "127.0.0.1");
  let text = "";
  socket.on("data", (chunk) => {
    text += chunk.toString("latin1");
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  return { socket, received: () => text, closed };
}

describe("1 a chunked body over max_body", () => {
  for (const [name, chunkSize] of [
    ["in 64 KB chunks", 64 * 1024],
    ["in one 1.1 MB chunk", 1_100_000],
  ] as const) {
    test(`sent quickly ${name}: 413 body_too_large, the connection closed, a warning logged`, async () => {
      const server = await start(LOG_CONFIG);
      const body = event("payment_intent.succeeded", { padding: "x".repeat(1_150_000) });
      const header = await sign(body);
      const { socket, received, closed } = rawConnection(server.port);
      socket.write(
        `POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nStripe-Signature: ${header}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      const bytes = Buffer.from(body);
      for (let at = 0; at < bytes.length; at += chunkSize) {
        const chunk = bytes.subarray(at, at + chunkSize);
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write("\r\n");
      }
      socket.write("0\r\n\r\n");
      await waitUntil(() => received().includes("\r\n\r\n"), 15_000, "an answer");
      expect(received()).toStartWith("HTTP/1.1 413");
      expect(received()).toContain("body_too_large");
      expect(received().toLowerCase()).toContain("\r\nconnection: close\r\n");
      // Closed by payhook, not by the runtime's 10 s idle timeout much later. Deno.serve sends the same
      // Connection: close but keeps the connection open until the client leaves (a known gap, docs/guarantees.md#measured).
      if (!ON_DENO) await Promise.race([closed, waitUntil(() => false, 5_000, "the connection to close")]);
      const line = await server.waitForStderr('"code":"body_too_large"');
      expect(JSON.parse(line).level).toBe("warn");
    });
  }

  test("SIGTERM while a client keeps a request body open: payhook still exits, within the grace period", async () => {
    const server = await start(LOG_CONFIG);
    const header = await sign(event());
    const { socket, received } = rawConnection(server.port);
    socket.write(
      `POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nStripe-Signature: ${header}\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    // A byte every 100 ms: never idle long enough for a timeout, never finished.
    let sent = 0;
    const trickle = setInterval(() => {
      socket.write("1\r\nx\r\n");
      sent++;
    }, 100);
    try {
      // A few bytes in, so the request is surely being read when SIGTERM comes.
      await waitUntil(() => sent >= 5, 5_000, "the trickle to start");
      const stopped = server.stop();
      // The grace period is 5 s; the runtime's idle timeout (10 s) must not be what ends it.
      const code = await Promise.race([stopped, waitUntil(() => false, 9_000, "payhook to exit").then(() => -1)]);
      expect(code).toBe(0);
      expect(server.stderr.join("\n")).toContain('"msg":"stopped"');
      // The cut-off request is the client's doing: a warning, not an error.
      expect(server.stderr.filter((l) => l.includes('"level":"error"'))).toEqual([]);
      expect(received()).not.toContain("HTTP/1.1 200");
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });
});

describe("7 stored and logged text cannot forge lines or drive the terminal", () => {
  const FORGED = "x\n2026-12-01T00:00:00.000Z ERROR forged line\u001b[31m";

  test("events list and events show escape newlines and ESC in every field (type, account)", async () => {
    const server = await start(LOG_CONFIG);
    const payload = event("customer.created");
    expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
    expect(await server.stop()).toBe(0);
    // As a store written before ids and types were checked, or by a future payhook, could hold them.
    const db = new Database(join(server.dir, "payhook.db"));
    db.prepare("UPDATE events SET type = ?, account = ?").run(FORGED, FORGED);
    db.close();
    const store = join(server.dir, "payhook.db");
    for (const args of [
      ["events", "list", "--store", store],
      ["events", "show", idOf(payload), "--store", store],
    ]) {
      const result = await runPayhook(args);
      expect(result.code).toBe(0);
      expect(result.stdout).not.toContain("\u001b");
      expect(result.stdout).not.toContain("\nx\n");
      expect(result.stdout.split("\n").filter((l) => l.includes("forged line"))).toHaveLength(
        args[1] === "list" ? 1 : 2,
      );
      expect(result.stdout.split("\n").some((l) => l.startsWith("2026-12-01T00:00:00.000Z ERROR"))).toBe(false);
      expect(result.stdout).toContain("\\u000a2026-12-01T00:00:00.000Z ERROR forged line\\u001b[31m");
    }
  });

  test("pretty logs write each field on the one line, with newlines and ESC escaped", () => {
    const lines: string[] = [];
    const log = createLogger({ format: "pretty", write: (line) => lines.push(line) });
    log.warn(`request refused ${FORGED}`, { type: FORGED, [FORGED]: 1, nested: { type: FORGED } });
    expect(lines).toHaveLength(1);
    const [line = ""] = lines;
    expect(line).not.toMatch(/[\u0000-\u001f]/);
    expect(line).toContain("type=x\\u000a2026-12-01T00:00:00.000Z ERROR forged line\\u001b[31m");
  });
});

describe("8 config errors never show values from the environment", () => {
  test("a malformed forward URL holding a token from the environment: check names the variable, never its value", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "payhook.yaml"),
      `endpoints:
  - path: /webhook
    secrets: ["whsec_test_secret"]
handlers:
  "*":
    - forward: { url: "127.0.0.1:3000/hook?token=\${HOOK_TOKEN}" }
`,
    );
    for (const command of ["check", "serve"]) {
      const result = await runPayhook([command, "--config", "payhook.yaml"], {
        cwd: dir,
        env: { HOOK_TOKEN: `tok_${SENTINEL}8` },
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("forward.url");
      expect(result.stderr).toContain("${HOOK_TOKEN}");
      expect(result.stdout + result.stderr).not.toContain(SENTINEL);
    }
  });
});

describe("9 a YAML alias bomb", () => {
  test("is a config error: exit 2, naming the file and what to do", async () => {
    const dir = tempDir();
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    writeFileSync(join(dir, "bomb.yaml"), `${levels.join("\n")}\n`);
    const result = await runPayhook(["check", "--config", "bomb.yaml"], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("bomb.yaml");
    expect(result.stderr).toContain("aliases");
    expect(result.stderr).not.toContain("resource exhaustion");
  });
});

describe("6 a signed event's id and type", () => {
  test.each([
    ["type", "a line break", { type: "payment_intent.succeeded\nX-Forged: 1" }],
    ["type", "a carriage return", { type: "payment_intent.succeeded\r" }],
    ["type", "a NUL", { type: "payment_intent.succeeded\u0000" }],
    ["type", "a euro sign", { type: "payment_intent.€" }],
    ["id", "a euro sign", { id: "evt_€5" }],
    ["id", "a slash", { id: "evt_a/b" }],
  ] as const)("a %s with %s: 400 naming the field, nothing stored", async (field, _, overrides) => {
    const server = await start(
      testConfig(`handlers:
  "*":
    - forward: { url: "http://127.0.0.1:9/hook" }
    - exec: { command: ["true"] }
`),
    );
    const payload = event("payment_intent.succeeded", overrides);
    const response = await deliver(`${server.url}/webhook`, payload);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("invalid_event");
    expect(body.error.message).toContain(`"${field}"`);
    expect(queryStore(server.dir, "SELECT id FROM events")).toEqual([]);
  });

  test("Stripe's own ids and types pass, thin event types with brackets included", async () => {
    const server = await start(LOG_CONFIG);
    for (const type of ["v1.billing.meter.error_report_triggered", "v2.core.account[requirements].updated"]) {
      const payload = event(type, { id: `evt_1Nv0FGQ9${type.length}xYzAbC` });
      expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
    }
  });

  test("an id or type a header or an environment cannot carry (an event stored before the check) fails its delivery for good, never retried", async () => {
    for (const [spec, overrides] of [
      [{ forward: { url: "http://127.0.0.1:9/hook", timeout: "300ms" } }, { type: "a\u20acb" }],
      [{ forward: { url: "http://127.0.0.1:9/hook", timeout: "300ms" } }, { id: "evt_\nX" }],
      [{ exec: { command: ["true"] } }, { type: "a\u0000b" }],
    ] as const) {
      const outcome = await compile(spec)(attemptOf(event("x", overrides)));
      expect(outcome).toMatchObject({ ok: false, retry: false });
    }
  });
});

describe("5 another process holds the store's write lock", () => {
  test("/healthz keeps answering while a webhook waits for the lock; the webhook then gets 503, and 200 once the lock goes", async () => {
    const server = await start(LOG_CONFIG);
    const other = new Database(join(server.dir, "payhook.db"));
    other.exec("PRAGMA busy_timeout = 5000");
    other.exec("BEGIN IMMEDIATE");
    let answered = false;
    const payload = event();
    const webhook = deliver(`${server.url}/webhook`, payload).then((response) => {
      answered = true;
      return response;
    });
    try {
      // While the webhook waits (up to 5 s), liveness probes are answered one after the other. A server whose
      // event loop waits on the lock answers none of them until the webhook's wait is over.
      let probes = 0;
      while (!answered && probes < 50) {
        expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
        if (!answered) probes++;
      }
      expect(probes).toBe(50);
      const response = await webhook;
      expect(response.status).toBe(503);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("store_unavailable");
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
  });
});

describe("4 a flood of /readyz", () => {
  test("200 concurrent probes share one readiness write instead of making 200 fsynced writes", async () => {
    const server = await start(LOG_CONFIG);
    const wal = join(server.dir, "payhook.db-wal");
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const before = statSync(wal).size;
    const answers = await Promise.all(Array.from({ length: 200 }, () => fetch(`${server.url}/readyz`)));
    expect(answers.map((r) => r.status)).toEqual(Array(200).fill(200));
    // Each real check appends one page (4 KiB plus a frame header) to the WAL; 200 checks would add 800 KiB.
    const pages = (statSync(wal).size - before) / 4120;
    expect(pages).toBeLessThanOrEqual(10);
  });
});

describe("2 the store file deleted or replaced while serving", () => {
  for (const how of ["deleted", "replaced"] as const) {
    test(`${how}: every later webhook gets 503, /readyz fails, and the log says what happened`, async () => {
      const server = await start(LOG_CONFIG);
      const url = `${server.url}/webhook`;
      for (let i = 0; i < 3; i++) expect((await deliver(url, event())).status).toBe(200);
      const db = join(server.dir, "payhook.db");
      if (how === "deleted") {
        for (const suffix of ["", "-wal", "-shm"]) rmSync(`${db}${suffix}`, { force: true });
      } else {
        copyFileSync(db, `${db}.copy`);
        renameSync(`${db}.copy`, db);
      }
      for (let i = 0; i < 5; i++) {
        const response = await deliver(url, event());
        expect(response.status).toBe(503);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe("store_unavailable");
      }
      await waitUntil(async () => (await fetch(`${server.url}/readyz`)).status === 503, 15_000, "not ready");
      await server.waitForStderr(`the store file ${db} was ${how === "deleted" ? "deleted" : "replaced"}`);
    });
  }
});

describe("3 one server per store, whatever the path", () => {
  test("a second serve through a symbolic link to the store (file or folder) exits 1 and runs nothing", async () => {
    const first = await start(LOG_CONFIG);
    const other = tempDir();
    symlinkSync(join(first.dir, "payhook.db"), join(other, "alias.db"));
    symlinkSync(first.dir, join(other, "folder"));
    for (const store of [join(other, "alias.db"), join(other, "folder", "payhook.db")]) {
      writeFileSync(join(other, "payhook.yaml"), configFor(store));
      const second = await runPayhook(["serve", "--config", "payhook.yaml"], { cwd: other });
      expect(second.code).toBe(1);
      expect(second.stderr).toContain("another payhook is serving the store");
    }
  });

  test("a store with a hard link is refused: exit 1 naming the links", async () => {
    const first = await start(LOG_CONFIG);
    expect(await first.stop()).toBe(0);
    const other = tempDir();
    linkSync(join(first.dir, "payhook.db"), join(other, "alias.db"));
    writeFileSync(join(other, "payhook.yaml"), configFor(join(other, "alias.db")));
    const second = await runPayhook(["serve", "--config", "payhook.yaml"], { cwd: other });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("hard links");
  });
});

function configFor(store: string): string {
  return `listen: { host: 127.0.0.1, port: 0 }
store: ${store}
endpoints:
  - path: /webhook
    secrets: ["whsec_test_secret"]
`;
}

describe("10 the store's files are private", () => {
  test("under umask 022 the database, its -wal and -shm and the lock file are created 0600", async () => {
    const server = await startServer({
      config: LOG_CONFIG,
      command: ["sh", "-c", 'umask 022; exec "$0" "$@"', ...payhookCommand()],
    });
    servers.push(server);
    expect((await deliver(`${server.url}/webhook`, event())).status).toBe(200);
    for (const name of ["payhook.db", "payhook.db-wal", "payhook.db-shm", "payhook.db.lock"]) {
      expect(`${name} ${(statSync(join(server.dir, name)).mode & 0o777).toString(8)}`).toBe(`${name} 600`);
    }
    expect(server.stderr.join("\n")).not.toContain("can read the store");
  });

  test("an existing store that others can read is named in a warning at start", async () => {
    const first = await start(LOG_CONFIG);
    expect(await first.stop()).toBe(0);
    chmodSync(join(first.dir, "payhook.db"), 0o644);
    const again = await start(LOG_CONFIG, { dir: first.dir });
    const line = JSON.parse(await again.waitForStderr("can read the store")) as { level: string; files: string[] };
    expect(line.level).toBe("warn");
    expect(line.files).toEqual([`${join(first.dir, "payhook.db")} (0644)`]);
  });
});

describe("11 a log action whose stdout nobody reads", () => {
  test("deliveries are done only once their line is written; memory stays bounded; all finish once stdout is read", async () => {
    const dir = tempDir();
    const fifo = join(dir, "stdout.fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    // Opened read-write, so opening it needs no reader; nothing reads it until the end of the test.
    const held = openSync(fifo, "r+");
    const writeEnd = openSync(fifo, "w");
    const port = await freePort();
    writeFileSync(
      join(dir, "payhook.yaml"),
      testConfig(`concurrency: 16
handlers:
  "*":
    - name: line
      log: "${"{{data.object.description}}".repeat(50)}"
`)
        .replaceAll("{{port}}", String(port))
        .replaceAll("{{dir}}", dir),
    );
    const child = Bun.spawn([...payhookCommand(), "serve", "--config", "payhook.yaml", "--log-format", "json"], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir },
      stdin: "ignore",
      stdout: writeEnd,
      stderr: "inherit",
    });
    trackChild(child);
    closeSync(writeEnd);
    const url = `http://127.0.0.1:${port}/webhook`;
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1]) * 1024;
    const count = (status: string) =>
      queryStore<{ n: number }>(dir, "SELECT COUNT(*) AS n FROM deliveries WHERE status = ?", status)[0]?.n ?? 0;
    let reader: ReturnType<typeof Bun.spawn> | undefined;
    try {
      await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok === true);
      // Small events, large lines (the template repeats the description 50 times): memory growth is the lines'.
      const events = 600; // 60 MB of lines, against a 64 KiB pipe
      const before = rss();
      for (let i = 0; i < events; i += 20) {
        const batch = Array.from({ length: 20 }, () =>
          deliver(url, event("customer.created", { data: { object: { description: "y".repeat(2_000) } } })),
        );
        for (const response of await Promise.all(batch)) expect(response.status).toBe(200);
      }
      // The worker runs 16 deliveries at once (the config says so): with stdout full, they all wait on their line.
      await waitUntil(() => count("done") === events || count("running") === 16, 30_000, "the worker to stall");
      // At most what the pipe holds is written: a line of 100 kB does not fit in 64 KiB, so one at the very most.
      expect(count("done")).toBeLessThanOrEqual(1);
      const grown = rss() - before;
      console.log(`11: ${count("done")} of ${events} done with stdout unread; RSS grew ${(grown / 1e6).toFixed(1)} MB`);
      expect(grown).toBeLessThan(40 * 1024 * 1024);

      // Someone reads stdout now: every line comes out, and every delivery is done.
      reader = Bun.spawn(["wc", "-c"], { stdin: held, stdout: "ignore" });
      await waitUntil(() => count("done") === events, 60_000, "every delivery done once stdout is read");
    } finally {
      child.kill("SIGKILL");
      await child.exited;
      reader?.kill("SIGKILL");
      closeSync(held);
    }
  });
});
