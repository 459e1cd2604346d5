/** @module payhook as the benchmark runs it: a real config file in a fresh folder, pinned to the server CPU. */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Pinned, payhookListening, startPinned } from "./proc.ts";

export const SECRET = "whsec_payhookbenchmarksecret0000000000";
export const PATH = "/webhook";

/** The handler the throughput runs use: the README's quick-start config, a log line per event. */
export const LOG_HANDLER = `handlers:
  payment_intent.succeeded:
    - log: "PaymentIntent {{data.object.id}} was successful!"
`;

/** The log handler with `order:` on its action: by the PaymentIntent (every key distinct) or by its customer. */
export function orderedLogHandler(key: "data.object.id" | "data.object.customer"): string {
  return `handlers:
  payment_intent.succeeded:
    - log: "PaymentIntent {{data.object.id}} was successful!"
      order: { key: "{{${key}}}" }
`;
}

export function forwardHandler(sinkPort: number): string {
  return `handlers:
  payment_intent.succeeded:
    - forward: { url: "http://127.0.0.1:${sinkPort}/paid" }
`;
}

// Every run's folder (config, store, events file: hundreds of MB per run) lives under one per bench.
const ROOT = mkdtempSync(join(tmpdir(), "payhook-bench-"));

export function benchDir(): string {
  return mkdtempSync(join(ROOT, "run-"));
}

/** Removes every run's folder; the bench keeps them when it fails, for a look at the stores. */
export function removeBenchDirs(): void {
  rmSync(ROOT, { recursive: true, force: true });
}

/**
 * Writes payhook.yaml into `dir` (port 0: payhook picks a free one and logs it) and returns its path. The store
 * is `dir`/payhook.db unless `store` names another (a postgres:// URL).
 */
export function writeConfig(dir: string, handlers: string, port = 0, store = join(dir, "payhook.db")): string {
  const file = join(dir, "payhook.yaml");
  writeFileSync(
    file,
    `listen: { host: 127.0.0.1, port: ${port} }
store: ${store}
endpoints:
  - path: ${PATH}
    secrets: ["\${STRIPE_WEBHOOK_SECRET}"]
${handlers}`,
  );
  return file;
}

export interface PayhookOptions {
  binary: string;
  dir: string;
  cpu: string;
  env?: Record<string, string>;
  /** A command payhook runs under (its argv goes after it). */
  wrap?: string[];
}

export function startPayhook(options: PayhookOptions): Promise<Pinned> {
  return startPinned({
    cpu: options.cpu,
    argv: [
      ...(options.wrap ?? []),
      options.binary,
      "serve",
      "--config",
      join(options.dir, "payhook.yaml"),
      "--log-format",
      "json",
    ],
    cwd: options.dir,
    env: { STRIPE_WEBHOOK_SECRET: SECRET, ...options.env },
    listening: payhookListening,
    traced: options.wrap !== undefined,
  });
}

/** Reads the store's tables after the server stopped (or, in WAL mode, while it runs). */
export function openStore(dir: string): Database {
  return new Database(join(dir, "payhook.db"), { readonly: true });
}
