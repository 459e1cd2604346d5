/**
 * @module `payhook init [FILE]`: writes a commented starter config (Stripe's sample handlers, plus a commented
 * example of every action kind), the JSON Schema beside it for editors, and a payhook.test.ts to run with
 * `bun test`. Never overwrites a file.
 */
import { existsSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { actionKinds } from "../../actions/index.ts";
import { LOCAL_CONFIG } from "../../config/resolve.ts";
import { describe, UsageError } from "../../errors.ts";
import { USUAL_STORE_FOLDER } from "../../store/sqlite/where.ts";
import { STARTER_TEST_FILE, starterTest } from "../starter-test.ts";
import type { Command } from "../types.ts";
import { schemaText } from "./schema.ts";

export const SCHEMA_FILE = "payhook.schema.json";

/** One commented example per action kind, written under `handlers:`; test/unit/init.test.ts uncomments each. */
export const EXAMPLES: Record<string, string> = {
  log: `# Print a line on stdout for each event; {{path}} is a path into the event.
"invoice.*":
  - log: "{{type}}: invoice {{data.object.id}} for {{data.object.customer}}"
    when: { livemode: true }          # every action takes when: conditions on event fields`,
  forward: `# POST the event's exact bytes to your service, with an Idempotency-Key and Standard Webhooks signature.
checkout.session.completed:
  - name: fulfil-order
    forward:
      url: "http://127.0.0.1:3000/orders/{{data.object.id}}/paid"
      headers: { Authorization: "Bearer \${INTERNAL_TOKEN}" }
      timeout: 10s
      # a secret to share with your service: echo "whsec_$(openssl rand -base64 32)"
      sign: { secret: "\${PAYHOOK_FORWARD_SECRET}" }
    retry: { attempts: 12 }           # any action may override the retry policy`,
  exec: `# Run a program (no shell): the event JSON on stdin, exit 0 = done, 75 = retry later.
"charge.dispute.*":
  - exec:
      command: ["./bin/on-dispute", "--charge", "{{data.object.charge}}"]
      timeout: 30s
      env: [HOME, PATH]
      concurrency: 2`,
  file: `# Append one JSON line per event to a file (created with mode 0600).
customer.subscription.deleted:
  - file: { path: ./cancellations.jsonl, fsync: true }`,
};

export const init: Command = {
  name: "init",
  summary: "write a commented starter config, its JSON Schema for editors and a payhook.test.ts; never overwrites",
  usage: "payhook init [FILE]   (default ./payhook.yaml; - prints it instead)",
  options: {},
  async run({ io, positionals }) {
    if (positionals.length > 1) throw new UsageError("init takes at most one FILE");
    const file = positionals[0] ?? LOCAL_CONFIG;
    if (file === "-") {
      io.out(starterConfig().trimEnd());
      return 0;
    }
    create(file, starterConfig(SCHEMA_FILE, starterStore(file)));
    io.out(`wrote ${file}`);
    const schema = join(dirname(file), SCHEMA_FILE);
    if (existsSync(schema)) {
      io.out(`kept ${schema}; regenerate it with \`payhook schema > ${schema}\` if payhook was upgraded`);
    } else {
      create(schema, schemaText());
      io.out(`wrote ${schema} (for editors; regenerate it with \`payhook schema > ${schema}\` after upgrading)`);
    }
    const tests = join(dirname(file), STARTER_TEST_FILE);
    if (existsSync(tests)) {
      io.out(`kept ${tests}`);
    } else {
      create(tests, starterTest(basename(file)));
      io.out(`wrote ${tests} (run it with \`bun test\`: it asks \`payhook explain\` what the config does)`);
    }
    io.out(`next: export STRIPE_WEBHOOK_SECRET=whsec_…, then payhook check --config ${file}`);
    return 0;
  },
};

const STARTER_STORE = "store: ./payhook.db      # SQLite file, relative to this file; one server per store";

/**
 * The starter's store line for a config at `file`: beside it, except for a config in /etc, which services may
 * not write (systemd's ProtectSystem=strict): its store goes to /var/lib/payhook, the unit's StateDirectory.
 */
export function starterStore(file: string): string {
  if (!resolve(file).startsWith("/etc/")) return STARTER_STORE;
  return `store: ${USUAL_STORE_FOLDER}/payhook.db   # SQLite file; one server per store. Not beside this file: /etc is read-only to the service`;
}

/** The starter config; `schema` is the schema file an editor should use, relative to the config. */
export function starterConfig(schema?: string, store = STARTER_STORE): string {
  const examples = actionKinds
    .map((k) => EXAMPLES[k.kind])
    .filter((e): e is string => e !== undefined)
    .map((e) => comment(e, "  "))
    .join("\n\n");
  return `${schema ? `# yaml-language-server: $schema=./${basename(schema)}\n` : ""}# payhook config, written by \`payhook init\`. Every key is described in payhook's docs/configuration.md and in \`payhook schema\`.
# Validate and lint it with \`payhook check --config THIS_FILE\`; serve it with \`payhook serve --config THIS_FILE\`;
# a running server reloads it on SIGHUP (or, with --watch, when it changes).

listen:
  host: 127.0.0.1        # 0.0.0.0 to take requests from other machines; a reverse proxy in front is recommended
  port: 4242
  # tls: { cert: ./tls/fullchain.pem, key: ./tls/privkey.pem }   # serve HTTPS directly (paths relative to this file)

${store}

endpoints:
  - path: /webhook
    # Keep secrets in the environment: \`stripe listen --print-secret\`, or the endpoint's page in the Dashboard.
    # The second entry is for rolling a secret and may stay empty.
    secrets: ["\${STRIPE_WEBHOOK_SECRET}", "\${STRIPE_WEBHOOK_SECRET_PREVIOUS:-}"]
    tolerance: 300       # seconds a signature's timestamp may differ from this clock
    max_body: 1mb

# Event type pattern -> actions. A pattern is an exact type, a prefix ("invoice.*") or "*"; every matching
# pattern's actions run, in order. \`payhook check\` warns about patterns that match no Stripe event type.
handlers:
  payment_intent.succeeded:
    - log: "PaymentIntent {{data.object.id}} was successful!"
  payment_method.attached:
    - log: "PaymentMethod was attached to a Customer!"

${examples}

# Actions for events that no pattern matched (never runs if a "*" pattern exists). Stripe sends an endpoint only
# the types it enables, and unhandled actions want every type: with them, \`payhook stripe endpoint create\` asks
# to enable all of them. Uncomment these when payhook should take every event type.
# unhandled:
#   - log: "Unhandled event type: {{type}}"

# How failed actions are retried: attempts in all, delays between them (the last repeats), ±jitter.
retry: { attempts: 8, schedule: [5s, 5m, 30m, 2h, 5h, 10h, 10h], jitter: 0.2 }

# After 10 failures in a row an action stops attempting (its deliveries wait, none goes dead) and tries one
# delivery every 30s; the first success resumes it. See docs/outage-playbook.md. Any action may set its own.
breaker: { failures: 10, probe: 30s }

# /healthz, /readyz and /metrics move to their own listener (keep it private) instead of the main port;
# with a token it also serves the operator page (events, failures, replay) at http://127.0.0.1:9090/.
# admin: { host: 127.0.0.1, port: 9090, token: "\${PAYHOOK_ADMIN_TOKEN}" }

# Only let Stripe reach the main listener. Stripe publishes its webhook addresses at
# https://docs.stripe.com/ips#webhook-notifications (as text: https://stripe.com/files/ips/ips_webhooks.txt).
# Behind a reverse proxy, list the proxy in trusted_proxies so X-Forwarded-For is believed from it, and only it.
# allow_ips: [3.18.12.63, 3.130.192.231]   # ...copy the full, current list from Stripe
# trusted_proxies: [127.0.0.1]
`;
}

/** Creates `path` with `text`, refusing (with a UsageError) when anything is already there. */
function create(path: string, text: string): void {
  try {
    // "wx" fails if the file exists, atomically: no check-then-write race with another writer.
    writeFileSync(path, text, { flag: "wx", mode: 0o644 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new UsageError(`${path} already exists; init never overwrites a file: move it away, or name another FILE`);
    }
    throw new UsageError(`cannot write ${path}: ${describe(error)}`);
  }
}

function comment(block: string, indent: string): string {
  return (
    block
      .split("\n")
      // Explanations get "##", so removing one "# " from each line to use an example leaves them comments.
      .map((line) => (line.startsWith("#") ? `${indent}#${line}` : `${indent}# ${line}`))
      .join("\n")
  );
}
