/**
 * End to end: the compiled binary carries all of its code. Traced with strace, `serve` stores an event and runs its
 * action (so the store's writer thread ran) without opening or even looking up a file of the source tree it was
 * built from: a user's machine has none, and code read from there would not be the code that was built.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { payhookCommand, type RunningServer, startServer, tempDir, testConfig } from "../helpers/server.ts";
import { deliver, event } from "../helpers/stripe.ts";

const ROOT = resolve(import.meta.dir, "../..");

let server: RunningServer | undefined;
/** payhook itself, strace's child: stopped first, since strace killed would leave it running. */
let traced: number | undefined;
afterEach(async () => {
  if (traced !== undefined) process.kill(traced, "SIGTERM");
  await server?.exited;
  server = undefined;
  traced = undefined;
});

describe("the compiled binary", () => {
  // Run from source (PAYHOOK_CMD: `deno run`, `bun src/main.ts`), payhook reads its source by design.
  test.skipIf(process.env.PAYHOOK_CMD !== undefined)(
    "serves, stores and runs an action without reading a file of its source tree",
    async () => {
      const dir = tempDir();
      const trace = join(dir, "trace.txt");
      const binary = payhookCommand();
      server = await startServer({
        dir,
        config: testConfig(`handlers:
  payment_intent.succeeded:
    - log: "stored and delivered {{id}}"
`),
        // Every syscall that names a file, in every thread (the writer thread loads its module after start-up).
        command: ["strace", "-f", "-qq", "-o", trace, "-e", "trace=%file", ...binary],
      });
      traced = (JSON.parse(await server.waitForStderr('"msg":"listening"')) as { pid: number }).pid;
      const payload = event("payment_intent.succeeded");
      expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
      await server.waitForStdout(`stored and delivered ${JSON.parse(payload).id}`);
      const named = readFileSync(trace, "utf8")
        .split("\n")
        .filter((line) => line.includes(`"${ROOT}/`) && !line.includes(`"${binary[0]}"`));
      expect(named).toEqual([]);
    },
  );
});
