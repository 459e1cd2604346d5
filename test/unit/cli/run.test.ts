/**
 * The command line in-process: `run(runtime, argv, io)` is a function of its arguments, so usage errors, config
 * errors, help and exit codes are checked here without spawning the binary (test/e2e/cli.test.ts checks the
 * binary itself).
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMMANDS, commandHelp, run } from "../../../src/cli/run.ts";
import { bunRuntime } from "../../../src/runtime/bun.ts";
import { tempDir } from "../../helpers/server.ts";

async function payhook(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(bunRuntime, argv, { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const dir = tempDir("payhook-cli-");
const good = join(dir, "good.yaml");
writeFileSync(
  good,
  'endpoints: [{ path: /webhook, secrets: ["whsec_test"] }]\nhandlers:\n  invoice.paid:\n    - log: "{{id}}"\n',
);
const bad = join(dir, "bad.yaml");
writeFileSync(bad, "endpoints: [{ path: webhook }]\nlisten: { port: 99999 }\n");

describe("usage errors exit 2 with one line and a pointer to --help", () => {
  test.each([
    [["frobnicate"], 'payhook: unknown command "frobnicate"'],
    [["check", "--nope"], "payhook: check: Unknown option '--nope'"],
    [["--nope"], "payhook: serve: Unknown option '--nope'"],
    [["check", "--log-level", "loud"], "payhook: --log-level must be one of debug, info, warn, error"],
    [["check", "--log-format", "xml"], "payhook: --log-format must be json or pretty"],
  ])("payhook %j", async (argv, first) => {
    const { code, out, err } = await payhook(...argv);
    expect(code).toBe(2);
    expect(out).toBe("");
    const lines = err.split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toStartWith(first);
    expect(lines[1]).toBe("Run `payhook --help` for usage.");
  });
});

describe("config errors exit 2, naming the file", () => {
  test("a file that cannot be read", async () => {
    const missing = join(dir, "missing.yaml");
    const { code, err } = await payhook("check", "--config", missing);
    expect(code).toBe(2);
    expect(err).toStartWith(`${missing}: cannot read the config file`);
  });

  test("every problem of a bad file, each on its line with its path", async () => {
    const { code, err } = await payhook("check", "--config", bad);
    expect(code).toBe(2);
    const lines = err.split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).toStartWith(`${bad}: `);
    expect(err).toContain("listen.port");
    expect(err).toContain("endpoints[0]");
  });
});

describe("success exits 0", () => {
  test("a good config passes check", async () => {
    const { code, err } = await payhook("check", "--config", good);
    expect([code, err]).toEqual([0, ""]);
  });

  test.each([["--help"], ["-h"], ["help"]])("payhook %s lists every command", async (flag) => {
    const { code, out } = await payhook(flag);
    expect(code).toBe(0);
    for (const command of COMMANDS) expect(out).toContain(`  ${command.name}`);
  });

  test.each(COMMANDS.map((c) => [c.name, c] as const))("payhook %s --help prints its help", async (name, command) => {
    const { code, out, err } = await payhook(name, "--help");
    expect([code, out, err]).toEqual([0, commandHelp(command), ""]);
  });

  test("version and --version print the same line", async () => {
    const [a, b] = [await payhook("version"), await payhook("--version")];
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/^payhook \d+\.\d+\.\d+/);
    expect(b).toEqual(a);
  });
});
