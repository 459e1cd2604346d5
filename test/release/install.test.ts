/**
 * install.sh, as users run it (`curl -fsSL …/install.sh | sh`: the script on stdin of dash), against a local HTTP
 * server on 127.0.0.1 that serves dist/release/. The platform is faked with `uname`, `ldd` and `sysctl` shims on
 * PATH. Every refusal exits 1 with one line and leaves the install folder exactly as it was.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/server.ts";

const ROOT = resolve(import.meta.dir, "../..");
const RELEASE = join(ROOT, "dist/release");
const SCRIPT = readFileSync(join(ROOT, "install.sh"));
const SUMS = readFileSync(join(RELEASE, "SHA256SUMS"), "utf8");
const SLOW = 120_000;

const sumOf = (name: string) =>
  SUMS.split("\n")
    .find((l) => l.endsWith(`  ${name}`))
    ?.split("  ")[0];
const sha256 = (path: string) => new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");

/**
 * /ok/ serves dist/release as it is; /tampered/ the same with every binary one byte longer; /partial/ a release
 * whose SHA256SUMS lists only payhook-linux-x64; /lost/ lists everything but serves no binary.
 */
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    const [, variant, name = ""] = new URL(request.url).pathname.split("/");
    if (!/^(SHA256SUMS|payhook-[a-z0-9-]+)$/.test(name)) return new Response("not found", { status: 404 });
    const file = Bun.file(join(RELEASE, name));
    if (!(await file.exists())) return new Response("not found", { status: 404 });
    if (!["ok", "tampered", "partial", "lost"].includes(variant ?? ""))
      return new Response("not found", { status: 404 });
    if (name === "SHA256SUMS") {
      if (variant === "partial")
        return new Response(
          SUMS.split("\n")
            .filter((l) => l.endsWith("  payhook-linux-x64"))
            .join("\n"),
        );
      return new Response(file);
    }
    if (variant === "ok" || variant === "partial") return new Response(file);
    if (variant === "tampered")
      return new Response(Buffer.concat([Buffer.from(await file.arrayBuffer()), Buffer.from("\n")]));
    return new Response("not found", { status: 404 });
  },
});
afterAll(() => server.stop(true));

interface Platform {
  os?: string;
  arch?: string;
  /** What `ldd --version` prints. */
  ldd?: string;
  /** What `sysctl -n sysctl.proc_translated` prints (1 under Rosetta 2). */
  translated?: string;
}

/** A folder of shims that make install.sh see `platform`; commands not faked run as usual. */
function shims(platform: Platform): string {
  const bin = tempDir("payhook-shims-");
  const shim = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  if (platform.os || platform.arch) {
    shim(
      "uname",
      `case "$1" in -s) echo ${platform.os ?? "Linux"} ;; -m) echo ${platform.arch ?? "x86_64"} ;; *) exec /usr/bin/uname "$@" ;; esac`,
    );
  }
  if (platform.ldd) shim("ldd", `echo "${platform.ldd}" >&2; exit 1`);
  if (platform.translated) shim("sysctl", `echo ${platform.translated}`);
  return bin;
}

/** Runs install.sh as `curl … | sh` does: dash reading the script from stdin. Asynchronously: the server above
 * answers on this thread. */
async function install(variant: string, dir: string, platform: Platform = {}) {
  const child = Bun.spawn(["dash", "-s"], {
    stdin: SCRIPT,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      PATH: `${shims(platform)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      HOME: tempDir(),
      PAYHOOK_DOWNLOAD_URL: `http://127.0.0.1:${server.port}/${variant}`,
      PAYHOOK_INSTALL: dir,
    },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}

/** An older payhook, installed before: a script that answers `version` as an older release would. */
function olderPayhook(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "payhook");
  writeFileSync(path, "#!/bin/sh\necho 'payhook 0.0.1 (000000000000, 2026-01-01T00:00:00Z, linux-x64, bun 1.4.5)'\n");
  chmodSync(path, 0o755);
  return path;
}

test("install.sh is POSIX sh that shellcheck passes without a finding", () => {
  const result = spawnSync("shellcheck", ["--shell=sh", "--severity=style", join(ROOT, "install.sh")], {
    encoding: "utf8",
  });
  expect(result.stdout + result.stderr).toBe("");
  expect(result.status).toBe(0);
});

describe("install.sh", () => {
  test(
    "installs this machine's build into PAYHOOK_INSTALL, checked against SHA256SUMS, and it runs",
    async () => {
      const dir = join(tempDir(), "bin");
      const result = await install("ok", dir);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const installed = join(dir, "payhook");
      expect(readdirSync(dir)).toEqual(["payhook"]); // no temporary file left beside it
      expect(sha256(installed)).toBe(sumOf("payhook-linux-x64") as string);
      expect(statSync(installed).mode & 0o777).toBe(0o755);
      const version = spawnSync(installed, ["version"], { encoding: "utf8" }).stdout.trim();
      expect(version).toMatch(/^payhook \d+\.\d+\.\d+ \(/);
      expect(result.stdout).toContain(`installed ${version} as ${installed}\n`);
      expect(result.stdout).toContain(`${dir} is not on your PATH; add it with: export PATH="${dir}:$PATH"`);
    },
    SLOW,
  );

  test(
    "re-installs over an older version, and says which one it replaced",
    async () => {
      const dir = tempDir();
      const path = olderPayhook(dir);
      const result = await install("ok", dir);
      expect(result.code).toBe(0);
      expect(sha256(path)).toBe(sumOf("payhook-linux-x64") as string);
      expect(readdirSync(dir)).toEqual(["payhook"]);
      expect(result.stdout).toContain(
        "replaced payhook 0.0.1 (000000000000, 2026-01-01T00:00:00Z, linux-x64, bun 1.4.5); restart payhook to run the new one",
      );
    },
    SLOW,
  );

  test.each([
    ["Linux aarch64 (Graviton, Ampere): payhook-linux-arm64", { os: "Linux", arch: "aarch64" }, "payhook-linux-arm64"],
    [
      "Alpine on x86_64 (musl's ldd): payhook-linux-x64-musl",
      { ldd: "musl libc (x86_64)\nVersion 1.2.5" },
      "payhook-linux-x64-musl",
    ],
    [
      "Alpine on arm64: payhook-linux-arm64-musl",
      { arch: "aarch64", ldd: "musl libc (aarch64)" },
      "payhook-linux-arm64-musl",
    ],
    ["an Intel Mac: payhook-darwin-x64", { os: "Darwin", arch: "x86_64", translated: "0" }, "payhook-darwin-x64"],
    ["an Apple silicon Mac: payhook-darwin-arm64", { os: "Darwin", arch: "arm64" }, "payhook-darwin-arm64"],
    [
      "a shell under Rosetta 2 on Apple silicon: payhook-darwin-arm64",
      { os: "Darwin", arch: "x86_64", translated: "1" },
      "payhook-darwin-arm64",
    ],
  ] as [string, Platform, string][])(
    "detects %s",
    async (_, platform, name) => {
      const dir = tempDir();
      const result = await install("ok", dir, platform);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(sha256(join(dir, "payhook"))).toBe(sumOf(name) as string);
      // A build for another machine does not start here, and the installer says so instead of failing.
      expect(result.stdout).toContain(`installed ${name} as ${join(dir, "payhook")} (it does not start here`);
    },
    SLOW,
  );

  const refusals: [string, string, Platform, RegExp][] = [
    [
      "a tampered binary",
      "tampered",
      {},
      /^payhook install: checksum mismatch for payhook-linux-x64 \(expected [0-9a-f]{64}, got [0-9a-f]{64}\): nothing installed\n$/,
    ],
    [
      "a platform this release has no build for",
      "partial",
      { arch: "aarch64" },
      /^payhook install: this release has no build for linux-arm64 \(see http:\/\/127\.0\.0\.1:\d+\/partial\/SHA256SUMS\)\n$/,
    ],
    [
      "an unsupported architecture",
      "ok",
      { arch: "riscv64" },
      /^payhook install: unsupported architecture riscv64: payhook ships for x86_64 and arm64\n$/,
    ],
    [
      "an unsupported operating system",
      "ok",
      { os: "FreeBSD", arch: "amd64" },
      /^payhook install: unsupported operating system FreeBSD: payhook ships for Linux and macOS\n$/,
    ],
    [
      "a binary that cannot be downloaded",
      "lost",
      {},
      /^payhook install: cannot download http:\/\/127\.0\.0\.1:\d+\/lost\/payhook-linux-x64\n$/,
    ],
    [
      "a release folder that is not there",
      "nowhere",
      {},
      /^payhook install: cannot download http:\/\/127\.0\.0\.1:\d+\/nowhere\/SHA256SUMS\n$/,
    ],
  ];

  test(
    "refuses a folder where the binary goes: exit 1, one line, nothing moved into it",
    async () => {
      const dir = tempDir();
      mkdirSync(join(dir, "payhook"));
      writeFileSync(join(dir, "payhook", "notes.txt"), "kept\n");
      const result = await install("ok", dir);
      expect(result.stderr).toBe(
        `payhook install: ${dir}/payhook is a directory, not a payhook binary: move it away, or set PAYHOOK_INSTALL to another folder\n`,
      );
      expect(result.stdout).toBe("");
      expect(result.code).toBe(1);
      expect(readdirSync(dir)).toEqual(["payhook"]);
      expect(readdirSync(join(dir, "payhook"))).toEqual(["notes.txt"]);
    },
    SLOW,
  );

  test.each(refusals)(
    "refuses %s: exit 1, one line, the installed payhook untouched",
    async (_, variant, platform, message) => {
      const dir = tempDir();
      const path = olderPayhook(dir);
      const before = readFileSync(path);
      const result = await install(variant, dir, platform);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe("");
      expect(result.code).toBe(1);
      expect(readdirSync(dir)).toEqual(["payhook"]);
      expect(readFileSync(path).equals(before)).toBe(true);
    },
    SLOW,
  );
});
