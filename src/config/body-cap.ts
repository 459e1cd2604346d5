/** @module The body limit the listener asks of the runtime, from the endpoints' own limits. */
import type { Endpoint } from "./types.ts";

/**
 * The runtime's own body limit: a backstop well above every endpoint's max_body. readBody enforces max_body
 * itself, refusing a declared Content-Length before reading anything, so the answer is always payhook's own
 * JSON 413; the runtime's bare 413 only meets bodies far beyond any configured limit.
 */
export function runtimeBodyCap(endpoints: readonly Endpoint[]): number {
  return Math.max(64 * 1024 * 1024, 2 * Math.max(...endpoints.map((e) => e.maxBody)));
}
