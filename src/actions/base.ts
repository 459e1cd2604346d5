/** @module Settings that every action accepts besides its own key. */
import { Type } from "@sinclair/typebox";
import { Duration } from "../utils/units.ts";
import { WhenSchema } from "./conditions.ts";
import { BreakerSchema, RateSchema } from "./limits.ts";
import { OrderSchema } from "./order.ts";

/** Svix's schedule: about 1.3 days from the first attempt to the last. */
export const DEFAULT_RETRY = { attempts: 8, schedule: ["5s", "5m", "30m", "2h", "5h", "10h", "10h"], jitter: 0.2 };

const retryFields = {
  attempts: Type.Integer({ minimum: 1, maximum: 100, description: "an attempt count from 1 to 100" }),
  schedule: Type.Array(Duration, {
    minItems: 1,
    description: "a list of delays between attempts such as [5s, 5m, 30m]; the last one repeats",
  }),
  jitter: Type.Number({ minimum: 0, maximum: 1, description: "a fraction from 0 to 1 such as 0.2" }),
};

/** The top-level `retry:`; every key has a default. */
export const RetrySchema = Type.Object(
  {
    attempts: Type.Integer({ ...retryFields.attempts, default: DEFAULT_RETRY.attempts }),
    schedule: Type.Array(Duration, { ...retryFields.schedule, default: DEFAULT_RETRY.schedule }),
    jitter: Type.Number({ ...retryFields.jitter, default: DEFAULT_RETRY.jitter }),
  },
  { additionalProperties: false, default: {}, description: "how failed actions are retried" },
);

export const ActionBase = {
  name: Type.Optional(
    Type.String({
      pattern: "^[A-Za-z0-9_.:-]{1,100}$",
      description: "a name of letters, digits, _ . : or - (used in logs and idempotency keys)",
    }),
  ),
  retry: Type.Optional(
    Type.Partial(Type.Object(retryFields), {
      additionalProperties: false,
      description: "this action's own retry settings; keys left out come from the top-level retry",
    }),
  ),
  when: Type.Optional(WhenSchema),
  order: Type.Optional(OrderSchema),
  rate: Type.Optional(RateSchema),
  breaker: Type.Optional(BreakerSchema),
  fetch: Type.Optional(
    Type.Array(Type.Union([Type.Literal("event"), Type.Literal("related_object")]), {
      minItems: 1,
      uniqueItems: true,
      description:
        "for thin events: what payhook fetches from Stripe before this action runs, [event] (the full event, /v2/core/events/{id}) and/or [related_object]; templates and when: see them as fetched.event.* and fetched.related_object.* (needs stripe.api_key)",
    }),
  ),
};
