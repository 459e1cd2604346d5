/** The IP allowlist: CIDR parsing, and which address decides when proxies and X-Forwarded-For are involved. */
import { describe, expect, test } from "bun:test";
import { createIpGuard } from "../../src/ingest/ipallow.ts";
import { cidrProblem } from "../../src/utils/net.ts";

describe("cidrProblem", () => {
  test.each(["3.18.12.63", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "::1", "::/0", "::ffff:10.0.0.0/104"])(
    "%s is an address or range",
    (text) => expect(cidrProblem(text)).toBeUndefined(),
  );
  test.each([
    ["10.0.0/8", "expected an IP address or CIDR range"],
    ["stripe.com", "expected an IP address or CIDR range"],
    ["10.0.0.0/33", "from 0 to 32"],
    ["2001:db8::/129", "from 0 to 128"],
    ["10.0.0.0/", "from 0 to 32"],
    ["10.0.0.0/08", "from 0 to 32"],
  ])("%s is refused: %s", (text, message) => expect(cidrProblem(text)).toContain(message));
});

describe("createIpGuard", () => {
  test("no allowlist means no guard at all", () => {
    expect(createIpGuard({})).toBeUndefined();
    expect(createIpGuard({ allow: [], trustedProxies: ["127.0.0.1"] })).toBeUndefined();
  });

  const guard = createIpGuard({
    allow: ["3.18.12.63", "10.0.0.0/8", "2001:db8::/32"],
    trustedProxies: ["127.0.0.1", "192.168.0.0/16"],
  });
  if (!guard) throw new Error("expected a guard");

  test.each([
    // [peer, X-Forwarded-For, allowed, client]
    ["3.18.12.63", null, true, "3.18.12.63"],
    ["3.18.12.64", null, false, "3.18.12.64"],
    ["10.200.1.1", null, true, "10.200.1.1"],
    ["::ffff:10.1.2.3", null, true, "::ffff:10.1.2.3"],
    ["2001:db8::7", null, true, "2001:db8::7"],
    ["2001:db9::7", null, false, "2001:db9::7"],
    // An untrusted peer's X-Forwarded-For is ignored, so a forged header cannot get in.
    ["203.0.113.9", "3.18.12.63", false, "203.0.113.9"],
    // Behind a trusted proxy the header names the client.
    ["127.0.0.1", "3.18.12.63", true, "3.18.12.63"],
    ["::ffff:127.0.0.1", "3.18.12.63", true, "3.18.12.63"],
    ["127.0.0.1", "203.0.113.9", false, "203.0.113.9"],
    // Read from the right: a client-supplied entry on the left is not believed.
    ["127.0.0.1", "3.18.12.63, 203.0.113.9", false, "203.0.113.9"],
    // Through two trusted proxies the rightmost untrusted entry is the client.
    ["127.0.0.1", "203.0.113.9, 3.18.12.63, 192.168.1.10", true, "3.18.12.63"],
    // Every hop trusted: the leftmost is as far as the chain can be followed.
    ["127.0.0.1", "192.168.4.4, 192.168.1.1", false, "192.168.4.4"],
    // A hop that is not an address fails the check.
    ["127.0.0.1", "unknown", false, "unknown"],
    ["127.0.0.1", "[2001:db8::1]", true, "2001:db8::1"],
    ["127.0.0.1", "10.1.1.1:51234", true, "10.1.1.1"],
    // A trusted proxy with no header is itself the client.
    ["127.0.0.1", null, false, "127.0.0.1"],
  ] as const)("peer %s, X-Forwarded-For %p → allowed %p as %s", (peer, xff, allowed, client) => {
    expect(guard(peer, xff)).toEqual({ allowed, client });
  });
});
