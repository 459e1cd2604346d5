/**
 * End to end: SIGHUP and --watch (also through a ConfigMap's symlink swap) reload the config while serving; an
 * invalid one is refused with its errors logged and the old one keeps serving; a delivery pending across a
 * reload runs the action it was created with.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type RunningServer, startServer, tempDir, testConfig, waitUntil } from "../helpers/server.ts";
import { deliver, event } from "../helpers/stripe.ts";

const version = (tag: string) =>
  testConfig(`handlers:
  payment_intent.succeeded:
    - name: announce
      log: "${tag} {{data.object.id}}"
`);

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
});

/** Rewrites the running server's config file with `text` ({{port}} and {{dir}} filled in). */
function rewrite(s: RunningServer, text: string, name = "payhook.yaml"): void {
  writeFileSync(join(s.dir, name), text.replaceAll("{{port}}", String(s.port)).replaceAll("{{dir}}", s.dir));
}

function pid(s: RunningServer): number {
  return (JSON.parse(s.stderr.find((l) => l.includes('"msg":"listening"')) ?? "{}") as { pid?: number }).pid ?? 0;
}

async function piOf(s: RunningServer): Promise<string> {
  const payload = event("payment_intent.succeeded");
  expect((await deliver(`${s.url}/webhook`, payload)).status).toBe(200);
  return (JSON.parse(payload) as { data: { object: { id: string } } }).data.object.id;
}

describe("reload", () => {
  test("SIGHUP applies a valid config and refuses an invalid one while serving", async () => {
    server = await startServer({ config: version("v1") });
    await server.waitForStdout(`v1 ${await piOf(server)}`);

    rewrite(server, version("v2"));
    process.kill(pid(server), "SIGHUP");
    await server.waitForStderr('"msg":"config reloaded"');
    await server.waitForStdout(`v2 ${await piOf(server)}`);

    rewrite(server, `${version("v3")}  bogus_key: 1\nretry: { attempts: "many" }\n`);
    process.kill(pid(server), "SIGHUP");
    const refused = JSON.parse(await server.waitForStderr('"msg":"config reload refused')) as {
      level: string;
      errors: string[];
    };
    expect(refused.level).toBe("error");
    expect(refused.errors.join("\n")).toContain("retry.attempts: expected an integer");
    // The previous config keeps serving.
    await server.waitForStdout(`v2 ${await piOf(server)}`);
    expect(server.stdout.some((l) => l.startsWith("v3 "))).toBe(false);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('payhook_config_reloads_total{result="success"} 1');
    expect(metrics).toContain('payhook_config_reloads_total{result="failure"} 1');
    expect(metrics).toContain("payhook_config_last_reload_successful 0");
  });

  test("--watch reloads when the file is replaced", async () => {
    server = await startServer({ config: version("w1"), args: ["--watch"] });
    await server.waitForStderr('"msg":"watching the config file for changes"');
    // As editors save: a new file renamed over the old one.
    rewrite(server, version("w2"), "payhook.yaml.tmp");
    renameSync(join(server.dir, "payhook.yaml.tmp"), join(server.dir, "payhook.yaml"));
    await server.waitForStderr('"trigger":"watch"');
    await server.waitForStdout(`w2 ${await piOf(server)}`);
  });

  test("--watch reloads when a Kubernetes ConfigMap volume swaps its ..data symlink", async () => {
    const dir = tempDir();
    const port = await freePort();
    // The volume's layout: payhook.yaml -> ..data/payhook.yaml, ..data -> ..<timestamp>/.
    const publish = (stamp: string, tag: string) => {
      mkdirSync(join(dir, stamp));
      const text = version(tag).replaceAll("{{port}}", String(port)).replaceAll("{{dir}}", dir);
      writeFileSync(join(dir, stamp, "payhook.yaml"), text);
    };
    publish("..2026_01_01_00_00_00.1", "k1");
    symlinkSync("..2026_01_01_00_00_00.1", join(dir, "..data"));
    symlinkSync("..data/payhook.yaml", join(dir, "payhook.yaml"));
    server = await startServer({
      dir,
      args: ["--watch", "--config", join(dir, "payhook.yaml")],
    });
    await server.waitForStderr('"msg":"watching the config file for changes"');
    await server.waitForStdout(`k1 ${await piOf(server)}`);
    // As the kubelet updates it: a new folder, a new link to it, renamed over ..data, the old folder removed.
    publish("..2026_01_01_00_01_00.2", "k2");
    symlinkSync("..2026_01_01_00_01_00.2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    rmSync(join(dir, "..2026_01_01_00_00_00.1"), { recursive: true });
    await server.waitForStderr('"trigger":"watch"');
    await server.waitForStdout(`k2 ${await piOf(server)}`);
    // The next swap is seen too.
    publish("..2026_01_01_00_02_00.3", "k3");
    symlinkSync("..2026_01_01_00_02_00.3", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    await waitUntil(() => server?.stderr.filter((l) => l.includes('"trigger":"watch"')).length === 2);
    await server.waitForStdout(`k3 ${await piOf(server)}`);
  });

  test("a delivery pending across a reload runs the action it was created with", async () => {
    // The action fails with EX_TEMPFAIL (retry) until the file "go" exists, then records which version ran it.
    const script = (tag: string) =>
      testConfig(`handlers:
  payment_intent.succeeded:
    - name: record
      exec:
        command: ["/bin/sh", "-c", "test -e go || exit 75; echo ${tag} {{id}} >> ran.txt"]
        cwd: "{{dir}}"
      retry: { attempts: 100, schedule: [20ms], jitter: 0 }
`);
    server = await startServer({ config: script("old") });
    const first = event("payment_intent.succeeded");
    expect((await deliver(`${server.url}/webhook`, first)).status).toBe(200);
    await server.waitForStderr('"msg":"action failed · retry"');

    rewrite(server, script("new"));
    process.kill(pid(server), "SIGHUP");
    await server.waitForStderr('"msg":"config reloaded"');
    const second = event("payment_intent.succeeded");
    expect((await deliver(`${server.url}/webhook`, second)).status).toBe(200);

    writeFileSync(join(server.dir, "go"), "");
    const ran = join(server.dir, "ran.txt");
    await waitUntil(() => existsSync(ran) && readFileSync(ran, "utf8").trim().split("\n").length === 2);
    const lines = readFileSync(ran, "utf8").trim().split("\n").sort();
    const id = (payload: string) => (JSON.parse(payload) as { id: string }).id;
    expect(lines).toEqual([`new ${id(second)}`, `old ${id(first)}`].sort());
  });
});
