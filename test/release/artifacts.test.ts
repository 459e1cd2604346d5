/**
 * The downloads in dist/release/ (`make release`), proved on this machine as far as it can: SHA256SUMS checks,
 * every linux build that can run here answers `version` and runs the quick start (serve the default config,
 * `payhook trigger payment_intent.succeeded`, a 200 and the seed's line), natively, on an emulated Nehalem
 * (the oldest CPU the x64 build claims) and on emulated arm64; the rest is checked for format, architecture,
 * size and stamp, and what cannot run here says so by name. Run by `make release-test` (and `make test`).
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DEFAULT_CONFIG } from "../../src/config/default.ts";
import { freePort, startServer, tempDir } from "../helpers/server.ts";
import { readCodeSignature } from "./macho.ts";

const ROOT = resolve(import.meta.dir, "../..");
const RELEASE = join(ROOT, "dist/release");
const FILES = [
  "payhook-linux-x64",
  "payhook-linux-arm64",
  "payhook-linux-x64-musl",
  "payhook-linux-arm64-musl",
  "payhook-darwin-x64",
  "payhook-darwin-arm64",
];

if (!existsSync(join(RELEASE, "SHA256SUMS"))) throw new Error("dist/release/SHA256SUMS is missing: run `make release`");
/** The stamp the release was built with (the Makefile's .tmp/build-stamp.json). */
const STAMP = JSON.parse(readFileSync(join(ROOT, ".tmp/build-stamp.json"), "utf8")) as Record<string, string>;
/** Emulated runs start in seconds, not milliseconds, and share two CPUs with everything else. */
const SLOW = 180_000;
const QEMU_ARM64 = ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"];

function run(argv: string[], env: Record<string, string> = {}) {
  const result = spawnSync(argv[0] as string, argv.slice(1), {
    encoding: "utf8",
    cwd: tempDir(),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tempDir(), ...env },
  });
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

const fileType = (name: string) => run(["file", "-b", join(RELEASE, name)]).stdout.trim();

describe("dist/release", () => {
  test(
    "holds one binary per supported target and a SHA256SUMS that sha256sum -c accepts",
    () => {
      const sums = readFileSync(join(RELEASE, "SHA256SUMS"), "utf8");
      expect(
        sums
          .trim()
          .split("\n")
          .map((line) => line.split("  ")[1]),
      ).toEqual(FILES);
      const check = spawnSync("sha256sum", ["-c", "--strict", "SHA256SUMS"], { cwd: RELEASE, encoding: "utf8" });
      expect(check.stdout).toBe(FILES.map((f) => `${f}: OK\n`).join(""));
      expect(check.status).toBe(0);
    },
    SLOW,
  );

  test.each(FILES)(
    "%s carries the stamp (version, commit, commit date, its target) and is a plausible size",
    (name) => {
      const bytes = readFileSync(join(RELEASE, name));
      // The stamp is inlined as an object literal; its values appear verbatim in the embedded script.
      for (const value of [STAMP.version, STAMP.commit, STAMP.commit_date, name.replace("payhook-", "")]) {
        expect(bytes.includes(`"${value}"`)).toBe(true);
      }
      // A Bun runtime is 80-120 MB; a far smaller file is a truncated or failed build.
      expect(bytes.length).toBeGreaterThan(60 * 2 ** 20);
      expect(bytes.length).toBeLessThan(200 * 2 ** 20);
    },
  );
});

/** Serves the embedded default config (on a free port instead of 4242), triggers the quick start's event. */
async function quickStart(command: string[]) {
  const dir = tempDir();
  const port = await freePort();
  const config = join(dir, "payhook.yaml");
  writeFileSync(config, DEFAULT_CONFIG.replace('port: "${PORT:-4242}"', `port: ${port}`));
  // The release build compiles the test-only switches away: with them, this one would hold the worker and no
  // seed line would ever come.
  const server = await startServer({
    dir,
    command,
    args: ["--config", config],
    env: { PAYHOOK_TEST_HOOK: "hold-worker" },
    listenWithinMs: SLOW,
  });
  try {
    const trigger = run([...command, "trigger", "payment_intent.succeeded", "--config", config]);
    expect(trigger.stderr).toBe("");
    expect(trigger.stdout).toMatch(
      new RegExp(
        `^\\[200\\] POST http://127\\.0\\.0\\.1:${port}/webhook \\[evt_\\w+\\] payment_intent\\.succeeded$`,
        "m",
      ),
    );
    expect(trigger.code).toBe(0);
    await server.waitForStdout(/^PaymentIntent pi_\w+ was successful!$/, SLOW);
    expect(await server.stop()).toBe(0);
  } finally {
    await server.kill();
  }
}

const RUNNABLE: [string, string, string[]][] = [
  ["payhook-linux-x64 natively", "linux-x64", [join(RELEASE, "payhook-linux-x64")]],
  [
    "payhook-linux-x64 on an emulated Nehalem CPU (SSE4.2, no AVX)",
    "linux-x64",
    ["qemu-x86_64-static", "-cpu", "Nehalem", join(RELEASE, "payhook-linux-x64")],
  ],
  ["payhook-linux-arm64 on emulated arm64", "linux-arm64", [...QEMU_ARM64, join(RELEASE, "payhook-linux-arm64")]],
];

describe.each(RUNNABLE)("%s", (_, target, command) => {
  test(
    "version --json names its target, version, commit and commit date",
    () => {
      const result = run([...command, "version", "--json"]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({
        version: STAMP.version,
        commit: STAMP.commit,
        commit_date: STAMP.commit_date,
        target,
        runtime: "bun",
        runtime_version: expect.stringMatching(/^\d+\.\d+\.\d+$/),
      });
    },
    SLOW,
  );

  test(
    "runs the quick start: serve the default config, trigger payment_intent.succeeded, a 200 and the seed's line",
    async () => {
      await quickStart(command);
    },
    SLOW,
  );
});

test(
  "the Nehalem run proves something: on a CPU without SSE4.2 (Core 2) the x64 build dies of SIGILL",
  () => {
    const result = run(["qemu-x86_64-static", "-cpu", "core2duo", join(RELEASE, "payhook-linux-x64"), "version"]);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("Illegal instruction");
  },
  SLOW,
);

// Bun's musl builds link libstdc++ dynamically. Debian has musl's loader (the musl package) but no libstdc++
// built for musl, so they cannot run here; on Alpine they need `apk add libstdc++`.
const MUSL_REASON = "needs libstdc++.so.6 built for musl (Alpine: apk add libstdc++), which Debian does not package";

describe.each([
  ["payhook-linux-x64-musl", "x86-64", "/lib/ld-musl-x86_64.so.1"],
  ["payhook-linux-arm64-musl", "ARM aarch64", "/lib/ld-musl-aarch64.so.1"],
])("%s", (name, arch, loader) => {
  test(`is a ${arch} ELF executable for musl's loader ${loader}`, () => {
    expect(fileType(name)).toMatch(new RegExp(`^ELF 64-bit LSB executable, ${arch},.* interpreter ${loader},`));
  });

  test.skip(`quick start NOT RUN here: ${MUSL_REASON}`, () => {});
});

test("the reason the musl builds are not run holds: musl's loader is here and stops at libstdc++.so.6", () => {
  const result = run(["/lib/ld-musl-x86_64.so.1", join(RELEASE, "payhook-linux-x64-musl"), "version"]);
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain("Error loading shared library libstdc++.so.6: No such file or directory");
  console.warn(`WARNING: payhook-linux-x64-musl and payhook-linux-arm64-musl NOT RUN: ${MUSL_REASON}.`);
});

describe("darwin builds (built here, never run in CI)", () => {
  test.each([
    ["payhook-darwin-x64", "x86_64"],
    ["payhook-darwin-arm64", "arm64"],
  ])("%s is a Mach-O %s executable", (name, arch) => {
    expect(fileType(name)).toMatch(new RegExp(`^Mach-O 64-bit ${arch} executable, flags:<.*\\bPIE\\b`));
  });

  test(
    "payhook-darwin-arm64 is signed ad hoc and every page matches its signature (Apple silicon checks each)",
    () => {
      const signature = readCodeSignature(readFileSync(join(RELEASE, "payhook-darwin-arm64")));
      expect(signature.flags & 0x2).toBe(0x2); // CS_ADHOC
      expect(signature.hash).toBe("sha256");
      expect(signature.codeLimit).toBe(signature.offset); // everything before the signature is covered
      expect(signature.pages).toBe(Math.ceil(signature.codeLimit / signature.pageSize));
      expect(signature.mismatched).toEqual([]);
    },
    SLOW,
  );

  test(
    "payhook-darwin-x64's signature is read; where pages do not match, release.yml re-signs it on macOS",
    () => {
      const signature = readCodeSignature(readFileSync(join(RELEASE, "payhook-darwin-x64")));
      expect(signature.pages).toBe(Math.ceil(signature.codeLimit / signature.pageSize));
      if (signature.mismatched.length > 0) {
        console.warn(
          `WARNING: payhook-darwin-x64 as built here carries ${signature.identifier}'s signature, which ${signature.mismatched.length} of ${signature.pages} pages no longer match (pages ${signature.mismatched.slice(0, 4).join(", ")}…): macOS would kill it. The release workflow signs it again on macOS before publishing.`,
        );
      }
      // The same check does catch a change: one byte altered in the last signed page breaks the arm64 build's.
      const arm64 = readFileSync(join(RELEASE, "payhook-darwin-arm64"));
      const { codeLimit, pages } = readCodeSignature(arm64);
      arm64[codeLimit - 1] = (arm64[codeLimit - 1] as number) ^ 0xff;
      expect(readCodeSignature(arm64).mismatched).toEqual([pages - 1]);
    },
    SLOW,
  );
});
