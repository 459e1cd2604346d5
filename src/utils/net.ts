/** @module Network addresses: which ones only this machine can reach, and addresses or CIDR ranges as written in a config. */
import { BlockList, isIP } from "node:net";

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Why `text` is not an address or CIDR range, or undefined when it is one. */
export function cidrProblem(text: string): string | undefined {
  const parsed = parseCidr(text);
  return typeof parsed === "string" ? parsed : undefined;
}

export type Cidr = { address: string; prefix: number; family: "ipv4" | "ipv6" };

/** The address, prefix and family of an address or CIDR range, or why `text` is not one. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf("/");
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) {
    return `expected an IP address or CIDR range such as 3.18.12.63, 10.0.0.0/8 or 2001:db8::/32, got ${JSON.stringify(text)}`;
  }
  const max = family === 4 ? 32 : 128;
  const bits = slash < 0 ? String(max) : text.slice(slash + 1);
  const prefix = /^(0|[1-9][0-9]{0,2})$/.test(bits) ? Number(bits) : Number.NaN;
  if (!(prefix >= 0 && prefix <= max)) {
    return `the prefix length in ${JSON.stringify(text)} must be a whole number from 0 to ${max}`;
  }
  return { address, prefix, family: family === 4 ? "ipv4" : "ipv6" };
}

/** The client's address: the peer, or, behind trusted proxies, the rightmost X-Forwarded-For entry not trusted. */
export function clientAddress(peer: string, forwardedFor: string | null, trusted: BlockList): string {
  let client = normalize(peer);
  if (forwardedFor === null || !contains(trusted, client)) return client;
  const hops = forwardedFor.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalize((hops[i] as string).trim());
    // A hop that is not an address cannot be matched against anything, so it decides (and fails) the check.
    if (isIP(hop) === 0) return hop;
    client = hop;
    if (!contains(trusted, hop)) return hop;
  }
  return client;
}

/** A BlockList of addresses and ranges that have already passed `cidrProblem`. */
export function blockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const parsed = parseCidr(entry);
    if (typeof parsed === "string") throw new Error(parsed);
    list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return list;
}

export function contains(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** Strips what a runtime or proxy may wrap an address in: an IPv6 zone, brackets, a port. */
function normalize(address: string): string {
  let out = address;
  if (out.startsWith("[")) out = out.slice(1, out.indexOf("]") < 0 ? undefined : out.indexOf("]"));
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(out)) out = out.slice(0, out.lastIndexOf(":"));
  const zone = out.indexOf("%");
  return zone < 0 ? out : out.slice(0, zone);
}
