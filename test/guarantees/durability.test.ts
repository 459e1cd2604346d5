/**
 * @module Durability order (E-2, F11 in docs/guarantees.md#test-ids). kill -9 cannot tell a fsynced commit from one left in
 * the page cache, and LazyFS cannot run here, so these tests check the two things a power loss depends on:
 * payhook refuses a store it cannot make durable (WAL + synchronous=FULL, read back at start-up), and under
 * strace every 200 is preceded by a write and an fsync of the WAL after that request was read.
 */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { SqlDatabase } from "../../src/runtime/types.ts";
import { applyDurability } from "../../src/store/sqlite/store.ts";
import { freePort, type RunningServer, startServer, tempDir, testConfig, waitUntil } from "../helpers/server.ts";
import { deliver, event } from "../helpers/stripe.ts";

const ROOT = resolve(import.meta.dir, "../..");

/** bun:sqlite behind payhook's SqlDatabase interface; `ignore` drops statements, to model a store that will not comply. */
function wrap(db: Database, ignore: RegExp | null = null): SqlDatabase {
  return {
    exec: (sql) => {
      if (!ignore?.test(sql)) db.run(sql);
    },
    prepare: (sql) => db.prepare(sql) as never,
    close: () => db.close(),
  };
}

describe("E-2 start-up durability check", () => {
  test("E-2 a file store is switched to WAL with synchronous=FULL and the setting is read back", () => {
    const db = new Database(join(tempDir(), "payhook.db"), { create: true });
    applyDurability(wrap(db));
    expect(db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    expect(db.prepare("PRAGMA synchronous").get()).toEqual({ synchronous: 2 });
    db.close();
  });

  test("E-2 a store without a WAL (in-memory) is refused with store_not_durable", () => {
    const db = new Database(":memory:");
    expect(() => applyDurability(wrap(db))).toThrow(/journal_mode=wal and synchronous=FULL, but has memory/);
    db.close();
  });

  test("E-2 a connection left at synchronous=NORMAL is refused with store_not_durable", () => {
    const db = new Database(join(tempDir(), "payhook.db"), { create: true });
    db.run("PRAGMA synchronous=NORMAL");
    let caught: unknown;
    try {
      applyDurability(wrap(db, /^PRAGMA synchronous=FULL$/));
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: "store_not_durable" });
    expect(String(caught)).toContain("has wal and 1");
    db.close();
  });
});

describe("F11 a store that cannot be opened", () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.kill();
    server = undefined;
  });

  test("F11 a corrupt store file: payhook refuses to start (exit 1) and names the store", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "payhook.db"), "this is not a database ".repeat(400));
    const started = startServer({ config: testConfig(""), dir }).then((s) => {
      server = s;
    });
    await expect(started).rejects.toThrow(/exited with 1 before listening[\s\S]*cannot open the store/);
  });

  test("F11 the store's folder does not exist: payhook refuses to start (exit 1)", async () => {
    const config = testConfig("").replace("store: {{dir}}/payhook.db", "store: {{dir}}/missing/folder/payhook.db");
    const started = startServer({ config }).then((s) => {
      server = s;
    });
    await expect(started).rejects.toThrow(/exited with 1 before listening[\s\S]*cannot open the store/);
  });
});

// ---- the strace ordering check ----

interface Violation {
  response: number;
  why: string;
}

/**
 * For every `HTTP/1.1 200` sent, looks back to the read of that request on the same socket and requires, in
 * between: a write to the WAL, then an fsync/fdatasync of the WAL. Returns the responses that break the order.
 */
function checkOrder(trace: string): { responses: number; violations: Violation[] } {
  const lines = trace.split("\n");
  const walFds = new Set<string>();
  const lastRead = new Map<string, number>();
  const violations: Violation[] = [];
  let responses = 0;
  for (const [i, line] of lines.entries()) {
    const open = /openat\(AT_FDCWD, "[^"]*-wal", .*\) = (\d+)$/.exec(line);
    if (open?.[1]) walFds.add(open[1]);
    const read = /^\d+ +(?:recvfrom|read|recvmsg)\((\d+), "POST \//.exec(line);
    if (read?.[1]) lastRead.set(read[1], i);
    const sent = /^\d+ +(?:sendto|write|writev|sendmsg)\((\d+), (?:\[\{iov_base=)?"HTTP\/1\.1 200 /.exec(line);
    if (!sent?.[1]) continue;
    responses += 1;
    const from = lastRead.get(sent[1]);
    if (from === undefined) {
      violations.push({ response: responses, why: "no request read before it" });
      continue;
    }
    let wrote = false;
    let synced = false;
    for (const between of lines.slice(from + 1, i)) {
      const op = /^\d+ +(pwrite64|write|pwritev|fsync|fdatasync)\((\d+)/.exec(between);
      if (!op?.[2] || !walFds.has(op[2])) continue;
      if (op[1] === "fsync" || op[1] === "fdatasync") synced = synced || wrote;
      else {
        wrote = true;
        synced = false; // a WAL write after the last fsync would not be durable yet
      }
    }
    if (!wrote) violations.push({ response: responses, why: "no WAL write between the request and its 200" });
    else if (!synced)
      violations.push({ response: responses, why: "no WAL fsync after the last WAL write before the 200" });
  }
  return { responses, violations };
}

function payhookArgv(): string[] {
  const cmd = process.env.PAYHOOK_CMD;
  if (cmd) return cmd.split(" ").filter(Boolean);
  return [process.env.PAYHOOK_BINARY ?? join(ROOT, "dist/payhook")];
}

/** The pid of the process strace started (its child), found through /proc. */
function childOf(parent: number): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return undefined;
}

describe("E-2 durability order under strace", () => {
  test("E-2 strace: over 100 requests, every 200 follows a write and an fsync of the WAL made after the request was read", async () => {
    const dir = tempDir();
    const port = await freePort();
    const file = join(dir, "payhook.yaml");
    // No actions, so the worker writes nothing: every WAL write and fsync in a request's window is its own commit.
    writeFileSync(file, testConfig("").replaceAll("{{port}}", String(port)).replaceAll("{{dir}}", dir));
    const traceFile = join(dir, "trace.txt");
    const strace = Bun.spawn(
      [
        "strace",
        "-f",
        "-qq",
        "-s",
        "64",
        "-o",
        traceFile,
        "-e",
        "trace=openat,read,recvfrom,recvmsg,write,writev,sendto,sendmsg,pwrite64,pwritev,fsync,fdatasync",
        ...payhookArgv(),
        "serve",
        "--config",
        file,
        "--log-format",
        "json",
      ],
      { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir }, stdout: "ignore", stderr: "pipe" },
    );
    let payhook: number | undefined;
    try {
      const url = `http://127.0.0.1:${port}/webhook`;
      await waitUntil(
        async () => {
          try {
            await fetch(url, { method: "GET" });
            return true;
          } catch {
            return false;
          }
        },
        30_000,
        "payhook under strace listening",
      );
      payhook = childOf(strace.pid);
      for (let i = 0; i < 100; i++) {
        const response = await deliver(url, event());
        expect(response.status).toBe(200);
      }
    } finally {
      payhook ??= childOf(strace.pid);
      if (payhook) process.kill(payhook, "SIGTERM");
      else strace.kill("SIGKILL");
      await strace.exited;
    }
    const trace = readFileSync(traceFile, "utf8");
    const { responses, violations } = checkOrder(trace);
    expect(responses).toBe(100);
    expect(violations).toEqual([]);

    // Negative control: the same trace without its fsync lines fails the check, so the check can fail.
    const unsynced = checkOrder(
      trace
        .split("\n")
        .filter((l) => !/ f(data)?sync\(/.test(l))
        .join("\n"),
    );
    expect(unsynced.violations).toHaveLength(100);
  }, 120_000);
});
