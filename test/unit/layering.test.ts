/**
 * @module The folder graph of src/ is a DAG: each folder imports only the folders listed for it below (every
 * folder may also use utils/ and the base files errors.ts, log.ts and the build-time test hooks). A new import
 * across folders that is not listed fails here; add it to the list only if it keeps the graph one-way. Biome's
 * noImportCycles (type imports included) catches cycles between files; a probe below proves it is on.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { tempDir } from "../helpers/server.ts";

const ROOT = resolve(import.meta.dir, "../..");
const SRC = join(ROOT, "src");

/** What each folder may import, besides itself, utils/ and the base files. */
const ALLOWED: Record<string, readonly string[]> = {
  cli: [
    "server",
    "alerts",
    "explain",
    "stripe",
    "ingest",
    "delivery",
    "ops",
    "ui",
    "config",
    "store",
    "actions",
    "catalog",
    "fixtures",
    "runtime",
  ],
  server: ["alerts", "explain", "stripe", "ingest", "delivery", "ops", "ui", "config", "store", "catalog", "runtime"],
  alerts: ["stripe", "ops", "config", "store", "actions", "catalog", "runtime"],
  explain: ["stripe", "ingest", "config", "store", "actions"],
  stripe: ["ingest", "delivery", "ops", "config", "store", "actions", "catalog", "runtime"],
  ingest: ["delivery", "ops", "config", "store", "actions"],
  ui: ["ops", "config", "store"],
  ops: ["config", "store", "actions", "runtime"],
  delivery: ["store", "actions", "runtime"],
  catalog: ["config", "actions"],
  fixtures: ["catalog"],
  config: ["store", "actions"],
  store: ["runtime"],
  actions: ["runtime"],
  runtime: [],
  utils: [],
};
/** Imported by every folder; they import only utils/ (and each other). */
const BASE = ["errors.ts", "log.ts", "testhooks.ts", "testhooks.release.ts"];
/** The entry points: they wire everything, and nothing imports them. */
const ENTRIES = ["main.ts", "main.deno.ts", "store-writer.bun.ts", "store-writer.deno.ts"];

interface Edge {
  from: string;
  to: string;
}

/** Every relative import in src/ (static, re-export, side-effect or dynamic), as file → file under src/. */
function imports(dir = SRC): Edge[] {
  const edges: Edge[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) edges.push(...imports(path));
    else if (/\.tsx?$/.test(entry.name)) {
      const text = readFileSync(path, "utf8");
      for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)"(\.{1,2}\/[^"]+)"/g)) {
        const target = resolve(dirname(path), m[1] as string);
        if (target.startsWith(`${SRC}/`)) edges.push({ from: relative(SRC, path), to: relative(SRC, target) });
      }
    }
  }
  return edges;
}

/** A file's folder under src/, or the file itself at the root. */
const folder = (file: string) => file.split("/")[0] as string;

/** Whether the rules above allow `from` to import `to`. */
function allowed(from: string, to: string): boolean {
  const [a, b] = [folder(from), folder(to)];
  if (ENTRIES.includes(b)) return false;
  if (ENTRIES.includes(a)) return true;
  if (a === "utils") return b === "utils";
  if (b === "utils" || BASE.includes(b)) return true;
  if (BASE.includes(a)) return false;
  return a === b || (ALLOWED[a]?.includes(b) ?? false);
}

/** The imports the rules do not allow, as "from → to" lines. */
function violations(edges: readonly Edge[]): string[] {
  return edges.filter((e) => !allowed(e.from, e.to)).map((e) => `${e.from} → ${e.to}`);
}

describe("the folder graph", () => {
  test("every import across folders is one the list allows", () => {
    const edges = imports();
    expect(edges.length).toBeGreaterThan(300);
    expect(violations(edges)).toEqual([]);
  });

  test("every folder of src/ is in the list, and the list has no cycle", () => {
    const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory());
    expect(folders.map((e) => e.name).sort()).toEqual(Object.keys(ALLOWED).sort());
    const done = new Set<string>();
    const visit = (name: string, path: string[]): void => {
      if (path.includes(name)) throw new Error(`a cycle: ${[...path, name].join(" → ")}`);
      if (done.has(name)) return;
      for (const next of ALLOWED[name] ?? []) visit(next, [...path, name]);
      done.add(name);
    };
    for (const name of Object.keys(ALLOWED)) visit(name, []);
  });

  test.each([
    ["a lower folder importing a higher one", "store/types.ts", "ingest/verify.ts"],
    ["a folder importing an entry point", "cli/run.ts", "main.ts"],
    ["a base file importing a folder other than utils/", "log.ts", "config/types.ts"],
    ["utils/ importing anything outside it", "utils/net.ts", "errors.ts"],
  ])("%s is a violation", (_, from, to) => {
    expect(violations([{ from, to }])).toEqual([`${from} → ${to}`]);
  });
});

test("Biome fails on an import cycle, even one made only of type imports", async () => {
  const dir = tempDir("payhook-cycle-");
  copyFileSync(join(ROOT, "biome.json"), join(dir, "biome.json"));
  mkdirSync(join(dir, "src"));
  writeFileSync(join(dir, "src/a.ts"), 'import type { B } from "./b.ts";\n\nexport type A = { b?: B };\n');
  writeFileSync(join(dir, "src/b.ts"), 'import type { A } from "./a.ts";\n\nexport type B = { a?: A };\n');
  const child = Bun.spawn([join(ROOT, "node_modules/.bin/biome"), "lint", "--colors=off", "src"], {
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  expect(code).not.toBe(0);
  expect(out + err).toContain("lint/suspicious/noImportCycles");
});
