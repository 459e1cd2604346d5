/**
 * The operator page's building blocks without a browser: escaping, the cross-origin and Host checks, sessions
 * and their cookie, the admin config rules, and the handler's refusals (no socket: the handler is a function).
 */
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";
import type { Store } from "../../src/store/types.ts";
import { cleanText, highlightJson } from "../../src/ui/format.ts";
import { escapeHtml, html, trusted } from "../../src/ui/html.ts";
import { OVERVIEW_INTERVAL_MS } from "../../src/ui/overview-data.ts";
import { CSP, hostAllowlist, loginClient, sameOrigin } from "../../src/ui/security.ts";
import { createSessions, readCookie, sessionCookie } from "../../src/ui/session.ts";
import { adminHandler, adminRequest } from "../helpers/admin.ts";

const TOKEN = "sentinel-admin-token-unit-0001";
const ENDPOINT = 'endpoints: [{ path: /webhook, secrets: ["whsec_unit"] }]\n';

describe("html escapes by default", () => {
  test("all five characters, in text and in attributes", () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
    const attacker = `"><img src=x onerror=alert(1)>`;
    expect(html`<p title="${attacker}">${attacker}</p>`.text).toBe(
      '<p title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;">&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</p>',
    );
  });

  test("nested html is kept, arrays are joined, nothing is rendered for null, undefined and false", () => {
    const items = ["<b>", "c"].map((t) => html`<li>${t}</li>`);
    expect(html`<ul>${items}</ul>${null}${undefined}${false}${0}`.text).toBe("<ul><li>&lt;b&gt;</li><li>c</li></ul>0");
    expect(html`${trusted("<br>")}`.text).toBe("<br>");
  });

  test("a plain object shaped like SafeHtml is still escaped: only the tag makes safe HTML", () => {
    const forged = { text: "<script>" } as unknown as string;
    expect(html`${forged}`.text).toBe("[object Object]");
  });

  test("highlighted JSON escapes every token, and non-JSON is shown as text", () => {
    const body = new TextEncoder().encode('{"name":"<img src=x onerror=alert(1)>","n":1,"ok":true}');
    const out = highlightJson(body).text;
    expect(out).toContain('<span class="j-str">&quot;&lt;img src=x onerror=alert(1)&gt;&quot;</span>');
    expect(out).not.toContain("<img");
    expect(highlightJson(new TextEncoder().encode("<b>not json")).text).toBe("&lt;b&gt;not json");
  });

  test("captured output loses escape sequences and control characters, and is capped", () => {
    expect(cleanText("\u001b[31mred\u001b[0m\u0007 \u202eevil")).toBe("red\uFFFD \uFFFDevil");
    expect(cleanText("x".repeat(20), 10)).toBe(`${"x".repeat(10)}\n… (10 more characters)`);
  });
});

describe("cross-origin requests are refused", () => {
  const headers = (h: Record<string, string>) => new Headers({ host: "127.0.0.1:9000", ...h });
  test.each([
    [{ "sec-fetch-site": "same-origin" }, true],
    [{ "sec-fetch-site": "none" }, true],
    [{ "sec-fetch-site": "same-site" }, false],
    [{ "sec-fetch-site": "cross-site" }, false],
    [{ "sec-fetch-site": "cross-site", origin: "http://127.0.0.1:9000" }, false],
    [{ origin: "http://127.0.0.1:9000" }, true],
    [{ origin: "http://127.0.0.1:9001" }, false],
    [{ origin: "http://evil.example" }, false],
    [{ origin: "null" }, false],
    [{}, true],
  ])("%j → %p", (h, allowed) => {
    expect(sameOrigin(headers(h))).toBe(allowed);
  });
});

describe("Host allowlist", () => {
  test("loopback listener: loopback names only, any port", () => {
    const allowed = hostAllowlist("127.0.0.1");
    for (const host of ["127.0.0.1:8080", "localhost:1", "[::1]:8080", "LOCALHOST"]) expect(allowed(host)).toBe(true);
    for (const host of ["attacker.example:8080", "127.0.0.1.nip.io", "", null]) expect(allowed(host)).toBe(false);
  });
  test("a public listener: its address and the configured names", () => {
    const allowed = hostAllowlist("10.0.0.5", ["payhook.example.com"]);
    expect(allowed("10.0.0.5:9000")).toBe(true);
    expect(allowed("payhook.example.com")).toBe(true);
    expect(allowed("payhook.example.com.")).toBe(true);
    expect(allowed("other.example.com")).toBe(false);
  });
});

describe("sessions", () => {
  test("the right token opens a session that the cookie finds; a wrong one does not", () => {
    const sessions = createSessions([{ name: "admin", token: TOKEN, role: "operator" }]);
    expect(sessions.login("wrong", "1.2.3.4", 0)).toEqual({ result: "wrong" });
    const ok = sessions.login(TOKEN, "1.2.3.4", 0);
    if (ok.result !== "ok") throw new Error("login failed");
    const cookie = sessionCookie(ok.session, 0);
    expect(cookie).toMatch(/^__Host-payhook=[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict; Max-Age=43200$/);
    expect(cookie).not.toContain(TOKEN);
    const header = `other=1; __Host-payhook=${readCookie(cookie.split(";")[0] ?? "", "__Host-payhook")}`;
    expect(sessions.get(header, 1000)?.id).toBe(ok.session.id);
    expect(sessions.get(header, 12 * 3600 * 1000)).toBeUndefined(); // expired
    sessions.logout(ok.session.id);
    expect(sessions.get(header, 1000)).toBeUndefined();
    expect(sessionCookie(null, 0)).toContain("Max-Age=0");
  });

  test("five wrong tokens in a minute limit that client's wrong tokens for the rest of the minute; the right one gets in", () => {
    const sessions = createSessions([{ name: "admin", token: TOKEN, role: "operator" }]);
    for (let i = 0; i < 5; i++) expect(sessions.login(`guess${i}`, "1.2.3.4", i * 1000).result).toBe("wrong");
    expect(sessions.login("guess5", "1.2.3.4", 10_000)).toEqual({ result: "limited", retryAfter: 50 });
    expect(sessions.login("guess5", "5.6.7.8", 10_000).result).toBe("wrong");
    // Clients behind one proxy or SSH tunnel share an address: their mistakes never lock out the right token.
    expect(sessions.login(TOKEN, "1.2.3.4", 10_000).result).toBe("ok");
    expect(sessions.login("guess6", "1.2.3.4", 11_000).result).toBe("wrong");
  });

  test("the client of a login is the one a trusted proxy forwarded for, else the peer", () => {
    expect(loginClient("127.0.0.1", "203.0.113.7", ["127.0.0.1"])).toBe("203.0.113.7");
    expect(loginClient("127.0.0.1", "198.51.100.1, 203.0.113.7", ["127.0.0.1"])).toBe("203.0.113.7");
    expect(loginClient("192.0.2.9", "203.0.113.7", ["127.0.0.1"])).toBe("192.0.2.9");
    expect(loginClient("127.0.0.1", "203.0.113.7")).toBe("127.0.0.1");
  });
});

describe("admin config", () => {
  const problems = (text: string, env: Record<string, string> = {}) => {
    try {
      parseConfig(`${ENDPOINT}${text}`, { source: "payhook.yaml", env });
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
  };
  test("beyond loopback without a token is an error that says how to fix it", () => {
    expect(problems("admin: { host: 0.0.0.0, port: 9000 }\n")).toEqual([
      'payhook.yaml: admin.host: 0.0.0.0 is reachable beyond this machine, so the admin listener needs a token: add token: "${PAYHOOK_ADMIN_TOKEN}" (a secret of 16 or more characters) or bind 127.0.0.1 (line 2)',
    ]);
    expect(problems('admin: { host: 0.0.0.0, port: 9000, token: "${T}" }\n', { T: TOKEN })).toEqual([]);
    expect(problems("admin: { host: 127.0.0.1, port: 9000 }\n")).toEqual([]);
  });
  test("an empty token is no token; a short one is an error that does not show it", () => {
    const config = parseConfig(`${ENDPOINT}admin: { port: 9000, token: "\${T:-}" }\n`, { source: "p", env: {} });
    expect(config.file.admin?.token).toBeUndefined();
    const [problem] = problems('admin: { port: 9000, token: "${T}" }\n', { T: "short-secret" });
    expect(problem).toContain("admin.token");
    expect(problem).not.toContain("short-secret");
  });
});

describe("the admin handler", () => {
  let readings = 0;
  let clock = 1_000_000;
  const store = {
    listEvents: async () => [],
    getEvent: async () => null,
    activity: async () => {
      readings++;
      await Bun.sleep(5);
      return [];
    },
    queueStats: async () => ({ byStatus: {}, oldestPendingAt: null }),
    upgrades: async () => [],
    incidents: async () => [],
  } as unknown as Store;
  const handler = (token?: string) =>
    adminHandler(store, { ops: { "/healthz": () => new Response("ok") }, token, now: () => clock });

  const client = { address: "127.0.0.1" };
  const request = adminRequest;

  test("without a token: the ops routes only", async () => {
    const h = handler();
    expect(await (await h(request("/healthz"), client)).text()).toBe("ok");
    const page = await h(request("/"), client);
    expect(page.status).toBe(404);
    expect(await page.text()).toContain("admin.token");
  });

  test("with a token: a login page under the strict CSP; other pages need a session", async () => {
    const h = handler(TOKEN);
    const login = await h(request("/login"), client);
    expect(login.status).toBe(200);
    expect(login.headers.get("content-security-policy")).toBe(CSP);
    expect(CSP).not.toContain("unsafe");
    expect(await login.text()).toContain('<label for="token">Token</label>');
    const events = await h(request("/"), client);
    expect([events.status, events.headers.get("location")]).toEqual([303, "/login"]);
    const replay = await h(request("/events/evt_1/replay", { method: "POST", body: new URLSearchParams() }), client);
    expect(replay.status).toBe(401);
    const foreign = await h(request("/login", { headers: { host: "evil.example" } }), client);
    expect(foreign.status).toBe(421);
  });

  test("logged in: a body that is not a form is a 400, and a malformed event id a 404", async () => {
    const h = handler(TOKEN);
    const login = await h(request("/login", { method: "POST", body: new URLSearchParams({ token: TOKEN }) }), client);
    expect(login.status).toBe(303);
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const events = await (await h(request("/", { headers: { cookie } }), client)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(events)?.[1] ?? "";
    expect(csrf).not.toBe("");
    const json = await h(
      request("/events/evt_1/replay", {
        method: "POST",
        headers: { cookie, "content-type": "application/json" },
        body: "{}",
      }),
      client,
    );
    expect(json.status).toBe(400);
    const malformed = await h(
      request("/events/%E0%A4%A/replay", { method: "POST", headers: { cookie }, body: new URLSearchParams({ csrf }) }),
      client,
    );
    expect(malformed.status).toBe(404);
    const page = await h(request("/events/%E0%A4%A", { headers: { cookie } }), client);
    expect(page.status).toBe(404);
    expect(await page.text()).toContain("No event with that id");
  });

  test("open Overview tabs share one reading of the store per interval", async () => {
    const h = handler(TOKEN);
    const login = await h(request("/login", { method: "POST", body: new URLSearchParams({ token: TOKEN }) }), client);
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const overview = () => h(request("/overview", { headers: { cookie } }), client);
    readings = 0;
    // Eight tabs refresh on the same live change, at once and then again within the interval.
    const pages = await Promise.all(Array.from({ length: 8 }, overview));
    expect(pages.map((p) => p.status)).toEqual(Array(8).fill(200));
    await Promise.all(Array.from({ length: 8 }, overview));
    expect(readings).toBe(1);
    clock += OVERVIEW_INTERVAL_MS;
    await Promise.all(Array.from({ length: 8 }, overview));
    expect(readings).toBe(2);
  });
});
