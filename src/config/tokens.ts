/**
 * @module The operator page's tokens: `admin.token` (an operator named admin) and the named `admin.tokens`, each
 * a viewer (looks) or an operator (also replays, retries, pauses and resumes).
 */
import type { Path } from "./path.ts";
import type { ConfigFile } from "./schema.ts";

export type Role = "viewer" | "operator";

export interface OperatorToken {
  name: string;
  token: string;
  role: Role;
}

/** Every token that opens the page, admin.token first. */
export function operatorTokens(admin: ConfigFile["admin"]): OperatorToken[] {
  const named = (admin?.tokens ?? []).map((t) => ({ name: t.name, token: t.token, role: t.role as Role }));
  return admin?.token ? [{ name: "admin", token: admin.token, role: "operator" }, ...named] : named;
}

/** Names and tokens must each be unique: the audit trail names who acted, and one token is one person's. */
export function tokenProblems(admin: ConfigFile["admin"]): [Path, string][] {
  const problems: [Path, string][] = [];
  const names = new Set<string>(admin?.token ? ["admin"] : []);
  const tokens = new Set<string>(admin?.token ? [admin.token] : []);
  (admin?.tokens ?? []).forEach((t, i) => {
    if (names.has(t.name)) {
      problems.push([["admin", "tokens", i, "name"], `the name "${t.name}" is already used (admin.token is "admin")`]);
    }
    if (tokens.has(t.token))
      problems.push([["admin", "tokens", i, "token"], "this token is already used by another name"]);
    names.add(t.name);
    tokens.add(t.token);
  });
  return problems;
}
