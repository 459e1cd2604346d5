/** `${VAR}` in every scalar: numbers and booleans from the environment, checked after expansion, errors naming the variable. */
import { describe, expect, test } from "bun:test";
import { DEFAULT_CONFIG } from "../../src/config/default.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";
import { ConfigError } from "../../src/errors.ts";

const ENDPOINT = 'endpoints: [{ path: /webhook, secrets: ["whsec_test"], tolerance: "${TOLERANCE:-300}" }]\n';

function load(text: string, env: Record<string, string> = {}): Config {
  return parseConfig(text, { source: "payhook.yaml", env });
}

function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    load(text, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("numbers and booleans from the environment", () => {
  test("a port, a tolerance, a concurrency and a jitter come from variables, unquoted or quoted", () => {
    const config = load(
      `listen: { host: "\${HOST:-127.0.0.1}", port: "\${PORT}" }\n${ENDPOINT}concurrency: "\${WORKERS}"\nretry:\n  jitter: \${JITTER:-0.5}\n\n`,
      { PORT: "8081", TOLERANCE: "60", WORKERS: "3" },
    );
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 8081, tls: undefined });
    expect(config.endpoints[0]?.tolerance).toBe(60);
    expect(config.concurrency).toBe(3);
    expect(config.file.retry.jitter).toBe(0.5);
  });

  test("a boolean and an integer inside an action come from variables", () => {
    const config = load(
      `${ENDPOINT}handlers:\n  "*":\n    - file: { path: /tmp/x.jsonl, fsync: "\${FSYNC}" }\n      retry:\n        attempts: \${ATTEMPTS}\n`,
      { FSYNC: "false", ATTEMPTS: "3" },
    );
    const action = config.routes[0]?.actions[0];
    expect(action?.retry.attempts).toBe(3);
    expect(config.file.handlers["*"]?.[0]).toMatchObject({ file: { fsync: false } });
  });

  test("where the schema takes text, text that looks like a number stays text", () => {
    const config = load(`${ENDPOINT}handlers:\n  "*":\n    - log: "\${COUNT}"\n`, { COUNT: "42" });
    expect(config.file.handlers["*"]?.[0]).toEqual({ log: "42" });
  });

  test("the embedded default config listens on PORT when it is set, 4242 otherwise", () => {
    expect(load(DEFAULT_CONFIG, { PORT: "9000" }).listen.port).toBe(9000);
    expect(load(DEFAULT_CONFIG, {}).listen.port).toBe(4242);
  });

  test("a bad value fails at start with the file, the path and the variable", () => {
    expect(problems(`listen: { port: "\${PORT}" }\n${ENDPOINT}`, { PORT: "eighty" })).toEqual([
      'payhook.yaml: listen.port: expected an integer (a port from 0 to 65535), got "${PORT}"; the value comes from the environment (PORT) (line 1)',
    ]);
    expect(problems(`listen: { port: "\${PORT}" }\n${ENDPOINT}`, { PORT: "70000" })).toEqual([
      "payhook.yaml: listen.port: expected a port from 0 to 65535, got ${PORT}; the value comes from the environment (PORT) (line 1)",
    ]);
    expect(
      problems(`${ENDPOINT}handlers:\n  "*":\n    - file: { path: /tmp/x, fsync: "\${FSYNC}" }\n`, { FSYNC: "yes" })[0],
    ).toStartWith('payhook.yaml: handlers."*"[0].file.fsync: expected true or false');
    expect(problems(`listen: { port: "\${PORT}" }\n${ENDPOINT}`)).toEqual([
      "payhook.yaml: listen.port: environment variable PORT is not set; set it, or write ${PORT:-default} (line 1)",
    ]);
  });
});
