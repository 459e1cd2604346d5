/** file: one JSON line per event, numbers kept byte for byte, mode 0600, static paths only. */
import { describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
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

  test("a symbolic link planted at the path is refused, and what it points to is left alone", async () => {
    const dir = tempDir();
    const elsewhere = join(dir, "elsewhere.txt");
    writeFileSync(elsewhere, "untouched\n", { mode: 0o600 });
    symlinkSync(elsewhere, join(dir, "events.jsonl"));
    const outcome = await compile({ file: { path: "./events.jsonl" } }, dir)(attemptOf(event()));
    expect(outcome).toMatchObject({ ok: false, retry: false, error: expect.stringContaining("symbolic link") });
    expect(readFileSync(elsewhere, "utf8")).toBe("untouched\n");
  });

  test("an existing file other users can read is refused until it is chmod 600, then appended to", async () => {
    const dir = tempDir();
    const path = join(dir, "events.jsonl");
    writeFileSync(path, "");
    chmodSync(path, 0o644);
    const run = compile({ file: { path: "./events.jsonl" } }, dir);
    expect(await run(attemptOf(event()))).toMatchObject({
      ok: false,
      retry: true,
      error: expect.stringContaining(`(mode 0644), and each line holds customer data; run chmod 600 ${path}`),
    });
    expect(readFileSync(path, "utf8")).toBe("");
    chmodSync(path, 0o600);
    expect(await run(attemptOf(event()))).toEqual({ ok: true });
    expect(readFileSync(path, "utf8").split("\n")).toHaveLength(2);
  });

  test("a FIFO planted at the path fails the attempt instead of blocking it", async () => {
    const dir = tempDir();
    Bun.spawnSync(["mkfifo", join(dir, "events.jsonl")]);
    expect(await compile({ file: { path: "./events.jsonl" } }, dir)(attemptOf(event()))).toMatchObject({ ok: false });
  });

  test("a templated path is a config error", () => {
    expect(JSON.stringify(compileOrProblems({ file: { path: "./{{id}}.json" } }))).toContain("must be written out");
  });
});
