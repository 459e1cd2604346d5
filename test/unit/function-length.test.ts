/**
 * Functions stay readable in one sitting: none in src/ over 120 lines (generated catalogs and fixture data aside),
 * none in the worker's parts over 90. `bun scripts/function-lengths.ts` lists the longest.
 */
import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { functionLengths } from "../../scripts/function-lengths.ts";

const ROOT = resolve(import.meta.dir, "../..");
const over = (folder: string, limit: number) =>
  functionLengths(resolve(ROOT, folder), ROOT)
    .filter((f) => f.lines > limit)
    .map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`);

test("no hand-written function in src/ is over 120 lines", () => {
  expect(functionLengths(resolve(ROOT, "src"), ROOT).length).toBeGreaterThan(500);
  expect(over("src", 120)).toEqual([]);
});

test("no function in src/delivery/ is over 90 lines", () => {
  expect(over("src/delivery", 90)).toEqual([]);
});

test("generated catalogs and fixture data are left out", () => {
  const files = new Set(functionLengths(resolve(ROOT, "src"), ROOT).map((f) => f.file));
  expect(files.has("src/catalog/lint.ts")).toBe(true);
  expect([...files].some((f) => f.startsWith("src/fixtures/"))).toBe(false);
  expect(files.has("src/catalog/object-types.ts")).toBe(false);
});
