/**
 * @module Config file → validated, resolved Config, or a ConfigError whose every line names the file, the
 * path inside it and what to write instead.
 */
import { accessSync, constants, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type { TSchema } from "@sinclair/typebox";
import { Value, type ValueError, ValueErrorType } from "@sinclair/typebox/value";
import { LineCounter, parseDocument } from "yaml";
import { actionKinds } from "../actions/index.ts";
import { compileOrder, type OrderSpec } from "../actions/order.ts";
import type { RetryPolicy } from "../actions/retry.ts";
import type { Action, FetchTarget } from "../actions/types.ts";
import { type AlertSettings, resolveAlerts } from "../alerts/settings.ts";
import { ConfigError, describe } from "../errors.ts";
import { cidrProblem } from "../ingest/ipallow.ts";
import { MIN_RETENTION_MS } from "../ops/retention.ts";
import { resolveStore, type StoreSettings } from "../store/settings.ts";
import { parseDuration, parseSize } from "../utils/units.ts";
import { expandEnv, hideEnvValues } from "./expand.ts";
import { formatPath, fromPointer, isSecretPath, type Path } from "./path.ts";
import { compileRouter, patternProblem, type Route, type Router } from "./routes.ts";
import { type ConfigFile, ConfigSchema, LabelledSecretSchema, PostgresStoreSchema, SecretString } from "./schema.ts";
import { resolveSecrets, type SigningSecret } from "./secrets.ts";

/** How many times the values one alias stands for may be repeated (the yaml library's count of expanded nodes). */
const MAX_ALIAS_COUNT = 100;

export interface Endpoint {
  path: string;
  secrets: string[];
  /** The same secrets with their labels, in the same order (what verified an event is told by its label). */
  signing: SigningSecret[];
  /** Seconds. */
  tolerance: number;
  /** Bytes. */
  maxBody: number;
}

export interface Config {
  /** Where it came from, for messages: a file name or "(embedded default)". */
  source: string;
  /** `tls` paths are absolute, or relative to the working directory for the embedded default. */
  listen: { host: string; port: number; tls?: { cert: string; key: string } };
  /** Which store, resolved; print only its `label`, which never shows a password. */
  store: StoreSettings;
  endpoints: Endpoint[];
  router: Router;
  /** The handler map as written, compiled; `router` answers from it. */
  routes: Route[];
  unhandled: Action[];
  /** How long events are kept, in ms. */
  retention: number;
  /** Deliveries the worker runs at once. */
  concurrency: number;
  /** Every action by name. */
  actions: Map<string, Action>;
  /** The file as validated, after defaults and before resolution; secrets included, so never print it whole. */
  file: ConfigFile;
  /** Stripe's API settings; apiKey is a secret: never log or print it. */
  stripe: StripeSettings;
  /** `alerts:`, resolved; channel URLs are secrets. Undefined without the section: no rule runs. */
  alerts?: AlertSettings;
}

export interface StripeSettings {
  /** Undefined when the config has none (or an empty one): the features that need it are refused. */
  apiKey: string | undefined;
  apiBase: string;
  /** Requests per second, at most. */
  maxRate: number;
  /** Background catch-up in serve, in ms. */
  catchUp?: { everyMs: number; windowMs: number };
}

/** Stripe's List Events returns events of the last 30 days only. */
export const STRIPE_RETENTION_MS = 30 * 86_400_000;

/** Reads and validates a config file; relative paths in it resolve against its folder. */
export function loadConfigFile(path: string, env: Record<string, string | undefined>): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError([`${path}: cannot read the config file (${describe(error)})`]);
  }
  return parseConfig(text, { source: path, baseDir: dirname(resolve(path)), env });
}

export interface ParseOptions {
  source: string;
  /** Folder that a relative `store` path resolves against; undefined keeps it relative to the working directory. */
  baseDir?: string;
  env: Record<string, string | undefined>;
}

/** Parses YAML or JSON text (JSON is YAML) into a Config. */
export function parseConfig(text: string, options: ParseOptions): Config {
  const { source } = options;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const at = e.linePos?.[0];
        const message = e.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "");
        return `${source}${at ? `:${at.line}:${at.col}` : ""}: not valid YAML or JSON: ${message}`;
      }),
    );
  }
  const where = (path: Path): string => {
    const node = doc.getIn(path, true) as { range?: [number, number] } | undefined;
    const offset = node?.range?.[0];
    return offset === undefined ? "" : ` (line ${lines.linePos(offset).line})`;
  };
  let fromEnv: ReadonlyMap<string, string> = new Map();
  // A message never shows a value that came from the environment (a token in a URL, a secret): only its reference.
  const problem = (path: Path, message: string) =>
    hideEnvValues(`${source}: ${formatPath(path)}: ${message}${where(path)}`, fromEnv);

  const raw = toJS(doc, source) ?? {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError([`${source}: expected a mapping with keys such as listen, endpoints and handlers`]);
  }
  const expanded = expandEnv(raw, options.env);
  fromEnv = expanded.fromEnv;
  if (expanded.problems.length > 0) throw new ConfigError(expanded.problems.map(([p, m]) => problem(p, m)));

  const file = Value.Default(ConfigSchema, Value.Clone(expanded.value)) as ConfigFile;
  const schemaProblems = validate(ConfigSchema, file, []);
  if (schemaProblems.length > 0) throw new ConfigError(schemaProblems.map(([p, m]) => problem(p, m)));

  const problems: [Path, string][] = [];
  const config = resolveConfig(file, options, problems);
  if (problems.length > 0) throw new ConfigError(problems.map(([p, m]) => problem(p, m)));
  return config;
}

/** The document as plain data; an alias bomb (aliases expanding into millions of nodes) is a config error. */
function toJS(doc: ReturnType<typeof parseDocument>, source: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    if (!/alias/i.test(describe(error))) throw error;
    throw new ConfigError([
      `${source}: its YAML aliases (*name) expand into too many values (more than ${MAX_ALIAS_COUNT} per alias); write the values out, or use fewer aliases`,
    ]);
  }
}

function resolveConfig(file: ConfigFile, options: ParseOptions, problems: [Path, string][]): Config {
  const endpoints = file.endpoints.map((e, i): Endpoint => {
    // An empty entry (e.g. "${STRIPE_WEBHOOK_SECRET_PREVIOUS:-}" outside a rotation) is simply not used.
    const signing = resolveSecrets(e.secrets, ["endpoints", i, "secrets"], problems);
    const secrets = signing.map((s) => s.secret);
    return { path: e.path, secrets, signing, tolerance: e.tolerance, maxBody: parseSize(e.max_body) };
  });
  const seenPaths = new Set<string>();
  endpoints.forEach((e, i) => {
    if (seenPaths.has(e.path))
      problems.push([["endpoints", i, "path"], `${e.path} is already used by another endpoint`]);
    seenPaths.add(e.path);
  });

  const admin = file.admin;
  if (admin?.token === "") delete admin.token;
  if (admin && !admin.token && !isLoopback(admin.host)) {
    problems.push([
      ["admin", "host"],
      `${admin.host} is reachable beyond this machine, so the admin listener needs a token: add token: "\${PAYHOOK_ADMIN_TOKEN}" (a secret of 16 or more characters) or bind 127.0.0.1`,
    ]);
  }

  const retry: RetryPolicy = {
    attempts: file.retry.attempts,
    schedule: file.retry.schedule.map(parseDuration),
    jitter: file.retry.jitter,
  };
  const actions = new Map<string, Action>();
  const compileList = (specs: Record<string, unknown>[], at: Path, defaultName: (i: number) => string) =>
    specs.flatMap((spec, i) => {
      const action = compileAction(spec, [...at, i], defaultName(i), retry, problems, options.baseDir);
      if (!action) return [];
      if (actions.has(action.name)) {
        problems.push([[...at, i, "name"], `the action name "${action.name}" is already used; names must be unique`]);
      }
      actions.set(action.name, action);
      return [action];
    });

  const routes = Object.entries(file.handlers).map(([pattern, specs]) => {
    const bad = patternProblem(pattern);
    if (bad) problems.push([["handlers", pattern], bad]);
    return { pattern, actions: compileList(specs as never, ["handlers", pattern], (i) => `${pattern}[${i}]`) };
  });
  const unhandled = compileList(file.unhandled as never, ["unhandled"], (i) => `unhandled[${i}]`);

  const retention = parseDuration(file.retention);
  if (retention < MIN_RETENTION_MS) {
    problems.push([
      ["retention"],
      "must be at least 3d: Stripe retries an event for up to 3 days, and a forgotten id would let a retry run its actions again",
    ]);
  }
  const storeProblems: [Path, string][] = [];
  const store = resolveStore(file.store, options.baseDir, storeProblems);
  for (const [at, message] of storeProblems) problems.push([["store", ...at], message]);
  const listen = { ...file.listen, tls: resolveTls(file, options, problems) };
  for (const key of ["allow_ips", "trusted_proxies"] as const) {
    file[key]?.forEach((entry, i) => {
      const bad = cidrProblem(entry);
      if (bad) problems.push([[key, i], bad]);
    });
  }
  const stripe = resolveStripe(file, routes, unhandled, problems);
  const alerts = resolveAlerts(
    file.alerts,
    endpoints.map((e) => e.path),
    problems,
  );
  return {
    source: options.source,
    stripe,
    ...(alerts ? { alerts } : {}),
    listen,
    store,
    endpoints,
    router: compileRouter(routes, unhandled),
    routes,
    unhandled,
    actions,
    retention,
    concurrency: file.concurrency,
    file,
  };
}

function resolveStripe(
  file: ConfigFile,
  routes: Route[],
  unhandled: Action[],
  problems: [Path, string][],
): StripeSettings {
  const section = file.stripe;
  const apiKey = section?.api_key ? section.api_key : undefined;
  const settings: StripeSettings = {
    apiKey,
    apiBase: (section?.api_base ?? "https://api.stripe.com").replace(/\/$/, ""),
    maxRate: section?.max_rate ?? 20,
  };
  // Catch-up stores what this address answers as Stripe's events, and they carry no signature: only TLS vouches.
  const base = URL.parse(settings.apiBase);
  if (base === null || (base.protocol !== "https:" && !isLoopback(base.hostname))) {
    problems.push([
      ["stripe", "api_base"],
      `must be an https:// URL (catch-up stores what it answers as Stripe's events); plain http is allowed only to a loopback address such as http://127.0.0.1:12111, got ${JSON.stringify(settings.apiBase)}`,
    ]);
  }
  const noKey =
    "needs stripe.api_key (a restricted key with Events: read is enough; see docs/stripe.md#stripe-api-access)";
  if (section?.catch_up) {
    const everyMs = parseDuration(section.catch_up.every);
    const windowMs = parseDuration(section.catch_up.window);
    if (!apiKey) problems.push([["stripe", "catch_up"], `background catch-up ${noKey}`]);
    if (everyMs < 60_000) problems.push([["stripe", "catch_up", "every"], "must be at least 1m"]);
    if (windowMs > STRIPE_RETENTION_MS) {
      problems.push([["stripe", "catch_up", "window"], "must be at most 30d: Stripe keeps events for 30 days"]);
    }
    settings.catchUp = { everyMs, windowMs };
  }
  const checkFetch = (action: Action, at: Path, pattern: string | undefined) => {
    if (!action.fetch) return;
    if (!apiKey) problems.push([[...at, "fetch"], `fetching from Stripe ${noKey}`]);
    if (pattern !== undefined && pattern !== "*" && !isThinPattern(pattern)) {
      problems.push([
        [...at, "fetch"],
        `only thin events (v1.…, v2.…) are fetched; a snapshot event such as ${pattern} already carries its data in data.object`,
      ]);
    }
  };
  for (const route of routes) {
    for (const [i, a] of route.actions.entries()) checkFetch(a, ["handlers", route.pattern, i], route.pattern);
  }
  for (const [i, a] of unhandled.entries()) checkFetch(a, ["unhandled", i], undefined);
  return settings;
}

/** Thin event types are named v1.… (API v1 resources) and v2.…; a pattern with either prefix matches only them. */
export function isThinPattern(pattern: string): boolean {
  return pattern.startsWith("v1.") || pattern.startsWith("v2.");
}

/** TLS files resolve against the config file's folder and must be readable now, not at the first handshake. */
function resolveTls(file: ConfigFile, options: ParseOptions, problems: [Path, string][]): Config["listen"]["tls"] {
  if (!file.listen.tls) return undefined;
  const tls = { ...file.listen.tls };
  for (const part of ["cert", "key"] as const) {
    if (options.baseDir !== undefined && !isAbsolute(tls[part])) tls[part] = resolve(options.baseDir, tls[part]);
    try {
      accessSync(tls[part], constants.R_OK);
    } catch (error) {
      problems.push([["listen", "tls", part], `cannot read ${tls[part]} (${describe(error)}); expected a PEM file`]);
    }
  }
  return tls;
}

function compileAction(
  spec: Record<string, unknown>,
  at: Path,
  defaultName: string,
  retry: RetryPolicy,
  problems: [Path, string][],
  baseDir: string | undefined,
): Action | undefined {
  const kind = actionKinds.find((k) => Object.hasOwn(spec, k.kind));
  if (!kind) return undefined; // validate() has already reported it
  const compiled = kind.compile(spec, { baseDir });
  const order = compileOrder(spec.order as OrderSpec | undefined);
  if ("problems" in compiled || "problems" in order) {
    for (const [key, message] of [
      ...("problems" in compiled ? compiled.problems : []),
      ...("problems" in order ? order.problems : []),
    ]) {
      problems.push([[...at, ...key.split(".")], message]);
    }
    return undefined;
  }
  const own = (spec.retry ?? {}) as { attempts?: number; schedule?: string[]; jitter?: number };
  return {
    name: (spec.name as string | undefined) ?? defaultName,
    kind: kind.kind,
    digest: digest(spec),
    retry: {
      attempts: own.attempts ?? retry.attempts,
      schedule: own.schedule?.map(parseDuration) ?? retry.schedule,
      jitter: own.jitter ?? retry.jitter,
    },
    ...(compiled.concurrency === undefined ? {} : { concurrency: compiled.concurrency }),
    ...(order.rule === undefined ? {} : { order: order.rule }),
    ...(spec.fetch === undefined ? {} : { fetch: spec.fetch as FetchTarget[] }),
    run: compiled.run,
    plan: compiled.plan,
  };
}

/** Schema errors as [path, message], one per path; each action is checked against the kind it names. */
function validate(schema: TSchema, value: unknown, base: Path, inAction = false): [Path, string][] {
  const seen = new Set<string>();
  const secretsSeen = new Set<string>();
  const out: [Path, string][] = [];
  for (const error of Value.Errors(schema, value)) {
    let path: Path = [...base, ...fromPointer(error.path)];
    const item = inAction ? undefined : actionItem(path);
    if (item) path = item;
    const key = JSON.stringify(path);
    if (seen.has(key)) continue;
    seen.add(key);
    const store = lookupPath(value, path.slice(base.length));
    const secret = inAction ? undefined : secretItem(path);
    if (secret && !secretsSeen.has(JSON.stringify(secret))) {
      // A secret is a string or { label, secret, retiring }: name what is wrong with the form given, not the union.
      secretsSeen.add(JSON.stringify(secret));
      const given = lookupPath(value, secret.slice(base.length));
      const form =
        given !== null && typeof given === "object" && !Array.isArray(given) ? LabelledSecretSchema : SecretString;
      out.push(...validate(form, given, secret, true));
    } else if (secret) continue;
    else if (item) out.push(...validateAction(lookupPath(value, item.slice(base.length)), item));
    else if (path.length === 1 && path[0] === "store" && store !== null && typeof store === "object") {
      // The object form: name the key that is wrong rather than the whole union.
      out.push(...validate(PostgresStoreSchema, store, path, true));
    } else out.push([path, explain(error, path)]);
  }
  return out;
}

/** The path of the endpoint secret that `path` is in or under, if any. */
function secretItem(path: Path): Path | undefined {
  return path[0] === "endpoints" && path[2] === "secrets" && path.length >= 4 ? path.slice(0, 4) : undefined;
}

/** The path of the action item that `path` is in or under, if any. */
function actionItem(path: Path): Path | undefined {
  if (path[0] === "handlers" && path.length >= 3) return path.slice(0, 3);
  if (path[0] === "unhandled" && path.length >= 2) return path.slice(0, 2);
  return undefined;
}

function lookupPath(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);
}

function validateAction(value: unknown, path: Path): [Path, string][] {
  const names = actionKinds.map((k) => k.kind);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return [[path, `expected an action, a mapping with one of: ${names.join(", ")}`]];
  }
  const present = names.filter((n) => Object.hasOwn(value, n));
  if (present.length === 0) {
    const keys = Object.keys(value).join(", ") || "no keys";
    return [[path, `expected an action with one of: ${names.join(", ")} (found ${keys})`]];
  }
  if (present.length > 1) {
    return [
      [
        path,
        `an action has exactly one of ${names.join(", ")}, but this one has ${present.join(" and ")}; split it into two actions`,
      ],
    ];
  }
  const kind = actionKinds.find((k) => k.kind === present[0]);
  return kind ? validate(kind.schema, value, path, true) : [];
}

const TYPE_WORDS: Partial<Record<ValueErrorType, string>> = {
  [ValueErrorType.String]: "a string",
  [ValueErrorType.Integer]: "an integer",
  [ValueErrorType.Number]: "a number",
  [ValueErrorType.Boolean]: "true or false",
  [ValueErrorType.Object]: "a mapping",
  [ValueErrorType.Array]: "a list",
};

function explain(error: ValueError, path: Path): string {
  const description = (error.schema as { description?: string }).description;
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    const parent = path.slice(0, -1);
    return `unknown key "${String(path.at(-1))}"${parent.length ? ` in ${formatPath(parent)}` : ""}; check its spelling against \`payhook schema\``;
  }
  if (error.type === ValueErrorType.ObjectRequiredProperty) {
    return `missing; expected ${description ?? "a value"}`;
  }
  const got = isSecretPath(path) ? "a value that is not shown" : preview(error.value);
  const type = TYPE_WORDS[error.type];
  if (type) return `expected ${type}${description ? ` (${description})` : ""}, got ${got}`;
  return `expected ${description ?? error.message.replace(/^Expected /, "").toLowerCase()}, got ${got}`;
}

function preview(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (value !== null && typeof value === "object") return "a mapping";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** FNV-1a over the action's settings: equal settings, equal digest. */
function digest(spec: unknown): string {
  const text = JSON.stringify(spec);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, "0");
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
