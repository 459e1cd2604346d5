/** `store:`: a SQLite path or a PostgreSQL URL (alone or with settings); problems named, passwords never shown. */
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";
import { redactUrl } from "../../src/store/postgres/settings.ts";

const ENDPOINT = `endpoints: [{ path: /webhook, secrets: ["whsec_test"] }]\n`;
const PASSWORD = "SENTINEL0pg0password";

function parse(store: string, env: Record<string, string> = {}) {
  return parseConfig(`${ENDPOINT}store: ${store}\n`, { source: "payhook.yaml", env });
}

function problems(store: string, env: Record<string, string> = {}): string[] {
  try {
    parse(store, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("store: PostgreSQL", () => {
  test("a URL from the environment selects PostgreSQL with the defaults; its label hides the password", () => {
    const config = parse("${DATABASE_URL}", {
      DATABASE_URL: `postgresql://payhook:${PASSWORD}@db.internal:6432/events?sslmode=verify-full`,
    });
    expect(config.store).toMatchObject({
      kind: "postgres",
      label: "postgresql://payhook:***@db.internal:6432/events?sslmode=verify-full",
      connection: {
        host: "db.internal",
        port: 6432,
        database: "events",
        user: "payhook",
        password: PASSWORD,
        sslmode: "verify-full",
      },
      pool: 10,
      leaseMs: 30_000,
      schema: "payhook",
    });
  });

  test("the object form sets pool, lease and schema; libpq's defaults otherwise (port 5432, sslmode prefer)", () => {
    const config = parse(`{ url: "postgres://u:${PASSWORD}@db/x", pool: 4, lease: 5s, schema: hooks }`);
    expect(config.store).toMatchObject({
      kind: "postgres",
      connection: { port: 5432, sslmode: "prefer" },
      pool: 4,
      leaseMs: 5_000,
      schema: "hooks",
    });
  });

  test.each([
    [
      `postgres://u:${PASSWORD}@db/x?sslmode=verify`,
      "store: postgres://u:***@db/x?sslmode=verify: sslmode must be one of",
    ],
    [`postgres://u:${PASSWORD}@db/x?pool=3`, 'unknown URL parameter "pool"'],
    [`postgres://u:${PASSWORD}@db/`, "names no database"],
    [`postgres://:${PASSWORD}@db/x`, "names no user"],
    [`postgres://u:${PASSWORD}@db/x?sslrootcert=/nonexistent/ca.pem`, "cannot read sslrootcert /nonexistent/ca.pem"],
    [`{ url: "postgres://u:${PASSWORD}@db/x", lease: 500ms }`, "store.lease: must be at least 1s"],
    [`{ url: "postgres://u:${PASSWORD}@db/x", schema: "Bad-Name" }`, "store.schema: expected the PostgreSQL schema"],
    [`{ url: "mysql://u:${PASSWORD}@db/x" }`, "store.url: expected a PostgreSQL URL"],
    [`{ url: "postgres://u:${PASSWORD}@db/x", pools: 3 }`, 'store.pools: unknown key "pools"'],
  ])("%s is refused, naming the problem and never the password", (store, expected) => {
    const found = problems(store);
    expect(found.join("\n")).toContain(expected);
    expect(found.join("\n")).not.toContain(PASSWORD);
  });

  test("a file path still selects SQLite, even one with a colon", () => {
    expect(parse("./data/pay:hook.db").store).toMatchObject({ kind: "sqlite" });
  });

  test.each([
    ["an @", `postgres://u:p@${PASSWORD}@db:5432/x`, "postgres://u:***@db:5432/x"],
    [
      "a percent-encoded @",
      `postgres://u:p%40${PASSWORD}@db:5432/x?sslmode=require`,
      "postgres://u:***@db:5432/x?sslmode=require",
    ],
  ])("a password with %s: the label is built from the parsed URL", (_, url, label) => {
    expect(parse("${DATABASE_URL}", { DATABASE_URL: url }).store.label).toBe(label);
  });

  test.each(["/", "?", "#", ":1/"])(
    "a password with an unencoded %s: the error shows none of the URL and hints at percent-encoding",
    (c) => {
      const found = problems("${DATABASE_URL}", { DATABASE_URL: `postgres://u:a${c}${PASSWORD}@db:5432/x` }).join("\n");
      expect(found).toContain("percent-encode");
      expect(found).not.toContain(PASSWORD);
    },
  );

  test("redactUrl hides the password of URLs that are not even valid", () => {
    expect(redactUrl(`see postgres://u:a@${PASSWORD}@db/x for details`)).toBe("see postgres://u:***@db/x for details");
    expect(redactUrl(`postgres://u:${PASSWORD}@db:5432/x`)).toBe("postgres://u:***@db:5432/x");
    expect(redactUrl(`postgres://u:${PASSWORD}@[bad`)).toBe("postgres://u:***@[bad");
    expect(redactUrl("postgres://db/x")).toBe("postgres://db/x");
  });
});
