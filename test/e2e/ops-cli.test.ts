/** End to end: `payhook init`, `payhook schema` and `payhook check` as a linter, from the compiled binary. */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runPayhook, startServer, tempDir } from "../helpers/server.ts";

const env = { STRIPE_WEBHOOK_SECRET: "whsec_cli_test" };

describe("init", () => {
  test("writes a starter config and its schema that check accepts, and never overwrites", async () => {
    const dir = tempDir();
    const first = await runPayhook(["init"], { cwd: dir });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("wrote payhook.yaml");
    expect(first.stdout).toContain("wrote payhook.schema.json");
    const text = readFileSync(join(dir, "payhook.yaml"), "utf8");
    expect(text).toStartWith("# yaml-language-server: $schema=./payhook.schema.json\n");
    expect(JSON.parse(readFileSync(join(dir, "payhook.schema.json"), "utf8")).title).toBe("payhook config");

    const checked = await runPayhook(["check", "--strict"], { cwd: dir, env });
    expect(checked.code).toBe(0);
    expect(checked.stdout).toContain("payhook.yaml: ok\n");
    expect(checked.stderr).toBe("");

    writeFileSync(join(dir, "payhook.yaml"), "# mine\n");
    const again = await runPayhook(["init"], { cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("payhook.yaml already exists; init never overwrites a file");
    expect(readFileSync(join(dir, "payhook.yaml"), "utf8")).toBe("# mine\n");
  });

  test("init FILE writes elsewhere and keeps an existing schema; init - prints to stdout", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "payhook.schema.json"), "{}");
    const named = await runPayhook(["init", join(dir, "prod.yaml")], { cwd: tempDir() });
    expect(named.code).toBe(0);
    expect(named.stdout).toContain(`kept ${join(dir, "payhook.schema.json")}`);
    expect(readFileSync(join(dir, "payhook.schema.json"), "utf8")).toBe("{}");
    const printed = await runPayhook(["init", "-"], { cwd: dir });
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain("handlers:\n  payment_intent.succeeded:");
  });
});

describe("schema", () => {
  test("prints the JSON Schema: draft-07, closed, only endpoints required", async () => {
    const result = await runPayhook(["schema"]);
    expect(result.code).toBe(0);
    const schema = JSON.parse(result.stdout) as Record<string, unknown> & { properties: Record<string, unknown> };
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(["endpoints"]);
    for (const key of ["listen", "store", "endpoints", "handlers", "unhandled", "retry", "admin", "allow_ips"]) {
      expect(schema.properties).toHaveProperty(key);
    }
  });
});

describe("check as a linter", () => {
  const config = `endpoints:
  - path: /webhook
    secrets: ["\${STRIPE_WEBHOOK_SECRET}"]
handlers:
  payment_intent.succeded:
    - log: "typo"
  "invoices.*":
    - log: "typo"
  "*":
    - log: "everything"
unhandled:
  - log: "never"
`;

  test("warns about patterns that match no event type, with suggestions and lines; exit 0", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "payhook.yaml"), config);
    const result = await runPayhook(["check"], { cwd: dir, env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("payhook.yaml: ok, 3 warnings");
    expect(result.stderr.trim().split("\n")).toEqual([
      'payhook.yaml: warning: handlers."payment_intent.succeded": "payment_intent.succeded" is not a Stripe event type, so this pattern never matches; did you mean "payment_intent.succeeded"? (line 5)',
      'payhook.yaml: warning: handlers."invoices.*": no Stripe event type starts with "invoices.", so this pattern never matches; did you mean "invoice.*"? (line 7)',
      'payhook.yaml: warning: unhandled: never runs: the "*" handler matches every event, so no event is left unhandled (line 11)',
    ]);
  });

  test("--strict turns warnings into exit 2", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "payhook.yaml"), config);
    const result = await runPayhook(["check", "--strict"], { cwd: dir, env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("payhook.yaml: --strict: 3 warning(s) count as errors");
  });

  test("serve logs the same warnings at start", async () => {
    const server = await startServer({
      config: config.replace("endpoints:", "listen: { port: {{port}} }\nstore: {{dir}}/p.db\nendpoints:"),
      env,
    });
    try {
      const line = JSON.parse(await server.waitForStderr("payment_intent.succeded")) as Record<string, unknown>;
      expect(line.level).toBe("warn");
      expect(line.at).toBe('handlers."payment_intent.succeded"');
    } finally {
      await server.kill();
    }
  });
});
