/**
 * The container images `make package` writes, run under podman: the amd64 image answers a signed webhook sent
 * from this machine with `payhook trigger` (200, and the seed's line in the container's log), passes its
 * HEALTHCHECK, stores as its non-root user; the -shell flavour runs a /bin/sh script `exec` action, the plain one
 * has no shell. The arm64 archive's file system runs its binary and shell under qemu-user.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mustPodman, packaged, packageVersion, podman, ULIMITS } from "../helpers/podman.ts";
import { freePort, runPayhook, tempDir, waitUntil } from "../helpers/server.ts";

const VERSION = packageVersion();
const IMAGE = `localhost/payhook:${VERSION}`;
const SHELL_IMAGE = `localhost/payhook:${VERSION}-shell`;
const SECRET = "whsec_image_test_secret";
const containers: string[] = [];

beforeAll(() => {
  for (const name of [`payhook-${VERSION}-image-linux-amd64.tar`, `payhook-${VERSION}-shell-image-linux-amd64.tar`]) {
    mustPodman(["load", "--quiet", "-i", packaged(name)]);
  }
});

afterAll(() => {
  for (const id of containers) podman(["rm", "--force", "--time", "0", id]);
  podman(["rmi", "--force", IMAGE, SHELL_IMAGE]);
});

/** Starts a container (a periodic health check needs systemd timers, so only the manual `healthcheck run`). */
function run(args: string[]): string {
  const id = mustPodman(["run", "--detach", "--health-interval", "disable", ...ULIMITS, ...args]).trim();
  containers.push(id);
  return id;
}

const logs = (id: string) => {
  const result = podman(["logs", id]);
  return `${result.out}${result.err}`;
};

async function waitForLog(id: string, match: RegExp | string): Promise<void> {
  const found = () => (typeof match === "string" ? logs(id).includes(match) : match.test(logs(id)));
  await waitUntil(found, 30_000, `container log line ${match}\n${logs(id)}`);
}

describe("the amd64 image", () => {
  test("carries its user, volume, HEALTHCHECK, entrypoint and OCI labels", () => {
    const [image] = JSON.parse(mustPodman(["image", "inspect", IMAGE])) as {
      Config: { User: string; Volumes: Record<string, unknown>; Entrypoint: string[]; Labels: Record<string, string> };
      Healthcheck: { Test: string[] };
      Architecture: string;
    }[];
    expect(image?.Architecture).toBe("amd64");
    const c = { ...image?.Config, Healthcheck: image?.Healthcheck } as NonNullable<typeof image>["Config"] & {
      Healthcheck: { Test: string[] };
    };
    expect(c.User).toBe("65532:65532");
    expect(Object.keys(c.Volumes)).toEqual(["/var/lib/payhook"]);
    expect(c.Healthcheck.Test).toEqual([
      "CMD",
      "/usr/local/bin/payhook",
      "health",
      "--config",
      "/etc/payhook/payhook.yaml",
    ]);
    expect(c.Entrypoint).toEqual(["/usr/local/bin/payhook"]);
    expect(c.Labels["org.opencontainers.image.version"]).toBe(VERSION);
    expect(c.Labels["org.opencontainers.image.title"]).toBe("payhook");
  });

  test("quick start: `serve --port 8080` answers a signed webhook from the host with 200 and logs the seed's line", async () => {
    const port = await freePort();
    const id = run([
      "-p",
      `127.0.0.1:${port}:8080`,
      "-e",
      `STRIPE_WEBHOOK_SECRET=${SECRET}`,
      IMAGE,
      "serve",
      "--port",
      "8080",
    ]);
    await waitForLog(id, "listening");
    const sent = await runPayhook([
      "trigger",
      "payment_intent.succeeded",
      "--url",
      `http://127.0.0.1:${port}/webhook`,
      "--secret",
      SECRET,
    ]);
    expect(sent.stdout).toMatch(/^\[200\] POST .* payment_intent\.succeeded$/m);
    expect(sent.code).toBe(0);
    await waitForLog(id, /PaymentIntent pi_\w+ was successful!/);
    // The plain image has nothing but payhook: no shell to run a script with.
    const shell = podman(["exec", id, "/bin/sh", "-c", "true"]);
    expect(shell.code).not.toBe(0);
  });

  test("PORT moves the image's config, and its HEALTHCHECK then finds the server; the store belongs to the non-root user", async () => {
    const port = await freePort();
    const id = run(["-p", `127.0.0.1:${port}:9000`, "-e", "PORT=9000", "-e", `STRIPE_WEBHOOK_SECRET=${SECRET}`, IMAGE]);
    await waitForLog(id, "listening");
    expect(podman(["healthcheck", "run", id]).code).toBe(0);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const sent = await runPayhook([
      "trigger",
      "payment_method.attached",
      "--url",
      `http://127.0.0.1:${port}/webhook`,
      "--secret",
      SECRET,
    ]);
    expect(sent.code).toBe(0);
    // The CLI in the container reads the store the server wrote in the volume, as the image's user.
    const events = podman(["exec", id, "payhook", "events", "list", "--config", "/etc/payhook/payhook.yaml"]);
    expect(events.out).toContain("payment_method.attached");
    expect(events.code).toBe(0);
  });
});

describe("the -shell image", () => {
  test("runs a /bin/sh script as an exec action, with the event on stdin", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "payhook.yaml"),
      `listen: { host: 0.0.0.0, port: 8080 }
store: /var/lib/payhook/payhook.db
endpoints: [{ path: /webhook, secrets: ["\${STRIPE_WEBHOOK_SECRET}"] }]
handlers:
  payment_intent.succeeded:
    - exec: { command: [/bin/sh, /config/hook.sh] }
`,
    );
    writeFileSync(
      join(dir, "hook.sh"),
      'cat > /var/lib/payhook/event.json\necho "$PAYHOOK_EVENT_TYPE $(wc -c < /var/lib/payhook/event.json)" > /var/lib/payhook/hook.out\n',
    );
    chmodSync(dir, 0o755);
    const port = await freePort();
    const id = run([
      "-p",
      `127.0.0.1:${port}:8080`,
      "-v",
      `${dir}:/config:ro`,
      "-e",
      `STRIPE_WEBHOOK_SECRET=${SECRET}`,
      SHELL_IMAGE,
      "serve",
      "--config",
      "/config/payhook.yaml",
    ]);
    await waitForLog(id, "listening");
    const sent = await runPayhook([
      "trigger",
      "payment_intent.succeeded",
      "--url",
      `http://127.0.0.1:${port}/webhook`,
      "--secret",
      SECRET,
    ]);
    expect(sent.code).toBe(0);
    await waitUntil(() => podman(["exec", id, "cat", "/var/lib/payhook/hook.out"]).code === 0, 30_000, "hook.out");
    expect(podman(["exec", id, "cat", "/var/lib/payhook/hook.out"]).out).toMatch(/^payment_intent\.succeeded \d+\n$/);
    const event = JSON.parse(podman(["exec", id, "cat", "/var/lib/payhook/event.json"]).out) as { type: string };
    expect(event.type).toBe("payment_intent.succeeded");
    expect(podman(["exec", id, "id", "-u"]).out.trim()).toBe("65532");
  });
});

describe("the arm64 archives", () => {
  test("hold an arm64 image whose binary, libraries and shell run (under qemu-user, in a chroot of its files)", () => {
    const archive = packaged(`payhook-${VERSION}-shell-image-linux-arm64.tar`);
    const manifest = JSON.parse(tarRead(archive, "manifest.json")) as { Config: string; Layers: string[] }[];
    const config = JSON.parse(tarRead(archive, manifest[0]?.Config ?? "")) as {
      architecture: string;
      config: { Healthcheck?: unknown };
    };
    expect(config.architecture).toBe("arm64");
    expect(config.config.Healthcheck).toBeDefined();
    const root = tempDir();
    const layer = spawnSync("sh", [
      "-c",
      `tar -xOf "$1" "$2" | tar -x -C "$3"`,
      "sh",
      archive,
      manifest[0]?.Layers[0] ?? "",
      root,
    ]);
    expect(layer.status).toBe(0);
    mkdirSync(join(root, "qemu"), { recursive: true });
    copyFileSync("/usr/bin/qemu-aarch64-static", join(root, "qemu/qemu-aarch64-static"));
    chmodSync(join(root, "qemu/qemu-aarch64-static"), 0o755);
    // The executable reads itself through /proc/self/exe: a /proc in a private mount namespace, gone with it.
    mkdirSync(join(root, "proc"), { recursive: true });
    const inChroot = (...argv: string[]) =>
      spawnSync(
        "unshare",
        [
          "--mount",
          "--fork",
          "sh",
          "-c",
          'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"',
          root,
          "/qemu/qemu-aarch64-static",
          ...argv,
        ],
        { encoding: "utf8", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } },
      );
    const version = inChroot("/usr/local/bin/payhook", "--version");
    expect(version.stdout).toStartWith(`payhook ${VERSION}`);
    expect(inChroot("/bin/sh", "-c", "echo shell ok").stdout).toBe("shell ok\n");
  });
});

function tarRead(archive: string, member: string): string {
  const result = spawnSync("tar", ["-xOf", archive, member], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`tar -xOf ${archive} ${member}: ${result.stderr}`);
  return result.stdout;
}
