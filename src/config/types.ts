/**
 * @module The compiled config as the rest of payhook sees it: what `parseConfig` returns and every module that
 * reads the config imports. Types only, so importing them pulls in neither the YAML parser nor the compiler.
 */

import type { Action } from "../actions/types.ts";
import type { StoreSettings } from "../store/settings.ts";
import type { AlertSettings } from "./alerts.ts";
import type { Route, Router } from "./routes.ts";
import type { ConfigFile } from "./schema.ts";
import type { SigningSecret } from "./secrets.ts";

export interface Endpoint {
  path: string;
  secrets: string[];
  /** The same secrets with their labels, in the same order (what verified an event is told by its label). */
  signing: SigningSecret[];
  /** Seconds. */
  tolerance: number;
  /** Bytes. */
  maxBody: number;
  /** The path of the endpoint this one shadows during an API-version upgrade. */
  shadowOf?: string;
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
  /** Connected accounts whose events catch-up also reads, or "all". */
  accounts?: string[] | "all";
}
