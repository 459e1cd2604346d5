/**
 * End to end in Chromium: the operator page of the compiled binary (or PAYHOOK_CMD) on its admin listener.
 * Logs in, watches triggered events arrive live, reads a failed exec delivery's stderr, fixes the script and
 * replays from the page, bulk-replays from Failures, and checks escaping, CSRF refusal and accessibility.
 * PAYHOOK_SCREENSHOTS=1 also writes the screenshots that docs/operations.md#operator-page shows. Over plain HTTP,
 * odd stored values (a created past the date range) and odd queries (a NUL) get a page, never a 500.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BrowserContext, Dialog, Page } from "playwright-core";
import { launchBrowser, seriousViolations } from "../helpers/browser.ts";
import { freePort, type RunningServer, runPayhook, startServer, testConfig, waitUntil } from "../helpers/server.ts";
import { deliver, event, idOf } from "../helpers/stripe.ts";

const TOKEN = "sentinel-admin-token-0123456789";
const XSS_NAME = "<img src=x onerror=alert(1)>";
const XSS_NOTE = "</script><script>window.__x=2</script>";
const DOCS = resolve(import.meta.dir, "../../docs");
const SCREENSHOTS = process.env.PAYHOOK_SCREENSHOTS === "1";

// Each step waits for the browser and the server; the bound is for a loaded 2-core machine, not an assertion.
setDefaultTimeout(60_000);

let server: RunningServer;
let admin: string;
let browser: BrowserContext;
let page: Page;
const dialogs: Dialog[] = [];
const pageErrors: string[] = [];

async function trigger(...args: string[]): Promise<void> {
  const result = await runPayhook(["trigger", ...args], { cwd: server.dir, env: { PAYHOOK_ADMIN_TOKEN: TOKEN } });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
}

async function cspViolations(): Promise<string[]> {
  return page.evaluate(() => (globalThis as unknown as { __csp: string[] }).__csp ?? []);
}

async function noSeriousViolations(name: string): Promise<void> {
  for (const colorScheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme });
    const violations = (await seriousViolations(page)).map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target) }));
    expect({ screen: name, colorScheme, violations }).toEqual({ screen: name, colorScheme, violations: [] });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

async function screenshot(name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  mkdirSync(DOCS, { recursive: true });
  await page.screenshot({ path: join(DOCS, `operator-${name}.png`), fullPage: false });
}

beforeAll(async () => {
  const adminPort = await freePort();
  server = await startServer({
    config: testConfig(`admin: { port: ${adminPort}, token: "\${PAYHOOK_ADMIN_TOKEN}" }
handlers:
  "customer.*":
    - name: notify
      exec: { command: ["/bin/sh", "{{dir}}/notify.sh"] }
unhandled:
  - log: "unhandled {{type}}"
`),
    env: { PAYHOOK_ADMIN_TOKEN: TOKEN },
  });
  // The user's script: fails with a message on stderr (and echoes the event) until the file "fixed" exists.
  writeFileSync(
    join(server.dir, "notify.sh"),
    `if [ -f "${server.dir}/fixed" ]; then echo "notified"; exit 0; fi\necho "notify: the mail service refused" >&2\ncat >&2\nexit 1\n`,
  );
  admin = `http://127.0.0.1:${adminPort}`;
  browser = await launchBrowser();
  page = browser.pages()[0] ?? (await browser.newPage());
  await browser.addInitScript(() => {
    const g = globalThis as unknown as { __csp: string[] };
    g.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => g.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  page.on("dialog", (dialog) => {
    dialogs.push(dialog);
    void dialog.dismiss();
  });
  page.on("pageerror", (error) => pageErrors.push(String(error)));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe("operator page in Chromium", () => {
  test("is not on the public webhook port, and refuses a foreign Host (DNS rebinding)", async () => {
    expect((await fetch(`${server.url}/login`)).status).toBe(404);
    expect((await fetch(`${server.url}/`)).status).toBe(404);
    const rebound = await fetch(`${admin}/login`, { headers: { host: "attacker.example:80" } });
    expect(rebound.status).toBe(421);
    expect((await fetch(`${admin}/`, { redirect: "manual" })).headers.get("location")).toBe("/login");
  });

  test("a wrong token is refused without a cookie; the right one opens a session in a strict cookie", async () => {
    await page.goto(`${admin}/`);
    await expect(page.getByLabel("Token")).toBeDefined();
    await page.getByLabel("Token").fill("wrong-token-wrong-token");
    const [refused] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/login") && r.request().method() === "POST"),
      page.getByRole("button", { name: "Log in" }).click(),
    ]);
    expect(refused.status()).toBe(401);
    await page.getByText("That token is not right.").waitFor();
    expect(await browser.cookies()).toEqual([]);
    expect(refused.headers()["content-security-policy"]).toContain("script-src 'self'");
    expect(refused.headers()["content-security-policy"]).not.toContain("unsafe");

    await page.getByLabel("Token").fill(TOKEN);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Events" }).waitFor();
    const [cookie, ...others] = await browser.cookies();
    expect(others).toEqual([]);
    expect(cookie).toMatchObject({ name: "__Host-payhook", httpOnly: true, sameSite: "Strict", secure: true });
    expect(cookie?.value).not.toContain(TOKEN);
  });

  test("triggered events appear without a reload, attacker text shown as text", async () => {
    await page.evaluate(() => {
      (globalThis as unknown as { __stay: number }).__stay = 1;
    });
    await page.locator(".live-status").getByText("Live").waitFor();
    await trigger(
      "customer.created",
      "--override",
      `data.object.name=${XSS_NAME}`,
      "--override",
      `data.object.metadata.note=${XSS_NOTE}`,
    );
    await page.locator("table.events").getByText("customer.created").waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { __stay?: number }).__stay)).toBe(1);
    await screenshot("events");
  });

  test("event detail: payload and the failed exec delivery with its stderr, escaped", async () => {
    await page.locator("table.events tr", { hasText: "customer.created" }).getByRole("link").first().click();
    await page.getByRole("heading", { name: "Deliveries" }).waitFor();
    const delivery = page.getByRole("article", { name: "Delivery notify" });
    await delivery.locator(".badge", { hasText: "failed" }).first().waitFor();
    await delivery.getByText("notify: the mail service refused").waitFor();
    // The attacker's strings are visible as text, in the payload and in the captured output, and nothing ran.
    await expect(page.locator("#payload").getByText(XSS_NAME, { exact: false }).count()).resolves.toBeGreaterThan(0);
    expect(await page.locator("#payload").textContent()).toContain(XSS_NOTE.replaceAll('"', '\\"'));
    expect(await delivery.locator("pre.out").last().textContent()).toContain(XSS_NAME);
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.locator("main script").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __x?: number }).__x)).toBeUndefined();
    expect(dialogs).toEqual([]);
    const raw = await page.request.get(`${page.url()}/raw`);
    expect(raw.headers()["content-disposition"]).toContain("attachment");
    expect(JSON.parse(await raw.text()).data.object.name).toBe(XSS_NAME);
    await screenshot("event");
    await noSeriousViolations("event detail");
  });

  test("a replay POST without the CSRF token, or from another origin, is refused and queues nothing", async () => {
    const url = `${page.url()}/replay`;
    const before = await page
      .getByRole("article", { name: "Delivery notify" })
      .locator("table.attempts tbody tr")
      .count();
    const noToken = await page.request.post(url, { form: { action: "notify" } });
    expect(noToken.status()).toBe(403);
    const csrf = await page.locator('input[name="csrf"]').first().inputValue();
    const crossSite = await page.request.post(url, {
      form: { action: "notify", csrf },
      headers: { "sec-fetch-site": "cross-site" },
    });
    expect(crossSite.status()).toBe(403);
    // A real page on another origin that posts a form to the replay URL.
    const evilPort = await freePort();
    const evil = Bun.serve({
      hostname: "127.0.0.1",
      port: evilPort,
      fetch: () =>
        new Response(
          `<form method="post" action="${url}"><input name="action" value="notify"><button>go</button></form>`,
          { headers: { "content-type": "text/html" } },
        ),
    });
    try {
      const other = await browser.newPage();
      await other.goto(`http://127.0.0.1:${evilPort}/`);
      const [response] = await Promise.all([
        other.waitForResponse((r) => r.url() === url),
        other.getByRole("button", { name: "go" }).click(),
      ]);
      expect(response.status()).toBe(403);
      await other.close();
    } finally {
      evil.stop(true);
    }
    await page.reload();
    const after = await page
      .getByRole("article", { name: "Delivery notify" })
      .locator("table.attempts tbody tr")
      .count();
    expect(after).toBe(before);
    expect(server.stderr.join("\n")).toContain('"code":"csrf_token"');
  });

  test("fix the script, replay by keyboard, and the delivery is done", async () => {
    writeFileSync(join(server.dir, "fixed"), "");
    const button = page.getByRole("button", { name: "Replay notify" });
    await page.locator("body").focus();
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press("Tab");
      if (await button.evaluate((el) => el === document.activeElement)) break;
    }
    expect(await button.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.press("Enter");
    await page.getByText("Re-queued 1 delivery.").waitFor();
    const delivery = page.getByRole("article", { name: "Delivery notify" });
    await delivery.locator("header .badge", { hasText: "done" }).waitFor();
    await delivery.getByText("notified").waitFor();
  });

  test("bulk replay from Failures, after a confirmation that says how many", async () => {
    rmSync(join(server.dir, "fixed"));
    await page.goto(`${admin}/failures`);
    await trigger("customer.updated");
    await trigger("customer.deleted");
    const group = page.locator("table.failures tr", { hasText: "notify" });
    await group.getByText("/bin/sh exited with 1").waitFor();
    // Each trigger sends the events Stripe would (a customer.created first): wait until all were attempted.
    const unsettled = async () => {
      for (const status of ["pending", "running"]) {
        const listed = await runPayhook(["events", "list", "--status", status, "--json"], {
          cwd: server.dir,
          env: { PAYHOOK_ADMIN_TOKEN: TOKEN },
        });
        if (listed.stdout.trim() !== "") return true;
      }
      return false;
    };
    await waitUntil(async () => !(await unsettled()));
    await page.reload();
    const failed = Number(await group.locator("td").nth(2).textContent());
    await screenshot("failures");
    await noSeriousViolations("failures");
    await group.getByRole("link", { name: `Replay ${failed}…` }).click();
    await page
      .getByText(`Replay ${failed} failed and dead deliveries of notify that failed with the same error?`)
      .waitFor();
    await noSeriousViolations("confirm");
    writeFileSync(join(server.dir, "fixed"), "");
    await page.getByRole("button", { name: `Replay ${failed} deliveries` }).click();
    await page.getByText(`Re-queued ${failed} deliveries.`).waitFor();
    await page.getByText("No failed or dead deliveries.").waitFor();
  });

  test("filters, search and keyset pages on the Events screen", async () => {
    await page.goto(`${admin}/?type=customer.*`);
    const customerEvents = await page.locator("table.events tbody tr").count();
    expect(customerEvents).toBeGreaterThanOrEqual(3);
    await page.goto(`${admin}/?type=customer.created`);
    expect(await page.locator("table.events tbody tr").count()).toBeLessThan(customerEvents);
    await page.goto(`${admin}/?type=payment_intent.*`);
    await page.getByText("No events match.").waitFor();
    await page.goto(`${admin}/?type=not a type`);
    await page.getByRole("alert").getByText("Type:").waitFor();
    const customer =
      (await page.goto(`${admin}/?type=customer.created`)) &&
      (await page.locator("table.events tbody tr td:nth-child(5)").first().textContent());
    expect(customer).toMatch(/^cus_/);
    await page.goto(`${admin}/?q=${customer}`);
    expect(await page.locator("table.events tbody tr").count()).toBeGreaterThanOrEqual(1);
    await page.goto(`${admin}/?status=dead`);
    await page.getByText("No events match.").waitFor();
    await page.goto(`${admin}/`);
    await noSeriousViolations("events");
  });

  test("overview: charts drawn as SVG, queue and version", async () => {
    await page.goto(`${admin}/overview`);
    expect(await page.locator("figure.chart svg").count()).toBe(2);
    await page.getByText("Queue depth").waitFor();
    await page.getByText("SQLite").waitFor();
    await screenshot("overview");
    await noSeriousViolations("overview");
  });

  test("phone width: no sideways scrolling of the page", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ["/", "/failures", "/overview"]) {
      await page.goto(`${admin}${path}`);
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect({ path, overflow }).toEqual({ path, overflow: 0 });
    }
    if (SCREENSHOTS) {
      await page.goto(`${admin}/`);
      await screenshot("phone");
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("log out, then the login page; no CSP violation, page error or dialog anywhere; the token never logged", async () => {
    await page.goto(`${admin}/`);
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("Token").waitFor();
    await noSeriousViolations("login");
    await screenshot("login");
    expect(await browser.cookies()).toEqual([]);
    expect(await cspViolations()).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(dialogs).toEqual([]);
    expect(server.stdout.join("\n")).not.toContain(TOKEN);
    expect(server.stderr.join("\n")).not.toContain(TOKEN);
    expect(server.stderr.join("\n")).toContain('"code":"wrong_token"');
    expect(existsSync(join(server.dir, "fixed"))).toBe(true);
  });
});

describe("odd stored values and odd queries, over HTTP", () => {
  /** A session of its own (the browser's was logged out), and a GET of a page with it. */
  async function session(): Promise<(path: string) => Promise<Response>> {
    const login = await fetch(`${admin}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: TOKEN }),
      redirect: "manual",
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    return (path) => fetch(`${admin}${path}`, { headers: { cookie }, redirect: "manual" });
  }

  test("an event stored with a created past the date range (before payhook checked it) still shows on its page", async () => {
    const logged = server.stderr.length;
    const get = await session();
    const payload = event("invoice.paid");
    expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
    // Ingest now refuses such a created (400): an older binary stored it, which an update stands in for.
    const db = new Database(join(server.dir, "payhook.db"));
    try {
      // The server writes too (the event's delivery): wait for its lock rather than fail with SQLITE_BUSY.
      db.exec("PRAGMA busy_timeout = 10000");
      db.prepare("UPDATE events SET created = 9000000000000000 WHERE id = ?").run(idOf(payload));
    } finally {
      db.close();
    }
    const shown = await get(`/events/${idOf(payload)}`);
    const body = await shown.text();
    expect(shown.status).toBe(200);
    expect(body).toContain(idOf(payload));
    expect(body).toContain("invoice.paid");
    expect(body).toContain("9000000000000000000 ms (beyond the date range)");
    const listed = await get("/?type=invoice.paid");
    expect(listed.status).toBe(200);
    expect(await listed.text()).toContain(idOf(payload));
    expect(server.stderr.slice(logged).join("\n")).not.toContain("operator page: request failed");
  });

  test("a NUL in the search, the cursor or an event id matches nothing, never a 500, and the page still serves", async () => {
    // SQLite holds a NUL; PostgreSQL cannot, and postgres-features.test.ts sends the same queries there.
    const logged = server.stderr.length;
    const get = await session();
    const payload = event("invoice.paid");
    expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
    for (const path of ["/?q=%00", "/?q=evt_%00", "/?after=1.%00", "/?after=9999999999999.evt_%00&q=%00"]) {
      const response = await get(path);
      const body = await response.text();
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
      expect(body).toContain("No events match.");
    }
    expect((await get("/events/evt_%00")).status).toBe(404);
    expect((await get("/events/%00/raw")).status).toBe(404);
    const after = await get("/");
    expect(after.status).toBe(200);
    expect(await after.text()).toContain(idOf(payload));
    expect(server.stderr.slice(logged).join("\n")).not.toContain("operator page: request failed");
  });
});

describe("turning the operator page on", () => {
  test("check says the page is off without a token, and how to turn it on; the token is never printed", async () => {
    const dir = server.dir;
    const off = testConfig("admin: { port: 9999 }\n").replaceAll("{{port}}", "9998").replaceAll("{{dir}}", dir);
    writeFileSync(join(dir, "off.yaml"), off);
    const checked = await runPayhook(["check", "--config", "off.yaml"], { cwd: dir });
    expect(checked.code).toBe(0);
    expect(checked.stdout).toContain(
      'the operator page is off: add token: "${PAYHOOK_ADMIN_TOKEN}" under admin to turn it on',
    );
    const on = await runPayhook(["check"], { cwd: dir, env: { PAYHOOK_ADMIN_TOKEN: TOKEN } });
    expect(on.stdout).toContain("the operator page at /, token redacted");
    expect(on.stdout + on.stderr).not.toContain(TOKEN);
  });

  test("an admin listener beyond loopback without a token is a config error", async () => {
    const dir = server.dir;
    const open = testConfig("admin: { host: 0.0.0.0, port: 9999 }\n")
      .replaceAll("{{port}}", "9998")
      .replaceAll("{{dir}}", dir);
    writeFileSync(join(dir, "open.yaml"), open);
    const served = await runPayhook(["serve", "--config", "open.yaml"], { cwd: dir });
    expect(served.code).toBe(2);
    expect(served.stderr).toContain(
      "admin.host: 0.0.0.0 is reachable beyond this machine, so the admin listener needs a token",
    );
  });
});
