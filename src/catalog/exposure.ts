/**
 * @module What `check` (and every start) warns about the operator page's exposure: a page on an address beyond
 * loopback with no TLS proxy in front is served over plain HTTP, where browsers neither keep its Secure session
 * cookie nor say where its forms come from, and the token would cross the network in clear.
 */

import { formatPath, type Path } from "../config/path.ts";
import type { ConfigFile } from "../config/schema.ts";
import { isLoopback } from "../utils/net.ts";
import type { Finding } from "./lint.ts";

export function lintAdmin(file: Pick<ConfigFile, "admin" | "trusted_proxies">): Finding[] {
  const admin = file.admin;
  if (!admin?.token || isLoopback(admin.host) || (file.trusted_proxies?.length ?? 0) > 0) return [];
  const path: Path = ["admin", "host"];
  return [
    {
      path,
      at: formatPath(path),
      message: `the operator page listens on ${admin.host}, beyond loopback, over plain HTTP: browsers log in and send its forms only over HTTPS or to localhost, and the token would cross the network in clear; put a TLS proxy in front (list it in trusted_proxies and its name in admin.hosts), or bind 127.0.0.1 and reach it through an SSH tunnel`,
    },
  ];
}
