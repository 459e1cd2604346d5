/**
 * @module One error class per cause. Each carries a stable `code`; the HTTP surface maps it with `status`,
 * the CLI with `exitCode`. Messages teach the fix and never contain a secret or a computed signature.
 */

export class PayhookError extends Error {
  readonly code: string;
  readonly status: number = 500;
  readonly exitCode: number = 1;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The request is not a genuine, intact Stripe event: 400, so the sender sees it was refused. */
export class VerificationError extends PayhookError {
  override readonly status = 400;
}

/** The body is larger than the endpoint's `max_body`. */
export class BodyTooLargeError extends PayhookError {
  override readonly status = 413;
  constructor(limit: number) {
    super("body_too_large", `request body is larger than this endpoint's max_body of ${limit} bytes`);
  }
}

/** The request's body ended before it was complete (the connection closed). */
export class BodyIncompleteError extends PayhookError {
  override readonly status = 400;
  constructor(why: string) {
    super("body_incomplete", `the request body ended before it was complete (${why})`);
  }
}

/** The store could not commit: 503, so Stripe delivers the event again later. */
export class StoreUnavailableError extends PayhookError {
  // Spelled out, as in StoreError: the name carries the class across the store's writer thread (revive() in
  // store/sqlite/writer.ts), and the compiled binary's minifier renames classes (Bun 1.4.5 even with --keep-names).
  override readonly name = "StoreUnavailableError";
  override readonly status = 503;
  /** `what` says what failed, for errors away from the hot path (claims, reads). */
  constructor(cause: unknown, what = "the event could not be stored, retry later") {
    super("store_unavailable", `${what} (${describe(cause)})`);
  }
}

/** The store cannot be opened or is not durable: payhook refuses to serve (exit 1). */
export class StoreError extends PayhookError {
  override readonly name = "StoreError"; // see StoreUnavailableError
}

/** A config file that cannot be used; `problems` are lines like `payhook.yaml: listen.port: expected an integer`. */
export class ConfigError extends PayhookError {
  override readonly exitCode = 2;
  readonly problems: string[];
  constructor(problems: string[]) {
    super("config_invalid", problems.join("\n"));
    this.problems = problems;
  }
}

/** The event given to a command (`payhook explain`) is not a Stripe event payhook can route. */
export class EventInputError extends PayhookError {
  override readonly exitCode = 2;
  constructor(message: string) {
    super("invalid_event", message);
  }
}

/** The command line is wrong. */
export class UsageError extends PayhookError {
  override readonly exitCode = 2;
  constructor(message: string) {
    super("usage", message);
  }
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
