/**
 * @module Every command's largest output arrives whole through a pipe, however slowly the reader takes it (a reader
 * that sleeps first lets the pipe fill, so whatever the command does not wait for is lost), and a reader that stops
 * early (`| head -1`) ends the command cleanly. The same bytes written to a file are the reference.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunRuntime } from "../../src/runtime/bun.ts";
import { migrate } from "../../src/store/sqlite/migrations.ts";
import { payhookCommand, tempDir } from "../helpers/server.ts";
import { event } from "../helpers/stripe.ts";

const EVENTS = 3_000;
const ACTIONS = 1_400;
let dir: string;

/** A store of EVENTS events, written directly (as serve would store them), and a config with ACTIONS actions. */
beforeAll(() => {
  dir = tempDir("payhook-pipes-");
  const db = bunRuntime.openDatabase(join(dir, "payhook.db"));
  migrate(db);
  db.exec("PRAGMA journal_mode=WAL"); // as serve leaves it, so readers run side by side
  const insert = db.prepare(
    "INSERT INTO events (id, type, object, livemode, api_version, created, received_at, endpoint, body, object_id) VALUES (?, 'payment_intent.succeeded', 'event', 0, '2025-09-30.clover', ?, ?, '/webhook', ?, ?)",
  );
  const template = event("payment_intent.succeeded");
  const now = Date.now();
  db.exec("BEGIN");
  for (let i = 0; i < EVENTS; i += 1) {
    const id = `evt_pipe_${String(i).padStart(6, "0")}`;
    const body = new TextEncoder().encode(template.replace(/"evt_test_\w+"/, `"${id}"`));
    insert.run(id, Math.floor(now / 1000), now - i, body, `pi_pipe_${i}`);
  }
  db.exec("COMMIT");
  db.close();
  chmodSync(join(dir, "payhook.db"), 0o600);
  const actions = Array.from(
    { length: ACTIONS },
    (_, i) => `    - { name: record-${i}-in-the-ledger, log: "event {{id}}" }`,
  );
  writeFileSync(
    join(dir, "payhook.yaml"),
    `listen: { host: 127.0.0.1, port: 4242 }\nstore: ${dir}/payhook.db\nendpoints:\n  - path: /webhook\n    secrets: ["whsec_test_secret"]\nhandlers:\n  "*":\n${actions.join("\n")}\n`,
  );
});

/** Runs `script` in sh with the payhook command as "$@", in the test's folder; resolves with its stdout. */
async function shell(script: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const child = Bun.spawn(["sh", "-c", script, "sh", ...payhookCommand(), ...args], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      TZ: "UTC",
      CODE: join(dir, "code"),
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { stdout, stderr, code };
}

const OUTPUTS: [string, string[], (text: string) => void][] = [
  ["schema", ["schema"], (text) => expect(JSON.parse(text)).toHaveProperty("properties")],
  [
    "events list --json",
    ["events", "list", "--json", "--limit", String(EVENTS + 1), "--store", "payhook.db"],
    (text) => {
      const lines = text.trimEnd().split("\n");
      expect(lines).toHaveLength(EVENTS);
      expect(JSON.parse(lines.at(-1) ?? "").id).toBe("evt_pipe_002999");
    },
  ],
  ["trigger --list", ["trigger", "--list"], (text) => expect(text).toContain("payment_intent.succeeded")],
  [
    "check",
    ["check", "--config", "payhook.yaml"],
    (text) => expect(text).toContain(`record-${ACTIONS - 1}-in-the-ledger: log`),
  ],
  ["--help", ["--help"], (text) => expect(text).toContain("payhook schema")],
];

describe("output through a pipe", () => {
  test("each command's largest output arrives whole through a reader that sleeps before reading", async () => {
    await Promise.all(
      OUTPUTS.map(async ([name, args, valid], i) => {
        const file = join(dir, `out.${i}`);
        // The same command into a file, which takes every byte at once: the reference.
        const [reference, slow] = await Promise.all([
          shell(`"$@" >"${file}"`, args),
          shell('"$@" | { sleep 1; cat; }', args),
        ]);
        expect(reference).toMatchObject({ code: 0, stderr: "" });
        const whole = readFileSync(file, "utf8");
        valid(whole);
        expect(slow.stderr).toBe("");
        expect({ name, length: slow.stdout.length }).toEqual({ name, length: whole.length });
        expect(slow.stdout).toBe(whole);
      }),
    );
  });

  test("`| head -1` ends the command with exit 0 and nothing on stderr", async () => {
    const args = ["events", "list", "--json", "--limit", String(EVENTS + 1), "--store", "payhook.db"];
    const piped = await shell('{ "$@"; echo "$?" >"$CODE"; } | head -1', args);
    expect(JSON.parse(piped.stdout).id).toBe("evt_pipe_000000");
    expect(piped.stderr).toBe("");
    expect(readFileSync(join(dir, "code"), "utf8").trim()).toBe("0");
  });
});
