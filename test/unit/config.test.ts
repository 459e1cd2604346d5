/** Config: every kind of mistake fails with the file, the path in it and what to write; secrets never shown. */
import { describe, expect, test } from "bun:test";
import { DEFAULT_CONFIG, DEVELOPMENT_SECRET } from "../../src/config/default.ts";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";

const SENTINEL = "whsec_SENTINEL0config0secret";
const ENDPOINT = `endpoints: [{ path: /webhook, secrets: ["${SENTINEL}"] }]\n`;

function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(text, { source: "payhook.yaml", env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("config errors name the file, the path and the fix", () => {
  test.each([
    [
      "wrong type",
      `${ENDPOINT}handlers:\n  invoice.paid:\n    - log: 5\n`,
      'payhook.yaml: handlers."invoice.paid"[0].log: expected a string',
    ],
    ["unknown top-level key", `${ENDPOINT}hanlders: {}\n`, 'payhook.yaml: hanlders: unknown key "hanlders"'],
    [
      "unknown nested key",
      `${ENDPOINT}listen: { host: 127.0.0.1, prot: 1 }\n`,
      'payhook.yaml: listen.prot: unknown key "prot" in listen',
    ],
    [
      "port out of range",
      `${ENDPOINT}listen: { port: 70000 }\n`,
      "payhook.yaml: listen.port: expected a port from 0 to 65535, got 70000",
    ],
    ["no endpoints", "handlers: {}\n", "payhook.yaml: endpoints: missing; expected a list of at least one endpoint"],
    [
      "tolerance 0",
      `endpoints: [{ path: /w, secrets: ["${SENTINEL}"], tolerance: 0 }]\n`,
      "payhook.yaml: endpoints[0].tolerance: expected seconds from 1 to 3600",
    ],
    [
      "tolerance over an hour",
      `endpoints: [{ path: /w, secrets: ["${SENTINEL}"], tolerance: 86400 }]\n`,
      "payhook.yaml: endpoints[0].tolerance: expected seconds from 1 to 3600",
    ],
    [
      "path without a slash",
      `endpoints: [{ path: webhook, secrets: ["${SENTINEL}"] }]\n`,
      "payhook.yaml: endpoints[0].path: expected a URL path such as /webhook",
    ],
    [
      "bad size",
      `endpoints: [{ path: /w, secrets: ["${SENTINEL}"], max_body: 1 GB }]\n`,
      "payhook.yaml: endpoints[0].max_body: expected a size such as",
    ],
    [
      "two endpoints on one path",
      `endpoints: [{ path: /w, secrets: ["${SENTINEL}"] }, { path: /w, secrets: ["${SENTINEL}"] }]\n`,
      "payhook.yaml: endpoints[1].path: /w is already used",
    ],
    [
      "no secrets",
      "endpoints: [{ path: /w, secrets: [] }]\n",
      "payhook.yaml: endpoints[0].secrets: expected a list of 1 to 8 signing secrets",
    ],
    [
      "every secret empty",
      'endpoints: [{ path: /w, secrets: ["${A:-}"] }]\n',
      "payhook.yaml: endpoints[0].secrets: every secret is empty",
    ],
    [
      "missing variable",
      'endpoints: [{ path: /w, secrets: ["${STRIPE_WEBHOOK_SECRET}"] }]\n',
      "payhook.yaml: endpoints[0].secrets[0]: environment variable STRIPE_WEBHOOK_SECRET is not set",
    ],
    [
      "bad duration",
      `${ENDPOINT}retry: { schedule: [5 seconds] }\n`,
      "payhook.yaml: retry.schedule[0]: expected a duration such as 500ms",
    ],
    [
      "jitter over 1",
      `${ENDPOINT}retry: { jitter: 2 }\n`,
      "payhook.yaml: retry.jitter: expected a fraction from 0 to 1 such as 0.2, got 2",
    ],
    [
      "bad pattern",
      `${ENDPOINT}handlers:\n  "Invoice Paid":\n    - log: x\n`,
      'payhook.yaml: handlers."Invoice Paid": expected an event type ("invoice.paid"), a prefix ("invoice.*") or "*"',
    ],
    [
      "pattern with a middle wildcard",
      `${ENDPOINT}handlers:\n  "invoice.*.paid":\n    - log: x\n`,
      'payhook.yaml: handlers."invoice.*.paid": expected an event type',
    ],
    [
      "an action of no kind",
      `${ENDPOINT}handlers:\n  invoice.paid:\n    - lgo: x\n`,
      'payhook.yaml: handlers."invoice.paid"[0]: expected an action with one of: log',
    ],
    [
      "an action that is not a mapping",
      `${ENDPOINT}handlers:\n  invoice.paid:\n    - just a string\n`,
      'payhook.yaml: handlers."invoice.paid"[0]: expected an action',
    ],
    [
      "unknown key in an action",
      `${ENDPOINT}unhandled:\n  - log: x\n    colour: red\n`,
      'payhook.yaml: unhandled[0].colour: unknown key "colour"',
    ],
    [
      "bad template",
      `${ENDPOINT}unhandled:\n  - log: "{{ data object }}"\n`,
      'payhook.yaml: unhandled[0].log: "{{data object}}" is not a path',
    ],
    [
      "duplicate action names",
      `${ENDPOINT}unhandled:\n  - { log: a, name: x }\n  - { log: b, name: x }\n`,
      'payhook.yaml: unhandled[1].name: the action name "x" is already used',
    ],
    [
      "bad action name",
      `${ENDPOINT}unhandled:\n  - { log: a, name: "has space" }\n`,
      "payhook.yaml: unhandled[0].name: expected a name of letters",
    ],
    [
      "per-action retry with an unknown key",
      `${ENDPOINT}unhandled:\n  - { log: a, retry: { tries: 3 } }\n`,
      'payhook.yaml: unhandled[0].retry.tries: unknown key "tries"',
    ],
    ["not YAML", `${ENDPOINT}handlers: [\n`, "payhook.yaml:3:1: not valid YAML or JSON"],
    ["duplicate keys", `${ENDPOINT}store: a.db\nstore: b.db\n`, "not valid YAML or JSON: Map keys must be unique"],
    ["not a mapping", "- just\n- a list\n", "payhook.yaml: expected a mapping"],
  ])("%s", (_, text, expected) => {
    const found = problems(text);
    expect(found.length).toBeGreaterThan(0);
    expect(found.join("\n")).toContain(expected);
    expect(found.join("\n")).not.toContain(SENTINEL);
  });

  test("a malformed secret is reported without echoing it", () => {
    const leaked = "whsec_SENTINEL with space";
    const found = problems(`endpoints: [{ path: /w, secrets: ["${leaked}", "sk_live_SENTINEL"] }]\n`);
    expect(found).toHaveLength(2);
    expect(found[0]).toStartWith(
      "payhook.yaml: endpoints[0].secrets[0]: expected a signing secret that starts with whsec_",
    );
    expect(found.join("\n")).not.toContain("SENTINEL");
  });

  test("a secret of the wrong type is not echoed either", () => {
    const found = problems("endpoints: [{ path: /w, secrets: [{ value: SENTINEL }, [SENTINEL]] }]\n");
    // A mapping is the labelled form ({ label, secret, retiring }): what is wrong with it is named, key by key.
    expect(found.join("\n")).toContain('endpoints[0].secrets[0].value: unknown key "value"');
    expect(found.join("\n")).toContain("endpoints[0].secrets[0].secret: missing");
    expect(found.join("\n")).toContain("endpoints[0].secrets[1]: expected a string");
    expect(found.join("\n")).not.toContain("SENTINEL");
  });

  test("errors carry the line they are on", () => {
    expect(problems(`${ENDPOINT}\n\nlisten: { port: x }\n`)[0]).toEndWith("(line 4)");
  });

  test("every problem is reported at once, not just the first", () => {
    expect(problems(`${ENDPOINT}listen: { port: x, hots: y }\nretry: { jitter: 5 }\n`)).toHaveLength(3);
  });
});

describe("config values", () => {
  test("defaults fill what the file leaves out", () => {
    const config = parseConfig(ENDPOINT, { source: "payhook.yaml", env: {} });
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 4242 });
    expect(config.endpoints[0]).toEqual({
      path: "/webhook",
      secrets: [SENTINEL],
      signing: [{ label: "1", secret: SENTINEL, retiring: false }],
      tolerance: 300,
      maxBody: 1024 * 1024,
    });
    expect(config.store).toEqual({ kind: "sqlite", path: "./payhook.db", label: "./payhook.db" });
  });

  test("a relative store resolves against the config file's folder", () => {
    const config = parseConfig(`${ENDPOINT}store: data/x.db\n`, {
      source: "/etc/payhook/payhook.yaml",
      baseDir: "/etc/payhook",
      env: {},
    });
    expect(config.store).toMatchObject({ kind: "sqlite", path: "/etc/payhook/data/x.db" });
  });

  test("${VAR} and ${VAR:-default} expand; empty secrets are dropped (rotation slots)", () => {
    const config = parseConfig(
      'endpoints: [{ path: "${P:-/hook}", secrets: ["${CURRENT}", "${PREVIOUS:-}"] }]\nlisten: { port: 5000 }\n',
      { source: "payhook.yaml", env: { CURRENT: SENTINEL } },
    );
    expect(config.endpoints[0]?.path).toBe("/hook");
    expect(config.endpoints[0]?.secrets).toEqual([SENTINEL]);
  });

  test("JSON config files work too", () => {
    const config = parseConfig(
      JSON.stringify({ endpoints: [{ path: "/j", secrets: [SENTINEL] }], listen: { port: 1 } }),
      {
        source: "payhook.json",
        env: {},
      },
    );
    expect(config.endpoints[0]?.path).toBe("/j");
  });

  test("actions get names from their place; per-action retry overrides the top-level one key by key", () => {
    const config = parseConfig(
      `${ENDPOINT}retry: { attempts: 5, schedule: [1s, 2s], jitter: 0.1 }
handlers:
  invoice.paid:
    - log: a
    - { log: b, name: notify, retry: { attempts: 2 } }
unhandled:
  - log: c
`,
      { source: "payhook.yaml", env: {} },
    );
    expect([...config.actions.keys()]).toEqual(["invoice.paid[0]", "notify", "unhandled[0]"]);
    expect(config.actions.get("invoice.paid[0]")?.retry).toEqual({ attempts: 5, schedule: [1000, 2000], jitter: 0.1 });
    expect(config.actions.get("notify")?.retry).toEqual({ attempts: 2, schedule: [1000, 2000], jitter: 0.1 });
  });

  test("the embedded default serves the seed's three handlers with the development secret when none is set", () => {
    const config = parseConfig(DEFAULT_CONFIG, { source: "default", env: {} });
    expect(config.endpoints[0]?.secrets).toEqual([DEVELOPMENT_SECRET]);
    expect(config.routes.map((r) => r.pattern)).toEqual(["payment_intent.succeeded", "payment_method.attached"]);
    expect(config.unhandled).toHaveLength(1);
    const withSecret = parseConfig(DEFAULT_CONFIG, { source: "default", env: { STRIPE_WEBHOOK_SECRET: SENTINEL } });
    expect(withSecret.endpoints[0]?.secrets).toEqual([SENTINEL]);
  });
});
