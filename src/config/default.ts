/** @module The embedded default config: the three handlers of Stripe's own sample, on 127.0.0.1:4242/webhook. */

/**
 * Used only by the embedded default when STRIPE_WEBHOOK_SECRET is unset, so `make run` works at once. It is
 * public, so the server prints it; a user's config never falls back to it.
 */
export const DEVELOPMENT_SECRET = "whsec_payhookdevelopmentsecretnotforproduction";

export const DEFAULT_SOURCE = "(embedded default config)";

export const DEFAULT_CONFIG = `# payhook's embedded default config. Write your own with \`payhook init\`.
listen: { host: 127.0.0.1, port: "\${PORT:-4242}" }   # PORT, as platforms that hand out a port set it
store: ./payhook.db
endpoints:
  - path: /webhook
    secrets: ["\${STRIPE_WEBHOOK_SECRET:-${DEVELOPMENT_SECRET}}"]
    tolerance: 300
    max_body: 1mb
handlers:
  payment_intent.succeeded:
    - log: "PaymentIntent {{data.object.id}} was successful!"
  payment_method.attached:
    - log: "PaymentMethod was attached to a Customer!"
unhandled:
  - log: "Unhandled event type: {{type}}"
retry: { attempts: 8, schedule: [5s, 5m, 30m, 2h, 5h, 10h, 10h], jitter: 0.2 }
`;
