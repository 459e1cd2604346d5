/**
 * End to end: HTTPS with listen.tls (a self-signed certificate made here) and `payhook health` against it, and
 * the IP allowlist.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { rawRequest } from "../helpers/raw-http.ts";
import { type RunningServer, runPayhook, startServer, tempDir, testConfig } from "../helpers/server.ts";
import { deliver, event, sign } from "../helpers/stripe.ts";

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
});

/** A self-signed certificate for 127.0.0.1, made with openssl in `dir`. */
function selfSigned(dir: string): string {
  const made = spawnSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"],
      ...["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
      ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
    ],
    { encoding: "utf8" },
  );
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  return readFileSync(join(dir, "cert.pem"), "utf8");
}

describe("TLS", () => {
  test("listen.tls serves HTTPS that a client trusting the certificate can deliver to", async () => {
    const dir = tempDir();
    const ca = selfSigned(dir);
    const config = testConfig("").replace(
      "listen: { host: 127.0.0.1, port: {{port}} }",
      "listen: { host: 127.0.0.1, port: {{port}}, tls: { cert: cert.pem, key: key.pem } }",
    );
    server = await startServer({ config, dir });
    expect(server.url).toStartWith("https://127.0.0.1:");
    const payload = event("payment_intent.succeeded");
    const response = await fetch(`${server.url}/webhook`, {
      method: "POST",
      body: payload,
      headers: { "stripe-signature": await sign(payload) },
      tls: { ca },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: true });
    // The same port does not speak plain HTTP, and a client that does not trust the certificate is refused.
    await expect(fetch(`${server.url.replace("https:", "http:")}/healthz`)).rejects.toThrow();
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    expect((await fetch(`${server.url}/healthz`, { tls: { ca } })).status).toBe(200);
    // The image's HEALTHCHECK asks this very listener, whose certificate it has no reason to trust.
    const probe = await runPayhook(["health", "--config", join(dir, "payhook.yaml")], { cwd: dir });
    expect([probe.code, probe.stderr]).toEqual([0, ""]);
    expect(probe.stdout).toContain(`${server.url}/healthz: ok`);
  });

  test("a certificate file that cannot be read is a config error naming the key", async () => {
    const dir = tempDir();
    const config = `listen: { tls: { cert: missing.pem, key: key.pem } }
endpoints:
  - path: /webhook
    secrets: ["whsec_x"]
`;
    await Bun.write(join(dir, "payhook.yaml"), config);
    const result = await runPayhook(["check", "--config", join(dir, "payhook.yaml")], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`listen.tls.cert: cannot read ${join(dir, "missing.pem")}`);
    expect(result.stderr).toContain("listen.tls.key: cannot read");
  });
});

describe("allow_ips", () => {
  const allowing = (extra: string) => testConfig(`${extra}\nunhandled:\n  - log: "got {{type}}"\n`);

  test("a peer outside allow_ips gets 403; a forged X-Forwarded-For from an untrusted peer does not help", async () => {
    server = await startServer({ config: allowing("allow_ips: [10.0.0.0/8]") });
    const payload = event("payment_intent.succeeded");
    const refused = await deliver(`${server.url}/webhook`, payload);
    expect(refused.status).toBe(403);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("ip_not_allowed");
    expect(body.error.message).toContain("127.0.0.1");
    const forged = await fetch(`${server.url}/webhook`, {
      method: "POST",
      body: payload,
      headers: { "stripe-signature": await sign(payload), "x-forwarded-for": "10.1.2.3" },
    });
    expect(forged.status).toBe(403);
    // The ops routes on the main listener are behind the allowlist too (an admin listener is not).
    expect((await fetch(`${server.url}/metrics`)).status).toBe(403);
    // An empty or malformed Host changes nothing: refused as any other request from outside, and logged.
    for (const host of ["Host: ", "Host: a b"]) {
      const raw = await rawRequest(server.port, ["POST /webhook HTTP/1.1", host], payload);
      expect([host, raw.status]).toEqual([host, 403]);
      expect(raw.body).toContain("ip_not_allowed");
    }
    await server.waitForStderr(/"code":"ip_not_allowed".*"path":"\/webhook"/);
  });

  test("behind a trusted proxy, the rightmost untrusted X-Forwarded-For entry decides", async () => {
    server = await startServer({ config: allowing("allow_ips: [10.0.0.0/8]\ntrusted_proxies: [127.0.0.1]") });
    const post = async (xff: string) => {
      const payload = event("invoice.paid");
      return fetch(`${server?.url}/webhook`, {
        method: "POST",
        body: payload,
        headers: { "stripe-signature": await sign(payload), "x-forwarded-for": xff },
      });
    };
    expect((await post("10.1.2.3")).status).toBe(200);
    // The client wrote the left entry; the proxy appended the address it saw.
    expect((await post("10.1.2.3, 198.51.100.7")).status).toBe(403);
    expect((await post("198.51.100.7, 10.1.2.3")).status).toBe(200);
    await server.waitForStdout("got invoice.paid");
    const text = await (await fetch(`${server.url}/metrics`, { headers: { "x-forwarded-for": "10.9.9.9" } })).text();
    expect(text).toContain('payhook_requests_total{endpoint="/webhook",outcome="rejected",reason="ip_not_allowed"} 1');
    expect(text).toContain('payhook_requests_total{endpoint="/webhook",outcome="accepted"} 2');
  });

  test("a peer inside allow_ips is served", async () => {
    server = await startServer({ config: allowing("allow_ips: [127.0.0.0/8, '::1']") });
    expect((await deliver(`${server.url}/webhook`, event("invoice.paid"))).status).toBe(200);
  });

  test("an entry that is not an address or range is a config error", async () => {
    const dir = tempDir();
    await Bun.write(
      join(dir, "payhook.yaml"),
      `endpoints:\n  - path: /webhook\n    secrets: ["whsec_x"]\nallow_ips: [10.0.0.0/8, stripe.com]\n`,
    );
    const result = await runPayhook(["check", "--config", join(dir, "payhook.yaml")], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'allow_ips[1]: expected an IP address or CIDR range such as 3.18.12.63, 10.0.0.0/8 or 2001:db8::/32, got "stripe.com" (line 4)',
    );
  });
});
