/**
 * @module The runtime boundary lint rule: Biome must fail on Bun, Deno or bun:* (and node:sqlite) used outside
 * src/runtime/, and allow them inside it. Runs the project's Biome with the project's biome.json on probe files
 * in a scratch folder, so a broken or loosened rule fails this test.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { tempDir } from "../helpers/server.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BIOME = join(ROOT, "node_modules/.bin/biome");

/** Lints one file with the project's config, placed at `path` inside a scratch copy of the layout. */
async function lint(path: string, source: string): Promise<{ code: number; output: string }> {
  const dir = tempDir("payhook-lint-");
  copyFileSync(join(ROOT, "biome.json"), join(dir, "biome.json"));
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), source);
  const child = Bun.spawn([BIOME, "lint", "--colors=off", path], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, output: stdout + stderr };
}

const OFFENDERS = [
  ["the Bun global", "export const version = Bun.version;\n", "lint/style/noRestrictedGlobals"],
  ["the Deno global", "export const args = Deno.args;\n", "lint/style/noRestrictedGlobals"],
  ["bun:sqlite", 'import { Database } from "bun:sqlite";\n\nexport { Database };\n', "lint/style/noRestrictedImports"],
  ["the bun module", 'import { serve } from "bun";\n\nexport { serve };\n', "lint/style/noRestrictedImports"],
  [
    "node:sqlite",
    'import { DatabaseSync } from "node:sqlite";\n\nexport { DatabaseSync };\n',
    "lint/style/noRestrictedImports",
  ],
] as const;

describe("only src/runtime/ may touch Bun or Deno", () => {
  test.each(OFFENDERS)("%s outside src/runtime/ fails the lint", async (_, source, rule) => {
    for (const path of ["src/ingest/app.ts", "src/store/probe.ts", "src/main.deno.ts"]) {
      const { code, output } = await lint(path, source);
      expect(code).not.toBe(0);
      expect(output).toContain(path);
      expect(output).toContain(rule);
    }
  });

  test.each(OFFENDERS)("%s inside src/runtime/ passes", async (_, source) => {
    const { code, output } = await lint("src/runtime/probe.ts", source);
    expect(output).not.toContain("noRestricted");
    expect(code).toBe(0);
  });

  test("code that goes through the Runtime interface passes anywhere", async () => {
    const source =
      'import type { Runtime } from "./runtime/types.ts";\n\nexport const name = (r: Runtime) => r.name;\n';
    const { code, output } = await lint("src/ingest/app.ts", source);
    expect(output).not.toContain("noRestricted");
    expect(code).toBe(0);
  });
});
