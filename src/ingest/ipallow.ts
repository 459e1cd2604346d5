/**
 * @module The IP allowlist: which client may reach the main listener. The client is the TCP peer, unless the
 * peer is a trusted proxy, in which case X-Forwarded-For is read from the right (the entry the nearest proxy
 * appended) past every trusted proxy to the first address that is not one. Entries further left were written
 * by the client itself and are never believed, so a forged X-Forwarded-For cannot open the allowlist.
 */
import { blockList, clientAddress, contains } from "../utils/net.ts";

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
