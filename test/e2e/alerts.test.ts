/**
 * End to end from the compiled binary: alert rules open incidents that notify each channel once (a Slack-compatible
 * sink and a webhook sink record what they get), resolve with a `resolved` notification, survive a channel that is
 * down, and never show a channel's URL; Stripe's side (the fake API) feeds `stripe_endpoint`, `missed` and doctor.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FakeEventDestination } from "../helpers/fake-stripe-api.ts";
import { runPayhook, startServer, tempDir, testConfig, waitUntil } from "../helpers/server.ts";
import type { Sink, SinkRequest } from "../helpers/sink.ts";
import { deliver, event, sign } from "../helpers/stripe.ts";
import { useStripeFixture } from "../helpers/stripe-fixture.ts";

setDefaultTimeout(60_000);

/** Channel URLs are secrets: these tokens must never be shown. */
const SLACK_TOKEN = "SENTINEL0slack0token";
const HOOK_TOKEN = "SENTINEL0hook0token";
const KEY = "sk_test_SENTINEL0alerts0key";

const ctx = useStripeFixture(KEY);

type Body = {
  id: string;
  rule: string;
  state: string;
  summary: string;
  details: string;
  opened_at: string;
  count: number;
};
const bodies = (requests: SinkRequest[]) =>
  requests
    .filter((r) => r.status === 200)
    .map((r) => JSON.parse(new TextDecoder().decode(r.body)) as Record<string, unknown>);
const hooks = (sink: Sink) => bodies(sink.to(`/hook/${HOOK_TOKEN}`)) as Body[];
const slacks = (sink: Sink) => bodies(sink.to(`/slack/${SLACK_TOKEN}`)).map((b) => String(b.text));
const of = (list: Body[], rule: string, state: string) => list.filter((b) => b.rule === rule && b.state === state);
/** The notification's documented fields, no more. */
const FIELDS = ["count", "details", "id", "opened_at", "rule", "state", "summary"];

/** A self-signed certificate for 127.0.0.1 valid for `days`, made with openssl as cert.pem and key.pem in `dir`. */
function selfSigned(dir: string, days: number): string {
  const made = spawnSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", `${days}`],
      ...["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
      ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
    ],
    { encoding: "utf8" },
  );
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  return readFileSync(join(dir, "cert.pem"), "utf8");
}

/** Mounts a tmpfs of `size` on `dir`; the reason it cannot, or null. */
function mountTmpfs(dir: string, size: string): string | null {
  const result = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" });
  if (result.error) return result.error.message;
  return result.status === 0 ? null : result.stderr.trim() || `mount exited with ${result.status}`;
}

/** Why this machine cannot run the disk test (mounting a small tmpfs needs root), or null if it can. */
const cannotMount = (() => {
  const probe = tempDir("payhook-alerts-probe-");
  const reason = mountTmpfs(probe, "64k");
  if (reason === null) spawnSync("umount", ["-l", probe]);
  rmSync(probe, { recursive: true, force: true });
  return reason;
})();
if (cannotMount !== null) {
  console.warn(`the store disk alert is skipped: a small tmpfs cannot be mounted here (${cannotMount}); run as root`);
}

function alertsConfig(sink: Sink, extra = ""): string {
  return testConfig(`handlers:
  payment_intent.succeeded:
    - { name: ship, forward: { url: "${sink.url}/ship" } }
  invoice.paid:
    - { name: mail, forward: { url: "${sink.url}/mail" } }
retry: { attempts: 50, schedule: [150ms], jitter: 0 }
alerts:
  interval: 250ms
  notify:
    - { name: ops, slack: { url: "\${SLACK_URL}" } }
    - { name: pager, webhook: { url: "\${HOOK_URL}" } }
  rules:
    failing: { failures: 3 }
    backlog: { older_than: 1s }
    stripe_endpoint: false
${extra}`);
}

const env = (sink: Sink) => ({
  SLACK_URL: `${sink.url}/slack/${SLACK_TOKEN}`,
  HOOK_URL: `${sink.url}/hook/${HOOK_TOKEN}`,
});

describe("alerts", () => {
  test("dead, failing and backlog each notify once per channel, resolve once, and a channel down gets them when back", async () => {
    const { sink } = ctx;
    sink.plan("/ship", ["410"]);
    sink.plan("/mail", ["500"]);
    // The webhook channel is down for its first two requests: those notifications arrive on a later attempt.
    sink.plan(`/hook/${HOOK_TOKEN}`, ["503", "503", "200"]);
    const server = await startServer({ config: alertsConfig(sink), env: env(sink) });
    ctx.server = server;
    const url = `${server.url}/webhook`;
    await Promise.all(Array.from({ length: 100 }, () => deliver(url, event("payment_intent.succeeded"))));
    await Promise.all(Array.from({ length: 3 }, () => deliver(url, event("invoice.paid"))));

    await waitUntil(
      () => of(hooks(sink), "dead", "open").length > 0 && of(hooks(sink), "failing", "open").length >= 2,
      20_000,
      "dead and failing notifications",
    );
    await waitUntil(() => of(hooks(sink), "backlog", "open").length > 0, 20_000, "a backlog notification");
    const incidents = async () =>
      (
        await runPayhook(["incidents", "--json", "--config", join(server.dir, "payhook.yaml")], {
          cwd: server.dir,
          env: env(sink),
        })
      ).stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { rule: string; key: string; state: string; count: number });
    // Repeats fold into the count: the 100 dead deliveries are one incident.
    await waitUntil(
      async () => (await incidents()).some((i) => i.rule === "dead" && i.count === 100),
      20_000,
      "dead count 100",
    );

    // The action recovers: its failing incident and the backlog resolve.
    sink.plan("/mail", ["200"]);
    await waitUntil(() => of(hooks(sink), "backlog", "resolved").length > 0, 20_000, "backlog resolved");
    await waitUntil(
      () => hooks(sink).some((b) => b.rule === "failing" && b.state === "resolved" && b.summary.includes("mail")),
      20_000,
      "failing resolved",
    );
    // A few more evaluations change nothing: no flood.
    await Bun.sleep(1_000);

    const hook = hooks(sink);
    const dead = of(hook, "dead", "open");
    expect(dead).toHaveLength(1);
    expect(dead[0]?.summary).toContain("ship");
    expect(dead[0]?.count).toBeGreaterThan(0);
    const failing = of(hook, "failing", "open").map((b) => b.summary);
    expect(failing.filter((s) => s.includes("mail"))).toHaveLength(1);
    expect(of(hook, "failing", "resolved")).toHaveLength(1);
    expect(of(hook, "backlog", "open")).toHaveLength(1);
    expect(of(hook, "backlog", "resolved")).toHaveLength(1);
    // Each notification arrived once, whatever the channel answered before.
    const seen = hook.map((b) => `${b.id}:${b.state}`);
    expect(new Set(seen).size).toBe(seen.length);
    expect(sink.to(`/hook/${HOOK_TOKEN}`).filter((r) => r.status === 503)).toHaveLength(2);
    // Slack gets the same changes as text, with the count.
    const slack = slacks(sink);
    expect(slack.filter((t) => t.startsWith("[payhook] ALERT dead:"))).toHaveLength(1);
    expect(slack.find((t) => t.startsWith("[payhook] ALERT dead:"))).toMatch(/count \d+/);
    expect(slack.filter((t) => t.startsWith("[payhook] RESOLVED backlog:"))).toHaveLength(1);

    const list = await incidents();
    expect(list.find((i) => i.rule === "dead")?.state).toBe("open");
    expect(list.find((i) => i.key === "failing:mail")?.state).toBe("resolved");

    // The channels' URLs appear nowhere payhook speaks.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/payhook_incidents_open\{rule="dead"\} 1/);
    expect(metrics).toMatch(/payhook_alert_notifications_total\{channel="pager",result="failed"\} 2/);
    const config = join(server.dir, "payhook.yaml");
    const check = await runPayhook(["check", "--config", config], { cwd: server.dir, env: env(sink) });
    expect(check.stdout).toContain("alerts: to ops (slack), pager (webhook), URLs redacted");
    const doctor = await runPayhook(["doctor", "--config", config], { cwd: server.dir, env: env(sink) });
    const shown = await runPayhook(["incidents", "--config", config], { cwd: server.dir, env: env(sink) });
    for (const text of [
      metrics,
      check.stdout,
      check.stderr,
      doctor.stdout,
      doctor.stderr,
      shown.stdout,
      server.stderr.join("\n"),
    ]) {
      expect(text).not.toContain(SLACK_TOKEN);
      expect(text).not.toContain(HOOK_TOKEN);
    }
  });

  test("payhook alerts test reaches each channel and names the one that fails, without its URL", async () => {
    const { sink } = ctx;
    const dir = tempDir();
    const file = join(dir, "payhook.yaml");
    writeFileSync(file, alertsConfig(sink).replaceAll("{{port}}", "0").replaceAll("{{dir}}", dir));
    sink.plan(`/hook/${HOOK_TOKEN}`, ["500"]);
    const result = await runPayhook(["alerts", "test", "--config", file], { cwd: dir, env: env(sink) });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("ops (slack): sent");
    expect(result.stdout).toContain("pager (webhook): not sent: the channel answered HTTP 500");
    expect(slacks(sink)[0]).toContain("a test notification");
    const down = { ...env(sink), SLACK_URL: `http://127.0.0.1:9/slack/${SLACK_TOKEN}` };
    const one = await runPayhook(["alerts", "test", "ops", "--config", file], { cwd: dir, env: down });
    expect(one.code).toBe(1);
    expect(one.stdout).toContain("ops (slack): not sent: the channel could not be reached");
    expect(one.stdout + one.stderr).not.toContain(SLACK_TOKEN);
  });

  test("Stripe's side: a disabled endpoint or event destination, drifted events and API version, missed events, and doctor", async () => {
    const { sink, fake } = ctx;
    const now = Math.floor(Date.now() / 1000);
    const endpoint = (id: string, over: Record<string, unknown>) =>
      fake.endpoints.push({
        id,
        object: "webhook_endpoint",
        url: "https://pay.example.com/webhook",
        enabled_events: ["payment_intent.succeeded", "invoice.paid"],
        status: "enabled",
        api_version: "2020-08-27",
        description: null,
        livemode: false,
        metadata: {},
        created: now,
        ...over,
      });
    const { STRIPE_API_VERSION } = await import("../../src/stripe/api.ts");
    // v2 event destinations: thin events reach payhook only through one of these.
    const destination = (id: string, over: Partial<FakeEventDestination>) =>
      fake.destinations.push({
        id,
        object: "v2.core.event_destination",
        type: "webhook_endpoint",
        event_payload: "thin",
        enabled_events: ["v1.billing.meter.error_report_triggered"],
        status: "enabled",
        webhook_endpoint: { url: "https://pay.example.com/webhook" },
        name: id,
        description: "",
        livemode: false,
        created: new Date().toISOString(),
        updated: new Date().toISOString(),
        ...over,
      });
    destination("ed_thin", {});
    destination("ed_off", { status: "disabled", status_details: { disabled: { reason: "user" } } });
    destination("ed_snapshot", {
      event_payload: "snapshot",
      enabled_events: ["payment_intent.succeeded"],
      snapshot_api_version: "2020-08-27",
    });
    destination("ed_elsewhere", { webhook_endpoint: { url: "https://other.example.com/hooks" } });
    endpoint("we_disabled", { status: "disabled", api_version: STRIPE_API_VERSION });
    endpoint("we_events", { enabled_events: ["payment_intent.succeeded"], api_version: STRIPE_API_VERSION });
    endpoint("we_version", {});
    // An event Stripe has and never delivered: catch-up stores it, `missed` reports it, doctor counts it.
    const missed = fake.addEvent({
      type: "invoice.paid",
      created: now - 60,
      data: { object: { id: "in_1", object: "invoice" } },
    });
    fake.markUndelivered(String(missed.id));
    fake.clockOffsetMs = 20 * 60_000;
    sink.plan("/mail", ["200"]);
    const dir = tempDir();
    const file = join(dir, "payhook.yaml");
    const config = alertsConfig(sink, "    stripe_endpoint: { every: 200ms }\n")
      .replace("    stripe_endpoint: false\n", "")
      .replace(
        "handlers:\n",
        `handlers:\n  v1.billing.meter.error_report_triggered:\n    - { name: meter, forward: { url: "${sink.url}/meter" } }\n`,
      )
      .concat(`stripe:\n  api_key: "\${STRIPE_API_KEY}"\n  api_base: "${fake.apiBase}"\n  max_rate: 100\n`);
    const full = { ...env(sink), STRIPE_API_KEY: KEY };
    writeFileSync(file, config.replaceAll("{{port}}", "0").replaceAll("{{dir}}", dir));
    expect((await runPayhook(["catch-up", "--config", file, "--since", "1h"], { cwd: dir, env: full })).code).toBe(0);
    const server = await startServer({ config, dir, env: full });
    ctx.server = server;

    await waitUntil(
      () => of(hooks(sink), "stripe_endpoint", "open").length >= 5 && of(hooks(sink), "missed", "open").length > 0,
      20_000,
      "stripe_endpoint and missed",
    );
    const stripe = of(hooks(sink), "stripe_endpoint", "open") as (Body & { details: string })[];
    const about = (id: string) =>
      stripe
        .filter((b) => b.summary.includes(id))
        .map((b) => b.details)
        .join("\n");
    expect(about("we_disabled")).toContain("the endpoint is disabled");
    expect(about("we_events")).toContain("handlers for type(s) Stripe never sends here: invoice.paid");
    expect(about("we_version")).toContain("API version 2020-08-27");
    // Event destinations that deliver here are watched like endpoints: the disabled one with Stripe's reason.
    expect(about("ed_off")).toContain("the event destination is disabled (reason: user)");
    expect(about("ed_snapshot")).toContain("API version 2020-08-27");
    expect(about("ed_thin") + about("ed_elsewhere")).toBe("");
    expect(of(hooks(sink), "missed", "open")[0]?.count).toBe(1);

    const doctor = await runPayhook(["doctor", "--json", "--config", join(server.dir, "payhook.yaml")], {
      cwd: dir,
      env: full,
    });
    expect(doctor.code).toBe(1);
    const checks = (JSON.parse(doctor.stdout) as { checks: { check: string; status: string; message: string }[] })
      .checks;
    const status = (name: string) => checks.find((c) => c.check === name)?.status;
    expect(status("listener")).toBe("ok");
    expect(status("store")).toBe("ok");
    expect(status("clock")).toBe("fail");
    expect(status("stripe endpoint we_disabled")).toBe("fail");
    expect(status("stripe endpoint we_events")).toBe("warn");
    expect(status("stripe endpoint we_version")).toBe("warn");
    const undelivered = checks.find((c) => c.check === "undelivered events");
    expect(undelivered?.status).toBe("warn");
    expect(undelivered?.message).toContain("failed to deliver 1 events");
    // Event destinations that point here are checked like endpoints; the one elsewhere is not payhook's.
    const message = (name: string) => checks.find((c) => c.check === name)?.message ?? "";
    expect(status("stripe destination ed_thin")).toBe("ok");
    expect(status("stripe destination ed_off")).toBe("fail");
    expect(message("stripe destination ed_off")).toContain("the event destination is disabled (reason: user)");
    expect(status("stripe destination ed_snapshot")).toBe("warn");
    expect(message("stripe destination ed_snapshot")).toContain(
      "handlers for type(s) this destination never sends: invoice.paid",
    );
    expect(message("stripe destination ed_snapshot")).toContain("API version 2020-08-27");
    expect(checks.some((c) => c.check.includes("ed_elsewhere"))).toBe(false);
    expect(status("thin events")).toBe("ok");
    expect(fake.calls("/v2/core/event_destinations")[0]?.query.toString()).toContain("webhook_endpoint.url");
    expect(doctor.stdout + doctor.stderr).not.toContain(KEY);
    expect(doctor.stdout).not.toContain(SLACK_TOKEN);

    // With the one thin destination disabled, the thin-event handler has no way in: doctor says so.
    const thin = fake.destinations.find((d) => d.id === "ed_thin");
    if (thin) thin.status = "disabled";
    const again = await runPayhook(["doctor", "--config", join(server.dir, "payhook.yaml")], { cwd: dir, env: full });
    expect(again.code).toBe(1);
    expect(again.stdout).toContain(
      "fail  thin events: no enabled event destination with event_payload thin sends v1.billing.meter.error_report_triggered to this payhook",
    );
    expect(again.stdout).toContain(
      "fail  stripe destination ed_thin: https://pay.example.com/webhook: the event destination is disabled",
    );
  });

  test("signatures, silence and certificate each open, reach the webhook channel once, and resolve", async () => {
    const { sink } = ctx;
    const dir = tempDir();
    // payhook's own certificate expires tomorrow: well within the rule's 14 days.
    const ca = selfSigned(dir, 1);
    const rules = (perMinute: number) =>
      testConfig(`  - path: /quiet
    secrets: ["whsec_test_secret"]
alerts:
  interval: 200ms
  notify:
    - { name: pager, webhook: { url: "\${HOOK_URL}" } }
  rules:
    signatures: { per_minute: ${perMinute} }
    silence: { endpoint: /quiet, for: 2s }
    stripe_endpoint: false
`)
        .replace("port: {{port}} }", "port: {{port}}, tls: { cert: cert.pem, key: key.pem } }")
        .replaceAll("{{dir}}", dir);
    const server = await startServer({ config: rules(5), dir, env: env(sink), args: ["--watch"] });
    ctx.server = server;
    const post = async (path: string, payload: string, secret?: string) =>
      (
        await fetch(`${server.url}${path}`, {
          method: "POST",
          body: payload,
          headers: { "stripe-signature": await sign(payload, secret ? { secret } : {}) },
          tls: { ca },
        })
      ).status;
    // A burst of requests signed with a secret payhook does not have: each refused, the burst an incident.
    const refused = await Promise.all(Array.from({ length: 6 }, () => post("/webhook", event(), "whsec_rotated")));
    expect(refused).toEqual(Array(6).fill(400));
    const opened = (rule: string) => of(hooks(sink), rule, "open").length > 0;
    await waitUntil(
      () => ["signatures", "silence", "certificate"].every(opened),
      20_000,
      "signatures, silence and certificate open",
    );

    // Each condition clears: an event on /quiet, a renewed certificate, and a threshold the rate is under.
    expect(await post("/quiet", event())).toBe(200);
    selfSigned(dir, 90);
    writeFileSync(join(dir, "payhook.yaml"), rules(1000).replaceAll("{{port}}", String(server.port)));
    const resolved = (rule: string) => of(hooks(sink), rule, "resolved").length > 0;
    await waitUntil(
      () => ["signatures", "silence", "certificate"].every(resolved),
      20_000,
      "signatures, silence and certificate resolved",
    );

    const all = hooks(sink) as (Body & Record<string, unknown>)[];
    for (const rule of ["signatures", "silence", "certificate"]) {
      const [open, ...more] = of(all, rule, "open");
      const resolvedOne = of(all, rule, "resolved")[0];
      // Silence opens again once /quiet is quiet for another 2 s: that is a new incident, with a new id.
      if (rule !== "silence") expect(more).toHaveLength(0);
      expect(Object.keys(open ?? {}).sort()).toEqual(FIELDS);
      expect(Object.keys(resolvedOne ?? {}).sort()).toEqual(FIELDS);
      expect(resolvedOne?.id).toBe(open?.id);
      expect(resolvedOne?.opened_at).toBe(open?.opened_at as string);
      expect(Number.isFinite(Date.parse(String(open?.opened_at)))).toBe(true);
      expect(all.indexOf(open as Body & Record<string, unknown>)).toBeLessThan(
        all.indexOf(resolvedOne as Body & Record<string, unknown>),
      );
    }
    const first = (rule: string) => of(all, rule, "open")[0] as Body & { details: string };
    expect(first("signatures").summary).toMatch(/^6 requests per minute with a bad signature on /);
    expect(first("signatures").count).toBe(6);
    expect(first("silence").summary).toBe("no event on /quiet for 2 seconds");
    expect(first("certificate").summary).toBe("payhook's TLS certificate expires within a day");
    expect(first("certificate").details).toContain("renew the file listen.tls.cert names");

    const metrics = await (await fetch(`${server.url}/metrics`, { tls: { ca } })).text();
    for (const text of [metrics, server.stderr.join("\n"), JSON.stringify(all)]) {
      expect(text).not.toContain(HOOK_TOKEN);
      expect(text).not.toContain("whsec_test_secret");
      expect(text).not.toContain("whsec_rotated");
    }
  });

  test.skipIf(cannotMount !== null)(
    "store: the store's disk nearly full opens an incident, freeing space resolves it",
    async () => {
      const { sink } = ctx;
      const dir = tempDir();
      const disk = join(dir, "disk");
      mkdirSync(disk);
      expect(mountTmpfs(disk, "4m")).toBeNull();
      try {
        const config = testConfig(`alerts:
  interval: 200ms
  notify:
    - { name: pager, webhook: { url: "\${HOOK_URL}" } }
  rules:
    store: { min_free: 50% }
    stripe_endpoint: false
`).replace("{{dir}}/payhook.db", "{{dir}}/disk/payhook.db");
        const server = await startServer({ config, dir, env: env(sink) });
        ctx.server = server;
        // 2.5 of the 4 MiB taken by another file: under half is free.
        const ballast = join(disk, "ballast");
        writeFileSync(ballast, new Uint8Array(2.5 * 1024 * 1024));
        await waitUntil(() => of(hooks(sink), "store", "open").length > 0, 20_000, "store open");
        rmSync(ballast);
        await waitUntil(() => of(hooks(sink), "store", "resolved").length > 0, 20_000, "store resolved");
        const [open, ...more] = of(hooks(sink), "store", "open") as (Body & Record<string, unknown>)[];
        const resolved = of(hooks(sink), "store", "resolved")[0] as Body & Record<string, unknown>;
        expect(more).toHaveLength(0);
        expect(Object.keys(open ?? {}).sort()).toEqual(FIELDS);
        expect(Object.keys(resolved).sort()).toEqual(FIELDS);
        expect(resolved.id).toBe(open?.id as string);
        expect(open?.summary).toMatch(/^the store's disk is \d+% full$/);
        expect(String(open?.details)).toContain(`disk of ${join(disk, "payhook.db")}`);
        expect(open?.count).toBeLessThan(50);
        expect(server.stderr.join("\n")).not.toContain(HOOK_TOKEN);
        await server.kill();
      } finally {
        spawnSync("umount", ["-l", disk]);
      }
    },
  );
});
