/**
 * @module The docs are part of the product: every ```yaml example in README.md, CONTRIBUTING.md and docs/ passes
 * `payhook check` (fragments inside a minimal config), every relative link and #anchor resolves, every docs path
 * the code cites exists, and the configuration reference is what scripts/gen-config-docs.ts makes of the schema.
 * How to write examples that pass: CONTRIBUTING.md, "Docs".
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { generate, PAGE, splice } from "../scripts/gen-config-docs.ts";
import {
  type Block,
  checkBlock,
  checkFolder,
  citedDocs,
  codeBlocks,
  links,
  ROOT,
  targetProblem,
} from "./helpers/docs.ts";

const pages = [
  "README.md",
  "CONTRIBUTING.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const folder = checkFolder();

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(ROOT, path)).isDirectory() ? filesUnder(path) : [path];
  });
}

describe("the docs' examples", () => {
  test.each(pages)("every yaml block in %s passes payhook check", async (page) => {
    const blocks = codeBlocks(page, readFileSync(join(ROOT, page), "utf8")).filter((b) => b.lang === "yaml");
    const problems: string[] = [];
    for (const block of blocks) problems.push(await checkBlock(block, folder));
    expect(problems.filter(Boolean)).toEqual([]);
  });

  test("a broken example fails, whole or as a fragment, and a good one passes", async () => {
    const block = (text: string): Block => ({ file: "example.md", line: 1, lang: "yaml", text });
    const good = 'endpoints:\n  - path: /webhook\n    secrets: ["${STRIPE_WEBHOOK_SECRET}"]\n';
    expect(await checkBlock(block(good), folder)).toBe("");
    expect(await checkBlock(block("# fragment\n- log: ok\n  when: { livemode: true }"), folder)).toBe("");
    expect(await checkBlock(block("# fragment\nretention: 2d"), folder)).toContain("retention");
    expect(await checkBlock(block("# fragment\n- exec: { command: ./fulfil }"), folder)).toContain("exec");
    expect(await checkBlock(block(good.replace("secrets", "secret")), folder)).toContain("exited 2");
    expect(await checkBlock(block(`${good}store: \${UNDOCUMENTED_VARIABLE}\n`), folder)).toContain(
      "UNDOCUMENTED_VARIABLE",
    );
  });
});

describe("the docs' links", () => {
  test.each(pages)("every relative link and #anchor in %s resolves", (page) => {
    const path = join(ROOT, page);
    const problems = links(readFileSync(path, "utf8"))
      .map(({ target, line }) => [line, targetProblem(path, target)] as const)
      .filter(([, problem]) => problem !== undefined)
      .map(([line, problem]) => `${page}:${line}: ${problem}`);
    expect(problems).toEqual([]);
  });

  test("every docs path cited in src/, scripts/, test/, deploy/ and the Makefile exists, with its #anchor", () => {
    const sources = [...["src", "scripts", "test", "deploy"].flatMap(filesUnder), "Makefile", "install.sh"];
    const problems = sources.flatMap((file) =>
      citedDocs(readFileSync(join(ROOT, file), "utf8"))
        .map((cited) => targetProblem(join(ROOT, "x"), cited))
        .filter((problem) => problem !== undefined)
        .map((problem) => `${file}: ${problem}`),
    );
    expect(problems).toEqual([]);
  });

  test("a missing page, a missing anchor and a link out of the repository are reported", () => {
    const from = join(ROOT, "docs", "x.md");
    expect(targetProblem(from, "operations.md#reload")).toBeUndefined();
    expect(targetProblem(from, "operations.md#no-such-heading")).toContain("no heading");
    expect(targetProblem(from, "no-such-page.md")).toContain("does not exist");
    expect(targetProblem(from, "../../elsewhere.md")).toContain("leaves the repository");
    expect(targetProblem(from, "https://docs.stripe.com/webhooks")).toBeUndefined();
    expect(citedDocs(`see ${"docs"}/deploy.md#ip-allowlist and README.md`)).toEqual([
      "docs/deploy.md#ip-allowlist",
      "README.md",
    ]);
  });
});

test("the configuration reference in docs/configuration.md is generated from the schema (make docs)", () => {
  const page = readFileSync(PAGE, "utf8");
  expect(relative(ROOT, PAGE)).toBe("docs/configuration.md");
  expect(page).toBe(splice(page, generate()));
});
