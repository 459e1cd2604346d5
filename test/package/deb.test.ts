/**
 * The .deb packages `make package` writes: their control data, paths, modes and conffiles; the packaged config
 * passes `payhook check` with its store under /var/lib/payhook; the unit passes `systemd-analyze verify`; lintian
 * reports nothing (its overrides are in deploy/deb/); and dpkg installs the amd64 package into a throwaway root
 * (a busybox chroot) where postinst creates the payhook user, the state folder and the secrets file's owner.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { packaged, packageVersion } from "../helpers/podman.ts";
import { tempDir } from "../helpers/server.ts";

const VERSION = packageVersion();
const DEBS = { amd64: `payhook_${VERSION}_amd64.deb`, arm64: `payhook_${VERSION}_arm64.deb` };
/** ELF e_machine of each architecture's binary. */
const MACHINES = { amd64: 62, arm64: 183 };

function sh(command: string, args: string[], options: { env?: Record<string, string> } = {}) {
  const result = spawnSync(command, args, {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env },
  });
  return { code: result.status ?? -1, out: result.stdout, err: result.stderr };
}

// lintian reads the whole 100 MB binary (tens of seconds): started first, awaited by its own test.
let lintian: Promise<string>;
beforeAll(() => {
  const deb = packaged(DEBS.amd64);
  lintian = new Promise((resolve) => {
    const child = spawn("lintian", ["--allow-root", "--tag-display-limit", "0", deb], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.on("close", (code) => resolve(`${output}${code === 0 ? "" : `(exit ${code})`}`));
  });
});

describe.each(Object.entries(DEBS))("the %s .deb", (arch, name) => {
  test("has the control fields, paths, modes and conffiles users rely on", () => {
    const deb = packaged(name);
    const field = (key: string) => sh("dpkg-deb", ["--field", deb, key]).out.trim();
    expect(field("Package")).toBe("payhook");
    expect(field("Version")).toBe(VERSION);
    expect(field("Architecture")).toBe(arch);
    expect(field("Depends")).toContain("adduser");
    const listing = sh("dpkg-deb", ["--contents", deb]).out;
    const entry = (path: string) =>
      listing
        .split("\n")
        .find((l) => l.endsWith(` ./${path}`))
        ?.split(/\s+/)
        .slice(0, 2)
        .join(" ");
    expect(entry("usr/bin/payhook")).toBe("-rwxr-xr-x root/root");
    expect(entry("lib/systemd/system/payhook.service")).toBe("-rw-r--r-- root/root");
    expect(entry("etc/payhook/payhook.yaml")).toBe("-rw-r--r-- root/root");
    expect(entry("etc/payhook/payhook.env")).toBe("-rw-r----- root/root");
    const dir = tempDir();
    expect(sh("dpkg-deb", ["--control", deb, dir]).code).toBe(0);
    expect(readFileSync(join(dir, "conffiles"), "utf8")).toBe("/etc/payhook/payhook.yaml\n/etc/payhook/payhook.env\n");
    for (const script of ["postinst", "prerm", "postrm"]) expect(statSync(join(dir, script)).mode & 0o777).toBe(0o755);
    const root = tempDir();
    expect(sh("dpkg-deb", ["-x", deb, root]).code).toBe(0);
    expect(readFileSync(join(root, "usr/bin/payhook")).readUInt16LE(18)).toBe(MACHINES[arch as keyof typeof MACHINES]);
  });
});

describe("the amd64 .deb's files", () => {
  const root = tempDir();
  beforeAll(() => {
    expect(sh("dpkg-deb", ["-x", packaged(DEBS.amd64), root]).code).toBe(0);
  });

  test("its config passes payhook check once the secret is set, with the store in /var/lib/payhook", () => {
    const check = (env: Record<string, string>) =>
      sh(join(root, "usr/bin/payhook"), ["check", "--config", join(root, "etc/payhook/payhook.yaml")], { env });
    const ok = check({ STRIPE_WEBHOOK_SECRET: "whsec_deb_test" });
    expect(ok.out).toContain("store: /var/lib/payhook/payhook.db");
    expect(ok.code).toBe(0);
    // As installed, payhook.env has no secret yet: the unit's ExecStartPre says which variable to set.
    const unset = check({});
    expect(unset.err).toContain("environment variable STRIPE_WEBHOOK_SECRET is not set");
    expect(unset.code).not.toBe(0);
  });

  test("its unit passes systemd-analyze verify and runs the packaged binary with the packaged files", () => {
    const unit = readFileSync(join(root, "lib/systemd/system/payhook.service"), "utf8");
    expect(unit).toContain("ExecStart=/usr/bin/payhook serve --config /etc/payhook/payhook.yaml");
    expect(unit).toContain("EnvironmentFile=-/etc/payhook/payhook.env");
    expect(unit).toContain("StateDirectory=payhook");
    // Verified as installed, except that the binary it runs is the unpacked one (verify checks that it exists).
    const copy = join(tempDir(), "payhook.service");
    writeFileSync(copy, unit.replaceAll("/usr/bin/payhook", join(root, "usr/bin/payhook")));
    const verify = sh("systemd-analyze", ["verify", copy]);
    expect(`${verify.out}${verify.err}`.trim()).toBe("");
    expect(verify.code).toBe(0);
  });

  test("lintian reports nothing", async () => {
    expect((await lintian).trim()).toBe("");
  }, 240_000);
});

test("dpkg installs the amd64 .deb into a throwaway root: postinst creates the user, /var/lib/payhook and the env file's group", () => {
  const root = tempDir();
  for (const dir of ["bin", "dev", "etc", "tmp", "var/lib/dpkg/info", "var/lib/dpkg/updates", "run"]) {
    mkdirSync(join(root, dir), { recursive: true });
  }
  expect(sh("mknod", ["-m", "666", join(root, "dev/null"), "c", "1", "3"]).code).toBe(0);
  writeFileSync(join(root, "var/lib/dpkg/status"), "");
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\n");
  // A userland of busybox, plus stand-ins for Debian's adduser (it writes passwd and group as the real one
  // would) and deb-systemd-helper (it records what it was asked), which a chroot this small does not have.
  const stub = (name: string, body: string) => {
    writeFileSync(join(root, "bin", name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(root, "bin", name), 0o755);
  };
  stub(
    "adduser",
    'echo "$*" >>/tmp/adduser.log\necho "payhook:x:998:998::/var/lib/payhook:/usr/sbin/nologin" >>/etc/passwd\necho "payhook:x:998:" >>/etc/group',
  );
  stub("deb-systemd-helper", 'echo "$*" >>/tmp/deb-systemd-helper.log');
  stub("deb-systemd-invoke", 'echo "$*" >>/tmp/deb-systemd-invoke.log');
  for (const tool of ["ldconfig", "start-stop-daemon"]) stub(tool, "exit 0");
  spawnSync("cp", ["/bin/busybox", join(root, "bin/busybox")]);
  for (const applet of sh("/bin/busybox", ["--list"]).out.split("\n").filter(Boolean)) {
    if (!existsSync(join(root, "bin", applet))) symlinkSync("busybox", join(root, "bin", applet));
  }
  const install = sh("dpkg", ["--root", root, "--force-depends", "--log=/dev/null", "-i", packaged(DEBS.amd64)], {
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  expect(`${install.out}${install.err}`).not.toContain("error");
  expect(install.code).toBe(0);
  expect(install.out).toContain("payhook is installed and enabled, but not started");
  expect(readFileSync(join(root, "tmp/adduser.log"), "utf8")).toContain("--system --group --home /var/lib/payhook");
  expect(readFileSync(join(root, "tmp/deb-systemd-helper.log"), "utf8")).toContain("enable payhook.service");
  const state = statSync(join(root, "var/lib/payhook"));
  expect([state.mode & 0o777, state.uid, state.gid]).toEqual([0o750, 998, 998]);
  const env = statSync(join(root, "etc/payhook/payhook.env"));
  expect([env.mode & 0o777, env.uid, env.gid]).toEqual([0o640, 0, 998]);
  const status = sh("dpkg", ["--root", root, "--status", "payhook"]).out;
  expect(status).toContain("Status: install ok installed");
  expect(status).toContain("Conffiles:\n /etc/payhook/payhook.yaml");
});
