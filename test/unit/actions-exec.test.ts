/** exec: argv without a shell, stdin, environment, exit codes, timeouts that leave no orphan, and config refusals. */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";
import { attemptOf, compile, compileOrProblems } from "../helpers/actions.ts";
import { tempDir, waitUntil } from "../helpers/server.ts";
import { event } from "../helpers/stripe.ts";

const RECORDER = resolve(import.meta.dir, "../fixtures/recorder.sh");

function recorder(mode: string, args: string[] = [], extra: Record<string, unknown> = {}) {
  const out = tempDir("payhook-exec-");
  const run = compile({ exec: { command: [RECORDER, out, mode, ...args], timeout: "500ms", ...extra } });
  const read = (raw: string, attempt: number, ext: string) =>
    readFileSync(join(out, `${JSON.parse(raw).id}.${attempt}.${ext}`), "utf8");
  return { out, run, read };
}

function env(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

/** True when `pid` is gone or a zombie waiting to be reaped. */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") ?? true;
  } catch {
    return true;
  }
}

describe("exec", () => {
  test("templated values arrive as literal arguments, never through a shell", async () => {
    const hostile = ["$(touch /tmp/payhook-pwned)", "; rm -rf ~", "`id`", "../../etc/passwd", "a b\nc", "%2e%2e"];
    const { run, read } = recorder("exit:0", ["--note", "{{data.object.note}}"]);
    for (const note of hostile) {
      const raw = event("charge.succeeded", { data: { object: { id: "ch_1", note } } });
      expect(await run(attemptOf(raw))).toMatchObject({ ok: true });
      const argv = read(raw, 1, "argv").split("\u0000").slice(0, -1);
      expect(argv.slice(2)).toEqual(["--note", note]);
    }
    expect(existsSync("/tmp/payhook-pwned")).toBe(false);
  });

  test("a templated value starting with - is refused unless allowed", async () => {
    const raw = event("charge.succeeded", { data: { object: { id: "ch_1", note: "--help" } } });
    const { run } = recorder("exit:0", ["{{data.object.note}}"]);
    expect(await run(attemptOf(raw))).toMatchObject({ ok: false, retry: false });
    const allowed = recorder("exit:0", ["{{data.object.note}}"], { allow_leading_dash: true });
    expect(await allowed.run(attemptOf(raw))).toMatchObject({ ok: true });
  });

  test("stdin is the event's raw JSON; the environment is the allowlist plus PAYHOOK_*, never secrets", async () => {
    process.env.PAYHOOK_TEST_ALLOWED = "yes";
    process.env.PAYHOOK_TEST_NOT_ALLOWED = "no";
    process.env.STRIPE_WEBHOOK_SECRET = "whsec_should_never_leak";
    process.env.SNEAKY = "whsec_also_never";
    const { run, read } = recorder("exit:0", [], { env: ["HOME", "SNEAKY"] });
    const raw = event();
    await run(attemptOf(raw, 2));
    expect(read(raw, 2, "stdin")).toBe(raw);
    const seen = env(read(raw, 2, "env"));
    expect(seen.PAYHOOK_EVENT_ID).toBe(JSON.parse(raw).id);
    expect(seen.PAYHOOK_EVENT_TYPE).toBe("payment_intent.succeeded");
    expect(seen.PAYHOOK_ATTEMPT).toBe("2");
    expect(seen.PAYHOOK_IDEMPOTENCY_KEY).toBe(`${JSON.parse(raw).id}:test-action`);
    expect(seen.HOME).toBe(process.env.HOME as string);
    expect(seen.PAYHOOK_TEST_ALLOWED).toBeUndefined();
    expect(seen.PAYHOOK_TEST_NOT_ALLOWED).toBeUndefined();
    expect(read(raw, 2, "env")).not.toContain("whsec_");
  });

  test.each([
    ["exit:0", { ok: true }],
    ["exit:75", { ok: false, retry: true }],
    ["exit:1", { ok: false, retry: false }],
    ["exit:2", { ok: false, retry: false }],
  ] as const)("%s", async (mode, expected) => {
    expect(await recorder(mode).run(attemptOf(event()))).toMatchObject(expected);
  });

  test("a missing program fails without retry", async () => {
    const run = compile({ exec: { command: ["./no-such-program"] } }, tempDir());
    const outcome = await run(attemptOf(event()));
    expect(outcome).toMatchObject({ ok: false, retry: false });
    expect(outcome.ok ? "" : outcome.error).toContain("ENOENT");
  });

  test("a timeout kills the whole process group, grandchildren that ignore SIGTERM included", async () => {
    const { run, read } = recorder("hang");
    const raw = event();
    const outcome = await run(attemptOf(raw));
    expect(outcome).toMatchObject({ ok: false, retry: true });
    expect(outcome.ok ? "" : outcome.error).toContain("process group was killed");
    const pids = read(raw, 1, "pids").trim().split(" ").map(Number);
    expect(pids).toHaveLength(2);
    await waitUntil(() => pids.every(gone), 5_000, "every process of the group to be gone");
  });

  test("output is captured and capped", async () => {
    const outcome = await recorder("flood").run(attemptOf(event()));
    expect(outcome.ok).toBe(true);
    expect(outcome.output).toContain("stdout:\nooo");
    expect(outcome.output).toContain("stderr:\neee");
    expect(outcome.output).toContain("more bytes not kept");
    expect(outcome.output?.length ?? 0).toBeLessThan(70 * 1024);
  });

  test("a relative program resolves against the config file's folder", async () => {
    const dir = resolve(import.meta.dir, "..");
    const out = tempDir();
    const run = compile({ exec: { command: ["./fixtures/recorder.sh", out, "exit:0"] } }, dir);
    expect(await run(attemptOf(event()))).toMatchObject({ ok: true });
  });
});

describe("exec config", () => {
  const load = (action: string) => {
    try {
      parseConfig(`endpoints: [{ path: /webhook, secrets: ["whsec_test"] }]\nhandlers:\n  "*":\n    - ${action}\n`, {
        source: "payhook.yaml",
        env: {},
      });
      return "";
    } catch (error) {
      if (error instanceof ConfigError) return error.problems.join("\n");
      throw error;
    }
  };

  test("a command given as one string is refused, and the message says why", () => {
    const message = load('exec: { command: "./bin/fulfil {{data.object.id}}" }');
    expect(message).toContain("exec.command");
    expect(message).toContain("never runs a shell");
  });

  test("templates in the program, PAYHOOK_ and Stripe secret variables are refused", () => {
    expect(JSON.stringify(compileOrProblems({ exec: { command: ["{{data.object.bin}}"] } }))).toContain(
      "program must be written out",
    );
    expect(JSON.stringify(compileOrProblems({ exec: { command: ["x"], env: ["STRIPE_WEBHOOK_SECRET"] } }))).toContain(
      "never passed",
    );
    expect(JSON.stringify(compileOrProblems({ exec: { command: ["x"], env: ["PAYHOOK_EVENT_ID"] } }))).toContain(
      "set by payhook",
    );
  });
});
