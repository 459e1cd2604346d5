/**
 * The GitHub workflows cannot run here; they are kept small, and this checks that they parse and do what the
 * docs/releases.md#ci-and-the-release-workflow says: CI runs `make test` on every push and pull request; a v* tag builds, proves and publishes the
 * downloads, the deno compile binary included, with the darwin builds re-signed on macOS.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";

const ROOT = resolve(import.meta.dir, "../..");

interface Step {
  run?: string;
  uses?: string;
  with?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  "runs-on": string;
  steps: Step[];
  strategy?: { matrix: { include: Record<string, string>[] } };
}
interface Workflow {
  on: Record<string, { tags?: string[] } | null>;
  jobs: Record<string, Job>;
}

function workflow(name: string): Workflow {
  // The yaml package throws on a syntax error, and with uniqueKeys on a repeated key.
  return parse(readFileSync(join(ROOT, ".github/workflows", name), "utf8"), { uniqueKeys: true }) as Workflow;
}
const runs = (job: Job) => job.steps.flatMap((s) => (s.run ? s.run.split("\n").map((l) => l.trim()) : []));

describe("GitHub workflows", () => {
  test("ci.yml runs make test on every push and pull request", () => {
    const ci = workflow("ci.yml");
    expect(Object.keys(ci.on).sort()).toEqual(["pull_request", "push"]);
    expect(Object.values(ci.jobs).flatMap(runs)).toContain("make test");
  });

  test("release.yml, on a v* tag, builds and proves the downloads and the deno binary, then publishes them", () => {
    const release = workflow("release.yml");
    expect(Object.keys(release.on)).toEqual(["push"]);
    expect(release.on.push?.tags).toEqual(["v*"]);
    const { build, darwin, publish } = release.jobs;
    if (!build || !darwin || !publish) throw new Error("release.yml needs the jobs build, darwin and publish");
    const built = runs(build);
    for (const command of ["make release", "make release-test", "make build-deno", "make test-deno"]) {
      expect(built).toContain(command);
    }
    expect(built.indexOf("make release")).toBeLessThan(built.indexOf("make release-test"));
    expect(built).toContain("cp dist/payhook-deno dist/release/payhook-deno-linux-x64");
    expect(darwin.needs).toBe("build");
    expect(darwin.strategy?.matrix.include.map((m) => m.target).sort()).toEqual(["darwin-arm64", "darwin-x64"]);
    expect(runs(darwin)).toContain("codesign --force --sign - payhook-${{ matrix.target }}");
    expect(publish.needs).toEqual(["build", "darwin"]);
    const published = runs(publish);
    expect(published).toContain("cd upload && sha256sum payhook-* install.sh >SHA256SUMS && sha256sum -c SHA256SUMS");
    expect(published.some((l) => l.startsWith('gh release create "$GITHUB_REF_NAME"') && l.endsWith(" upload/*"))).toBe(
      true,
    );
  });

  test("a broken workflow file would fail the parse above", () => {
    expect(() => parse("jobs:\n  test:\n    steps: [\n", { uniqueKeys: true })).toThrow();
    expect(() => parse("on: push\non: pull_request\n", { uniqueKeys: true })).toThrow();
  });
});
