/**
 * Where serve listens and stores, for platforms and packages: --host/--port over the config (kept across
 * reloads), PORT in the embedded default config, and a store folder that cannot work named with the fix.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEVELOPMENT_SECRET } from "../../src/config/default.ts";
import { freePort, runPayhook, startServer, tempDir, testConfig } from "../helpers/server.ts";
import { deliver, event } from "../helpers/stripe.ts";

describe("serve --host and --port", () => {
  test("override the config's listen, and a reload keeps them", async () => {
    const port = await freePort();
    const server = await startServer({
      config: testConfig('unhandled:\n  - log: "got {{type}}"\n').replace("port: {{port}}", "port: 1"),
      args: ["--host", "127.0.0.1", "--port", String(port)],
    });
    try {
      expect(server.port).toBe(port);
      expect((await deliver(`${server.url}/webhook`, event("invoice.paid"))).status).toBe(200);
      await server.waitForStdout("got invoice.paid");
      process.kill(Number(/"pid":(\d+)/.exec(server.stderr.join("\n"))?.[1]), "SIGHUP");
      await server.waitForStderr('"msg":"config reloaded"');
      // The file still says port 1: had the reload dropped the flags, it would warn that listen changed.
      expect(server.stderr.join("\n")).not.toContain("take effect at the next restart");
      expect((await deliver(`${server.url}/webhook`, event("invoice.paid"))).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  test("a bad --port is a usage error that names the flag", async () => {
    const result = await runPayhook(["serve", "--port", "http"]);
    expect(result.stderr).toContain('--port must be a port from 0 to 65535, got "http"');
    expect(result.code).toBe(2);
  });
});

test("the embedded default config listens on PORT", async () => {
  const port = await freePort();
  const server = await startServer({ env: { PORT: String(port) } });
  try {
    expect(server.url).toBe(`http://127.0.0.1:${port}`);
    const response = await deliver(`${server.url}/webhook`, event("payment_intent.succeeded"), {
      secret: DEVELOPMENT_SECRET,
    });
    expect(response.status).toBe(200);
    await server.waitForStdout(/PaymentIntent pi_\w+ was successful!/);
  } finally {
    await server.stop();
  }
});

test("a store whose folder does not exist fails at start, naming the path, the reason and /var/lib/payhook", async () => {
  const dir = tempDir();
  const config = join(dir, "payhook.yaml");
  const store = join(dir, "missing", "payhook.db");
  writeFileSync(config, testConfig("").replace("{{port}}", "0").replace("{{dir}}/payhook.db", store));
  const result = await runPayhook(["serve", "--config", config]);
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain(`cannot open the store ${store}: its folder ${join(dir, "missing")} does not exist`);
  expect(result.stderr).toContain("stores usually live in /var/lib/payhook");
});
