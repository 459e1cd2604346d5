/**
 * @module The validated config file compiled into what payhook runs: every action compiled by its kind with its
 * retry policy and digest, the handler map, the store, TLS, the allowlists and Stripe's settings, with the
 * problems that only show once the file's parts are put together.
 */
import { accessSync, constants } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { actionKinds } from "../actions/index.ts";
import { type BreakerFile, compileLimits, withoutLimits } from "../actions/limits.ts";
import { compileOrder, type OrderSpec } from "../actions/order.ts";
import type { RetryPolicy } from "../actions/retry.ts";
import type { Action, CompileContext, FetchTarget } from "../actions/types.ts";
import { describe } from "../errors.ts";
import { resolveStore } from "../store/settings.ts";
import { cidrProblem, isLoopback } from "../utils/net.ts";
import { parseDuration, parseSize } from "../utils/units.ts";
import { resolveAlerts } from "./alerts.ts";
import type { Path } from "./path.ts";
import { compileRouter, isThinPattern, patternProblem, type Route } from "./routes.ts";
import { type ConfigFile, MIN_RETENTION_MS, STRIPE_RETENTION_MS } from "./schema.ts";
import { resolveSecrets } from "./secrets.ts";
import { tokenProblems } from "./tokens.ts";
import type { Config, Endpoint, StripeSettings } from "./types.ts";

export interface CompileOptions {
  source: string;
  /** Folder that relative paths resolve against; undefined keeps them relative to the working directory. */
  baseDir?: string;
  /** The config paths whose values came from the environment: secrets, wherever they land (a forward URL). */
  fromEnv?: readonly string[];
}

/**
 * The validated file as a Config: endpoints, actions and routes compiled, durations and sizes in numbers, paths
 * resolved against `baseDir`. What is valid in shape but not in meaning (a duplicate name, a short retention, an
 * unreadable TLS file) is added to `problems`.
 */
export function compileConfig(file: ConfigFile, options: CompileOptions, problems: [Path, string][]): Config {
  const endpoints = compileEndpoints(file, problems);
  const admin = file.admin;
  if (admin?.token === "") delete admin.token;
  problems.push(...tokenProblems(admin));
  if (admin && !admin.token && !admin.tokens?.length && !isLoopback(admin.host)) {
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
      const action = compileAction(
        spec,
        [...at, i],
        defaultName(i),
        retry,
        problems,
        {
          baseDir: options.baseDir,
          fromEnv: options.fromEnv ?? [],
        },
        file.breaker,
      );
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

/** The endpoints, empty secrets left out; an endpoint without any secret, or a path used twice, is a problem. */
function compileEndpoints(file: ConfigFile, problems: [Path, string][]): Endpoint[] {
  const endpoints = file.endpoints.map((e, i): Endpoint => {
    // An empty entry (e.g. "${STRIPE_WEBHOOK_SECRET_PREVIOUS:-}" outside a rotation) is simply not used.
    const signing = resolveSecrets(e.secrets, ["endpoints", i, "secrets"], problems);
    const secrets = signing.map((s) => s.secret);
    const endpoint = { path: e.path, secrets, signing, tolerance: e.tolerance, maxBody: parseSize(e.max_body) };
    return e.shadow_of === undefined ? endpoint : { ...endpoint, shadowOf: e.shadow_of };
  });
  const seenPaths = new Set<string>();
  endpoints.forEach((e, i) => {
    if (seenPaths.has(e.path))
      problems.push([["endpoints", i, "path"], `${e.path} is already used by another endpoint`]);
    seenPaths.add(e.path);
  });
  problems.push(...shadowProblems(endpoints));
  return endpoints;
}

/** A shadow endpoint shadows one live endpoint of the config, and no two shadow the same one. */
function shadowProblems(endpoints: readonly Endpoint[]): [Path, string][] {
  const out: [Path, string][] = [];
  const shadowed = new Set<string>();
  endpoints.forEach((e, i) => {
    if (e.shadowOf === undefined) return;
    const at: Path = ["endpoints", i, "shadow_of"];
    const target = endpoints.find((t) => t.path === e.shadowOf);
    if (!target || target === e) {
      out.push([at, `${e.shadowOf} is not another endpoint's path; name the live endpoint this one shadows`]);
    } else if (target.shadowOf !== undefined) {
      out.push([at, `${e.shadowOf} is itself a shadow endpoint; shadow the live endpoint instead`]);
    } else if (shadowed.has(target.path)) {
      out.push([at, `${target.path} already has a shadow endpoint; one upgrade at a time`]);
    }
    shadowed.add(e.shadowOf);
  });
  return out;
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
    ...(section?.accounts !== undefined ? { accounts: section.accounts } : {}),
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

/** TLS files resolve against the config file's folder and must be readable now, not at the first handshake. */
function resolveTls(file: ConfigFile, options: CompileOptions, problems: [Path, string][]): Config["listen"]["tls"] {
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
  context: CompileContext,
  breaker?: BreakerFile,
): Action | undefined {
  const kind = actionKinds.find((k) => Object.hasOwn(spec, k.kind));
  if (!kind) return undefined; // validate() has already reported it
  const compiled = kind.compile(spec, context);
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
    digest: digest(withoutLimits(spec)),
    retry: {
      attempts: own.attempts ?? retry.attempts,
      schedule: own.schedule?.map(parseDuration) ?? retry.schedule,
      jitter: own.jitter ?? retry.jitter,
    },
    ...(compiled.concurrency === undefined ? {} : { concurrency: compiled.concurrency }),
    ...(order.rule === undefined ? {} : { order: order.rule }),
    ...compileLimits(spec, breaker),
    ...(spec.fetch === undefined ? {} : { fetch: spec.fetch as FetchTarget[] }),
    run: compiled.run,
    plan: compiled.plan,
  };
}

/** FNV-1a over the action's settings: equal settings, equal digest. */
function digest(spec: unknown): string {
  const text = JSON.stringify(spec);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, "0");
}
