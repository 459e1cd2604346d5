/** The starter config from `payhook init` and the JSON Schema from `payhook schema`. */
import { describe, expect, test } from "bun:test";
import { actionKinds } from "../../src/actions/index.ts";
import { lintConfig } from "../../src/catalog/lint.ts";
import { EXAMPLES, SCHEMA_FILE, starterConfig, starterStore } from "../../src/cli/commands/init.ts";
import { configJsonSchema } from "../../src/cli/commands/schema.ts";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigSchema } from "../../src/config/schema.ts";
import { wantedTypes } from "../../src/stripe/endpoints.ts";

const env = { STRIPE_WEBHOOK_SECRET: "whsec_test" };

/** Removes one "# " from each line of the examples under handlers:, as a user does to use them. */
function uncomment(text: string): string {
  const start = text.indexOf("\nhandlers:\n");
  // Up to the blank line before unhandled:, which stays commented.
  const end = text.lastIndexOf("\n\n", text.indexOf("\n# unhandled:\n"));
  const examples = text
    .slice(start, end)
    .split("\n")
    .map((line) => line.replace(/^(\s*)# /, "$1"))
    .join("\n");
  return text.slice(0, start) + examples + text.slice(end);
}

describe("starter config", () => {
  test("is valid as written, lints clean, and points editors at the schema", () => {
    const text = starterConfig(SCHEMA_FILE);
    expect(text.split("\n")[0]).toBe(`# yaml-language-server: $schema=./${SCHEMA_FILE}`);
    const config = parseConfig(text, { source: "payhook.yaml", env });
    expect(config.routes.map((r) => r.pattern)).toEqual(["payment_intent.succeeded", "payment_method.attached"]);
    expect(lintConfig(config)).toEqual([]);
  });

  test("asks Stripe for the types it handles, not for every type (no unhandled: actions until uncommented)", () => {
    const config = parseConfig(starterConfig(), { source: "payhook.yaml", env });
    expect(config.unhandled).toEqual([]);
    expect(wantedTypes(config)).toMatchObject({
      everything: false,
      types: ["payment_intent.succeeded", "payment_method.attached"],
    });
    const uncommented = starterConfig().replace(/^# (unhandled:| {2}- log: "Unhandled)/gm, "$1");
    expect(parseConfig(uncommented, { source: "payhook.yaml", env }).unhandled.map((a) => a.kind)).toEqual(["log"]);
  });

  test("has a commented example of every action kind, and each is valid once uncommented", () => {
    const text = starterConfig();
    for (const kind of actionKinds.map((k) => k.kind)) {
      expect(EXAMPLES[kind]).toBeDefined();
      expect(text).toMatch(new RegExp(`^  #\\s+(- )?${kind}:`, "m"));
    }
    const secrets = { INTERNAL_TOKEN: "t0k3n", PAYHOOK_FORWARD_SECRET: `whsec_${btoa("x".repeat(32))}` };
    const config = parseConfig(uncomment(text), { source: "payhook.yaml", env: { ...env, ...secrets } });
    const kinds = new Set(config.routes.flatMap((r) => r.actions.map((a) => a.kind)));
    expect([...kinds].sort()).toEqual(actionKinds.map((k) => k.kind).sort());
    expect(lintConfig(config)).toEqual([]);
  });

  test("without STRIPE_WEBHOOK_SECRET it says which variable to set", () => {
    expect(() => parseConfig(starterConfig(), { source: "payhook.yaml", env: {} })).toThrow(
      "environment variable STRIPE_WEBHOOK_SECRET is not set",
    );
  });

  test("written in /etc, it keeps its store in /var/lib/payhook, which a service may write; elsewhere, beside it", () => {
    const inEtc = parseConfig(starterConfig(SCHEMA_FILE, starterStore("/etc/payhook/payhook.yaml")), {
      source: "/etc/payhook/payhook.yaml",
      baseDir: "/etc/payhook",
      env,
    });
    expect(inEtc.store.label).toBe("/var/lib/payhook/payhook.db");
    const elsewhere = parseConfig(starterConfig(SCHEMA_FILE, starterStore("/srv/app/payhook.yaml")), {
      source: "/srv/app/payhook.yaml",
      baseDir: "/srv/app",
      env,
    });
    expect(elsewhere.store.label).toBe("/srv/app/payhook.db");
  });
});

describe("JSON Schema", () => {
  const schema = configJsonSchema() as {
    $schema: string;
    required?: string[];
    properties: Record<string, { required?: string[]; properties?: Record<string, unknown> }>;
    additionalProperties: boolean;
  };

  test("declares draft-07, every top-level key, and refuses unknown keys", () => {
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(ConfigSchema.properties).sort());
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.listen?.properties).toHaveProperty("tls");
  });

  test("keys with defaults are optional, so an editor does not ask for them", () => {
    expect(schema.required).toEqual(["endpoints"]);
    expect(schema.properties.listen?.required).toBeUndefined();
    expect(schema.properties.admin?.required).toEqual(["port"]);
  });

  test("is plain JSON: no TypeBox symbols or functions left", () => {
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });
});
