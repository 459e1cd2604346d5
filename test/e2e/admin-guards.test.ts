/**
 * End to end, without a browser: the admin listener's guards on the compiled binary (or PAYHOOK_CMD). Its ops
 * routes are behind the Host allowlist; an empty or malformed Host is a logged 400, while a signed webhook with
 * one is still judged on its signature; logins are limited per client behind a trusted proxy and the right token
 * always gets in; a form whose origin the browser hid is told why; live streams are capped per session and end
 * at logout; `check` warns about a page served over plain HTTP beyond loopback.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { rawRequest } from "../helpers/raw-http.ts";
import { freePort, type RunningServer, runPayhook, startServer, testConfig } from "../helpers/server.ts";
import { event, sign } from "../helpers/stripe.ts";

const TOKEN = "sentinel-admin-token-guards-0001";
const ENV = { PAYHOOK_ADMIN_TOKEN: TOKEN };

// Under `deno run` each payhook command starts in seconds; a bound, not an assertion.
setDefaultTimeout(60_000);

let server: RunningServer;
let adminPort: number;
let admin: string;

beforeAll(async () => {
  adminPort = await freePort();
  admin = `http://127.0.0.1:${adminPort}`;
  server = await startServer({
    config: testConfig(`admin: { port: ${adminPort}, token: "\${PAYHOOK_ADMIN_TOKEN}" }
trusted_proxies: [127.0.0.1]
unhandled:
  - log: "got {{type}}"
`),
    env: ENV,
  });
});

afterAll(async () => {
  await server?.kill();
});

const login = (token: string, headers: Record<string, string> = {}) =>
  fetch(`${admin}/login`, { method: "POST", body: new URLSearchParams({ token }), headers, redirect: "manual" });

/** A session cookie and its CSRF token. */
async function session(): Promise<{ cookie: string; csrf: string }> {
  const response = await login(TOKEN);
  expect(response.status).toBe(303);
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const page = await (await fetch(`${admin}/`, { headers: { cookie } })).text();
  return { cookie, csrf: /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? "" };
}

describe("the admin listener's guards", () => {
  test("/metrics, /readyz and /healthz answer a loopback name or an IP address, never a rebinding name", async () => {
    for (const path of ["/metrics", "/readyz", "/healthz"]) {
      const rebound = await fetch(`${admin}${path}`, { headers: { host: `attacker.example:${adminPort}` } });
      expect([path, rebound.status]).toEqual([path, 421]);
      expect((await fetch(`${admin}${path}`)).status).toBe(200);
      // A probe or scrape by the pod's address: DNS rebinding needs a name, so an address is no rebound request.
      expect((await fetch(`${admin}${path}`, { headers: { host: `10.1.2.3:${adminPort}` } })).status).toBe(200);
    }
  });

  test("an empty or malformed Host is a logged 400; a signed webhook with one is still judged on its signature", async () => {
    for (const host of ["Host: ", "Host: a b", "Host: [::1"]) {
      for (const path of ["/metrics", "/login"]) {
        const refused = await rawRequest(adminPort, [`GET ${path} HTTP/1.1`, host]);
        expect([host, path, refused.status]).toEqual([host, path, 400]);
        expect(refused.body).toContain("the Host header is missing or malformed");
      }
    }
    await server.waitForStderr('"code":"bad_host"');

    const payload = event("invoice.paid");
    const signature = await sign(payload);
    const post = (host: string, sig: string) =>
      rawRequest(
        server.port,
        ["POST /webhook HTTP/1.1", host, "Content-Type: application/json", `Stripe-Signature: ${sig}`],
        payload,
      );
    expect((await post("Host: ", signature)).status).toBe(200);
    expect((await post("Host: a b", signature)).status).toBe(200);
    expect((await post("Host: ", "t=1,v1=00")).status).toBe(400);
    expect((await rawRequest(server.port, ["GET /nowhere HTTP/1.1", "Host: "])).status).toBe(404);
  });

  test("logins are limited per client behind a trusted proxy, and the right token gets in even when limited", async () => {
    const from = (address: string) => ({ "x-forwarded-for": address });
    for (let i = 0; i < 5; i++) expect((await login(`wrong-token-${i}`, from("203.0.113.7"))).status).toBe(401);
    expect((await login("wrong-token-6", from("203.0.113.7"))).status).toBe(429);
    // Another client behind the same proxy is not locked out by the first one's mistakes.
    expect((await login("wrong-token-7", from("203.0.113.8"))).status).toBe(401);
    // Nor is the operator who knows the token, even from the limited address.
    expect((await login(TOKEN, from("203.0.113.7"))).status).toBe(303);
    await server.waitForStderr(/"code":"rate_limited".*"client":"203\.0\.113\.7"/);
  });

  test("a form whose origin the browser hid (Origin: null) is told it needs HTTPS or an SSH tunnel", async () => {
    const refused = await fetch(`${admin}/login`, {
      method: "POST",
      body: new URLSearchParams({ token: TOKEN }),
      headers: { origin: "null" },
      redirect: "manual",
    });
    expect(refused.status).toBe(403);
    const message = await refused.text();
    expect(message).toContain("over HTTPS");
    expect(message).toContain("SSH tunnel");
    expect(message).not.toContain("did not come from the operator page");
  });

  test("live streams are capped per session and end at logout", async () => {
    const { cookie, csrf } = await session();
    const streams: ReadableStreamDefaultReader<Uint8Array>[] = [];
    for (let i = 0; i < 16; i++) {
      const live = await fetch(`${admin}/live`, { headers: { cookie } });
      expect(live.status).toBe(200);
      const reader = live.body?.getReader();
      if (!reader) throw new Error("no stream");
      await reader.read(); // ": connected"
      streams.push(reader);
    }
    const over = await fetch(`${admin}/live`, { headers: { cookie } });
    expect(over.status).toBe(429);
    expect(await over.text()).toContain("most live pages open");
    // Another session has its own allowance.
    const other = await session();
    const theirs = await fetch(`${admin}/live`, { headers: { cookie: other.cookie } });
    expect(theirs.status).toBe(200);

    const out = await fetch(`${admin}/logout`, {
      method: "POST",
      body: new URLSearchParams({ csrf }),
      headers: { cookie },
      redirect: "manual",
    });
    expect(out.status).toBe(303);
    // Every stream of the session ends; a bound on the wait (the keep-alive alone is 15 s away), not on time.
    const ended = await Promise.race([
      Promise.all(streams.map(async (r) => (await r.read()).done)),
      Bun.sleep(10_000).then(() => "still open"),
    ]);
    expect(ended).toEqual(Array(16).fill(true));
    expect((await fetch(`${admin}/live`, { headers: { cookie } })).status).toBe(401);
    // The other session's stream is untouched.
    const reader = theirs.body?.getReader();
    expect((await reader?.read())?.done).toBe(false);
    await reader?.cancel();
  });

  test("check warns about an operator page beyond loopback with no TLS proxy in front", async () => {
    const dir = server.dir;
    const body = (extra: string) =>
      testConfig(`admin: { host: 0.0.0.0, port: 9999, token: "\${PAYHOOK_ADMIN_TOKEN}" }\n${extra}`)
        .replaceAll("{{port}}", "9998")
        .replaceAll("{{dir}}", dir);
    writeFileSync(join(dir, "open.yaml"), body(""));
    writeFileSync(join(dir, "proxied.yaml"), body("trusted_proxies: [10.0.0.1]\n"));
    const open = await runPayhook(["check", "--config", "open.yaml"], { cwd: dir, env: ENV });
    expect(open.code).toBe(0);
    expect(open.stderr).toContain("admin.host");
    expect(open.stderr).toContain("beyond loopback, over plain HTTP");
    expect(open.stderr + open.stdout).not.toContain(TOKEN);
    const strict = await runPayhook(["check", "--strict", "--config", "open.yaml"], { cwd: dir, env: ENV });
    expect(strict.code).toBe(2);
    const proxied = await runPayhook(["check", "--config", "proxied.yaml"], { cwd: dir, env: ENV });
    expect(proxied.stderr).not.toContain("over plain HTTP");
  });
});
