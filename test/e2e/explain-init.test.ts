/**
 * End to end: the payhook.test.ts that `payhook init` writes passes under `bun test` against the starter config,
 * with payhook found through PAYHOOK_BIN and on PATH, and fails once the config no longer does what it asserts.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { payhookCommand, runPayhook, tempDir } from "../helpers/server.ts";

const ROOT = resolve(import.meta.dir, "../..");

/** A `payhook` executable in a folder of its own that runs the payhook under test (a binary, or a command line). */
function payhookOnPath(): { bin: string; folder: string } {
  const folder = tempDir("payhook-bin-");
  const bin = join(folder, "payhook");
  const quoted = payhookCommand().map((part) => `'${part.replaceAll("'", `'\\''`)}'`);
  writeFileSync(bin, `#!/bin/sh\nexec ${quoted.join(" ")} "$@"\n`);
  chmodSync(bin, 0o755);
  return { bin, folder };
}

/** Runs `bun test` on the generated file in `dir`, with only PATH, HOME and `env`, as a user's shell would. */
async function bunTest(dir: string, env: Record<string, string>) {
  // process.execPath is the bun running this suite: the project's pinned one. A generous per-case timeout, as
  // `deno run` (make test-deno) compiles payhook afresh for every explain the cases ask.
  const child = Bun.spawn([process.execPath, "test", "--timeout", "60000", "./payhook.test.ts"], {
    cwd: dir,
    env: { HOME: process.env.HOME ?? "/tmp", PATH: "/usr/bin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, output: `${stdout}${stderr}` };
}

async function initialised(): Promise<string> {
  const dir = tempDir();
  const result = await runPayhook(["init"], { cwd: dir });
  expect(result.code).toBe(0);
  expect(result.stdout).toContain("wrote payhook.test.ts (run it with `bun test`");
  return dir;
}

describe("the payhook.test.ts that init writes", () => {
  test("passes under bun test against the starter config, payhook found through PAYHOOK_BIN", async () => {
    const dir = await initialised();
    const { bin } = payhookOnPath();
    const run = await bunTest(dir, { PAYHOOK_BIN: bin });
    expect(run.output).toContain(" 4 pass");
    expect(run.output).toContain(" 0 fail");
    expect(run.code).toBe(0);
  }, 240_000);

  test("finds payhook on PATH, and says how to point at it when it is not there", async () => {
    const dir = await initialised();
    const { folder } = payhookOnPath();
    const found = await bunTest(dir, { PATH: `${folder}:/usr/bin:/bin` });
    expect(found.output).toContain(" 4 pass");
    expect(found.code).toBe(0);
    const missing = await bunTest(dir, {});
    expect(missing.code).not.toBe(0);
    expect(missing.output).toContain("payhook is not on PATH: set PAYHOOK_BIN=/path/to/payhook");
  }, 240_000);

  test("fails when the config stops doing what it asserts (a changed line, a removed handler)", async () => {
    const dir = await initialised();
    const { bin } = payhookOnPath();
    const config = join(dir, "payhook.yaml");
    const starter = readFileSync(config, "utf8");
    writeFileSync(config, starter.replace("was successful!", "succeeded"));
    const changed = await bunTest(dir, { PAYHOOK_BIN: bin });
    expect(changed.code).not.toBe(0);
    expect(changed.output).toContain(" 2 fail");
    writeFileSync(config, starter.replace(/\n {2}payment_method\.attached:\n.*\n/, "\n"));
    const removed = await bunTest(dir, { PAYHOOK_BIN: bin });
    expect(removed.code).not.toBe(0);
    expect(removed.output).toContain(" 1 fail");
  }, 240_000);

  test("type-checks under tsc --strict with Bun's types, so an editor shows it clean", async () => {
    const dir = await initialised();
    const options = ["--noEmit", "--strict", "--noUncheckedIndexedAccess", "--skipLibCheck", "--types", "bun-types"];
    const module = ["--module", "esnext", "--target", "esnext", "--moduleResolution", "bundler"];
    // Run from the project, whose node_modules has bun-types, as a user's project with @types/bun would.
    const child = Bun.spawn(
      [join(ROOT, "node_modules/.bin/tsc"), ...options, ...module, join(dir, "payhook.test.ts")],
      {
        cwd: ROOT,
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const [stdout, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
    expect(stdout).toBe("");
    expect(code).toBe(0);
  }, 240_000);

  test("init keeps an existing payhook.test.ts", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "payhook.test.ts"), "// mine\n");
    const result = await runPayhook(["init"], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("kept payhook.test.ts");
    expect(readFileSync(join(dir, "payhook.test.ts"), "utf8")).toBe("// mine\n");
  });
});
