/** @module Config paths as users read them: handlers."invoice.paid"[0].log */

export type Path = readonly (string | number)[];

export function formatPath(path: Path): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `${out === "" ? "" : "."}${JSON.stringify(segment)}`;
  }
  return out === "" ? "(top level)" : out;
}

/** Splits a JSON pointer such as /handlers/invoice.paid/0/log into segments. */
export function fromPointer(pointer: string): (string | number)[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((raw) => raw.replaceAll("~1", "/").replaceAll("~0", "~"))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

/** True for paths under which values are secrets and must never be echoed. */
export function isSecretPath(path: Path): boolean {
  // store: may be a URL with a password in it.
  // alerts.notify: a channel's URL is a secret (a Slack webhook URL is all it takes to post).
  if (path[0] === "alerts" && path[1] === "notify") return true;
  return path[0] === "store" || path.some((s) => s === "secrets" || s === "secret" || s === "token" || s === "api_key");
}
