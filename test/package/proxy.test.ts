/**
 * The reverse-proxy examples of docs/packages.md, exactly as written there (only the public address swapped for
 * a free local port and payhook's for the test server's), with Debian's caddy and nginx in front of payhook: a
 * signed webhook through the proxy verifies (the proxy passes the body unchanged), a tampered one does not.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers/podman.ts";
import { freePort, type RunningServer, startServer, tempDir, testConfig, waitUntil } from "../helpers/server.ts";
import { deliver, event, sign } from "../helpers/stripe.ts";

const DOCS = readFileSync(join(ROOT, "docs/packages.md"), "utf8");

/** The first fenced block of `language` in docs/packages.md. */
function block(language: string): string {
  const found = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(DOCS)?.[1];
  if (!found) throw new Error(`docs/packages.md has no \`\`\`${language} block`);
  return found;
}

let payhook: RunningServer;
const proxies: ChildProcess[] = [];

beforeAll(async () => {
  payhook = await startServer({
    config: testConfig(`trusted_proxies: [127.0.0.1]\nunhandled:\n  - log: "got {{id}}"\n`),
  });
});

afterAll(async () => {
  for (const proxy of proxies) proxy.kill("SIGTERM");
  await payhook.stop();
});

/** Starts a proxy and waits until it forwards to payhook (GET /webhook reaches payhook, which answers 405). */
async function startProxy(argv: string[], url: string, env: Record<string, string> = {}): Promise<string[]> {
  const output: string[] = [];
  const child = spawn(argv[0] as string, argv.slice(1), { env: { PATH: process.env.PATH ?? "", ...env } });
  proxies.push(child);
  child.stdout?.on("data", (d) => output.push(String(d)));
  child.stderr?.on("data", (d) => output.push(String(d)));
  await waitUntil(
    async () =>
      (await fetch(`${url}/webhook`).then(
        (r) => r.status,
        () => 0,
      )) === 405,
    30_000,
    `${argv[0]} forwarding (${output.join("")})`,
  );
  return output;
}

async function expectVerifiesThrough(url: string): Promise<void> {
  const payload = event("payment_intent.succeeded");
  expect((await deliver(`${url}/webhook`, payload)).status).toBe(200);
  await payhook.waitForStdout(JSON.parse(payload).id);
  // Signed for one body, sent with another: only a proxy that changed bodies could make this pass.
  const header = await sign(payload);
  const tampered = payload.replace("payment_intent.succeeded", "payment_intent.canceled");
  expect((await deliver(`${url}/webhook`, tampered, { header })).status).toBe(400);
}

describe("behind a reverse proxy", () => {
  test("Caddy: the docs' Caddyfile passes a signed webhook through unchanged", async () => {
    const dir = tempDir();
    const port = await freePort();
    const caddyfile = block("caddyfile")
      .replace("payhook.example.com", `http://127.0.0.1:${port}`)
      .replaceAll("127.0.0.1:4242", `127.0.0.1:${payhook.port}`);
    // Global options for a test: no admin endpoint, no certificates.
    writeFileSync(join(dir, "Caddyfile"), `{\n\tadmin off\n\tauto_https off\n}\n${caddyfile}`);
    const url = `http://127.0.0.1:${port}`;
    await startProxy(["caddy", "run", "--adapter", "caddyfile", "--config", join(dir, "Caddyfile")], url, {
      HOME: dir,
      XDG_DATA_HOME: dir,
      XDG_CONFIG_HOME: dir,
    });
    await expectVerifiesThrough(url);
  });

  test("nginx: the docs' server block passes a signed webhook through unchanged", async () => {
    const dir = tempDir();
    const port = await freePort();
    const server = block("nginx")
      .replace("listen 80;", `listen 127.0.0.1:${port};`)
      .replaceAll("127.0.0.1:4242", `127.0.0.1:${payhook.port}`);
    // The main config nginx.conf would give it, in the test's folder.
    const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((k) => `${k}_temp_path ${dir}/${k};`);
    writeFileSync(
      join(dir, "nginx.conf"),
      `daemon off;\nuser root;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\naccess_log off;\n${temp.join("\n")}\n${server}}\n`,
    );
    const url = `http://127.0.0.1:${port}`;
    await startProxy(["nginx", "-p", dir, "-c", join(dir, "nginx.conf")], url);
    await expectVerifiesThrough(url);
  });
});
