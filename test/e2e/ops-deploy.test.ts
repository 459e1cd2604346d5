/**
 * The service files in deploy/: the systemd unit passes `systemd-analyze verify` without a warning and scores as
 * hardened, and the commands that the unit and the Dockerfile run work with the compiled binary: serve, reload
 * on SIGHUP, the container's HEALTHCHECK, stop on SIGTERM with exit 0. The image itself is built by `make
 * package` and run under podman in test/package/images.test.ts; here the Dockerfile is read.
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, payhookCommand, tempDir, testConfig, waitUntil } from "../helpers/server.ts";
import { deliver, event } from "../helpers/stripe.ts";

const ROOT = resolve(import.meta.dir, "../..");
const UNIT = readFileSync(join(ROOT, "deploy/payhook.service"), "utf8");
const DOCKERFILE = readFileSync(join(ROOT, "deploy/Dockerfile"), "utf8");
const DOCKER_CONFIG = readFileSync(join(ROOT, "deploy/payhook.docker.yaml"), "utf8");
const INSTALLED = "/usr/local/bin/payhook";

/** `Key=value` settings of a unit file, in order (keys repeat). */
function settings(unit: string): [string, string][] {
  return unit
    .split("\n")
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]);
}
const setting = (key: string) => settings(UNIT).find(([k]) => k === key)?.[1];

function analyze(args: string[]): { code: number | null; output: string } {
  const result = spawnSync("systemd-analyze", args, { encoding: "utf8" });
  return { code: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

/** The unit with the installed binary's path replaced by the binary under test, so verify can check it exists. */
function unitUnderTest(dir: string, text = UNIT): string {
  const binary = payhookCommand()[0] as string;
  const path = join(dir, "payhook.service");
  writeFileSync(path, text.replaceAll(INSTALLED, resolve(binary)));
  return path;
}

/** Runs argv (the binary under test first) until it logs that it listens; returns a handle. */
async function run(argv: string[], env: Record<string, string>, cwd: string) {
  const binary = payhookCommand();
  const child = Bun.spawn([...binary, ...argv.slice(1)], {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: string[] = [];
  let resolveListening: (line: string) => void = () => {};
  const listening = new Promise<string>((r) => {
    resolveListening = r;
  });
  void (async () => {
    let pending = "";
    for await (const chunk of child.stderr) {
      pending += new TextDecoder().decode(chunk);
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        if (line.includes('"msg":"listening"')) resolveListening(line);
      }
    }
  })();
  const early = child.exited.then((code) => {
    throw new Error(`exited ${code} before listening:\n${lines.join("\n")}`);
  });
  const line = await Promise.race([listening, early]);
  return { child, lines, url: (JSON.parse(line) as { url: string }).url };
}

describe("systemd unit", () => {
  test("systemd-analyze verify finds nothing to report", () => {
    const result = analyze(["verify", unitUnderTest(tempDir())]);
    expect(result).toEqual({ code: 0, output: "" });
  });

  test("verify does report a broken unit (the check above can fail)", () => {
    const broken = UNIT.replace("ProtectSystem=strict", "ProtectSystem=strikt").replace("Restart=", "Restrat=");
    const result = analyze(["verify", unitUnderTest(tempDir(), broken)]);
    expect(result.output).toContain("Failed to parse protect system value");
    expect(result.output).toContain("Unknown key 'Restrat'");
  });

  test("restarts on failure, runs as its own user with its store in StateDirectory, and is hardened", () => {
    expect(setting("Restart")).toBe("on-failure");
    expect(setting("User")).toBe("payhook");
    expect(setting("StateDirectory")).toBe("payhook");
    expect(setting("WorkingDirectory")).toBe("/var/lib/payhook");
    expect(setting("ProtectSystem")).toBe("strict");
    expect(setting("NoNewPrivileges")).toBe("yes");
    expect(setting("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
    const security = analyze(["security", "--offline=true", unitUnderTest(tempDir())]);
    const level = /Overall exposure level for payhook\.service: ([0-9.]+)/.exec(security.output)?.[1];
    expect(Number(level)).toBeLessThanOrEqual(2);
  });

  test("its ExecStartPre, ExecStart, ExecReload and KillSignal work with the binary", async () => {
    const dir = tempDir();
    const port = await freePort();
    const configPath = join(dir, "payhook.yaml");
    writeFileSync(
      configPath,
      testConfig('unhandled:\n  - log: "v1 {{type}}"\n')
        .replaceAll("{{port}}", String(port))
        .replaceAll("{{dir}}", dir),
    );
    const argv = (key: string) => (setting(key) ?? "").replaceAll("/etc/payhook/payhook.yaml", configPath).split(" ");

    const [binary, ...rest] = payhookCommand();
    const pre = spawnSync(binary as string, [...rest, ...argv("ExecStartPre").slice(1)], { encoding: "utf8" });
    expect(pre.status).toBe(0);
    const server = await run(argv("ExecStart"), {}, dir);
    try {
      expect((await deliver(`${server.url}/webhook`, event("invoice.paid"))).status).toBe(200);
      writeFileSync(configPath, readFileSync(configPath, "utf8").replace("v1 {{type}}", "v2 {{type}}"));
      const [kill, ...killArgs] = argv("ExecReload").map((a) => a.replace("$MAINPID", String(server.child.pid)));
      expect(spawnSync(kill as string, killArgs).status).toBe(0);
      await waitUntil(() => server.lines.some((l) => l.includes('"msg":"config reloaded"')));
      expect(setting("KillSignal")).toBe("SIGTERM");
      server.child.kill("SIGTERM");
      expect(await server.child.exited).toBe(0);
    } finally {
      server.child.kill("SIGKILL");
    }
  });
});

describe("Dockerfile", () => {
  const instructions = DOCKERFILE.split("\n")
    .filter((l) => /^[A-Z]+ /.test(l))
    .map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)] as const);
  const last = (name: string) => instructions.filter(([n]) => n === name).at(-1)?.[1] ?? "";
  const entrypoint = JSON.parse(last("ENTRYPOINT")) as string[];
  const cmd = JSON.parse(last("CMD")) as string[];
  const configInImage = cmd[cmd.indexOf("--config") + 1] ?? "";
  const healthcheck = JSON.parse(/ CMD (\[.*\])$/.exec(last("HEALTHCHECK"))?.[1] ?? "[]") as string[];

  const rootScript = readFileSync(join(ROOT, "scripts/package/image-root.sh"), "utf8");

  test("builds from scratch out of the file system image-root.sh writes, with the binary where ENTRYPOINT expects it", () => {
    // Nothing from a registry: the release binary and this machine's files (test/package runs the image itself).
    expect(instructions.filter(([n]) => n === "FROM").map(([, v]) => v)).toEqual(["scratch"]);
    expect(last("ADD")).toBe("root.tar /");
    expect(rootScript).toContain(`install -m 0755 "$binary" "$root${entrypoint[0]}"`);
    expect(rootScript).toContain('install -m 0644 "$config" "$root/etc/payhook/payhook.yaml"');
    expect(configInImage).toBe("/etc/payhook/payhook.yaml");
  });

  test("runs as non-root, exposes the config's default port, keeps the store on a volume, finds the config from WORKDIR", () => {
    expect(last("USER")).not.toMatch(/^(0|root)(:|$)/);
    expect(last("STOPSIGNAL")).toBe("SIGTERM");
    expect(last("EXPOSE")).toBe(String(/port: "\$\{PORT:-(\d+)\}"/.exec(DOCKER_CONFIG)?.[1]));
    const store = /\$\{PAYHOOK_STORE:-([^}]+)\}/.exec(DOCKER_CONFIG)?.[1] ?? "";
    expect(JSON.parse(last("VOLUME"))).toEqual([store.slice(0, store.lastIndexOf("/"))]);
    // `serve --port 8080` without --config finds ./payhook.yaml: the image's config.
    expect(last("WORKDIR")).toBe(configInImage.slice(0, configInImage.lastIndexOf("/")));
  });

  test("its HEALTHCHECK asks payhook itself (no curl in the image) about the image's config", () => {
    expect(healthcheck).toEqual([entrypoint[0] ?? "", "health", "--config", configInImage]);
  });

  test("its command serves the image's config, is ready, passes its HEALTHCHECK, and stops with 0 on STOPSIGNAL", async () => {
    const dir = tempDir();
    const port = await freePort();
    const configPath = join(dir, "payhook.yaml");
    writeFileSync(configPath, DOCKER_CONFIG);
    const argv = [...entrypoint, ...cmd].map((a) => (a === configInImage ? configPath : a));
    const env = {
      PORT: String(port),
      PAYHOOK_HOST: "127.0.0.1",
      PAYHOOK_STORE: join(dir, "payhook.db"),
      STRIPE_WEBHOOK_SECRET: "whsec_test_secret",
    };
    const server = await run(argv, env, dir);
    try {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      expect((await deliver(`${server.url}/webhook`, event("payment_method.attached"))).status).toBe(200);
      const probe = () => {
        const [binary, ...rest] = payhookCommand();
        const args = healthcheck.slice(1).map((a) => (a === configInImage ? configPath : a));
        return spawnSync(binary as string, [...rest, ...args], {
          encoding: "utf8",
          env: { ...env, PATH: "/usr/bin:/bin" },
        });
      };
      const healthy = probe();
      expect(healthy.stdout).toBe(`http://127.0.0.1:${port}/healthz: ok\n`);
      expect(healthy.status).toBe(0);
      server.child.kill("SIGTERM");
      expect(await server.child.exited).toBe(0);
      const stopped = probe();
      expect(stopped.stderr).toStartWith(`payhook: cannot reach http://127.0.0.1:${port}/healthz (`);
      expect(stopped.status).toBe(1);
    } finally {
      server.child.kill("SIGKILL");
    }
  });
});
