/**
 * @module `payhook sign`: prints a valid Stripe-Signature header for a payload read from stdin or a file,
 * for testing with curl. The payload is signed byte for byte as given.
 */
import { readFileSync } from "node:fs";
import { signatureHeader } from "../../actions/stripe-signature.ts";
import { describe, UsageError } from "../../errors.ts";
import { readStdin, resolveTarget, targetOptions } from "../options.ts";
import type { Command } from "../types.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export const sign: Command = {
  name: "sign",
  summary: "print a Stripe-Signature header for a payload on stdin (for curl)",
  usage: "payhook sign [--secret whsec_… | --config FILE] [--timestamp T] [FILE] < payload.json",
  options: {
    config: targetOptions.config,
    secret: { type: "string", arg: "WHSEC", help: "the endpoint's signing secret (default: the config's)" },
    timestamp: { type: "string", arg: "T", help: "unix seconds to sign at (default now)" },
  },
  async run({ io, values, positionals }) {
    if (positionals.length > 1) throw new UsageError("sign: give one payload file, or the payload on stdin");
    const timestamp = parseTimestamp(values.timestamp as string | undefined);
    const bytes =
      positionals[0] === undefined
        ? await readStdin("sign: pipe the payload in, e.g. `payhook sign --secret whsec_… < event.json`")
        : readPayloadFile(positionals[0]);
    let payload: string;
    try {
      payload = utf8.decode(bytes);
    } catch {
      throw new UsageError("sign: the payload is not valid UTF-8; Stripe's payloads always are");
    }
    if (payload === "") throw new UsageError("sign: the payload is empty; pipe the JSON body into `payhook sign`");
    // Only the secret is needed, so a given --secret wins without reading any config.
    const secret =
      (values.secret as string | undefined) ??
      resolveTarget({ config: values.config, url: "http://127.0.0.1/" }, io.env).secret;
    io.out(await signatureHeader(payload, secret, timestamp));
    return 0;
  },
};

function parseTimestamp(value: string | undefined): number {
  if (value === undefined) return Math.floor(Date.now() / 1000);
  if (!/^[0-9]{1,12}$/.test(value))
    throw new UsageError(`--timestamp must be unix seconds, e.g. ${Math.floor(Date.now() / 1000)}`);
  return Number(value);
}

function readPayloadFile(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UsageError(`sign: cannot read ${file} (${describe(error)})`);
  }
}
