/** The command line contract, against the compiled binary: outputs and exit codes. */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runPayhook, startServer, tempDir } from "../helpers/server.ts";
import { deliver, event } from "../helpers/stripe.ts";

const SENTINEL = "whsec_SENTINEL0cli0secret";

describe("payhook CLI", () => {
  test("version prints the version and exits 0", async () => {
    const result = await runPayhook(["version"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^payhook \d+\.\d+\.\d+ \([^,]+, [^,]+, [a-z0-9-]+, (bun|deno) [0-9.]+\)\n$/);
  });

  test("--help lists the commands; COMMAND --help shows its options", async () => {
    const help = await runPayhook(["--help"]);
    expect(help.code).toBe(0);
    for (const command of ["serve", "check", "version"]) expect(help.stdout).toContain(`  ${command}`);
    const serveHelp = await runPayhook(["serve", "--help"]);
    expect(serveHelp.code).toBe(0);
    expect(serveHelp.stdout).toContain("--config FILE");
  });

  test("an unknown command or option is a usage error: exit 2 and a pointer to --help", async () => {
    for (const args of [["frobnicate"], ["check", "--nope"], ["serve", "--log-level", "loud"]]) {
      const result = await runPayhook(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("Run `payhook --help`");
    }
  });

  test("check prints the resolved routes with secrets redacted", async () => {
    const dir = tempDir();
    const file = join(dir, "payhook.yaml");
    writeFileSync(
      file,
      `endpoints: [{ path: /webhook, secrets: ["\${SECRET}"] }]
handlers:
  payment_intent.succeeded:
    - log: "PaymentIntent {{data.object.id}} was successful!"
  "invoice.*":
    - { log: "invoice {{type}}", name: invoices }
unhandled:
  - log: "Unhandled event type: {{type}}"
`,
    );
    const result = await runPayhook(["check", "--config", file], { env: { SECRET: SENTINEL } });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${file}: ok`);
    expect(result.stdout).toContain("POST /webhook: secrets 1, redacted");
    expect(result.stdout).toContain("payment_intent.succeeded[0]: log");
    expect(result.stdout).toContain("invoices: log");
    expect(result.stdout + result.stderr).not.toContain(SENTINEL);
  });

  test("check with a bad config exits 2 with every problem, file and path named", async () => {
    const dir = tempDir();
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      `endpoints: [{ path: /webhook, secrets: ["${SENTINEL} "] }]\nhandlers:\n  invoice.paid:\n    - log: 5\n`,
    );
    const result = await runPayhook(["check", "--config", file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}: endpoints[0].secrets[0]: expected a signing secret`);
    expect(result.stderr).toContain(`${file}: handlers."invoice.paid"[0].log: expected a string`);
    expect(result.stderr).not.toContain("SENTINEL");
  });

  test("a missing config file is a config error naming it", async () => {
    const result = await runPayhook(["check", "--config", "/nonexistent/payhook.yaml"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("/nonexistent/payhook.yaml: cannot read the config file");
  });

  test("serve and check use ./payhook.yaml when there is no --config", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "payhook.yaml"), `endpoints: [{ path: /local, secrets: ["${SENTINEL}"] }]\n`);
    const result = await runPayhook(["check"], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("payhook.yaml: ok");
    expect(result.stdout).toContain("POST /local");
  });

  test("a store that cannot be opened is a runtime failure: exit 1", async () => {
    const dir = tempDir();
    const file = join(dir, "payhook.yaml");
    writeFileSync(
      file,
      `store: /nonexistent/dir/payhook.db\nlisten: { port: 0 }\nendpoints: [{ path: /w, secrets: ["${SENTINEL}"] }]\n`,
    );
    const result = await runPayhook(["serve", "--config", file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("cannot open the store /nonexistent/dir/payhook.db");
  });
});

describe("the embedded default config", () => {
  test("serves with the development secret when STRIPE_WEBHOOK_SECRET is unset, and says so", async () => {
    const dir = tempDir();
    // The default listens on 4242; the test runs it on a free port through a copy of the default's settings.
    const server = await startServer({ dir, args: [], env: {} }).catch((e: Error) => e);
    if (server instanceof Error) {
      // Port 4242 may be taken on a developer's machine; the default config is covered by the unit tests too.
      expect(server.message).toContain("4242");
      return;
    }
    try {
      expect(server.url).toBe("http://127.0.0.1:4242");
      expect(server.stderr.join("\n")).toContain("whsec_payhookdevelopmentsecretnotforproduction");
      const response = await deliver(`${server.url}/webhook`, event("payment_intent.succeeded"), {
        secret: "whsec_payhookdevelopmentsecretnotforproduction",
      });
      expect(response.status).toBe(200);
      await server.waitForStdout(/^PaymentIntent pi_test_\w+ was successful!$/);
    } finally {
      await server.kill();
    }
  });
});

describe("one server per store", () => {
  test("a second serve on the same store refuses to start, and the store stays readable meanwhile", async () => {
    const dir = tempDir();
    const config = `listen: { port: 0 }\nstore: ${dir}/payhook.db\nendpoints: [{ path: /w, secrets: ["${SENTINEL}"] }]\n`;
    const file = join(dir, "payhook.yaml");
    writeFileSync(file, config);
    const first = await startServer({ dir, config: config.replace("port: 0", "port: {{port}}") });
    try {
      const second = await runPayhook(["serve", "--config", file]);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`another payhook is serving the store ${dir}/payhook.db`);
      const list = await runPayhook(["events", "list", "--config", file]);
      expect(list.code).toBe(0);
    } finally {
      await first.kill();
    }
    // kill -9 leaves no stale lock: the next start serves.
    const next = await startServer({ dir, config: config.replace("port: 0", "port: {{port}}") });
    expect(await next.stop()).toBe(0);
  });
});
