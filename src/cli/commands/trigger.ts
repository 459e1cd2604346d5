import { signatureHeader } from "../../actions/stripe-signature.ts";
import { describe, UsageError } from "../../errors.ts";
import { buildEvents, TRIGGER_NAMES } from "../../fixtures/index.ts";
import { buildOptions, fixtureOptions, resolveTarget, targetOptions } from "../options.ts";
import type { Command } from "../types.ts";

/** The headers Stripe's deliveries carry (the CLI forwards the same set). */
const DELIVERY_HEADERS = {
  "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
  accept: "*/*; q=0.5, application/xml",
  "cache-control": "no-cache",
  "content-type": "application/json; charset=utf-8",
};

const TIMEOUT_MS = 30_000;

export const trigger: Command = {
  name: "trigger",
  summary: "send the signed events `stripe trigger EVENT` would cause, offline (--list shows all 123)",
  usage:
    "payhook trigger EVENT [--config FILE | --url URL --secret whsec_…] [--override [TYPE:]path=value …] [--data FILE] [--account acct_…] [--thin]",
  options: {
    ...targetOptions,
    list: { type: "boolean", help: "list every supported event name" },
    ...fixtureOptions,
  },
  async run({ io, values, positionals }) {
    if (values.list) {
      for (const name of TRIGGER_NAMES) io.out(name);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0
          ? "trigger: name the event to send, e.g. `payhook trigger payment_intent.succeeded` (`--list` shows all)"
          : `trigger: one event name at a time (got ${positionals.join(", ")})`,
      );
    }
    const events = buildEvents(positionals[0] as string, buildOptions(values));
    const target = resolveTarget(values, io.env);

    let failed = 0;
    for (const event of events) {
      const header = await signatureHeader(event.body, target.secret, Math.floor(Date.now() / 1000));
      const line = `POST ${target.url} [${event.id}] ${event.type}`;
      try {
        const response = await fetch(target.url, {
          method: "POST",
          body: event.body,
          headers: { ...DELIVERY_HEADERS, "stripe-signature": header },
          redirect: "manual",
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        const text = await response.text();
        io.out(`[${response.status}] ${line}`);
        if (response.status < 200 || response.status > 299) {
          failed += 1;
          io.err(`payhook: ${event.id}: ${reason(text)}`);
        }
      } catch (error) {
        failed += 1;
        io.out(`[ERROR] ${line}`);
        io.err(
          `payhook: cannot POST to ${target.url} (${describe(error)}). Is payhook serving there? Start it with \`payhook serve\``,
        );
      }
    }
    return failed === 0 ? 0 : 1;
  },
};

/** The receiver's own explanation, when it gave one in payhook's or Stripe's error shape. */
function reason(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.message) return `${body.error.code ?? "error"}: ${body.error.message}`;
  } catch {
    // Not JSON: fall through to the text itself.
  }
  return text.slice(0, 200) || "no response body";
}
