/** file: one JSON line per event, numbers kept byte for byte, mode 0600, static paths only. */
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { compactJson } from "../../src/actions/file.ts";
import { attemptOf, compile, compileOrProblems } from "../helpers/actions.ts";
import { tempDir } from "../helpers/server.ts";
import { event } from "../helpers/stripe.ts";

describe("file", () => {
  test("appends one line per event, relative to the config folder, created with mode 0600", async () => {
    const dir = tempDir();
    const run = compile({ file: { path: "./events.jsonl", fsync: true } }, dir);
    const first = event();
    const second = event("invoice.paid", { data: { object: { id: "in_1", note: 'line\nbreak "quoted" {}' } } });
    expect(await run(attemptOf(first))).toEqual({ ok: true });
    expect(await run(attemptOf(second))).toEqual({ ok: true });
    const path = join(dir, "events.jsonl");
    const lines = readFileSync(path, "utf8").split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe("");
    expect(JSON.parse(lines[0] as string)).toEqual(JSON.parse(first));
    expect(JSON.parse(lines[1] as string)).toEqual(JSON.parse(second));
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test("compacting keeps numbers and strings exactly as Stripe sent them", () => {
    const raw = '{\n  "big": 12345678901234567890123,\n  "s": "a  b\\"  c\\\\",\n  "f": 1.50\n}';
    expect(new TextDecoder().decode(compactJson(new TextEncoder().encode(raw)))).toBe(
      '{"big":12345678901234567890123,"s":"a  b\\"  c\\\\","f":1.50}\n',
    );
  });

  test("a missing folder is retried (it can be created); a directory as the path fails", async () => {
    const dir = tempDir();
    expect(await compile({ file: { path: "missing/x.jsonl" } }, dir)(attemptOf(event()))).toMatchObject({
      ok: false,
      retry: true,
    });
    expect(await compile({ file: { path: "." } }, dir)(attemptOf(event()))).toMatchObject({
      ok: false,
      retry: false,
    });
  });

  test("a templated path is a config error", () => {
    expect(JSON.stringify(compileOrProblems({ file: { path: "./{{id}}.json" } }))).toContain("must be written out");
  });
});
