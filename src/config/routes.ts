/**
 * @module The handler map: which actions an event type needs. Every matching pattern's actions run, in config
 * order; `unhandled` runs only when no pattern matched.
 */
import type { Action } from "../actions/types.ts";

export interface Route {
  pattern: string;
  actions: Action[];
}

export type Router = (type: string) => readonly Action[];

const TYPE = /^[a-z0-9_]+(\.[a-z0-9_]+)*$/;

/** Why a handler pattern is not one, or undefined when it is fine. */
export function patternProblem(pattern: string): string | undefined {
  if (pattern === "*") return undefined;
  const body = pattern.endsWith(".*") ? pattern.slice(0, -2) : pattern;
  if (TYPE.test(body)) return undefined;
  return 'expected an event type ("invoice.paid"), a prefix ("invoice.*") or "*"';
}

export function matches(pattern: string, type: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith(".*")) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

/** The routes whose pattern matches `type`, in config order; none means the `unhandled` actions apply. */
export function matchRoutes(routes: readonly Route[], type: string): Route[] {
  return routes.filter((r) => matches(r.pattern, type));
}

export function compileRouter(routes: Route[], unhandled: Action[]): Router {
  // Event types are a small, closed set, so each answer is computed once and kept.
  const cache = new Map<string, readonly Action[]>();
  return (type) => {
    let actions = cache.get(type);
    if (!actions) {
      const hits = matchRoutes(routes, type);
      actions = hits.length > 0 ? hits.flatMap((r) => r.actions) : unhandled;
      if (cache.size < 10_000) cache.set(type, actions);
    }
    return actions;
  };
}

/** Thin event types are named v1.… (API v1 resources) and v2.…; a pattern with either prefix matches only them. */
export function isThinPattern(pattern: string): boolean {
  return pattern.startsWith("v1.") || pattern.startsWith("v2.");
}
