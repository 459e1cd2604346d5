/**
 * @module The config file's shape, declared once: validation, `payhook schema` and the TypeScript types all
 * come from these declarations. Unknown keys are errors everywhere.
 */
import { type Static, Type } from "@sinclair/typebox";
import { RetrySchema } from "../actions/base.ts";
import { ActionSchema } from "../actions/index.ts";
import { BreakerSchema } from "../actions/limits.ts";
import { DEFAULT_COMMIT_TIMEOUT, DEFAULT_LEASE, DEFAULT_POOL, DEFAULT_SCHEMA } from "../store/postgres/settings.ts";
import { Duration, Size } from "../utils/units.ts";

export const DEFAULT_RETENTION = "30d";
/** Stripe retries a live event for up to 3 days; forgetting its id sooner would let a retry run its actions twice. */
export const MIN_RETENTION_MS = 3 * 86_400_000;
/** Stripe's List Events returns events of the last 30 days only. */
export const STRIPE_RETENTION_MS = 30 * 86_400_000;

const closed = { additionalProperties: false } as const;

export const ListenSchema = Type.Object(
  {
    host: Type.String({ default: "127.0.0.1", description: "an address to bind such as 127.0.0.1 or 0.0.0.0" }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 4242, description: "a port from 0 to 65535" }),
    tls: Type.Optional(
      Type.Object(
        {
          cert: Type.String({ minLength: 1, description: "a PEM certificate (chain) file, relative to this file" }),
          key: Type.String({ minLength: 1, description: "its PEM private key file, relative to this file" }),
        },
        { ...closed, description: "serve HTTPS with this certificate and key instead of HTTP" },
      ),
    ),
  },
  { ...closed, default: {} },
);

/**
 * A separate listener for /healthz, /readyz and /metrics, so they need not share the public port; with a token,
 * it also serves the operator page.
 */
export const AdminSchema = Type.Object(
  {
    host: Type.String({ default: "127.0.0.1", description: "an address to bind such as 127.0.0.1" }),
    port: Type.Integer({ minimum: 0, maximum: 65535, description: "a port from 0 to 65535" }),
    token: Type.Optional(
      Type.String({
        // Empty counts as unset, so "${PAYHOOK_ADMIN_TOKEN:-}" can stay in the file on machines without a page.
        pattern: "^(\\S{16,})?$",
        description:
          'a secret of at least 16 characters without whitespace that opens the operator page, such as "${PAYHOOK_ADMIN_TOKEN}"',
      }),
    ),
    tokens: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({
              pattern: "^[A-Za-z0-9_.@-]{1,64}$",
              description: "who holds it, as the audit trail names them, such as ana or oncall",
            }),
            token: Type.String({
              pattern: "^\\S{16,}$",
              description: 'a secret of at least 16 characters without whitespace, such as "${PAYHOOK_TOKEN_ANA}"',
            }),
            role: Type.Union([Type.Literal("viewer"), Type.Literal("operator")], {
              description: "viewer (looks only) or operator (also replays, retries, pauses and resumes)",
            }),
          },
          { additionalProperties: false },
        ),
        { description: "named tokens for the operator page, each with a role; admin.token is an operator named admin" },
      ),
    ),
    hosts: Type.Optional(
      Type.Array(
        Type.String({ pattern: "^[A-Za-z0-9.:\\[\\]-]+$", description: "a host name such as payhook.example.com" }),
        {
          description: "more Host names the operator page answers to (a reverse proxy's), besides the listen address",
        },
      ),
    ),
  },
  {
    ...closed,
    description:
      "a listener for /healthz, /readyz and /metrics, which then leave the main port, and with a token the operator page",
  },
);

const IpList = (description: string) =>
  Type.Array(Type.String({ description: "an IP address or CIDR range such as 10.0.0.0/8 or 2001:db8::/32" }), {
    description,
  });

export const SecretString = Type.String({
  // Empty is allowed: an unset rotation slot such as "${STRIPE_WEBHOOK_SECRET_PREVIOUS:-}" is skipped.
  pattern: "^(whsec_[A-Za-z0-9_]+)?$",
  description: 'a signing secret that starts with whsec_ and has no whitespace, such as "${STRIPE_WEBHOOK_SECRET}"',
});

/** A secret with a name: the name (never the secret) is what events, metrics and pages show as having verified. */
export const LabelledSecretSchema = Type.Object(
  {
    label: Type.String({
      pattern: "^[A-Za-z0-9_.-]{1,32}$",
      description: "a name for the secret such as current or previous: 1 to 32 letters, digits, _, . or -",
    }),
    secret: SecretString,
    retiring: Type.Optional(
      Type.Boolean({
        description: "true for a secret on its way out; `payhook check --rotation` says when it last verified an event",
      }),
    ),
  },
  { ...closed, description: "a mapping with label, secret and optionally retiring: true" },
);

export const EndpointSchema = Type.Object(
  {
    path: Type.String({ pattern: "^/[A-Za-z0-9/_.~-]*$", description: "a URL path such as /webhook" }),
    secrets: Type.Array(Type.Union([SecretString, LabelledSecretSchema]), {
      minItems: 1,
      maxItems: 8,
      description:
        "a list of 1 to 8 signing secrets (whsec_…, or { label, secret, retiring } to name one); any one of them verifies",
    }),
    tolerance: Type.Integer({
      minimum: 1,
      maximum: 3600,
      default: 300,
      description: "seconds from 1 to 3600 that a signature's timestamp may differ from this clock",
    }),
    max_body: Type.String({ ...Size, default: "1mb" }),
    shadow_of: Type.Optional(
      Type.String({
        pattern: "^/[A-Za-z0-9/_.~-]*$",
        description:
          "the path of the endpoint this one shadows during an API-version upgrade (`payhook stripe endpoint upgrade`): its events are kept apart and run no action until `payhook stripe endpoint cutover`",
      }),
    ),
  },
  closed,
);

const POSTGRES_URL =
  'a PostgreSQL URL, usually "${DATABASE_URL}": postgres://user:password@host:5432/database, with sslmode=disable, require or verify-full (and sslrootcert=FILE) as libpq reads them';

/** PostgreSQL with payhook's own settings; a bare URL in `store:` takes their defaults. */
export const PostgresStoreSchema = Type.Object(
  {
    url: Type.String({ pattern: "^[Pp][Oo][Ss][Tt][Gg][Rr][Ee][Ss]([Qq][Ll])?://", description: POSTGRES_URL }),
    pool: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        default: DEFAULT_POOL,
        description: `connections per instance (default ${DEFAULT_POOL}); each instance opens one more to listen for wake-ups`,
      }),
    ),
    lease: Type.Optional(
      Type.String({
        ...Duration,
        default: DEFAULT_LEASE,
        description: `a duration such as ${DEFAULT_LEASE} (the default), at least 1s: how long a delivery an instance claimed stays its own without a heartbeat; after it, another instance runs it`,
      }),
    ),
    commit_timeout: Type.Optional(
      Type.String({
        ...Duration,
        default: DEFAULT_COMMIT_TIMEOUT,
        description: `a duration such as ${DEFAULT_COMMIT_TIMEOUT} (the default), at least 1s: how long a webhook waits for the database to commit its event; past it the webhook gets 503 and Stripe sends it again`,
      }),
    ),
    schema: Type.Optional(
      Type.String({
        pattern: "^[a-z_][a-z0-9_]{0,47}$",
        default: DEFAULT_SCHEMA,
        description: `the PostgreSQL schema for payhook's tables (default ${DEFAULT_SCHEMA}): lower-case letters, digits and _`,
      }),
    ),
  },
  {
    ...closed,
    description:
      "a PostgreSQL store shared by several instances: url, and optionally pool, lease, commit_timeout, schema",
  },
);

/** Stripe's API, for catch-up, thin-event fetches, `check --stripe` and `payhook stripe endpoint`. */
export const StripeSchema = Type.Object(
  {
    api_key: Type.Optional(
      Type.String({
        pattern: "^((sk|rk)_(test|live)_[A-Za-z0-9_]+)?$",
        description:
          'a secret (sk_…) or restricted (rk_…) API key, such as "${STRIPE_API_KEY}"; empty means none (features that need it are refused)',
      }),
    ),
    api_base: Type.String({
      pattern: "^https?://[^/?#\\s]+/?$",
      default: "https://api.stripe.com",
      description: "the API's base URL, such as https://api.stripe.com (the default)",
    }),
    max_rate: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 20,
      description:
        "requests per second payhook makes to Stripe's API at most, from 1 to 100 (Stripe allows 25/s in test mode, 100/s live)",
    }),
    accounts: Type.Optional(
      Type.Union(
        [
          Type.Literal("all"),
          Type.Array(Type.String({ pattern: "^acct_[A-Za-z0-9]+$", description: "a connected account id (acct_…)" }), {
            maxItems: 10_000,
          }),
        ],
        {
          description:
            'Connect: the connected accounts whose events catch-up also reads (acct_… ids), or "all" for every connected account (listed from Stripe at each run)',
        },
      ),
    ),
    catch_up: Type.Optional(
      Type.Object(
        {
          every: Type.String({ ...Duration, description: "how often serve catches up, such as 15m (at least 1m)" }),
          window: Type.String({
            ...Duration,
            default: "3d",
            description: "how far back each run looks, such as 3d (at most 30d, Stripe's retention)",
          }),
        },
        { ...closed, description: "catch up from Stripe's Events API in the background while serving" },
      ),
    ),
  },
  { ...closed, description: "access to Stripe's API" },
);

const Url = (example: string) =>
  Type.String({
    pattern: "^https?://[^\\s]+$",
    description: `an http(s) URL, a secret: write it as \${VAR} such as "${example}"`,
  });
const HttpChannel = (example: string, what: string) =>
  Type.Object({ url: Url(example) }, { ...closed, description: `a mapping with url: ${what}` });
/** A rule that is on by default takes `false` to turn it off, or a mapping to change its settings. */
const Rule = (fields: Parameters<typeof Type.Object>[0], description: string) =>
  Type.Union([Type.Literal(false), Type.Object(fields, closed)], { description: `false, or ${description}` });

/** One channel alerts are sent to: a name and exactly one of slack, discord, webhook, exec. */
export const AlertChannelSchema = Type.Object(
  {
    name: Type.String({
      pattern: "^[A-Za-z0-9_.-]{1,64}$",
      description: "a name for the channel such as ops: letters, digits, _, . or -",
    }),
    slack: Type.Optional(
      HttpChannel("${SLACK_WEBHOOK_URL}", "a Slack incoming webhook (Mattermost and Rocket.Chat take the same)"),
    ),
    discord: Type.Optional(HttpChannel("${DISCORD_WEBHOOK_URL}", "a Discord webhook")),
    webhook: Type.Optional(
      Type.Object(
        {
          url: Url("${ALERT_WEBHOOK_URL}"),
          headers: Type.Optional(
            Type.Record(Type.String(), Type.String(), {
              description: 'a mapping of header names to values such as { Authorization: "Bearer ${ALERT_TOKEN}" }',
            }),
          ),
          sign: Type.Optional(
            Type.Object(
              { secret: Type.String({ description: 'a Standard Webhooks secret such as "${ALERT_SIGNING_SECRET}"' }) },
              { ...closed, description: "signs each notification with Standard Webhooks headers, as forward's sign:" },
            ),
          ),
        },
        { ...closed, description: "a mapping with url and optional headers and sign: the notification as JSON" },
      ),
    ),
    exec: Type.Optional(
      Type.Object(
        {
          command: Type.Array(Type.String(), {
            minItems: 1,
            description: 'the program and its arguments such as ["/usr/sbin/sendmail", "ops@example.com"]',
          }),
          timeout: Type.Optional(Duration),
        },
        { ...closed, description: "a mapping with command and optional timeout: the notification as JSON on stdin" },
      ),
    ),
  },
  { ...closed, description: "a mapping with name and one of slack, discord, webhook, exec" },
);

export const AlertsSchema = Type.Object(
  {
    notify: Type.Array(AlertChannelSchema, {
      minItems: 1,
      description: "a list of channels, each { name, slack | discord | webhook | exec: {...} }",
    }),
    interval: Type.String({
      ...Duration,
      default: "30s",
      description: "how often the rules are evaluated, such as 30s (the default), at least 100ms",
    }),
    renotify: Type.String({
      ...Duration,
      default: "4h",
      description: "how often an incident still open is sent again, such as 4h (the default)",
    }),
    rules: Type.Object(
      {
        dead: Type.Optional(
          Rule({ within: Duration }, "{ within: 24h }: deliveries of an action went dead within that long"),
        ),
        failing: Type.Optional(
          Rule(
            { failures: Type.Integer({ minimum: 1, maximum: 100_000, description: "failed attempts in a row" }) },
            "{ failures: 10 }: an action failed that many times in a row, or its breaker opened",
          ),
        ),
        backlog: Type.Optional(
          Rule({ older_than: Duration }, "{ older_than: 15m }: the oldest pending delivery is older than that"),
        ),
        store: Type.Optional(
          Rule(
            {
              min_free: Type.String({
                pattern: "^([1-9]|[1-9][0-9])%$",
                description: "the least free disk space around a SQLite store, as a percentage such as 10%",
              }),
            },
            "{ min_free: 10% }: the store is unavailable, or its disk has less free space than that",
          ),
        ),
        signatures: Type.Optional(
          Rule(
            { per_minute: Type.Integer({ minimum: 1, description: "requests with a bad signature per minute" }) },
            "{ per_minute: 20 }: a burst of requests whose signature does not verify",
          ),
        ),
        silence: Type.Optional(
          Type.Object(
            {
              endpoint: Type.Optional(
                Type.String({ description: "the endpoint path, such as /webhook (default: any endpoint)" }),
              ),
              for: Duration,
            },
            { ...closed, description: "{ endpoint, for: 6h }: no event arrived on the endpoint for that long" },
          ),
        ),
        missed: Type.Optional(
          Rule({ within: Duration }, "{ within: 24h }: catch-up stored events payhook never received within that long"),
        ),
        stripe_endpoint: Type.Optional(
          Rule(
            { every: Duration },
            "{ every: 15m }: with stripe.api_key, how often Stripe's endpoints for this config are checked",
          ),
        ),
        certificate: Type.Optional(
          Rule({ within: Duration }, "{ within: 14d }: payhook's own TLS certificate expires within that long"),
        ),
      },
      { ...closed, default: {}, description: "the rules, each on with its defaults unless set to false" },
    ),
  },
  { ...closed, description: "alerts: channels to notify (notify), and rules that open and resolve incidents" },
);

export const ConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: "the JSON Schema this file follows, for editors" })),
    listen: ListenSchema,
    store: Type.Union(
      [
        Type.String({
          minLength: 1,
          description: `a path to the SQLite database file, or ${POSTGRES_URL}`,
        }),
        PostgresStoreSchema,
      ],
      {
        default: "./payhook.db",
        description:
          "a path to the SQLite database file, a postgres:// URL, or a mapping with url and optionally pool, lease, schema",
      },
    ),
    endpoints: Type.Array(EndpointSchema, { minItems: 1, description: "a list of at least one endpoint" }),
    handlers: Type.Record(Type.String(), Type.Array(ActionSchema, { description: "a list of actions" }), {
      default: {},
      description: 'a map from event type pattern ("payment_intent.succeeded", "invoice.*", "*") to actions',
    }),
    unhandled: Type.Array(ActionSchema, { default: [], description: "a list of actions for unmatched events" }),
    retry: RetrySchema,
    concurrency: Type.Integer({
      minimum: 1,
      maximum: 1024,
      default: 64,
      description:
        "how many deliveries this instance runs at once (exec actions also keep to their own concurrency); a change waits for the next restart",
    }),
    retention: Type.String({
      ...Duration,
      default: DEFAULT_RETENTION,
      description:
        "a duration such as 30d, at least 3d: how long events and their attempts are kept (Stripe retries an event for up to 3 days, and its id is what catches duplicates)",
    }),
    breaker: Type.Optional(BreakerSchema),
    admin: Type.Optional(AdminSchema),
    allow_ips: Type.Optional(
      IpList("a list of addresses and CIDR ranges allowed to reach the main listener (e.g. Stripe's webhook IPs)"),
    ),
    trusted_proxies: Type.Optional(
      IpList("a list of reverse proxies whose X-Forwarded-For header is believed when checking allow_ips"),
    ),
    stripe: Type.Optional(StripeSchema),
    alerts: Type.Optional(AlertsSchema),
  },
  { ...closed, title: "payhook config" },
);

export type ConfigFile = Static<typeof ConfigSchema>;
export type EndpointFile = Static<typeof EndpointSchema>;
export type StripeFile = Static<typeof StripeSchema>;
export type AlertsFile = Static<typeof AlertsSchema>;
export type AlertChannelFile = Static<typeof AlertChannelSchema>;
