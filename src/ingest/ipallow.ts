/**
 * @module The IP allowlist: which client may reach the main listener. The client is the TCP peer, unless the
 * peer is a trusted proxy, in which case X-Forwarded-For is read from the right (the entry the nearest proxy
 * appended) past every trusted proxy to the first address that is not one. Entries further left were written
 * by the client itself and are never believed, so a forged X-Forwarded-For cannot open the allowlist.
 */
import { BlockList, isIP } from "node:net";
import { parseCidr } from "../utils/net.ts";

export interface IpGuardOptions {
  /** Addresses and CIDR ranges allowed to connect; empty or absent allows everyone. */
  allow?: readonly string[];
  /** Proxies whose X-Forwarded-For is believed. */
  trustedProxies?: readonly string[];
}

export interface IpVerdict {
  allowed: boolean;
  /** The address the decision was made on. */
  client: string;
}

/** Decides for one request, from the TCP peer's address and the X-Forwarded-For header (null when absent). */
export type IpGuard = (peer: string, forwardedFor: string | null) => IpVerdict;

/** A guard for the given lists; undefined when there is no allowlist, so the hot path skips it entirely. */
export function createIpGuard(options: IpGuardOptions): IpGuard | undefined {
  if (!options.allow || options.allow.length === 0) return undefined;
  const allow = blockList(options.allow);
  const trusted = blockList(options.trustedProxies ?? []);
  return (peer, forwardedFor) => {
    const client = clientAddress(peer, forwardedFor, trusted);
    return { allowed: contains(allow, client), client };
  };
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

function contains(list: BlockList, address: string): boolean {
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
