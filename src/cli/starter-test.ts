/**
 * @module The `payhook.test.ts` that `payhook init` writes beside the starter config: cases a user runs with
 * `bun test`, each asking `payhook explain --json` which actions the events of a trigger would run. The project's
 * own tests run it against the starter config (test/e2e/explain-init.test.ts), so it stays true.
 */

export const STARTER_TEST_FILE = "payhook.test.ts";

/** The test file for the starter config written as `configName` (a file name in the same folder). */
export function starterTest(configName: string): string {
  return `// ${STARTER_TEST_FILE}, written by \`payhook init\`: what ${configName} does with Stripe's events, as tests.
// Run it with \`bun test\` (https://bun.sh). Nothing is sent, run, written or stored: each case asks
// \`payhook explain --json\` what payhook would do with the events \`payhook trigger NAME\` sends.
//
// payhook is found through PAYHOOK_BIN (the path of the executable), else on PATH. explain checks no signature,
// so a placeholder stands in for STRIPE_WEBHOOK_SECRET when it is not set; add any other variable your config
// reads (\${INTERNAL_TOKEN}, …) to ENV below.
//
// To add a case: pick a trigger (\`payhook trigger --list\`; \`payhook explain --trigger NAME\` shows what it
// sends), set the fields your \`when:\` conditions or templates look at with overrides ("data.object.amount=5000",
// or "charge.succeeded:data.object.currency=eur" for one event type), and assert which actions run:
//
//   test("a large payment is forwarded to finance", () => {
//     const events = explain("payment_intent.succeeded", "data.object.amount=500000");
//     expect(actionsRun(events, "payment_intent.succeeded")).toContain("notify-finance");
//   });
//
// An action is named by its \`name:\`, or else by its place: payment_intent.succeeded[0], unhandled[0].
import { expect, test } from "bun:test";
import { join } from "node:path";

const CONFIG = join(import.meta.dir, ${JSON.stringify(configName)});
const ENV = {
  ...process.env,
  STRIPE_WEBHOOK_SECRET: process.env.STRIPE_WEBHOOK_SECRET || "whsec_placeholder_explain_checks_no_signature",
};
const PAYHOOK = process.env.PAYHOOK_BIN || Bun.which("payhook");

interface Action {
  name: string;
  kind: "log" | "forward" | "exec" | "file";
  /** run; skipped (its when: does not hold); refused (it would fail without acting, e.g. a bad URL value). */
  status: "run" | "skipped" | "refused";
  reason: string | null;
  log?: { line: string };
  forward?: { url: string; headers: string[] };
  exec?: { argv: string[]; env: string[] };
  file?: { path: string };
}

interface Explained {
  id: string;
  type: string;
  matched: string[];
  unhandled: boolean;
  actions: Action[];
}

/** What payhook would do with each event \`payhook trigger NAME\` sends, in order; \`overrides\` as --override. */
function explain(trigger: string, ...overrides: string[]): Explained[] {
  if (!PAYHOOK) throw new Error("payhook is not on PATH: set PAYHOOK_BIN=/path/to/payhook");
  const args = ["explain", "--json", "--config", CONFIG, "--trigger", trigger];
  for (const override of overrides) args.push("--override", override);
  const result = Bun.spawnSync([PAYHOOK, ...args], { env: ENV });
  if (result.exitCode !== 0) {
    throw new Error(\`payhook \${args.join(" ")} exited with \${result.exitCode}:\\n\${result.stderr}\`);
  }
  return JSON.parse(result.stdout.toString()).events;
}

/** The event of \`type\` among \`events\` (the last one: a trigger's own event comes after those it causes). */
function eventOf(events: Explained[], type: string): Explained {
  const found = events.findLast((e) => e.type === type);
  if (!found) throw new Error(\`no \${type} event among \${events.map((e) => e.type).join(", ")}\`);
  return found;
}

/** The names of the actions that would run for the event of \`type\`, in order. */
function actionsRun(events: Explained[], type: string): string[] {
  return eventOf(events, type)
    .actions.filter((a) => a.status === "run")
    .map((a) => a.name);
}

test("payment_intent.succeeded logs the PaymentIntent's id", () => {
  const events = explain("payment_intent.succeeded");
  expect(actionsRun(events, "payment_intent.succeeded")).toEqual(["payment_intent.succeeded[0]"]);
  const [action] = eventOf(events, "payment_intent.succeeded").actions;
  expect(action?.log?.line).toMatch(/^PaymentIntent pi_\\w+ was successful!$/);
});

test("the line shows the id the event carries", () => {
  const events = explain("payment_intent.succeeded", "data.object.id=pi_from_an_override");
  const [action] = eventOf(events, "payment_intent.succeeded").actions;
  expect(action?.log?.line).toBe("PaymentIntent pi_from_an_override was successful!");
});

test("payment_method.attached logs that a PaymentMethod was attached", () => {
  const events = explain("payment_method.attached");
  expect(actionsRun(events, "payment_method.attached")).toEqual(["payment_method.attached[0]"]);
});

test("an event that no handler pattern matches runs nothing (until unhandled: actions are added)", () => {
  const events = explain("payment_intent.succeeded");
  expect(eventOf(events, "payment_intent.created").unhandled).toBe(true);
  expect(actionsRun(events, "payment_intent.created")).toEqual([]);
});
`;
}
