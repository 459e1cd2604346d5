/**
 * @module Logins to the operator page: the token compared in constant time, wrong tokens limited per client,
 * sessions held in memory (a restart logs everyone out) with a CSRF token each, and the cookie that names them.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { OperatorToken, Role } from "../config/tokens.ts";

export const COOKIE = "__Host-payhook";
const SESSION_MS = 12 * 60 * 60 * 1000;
/** Wrong tokens allowed per client within FAILURE_WINDOW_MS before logins from it are refused. */
const MAX_FAILURES = 5;
const FAILURE_WINDOW_MS = 60_000;
const MAX_CLIENTS = 10_000;

export interface Session {
  id: string;
  csrf: string;
  expires: number;
  /** The token's name: who acts, in the audit trail. */
  who: string;
  role: Role;
}

export interface Sessions {
  /** "ok" with a new session, "wrong" for a wrong token, "limited" (with seconds to wait) after too many. */
  login(
    token: string,
    client: string,
    now: number,
  ):
    | { result: "ok"; session: Session }
    | { result: "wrong" }
    | {
        result: "limited";
        retryAfter: number;
      };
  get(cookieHeader: string | null, now: number): Session | undefined;
  logout(id: string): void;
}

export function createSessions(tokens: readonly OperatorToken[]): Sessions {
  const expected = tokens.map((t) => ({ ...t, digest: digest(t.token) }));
  const sessions = new Map<string, Session>();
  const failures = new Map<string, number[]>();
  return {
    login(given, client, now) {
      const recent = (failures.get(client) ?? []).filter((t) => t > now - FAILURE_WINDOW_MS);
      // Digests make the lengths equal, so timingSafeEqual neither throws nor leaks the token's length; every
      // token is compared, so the time taken does not tell which one matched.
      const presented = digest(given);
      let holder: (typeof expected)[number] | undefined;
      for (const t of expected) if (timingSafeEqual(presented, t.digest) && !holder) holder = t;
      const right = holder !== undefined;
      // The right token always gets in: clients that share an address (behind a proxy or an SSH tunnel) must not
      // lock each other out by mistyping; the limit only slows down wrong guesses.
      if (!right && recent.length >= MAX_FAILURES) {
        failures.set(client, recent);
        return { result: "limited", retryAfter: Math.ceil(((recent[0] ?? now) + FAILURE_WINDOW_MS - now) / 1000) };
      }
      if (!holder) {
        recent.push(now);
        failures.set(client, recent);
        // Many clients guessing cannot grow the table without bound: forget those outside the window.
        if (failures.size > MAX_CLIENTS) {
          for (const [c, times] of failures) if ((times.at(-1) ?? 0) <= now - FAILURE_WINDOW_MS) failures.delete(c);
        }
        return { result: "wrong" };
      }
      failures.delete(client);
      for (const [id, s] of sessions) if (s.expires <= now) sessions.delete(id);
      const session = { id: random(), csrf: random(), expires: now + SESSION_MS, who: holder.name, role: holder.role };
      sessions.set(session.id, session);
      return { result: "ok", session };
    },
    get(cookieHeader, now) {
      const id = readCookie(cookieHeader, COOKIE);
      const session = id === undefined ? undefined : sessions.get(id);
      if (!session || session.expires <= now) return undefined;
      return session;
    },
    logout(id) {
      sessions.delete(id);
    },
  };
}

/** The session cookie: never readable by scripts, never sent by other sites, only over HTTPS or to loopback. */
export function sessionCookie(session: Session | null, now: number): string {
  const value = session ? session.id : "";
  const maxAge = session ? Math.floor((session.expires - now) / 1000) : 0;
  return `${COOKIE}=${value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${maxAge}`;
}

export function readCookie(header: string | null, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Constant-time equality of two strings (CSRF tokens). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function random(): string {
  return randomBytes(32).toString("base64url");
}
