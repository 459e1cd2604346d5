/**
 * End to end: operator control on the page of the compiled binary. A viewer's token is refused on every
 * state-changing route (403) and changes nothing; an operator pauses, resumes and retries from the Actions,
 * Event and Failures screens in Chromium (axe-clean in light and dark), discards the deliveries of an action the
 * config lost, and every act is in the audit trail.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import type { BrowserContext, Page } from "playwright-core";
import { launchBrowser, seriousViolations } from "../helpers/browser.ts";
import { freePort, type RunningServer, runPayhook, startServer, testConfig, waitUntil } from "../helpers/server.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import { deliver, event, idOf } from "../helpers/stripe.ts";

const OPERATOR = "sentinel-operator-token-0123456789";
const VIEWER = "sentinel-viewer-token-0123456789";
const ENV = { OPERATOR_TOKEN: OPERATOR, VIEWER_TOKEN: VIEWER };

setDefaultTimeout(60_000);

let server: RunningServer;
let sink: Sink;
let admin: string;
let browser: BrowserContext;
let page: Page;

beforeAll(async () => {
  sink = await startSink();
  sink.plan("*", ["500"]);
  const adminPort = await freePort();
  server = await startServer({
    config: testConfig(`admin:
  port: ${adminPort}
  token: "\${OPERATOR_TOKEN}"
  tokens: [{ name: vera, token: "\${VIEWER_TOKEN}", role: viewer }]
handlers:
  "*":
    - name: crm
      forward: { url: "${sink.url}/crm" }
      retry: { attempts: 2, schedule: [50ms], jitter: 0 }
`),
    env: ENV,
  });
  admin = `http://127.0.0.1:${adminPort}`;
  browser = await launchBrowser();
  page = browser.pages()[0] ?? (await browser.newPage());
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await sink?.close();
});

async function send(): Promise<string> {
  const payload = event("customer.updated");
  expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
  return idOf(payload);
}

const deliveries = async () =>
  JSON.parse(
    (
      await runPayhook(["events", "list", "--json", "--config", `${server.dir}/payhook.yaml`], {
        cwd: server.dir,
        env: ENV,
      })
    ).stdout
      .trim()
      .split("\n")[0] ?? "{}",
  ).deliveries as { status: string; attempts: number }[];

async function noSeriousViolations(name: string): Promise<void> {
  for (const colorScheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme });
    const violations = (await seriousViolations(page)).map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target) }));
    expect({ screen: name, colorScheme, violations }).toEqual({ screen: name, colorScheme, violations: [] });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

async function session(token: string): Promise<{ cookie: string; csrf: string }> {
  const login = await fetch(`${admin}/login`, {
    method: "POST",
    body: new URLSearchParams({ token }),
    headers: { origin: admin },
    redirect: "manual",
  });
  const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const html = await (await fetch(`${admin}/actions`, { headers: { cookie } })).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
  return { cookie, csrf };
}

describe("operator control on the page", () => {
  test("a viewer can look, but every state-changing route answers 403 and changes nothing", async () => {
    const id = await send();
    await waitUntil(async () => (await deliveries())[0]?.status === "dead");
    const viewer = await session(VIEWER);
    expect((await fetch(`${admin}/actions`, { headers: { cookie: viewer.cookie } })).status).toBe(200);
    for (const path of [
      "/actions/crm/pause",
      "/actions/crm/resume",
      "/actions/crm/retry",
      "/actions/crm/discard",
      "/deliveries/1/retry",
      "/failures/retry",
      "/failures/replay",
      `/events/${id}/replay`,
    ]) {
      const response = await fetch(`${admin}${path}`, {
        method: "POST",
        body: new URLSearchParams({ csrf: viewer.csrf, action: "crm", confirmed: "1" }),
        headers: { cookie: viewer.cookie, origin: admin },
        redirect: "manual",
      });
      expect({ path, status: response.status }).toEqual({ path, status: 403 });
    }
    expect(await deliveries()).toEqual([expect.objectContaining({ status: "dead", attempts: 2 })]);
    const audit = await runPayhook(["audit", "--json", "--config", `${server.dir}/payhook.yaml`], {
      cwd: server.dir,
      env: ENV,
    });
    expect(audit.stdout).toBe("");
  });

  test("an operator pauses, resumes and retries from the page; each act is in the audit trail", async () => {
    await page.goto(`${admin}/login`);
    await page.getByLabel("Token").fill(OPERATOR);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("link", { name: "Actions" }).click();
    await page.getByLabel("Reason to pause crm").fill("crm maintenance");
    await page.getByRole("button", { name: "Pause crm" }).click();
    await page.getByText("Paused by admin: crm maintenance").waitFor();
    await noSeriousViolations("actions");
    sink.plan("*", ["200"]);
    await page.getByRole("link", { name: "Retry all…" }).click();
    await page.getByText("Retry 1 waiting, failed and dead delivery of crm now?", { exact: false }).waitFor();
    await noSeriousViolations("confirm retry");
    await page.getByRole("button", { name: "Retry 1 now" }).click();
    await page.getByText("1 delivery is due now.").waitFor();
    // Paused: due, but held.
    await Bun.sleep(1_000);
    expect(sink.requests.filter((r) => r.status === 200)).toHaveLength(0);
    await page.getByRole("button", { name: "Resume crm" }).click();
    await waitUntil(async () => (await deliveries())[0]?.status === "done");
    // The event screen's per-delivery button, and the failure group's.
    sink.plan("*", ["500"]);
    const id = await send();
    await waitUntil(async () => (await deliveries())[0]?.status === "dead");
    sink.plan("*", ["200"]);
    await page.goto(`${admin}/failures`);
    await noSeriousViolations("failures");
    await page.getByRole("link", { name: "Retry all 1…" }).click();
    await page.getByRole("button", { name: "Retry 1 now" }).click();
    await page.getByText("1 delivery is due now.").waitFor();
    await waitUntil(async () => (await deliveries())[0]?.status === "done");
    sink.plan("*", ["500"]);
    const third = await send();
    await waitUntil(async () => (await deliveries())[0]?.status === "dead");
    sink.plan("*", ["200"]);
    await page.goto(`${admin}/events/${third}`);
    await noSeriousViolations("event");
    await page.getByRole("button", { name: "Retry now crm" }).click();
    await page.getByText("1 delivery is due now.").waitFor();
    await waitUntil(async () => (await deliveries())[0]?.status === "done");
    await page.goto(`${admin}/actions`);
    const trail = page.locator("table.audit tbody tr");
    expect(await trail.allTextContents()).toEqual([
      expect.stringMatching(/admin\s*retry\s*1\s*delivery \d+/),
      expect.stringMatching(/admin\s*retry\s*1\s*failure group of crm/),
      expect.stringMatching(/admin\s*resume\s*\d+\s*crm/),
      expect.stringMatching(/admin\s*retry\s*1\s*action crm/),
      expect.stringMatching(/admin\s*pause\s*\d+\s*crm: crm maintenance/),
    ]);
    expect(id).not.toBe(third);
  });

  test("an action the config lost: its deliveries are discarded from the page; a live action's are refused", async () => {
    sink.plan("*", ["500"]);
    const id = await send();
    await waitUntil(async () => (await deliveries())[0]?.status === "dead");
    const file = `${server.dir}/payhook.yaml`;
    writeFileSync(file, readFileSync(file, "utf8").replace("- name: crm", "- name: crm-next"));
    const pid = (JSON.parse(server.stderr.find((l) => l.includes('"msg":"listening"')) ?? "{}") as { pid: number }).pid;
    process.kill(pid, "SIGHUP");
    await server.waitForStderr('"msg":"config reloaded"');
    const operator = await session(OPERATOR);
    const refused = await fetch(`${admin}/actions/crm-next/discard`, {
      method: "POST",
      body: new URLSearchParams({ csrf: operator.csrf }),
      headers: { cookie: operator.cookie, origin: admin },
      redirect: "manual",
    });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('the config still has the action "crm-next"');
    await page.goto(`${admin}/actions`);
    await page.getByText("No longer in the config").waitFor();
    await page.getByRole("link", { name: "Discard…" }).click();
    await page.getByText("Discard 1 pending, failed and dead delivery of crm?", { exact: false }).waitFor();
    await noSeriousViolations("confirm discard");
    await page.getByRole("button", { name: "Discard 1" }).click();
    await page.getByText("1 delivery discarded.").waitFor();
    expect(await page.locator("table.actions tbody th").allTextContents()).toEqual(["crm-next"]);
    expect(await page.locator("table.audit tbody tr").first().textContent()).toMatch(
      /admin\s*discard\s*1\s*action crm \(pending,failed,dead\)/,
    );
    expect(await deliveries()).toEqual([expect.objectContaining({ action: "crm", status: "discarded" })]);
    await page.goto(`${admin}/events/${id}`);
    expect(await page.locator(".badge").allTextContents()).toContain("discarded");
    await noSeriousViolations("event with a discarded delivery");
  });
});
