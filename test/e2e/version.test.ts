/**
 * Which payhook is running: `payhook version` (text and --json), the `payhook_build_info` gauge and the start-up
 * log line say the same version, commit, commit date, target and runtime. A compiled binary carries the stamp of
 * the tree it was built from (scripts/build-stamp.sh); run from source there is none, and it says "unknown".
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { runPayhook, startServer, tempDir, testConfig } from "../helpers/server.ts";

const ROOT = resolve(import.meta.dir, "../..");

interface BuildInfo {
  version: string;
  commit: string;
  commit_date: string;
  target: string;
  runtime: string;
  runtime_version: string;
}

async function versionJson(): Promise<BuildInfo> {
  const result = await runPayhook(["version", "--json"]);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as BuildInfo;
}

describe("payhook version", () => {
  test("the text line and --version say what --json says", async () => {
    const info = await versionJson();
    expect(Object.keys(info)).toEqual(["version", "commit", "commit_date", "target", "runtime", "runtime_version"]);
    const line = `payhook ${info.version} (${info.commit}, ${info.commit_date}, ${info.target}, ${info.runtime} ${info.runtime_version})`;
    for (const args of [["version"], ["--version"]]) {
      const result = await runPayhook(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`${line}\n`);
    }
    expect(info.version).toBe(pkg.version);
    expect(info.target).toBe(`${process.platform}-${process.arch}`);
    expect(["bun", "deno"]).toContain(info.runtime);
  });

  // make rebuilds dist/payhook whenever the stamp changes (a commit, or a clean tree turning dirty).
  test("a compiled binary carries the commit and the commit's date of the tree it was built from", async () => {
    const info = await versionJson();
    if (process.env.PAYHOOK_CMD) {
      // Run from source: nothing was stamped.
      expect([info.commit, info.commit_date]).toEqual(["unknown", "unknown"]);
      return;
    }
    const stamp = JSON.parse(spawnSync(`${ROOT}/scripts/build-stamp.sh`, { encoding: "utf8" }).stdout);
    expect(info.commit).toBe(stamp.commit);
    expect(info.commit_date).toBe(stamp.commit_date);
    if (stamp.commit === "unknown") return; // built outside a git checkout (a source tarball)
    expect(info.commit).toMatch(/^[0-9a-f]{12}(-dirty)?$/);
    expect(info.commit_date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  test("/metrics' payhook_build_info and the start-up log line carry the same figures", async () => {
    const info = await versionJson();
    const server = await startServer();
    try {
      const listening = JSON.parse(await server.waitForStderr('"msg":"listening"')) as Record<string, unknown>;
      for (const [key, value] of Object.entries(info)) expect(listening[key]).toBe(value);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const labels = Object.entries(info)
        .map(([k, v]) => `${k}="${v}"`)
        .join(",");
      expect(metrics).toContain(`\npayhook_build_info{${labels}} 1\n`);
    } finally {
      await server.stop();
    }
  });
});

describe("upgrades and downgrades", () => {
  test("a store written by a newer payhook is refused by an older one, clearly, and left as it was", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "payhook.yaml"), testConfig("").replace("{{port}}", "0").replaceAll("{{dir}}", dir));
    // A first start creates the store at this payhook's schema.
    const server = await startServer({ dir, config: testConfig(""), configName: "first.yaml" });
    expect(await server.stop()).toBe(0);
    const store = join(dir, "payhook.db");
    const schema = () => {
      const db = new Database(store);
      try {
        return Number((db.query("PRAGMA user_version").get() as { user_version: number }).user_version);
      } finally {
        db.close();
      }
    };
    const current = schema();
    expect(current).toBeGreaterThan(0);
    // What the next payhook's migration would leave: a schema this one does not know.
    const db = new Database(store);
    db.run(`PRAGMA user_version = ${current + 1}`);
    db.close();
    const expected = `payhook: cannot open the store ${store}: the store was written by a newer payhook (schema ${current + 1}, this one knows ${current}); upgrade payhook\n`;
    for (const args of [["serve"], ["events", "list"]]) {
      const result = await runPayhook([...args, "--config", join(dir, "payhook.yaml")], { cwd: dir });
      expect(result.stderr).toEndWith(expected);
      expect(result.code).toBe(1);
    }
    expect(schema()).toBe(current + 1);
  });
});
